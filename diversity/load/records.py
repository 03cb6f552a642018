"""Open one log file as records: its rows as dicts, each with its 1-based line or row number.

JSONL, Parquet and CSV files are read whole, eagerly: every format's reader
needs all of a file's rows (a TRL file's groups are counted over the file),
and a damaged file is refused before any of its rows is converted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from rollout_common.errors import InputError

# The file types a directory search picks up; JSONL is also read as .json or .ndjson when named.
SUFFIXES = (".jsonl", ".parquet", ".csv")
_JSON_LINES = (".jsonl", ".json", ".ndjson")


@dataclass
class Records:
    """A file's rows as dicts, each with its 1-based location in the file."""

    path: Path
    columns: set[str]
    rows: list[tuple[int, dict[str, Any]]]
    unit: str  # "line" or "row": what the location counts, for messages
    order: list[str] = field(default_factory=list)
    """the columns in the file's order (JSONL: as they first appear)"""
    dtypes: dict[str, pl.DataType] = field(default_factory=dict)
    """each column's type as the file declares it (Parquet); empty for JSONL and CSV, whose values carry their own"""


def open_records(path: Path) -> Records:
    """Every row of a JSONL, Parquet or CSV file; a damaged or empty file is an InputError naming it."""
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", fix="re-export the log or remove it from the inputs")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in _JSON_LINES:
        return _read_jsonl(path)
    raise InputError(path, f"unsupported file type {suffix!r}", fix=f"use one of {', '.join(SUFFIXES)}")


def _read_jsonl(path: Path) -> Records:
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}  # ordered: a column's place is where it first appears
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    path, f"bytes are not UTF-8 at column {error.start + 1}", line=number,
                    fix="re-encode the file as UTF-8",
                ) from None
            text = text.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except RecursionError:
                raise InputError(path, "JSON value nested too deeply", line=number) from None
            except json.JSONDecodeError as error:
                problem = "line is cut off" if error.pos >= len(text) else "malformed JSON"
                raise InputError(
                    path, f"{problem} ({error.msg} at column {error.colno})", line=number,
                    fix="repair or remove this line (the file may have been truncated)",
                ) from None
            if not isinstance(record, dict):
                raise InputError(
                    path, f"expected a JSON object, found {type(record).__name__}", line=number,
                    fix="write one object per line",
                )
            columns.update(dict.fromkeys(record))
            rows.append((number, record))
    if not rows:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    return Records(path, set(columns), rows, "line", order=list(columns))


def _read_parquet(path: Path) -> Records:
    try:
        table = pl.read_parquet(path)
    except Exception as error:  # polars raises several types for damaged files
        raise InputError(
            path, f"cannot read Parquet ({type(error).__name__}: {str(error).splitlines()[0][:160]})",
            fix="the file may be truncated or not Parquet; re-export it",
        ) from None
    records = _frame_records(path, table, first_row=1)
    records.dtypes = dict(table.schema)
    return records


def _read_csv(path: Path) -> Records:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            path, "bytes are not UTF-8", line=data[: error.start].count(b"\n") + 1, fix="re-encode the file as UTF-8"
        ) from None
    try:
        table = pl.read_csv(data, infer_schema=False)
    except Exception as error:
        raise InputError(
            path, f"cannot read CSV ({type(error).__name__}: {str(error).splitlines()[0][:160]})",
            fix="check the header, quoting and encoding (UTF-8)",
        ) from None
    # Row 1 of the data is line 2 of the file (after the header).
    records = _frame_records(path, table, first_row=2)
    records.unit = "line"
    records.rows = [(n, {k: (None if v == "" else v) for k, v in r.items()}) for n, r in records.rows]
    return records


def _frame_records(path: Path, table: pl.DataFrame, first_row: int) -> Records:
    if table.height == 0:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    rows = list(enumerate(table.iter_rows(named=True), start=first_row))
    return Records(path, set(table.columns), rows, "row", order=list(table.columns))
