"""Read rollout logs as a stream of canonical chunks, so memory is set by the chunk, not the log.

:func:`diversity.load.read_rollouts` reads each file whole into one frame.
Here a canonical JSONL or Parquet file is read ``chunk_rows`` records at a
time (line by line, batch by batch) and each piece goes through the canonical
reader, so the rows, checks and messages are those of ``load_rollouts``.
Files of every other format, and canonical CSV files, are read by
``read_rollouts`` itself, all of them at once: several formats look across
their files (TRL drops re-logged batches, NoveltyBench reads each prompt
once, verl counts oversized groups; ``Format.finish``), so only the loader
gives their rows exactly. Their memory is their canonical table's.

With ``format="auto"`` a streamed file's format is detected from the columns
of its first 1,000 records (the loader looks at every row's).

Every row carries ``_row``: its position in the log in ``load_rollouts``'s
order, so a group keeps its log order however the rows are partitioned later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from diversity import schema
from diversity.load.columnar import parquet_tables
from diversity.load.formats import FORMATS, companion_reason, detect, expected_columns
from diversity.load.options import LoadOptions
from diversity.load.paths import as_list, expand_paths
from diversity.load.read import _fill_labels, read_rollouts
from diversity.load.records import JSON_LINES, SUFFIXES, Records, json_lines, json_record, open_records, table_records
from diversity.load.result import FileReport
from rollout_common.errors import InputError

log = logging.getLogger("diversity")

ROW = "_row"
_PIECES = (".parquet", *JSON_LINES)  # the file types read a piece at a time
_DETECT_ROWS = 1000  # records whose columns say a streamed file's format


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

    def plan(self) -> list[tuple[Path, str]]:
        """Each file to read, in the loader's order, with how: ``"pieces"`` (a canonical file read a piece at a
        time) or ``"loader"`` (read by ``read_rollouts``); files found in a folder that are no log are left out."""
        planned = []
        for path, found_in_directory in expand_paths(self.paths):
            pieces = record_pieces(path, _DETECT_ROWS)
            first = next(pieces)
            pieces.close()
            fmt = FORMATS[self.options.format] if self.options.format != "auto" else detect(first.columns, self.options)
            if fmt is None:
                self._no_format(path, first, found_in_directory)
                continue
            planned.append((path, "pieces" if fmt.name == "canonical" and path.suffix.lower() in _PIECES else "loader"))
        return planned

    def __iter__(self) -> Iterator[pl.DataFrame]:
        from tqdm.auto import tqdm

        planned = self.plan()
        whole = self.read_with_loader([path for path, how in planned if how == "loader"])
        with tqdm(total=sum(path.stat().st_size for path, _ in planned), desc="reading", unit="B", unit_scale=True,
                  disable=not self.progress) as bar:
            for path, how in planned:
                if how == "loader" and path in whole:
                    self.files.append(whole[path][0])
                frames = self.pieces(path) if how == "pieces" else _slices(whole.get(path, (None, None))[1],
                                                                           self.chunk_rows)
                for frame in frames:
                    yield frame.with_columns(pl.int_range(self.rows, self.rows + frame.height, dtype=pl.Int64).alias(ROW))
                    self.rows += frame.height
                    bar.set_postfix(rows=f"{self.rows:,}", refresh=False)
                bar.update(path.stat().st_size)
        self.finish()

    def pieces(self, path: Path) -> Iterator[pl.DataFrame]:
        """A canonical file's rows, a piece at a time, as the loader converts and labels them."""
        fmt = FORMATS["canonical"]
        report = FileReport(str(path), fmt.name)
        self.files.append(report)
        for records in record_pieces(path, self.chunk_rows):
            report.read += len(records.rows)
            frame = _fill_labels(fmt.read(records, report, self.options), path, report, self.options)
            report.rows += frame.height
            if frame.height:
                yield schema.order_columns(frame)
        if report.skipped:
            log.warning("%s: skipped %d bad row(s), first at %s", path, report.skipped, "; ".join(report.skipped_at))
        for sentence in report.notes:
            log.warning("%s: %s", report.path, sentence)

    def read_with_loader(self, paths: list[Path]) -> dict[Path, tuple[FileReport, pl.DataFrame]]:
        """``read_rollouts`` of ``paths`` (it says what it read), as each file's report and rows."""
        if not paths:
            return {}
        loaded = read_rollouts(paths, self.options)
        frames, at = {}, 0
        for report in loaded.files:  # the frame holds each file's rows in turn
            frames[Path(report.path)] = (report, loaded.frame.slice(at, report.rows))
            at += report.rows
        return frames

    def _no_format(self, path: Path, first: Records, found_in_directory: bool) -> None:
        """A file that matches no format: left out when found in a folder, else refused (as the loader does)."""
        reason = companion_reason(path.name)
        if found_in_directory:
            self.ignored.append(str(path))
            if reason:
                log.info("%s: skipped, %s", path, reason)
            return
        if reason:
            raise InputError(path, f"not a rollout log: {reason}", fix="point at the rollout files beside it")
        raise InputError(path, f"columns {sorted(first.columns)} match no known rollout format",
                         fix=f"expected {expected_columns()}; or pass --format, or for a table of your own name its "
                             "columns: --columns prompt=COLUMN,response=COLUMN,...")

    def finish(self) -> None:
        """What the loader says once everything is read; no rows at all is an InputError."""
        unexplained = [path for path in self.ignored if not companion_reason(Path(path).name)]
        if unexplained:
            log.warning("ignored %d file(s) that are not rollout logs: %s", len(unexplained), ", ".join(unexplained[:5]))
        if not self.rows:
            raise InputError(", ".join(str(p) for p in as_list(self.paths)), "no rollout rows found",
                             fix=f"point at files ending in {', '.join(SUFFIXES)} that hold rollouts")
        streamed = [r for r in self.files if r.format == "canonical" and Path(r.path).suffix.lower() in _PIECES]
        if streamed:
            where = streamed[0].path if len(streamed) == 1 else f"{len(streamed)} files"
            log.info("%s: read as %s, %d rows", where, FORMATS["canonical"].title, sum(r.rows for r in streamed))


