"""Read logs and saved scores once for a report or figures, a chunk of whole groups at a time.

:func:`survey` is what :func:`diversity.analysis.analyse` runs on its logs and
saved scores files:

1. read the logs (:class:`~diversity.streaming.reading.LogReader`) into a
   spill of rows (:class:`~diversity.streaming.partition.Spill`), beside the
   group keys the saved files hold;
2. for each bucket of whole groups, in key order: add its rows to the per-step
   tables (:class:`~diversity.streaming.step_totals.StepTotals`), note the size
   of each group's folded answers, and score the groups no saved file holds
   (of ``score_splits``, when given) with :func:`diversity.score`, as
   :func:`~diversity.streaming.score_logs` does;
3. merge the saved and the new scores into one table read a whole step at a
   time (:func:`~diversity.streaming.groups.merge_groups`).

The spill of rows is kept (:meth:`LogTables.matching`), so a page reads again
only the rows of the groups it shows. Memory is set by ``chunk_rows``, not by
the logs; the spills and the merged table live in a hidden folder in
``work_dir`` (default: the system's temporary folder) until
:meth:`Survey.close`. A log of at most one chunk stays in memory.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from diversity.load.options import LoadOptions
from diversity.load.result import FileReport, added_counts
from diversity.metrics.registry import METRICS
from diversity.saved_scores import check_can_join, check_same_settings, not_yet_scored
from diversity.schema import GROUP_KEYS
from diversity.scoring import SUMMARY_KEYS, Scores
from diversity.streaming.groups import PART, GroupTable, folded_sizes, merge_groups
from diversity.streaming.output import merged_log
from diversity.streaming.partition import Spill
from diversity.streaming.pipeline import check_chunk_rows, chunk_embedder
from diversity.streaming.reading import ROW, LogReader
from diversity.streaming.step_totals import StepTotals

N_CORRECT = "n_correct"
SAVED = "_saved"
"""Marks a saved file's group key among the spilled rows of the logs."""


@dataclass
class LogTables:
    """What the logs gave: the files read, the per-step tables, and their rows kept for a second read."""

    files: list[FileReport]
    ignored: list[str]
    rows: int
    steps: pl.DataFrame
    """per (lineage, phase, step, split): groups, answers, reward, entropy, tokens (StepTotals.steps)"""
    train_entropy: pl.DataFrame
    evals: pl.DataFrame
    spill: Spill

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def counts(self) -> dict[str, int]:
        return added_counts(self.files)

    def matching(self, keys: pl.DataFrame, progress: bool = False) -> pl.DataFrame:
        """The rows whose values in ``keys``' columns are one of its rows, in log order (canonical columns)."""
        rows = self.spill.matching(keys, progress)
        if SAVED in rows.columns:
            rows = rows.filter(pl.col(SAVED).is_null()).drop(SAVED)
        return rows.drop(ROW) if ROW in rows.columns else rows


@dataclass
class Survey:
    """The scored groups, what the logs gave (None without logs), and the folder holding their files."""

    groups: GroupTable
    logs: LogTables | None
    workspace: tempfile.TemporaryDirectory

    def close(self) -> None:
        """Remove the spills and the merged table."""
        self.workspace.cleanup()


def survey(logs: Sequence, saved: Sequence[Path], *, load_options: LoadOptions, scoring: dict | None,
           score_splits: Sequence[str] | None, chunk_rows: int, progress: bool = True,
           work_dir: str | Path | None = None) -> Survey:
    """Read ``logs`` and the ``saved`` scores files; score, unless ``scoring`` is None (then the saved scores
    stand for the logs), the groups no saved file holds, with ``scoring`` passed to :func:`diversity.score`."""
    check_chunk_rows(chunk_rows)
    shells = [Scores.read_schema(path) for path in saved]
    check_same_settings(list(zip(saved, shells)))
    workspace = tempfile.TemporaryDirectory(prefix=".rollout-diversity-", dir=work_dir)
    folder = Path(workspace.name)
    try:
        groups = Spill(folder / "groups", chunk_rows, keys=SUMMARY_KEYS)  # buckets of whole steps
        for part, path in enumerate(saved):
            for piece in _pieces(path, chunk_rows):
                groups.add(piece.with_columns(pl.lit(part).alias(PART)))
        tables = None
        if logs:
            scorer = _BucketScorer(saved, shells, scoring, score_splits) if scoring is not None else None
            tables = _read_logs(logs, load_options, Spill(folder / "rows", chunk_rows, keep=True), groups, scorer,
                                progress)
            if scorer is not None and scorer.chunks:
                shells.append(scorer.shell())
        merged = merge_groups(groups, shells, folder / "groups.parquet", progress)
    except BaseException:
        workspace.cleanup()
        raise
    return Survey(merged, tables, workspace)


