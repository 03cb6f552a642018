"""Every scored group of an analysis on disk, a bucket of whole steps at a time: saved and new scores merged.

An analysis takes groups from saved scores files and from scoring its logs;
the report and the figures read them per step (the summary, pass@k, which
groups the page carries). :func:`merge_groups` takes them from a
:class:`~diversity.streaming.partition.Spill` keyed by (lineage, phase, step,
split), so a bucket holds whole steps, and writes one Parquet file sorted by
group key, a row group per bucket (:class:`GroupTable`). Its rows are those of
``once_per_group(Scores.concat(parts))`` (:mod:`diversity.saved_scores`): by
group key, then in the parts' order; a group given twice counts once, the
first standing. Beside each group, the size of its folded answers in the logs
(:func:`folded_sizes`), which the page's budget reads; memory holds one bucket.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import polars as pl

from diversity.saved_scores import once_per_group
from diversity.schema import GROUP_KEYS
from diversity.scoring import SUMMARY_KEYS, Scores, summarise
from diversity.streaming.output import conform, merged_log
from diversity.streaming.partition import Spill
from diversity.streaming.reading import ROW
from rollout_common.files import atomic_path, check_output_path

PART = "_part"
"""Which input a spilled row came from: its index among the parts (saved files, then the new scores), or FACTS."""
FACTS = -1
FOLDED = "_folded_answers"
"""A group's distinct (response, reward) answers in the logs: those the page shows folded with a count."""
FOLDED_BYTES = "_folded_bytes"
"""The UTF-8 bytes of those answers' texts."""
_FACT_TYPES = {FOLDED: pl.Int64, FOLDED_BYTES: pl.Int64}


def folded_sizes(rows: pl.DataFrame) -> pl.DataFrame:
    """Per group of ``rows`` (whole groups): how many distinct (response, reward) answers, and their bytes;
    marked as a row of FACTS for the spill."""
    distinct = rows.select(*GROUP_KEYS, "response", "reward").unique()
    sizes = distinct.group_by(GROUP_KEYS).agg(
        pl.len().cast(pl.Int64).alias(FOLDED), pl.col("response").str.len_bytes().cast(pl.Int64).sum().alias(FOLDED_BYTES),
    )
    return sizes.with_columns(pl.lit(FACTS).alias(PART), pl.lit(None, pl.Int64).alias(ROW))


class GroupTable:
    """The scored groups of an analysis: ``summary``, ``metrics`` and ``settings`` as a ``Scores`` has them, and
    the groups themselves a bucket of whole steps at a time (:meth:`steps`)."""

    def __init__(self, path: Path, shell: Scores, summary: pl.DataFrame, count: int):
        self.path, self.summary, self.count = path, summary, count
        self.metrics, self.settings = shell.metrics, shell.settings
        self._shell = shell

    @property
    def embedder(self) -> str | None:
        return self.settings.get("embedder")

    def steps(self) -> Iterator[pl.DataFrame]:
        """Whole steps of groups at a time, in group-key order, each group with FOLDED and FOLDED_BYTES (null when
        the logs do not hold it)."""
        import pyarrow.parquet as pq

        file = pq.ParquetFile(self.path)
        for index in range(file.num_row_groups):
            yield pl.from_arrow(file.read_row_group(index))

    def empty(self) -> pl.DataFrame:
        """No groups, with the columns ``groups`` has."""
        return self._shell.groups

    @cached_property
    def groups(self) -> pl.DataFrame:
        """Every group at once, as ``Scores.groups`` (memory grows with the log: for notebooks and small logs)."""
        return pl.read_parquet(self.path).drop(list(_FACT_TYPES))

    def to_parquet(self, path: str | Path, force: bool = False, inputs: Sequence[str | Path] = ()) -> Path:
        """The scores file ``Scores.to_parquet`` writes for these groups, a bucket at a time."""
        import pyarrow.parquet as pq

        path = check_output_path(path, force=force, inputs=inputs)
        schema = self._shell.groups.to_arrow().schema
        with atomic_path(path) as tmp:
            with pq.ParquetWriter(tmp, schema.with_metadata(self._shell.file_metadata(schema))) as writer:
                for part in self.steps():
                    writer.write_table(part.drop(list(_FACT_TYPES)).to_arrow())
        return path


def merge_groups(spill: Spill, parts: Sequence[Scores], path: Path, progress: bool = False) -> GroupTable:
    """Write the spilled groups of ``parts`` (each an empty ``Scores`` giving an input's columns, metrics and
    settings, in order) as one :class:`GroupTable` at ``path``; the spill's rows carry PART and ROW."""
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    shell = Scores.concat(parts)  # no rows: the merged table's columns, metrics and settings
    schema = shell.groups.schema
    arrow = pl.DataFrame(schema={**schema, **_FACT_TYPES}).to_arrow().schema
    summaries, count = [], 0
    with pq.ParquetWriter(path, arrow.with_metadata(shell.file_metadata(arrow))) as writer, merged_log(), \
            tqdm(total=spill.rows, desc="merging scores", unit="row", unit_scale=True, disable=not progress) as bar:
        for bucket in spill.buckets(progress):
            groups = _merged(bucket, schema)
            if groups.height:
                writer.write_table(groups.to_arrow(), row_group_size=groups.height)
                summaries.append(summarise(groups, shell.metrics))
                count += groups.height
            bar.update(bucket.height)
    if not summaries:
        summaries = [summarise(shell.groups, shell.metrics)]
    return GroupTable(path, shell, pl.concat(summaries).sort(SUMMARY_KEYS), count)


def _merged(bucket: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """A bucket's scored groups once each, in ``Scores.concat``'s order, with their answers' sizes."""
    scored = bucket.filter(pl.col(PART) != FACTS).sort(*GROUP_KEYS, PART, ROW)
    groups = once_per_group(conform(scored, schema))
    if FOLDED not in bucket.columns:
        return groups.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in _FACT_TYPES.items())
    facts = bucket.filter(pl.col(PART) == FACTS).select(*GROUP_KEYS, *_FACT_TYPES)
    return groups.join(facts, on=list(GROUP_KEYS), how="left", nulls_equal=True, maintain_order="left")
