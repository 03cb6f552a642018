"""SkyRL, slime, lm-evaluation-harness, OpenAI / vLLM batch output, verifiers and user tables, read from the
fixtures in tests/data/real (their README gives each schema and quirk), through the library and ``inspect``;
auto-detection never takes another format's files."""

from __future__ import annotations

import json

import polars as pl
import pytest

import diversity
from rollout_common.errors import InputError
from tests.conftest import REAL, run_cli, write_jsonl

SKYRL = REAL / "skyrl" / "export"


def sizes(frame: pl.DataFrame, *keys: str) -> dict[tuple, int]:
    """Rows per group, keyed by the given columns."""
    table = frame.group_by(*keys).len()
    return {tuple(row[:-1]): row[-1] for row in table.sort(*keys).iter_rows()}


# ---------------------------------------------------------------- SkyRL


def test_skyrl_groups_by_prompt_per_data_source_with_the_step_from_the_folder() -> None:
    result = diversity.read_rollouts(SKYRL)
    frame = result.frame
    assert set(frame["split"]) == {"eval"} and set(frame["lineage"]) == {"export", "export/eval_only"}
    run = frame.filter(pl.col("lineage") == "export")
    assert sorted(set(run["step"])) == [0, 10]
    assert set(sizes(run, "step", "group_id").values()) == {3}  # 3 samples a prompt, consecutive, no id
    assert sizes(run, "step", "task") == {(0, "openai/gsm8k"): 9, (0, "synthetic/multi_turn_math"): 3,
                                          (10, "openai/gsm8k"): 9, (10, "synthetic/multi_turn_math"): 3}
    assert run["response"].str.ends_with("<|im_end|>").any()  # special tokens kept as SkyRL decoded them
    # eval_only/ has no global step: its own lineage, never pooled with step 0's groups
    assert set(sizes(frame.filter(pl.col("lineage") == "export/eval_only"), "group_id").values()) == {3}
    assert result.counts == {"eval_only_rows": 6, "per_token_scores_summed": 6}
    assert len(result.ignored) == 3 and all(p.endswith("aggregated_results.jsonl") for p in result.ignored)
    assert all("not samples" in result.why_ignored[p] for p in result.ignored)


def test_skyrl_per_token_scores_are_summed() -> None:
    path = SKYRL / "dumped_evals" / "global_step_0_evals" / "synthetic_multi_turn_math.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    frame = diversity.load_rollouts(path)
    assert frame["reward"].to_list() == [sum(line["score"]) for line in lines]


