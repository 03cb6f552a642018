"""The two-phase experiment's quick preset through the real CLI: the pipeline, not the science."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import diversity
from rollout_common.run_directory import CHECKPOINTS, RunPaths, is_finished, read_config, read_jsonl
from trainers.experiment import DESIGNS, PRESETS, STAGES, TARGET_RAISE, settled_entropy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("experiment")
    exe = Path(sys.executable).with_name("rollout-diversity")
    done = subprocess.run(
        [exe, "-q", "experiment", "--preset", "quick", "--out", out / "runs", "--report", out / "report.html",
         "--data-dir", out / "data", "--embedder", "hashing"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def config(run: Path) -> dict:
    return read_config(run).raw


def test_every_stage_ran_with_its_lineage_phase_and_parent(quick: Path) -> None:
    seed = quick / "runs" / "seed0"
    for stage in STAGES:
        saved = config(seed / stage.name)
        assert (saved["run"]["lineage"], saved["run"]["phase"], saved["run"]["task"], saved["run"]["method"]) == \
            (stage.lineage, stage.phase, stage.task(DESIGNS[PRESETS["quick"].design]), stage.method)
        assert is_finished(seed / stage.name)
        expected_parent = quick / "runs" / "base" if stage.parent == "base" else seed / stage.parent
        assert Path(saved["run"]["init_from"]).resolve() == expected_parent.resolve()


def test_the_fork_raises_repo_r_s_settled_entropy_by_the_stated_fraction(quick: Path) -> None:
    seed = quick / "runs" / "seed0"
    raised = float(config(seed / "repo_r_raised_p2")["control"]["target_entropy"])
    assert raised == pytest.approx(settled_entropy(seed / "repo_r_p2") * (1 + TARGET_RAISE), rel=1e-5)
    # Phase 2 continues the global step count of phase 1.
    p1 = [r["step"] for r in read_jsonl(RunPaths(seed / "repo_r_p1").metrics)]
    p2 = [r["step"] for r in read_jsonl(RunPaths(seed / "repo_r_raised_p2").metrics)]
    assert min(p2) == max(p1) + 1


def test_summaries_and_report_are_written(quick: Path) -> None:
    data = quick / "data"
    scores = diversity.Scores.read_parquet(data / "scores.parquet")
    assert set(scores.groups["lineage"].unique().to_list()) == {"grpo", "repo_r", "repo_r_raised"}
    assert scores.groups["split"].unique().to_list() == ["eval"]
    assert scores.settings["correct"] == "reward >= 1" and "pass_at_k" in scores.metrics  # full marks = correct
    evaluations = pl.read_parquet(data / "evaluations.parquet")
    assert set(evaluations["task"].unique().to_list()) == {"A", "B", "C"}
    outcomes = pl.read_parquet(data / "outcomes.parquet")
    assert outcomes.height == scores.groups.height and (outcomes["correct"] <= outcomes["n"]).all()
    metrics = pl.read_parquet(data / "training_metrics.parquet")
    assert metrics.height == 5 * 6 and "zeta" in metrics.columns
    published = sorted(p.name for p in (data / "seed0").iterdir())
    assert published == sorted(stage.name for stage in STAGES)
    assert not (data / "seed0" / "grpo_p1" / CHECKPOINTS).exists()
    logs = diversity.load_rollouts(data / "seed0" / "grpo_p1")
    assert logs["lineage"].unique().to_list() == ["grpo"] and logs["seed"].unique().to_list() == [0]
    page = (quick / "report.html").read_text(encoding="utf-8")
    assert page.count("<img") == 4 and "repo_r_raised" in page  # figures 1-3 and pass@k
    assert 'id="findings"' in page and "GRPO&#39;s entropy collapses again in phase 2" in page


def test_the_summary_benchmark_reads_the_published_tables(quick: Path) -> None:
    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "experiment_summary.py"
    done = subprocess.run([sys.executable, bench, quick / "data"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "GRPO's entropy collapses again in phase 2" in done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith("not measurable")
