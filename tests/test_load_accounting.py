"""No silent loss: for every fixture, every record read is counted as kept, skipped, dropped or de-duplicated,
the frame holds exactly the rows the kept records make, and every row the loader keeps reaches scoring."""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import diversity
from diversity.load import LoadOptions, read_rollouts
from diversity.load.formats import FORMATS
from diversity.load.records import SUFFIXES, TORCH_SUFFIX, open_records
from diversity.load.result import FileReport, LoadResult
from diversity.load.rows import DroppedRow, DuplicateRow, each_row, string, to_frame
from rollout_common.errors import InputError
from tests.conftest import REPO, write_jsonl

FIXTURES = sorted(
    p for root in ("tests/data", "data/demo") for p in (REPO / root).rglob("*")
    if p.is_file() and (p.suffix in SUFFIXES or p.suffix == TORCH_SUFFIX)
)
# Every folder holding fixtures, read whole: the formats' looks across files (TRL's re-logged batches,
# NoveltyBench's prompts read once per folder) move records from kept to de-duplicated.
FOLDERS = sorted({p.parent for p in FIXTURES} | {p.parent.parent for p in FIXTURES if p.parent.name == "completions"})
OPTIONS = LoadOptions(group_size=4)  # num_generations of every TRL fixture (tests/data/real/make_trl.py)
# Formats whose one record is one row, unless the record is left out.
ONE_ROW_PER_RECORD = {"canonical", "trl", "skyrl", "slime", "verifiers"}


def records_in(path) -> list[dict]:
    """The file's records, counted independently of the loader."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path).to_dicts()
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False).to_dicts()
    if path.suffix == ".arrow":
        return pa.ipc.open_stream(pa.memory_map(str(path))).read_all().to_pylist()
    if path.suffix == TORCH_SUFFIX:
        import torch

        with warnings.catch_warnings():  # pickle_protocol_7.pt: torch warns of its header
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True)["samples"]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rows_of(fmt: str, records: list[dict]) -> int:
    """The canonical rows a file whose every record is sound makes, counted without the loader."""
    if fmt == "slime":
        return sum(r.get("status") != "aborted" for r in records)
    if fmt == "noveltybench":
        return sum(len(r["generations"]) for r in records)
    if fmt == "lm_eval":  # one group per document; its other filters' lines repeat the samples
        return sum(len(r["resps"][0]) for r in {r["doc_id"]: r for r in reversed(records)}.values())
    if fmt == "batch":
        return sum(len(r["response"]["body"]["choices"]) for r in records if r.get("error") is None
                   and r["response"]["status_code"] == 200)
    if fmt == "table":
        return sum(len(r["generations"]) if isinstance(r.get("generations"), list) else 1 for r in records)
    if fmt == "verl":  # an agent-loop session's outputs (uid <prompt>_<session>_<k>) are one answer
        return len({r["uid"].rsplit("_", 1)[0] if "uid" in r else id(r) for r in records})
    return len(records)


def assert_accounted(result: LoadResult) -> None:
    for report in result.files:
        assert report.read == report.kept + report.skipped + report.dropped + report.deduplicated, report
        if report.format in ONE_ROW_PER_RECORD:
            assert report.rows == report.kept, report
        if report.dropped or report.deduplicated:
            assert report.notes, f"records left out without a word: {report}"
    assert result.frame.height == sum(r.rows for r in result.files)


def test_the_fixtures_hold_every_format() -> None:
    formats = set()
    for path in FIXTURES:
        try:
            formats |= {r.format for r in read_rollouts(path, OPTIONS).files}
        except InputError:
            pass
    assert formats == set(FORMATS)


@pytest.mark.parametrize("on_bad_row", ["error", "skip"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_record_of_every_fixture_is_accounted_for(path, on_bad_row) -> None:
    try:
        result = read_rollouts(path, dataclasses.replace(OPTIONS, on_bad_row=on_bad_row))
    except InputError:  # refused whole (a bad fixture): nothing was loaded, so nothing was lost
        return
    assert_accounted(result)
    report, = result.files
    records = records_in(path)
    assert report.read == len(records)
    if not report.skipped:
        assert report.rows == rows_of(report.format, records)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_record_of_every_fixture_folder_is_accounted_for(folder) -> None:
    try:
        result = read_rollouts(folder, OPTIONS)
    except InputError:
        return
    assert_accounted(result)
    assert result.read == sum(len(records_in(Path(f.path))) for f in result.files)


@pytest.mark.parametrize("fixture", ["canonical_file", "trl_dir", "verl_dir", "noveltybench_file"])
def test_every_record_of_the_written_fixtures_is_accounted_for(fixture, request) -> None:
    result = read_rollouts(request.getfixturevalue(fixture), OPTIONS)
    assert_accounted(result)
    assert result.skipped == 0 and result.read > 0


def test_a_run_directory_of_the_shipped_experiment_is_accounted_for() -> None:
    result = read_rollouts(REPO / "data/experiment/seed0/grpo_p1")
    assert_accounted(result)
    assert result.read == result.frame.height == sum(pl.read_parquet(f.path).height for f in result.files)


def test_skipped_rows_are_counted_beside_kept_ones() -> None:
    result = read_rollouts(REPO / "tests/data/bad/lenient_shapes.jsonl", on_bad_row="skip")
    assert_accounted(result)


def test_records_left_out_by_the_formats_rules_are_counted_with_their_reason() -> None:
    """Re-logged TRL batches and NoveltyBench prompts read from a later file are de-duplicated; slime's aborted
    samples are dropped; lm-eval's filter lines are de-duplicated: each count with its note."""
    real = REPO / "tests/data/real"
    relogged = read_rollouts(real / "trl/steps_per_generation", OPTIONS)
    assert relogged.deduplicated == relogged.counts["relogged_rows_dropped"] > 0
    novelty = read_rollouts(real / "novelty_bench/evaluation", OPTIONS)
    assert novelty.deduplicated == novelty.counts["prompts_read_from_later_file"] > 0
    slime = read_rollouts(real / "slime/dump", OPTIONS)
    assert slime.dropped == slime.counts["aborted_samples_dropped"] > 0
    lm_eval = read_rollouts(real / "lm_eval", OPTIONS)
    assert lm_eval.deduplicated == lm_eval.counts["filter_rows_deduplicated"] > 0
    for result in (relogged, novelty, slime, lm_eval):
        assert_accounted(result)


