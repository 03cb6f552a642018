"""NoveltyBench evaluation folders (tests/data/real/novelty_bench, written from NoveltyBench's source schema:
it cannot run here), through the library, the command line and the report's provenance."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import diversity
from tests.conftest import REAL, run_cli, write_jsonl

EVALUATION = REAL / "novelty_bench" / "evaluation"
A = EVALUATION / "2026-01-15_tiny-chat-a" / "nb-curated"  # generations, partitions, scores; one failed prompt
B = EVALUATION / "2026-01-20_tiny-chat-b-dpo" / "nb-curated"  # scores only; model = a checkpoint path
B_MODEL = "/mnt/scratch/ckpts/tiny-chat-b-dpo-lora-merged/step_400"


def test_a_prompt_whose_model_service_failed_is_counted_and_skipped() -> None:
    result = diversity.read_rollouts(A / "generations.jsonl")
    assert sorted(result.frame["group_id"].unique().to_list()) == ["curated-3", "curated-42", "curated-58"]
    assert result.counts == {"failed_prompts": 1}
    assert "1 prompt(s) have no generations ('generations: []'" in result.files[0].notes[0]


def test_failed_prompts_on_the_command_line_and_in_the_reports_provenance(tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", A / "generations.jsonl")
    assert code == 0 and "failed prompts: 1" in out and "re-run NoveltyBench's inference" in out
    page = tmp_path / "nb.html"
    code, _, _ = run_cli(capsys, "report", A / "generations.jsonl", "--out", page, "--embedder", "hashing",
                         "--no-progress", "--metrics", "duplicate_fraction", "vendi_score")
    assert code == 0
    html = page.read_text()
    assert "failed prompts 1" in html and "1 prompt(s) have no generations" in html


def test_failed_prompts_reach_the_provenance_of_build_report() -> None:
    from diversity.report import build_report

    report = build_report(A / "generations.jsonl", embedder="hashing", metrics=["duplicate_fraction"], progress=False)
    assert report.provenance["counts"] == {"failed_prompts": 1}
    assert report.provenance["files"][0]["counts"] == {"failed_prompts": 1}


def test_lineage_comes_from_the_model_so_two_models_never_merge() -> None:
    frame = diversity.load_rollouts(EVALUATION)
    groups = frame.group_by("lineage", "group_id").len()
    assert sorted(groups.filter(pl.col("group_id") == "curated-3")["lineage"].to_list()) == [B_MODEL, "tiny-chat-a"]
    assert groups["len"].unique().to_list() == [10]  # no group holds two models' answers


def test_one_model_run_twice_is_two_lineages(tmp_path: Path) -> None:
    shutil.copytree(A.parent, tmp_path / A.parent.name)
    shutil.copytree(A.parent, tmp_path / "2026-01-15_tiny-chat-a_in-context")
    result = diversity.read_rollouts(tmp_path)
    assert sorted(result.frame["lineage"].unique().to_list()) == ["tiny-chat-a", "tiny-chat-a_in-context"]
    assert result.frame.group_by("lineage", "group_id").len()["len"].unique().to_list() == [10]
    assert result.counts["lineage_named_after_folder"] == 60
    merged = diversity.load_rollouts(tmp_path, lineage="a")  # merging is asked for, never done silently
    assert merged.group_by("group_id").len()["len"].unique().to_list() == [20]


def test_lineage_is_the_model_folder_when_lines_lack_model(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "2025-05-05_my-model" / "nb-curated" / "generations.jsonl",
                       [{"id": "curated-1", "prompt": "Name a colour.", "generations": ["red", "blue"]}])
    assert diversity.load_rollouts(path)["lineage"].unique().to_list() == ["my-model"]


def test_scores_give_each_response_its_reward_and_partition() -> None:
    frame = diversity.load_rollouts(B / "scores.jsonl").filter(pl.col("group_id") == "curated-3")
    assert frame["response"].to_list()[:5] == ["Vermilion", "blue", "Ochre.", "Chartreuse", "Blue"]
    assert frame["reward"].to_list() == [2, 5, 10, 9, 0, 5, 3, 4, 10, 8]  # generation_scores: 0 for a seen class
    assert frame["partition"].to_list() == [0, 1, 2, 3, 1, 4, 5, 6, 7, 8]
    assert frame["partition_score"].to_list()[4] == 5.0  # "Blue": the score of its class, "blue"
    assert frame["distinct"].unique().to_list() == [9] and frame["partition_classes"].unique().to_list() == [9]
    assert frame["utility"].unique().to_list() == [pytest.approx(5.1585234865606475)]
    assert not {"generations", "generation_scores", "partition_scores"} & set(frame.columns)


def test_both_distinct_conventions_give_the_same_class_count() -> None:
    a = diversity.load_rollouts(A / "scores.jsonl").group_by("group_id").agg(pl.col("distinct", "partition_classes").first())
    assert (a["partition_classes"] == a["distinct"] + 1).all()  # current code: distinct = max(partition)


def test_a_folder_of_one_run_reads_each_prompt_once_from_the_richest_file() -> None:
    result = diversity.read_rollouts(A)
    assert [Path(f.path).name for f in result.files] == ["generations.jsonl", "partitions.jsonl", "scores.jsonl"]
    assert [f.rows for f in result.files] == [0, 0, 30]
    assert result.frame.group_by("group_id").len()["len"].to_list() == [10] * 3
    assert result.frame["reward"].null_count() == 0
    assert result.counts == {"failed_prompts": 1, "prompts_read_from_later_file": 6}


def test_a_prompt_only_in_an_earlier_file_is_still_read(tmp_path: Path) -> None:
    folder = tmp_path / A.parent.name / A.name
    shutil.copytree(A, folder)
    extra = '{"id": "curated-99", "prompt": "Say hi.", "model": "tiny-chat-a", "generations": ["hi", "hello"]}\n'
    with open(folder / "generations.jsonl", "a") as handle:
        handle.write(extra)
    frame = diversity.load_rollouts(folder)
    assert frame["group_id"].n_unique() == 4
    assert frame.filter(pl.col("group_id") == "curated-99")["reward"].null_count() == 2


def test_noveltybench_folders_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", EVALUATION)
    assert code == 0
    assert "3 prompt(s) are also in scores.jsonl beside it" in out
    assert "failed prompts: 1; prompts read from later file: 6" in out
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.startswith((B_MODEL, "tiny-chat-a "))}
    assert rows[B_MODEL][5:] == ["4", "40", "10"] and rows["tiny-chat-a"][5:] == ["3", "30", "10"]
