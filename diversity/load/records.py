"""Open one log file as records: its rows as dicts, each with its 1-based line or row number.

JSONL, Parquet and CSV files are read whole, eagerly: every format's reader
needs all of a file's rows (a TRL file's groups are counted over the file),
and a damaged file is refused before any of its rows is converted.

Files are untrusted. What one file may make the loader hold is bounded
before it is read: :func:`file_limit` bytes (2 GiB; the environment variable
``ROLLOUT_DIVERSITY_MAX_FILE_BYTES`` sets another) measured on disk for JSONL
and CSV, and for Parquet from its metadata (uncompressed pages, and rows ×
columns) and again as decoded, before any row becomes a Python object, so a
small compressed file that would expand to gigabytes is refused; one JSON
line may hold :data:`MAX_LINE_BYTES`; a Parquet schema may nest
:data:`MAX_NESTING` levels. Files ``torch.save`` wrote are read only by
:func:`read_torch_file`, which never runs code from the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from rollout_common.errors import InputError

# The file types a directory search picks up; JSONL is also read as .json or .ndjson when named.
SUFFIXES = (".jsonl", ".parquet", ".csv")
_JSON_LINES = (".jsonl", ".json", ".ndjson")
LIMIT_ENV = "ROLLOUT_DIVERSITY_MAX_FILE_BYTES"
MAX_FILE_BYTES = 2 * 1024**3
"""The default of :func:`file_limit`."""
MAX_LINE_BYTES = 64 * 1024**2
"""The longest JSON line read (a 5 MB response is fine; a file with no newlines is not one line)."""
MAX_NESTING = 64
"""The deepest JSON record or Parquet column read (TRL's conversational ``list<struct<role, content>>`` is 4 levels);
polars takes seconds to convert values nested some hundreds of levels."""
# How torch.load(weights_only=True) names the callable a pickle wanted to run.
_UNSAFE_GLOBAL = re.compile(r"GLOBAL (\S+) was not an allowed global")
# Bytes a decoded value takes at least (an Arrow slot plus a Python object's header), for the rows × columns bound.
_BYTES_PER_VALUE = 16


@dataclass
class Records:
    """A file's rows as dicts, each with its 1-based location in the file."""

    path: Path
    columns: set[str]
    rows: list[tuple[int, dict[str, Any]]]
    unit: str  # "line" or "row": what the location counts, for messages


def file_limit() -> int:
    """The most bytes one file may take once read: ``$ROLLOUT_DIVERSITY_MAX_FILE_BYTES``, else MAX_FILE_BYTES."""
    value = os.environ.get(LIMIT_ENV, "").strip()
    if not value:
        return MAX_FILE_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        from rollout_common.errors import OptionError

        raise OptionError(f"{LIMIT_ENV}={value!r}: give a positive number of bytes, e.g. {MAX_FILE_BYTES}")
    return limit


def open_records(path: Path) -> Records:
    """Every row of a JSONL, Parquet or CSV file; a damaged, empty or oversized file is an InputError naming it."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, "the file is empty", fix="re-export the log or remove it from the inputs")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix not in _JSON_LINES and suffix != ".csv":
        raise InputError(path, f"unsupported file type {suffix!r}", fix=f"use one of {', '.join(SUFFIXES)}")
    _check_size(path, size, "on disk")
    return _read_csv(path) if suffix == ".csv" else _read_jsonl(path)


def _check_size(path: Path, size: int, how: str) -> None:
    limit = file_limit()
    if size > limit:
        raise InputError(
            path, f"the file would take {_size(size)} to read ({how}), over the {_size(limit)} limit for one file",
            fix=f"split it (e.g. one file per step), or raise the limit with {LIMIT_ENV}=BYTES",
        )


def _size(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:.2f} GiB"
    return f"{size / 1024**2:.4g} MiB" if size >= 1024**2 else f"{size:,} bytes"


def _lines(path: Path, handle) -> Iterator[tuple[int, bytes]]:
    """(number, bytes) of each line, each at most MAX_LINE_BYTES; a longer one is an InputError."""
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise InputError(
                path, f"the line is longer than {_size(MAX_LINE_BYTES)}", line=number,
                fix="write one record per line (is the file JSONL?)",
            )
        yield number, raw


def _read_jsonl(path: Path) -> Records:
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: set[str] = set()
    with open(path, "rb") as handle:
        for number, raw in _lines(path, handle):
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
                record = None
            except json.JSONDecodeError as error:
                problem = "line is cut off" if error.pos >= len(text) else "malformed JSON"
                raise InputError(
                    path, f"{problem} ({error.msg} at column {error.colno})", line=number,
                    fix="repair or remove this line (the file may have been truncated)",
                ) from None
            except ValueError as error:  # an integer of more than 4,300 digits
                raise InputError(path, f"unreadable number ({str(error).split(';')[0]})", line=number) from None
            if record is None or _nested_deeper(record, MAX_NESTING):
                raise InputError(path, f"JSON value nested too deeply (more than {MAX_NESTING} levels)", line=number,
                                 fix="flatten the nested fields")
            if not isinstance(record, dict):
                raise InputError(
                    path, f"expected a JSON object, found {type(record).__name__}", line=number,
                    fix="write one object per line",
                )
            columns.update(record)
            rows.append((number, record))
    if not rows:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    return Records(path, columns, rows, "line")


def _nested_deeper(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels (the value itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _read_parquet(path: Path) -> Records:
    """Through pyarrow, which reports a damaged file as an error (polars panics on some)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        _check_parquet_metadata(path, metadata)
        parquet = pq.ParquetFile(path, read_dictionary=_dictionary_columns(metadata))
        names = parquet.schema_arrow.names
        if len(set(names)) < len(names):
            raise InputError(path, f"columns {sorted({n for n in names if names.count(n) > 1})} appear more than once",
                             fix="give every column its own name")
        # Row group by row group: pyarrow keeps a nested column's dictionaries only within one.
        groups, decoded = [], 0
        for group in range(parquet.num_row_groups):
            groups.append(parquet.read_row_group(group))
            decoded += groups[-1].nbytes + _dictionary_expansion(groups[-1])
            _check_size(path, decoded, "as decoded")
        rows = [row for table in groups for row in table.to_pylist()]
    except InputError:
        raise
    except Exception as error:  # pyarrow raises several types for damaged files
        message = str(error).splitlines()[0][:160] if str(error) else ""
        raise InputError(path, f"cannot read Parquet ({type(error).__name__}: {message})",
                         fix="the file may be truncated or not Parquet; re-export it") from None
    if not rows:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    return Records(path, set(names), list(enumerate(rows, start=1)), "row")


def _check_parquet_metadata(path: Path, metadata) -> None:
    """Refuse, before reading a page, a file whose metadata says it expands past the limit or nests too deep."""
    schema = metadata.schema
    depth = max((schema.column(i).path.count(".") + 1 for i in range(metadata.num_columns)), default=0)
    if depth > MAX_NESTING:
        raise InputError(path, f"a column is nested {depth} levels deep (at most {MAX_NESTING} are read)",
                         fix="flatten the nested columns")
    pages = max(sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)), 0)
    rows, columns = metadata.num_rows, metadata.num_columns
    _check_size(path, pages + rows * max(columns, 1) * _BYTES_PER_VALUE,
                f"its metadata: {rows:,} rows × {columns} columns, {pages:,} bytes uncompressed")