def test_a_noveltybench_line_repeated_is_read_once_and_a_clashing_id_is_a_bad_row(tmp_path) -> None:
    line = {"id": "a", "prompt": "p", "model": "m", "generations": ["x", "y"]}
    result = read_rollouts(write_jsonl(tmp_path / "generations.jsonl", [line, line]))
    assert (result.frame.height, result.deduplicated, result.counts) == (2, 1, {"repeated_lines": 1})
    clash = write_jsonl(tmp_path / "clash" / "generations.jsonl", [line, {**line, "generations": ["z"]}])
    with pytest.raises(InputError, match=r"generations\.jsonl:2: field 'id': 'a' is also on line 1 with other"):
        read_rollouts(clash)
    result = read_rollouts(clash, on_bad_row="skip")
    assert (result.frame.height, result.skipped) == (2, 1)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_row_the_loader_keeps_is_scored(folder, caplog) -> None:
    """Scoring leaves no row out: a group too small for a metric keeps its rows (group_size) and gets null
    there, with one line saying how many groups."""
    try:
        frame = read_rollouts(folder, OPTIONS).frame
    except InputError:
        return
    with caplog.at_level(logging.WARNING, logger="diversity"):
        scores = diversity.score(frame, metrics=["distinct_n", "jaccard_overlap"], progress=False)
    assert scores.groups["group_size"].sum() == frame.height
    assert scores.summary["rollouts"].sum() == frame.height
    single = scores.groups.filter(pl.col("group_size") < 2)
    if single.height:
        assert single["jaccard_overlap"].null_count() == single.height
        assert f"{single.height} group(s) have fewer than 2 responses: jaccard_overlap left empty" in caplog.text


def test_a_format_that_leaves_records_out_counts_them(tmp_path) -> None:
    """DuplicateRow and DroppedRow inside the guard: the record is left out and counted."""
    path = write_jsonl(tmp_path / "log.jsonl", [{"prompt": "p", "response": r} for r in ("a", "b", "a", "a", "")])
    records = open_records(path)
    report = FileReport(str(path), "test", read=len(records.rows))
    seen, rows = set(), []
    for _, record, guard in each_row(records, report, skip=False):
        with guard:
            response = string(record, "response")
            if response in seen:
                raise DuplicateRow()
            if not response:
                raise DroppedRow()
            seen.add(response)
        if not guard.failed:
            rows.append({"prompt": "p", "response": response})
    report.rows = to_frame(rows).height
    assert (report.kept, report.deduplicated, report.dropped, report.rows) == (2, 2, 1, 2)
    assert report.read == report.kept + report.skipped + report.dropped + report.deduplicated
