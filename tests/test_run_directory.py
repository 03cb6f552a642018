"""The run-directory contract (rollout_common/run_directory.py) and its writer (trainers/rundir.py) agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollout_common.errors import InputError
from rollout_common.run_directory import (
    CHECKPOINT_FORMAT,
    FINAL,
    CheckpointRecord,
    RunPaths,
    RunRecord,
    config_record,
    eval_rollouts_name,
    is_finished,
    is_run_directory,
    read_config,
    read_jsonl,
    rollout_file_step,
    train_rollouts_name,
)

RECORD = RunRecord(lineage="repo_r", phase="2", start_step=150, parent="runs/repo_r_p1", parent_lineage="repo_r")
CHECKPOINT = CheckpointRecord(kind="train", step=300, phase="2", lineage="repo_r", task="B", method="repo_r",
                              target_entropy=1.25, policy={"model": "tiny", "n_layer": 2}, vocab=["list", "apple"])


def write_config(run: Path, content) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    RunPaths(run).config.write_text(json.dumps(content) if not isinstance(content, str) else content)
    return run


def test_a_run_record_round_trips_through_config_json(tmp_path: Path) -> None:
    sections = {"run": {"seed": 3, "method": "repo_r", "task": "B", "lineage": None}, "rl": {"lr": 3e-4}}
    content = config_record(sections, RECORD)
    assert list(content) == ["run", "rl", "derived"] and content["derived"] == RECORD.to_dict()
    config = read_config(write_config(tmp_path / "repo_r_p2", content))
    assert config.record == RECORD and RunRecord.from_dict(RECORD.to_dict()) == RECORD
    assert (config.name, config.seed, config.method, config.task) == ("repo_r_p2", 3, "repo_r", "B")
    assert (config.lineage, config.phase) == ("repo_r", "2") and config.raw == content


def test_a_config_without_a_record_falls_back_on_its_run_section_then_the_folder(tmp_path: Path) -> None:
    assert RunRecord.from_dict({"lineage": "x", "added_later": 1}) == RunRecord(lineage="x")
    bare = read_config(write_config(tmp_path / "old_run", {"run": {"phase": "3"}}))
    assert (bare.record, bare.lineage, bare.phase, bare.seed) == (RunRecord(), "old_run", "3", None)


@pytest.mark.parametrize("text, problem", [("{not json", "cannot read the run config"),
                                           ("[1, 2]", "not a JSON object")])
def test_a_damaged_config_is_an_input_error_naming_the_file(tmp_path: Path, text: str, problem: str) -> None:
    run = write_config(tmp_path / "run", text)
    with pytest.raises(InputError) as error:
        read_config(run)
    assert str(error.value).startswith(f"{RunPaths(run).config}: ") and problem in str(error.value)
    with pytest.raises(InputError, match="cannot read the run config"):
        read_config(tmp_path / "missing")


def test_read_jsonl_skips_blank_lines_and_names_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    assert read_jsonl(path) == []
    path.write_text('{"step": 1}\n\n{"step": 2}\n')
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}]
    path.write_text('{"step": 1}\n{"step": 2}\n{"step": \n')
    with pytest.raises(InputError) as error:
        read_jsonl(path)
    assert str(error.value).startswith(f"{path}:3: not JSON")


def test_a_checkpoint_record_round_trips_through_a_state() -> None:
    state = {**CHECKPOINT.to_dict(), "model": {"w": 1}}
    assert next(iter(state)) == "format" and state["format"] == CHECKPOINT_FORMAT
    assert CheckpointRecord.from_state(state) == CHECKPOINT


def test_final_pt_written_by_the_trainer_reads_back_as_its_record_and_weights(tmp_path: Path) -> None:
    import torch

    from trainers.rundir import RunDir, load_parent

    run = RunDir(tmp_path / "run")
    run.create(config_record({"run": {}}, RECORD), force=False)
    assert is_run_directory(run.root) and not is_finished(run.root)
    weights = {"w": torch.arange(3.0)}
    run.save_final(CHECKPOINT, weights)
    assert is_finished(run.root) and RunPaths(run.root).checkpoint(FINAL).is_file()
    record, loaded = load_parent(str(run.root))
    assert record == CHECKPOINT and torch.equal(loaded["w"], weights["w"])
    assert read_config(run.root).record == RECORD


def test_is_run_directory_needs_config_and_rollouts(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert not is_run_directory(run)
    write_config(run, {})
    assert not is_run_directory(run)
    RunPaths(run).rollouts.mkdir()
    assert is_run_directory(run) and not is_run_directory(tmp_path)


def test_rollout_file_names_carry_their_first_step() -> None:
    assert train_rollouts_name(1, 25) == "train_000001_000025.parquet"
    assert eval_rollouts_name(150) == "eval_000150.parquet"
    assert rollout_file_step(train_rollouts_name(1, 25)) == 1 and rollout_file_step(eval_rollouts_name(150)) == 150
    assert rollout_file_step("notes.txt") is None and rollout_file_step("train_1.csv") is None


def test_restoring_the_logs_drops_what_came_after_the_checkpoint(tmp_path: Path) -> None:
    from trainers.rundir import RunDir, RunLog, write_jsonl

    run = RunDir(tmp_path / "run")
    run.create(config_record({}, RECORD), force=False)
    for name in (train_rollouts_name(1, 3), train_rollouts_name(4, 6), eval_rollouts_name(3), eval_rollouts_name(6),
                 "stray.tmp"):
        (run.rollouts / name).write_bytes(b"")
    write_jsonl(run.metrics, [{"step": s} for s in range(1, 7)])
    log = RunLog.restore(run, step=3)
    assert sorted(p.name for p in run.rollouts.iterdir()) == [eval_rollouts_name(3), train_rollouts_name(1, 3)]
    assert [r["step"] for r in log.metrics] == [1, 2, 3] and log.evals == []