def _slices(frame: pl.DataFrame | None, rows: int) -> Iterator[pl.DataFrame]:
    if frame is not None:
        yield from (frame.slice(at, rows) for at in range(0, frame.height, rows))


def record_pieces(path: Path, rows: int) -> Iterator[Records]:
    """A file's records, ``rows`` at a time (JSONL, Parquet) or all at once (other types); locations, checks and
    messages as the loader's (``diversity.load.records``), each piece held to the loader's limits: a line to
    MAX_LINE_BYTES, a Parquet row group and what each piece decodes to to the file limit."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0 or suffix not in _PIECES:
        yield open_records(path)  # the loader's own reading, and messages for an empty file or an unknown type
    elif suffix == ".parquet":
        yield from _parquet_pieces(path, rows)
    else:
        yield from _jsonl_pieces(path, rows)


def _jsonl_pieces(path: Path, rows: int) -> Iterator[Records]:
    piece: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}  # ordered: a column's place is where it first appears
    given = 0
    with open(path, "rb") as handle:
        for number, raw in json_lines(path, handle):
            record = json_record(path, number, raw)
            if record is None:
                continue
            columns.update(dict.fromkeys(record))
            piece.append((number, record))
            if len(piece) == rows:
                yield Records(path, set(columns), piece, "line", order=list(columns))
                given += 1
                piece, columns = [], {}
    if not piece and not given:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    if piece:
        yield Records(path, set(columns), piece, "line", order=list(columns))


def _parquet_pieces(path: Path, rows: int) -> Iterator[Records]:
    first_row = 1
    for table in parquet_tables(path, piece_rows=rows):
        if table.num_rows:
            records = table_records(path, [table], first_row)
            first_row += table.num_rows
            yield records
    if first_row == 1:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
