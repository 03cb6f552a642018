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
