"""report and plot read logs a chunk of whole groups at a time: the same page data and figures for any chunk size."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import diversity
from diversity.analysis import analyse
from diversity.load import LoadOptions
from diversity.report import build_report
from diversity.scoring import score
from diversity.streaming.step_totals import StepTotals
from rollout_cli import main
from tests.conftest import REAL, REPO, experiment_rows, write_jsonl

DEMO = REPO / "data" / "demo"
METRICS = ["duplicate_fraction", "distinct_n", "vendi_score", "pass_at_k", "reward_zero_std"]


@pytest.fixture(scope="module")
def shuffled_logs(tmp_path_factory) -> Path:
    """The experiment's two lineages and phases, in random order over a JSONL and a Parquet file; the Parquet
    file's rows have a seed, some rewards and entropies are null."""
    rows = experiment_rows()
    random.Random(0).shuffle(rows)
    for i, row in enumerate(rows):
        if i % 11 == 0:
            row["reward"] = None
        if i % 13 == 0:
            row["entropy"] = None
    folder = tmp_path_factory.mktemp("shuffled")
    half = len(rows) // 2
    write_jsonl(folder / "a.jsonl", rows[:half])
    pl.DataFrame(rows[half:]).with_columns(seed=pl.lit(1)).write_parquet(folder / "b.parquet", row_group_size=29)
    return folder


