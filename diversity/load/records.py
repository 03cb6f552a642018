"""Open one log file as records: its rows as dicts, each with its 1-based line or row number.

JSONL, Parquet, CSV and Arrow files (a Hugging Face ``save_to_disk`` folder's
``data-*.arrow``) are read whole, eagerly: every format's reader needs all of
a file's rows (a TRL file's groups are counted over the file), and a damaged
file is refused before any of its rows is converted. A ``torch.save`` file
(``.pt``, slime's rollout dumps) is read by :func:`read_torch_file`, which
never runs code from the file.

Files are untrusted: what one may make the loader hold is bounded before it
is read (:mod:`diversity.load.limits`), and Parquet and Arrow files are read
through pyarrow a piece at a time (:mod:`diversity.load.columnar`).
:func:`json_lines` and :func:`json_record` are the JSONL reading that
streaming (``diversity.streaming``) shares.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from diversity.load import limits
from diversity.load.columnar import arrow_tables, parquet_tables, polars_dtypes, table_rows
from rollout_common.errors import InputError

# The file types a directory search picks up (.pt only in the folders paths.TORCH_FOLDERS names);
# JSONL is also read as .json or .ndjson when named.
SUFFIXES = (".jsonl", ".parquet", ".csv", ".arrow")
TORCH_SUFFIX = ".pt"
JSON_LINES = (".jsonl", ".json", ".ndjson")
# How torch.load(weights_only=True) names the global a pickle wanted to load ("Unsupported global: GLOBAL
# slime.utils.types.Sample was not an allowed global ...", "unsupported GLOBAL posix.mkdir whose module ...").
_UNSAFE_GLOBAL = re.compile(r"\bGLOBAL (\S+) (?:was not an allowed global|whose module)")
# A JSON escape of half a UTF-16 pair (\ud800-\udfff): json.loads gives a lone one as a string no text holds.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


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
    """each column's type as the file declares it (Parquet, Arrow); empty for JSONL and CSV, whose values carry
    their own"""
    header: dict[str, Any] = field(default_factory=dict)
    """values the file holds once, beside its rows (a torch file's keys other than ``samples``: ``rollout_id``)"""


def open_records(path: Path) -> Records:
    """Every row of a JSONL, Parquet, CSV, Arrow or torch file; a damaged, empty or oversized file is an
    InputError naming it."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(path, "the file is empty", fix="re-export the log or remove it from the inputs")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return table_records(path, list(parquet_tables(path)), first_row=1)
    if suffix == ".arrow":
        return table_records(path, list(arrow_tables(path)), first_row=1)
    if suffix not in (*JSON_LINES, ".csv", TORCH_SUFFIX):
        raise InputError(path, f"unsupported file type {suffix!r}",
                         fix=f"use one of {', '.join((*SUFFIXES, TORCH_SUFFIX))}")
    limits.check_size(path, size, "on disk")
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == TORCH_SUFFIX:
        return _read_torch(path)
    return _read_jsonl(path)


def table_records(path: Path, tables: list, first_row: int) -> Records:
    """Records of pyarrow tables read from one file (their rows in turn, numbered from ``first_row``)."""
    rows = [row for table in tables for row in table_rows(path, table)]
    if not rows:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    schema = tables[0].schema
    return Records(path, set(schema.names), list(enumerate(rows, start=first_row)), "row", order=list(schema.names),
                   dtypes=polars_dtypes(schema))


def json_lines(path: Path, handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(number, bytes) of each line, each at most MAX_LINE_BYTES; a longer one is an InputError."""
    number = 0
    while True:
        raw = handle.readline(limits.MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limits.MAX_LINE_BYTES:
            raise InputError(
                path, f"the line is longer than {limits.size_text(limits.MAX_LINE_BYTES)}", line=number,
                fix="write one record per line (is the file JSONL?)",
            )
        yield number, raw


def json_record(path: Path, number: int, raw: bytes) -> dict[str, Any] | None:
    """One JSONL line as an object; None for a blank line. Anything but one object of at most MAX_NESTING
    levels, with numbers Python can hold, is an InputError naming the line."""
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
        record = None
    except json.JSONDecodeError as error:
        problem = "line is cut off" if error.pos >= len(text) else "malformed JSON"
        raise InputError(path, f"{problem} ({error.msg} at column {error.colno})", line=number,
                         fix="repair or remove this line (the file may have been truncated)") from None
    except ValueError as error:  # an integer of more than 4,300 digits
        raise InputError(path, f"unreadable number ({str(error).split(';')[0]})", line=number) from None
    if record is None or limits.nested_deeper(record, limits.MAX_NESTING):
        raise InputError(path, f"JSON value nested too deeply (more than {limits.MAX_NESTING} levels)", line=number,
                         fix="flatten the nested fields")
    if not isinstance(record, dict):
        raise InputError(path, f"expected a JSON object, found {type(record).__name__}", line=number,
                         fix="write one object per line")
    if _SURROGATE_ESCAPE.search(raw):
        _refuse_lone_surrogates(path, record, line=number)
    return record


def _refuse_lone_surrogates(path: Path, record: dict, **where) -> None:
    """An InputError naming the field when a string in the record (keys included) holds half of a UTF-16 pair:
    Python keeps it, but it is no character, and no UTF-8 text (polars, the report) can hold it."""
    for name, value in record.items():
        bad = _lone_surrogate([name, value])
        if bad is not None:
            raise InputError(path, f"text holds a lone surrogate ({ascii(bad)}, half of a UTF-16 pair), which is not "
                                   "a character", field=str(name).encode("utf-8", "backslashreplace").decode(),
                             fix="re-export the log as UTF-8", **where)


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in any string of ``value``; each distinct container is looked at once."""
    seen, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                return item[error.start]
        elif isinstance(item, (dict, list, tuple)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return None


def _read_jsonl(path: Path) -> Records:
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: dict[str, None] = {}  # ordered: a column's place is where it first appears
    with open(path, "rb") as handle:
        for number, raw in json_lines(path, handle):
            record = json_record(path, number, raw)
            if record is not None:
                columns.update(dict.fromkeys(record))
                rows.append((number, record))
    if not rows:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    return Records(path, set(columns), rows, "line", order=list(columns))


def read_torch_file(path: Path) -> Any:
    """What ``torch.save`` wrote to ``path``, unpickled with ``weights_only=True`` (tensors, numbers, strings,
    lists, tuples, dicts): never an object whose unpickling would run code from the file, and never a retry
    without that guard. torch is imported here, so ``import diversity`` stays light."""
    import torch

    try:
        with warnings.catch_warnings():  # torch's own (an unusual pickle protocol) would break the one line
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except Exception as error:  # zip, pickle and storage errors all mean: not a readable torch.save file
        message = str(error)
        needs = _UNSAFE_GLOBAL.search(message)
        if needs:
            raise InputError(
                path, f"refused: the file holds objects that only running code could rebuild ({needs.group(1)}); "
                "it was not unpickled", fix="re-save it holding only tensors, numbers, strings, lists and dicts "
                "(slime: Sample.to_dict())",
            ) from None
        first = message.splitlines()[0][:160] if message else ""
        raise InputError(path, f"cannot read the torch file ({type(error).__name__}: {first})",
                         fix="the file may be truncated or not written by torch.save; re-export it") from None


def _read_torch(path: Path) -> Records:
    """A ``torch.save`` rollout dump: a dict whose ``samples`` is a list of dicts (one per row)."""
    payload = read_torch_file(path)
    limits.check_unpickled(path, payload, path.stat().st_size)
    samples = payload.get("samples") if isinstance(payload, dict) else None
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise InputError(path, f"expected a dict with a list of sample dicts under 'samples', found "
                               f"{type(payload).__name__}", fix="point at rollout dumps (slime's rollout_data/*.pt)")
    if not samples:
        raise InputError(path, "the file holds no samples", fix="re-export the log or remove it from the inputs")
    columns: dict[str, None] = {}
    for number, sample in enumerate(samples, start=1):
        named = [key for key in sample if not isinstance(key, str)]
        if named:
            raise InputError(path, f"a sample's field names must be text, found {type(named[0]).__name__} "
                                   f"{named[0]!r}", row=number, fix="re-save the samples as dicts of named fields")
        columns.update(dict.fromkeys(sample))
    header = {k: v for k, v in payload.items() if k != "samples"}
    _refuse_lone_surrogates(path, header)
    for number, sample in enumerate(samples, start=1):
        _refuse_lone_surrogates(path, sample, row=number)
    return Records(path, set(columns), list(enumerate(samples, start=1)), "row", order=list(columns), header=header)


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
    if table.height == 0:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    # Row 1 of the data is line 2 of the file (after the header); an empty cell is a missing value.
    rows = [(n, {k: (None if v == "" else v) for k, v in r.items()})
            for n, r in enumerate(table.iter_rows(named=True), start=2)]
    return Records(path, set(table.columns), rows, "line", order=list(table.columns))
