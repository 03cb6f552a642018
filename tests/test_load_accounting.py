"""No silent loss: for every fixture, every record read is counted as kept, skipped or de-duplicated,
and the frame holds exactly the rows the kept records make."""

from __future__ import annotations

import json

import polars as pl
import pytest

from diversity.load import LoadOptions, read_rollouts
from diversity.load.records import SUFFIXES
from diversity.load.result import LoadResult
from diversity.load.rows import DuplicateRow, each_row, string, to_frame
from rollout_common.errors import InputError
from tests.conftest import REPO, write_jsonl

# Formats whose one record is a whole group (one row per generation).
GROUP_PER_RECORD = {"noveltybench": "generations"}
FIXTURES = sorted(
    p for root in ("tests/data", "data/demo") for p in (REPO / root).rglob("*") if p.is_file() and p.suffix in SUFFIXES
)


def records_in(path) -> list[dict]:
    """The file's records, counted independently of the loader."""
    if path.suffix == ".parquet":
        return pl.read_parquet(path).to_dicts()
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False).to_dicts()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def assert_accounted(result: LoadResult) -> None:
    for report in result.files:
        assert report.read == report.kept + report.skipped + report.deduplicated, report
        if report.format not in GROUP_PER_RECORD:
            assert report.rows == report.kept, report
    assert result.frame.height == sum(r.rows for r in result.files)


@pytest.mark.parametrize("on_bad_row", ["error", "skip"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_record_of_every_fixture_is_accounted_for(path, on_bad_row) -> None:
    try:
        result = read_rollouts(path, LoadOptions(group_size=4, on_bad_row=on_bad_row))
    except InputError:  # refused whole (a bad fixture): nothing was loaded, so nothing was lost
        return
    assert_accounted(result)
    report, = result.files
    records = records_in(path)
    assert report.read == len(records)
    if report.format in GROUP_PER_RECORD and not report.skipped:
        assert report.rows == sum(len(r[GROUP_PER_RECORD[report.format]]) for r in records)


@pytest.mark.parametrize("fixture", ["canonical_file", "trl_dir", "verl_dir", "noveltybench_file"])
def test_every_record_of_the_written_fixtures_is_accounted_for(fixture, request) -> None:
    result = read_rollouts(request.getfixturevalue(fixture), LoadOptions(group_size=4))
    assert_accounted(result)
    assert result.skipped == 0 and result.read > 0


def test_a_run_directory_of_the_shipped_experiment_is_accounted_for() -> None:
    result = read_rollouts(REPO / "data/experiment/seed0/grpo_p1")
    assert_accounted(result)
    assert result.read == result.frame.height == sum(pl.read_parquet(f.path).height for f in result.files)


def test_skipped_rows_are_counted_beside_kept_ones() -> None:
    result = read_rollouts(REPO / "tests/data/bad/lenient_shapes.jsonl", on_bad_row="skip")
    assert_accounted(result)


def test_a_format_that_drops_repeats_counts_them(tmp_path) -> None:
    """DuplicateRow inside the guard: the record is dropped and counted, and the load says so."""
    path = write_jsonl(tmp_path / "log.jsonl", [{"prompt": "p", "response": r} for r in ("a", "b", "a", "a")])
    from diversity.load.records import open_records
    from diversity.load.result import FileReport

    records, report = open_records(path), FileReport(str(path), "test", read=4)
    seen, rows = set(), []
    for _, record, guard in each_row(records, report, skip=False):
        with guard:
            response = string(record, "response")
            if response in seen:
                raise DuplicateRow()
            seen.add(response)
        if not guard.failed:
            rows.append({"prompt": "p", "response": response})
    report.rows = to_frame(rows).height
    assert (report.kept, report.deduplicated, report.rows) == (2, 2, 2)
    assert report.read == report.kept + report.skipped + report.deduplicated
