"""Open one log file as records: its rows as dicts, each with its 1-based line or row number.

JSONL, Parquet, CSV and Arrow files (a Hugging Face ``save_to_disk`` folder's
``data-*.arrow``) are read whole, eagerly: every format's reader needs all of
a file's rows (a TRL file's groups are counted over the file), and a damaged
file is refused before any of its rows is converted. A ``torch.save`` file
(``.pt``, slime's rollout dumps) is read by :func:`read_torch_file`, which
never runs code from the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from rollout_common.errors import InputError

# The file types a directory search picks up (.pt only in the folders paths.TORCH_FOLDERS names);
# JSONL is also read as .json or .ndjson when named.
SUFFIXES = (".jsonl", ".parquet", ".csv", ".arrow")
TORCH_SUFFIX = ".pt"
_JSON_LINES = (".jsonl", ".json", ".ndjson")
# How torch.load(weights_only=True) names the global a pickle wanted to load ("Unsupported global: GLOBAL
# slime.utils.types.Sample was not an allowed global ...", "unsupported GLOBAL posix.mkdir whose module ...").
_UNSAFE_GLOBAL = re.compile(r"\bGLOBAL (\S+) (?:was not an allowed global|whose module)")


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
    """Every row of a JSONL, Parquet or CSV file; a damaged or empty file is an InputError naming it."""
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", fix="re-export the log or remove it from the inputs")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".arrow":
        return _read_arrow(path)
    if suffix == TORCH_SUFFIX:
        return _read_torch(path)
    if suffix in _JSON_LINES:
        return _read_jsonl(path)
    raise InputError(path, f"unsupported file type {suffix!r}", fix=f"use one of {', '.join((*SUFFIXES, TORCH_SUFFIX))}")


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


def _read_arrow(path: Path) -> Records:
    """An Arrow IPC file: the stream format ``datasets.Dataset.save_to_disk`` writes, or the file format."""
    table = None
    for reader in (pl.read_ipc_stream, pl.read_ipc):
        try:
            table = reader(path)
            break
        except Exception as error:  # polars raises several types for damaged files
            problem = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    if table is None:
        raise InputError(path, f"cannot read Arrow ({problem})",
                         fix="the file may be truncated or not an Arrow IPC file; re-export it")
    records = _frame_records(path, table, first_row=1)
    records.dtypes = dict(table.schema)
    return records


def read_torch_file(path: Path) -> Any:
    """What ``torch.save`` wrote to ``path``, unpickled with ``weights_only=True`` (tensors, numbers, strings,
    lists, tuples, dicts): never an object whose unpickling would run code from the file, and never a retry
    without that guard. torch is imported here, so ``import diversity`` stays light."""
    import torch

    try:
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
    samples = payload.get("samples") if isinstance(payload, dict) else None
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise InputError(path, f"expected a dict with a list of sample dicts under 'samples', found "
                               f"{type(payload).__name__}", fix="point at rollout dumps (slime's rollout_data/*.pt)")
    if not samples:
        raise InputError(path, "the file holds no samples", fix="re-export the log or remove it from the inputs")
    columns: dict[str, None] = {}
    for sample in samples:
        columns.update(dict.fromkeys(sample))
    header = {k: v for k, v in payload.items() if k != "samples"}
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