def plain_tables(rollouts: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The per-step tables from the whole log at once, each a polars group_by over every row."""
    seed = ["seed"] if "seed" in rollouts.columns else []
    return {
        "steps": rollouts.group_by("lineage", "phase", "step", "split").agg(
            pl.col("group_id").n_unique().alias("groups"), pl.len().alias("answers"),
            pl.col("reward").mean(), pl.col("entropy").mean(), pl.col("n_tokens").mean().alias("tokens")),
        "train_entropy": rollouts.filter(pl.col("split") == "train").drop_nulls("entropy")
        .group_by("lineage", "phase", "step", *seed).agg(pl.col("entropy").mean()),
        "evals": rollouts.filter((pl.col("split") == "eval") & pl.col("reward").is_not_null())
        .with_columns(pl.col("task").fill_null("-"))
        .group_by("lineage", "phase", "step", "task", *seed).agg(pl.col("reward").mean()),
    }


def assert_same_table(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    keys = [c for c, dtype in expected.schema.items() if not dtype.is_float()]
    assert_frame_equal(got.sort(keys), expected.sort(keys), check_dtypes=False, rel_tol=1e-12)


def test_step_totals_over_chunks_of_whole_groups_equal_one_group_by_over_the_log(shuffled_logs) -> None:
    rollouts = diversity.load_rollouts(shuffled_logs)
    groups = rollouts.select("lineage", "phase", "step", "split", "group_id").unique(maintain_order=True)
    totals = StepTotals()
    for at in range(0, groups.height, 5):  # five groups a chunk
        totals.add(rollouts.join(groups.slice(at, 5), on=list(groups.columns), how="semi"))
    expected = plain_tables(rollouts)
    assert_same_table(totals.steps(), expected["steps"])
    assert_same_table(totals.train_entropy(), expected["train_entropy"])
    assert_same_table(totals.evals(), expected["evals"])
    assert "seed" in totals.evals().columns


def report_of(sources, chunk_rows: int, **options):
    return build_report(sources, embedder="hashing", progress=False, chunk_rows=chunk_rows, extra_metrics=["distinct_n"],
                        **options)


CASES = {
    "demo": ([DEMO / "canonical.jsonl"], {}),
    "every demo format": ([DEMO], {"load_options": LoadOptions(group_size=4)}),
    "shuffled, threshold, eval scored": (["shuffled"], {"metrics": METRICS, "correct_threshold": 0.5,
                                                          "score_splits": ("eval",)}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_page_and_figures_are_the_same_for_every_chunk_size(case, shuffled_logs) -> None:
    sources, options = CASES[case]
    sources = [shuffled_logs if s == "shuffled" else s for s in sources]
    whole = report_of(sources, 10**6, **options)
    for chunk_rows in (50, 7):
        chunked = report_of(sources, chunk_rows, **options)
        assert chunked.page_data == whole.page_data
        assert [f.png for f in chunked.figures] == [f.png for f in whole.figures]
        assert chunked.collapsed == whole.collapsed and chunked.provenance == whole.provenance
        assert chunked.definitions == whole.definitions and chunked.lineages == whole.lineages
        assert_frame_equal(chunked.headline, whole.headline, rel_tol=1e-12)


def test_the_figures_tables_are_the_same_for_every_chunk_size(shuffled_logs) -> None:
    options = {"embedder": "hashing", "metrics": METRICS, "correct_threshold": 0.5, "progress": False}
    whole, chunked = (analyse(shuffled_logs, chunk_rows=rows, **options) for rows in (10**6, 7))
    assert chunked.pass_at_k.height and chunked.evals.height and "seed" in chunked.evals.columns
    for name in ("entropy", "evals", "pass_at_k"):
        assert_frame_equal(getattr(chunked, name), getattr(whole, name), rel_tol=1e-12)
    assert_frame_equal(chunked.scores.summary, whole.scores.summary, rel_tol=1e-12)
    assert_frame_equal(chunked.scores.groups, whole.scores.groups)
    expected = score(diversity.load_rollouts(shuffled_logs), **options)
    assert_frame_equal(whole.scores.groups, expected.groups)
    assert whole.scores.settings == expected.settings
    for analysis in (whole, chunked):
        analysis.close()


def test_no_chunk_holds_more_than_about_chunk_rows(monkeypatch, tmp_path) -> None:
    seen = []
    add = StepTotals.add
    monkeypatch.setattr(StepTotals, "add", lambda self, rows: (seen.append(rows.height), add(self, rows))[1])
    report = report_of([DEMO / "canonical.jsonl"], 50, work_dir=tmp_path)
    assert sum(seen) == 384 and len(seen) >= 5 and max(seen) <= 100
    assert report.page_data["selection"]["shown"] == 96
    assert list(tmp_path.iterdir()) == []  # the spills are removed once the report is built


def test_saved_scores_stand_for_their_logs_in_chunks(tmp_path) -> None:
    verl = REAL / "verl"
    saved = score(diversity.load_rollouts(verl / "classic"), embedder="hashing", progress=False)
    path = saved.to_parquet(tmp_path / "classic.parquet")
    for chunk_rows in (10**6, 5):
        both = analyse([path, verl / "classic", verl / "v1"], embedder="hashing", progress=False,
                       chunk_rows=chunk_rows)
        assert both.scores.count == both.scores.groups.height == 28 + 4  # only v1's groups are new
        alone = analyse([path], progress=False, chunk_rows=chunk_rows)
        assert_frame_equal(alone.scores.groups, saved.groups)
        assert_frame_equal(alone.scores.summary, saved.summary)
        both.close()
        alone.close()


def test_the_scores_of_an_analysis_write_the_file_score_writes(tmp_path) -> None:
    log = DEMO / "canonical.jsonl"
    analysis = analyse(log, embedder="hashing", progress=False, chunk_rows=50)
    written = analysis.scores.to_parquet(tmp_path / "analysis.parquet")
    expected = score(diversity.load_rollouts(log), embedder="hashing", progress=False).to_parquet(tmp_path / "x.parquet")
    assert_frame_equal(pl.read_parquet(written), pl.read_parquet(expected))
    assert diversity.Scores.read_parquet(written).settings == diversity.Scores.read_parquet(expected).settings
    analysis.close()
    assert not Path(analysis.workspace.name).exists()


def _page_data(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" data-rd-data>(.*?)</script>', text, re.S).group(1))


def test_report_and_plot_commands_take_chunk_rows(tmp_path) -> None:
    log = str(DEMO / "canonical.jsonl")
    pages = []
    for rows in ("200000", "30"):
        page, figures = tmp_path / f"page-{rows}.html", tmp_path / f"figures-{rows}"
        common = ["--embedder", "hashing", "--no-progress", "--chunk-rows", rows]
        assert main(["report", log, "--out", str(page), *common]) == 0
        assert main(["plot", log, "--out", str(figures), *common]) == 0
        pages.append((_page_data(page), {p.name: p.read_bytes() for p in figures.glob("*.png")}))
    assert pages[0] == pages[1] and len(pages[0][1]) == 2  # entropy and diversity
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no spill left beside them
    assert main(["report", log, "--out", str(tmp_path / "x.html"), "--chunk-rows", "0"]) == 2


def test_tfidf_is_refused_past_one_chunk(tmp_path) -> None:
    from rollout_common.errors import OptionError

    log = DEMO / "canonical.jsonl"
    with pytest.raises(OptionError, match="tfidf.*--chunk-rows 384"):
        analyse(log, embedder="tfidf", metrics=["vendi_score"], chunk_rows=100, progress=False, work_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the spill is removed when the analysis fails
    analyse(log, embedder="tfidf", metrics=["vendi_score"], chunk_rows=384, progress=False).close()