def test_skyrl_on_the_command_line_states_what_it_skipped(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", SKYRL)
    assert code == 0
    assert "aggregated_results.jsonl: ignored (SkyRL's eval metrics" in out
    assert "per-token scores" in out and "eval_only" in out
    assert "export/eval_only" in out


def test_skyrl_aggregated_results_named_alone_is_refused_with_the_reason(capsys) -> None:
    path = SKYRL / "dumped_evals" / "global_step_0_evals" / "aggregated_results.jsonl"
    with pytest.raises(InputError, match="not a rollout log: SkyRL's eval metrics"):
        diversity.load_rollouts(path)
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == 2 and "not samples" in err


def test_skyrl_bad_score_names_file_line_and_field(tmp_path) -> None:
    path = write_jsonl(tmp_path / "global_step_3_evals" / "x.jsonl", [
        {"input_prompt": "p", "output_response": "r", "score": 1.0},
        {"input_prompt": "p", "output_response": "r", "score": [0.5, "x"]},
    ])
    with pytest.raises(InputError, match=r"x.jsonl:2: field 'score'"):
        diversity.load_rollouts(path)
    assert diversity.load_rollouts(path, on_bad_row="skip")["step"].to_list() == [3]


# ---------------------------------------------------------------- slime

SLIME = REAL / "slime"


def test_slime_groups_by_group_index_with_the_rollout_id_as_step() -> None:
    result = diversity.read_rollouts(SLIME / "dump")
    frame = result.frame
    assert sizes(frame, "split", "step", "group_id") == {
        ("eval", 1, "4"): 4, ("eval", 1, "5"): 4,
        ("train", 0, "0"): 4, ("train", 0, "1"): 4, ("train", 1, "2"): 4, ("train", 1, "3"): 3,
    }
    assert set(frame["lineage"]) == {"dump"}  # the --dump-details folder above rollout_data/
    assert result.counts == {"aborted_samples_dropped": 1}
    assert "tokens" not in frame.columns and "rollout_log_probs" not in frame.columns
    assert {"label", "status", "index", "metadata"} <= set(frame.columns)


def test_slime_message_prompts_and_dict_rewards() -> None:
    frame = diversity.load_rollouts(SLIME / "dump" / "rollout_data" / "1.pt")
    first = frame.row(0, named=True)
    assert first["prompt"].startswith("Please reason step by step") and first["prompt"].endswith("below 20?")
    assert first["prompt_roles"] == ["system", "user"]
    assert first["reward"] == 1.0 and first["reward_details"] == {"score": 1.0, "acc": True, "pred": "8"}
    truncated = frame.filter(pl.col("status") == "truncated").row(0, named=True)
    assert truncated["reward"] == 0.0 and truncated["n_tokens"] > 0  # response_length
    string_prompts = diversity.load_rollouts(SLIME / "dump" / "rollout_data" / "0.pt")
    assert string_prompts["prompt"][0].startswith("<|im_start|>system") and "prompt_roles" not in string_prompts.columns


def test_slime_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", SLIME / "dump")
    assert code == 0 and "aborted" in out and "slime, 7 rows" in out
    assert "dump                 1      train       2           0-1       4       15  3,4" in out


def test_slime_file_that_needs_arbitrary_unpickling_is_refused_in_one_line(capsys) -> None:
    path = SLIME / "pickled_class" / "rollout_data" / "0.pt"
    with pytest.raises(InputError, match=r"0\.pt: refused: .*slime\.utils\.types\.Sample.*not unpickled"):
        diversity.load_rollouts(path)
    code, _, err = run_cli(capsys, "inspect", SLIME / "pickled_class")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "refused" in err


class _RunsCode:
    """A pickle that would create a folder if it were unpickled without weights_only."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.mkdir, (str(self.marker),)


def test_a_torch_file_that_would_run_code_runs_nothing(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "ran"
    path = tmp_path / "rollout_data" / "0.pt"
    path.parent.mkdir()
    torch.save({"rollout_id": 0, "samples": [{"group_index": 0, "prompt": "p", "response": _RunsCode(marker)}]}, path)
    with pytest.raises(InputError, match="refused"):
        diversity.load_rollouts(tmp_path)
    assert not marker.exists()


def test_slime_bad_sample_names_file_sample_and_field(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "rollout_data" / "3.pt"
    path.parent.mkdir()
    good = {"group_index": 0, "prompt": "p", "response": "r", "reward": 1.0, "status": "completed"}
    torch.save({"rollout_id": 3, "samples": [good, {**good, "reward": {"acc": True, "pred": "x"}}]}, path)
    with pytest.raises(InputError, match=r"3\.pt: row 2: field 'reward': a dict without 'score'"):
        diversity.load_rollouts(path)
    assert diversity.load_rollouts(path, on_bad_row="skip")["step"].to_list() == [3]


def test_a_directory_search_reads_pt_files_only_in_rollout_data(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"weight": torch.zeros(2)}, tmp_path / "model.pt")  # a checkpoint: never opened by a search
    write_jsonl(tmp_path / "logs" / "a.jsonl", [{"group_id": "g", "prompt": "p", "response": "r", "step": 0}])
    result = diversity.read_rollouts(tmp_path)
    assert [f.path for f in result.files] == [str(tmp_path / "logs" / "a.jsonl")] and result.ignored == []


# ---------------------------------------------------------------- lm-evaluation-harness

LM_EVAL = REAL / "lm_eval"


def test_lm_eval_one_group_per_document_deduplicated_across_filters() -> None:
    result = diversity.read_rollouts(LM_EVAL)
    frame = result.frame
    assert sizes(frame, "group_id") == {(f"tiny_arith:{d}",): 3 for d in range(4)}  # repeats: 3
    assert result.counts == {"filter_rows_deduplicated": 4}  # 8 lines = 4 docs x 2 filters
    (report,) = result.files
    assert report.rows == 12 and "first" in report.reward
    assert [p.endswith("docs.jsonl") for p in result.ignored] == [True]  # the task's data set, not samples
    assert set(frame["task"]) == {"tiny_arith"} and set(frame["lineage"]) == {"tiny-gpt2"}
    assert set(frame["split"]) == {"eval"} and set(frame["step"]) == {0}
    doc0 = frame.filter(pl.col("doc_id") == 0)
    assert doc0["response"].to_list() == ["four", "four", "six"] and doc0["prompt"][0] == "Q: what is three plus one A:"
    assert doc0["reward"].to_list() == [1.0] * 3 and set(doc0["reward_filter"]) == {"first"}
    # every filter's metric kept, the reward from the first
    assert {"exact_match,first", "exact_match,maj@3"} <= set(frame.columns)
    assert frame["reward"].to_list() == frame["exact_match,first"].to_list()


def test_lm_eval_on_the_command_line_states_the_deduplication(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", LM_EVAL / "tiny-gpt2")
    assert code == 0 and "lm_eval, 12 rows" in out
    assert "4 line(s) repeat a document's samples under another filter: de-duplicated on doc_id" in out
    assert "filter rows deduplicated: 4" in out


def test_lm_eval_filters_with_different_samples_or_loglikelihood_rows_are_refused(tmp_path) -> None:
    (source,) = (LM_EVAL / "tiny-gpt2").glob("samples_*.jsonl")
    lines = [json.loads(line) for line in source.read_text().splitlines()]
    lines[5]["resps"] = [["x", "y", "z"]]  # doc 1 under maj@3
    path = write_jsonl(tmp_path / "samples_tiny_arith_2026-01-01T00-00-00.000001.jsonl", lines)
    with pytest.raises(InputError, match=r"jsonl:6: field 'resps': differs from line 2's for doc_id 1"):
        diversity.load_rollouts(path)
    loglikelihood = {**lines[0], "resps": [[["-1.5", "False"]], [["-0.5", "True"]]]}
    with pytest.raises(InputError, match=r"jsonl:1: field 'resps': expected one request's generations"):
        diversity.load_rollouts(write_jsonl(tmp_path / "samples_mc.jsonl", [loglikelihood]))


# ---------------------------------------------------------------- OpenAI / vLLM batch output

BATCH = REAL / "batch_output"


def test_batch_output_groups_choices_by_custom_id_and_counts_failed_requests() -> None:
    result = diversity.read_rollouts(BATCH / "openai_batch_output.jsonl")
    frame = result.frame
    assert sizes(frame, "group_id") == {("request-1",): 4, ("request-2",): 4, ("request-3",): 4}  # lines unordered
    assert frame.filter(pl.col("group_id") == "request-1")["response"].to_list() == ["Sheldon", "Shelly", "Sheldon",
                                                                                      "Tank"]
    assert result.counts == {"failed_requests": 2, "prompts_are_custom_ids": 3}
    (report,) = result.files
    assert "request-5 (batch_expired)" in report.notes[0] and "request-4 (status 400" in report.notes[0]
    assert set(frame["lineage"]) == {"gpt-4o-mini-2024-07-18"} and set(frame["split"]) == {"eval"}
    assert frame["prompt"].to_list() == frame["group_id"].to_list() and frame["reward"].null_count() == frame.height


def test_vllm_batch_output_with_a_string_error(capsys) -> None:
    result = diversity.read_rollouts(BATCH / "vllm_batch_output.jsonl")
    assert result.frame["group_id"].n_unique() == 4 and result.counts["failed_requests"] == 1
    assert set(result.frame["lineage"]) == {"Qwen/Qwen2.5-0.5B-Instruct"}
    code, out, _ = run_cli(capsys, "inspect", BATCH)
    assert code == 0 and "failed requests: 3" in out and "request-5 (Only /v1/chat/completions" in out


def test_batch_output_repeated_custom_id_is_a_bad_row(tmp_path) -> None:
    lines = [json.loads(line) for line in (BATCH / "openai_batch_output.jsonl").read_text().splitlines()]
    path = write_jsonl(tmp_path / "out.jsonl", [*lines, lines[0]])
    with pytest.raises(InputError, match=r"out.jsonl:6: field 'custom_id': 'request-3' is also on line 1"):
        diversity.load_rollouts(path)
    result = diversity.read_rollouts(path, on_bad_row="skip")
    assert result.skipped == 1 and result.frame["group_id"].n_unique() == 3


# ---------------------------------------------------------------- verifiers

VERIFIERS = REAL / "verifiers"


@pytest.mark.parametrize("version", ["0.1.12", "0.3.1"])
def test_verifiers_groups_by_example_id_with_message_text_and_roles(version) -> None:
    frame = diversity.load_rollouts(VERIFIERS / f"v{version}")
    assert sizes(frame, "group_id") == {(str(e),): 3 for e in range(4)}  # -n 4 -r 3
    (lineage,) = set(frame["lineage"])
    assert lineage.startswith("tiny-qa--tiny-chat/") and len(lineage.split("/")[1]) == 8
    first = frame.row(0, named=True)
    assert first["prompt"] == "Answer briefly.\n\nWhat is the capital of Japan?" and first["response"] == "Tokyo."
    assert first["prompt_roles"] == ["system", "user"] and first["response_roles"] == ["assistant"]
    assert sorted(set(frame["reward"])) <= [0.0, 0.2, 1.0, 1.2]  # the weighted rubric sum, as written
    assert {"exact_answer", "brevity"} <= set(frame.columns)
    if version == "0.1.12":
        assert first["task"] == "geography"
    else:
        assert frame["task"].null_count() == frame.height and "info" in frame.columns


def test_verifiers_on_the_command_line_keeps_two_runs_apart(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", VERIFIERS)
    assert code == 0 and out.count("verifiers, 12 rows") == 2
    assert "tiny-qa--tiny-chat/29a809b6" in out and "tiny-qa--tiny-chat/573b01f2" in out


def test_verifiers_errors_are_counted_and_bad_completions_named(tmp_path) -> None:
    (source,) = (VERIFIERS / "v0.1.12").rglob("results.jsonl")
    lines = [json.loads(line) for line in source.read_text().splitlines()]
    lines[0]["error"] = "ModelError: timeout"
    result = diversity.read_rollouts(write_jsonl(tmp_path / "results.jsonl", lines))
    assert result.counts == {"rollouts_with_error": 1} and result.frame.height == 12
    lines[3]["completion"] = [{"content": "no role"}]
    with pytest.raises(InputError, match=r"bad.jsonl:4: field 'completion': expected a string or a list of"):
        diversity.load_rollouts(write_jsonl(tmp_path / "bad.jsonl", lines))


# ---------------------------------------------------------------- tables of your own

TABLES = REAL / "tables"
USER_COLUMNS = {"prompt": "question", "response": "answer", "group_id": "uid", "step": "iteration", "reward": "score"}


@pytest.mark.parametrize("path", ["hf_dataset", "generations_column.jsonl", "generations_column.parquet"])
def test_a_list_of_generations_column_makes_each_row_one_group(path) -> None:
    result = diversity.read_rollouts(TABLES / path)
    frame = result.frame
    assert [f.format for f in result.files] == ["table"]
    assert sizes(frame, "prompt") == {("Give a synonym for happy.",): 4, ("Name a fruit that is yellow.",): 4}
    p1 = frame.filter(pl.col("id") == "p1")
    assert p1["response"].to_list() == ["joyful", "glad", "content", ""] and p1["reward"].to_list() == [1.0, 1.0,
                                                                                                         None, 0.0]
    assert result.counts == {"empty_groups": 1}  # p2: generations []
    assert set(frame["split"]) == {"train"} and set(frame["step"]) == {0} and "model" in frame.columns


def test_a_user_table_read_through_a_column_mapping(tmp_path) -> None:
    for name in ("user_columns.jsonl", "user_columns.csv"):
        frame = diversity.load_rollouts(TABLES / name, columns=USER_COLUMNS)
        assert sizes(frame, "step", "group_id") == {(0, "q1"): 3, (0, "q2"): 3, (1, "q1"): 2, (1, "q2"): 2}
        assert frame["reward"].null_count() == 1 and "Lyon, I think,\nor maybe Paris" in frame["response"].to_list()
        assert not {"question", "answer", "uid", "iteration", "score"} & set(frame.columns)
    as_string = diversity.load_rollouts(TABLES / "user_columns.csv",
                                        columns="prompt=question,response=answer,group_id=uid,step=iteration,"
                                                "reward=score")
    assert as_string.equals(diversity.load_rollouts(TABLES / "user_columns.csv", columns=USER_COLUMNS))
    # without group_id, rows sharing (step, prompt) are a group
    frame = diversity.load_rollouts(TABLES / "user_columns.jsonl", columns={"prompt": "question", "response": "answer"})
    assert sorted(sizes(frame, "group_id").values()) == [5, 5] and set(frame["step"]) == {0}


def test_a_mapping_reads_a_list_valued_response_column(tmp_path) -> None:
    frame = diversity.load_rollouts(TABLES / "hf_dataset", columns={"response": "generations", "group_id": "id",
                                                                     "lineage": "model"})
    assert sizes(frame, "group_id") == {("p0",): 4, ("p1",): 4} and set(frame["lineage"]) == {"tiny-chat-a"}
    assert frame["reward"].null_count() == frame.height  # rewards not mapped: no reward


def test_user_tables_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", TABLES / "user_columns.csv", "--columns",
                           "prompt=question,response=answer,group_id=uid,step=iteration,reward=score")
    assert code == 0 and "user_columns.csv: table, 10 rows" in out and "reward = the 'score' column" in out
    code, _, err = run_cli(capsys, "inspect", TABLES / "user_columns.csv")
    assert code == 2 and "--columns prompt=COLUMN,response=COLUMN" in err
    code, out, _ = run_cli(capsys, "inspect", TABLES / "hf_dataset")
    assert code == 0 and "table, 8 rows" in out and "1 row(s) hold an empty list of responses" in out


def test_table_errors_name_the_file_row_and_column(tmp_path) -> None:
    with pytest.raises(InputError, match=r"field 'columns': no column 'prompt_text'"):
        diversity.load_rollouts(TABLES / "user_columns.csv", format="table", columns={"prompt": "prompt_text"})
    path = write_jsonl(tmp_path / "t.jsonl", [{"q": "p", "gens": ["a", "b"], "scores": [1.0, 0.0]},
                                              {"q": "p2", "gens": ["a", "b"], "scores": [1.0]}])
    mapping = {"prompt": "q", "response": "gens", "reward": "scores"}
    with pytest.raises(InputError, match=r"t.jsonl:2: field 'scores': expected a list of 2 values"):
        diversity.load_rollouts(path, columns=mapping)
    assert diversity.load_rollouts(path, columns=mapping, on_bad_row="skip").height == 2


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("path, expected", [
    (SKYRL, "skyrl"), (SLIME / "dump", "slime"), (LM_EVAL / "tiny-gpt2", "lm_eval"), (BATCH, "batch"),
    (VERIFIERS, "verifiers"), (TABLES / "hf_dataset", "table"),
    (REAL / "trl" / "plain_two_rewards", "trl"), (REAL / "verl", "verl"), (REAL / "novelty_bench", "noveltybench"),
])
def test_each_fixture_is_detected_as_its_own_format(path, expected) -> None:
    result = diversity.read_rollouts(path, group_size=4 if expected == "trl" else None)
    assert {f.format for f in result.files} == {expected}


def test_a_mapping_claims_only_files_holding_its_columns(tmp_path) -> None:
    canonical = write_jsonl(tmp_path / "c.jsonl", [{"group_id": "g", "prompt": "p", "response": "r", "step": 1}])
    result = diversity.read_rollouts([canonical, TABLES / "user_columns.jsonl"], columns=USER_COLUMNS)
    assert [f.format for f in result.files] == ["canonical", "table"]
