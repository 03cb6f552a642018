"""The row loop and field checks every format's reader shares.

A reader walks its file with :func:`each_row` and converts each record inside
``with guard:``; a field check that fails raises :class:`BadRow`, which the
guard turns into an InputError naming the file, line or row and field, or,
when bad rows are skipped, into a count and a location on the FileReport. A
record that repeats one already kept is left out by raising :class:`DuplicateRow`
inside the guard, and a sound record the format leaves out by its own rule
(an aborted sample, a failed request) by raising :class:`DroppedRow`; the
reader notes each rule's count and reason (``FileReport.note``). Every record
that passes through a guard is counted once, as kept, skipped, dropped or
de-duplicated (see ``result``).
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

import polars as pl

from diversity import schema
from diversity.load.records import Records
from diversity.load.result import MAX_LOCATIONS, FileReport
from rollout_common.errors import InputError

# Label columns that a log may write as numbers (lineage 3, phase 2); read as their text.
_LABELS = ("lineage", "phase", "group_id", "task")
# What a log's JSON or Parquet values are made of (``_is_plain``).
_PLAIN = (type(None), bool, int, float, str, bytes, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)
# The integer columns are Int64.
_INT64 = (-(2**63), 2**63 - 1)


def fits_int64(value: int) -> bool:
    """Whether an integer fits the canonical integer columns (a step, a token count)."""
    return _INT64[0] <= value <= _INT64[1]


class BadRow(Exception):
    """One field of one row is unusable: its name, the problem, and how to fix it."""

    def __init__(self, field: str, problem: str, fix: str | None = None):
        self.field, self.problem, self.fix = field, problem, fix


class DuplicateRow(Exception):
    """The record repeats one already kept: the guard leaves it out and counts it as de-duplicated."""


class DroppedRow(Exception):
    """The record is sound but the format leaves it out (an aborted sample): the guard counts it as dropped."""


def string(record: dict, name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise BadRow(name, "missing", f"every row needs a '{name}' string")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in _LABELS:
        return str(value)
    raise BadRow(name, f"expected a string, found {type(value).__name__} {preview(value)}")


def integer(record: dict, name: str, *, required: bool = True) -> int | None:
    value = record.get(name)
    if value is None:
        if required:
            raise BadRow(name, "missing", f"every row needs an integer '{name}'")
        return None
    if isinstance(value, bool):
        raise BadRow(name, f"expected an integer, found a boolean {value!r}")
    result = None
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip())
        except ValueError:
            pass
    if result is None:
        raise BadRow(name, f"expected an integer, found {type(value).__name__} {preview(value)}")
    if not fits_int64(result):
        raise BadRow(name, f"{preview(value)} does not fit in 64 bits")
    return result


def number(record: dict, name: str) -> float | None:
    """A nullable float; NaN and infinities are refused (they would poison every mean)."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadRow(name, f"expected a number, found a boolean {value!r}")
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:  # an integer past 1.8e308
            raise BadRow(name, f"{preview(value)} is too large for a number") from None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise BadRow(name, f"expected a number, found string {preview(value)}") from None
    else:
        raise BadRow(name, f"expected a number, found {type(value).__name__} {preview(value)}")
    if not math.isfinite(result):
        raise BadRow(name, f"{result} is not a finite number", "write null for a missing value")
    return result


def put_messages(row: dict, record: dict, prompt: str = "prompt", response: str = "completion") -> None:
    """``row["prompt"]`` and ``row["response"]`` from a record's fields, plain text or message lists; the roles
    of message lists kept beside them (``prompt_roles``, ``response_roles``)."""
    for name, field in (("prompt", prompt), ("response", response)):
        row[name], roles = message_text(record, field)
        if roles is not None:
            row[f"{name}_roles"] = roles


def message_text(record: dict, name: str) -> tuple[str, list[str] | None]:
    """A prompt or response as text: a string as it is; a list of ``{role, content}`` messages (chat data in
    TRL, verifiers, slime) as its contents joined by blank lines, with the roles (None for a string)."""
    value = record.get(name)
    if isinstance(value, str):
        return value, None
    if isinstance(value, (list, tuple)) and all(isinstance(m, dict) for m in value):
        roles = [m.get("role") for m in value]
        if all(isinstance(r, str) for r in roles):
            return "\n\n".join(_content(m.get("content"), name) for m in value), roles
    if value is None:
        raise BadRow(name, "missing", f"every row needs a '{name}' string or message list")
    raise BadRow(name, f"expected a string or a list of {{role, content}} messages, found {type(value).__name__}")


