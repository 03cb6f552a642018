"""Streamed scoring (diversity.streaming): the file equals score()'s, whatever the chunking and row order."""

from __future__ import annotations

import logging
import random

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import diversity
from diversity.load import LoadOptions
from diversity.metrics.registry import METRICS
from diversity.schema import GROUP_KEYS
from diversity.scoring import Scores
from diversity.streaming import score_logs
from diversity.streaming.output import merged_log
from diversity.streaming.partition import assign_buckets
from rollout_cli import main
from rollout_common.errors import InputError, OptionError
from tests.conftest import REPO, write_jsonl

DEMO = REPO / "data" / "demo"
ALL = list(METRICS)


def shuffled_rows(seed: int = 0) -> list[dict]:
    """Three lineages, steps, both splits, groups of 1-9 with repeated and Unicode answers, in random order."""
    rng = random.Random(seed)
    words = "the cat sat on a mat über naïve 東京 data ran far".split()
    rows = []
    for lineage in ("grpo", "repo_r", "3"):
        for step in (0, 5, 10, 100):
            for split in ("train", "eval"):
                for group in range(4):
                    size = 1 if (lineage, step, group) == ("grpo", 5, 3) else rng.randint(2, 9)
                    answers = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(size)]
                    for i in range(size):
                        rows.append({
                            "lineage": lineage, "phase": "1" if step < 10 else "2", "step": step, "split": split,
                            "group_id": f"g{group}", "prompt": f"prompt {group}",
                            "response": answers[0] if i % 3 == 2 else answers[i], "reward": float(i % 2),
                            "entropy": 0.1 * i, "n_tokens": i, "task": "A" if group % 2 else "B",
                        })
    rng.shuffle(rows)
    return rows


def expected_file(paths, tmp_path, options: LoadOptions | None = None, **score_options):
    scores = diversity.score(diversity.load_rollouts(paths, options), progress=False, **score_options)
    return scores.to_parquet(tmp_path / "expected.parquet")


def assert_same_file(written, expected) -> None:
    assert_frame_equal(pl.read_parquet(written), pl.read_parquet(expected))
    assert pq.read_schema(written).metadata == pq.read_schema(expected).metadata


@pytest.mark.parametrize("chunk_rows", [10**6, 50, 7])
def test_demo_streamed_equals_score_for_every_chunk_size(tmp_path, chunk_rows) -> None:
    log = DEMO / "canonical.jsonl"
    expected = expected_file(log, tmp_path, metrics=ALL, embedder="hashing")
    written = score_logs(log, tmp_path / "streamed.parquet", chunk_rows=chunk_rows, metrics=ALL, embedder="hashing",
                         progress=False)
    assert_same_file(written.path, expected)
    assert (written.rollouts, written.groups) == (384, 96)
    assert written.summary.equals(Scores.read_parquet(expected).summary)
    chunks = pq.ParquetFile(written.path).metadata.num_row_groups
    assert chunks == 1 if chunk_rows > 384 else chunks == pytest.approx(384 / chunk_rows, rel=0.5)


def test_shuffled_log_in_two_formats_streams_to_the_same_groups(tmp_path) -> None:
    rows = shuffled_rows()
    half = len(rows) // 2
    first = write_jsonl(tmp_path / "logs" / "a.jsonl", rows[:half])
    pl.DataFrame(rows[half:]).write_parquet(tmp_path / "logs" / "b.parquet", row_group_size=37)
    expected = expected_file(tmp_path / "logs", tmp_path, metrics=ALL, embedder="hashing")
    written = score_logs(tmp_path / "logs", tmp_path / "streamed.parquet", chunk_rows=40, metrics=ALL,
                         embedder="hashing", progress=False)
    assert_same_file(written.path, expected)
    assert [f.rows for f in written.files] == [half, len(rows) - half] and first.exists()
    assert not [p for p in tmp_path.iterdir() if ".spill-" in p.name]  # the spill folder is gone


def test_trainer_formats_stream_whole_files(tmp_path) -> None:
    paths = [DEMO / "trl", DEMO / "verl", DEMO / "noveltybench"]
    options = LoadOptions(group_size=4)
    expected = expected_file(paths, tmp_path, options, metrics=["distinct_n", "vendi_score"], embedder="hashing")
    written = score_logs(paths, tmp_path / "streamed.parquet", load_options=options, chunk_rows=5,
                         metrics=["distinct_n", "vendi_score"], embedder="hashing", progress=False)
    assert_same_file(written.path, expected)


