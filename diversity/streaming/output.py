"""What a streamed scoring run writes and returns, and its log lines said once.

- :class:`ScoresWriter`: appends each chunk's groups to one Parquet file, the
  file :meth:`diversity.Scores.to_parquet` would write for all of them at once
  (same columns, types and metadata; a row group per chunk).
- :class:`ScoresFile`: what was written (path, counts, metrics, settings, what
  was read from each file) and the per-step summary, read back from the file.
- :func:`conform`: a frame with a given table's columns and types.
- :func:`merged_log`: each chunk's ``score`` logs the same lines ("3 group(s)
  have fewer than 2 responses..."); they are held and said once, counts added up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import polars as pl

from diversity.load.result import FileReport
from diversity.schema import GROUP_KEYS
from diversity.scoring import Scores, summarise
from rollout_common.errors import OptionError

log = logging.getLogger("diversity")


class ScoresWriter:
    """One scores Parquet file written a chunk at a time; the first chunk sets the columns and metadata."""

    def __init__(self, path: Path):
        self.path = path
        self.metrics: tuple[str, ...] = ()
        self.settings: dict[str, str] = {}
        self.groups = 0
        self._writer = None
        self._schema = None

    def write(self, scores: Scores) -> None:
        import pyarrow.parquet as pq

        groups = scores.groups
        if self._writer is None:
            table = groups.to_arrow()
            self.metrics, self.settings = scores.metrics, dict(scores.settings)
            self._schema = groups.schema
            self._writer = pq.ParquetWriter(self.path, table.schema.with_metadata(scores.file_metadata(table.schema)))
        else:
            table = self._conform(groups).to_arrow()
        self._writer.write_table(table)
        self.groups += groups.height

    def _conform(self, groups: pl.DataFrame) -> pl.DataFrame:
        """A later chunk's groups with the first chunk's columns and types (a column it lacks is null)."""
        extra = [c for c in groups.columns if c not in self._schema]
        if extra:
            raise OptionError(f"a later chunk of the log has score column(s) {', '.join(extra)} that the first lacks; "
                              "score with a --chunk-rows that holds the whole log")
        return conform(groups, self._schema)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """``frame`` with exactly ``schema``'s columns, in its order and types; a column ``frame`` lacks is null."""
    return frame.select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in schema.items()
    )


@dataclass
class ScoresFile:
    """A scores file written by :func:`diversity.streaming.score_logs`; read it with ``Scores.read_parquet``."""

    path: Path
    rollouts: int
    groups: int
    metrics: tuple[str, ...]
    settings: dict[str, str]
    files: list[FileReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def embedder(self) -> str | None:
        return self.settings.get("embedder")

    @cached_property
    def summary(self) -> pl.DataFrame:
        """Per (lineage, phase, step, split), as ``Scores.summary``; reads the file's numeric columns only."""
        import pyarrow.parquet as pq

        present = set(pq.read_schema(self.path).names)
        wanted = [*GROUP_KEYS, "group_size", "reward_mean", "entropy_mean", *self.metrics]
        return summarise(pl.read_parquet(self.path, columns=[c for c in wanted if c in present]), self.metrics)


@contextlib.contextmanager
def merged_log(name: str = "diversity") -> Iterator[None]:
    """Hold the logger's records while the chunks are scored; on exit say each distinct line once.

    Records are the same line when their message and arguments match except
    the first integer argument, a count (of groups, of texts), which is summed.
    """
    held: dict[tuple, list] = {}

    def hold(record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        at = next((i for i, a in enumerate(args) if isinstance(a, int) and not isinstance(a, bool)), None)
        key = (record.levelno, record.msg, at, *(repr(a) for i, a in enumerate(args) if i != at))
        if key in held:
            if at is not None:
                held[key][1][at] += args[at]
        else:
            held[key] = [record.levelno, list(args), record.msg]
        return False

    logger = logging.getLogger(name)
    logger.addFilter(hold)
    try:
        yield
    finally:
        logger.removeFilter(hold)
        for level, args, message in held.values():
            logger.log(level, message, *args)