def _content(content, name: str) -> str:
    """A message's content: a string, null (a tool-call turn), or a list of parts whose text parts count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    raise BadRow(name, f"a message's content is {type(content).__name__}, not a string or a list of parts")


def preview(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 40 else text[:37] + "..."


def each_row(records: Records, report: FileReport, skip: bool) -> Iterator[tuple[int, dict, RowGuard]]:
    """(location, record, guard) for every row; convert the record inside ``with guard:``
    and keep the result only when ``not guard.failed``."""
    for location, record in records.rows:
        yield location, record, RowGuard(records, report, location, skip)


class RowGuard:
    """Counts the record as kept, or turns a BadRow inside ``with guard:`` into an InputError or a counted skip,
    and a DuplicateRow or DroppedRow into its count; ``failed`` says the record gave no rows."""

    def __init__(self, records: Records, report: FileReport, location: int, skip: bool):
        self.records, self.report, self.location, self.skip = records, report, location, skip
        self.failed = False

    def __enter__(self) -> RowGuard:
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None:
            self.report.kept += 1
            return False
        if isinstance(error, (DuplicateRow, DroppedRow)):
            self.failed = True
            if isinstance(error, DuplicateRow):
                self.report.deduplicated += 1
            else:
                self.report.dropped += 1
            return True
        if not isinstance(error, BadRow):
            return False
        unit, path = self.records.unit, self.records.path
        if not self.skip:
            raise InputError(path, error.problem, field=error.field, fix=error.fix, **{unit: self.location}) from None
        self.failed = True
        self.report.skipped += 1
        if len(self.report.skipped_at) < MAX_LOCATIONS:
            self.report.skipped_at.append(f"{path}:{unit} {self.location} ({error.field}: {error.problem})")
        return True


def text_id(text: str) -> str:
    """A short stable id for a prompt, the same across steps, runs and machines."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def to_frame(rows: list[dict]) -> pl.DataFrame:
    """Converted rows as a frame: the canonical columns with their types, then every other column kept."""
    if not rows:
        return schema.empty_frame()
    extra = sorted({k for r in rows for k in r} - set(schema.COLUMNS))
    columns = {name: [r.get(name) for r in rows] for name in schema.COLUMNS}
    frame = pl.DataFrame(columns, schema=schema.COLUMNS)
    if extra:
        frame = frame.with_columns(_extra_column(name, [r.get(name) for r in rows]) for name in extra)
    return frame


def concat_rows(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Canonical frames (files, or pieces of one) as one: a column missing from some is null there; a column
    whose types disagree across frames (text in one file, lists in the next) is kept as its JSON text, as
    :func:`to_frame` keeps a column of mixed types within one."""
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except pl.exceptions.PolarsError:
        kinds: dict[str, set] = {}
        for frame in frames:
            for name, dtype in frame.schema.items():
                kinds.setdefault(name, set()).add(dtype)
        mixed = [name for name, held in kinds.items() if len(held) > 1]
        return pl.concat([frame.with_columns(_json_text(name, frame[name].to_list()) for name in mixed
                                             if name in frame.columns) for frame in frames], how="diagonal_relaxed")


def _json_text(name: str, values: list) -> pl.Series:
    return pl.Series(name, [None if v is None else _text(v) for v in values], dtype=pl.String)


def _text(value: Any) -> str:
    """A value as JSON text; one JSON cannot write (a dict keyed by tuples, from a torch file) as its repr."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _extra_column(name: str, values: list) -> pl.Series:
    """Keep a column we do not interpret; mixed types, and values polars has no type for (a tensor, a set), are
    kept as their JSON text."""
    if all(_is_plain(v) for v in values):  # polars panics on some others (a list of sets), printing to stderr
        try:
            return pl.Series(name, values, strict=True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    return _json_text(name, values)


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is made only of what a log's JSON or Parquet holds: None, booleans, numbers, text, bytes,
    dates and times, and lists and string-keyed dicts of them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            if not all(isinstance(key, str) for key in item):
                return False
            stack.extend(item.values())
        elif not isinstance(item, _PLAIN):
            return False
    return True
