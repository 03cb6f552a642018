"""NoveltyBench results (tests/data/noveltybench_schema, written from NoveltyBench's source schema: no run
was available), through the library, the command line and the report's provenance."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import diversity
from tests.conftest import NOVELTYBENCH, run_cli, write_jsonl

GPT = NOVELTYBENCH / "2025-03-01_gpt-4o" / "nb-curated"


def test_a_prompt_whose_model_service_failed_is_counted_and_skipped() -> None:
    result = diversity.read_rollouts(GPT / "generations.jsonl")
    assert sorted(result.frame["group_id"].unique().to_list()) == ["curated-1", "curated-2"]
    assert result.counts == {"failed_prompts": 1}
    assert "1 prompt(s) have no generations ('generations: []'" in result.files[0].notes[0]


def test_failed_prompts_on_the_command_line_and_in_the_reports_provenance(tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", GPT / "generations.jsonl")
    assert code == 0 and "failed prompts: 1" in out and "re-run NoveltyBench's inference" in out
    page = tmp_path / "nb.html"
    code, _, _ = run_cli(capsys, "report", GPT / "generations.jsonl", "--out", page, "--embedder", "hashing",
                         "--no-progress", "--metrics", "duplicate_fraction", "vendi_score")
    assert code == 0
    html = page.read_text()
    assert "failed prompts 1" in html and "1 prompt(s) have no generations" in html


def test_failed_prompts_reach_the_provenance_of_build_report() -> None:
    from diversity.report import build_report

    report = build_report(GPT / "generations.jsonl", embedder="hashing", metrics=["duplicate_fraction"],
                          progress=False)
    assert report.provenance["counts"] == {"failed_prompts": 1}
    assert report.provenance["files"][0]["counts"] == {"failed_prompts": 1}


def test_lineage_comes_from_the_model_so_models_and_runs_never_merge() -> None:
    frame = diversity.load_rollouts(NOVELTYBENCH)
    groups = frame.group_by("lineage", "group_id").len()
    assert sorted(groups.filter(pl.col("group_id") == "curated-1")["lineage"].to_list()) == [
        "claude-3-5-sonnet", "gpt-4o", "gpt-4o_in-context"]
    assert groups["len"].unique().to_list() == [4]  # no group holds two runs' answers
    assert frame["model"].unique().sort().to_list() == ["claude-3-5-sonnet", "gpt-4o"]


def test_lineage_is_the_model_folder_when_lines_lack_model(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "2025-05-05_my-model" / "nb-curated" / "generations.jsonl",
                       [{"id": "curated-1", "prompt": "Name a colour.", "generations": ["red", "blue"]}])
    assert diversity.load_rollouts(path)["lineage"].unique().to_list() == ["my-model"]
    assert diversity.load_rollouts(path, lineage="mine")["lineage"].unique().to_list() == ["mine"]


def test_lineage_option_merges_runs_on_purpose() -> None:
    frame = diversity.load_rollouts([NOVELTYBENCH / "2025-03-01_gpt-4o", NOVELTYBENCH / "2025-03-01_gpt-4o_in-context"],
                                    lineage="gpt")
    assert frame["lineage"].unique().to_list() == ["gpt"]


def test_scores_give_each_response_its_reward_and_partition() -> None:
    result = diversity.read_rollouts(GPT)
    frame = result.frame.filter(pl.col("group_id") == "curated-1")
    assert frame["response"].to_list() == ["Red.", "Blue", "red", "Green, like grass."]
    assert frame["reward"].to_list() == [8.0, 7.0, 0.0, 6.0]  # generation_scores: 0 for a repeated class
    assert frame["partition"].to_list() == [0, 1, 0, 2]
    assert frame["partition_score"].to_list() == [8.0, 7.0, 8.0, 6.0]
    assert frame["distinct"].unique().to_list() == [2] and frame["utility"].unique().to_list() == [pytest.approx(5.6477, 1e-4)]
    assert not {"generations", "generation_scores", "partition_scores"} & set(frame.columns)
    # generations, partitions and scores of one run: each prompt is read once, from scores.jsonl
    assert result.frame.group_by("group_id").len()["len"].to_list() == [4, 4]
    assert [f.rows for f in result.files] == [0, 0, 8]
    assert result.counts == {"failed_prompts": 1, "prompts_read_from_later_file": 4}


def test_a_prompt_only_in_an_earlier_file_is_still_read(tmp_path: Path) -> None:
    folder = tmp_path / "2025-03-01_gpt-4o" / "nb-curated"
    shutil.copytree(GPT, folder)
    lines = (folder / "generations.jsonl").read_text().splitlines()
    extra = '{"id": "curated-9", "prompt": "Say hi.", "model": "gpt-4o", "generations": ["hi", "hello"]}'
    (folder / "generations.jsonl").write_text("\n".join([*lines, extra]) + "\n")
    frame = diversity.load_rollouts(folder)
    assert sorted(frame["group_id"].unique().to_list()) == ["curated-1", "curated-2", "curated-9"]
    assert frame.filter(pl.col("group_id") == "curated-9")["reward"].null_count() == 2


def test_scores_and_runs_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", NOVELTYBENCH)
    assert code == 0
    assert "2 prompt(s) are also in scores.jsonl beside it" in out
    assert "model 'gpt-4o' comes from 2 run folders" in out
    table = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0] in (
        "gpt-4o", "gpt-4o_in-context", "claude-3-5-sonnet")}
    assert table["gpt-4o"][5:7] == ["2", "8"] and table["gpt-4o_in-context"][5:7] == ["1", "4"]