def _dictionary_columns(metadata) -> list[str]:
    """Text columns stored dictionary-encoded: read as dictionaries, so a value repeated a million times is held
    once until the decoded size has been checked."""
    chosen = set()
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for i in range(row_group.num_columns):
            chunk = row_group.column(i)
            if chunk.physical_type == "BYTE_ARRAY" and any("DICTIONARY" in e for e in chunk.encodings):
                chosen.add(chunk.path_in_schema)
    return sorted(chosen)


def _dictionary_expansion(table) -> int:
    """Bytes the table's dictionary-encoded text takes beyond its dictionaries once every use is its own value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def expansion(array) -> int:
        kind = array.type
        if pa.types.is_dictionary(kind):
            if not (pa.types.is_string(kind.value_type) or pa.types.is_binary(kind.value_type)
                    or pa.types.is_large_string(kind.value_type) or pa.types.is_large_binary(kind.value_type)):
                return 0
            lengths = pc.fill_null(pc.binary_length(array.dictionary), 0)
            return int(pc.sum(pc.take(lengths, array.indices)).as_py() or 0)
        if pa.types.is_struct(kind):
            return sum(expansion(array.field(i)) for i in range(kind.num_fields))
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            return expansion(array.values)
        if pa.types.is_map(kind):
            return expansion(array.keys) + expansion(array.items)
        return 0

    return sum(expansion(chunk) for column in table.columns for chunk in column.chunks)


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
    except (Exception, pl.exceptions.PanicException) as error:  # a panic derives from BaseException
        message = str(error).splitlines()[0][:160] if str(error) else ""
        raise InputError(path, f"cannot read CSV ({type(error).__name__}: {message})",
                         fix="check the header, quoting and encoding (UTF-8)") from None
    # Row 1 of the data is line 2 of the file (after the header).
    records = _frame_records(path, table, first_row=2)
    records.unit = "line"
    records.rows = [(n, {k: (None if v == "" else v) for k, v in r.items()}) for n, r in records.rows]
    return records


def _frame_records(path: Path, table: pl.DataFrame, first_row: int) -> Records:
    if table.height == 0:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    rows = list(enumerate(table.iter_rows(named=True), start=first_row))
    return Records(path, set(table.columns), rows, "row")


def read_torch_file(path: Path) -> Any:
    """What ``torch.save`` wrote to ``path``, unpickled with ``weights_only=True``: tensors, numbers, strings,
    lists, tuples and dicts, never an object whose unpickling would run code from the file. For formats that
    dump rollouts with ``torch.save`` (slime's ``rollout_data/{id}.pt``); anything else in the file is refused."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # zip, pickle and storage errors all mean: not a readable torch.save file
        message = str(error)
        needs = _UNSAFE_GLOBAL.search(message)
        if needs:
            raise InputError(
                path, f"the file holds objects that only running code from it could rebuild (it needs {needs.group(1)}); "
                "refused", fix="re-save it holding only tensors, numbers, strings, lists and dicts",
            ) from None
        first = message.splitlines()[0][:160] if message else ""
        raise InputError(path, f"cannot read the torch file ({type(error).__name__}: {first})",
                         fix="the file may be truncated or not written by torch.save; re-export it") from None