def test_buckets_are_key_ranges_that_never_split_a_group() -> None:
    frame = pl.DataFrame(shuffled_rows(1)).select(GROUP_KEYS)
    splitters = frame.unique().sort(GROUP_KEYS).gather_every(7, offset=3)
    bucketed = assign_buckets(frame, splitters)
    assert bucketed.group_by(GROUP_KEYS).agg(pl.col("_bucket").n_unique())["_bucket"].max() == 1
    in_order = bucketed.unique().sort(GROUP_KEYS)["_bucket"]
    assert in_order.is_sorted() and in_order.n_unique() == splitters.height + 1


def test_a_bad_row_in_a_later_chunk_is_named_as_the_loader_names_it(tmp_path) -> None:
    rows = shuffled_rows()[:60]
    rows[45]["step"] = "late"
    log = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as loaded:
        diversity.load_rollouts(log)
    with pytest.raises(InputError) as streamed:
        score_logs(log, tmp_path / "out.parquet", chunk_rows=10, embedder="hashing", progress=False)
    assert str(streamed.value) == str(loaded.value) and "bad.jsonl:46:" in str(streamed.value)
    skipped = score_logs(log, tmp_path / "out.parquet", load_options=LoadOptions(on_bad_row="skip"), chunk_rows=10,
                         metrics=["distinct_n"], progress=False)
    assert skipped.rollouts == 59 and skipped.files[0].skipped == 1


def test_tfidf_is_refused_past_one_chunk_and_scores_within_one(tmp_path) -> None:
    log = DEMO / "canonical.jsonl"
    with pytest.raises(OptionError, match="tfidf.*--chunk-rows 384"):
        score_logs(log, tmp_path / "out.parquet", chunk_rows=100, embedder="tfidf", progress=False)
    expected = expected_file(log, tmp_path, embedder="tfidf", metrics=["vendi_score"])
    written = score_logs(log, tmp_path / "out.parquet", chunk_rows=384, embedder="tfidf", metrics=["vendi_score"],
                         progress=False)
    assert_same_file(written.path, expected)


def test_each_chunks_log_lines_are_said_once_with_counts_added(caplog) -> None:
    caplog.set_level(logging.INFO, logger="diversity")
    log = logging.getLogger("diversity")
    with merged_log():
        for small in (2, 3):
            log.warning("%d group(s) have fewer than %d responses: %s left empty", small, 2, "jaccard_overlap")
        log.info("%s skipped: %s", "pass_at_k", "no rewards")
        log.info("%s skipped: %s", "pass_at_k", "no rewards")
        assert not caplog.records
    assert [r.getMessage() for r in caplog.records] == [
        "5 group(s) have fewer than 2 responses: jaccard_overlap left empty", "pass_at_k skipped: no rewards"]


def test_options_are_checked_before_anything_is_read(tmp_path) -> None:
    with pytest.raises(OptionError, match="chunk_rows"):
        score_logs(DEMO / "canonical.jsonl", tmp_path / "out.parquet", chunk_rows=0)
    with pytest.raises(OptionError, match="engine"):
        score_logs(DEMO / "canonical.jsonl", tmp_path / "out.parquet", engine="spark")
    (tmp_path / "out.parquet").write_bytes(b"old")
    with pytest.raises(OptionError, match="exists"):
        score_logs(DEMO / "canonical.jsonl", tmp_path / "out.parquet")


def test_score_command_streams_with_chunk_rows(tmp_path, capsys) -> None:
    log = str(DEMO / "canonical.jsonl")
    whole, chunked = tmp_path / "whole.parquet", tmp_path / "chunked.parquet"
    for out, rows in ((whole, "100000"), (chunked, "30")):
        assert main(["score", log, "--out", str(out), "--embedder", "hashing", "--chunk-rows", rows, "--no-progress"]) == 0
    assert_same_file(chunked, whole)
    printed = capsys.readouterr().out
    assert "96 groups, 384 rollouts" in printed and "vendi_score" in printed