def _read_logs(logs: Sequence, load_options: LoadOptions, rows: Spill, groups: Spill, scorer: _BucketScorer | None,
               progress: bool) -> LogTables:
    """Spill the logs' rows (beside the saved group keys, when scoring); then, bucket by bucket of whole groups,
    sum the per-step tables and put each group's folded-answer sizes and new scores into ``groups``."""
    if scorer is not None:
        for path in scorer.saved:
            for piece in _pieces(path, rows.chunk_rows, columns=list(GROUP_KEYS)):
                rows.add(piece.with_columns(pl.lit(True).alias(SAVED)))
    reader = LogReader(logs, load_options, rows.chunk_rows, progress)
    for frame in reader:
        rows.add(frame)
    totals = StepTotals()
    with merged_log():
        for bucket in _buckets(rows, reader.rows, "tabulating" if scorer is None else "scoring", progress):
            own, covered = bucket, None
            if SAVED in bucket.columns:
                own = bucket.filter(pl.col(SAVED).is_null()).drop(SAVED)
                covered = bucket.filter(pl.col(SAVED).is_not_null()).select(GROUP_KEYS)
            totals.add(own)
            groups.add(folded_sizes(own))
            if scorer is not None:
                for scored in scorer.score(own, covered, rows):
                    groups.add(scored.with_columns(pl.lit(len(scorer.saved)).alias(PART)))
    return LogTables(reader.files, reader.ignored, reader.rows, totals.steps(), totals.train_entropy(),
                     totals.evals(), rows)


class _BucketScorer:
    """Scores each bucket's groups that no saved file holds; :meth:`shell` gives the columns, metrics and
    settings of all of them as one table."""

    def __init__(self, saved, shells, scoring: dict, score_splits):
        self.saved, self.shells, self.scoring, self.splits = saved, list(shells), scoring, score_splits
        self.chunks: list[Scores] = []
        self.options: dict | None = None
        self.done = 0

    def score(self, bucket: pl.DataFrame, covered: pl.DataFrame | None, rows: Spill) -> Iterator[pl.DataFrame]:
        """``bucket``'s new scores (of ``score_splits``, not ``covered``), with ``_row``; ``rows``: the spill, whose
        size says whether tfidf may embed in buckets."""
        from diversity.scoring import score

        chosen = bucket if self.splits is None else bucket.filter(pl.col("split").is_in(list(self.splits)))
        chosen = not_yet_scored(chosen, covered)
        if not chosen.height:
            return
        if self.options is None:  # the first groups to score: the same checks as for one table, made once
            check_can_join(list(zip(self.saved, self.shells)), self.scoring.get("metrics"),
                           self.scoring.get("embedder"), self.scoring.get("batch_size"),
                           self.scoring.get("token_pattern"), self.scoring.get("cache_dir"))
            self.options = {**chunk_embedder(self.scoring, rows.rows, rows.chunk_rows), "progress": False}
        scores = score(chosen.drop(ROW), **self.options)
        self.chunks.append(Scores(scores.groups.clear(), scores.metrics, scores.settings))
        groups = scores.groups
        yield groups.with_columns(pl.int_range(self.done, self.done + groups.height, dtype=pl.Int64).alias(ROW))
        self.done += groups.height

    def shell(self) -> Scores | None:
        """The chunks' columns as one table's, in the order one ``score`` of the whole log gives them (a metric
        a chunk lacked the inputs for is null there, as those groups' would be in the whole log); None when
        nothing was scored."""
        if not self.chunks:
            return None
        metrics = [name for name in METRICS if any(name in chunk.metrics for chunk in self.chunks)]
        columns: dict = {}
        for chunk in self.chunks:
            for name, dtype in chunk.groups.schema.items():
                columns.setdefault(name, dtype)
        order = [c for c in columns if c not in metrics and c != N_CORRECT] + [N_CORRECT] * (N_CORRECT in columns)
        settings: dict[str, str] = {}
        for chunk in self.chunks:
            settings = {**chunk.settings, **settings}
        return Scores(pl.DataFrame(schema={c: columns[c] for c in [*order, *metrics]}), metrics, settings)


def _buckets(rows: Spill, total: int, what: str, progress: bool) -> Iterator[pl.DataFrame]:
    """The spill's buckets, with a bar of the log's rollouts done, their rate and an ETA."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=what, unit="rollout", unit_scale=True, disable=not progress) as bar:
        for bucket in rows.buckets(progress):
            yield bucket
            bar.update(bucket.height if SAVED not in bucket.columns else bucket[SAVED].null_count())


def _pieces(path: Path, rows: int, columns: list[str] | None = None) -> Iterator[pl.DataFrame]:
    """A saved scores file ``rows`` groups at a time, each row with its position in the file (``_row``)."""
    import pyarrow.parquet as pq

    at = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns):
        piece = pl.from_arrow(batch)
        yield piece.with_columns(pl.int_range(at, at + piece.height, dtype=pl.Int64).alias(ROW))
        at += piece.height
