"""Read rollout logs as a stream of canonical chunks, so memory is set by the chunk, not the log.

:func:`diversity.load.read_rollouts` reads each file whole into one frame.
Here a canonical file is read ``chunk_rows`` records at a time (JSONL line by
line, Parquet batch by batch) and each piece goes through the same format
reader, so the rows, checks and messages are those of ``load_rollouts``. Files
of the other formats (TRL, verl, NoveltyBench) and CSV files are read whole,
one at a time, by the loader itself: those readers need the whole file (a TRL
file's groups are counted over it), and trainers write them one per step.

With ``format="auto"`` a chunked file's format is detected from the columns of
its first piece (the loader looks at every row's).

Every row carries ``_row``: its position in the log in ``load_rollouts``'s
order, so a group keeps its log order however the rows are partitioned later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from diversity import schema
from diversity.load.formats import FORMATS, detect, expected_columns
from diversity.load.options import LoadOptions
from diversity.load.paths import as_list, expand_paths
from diversity.load.read import _fill_lineage_and_phase
from diversity.load.records import SUFFIXES, Records, open_records
from diversity.load.result import FileReport
from rollout_common.errors import InputError

log = logging.getLogger("diversity")

ROW = "_row"
# Formats whose reader converts each row on its own, so a file of them may be read a piece at a time.
_ROW_BY_ROW = ("canonical",)
_JSON_LINES = (".jsonl", ".json", ".ndjson")


class LogReader:
    """The rows of every log file, as canonical frames of at most ``chunk_rows`` rows (plus ``_row``).

    Iterate once; afterwards ``files``, ``ignored`` and ``rows`` say what was
    read, as a :class:`~diversity.load.LoadResult` would.
    """

    def __init__(self, paths: str | Path | Iterable[str | Path], options: LoadOptions, chunk_rows: int,
                 progress: bool = False):
        self.paths, self.options, self.chunk_rows, self.progress = paths, options, chunk_rows, progress
        self.files: list[FileReport] = []
        self.ignored: list[str] = []
        self.rows = 0

    def __iter__(self) -> Iterator[pl.DataFrame]:
        from tqdm.auto import tqdm

        found = expand_paths(self.paths)
        total = sum(path.stat().st_size for path, _ in found)
        with tqdm(total=total, desc="reading", unit="B", unit_scale=True, disable=not self.progress) as bar:
            for path, found_in_directory in found:
                for frame in self.read_file(path, found_in_directory):
                    frame = frame.with_columns(pl.int_range(self.rows, self.rows + frame.height, dtype=pl.Int64).alias(ROW))
                    self.rows += frame.height
                    bar.set_postfix(rows=f"{self.rows:,}", refresh=False)
                    yield frame
                bar.update(path.stat().st_size)
        self._finish()

    def read_file(self, path: Path, found_in_directory: bool) -> Iterator[pl.DataFrame]:
        """One file's rows as canonical frames (without ``_row``); a file found in a folder that matches no
        format is listed in ``ignored``."""
        pieces = record_pieces(path, self.chunk_rows)
        first = next(pieces)
        fmt = FORMATS[self.options.format] if self.options.format != "auto" else detect(first.columns)
        if fmt is None:
            if found_in_directory:
                self.ignored.append(str(path))
                return
            raise InputError(path, f"columns {sorted(first.columns)} match no known rollout format",
                             fix=f"expected {expected_columns()}; or pass --format")
        log.debug("%s: read as %s", path, fmt.title)
        report = FileReport(str(path), fmt.name)
        self.files.append(report)
        whole = fmt.name not in _ROW_BY_ROW or path.suffix.lower() not in (".parquet", *_JSON_LINES)
        for records in ([open_records(path)] if whole else _chain(first, pieces)):
            frame = _fill_lineage_and_phase(fmt.read(records, report, self.options), path, self.options)
            report.rows += frame.height
            if frame.height:
                yield schema.order_columns(frame)
        if report.skipped:
            log.warning("%s: skipped %d bad row(s), first at %s", path, report.skipped, "; ".join(report.skipped_at))

    def _finish(self) -> None:
        if self.ignored:
            log.warning("ignored %d file(s) that are not rollout logs: %s", len(self.ignored), ", ".join(self.ignored[:5]))
        if not self.rows:
            raise InputError(", ".join(str(p) for p in as_list(self.paths)), "no rollout rows found",
                             fix=f"point at files ending in {', '.join(SUFFIXES)} that hold rollouts")
        for fmt in FORMATS.values():
            chosen = [r for r in self.files if r.format == fmt.name]
            if chosen:
                where = chosen[0].path if len(chosen) == 1 else f"{len(chosen)} files"
                log.info("%s: read as %s, %d rows", where, fmt.title, sum(r.rows for r in chosen))


def _chain(first: Records, rest: Iterator[Records]) -> Iterator[Records]:
    yield first
    yield from rest


def record_pieces(path: Path, rows: int) -> Iterator[Records]:
    """A file's records, ``rows`` at a time (JSONL, Parquet) or all at once (CSV); locations as the loader's."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0 or suffix not in (".parquet", *_JSON_LINES):
        yield open_records(path)  # the loader's own messages for an empty file or another type
    elif suffix == ".parquet":
        yield from _parquet_pieces(path, rows)
    else:
        yield from _jsonl_pieces(path, rows)


def _jsonl_pieces(path: Path, rows: int) -> Iterator[Records]:
    piece: list[tuple[int, dict[str, Any]]] = []
    columns: set[str] = set()
    given = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(iter(handle.readline, b""), start=1):
            record = _json_record(path, number, raw)
            if record is None:
                continue
            columns.update(record)
            piece.append((number, record))
            if len(piece) == rows:
                yield Records(path, columns, piece, "line")
                given += 1
                piece, columns = [], set()
    if piece or not given:
        if not piece:
            raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
        yield Records(path, columns, piece, "line")


def _json_record(path: Path, number: int, raw: bytes) -> dict[str, Any] | None:
    """One JSONL line as the loader reads it (diversity.load.records): None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(path, f"bytes are not UTF-8 at column {error.start + 1}", line=number,
                         fix="re-encode the file as UTF-8") from None
    text = text.strip()
    if not text:
        return None
    try:
        record = json.loads(text)
    except RecursionError:
        raise InputError(path, "JSON value nested too deeply", line=number) from None
    except json.JSONDecodeError as error:
        problem = "line is cut off" if error.pos >= len(text) else "malformed JSON"
        raise InputError(path, f"{problem} ({error.msg} at column {error.colno})", line=number,
                         fix="repair or remove this line (the file may have been truncated)") from None
    if not isinstance(record, dict):
        raise InputError(path, f"expected a JSON object, found {type(record).__name__}", line=number,
                         fix="write one object per line")
    return record


def _parquet_pieces(path: Path, rows: int) -> Iterator[Records]:
    import pyarrow.parquet as pq

    def damaged(error: Exception) -> InputError:
        return InputError(path, f"cannot read Parquet ({type(error).__name__}: {str(error).splitlines()[0][:160]})",
                          fix="the file may be truncated or not Parquet; re-export it")

    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise damaged(error) from None
    first_row = 1
    while True:
        try:
            batch = next(batches, None)
        except Exception as error:
            raise damaged(error) from None
        if batch is None:
            break
        table = pl.from_arrow(batch)
        yield Records(path, set(table.columns), list(enumerate(table.iter_rows(named=True), start=first_row)), "row")
        first_row += table.height
    if first_row == 1:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
