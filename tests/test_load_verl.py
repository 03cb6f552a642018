"""verl generation dumps, read from files verl 0.9.1's own dump code wrote (tests/data/real/verl), through
the library and the command line; and ``split`` for every format."""

from __future__ import annotations

import polars as pl
import pytest

import diversity
from tests.conftest import REAL, TRL_PLAIN, run_cli, write_jsonl

VERL = REAL / "verl"


def group_sizes(frame: pl.DataFrame) -> dict[tuple, int]:
    table = frame.group_by("split", "step", "group_id").agg(pl.len(), pl.col("prompt").first())
    return {(r["split"], r["step"], r["prompt"][-60:]): r["len"] for r in table.iter_rows(named=True)}


# ---------------------------------------------------------------- groups


def test_classic_dumps_group_by_step_and_input_despite_reordering() -> None:
    frame = diversity.load_rollouts(VERL / "classic" / "rollout")
    table = frame.group_by("step", "group_id").agg(pl.len().alias("size"), pl.col("prompt").n_unique())
    assert table["prompt"].to_list() == [1] * table.height
    assert sorted(table.filter(pl.col("step") != 2)["size"].unique().to_list()) == [4]
    assert frame["reward"].null_count() == 0 and {"gts", "acc", "pred"} <= set(frame.columns)


def test_a_group_larger_than_the_runs_usual_size_is_warned_about_not_merged_silently(caplog) -> None:
    result = diversity.read_rollouts(VERL / "classic" / "rollout")
    step_two = result.frame.filter(pl.col("step") == 2)
    assert step_two["group_id"].n_unique() == 1 and step_two.height == 8  # two data-set items, one prompt text
    assert result.counts == {"oversized_groups": 1}
    (report,) = [f for f in result.files if f.counts]
    assert report.path.endswith("2.jsonl") and "8 rows (usual 4)" in report.notes[0] and "uid" in report.notes[0]
    assert any("8 rows (usual 4)" in r.message for r in caplog.records if r.levelname == "WARNING")


def test_v1_dumps_group_by_prompt_uid_so_equal_prompts_stay_apart() -> None:
    result = diversity.read_rollouts(VERL / "v1")
    frame = result.frame
    step_two = frame.filter(pl.col("step") == 2)
    assert step_two["prompt"].n_unique() == 1  # two data-set items with the same prompt text ...
    assert sorted(step_two.group_by("group_id").len()["len"].to_list()) == [3, 3]  # ... are two groups
    assert frame.group_by("step", "group_id").len()["len"].to_list() == [3] * 4
    assert result.counts == {"multi_output_sessions_joined": 1}


def test_a_multi_output_session_is_one_answer_of_its_group() -> None:
    frame = diversity.load_rollouts(VERL / "v1")
    (joined,) = frame.filter(pl.col("outputs") == 2).iter_rows(named=True)
    assert joined["response"].startswith("<tool_call>") and joined["response"].endswith("The tool says 12.\n#### 12")
    assert "<tool_response>12</tool_response>" in joined["response"]
    assert joined["prompt"].endswith("assistant\n") and "<tool_call>" not in joined["prompt"]
    assert joined["reward"] == 1.0 and joined["uid"].endswith("_1_1")


def test_verl_groups_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", VERL / "classic" / "rollout")
    assert code == 0
    assert "1 group(s) hold more rows than the run's usual group size: 8 rows (usual 4)" in out
    assert "oversized groups: 1" in out
    code, out, _ = run_cli(capsys, "inspect", VERL / "v1")
    assert code == 0 and "multi output sessions joined: 1" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("v1 "))
    assert line.split()[3:] == ["2", "1-2", "4", "12", "3"]  # steps, range, groups, rows, sizes


# ---------------------------------------------------------------- validation dumps and split


def test_a_validation_dump_is_read_as_eval_in_the_same_lineage() -> None:
    result = diversity.read_rollouts(VERL / "classic")
    frame = result.frame
    evals = frame.filter(pl.col("split") == "eval")
    assert sorted(evals["step"].unique().to_list()) == [0, 5, 10]
    assert evals.group_by("step", "group_id").len()["len"].unique().to_list() == [2]  # val_kwargs.n = 2
    assert frame["lineage"].unique().to_list() == ["classic"]  # rollout/ and validation/ are one run
    assert frame.filter(pl.col("split") == "train").height == 80
    validation = [f for f in result.files if "validation" in f.path]
    assert len(validation) == 3 and all("folder is named 'validation'" in f.split for f in validation)
    assert result.counts == {"oversized_groups": 1}  # eval groups of 2 are not measured against train's 4


def test_split_option_overrides_the_folder_and_works_for_every_format(canonical_file) -> None:
    as_train = diversity.load_rollouts(VERL / "classic" / "validation", split="train")
    assert as_train["split"].unique().to_list() == ["train"]
    for source, options in ((canonical_file, {}), (TRL_PLAIN, {"group_size": 4}), (VERL / "v1", {})):
        assert diversity.load_rollouts(source, split="eval", **options)["split"].unique().to_list() == ["eval"]
    with pytest.raises(diversity.OptionError, match="split must be one of train, eval"):
        diversity.LoadOptions(split="test")


def test_split_on_the_command_line(tmp_path, capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", VERL / "classic")
    assert code == 0
    assert "split = eval: the folder is named 'validation', like verl's validation_data_dir" in out
    assert [ln.split()[2] for ln in out.splitlines() if ln.startswith("classic ")] == ["eval", "train"]
    code, out, _ = run_cli(capsys, "inspect", TRL_PLAIN, "--group-size", "4", "--split", "eval")
    assert code == 0 and "split = eval (--split / split=)" in out
    assert [ln.split()[2] for ln in out.splitlines() if ln.startswith("plain_two_rewards")] == ["eval"]
    path = write_jsonl(tmp_path / "val" / "3.jsonl", [{"input": "q", "output": "o", "score": 1.0}])
    code, out, _ = run_cli(capsys, "inspect", path)
    assert code == 0 and "split = eval: the folder is named 'val'" in out
