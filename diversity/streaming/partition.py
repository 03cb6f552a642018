"""Regroup rows that arrive in any order into buckets of whole groups, in group-key order, on disk.

A log need not be sorted by group: verl reorders rows, and several runs' or
steps' files interleave. :class:`Spill` holds the rows in memory while they fit
one chunk; past that it writes them to disk as they come (an Arrow IPC file
per chunk) and keeps the key of every k-th row as a sample. The sample's
quantiles cut the key range into buckets of about ``chunk_rows`` rows; a
second pass moves every row into its bucket.

Buckets are disjoint ranges of the key (by default the group key: lineage,
phase, step, split, group_id), in the order ``diversity.score`` sorts groups,
so a group lies in one bucket, and scoring the buckets in order and appending
the results gives ``score``'s table row for row. With ``keys=SUMMARY_KEYS`` a
bucket holds whole steps instead. Memory holds one chunk at a time, plus the
sample (:data:`SAMPLES_PER_CHUNK` keys a chunk). A bucket is one file, or a
few when the files' columns differ; at most :data:`MAX_BUCKETS` are open at
once, so past ``MAX_BUCKETS * chunk_rows`` rows the buckets grow beyond a chunk.
A spill made with ``keep=True`` keeps its buckets after giving them, so
:meth:`Spill.matching` can read again the rows of a few groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from diversity.load.rows import concat_rows
from diversity.schema import GROUP_KEYS
from diversity.streaming.reading import ROW

BUCKET = "_bucket"
SAMPLES_PER_CHUNK = 1024
MAX_BUCKETS = 512
_IPC_OPTIONS = {"compression": "lz4"}


class Spill:
    """Rows (:meth:`add`), given back as buckets of whole groups in key order (:meth:`buckets`): in memory while
    they fit one chunk, else on disk in ``folder``."""

    def __init__(self, folder: Path, chunk_rows: int, keys: tuple[str, ...] = GROUP_KEYS, keep: bool = False):
        self.folder, self.chunk_rows, self.keys, self.keep = Path(folder), chunk_rows, tuple(keys), keep
        self.held: list[pl.DataFrame] = []
        self.parts: list[Path] = []
        self.samples: list[pl.DataFrame] = []
        self.rows = 0
        self._written = 0
        self._every = max(1, chunk_rows // SAMPLES_PER_CHUNK)
        self._kept: list[list[Path]] | pl.DataFrame | None = None

    def add(self, frame: pl.DataFrame) -> None:
        """Hold ``frame`` (with ``_row``) while everything fits one chunk; past that, write each chunk to disk."""
        self.rows += frame.height
        if not self.parts and self.rows <= self.chunk_rows:
            self.held.append(frame)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for part in [*self.held, frame]:
            self._write(part)
        self.held = []

    def _write(self, frame: pl.DataFrame) -> None:
        """One chunk to disk, and a sample of its keys: the rows whose position in the spill is a multiple of k."""
        path = self.folder / f"part-{len(self.parts):06d}.arrow"
        frame.write_ipc(path, **_IPC_OPTIONS)
        self.parts.append(path)
        self.samples.append(frame.select(self.keys).gather_every(self._every, offset=-self._written % self._every))
        self._written += frame.height

    def splitters(self) -> pl.DataFrame:
        """The sorted keys that start buckets 1, 2, ...: a bucket is the keys from its splitter to the next."""
        sample = pl.concat(self.samples).sort(self.keys)
        count = min(MAX_BUCKETS, -(-self.rows // self.chunk_rows))
        at = [sample.height * i // count for i in range(1, count)]
        return sample.select(pl.all().gather(at)).unique(maintain_order=True)

    def buckets(self, progress: bool = False) -> Iterator[pl.DataFrame]:
        """Each bucket's rows in log order (``_row`` kept), bucket after bucket in key order: the held rows as
        one bucket when nothing was written. Each file is deleted once read, unless the spill keeps them."""
        from tqdm.auto import tqdm

        if not self.parts:
            whole = concat_rows(self.held) if self.held else pl.DataFrame()
            self.held = []
            self._kept = whole if self.keep else None
            if whole.height:
                yield whole
            return
        splitters = self.splitters()
        files = _BucketFiles(self.folder)
        for path in tqdm(self.parts, desc="partitioning", unit="chunk", disable=not progress, leave=False):
            frame = assign_buckets(pl.read_ipc(path), splitters)
            for (bucket,), rows in frame.partition_by(BUCKET, as_dict=True, include_key=False).items():
                files.write(bucket, rows)
            path.unlink()
        buckets = [paths for _, paths in sorted(files.close().items())]
        self._kept = buckets if self.keep else None
        for paths in buckets:
            frames = [pl.read_ipc(p) for p in paths]
            if not self.keep:
                for p in paths:
                    p.unlink()
            yield concat_rows(frames).sort(ROW)

    def matching(self, keys: pl.DataFrame, progress: bool = False) -> pl.DataFrame:
        """The kept rows whose values in ``keys``' columns are one of its rows, in log order (after
        :meth:`buckets` of a spill made with ``keep=True``); read a bucket file at a time."""
        from tqdm.auto import tqdm

        if self._kept is None:
            raise RuntimeError("matching() reads the buckets a keep=True spill has given")
        on = list(keys.columns)
        if isinstance(self._kept, pl.DataFrame):
            return self._kept.join(keys, on=on, how="semi", nulls_equal=True, maintain_order="left") \
                if self._kept.height else self._kept
        found = []
        paths = [p for bucket in self._kept for p in bucket]
        for path in tqdm(paths, desc="reading answers", unit="chunk", disable=not progress, leave=False):
            found.append(pl.read_ipc(path).join(keys, on=on, how="semi", nulls_equal=True))
        return concat_rows(found).sort(ROW) if found else pl.DataFrame()


def assign_buckets(frame: pl.DataFrame, splitters: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``_bucket``: how many splitters are <= the row's key (the splitters' columns), in polars'
    sort order.

    The part's distinct keys and the splitters are sorted together (a
    splitter before an equal key); the running count of splitters is each key's bucket.
    """
    if splitters.is_empty():
        return frame.with_columns(pl.lit(0, pl.Int64).alias(BUCKET))
    on = list(splitters.columns)
    keys = frame.select(on).unique()
    marked = pl.concat([keys.with_columns(_splitter=pl.lit(False)), splitters.with_columns(_splitter=pl.lit(True))],
                       how="vertical_relaxed")
    ordered = marked.sort([*on, "_splitter"], descending=[False] * len(on) + [True])
    buckets = (ordered.with_columns(pl.col("_splitter").cum_sum().cast(pl.Int64).alias(BUCKET))
               .filter(~pl.col("_splitter")).drop("_splitter"))
    return frame.join(buckets, on=on, how="left", nulls_equal=True)


class _BucketFiles:
    """One open IPC file per bucket; a chunk whose columns differ from its bucket's file starts a new file."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.open: dict[int, tuple[object, object]] = {}  # bucket -> (writer, schema)
        self.paths: dict[int, list[Path]] = {}

    def write(self, bucket: int, rows: pl.DataFrame) -> None:
        import pyarrow as pa

        table = rows.to_arrow()
        writer, schema = self.open.get(bucket, (None, None))
        if writer is not None and not table.schema.equals(schema):
            writer.close()
            writer = None
        if writer is None:
            path = self.folder / f"bucket-{bucket:05d}-{len(self.paths.get(bucket, [])):03d}.arrow"
            writer = pa.ipc.new_file(path, table.schema, options=pa.ipc.IpcWriteOptions(**_IPC_OPTIONS))
            self.open[bucket] = (writer, table.schema)
            self.paths.setdefault(bucket, []).append(path)
        writer.write_table(table)

    def close(self) -> dict[int, list[Path]]:
        for writer, _ in self.open.values():
            writer.close()
        self.open.clear()
        return self.paths
