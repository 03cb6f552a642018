"""Read rollout logs from the trainers people use into the canonical schema.

Formats (SPEC.md §2), detected from each file's columns with ``format="auto"``:

=============== ======================================================= ===========================================
format          file                                                    groups
=============== ======================================================= ===========================================
``canonical``   this project's JSONL / Parquet / CSV (``diversity.schema``) explicit ``group_id``
``trl``         TRL ``completions/completions_{step:05d}.parquet``       consecutive blocks of ``group_size`` rows
``verl``        verl ``{rollout_data_dir}/{global_step}.jsonl``          rows sharing (step, input)
``noveltybench`` NoveltyBench ``generations.jsonl``                      one line is one group
=============== ======================================================= ===========================================

Paths may be files, globs or directories. A directory that is a run of this
project's trainer (``config.json`` beside a ``rollouts/`` folder) is read from
``rollouts/``; any other directory is searched recursively for ``*.jsonl``,
``*.parquet`` and ``*.csv`` files, and files there whose columns match no
format are listed as ignored (never silently).

Bad input raises :class:`~rollout_common.errors.InputError` naming the file, line or
row, and field. With ``on_bad_row="skip"`` bad rows are skipped instead, and
counted with their first locations in :attr:`LoadResult.skipped`.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from diversity import schema
from rollout_common.errors import InputError, OptionError

log = logging.getLogger("diversity")

FORMATS = ("canonical", "trl", "verl", "noveltybench")
ROLLOUT_SUFFIXES = (".jsonl", ".parquet", ".csv")
BAD_ROW_MODES = ("error", "skip")
# Columns that mark each foreign format (checked in this order; canonical last).
_SIGNATURES = {
    "noveltybench": {"prompt", "generations"},
    "verl": {"input", "output"},
    "trl": {"prompt", "completion"},
    "canonical": {"prompt", "response"},
}
_FORMAT_NAMES = {
    "canonical": "canonical rollout schema",
    "trl": "TRL GRPOTrainer completions",
    "verl": "verl rollout dump",
    "noveltybench": "NoveltyBench generations",
}
# How many skipped-row locations a report keeps (the count is always exact).
_MAX_LOCATIONS = 5


@dataclass
class FileReport:
    """What was read from one file."""

    path: str
    format: str
    rows: int = 0
    skipped: int = 0
    skipped_at: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    """The rollouts in canonical form plus where they came from."""

    frame: pl.DataFrame
    files: list[FileReport]
    ignored: list[str]

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def skipped_at(self) -> list[str]:
        return [loc for f in self.files for loc in f.skipped_at][:_MAX_LOCATIONS]


def load_rollouts(
    paths: str | Path | Iterable[str | Path],
    format: str = "auto",
    group_size: int | None = None,
    lineage: str | None = None,
    phase: str | None = None,
    on_bad_row: str = "error",
) -> pl.DataFrame:
    """Load rollout logs into one DataFrame in the canonical schema.

    Args:
        paths: files, globs or directories (one or several).
        format: ``"auto"`` (detect per file from its columns) or one of
            ``canonical``, ``trl``, ``verl``, ``noveltybench``.
        group_size: responses per prompt; required for TRL dumps, whose
            groups are consecutive blocks of ``num_generations`` rows.
        lineage: sets the lineage of every row (default: the file's own
            ``lineage`` column, else the run directory's name).
        phase: sets the phase of every row (default: the file's own, else "1").
        on_bad_row: ``"error"`` (raise at the first bad row) or ``"skip"``
            (skip it; counts and locations are logged and kept by
            :func:`read_rollouts`).

    Returns:
        A polars DataFrame: the canonical columns first, then every other
        column the sources had.
    """
    return read_rollouts(paths, format, group_size, lineage, phase, on_bad_row).frame


def read_rollouts(
    paths: str | Path | Iterable[str | Path],
    format: str = "auto",
    group_size: int | None = None,
    lineage: str | None = None,
    phase: str | None = None,
    on_bad_row: str = "error",
) -> LoadResult:
    """Like :func:`load_rollouts`, but also returns what was read from each file."""
    if format != "auto" and format not in FORMATS:
        raise OptionError(f"unknown format {format!r}; choose auto or one of {', '.join(FORMATS)}")
    if on_bad_row not in BAD_ROW_MODES:
        raise OptionError(f"on_bad_row must be 'error' or 'skip', not {on_bad_row!r}")
    if group_size is not None and (isinstance(group_size, bool) or int(group_size) < 1):
        raise OptionError(f"group_size must be a positive integer, not {group_size!r}")
    files, ignored = _expand_paths(paths, explicit_format=format != "auto")
    frames, reports = [], []
    for path, found_in_directory in files:
        records = _open_records(path)
        chosen = format if format != "auto" else _detect(path, records.columns)
        if chosen is None:
            if found_in_directory:
                ignored.append(str(path))
                continue
            raise InputError(
                path,
                f"columns {sorted(records.columns)} match no known rollout format",
                fix="expected prompt+response (canonical), prompt+completion (TRL), "
                "input+output (verl) or prompt+generations (NoveltyBench); or pass --format",
            )
        log.debug("%s: read as %s", path, _FORMAT_NAMES[chosen])
        report = FileReport(str(path), chosen)
        frame = _CONVERTERS[chosen](records, report, group_size, on_bad_row == "skip")
        frame = _apply_defaults(frame, path, lineage, phase)
        report.rows = frame.height
        if report.skipped:
            log.warning(
                "%s: skipped %d bad row(s), first at %s", path, report.skipped, "; ".join(report.skipped_at)
            )
        frames.append(frame)
        reports.append(report)
    if ignored:
        log.warning("ignored %d file(s) that are not rollout logs: %s", len(ignored), ", ".join(ignored[:5]))
    if not frames:
        raise InputError(
            ", ".join(str(p) for p in _as_list(paths)),
            "no rollout rows found",
            fix=f"point at files ending in {', '.join(ROLLOUT_SUFFIXES)} that hold rollouts",
        )
    frame = pl.concat(frames, how="diagonal_relaxed")
    for name in FORMATS:
        chosen = [r for r in reports if r.format == name]
        if chosen:
            where = chosen[0].path if len(chosen) == 1 else f"{len(chosen)} files"
            log.info("%s: read as %s, %d rows", where, _FORMAT_NAMES[name], sum(r.rows for r in chosen))
    return LoadResult(schema.order_columns(frame), reports, ignored)


# ---------------------------------------------------------------- paths


def _as_list(paths: str | Path | Iterable[str | Path]) -> list[str | Path]:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _expand_paths(paths, explicit_format: bool) -> tuple[list[tuple[Path, bool]], list[str]]:
    """Files to read, each with whether it was found by searching a directory."""
    found: list[tuple[Path, bool]] = []
    ignored: list[str] = []
    items = _as_list(paths)
    if not items:
        raise OptionError("no input paths given")
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.extend((p, True) for p in _files_in_directory(path))
        elif path.exists():
            found.append((path, False))
        elif globlib.has_magic(str(item)):
            matches = sorted(Path(m) for m in globlib.glob(str(item), recursive=True))
            if not matches:
                raise InputError(item, "the pattern matches no file", fix="check the path and quoting")
            for match in matches:
                if match.is_dir():
                    found.extend((p, True) for p in _files_in_directory(match))
                else:
                    found.append((match, False))
        else:
            raise InputError(item, "no such file or directory", fix="check the path")
    if not found:
        raise InputError(
            ", ".join(str(i) for i in items),
            f"no rollout files found (looked for {', '.join('*' + s for s in ROLLOUT_SUFFIXES)})",
            fix="point at a log file or a folder that holds some",
        )
    seen, unique = set(), []
    for path, in_directory in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, in_directory))
    return unique, ignored


def is_run_directory(path: Path) -> bool:
    """A run of this project's trainer: ``config.json`` beside a ``rollouts/`` folder."""
    return path.is_dir() and (path / "config.json").is_file() and (path / "rollouts").is_dir()


def _files_in_directory(directory: Path) -> list[Path]:
    """Rollout files under a directory; a trainer run is read from its rollouts/ folder."""
    if is_run_directory(directory):
        directory = directory / "rollouts"
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix in ROLLOUT_SUFFIXES and not p.name.startswith(".")
    )


# ---------------------------------------------------------------- reading records


@dataclass
class _Records:
    """A file's rows as dicts with their 1-based location (line or row), lazily for JSONL."""

    path: Path
    columns: set[str]
    rows: list[tuple[int, dict[str, Any]]]
    unit: str  # "line" or "row"


def _open_records(path: Path) -> _Records:
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", fix="re-export the log or remove it from the inputs")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _read_jsonl(path)
    raise InputError(path, f"unsupported file type {suffix!r}", fix=f"use one of {', '.join(ROLLOUT_SUFFIXES)}")


def _read_jsonl(path: Path) -> _Records:
    rows: list[tuple[int, dict[str, Any]]] = []
    columns: set[str] = set()
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
            columns.update(record)
            rows.append((number, record))
    if not rows:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    return _Records(path, columns, rows, "line")


def _read_parquet(path: Path) -> _Records:
    try:
        table = pl.read_parquet(path)
    except Exception as error:  # polars raises several types for damaged files
        raise InputError(
            path, f"cannot read Parquet ({type(error).__name__}: {str(error).splitlines()[0][:160]})",
            fix="the file may be truncated or not Parquet; re-export it",
        ) from None
    return _frame_records(path, table, first_row=1)


def _read_csv(path: Path) -> _Records:
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


def _frame_records(path: Path, table: pl.DataFrame, first_row: int) -> _Records:
    if table.height == 0:
        raise InputError(path, "the file holds no records", fix="re-export the log or remove it from the inputs")
    rows = list(enumerate(table.iter_rows(named=True), start=first_row))
    return _Records(path, set(table.columns), rows, "row")


def _detect(path: Path, columns: set[str]) -> str | None:
    for name, needed in _SIGNATURES.items():
        if needed <= columns:
            return name
    return None


# ---------------------------------------------------------------- field validation


class _BadRow(Exception):
    def __init__(self, field: str, problem: str, fix: str | None = None):
        self.field, self.problem, self.fix = field, problem, fix


def _string(record: dict, name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise _BadRow(name, "missing", f"every row needs a '{name}' string")
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and name in ("lineage", "phase", "group_id", "task"):
        return str(value)
    raise _BadRow(name, f"expected a string, found {type(value).__name__} {_preview(value)}")


def _integer(record: dict, name: str, *, required: bool = True) -> int | None:
    value = record.get(name)
    if value is None:
        if required:
            raise _BadRow(name, "missing", f"every row needs an integer '{name}'")
        return None
    if isinstance(value, bool):
        raise _BadRow(name, f"expected an integer, found a boolean {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _BadRow(name, f"expected an integer, found {type(value).__name__} {_preview(value)}")


def _number(record: dict, name: str) -> float | None:
    """A nullable float; NaN and infinities are refused (they would poison every mean)."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _BadRow(name, f"expected a number, found a boolean {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _BadRow(name, f"expected a number, found string {_preview(value)}") from None
    else:
        raise _BadRow(name, f"expected a number, found {type(value).__name__} {_preview(value)}")
    if not math.isfinite(number):
        raise _BadRow(name, f"{number} is not a finite number", "write null for a missing value")
    return number


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _rows(records: _Records, report: FileReport, skip: bool) -> Iterator[tuple[int, dict, _RowGuard]]:
    for number, record in records.rows:
        yield number, record, _RowGuard(records, report, number, skip)


class _RowGuard:
    """Turns a _BadRow inside ``with guard:`` into an InputError or a counted skip."""

    def __init__(self, records: _Records, report: FileReport, number: int, skip: bool):
        self.records, self.report, self.number, self.skip = records, report, number, skip
        self.failed = False

    def __enter__(self) -> "_RowGuard":
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if not isinstance(error, _BadRow):
            return False
        location = {self.records.unit: self.number}
        if not self.skip:
            raise InputError(self.records.path, error.problem, field=error.field, fix=error.fix, **location) from None
        self.failed = True
        self.report.skipped += 1
        if len(self.report.skipped_at) < _MAX_LOCATIONS:
            self.report.skipped_at.append(f"{self.records.path}:{self.records.unit} {self.number} ({error.field}: {error.problem})")
        return True


# ---------------------------------------------------------------- converters


def _canonical(records: _Records, report: FileReport, group_size: int | None, skip: bool) -> pl.DataFrame:
    rows = []
    for _, record, guard in _rows(records, report, skip):
        with guard:
            row = dict(record)
            for name in ("lineage", "phase", "task"):
                row[name] = _string(record, name, required=False)
            row["group_id"] = _string(record, "group_id")
            row["prompt"] = _string(record, "prompt")
            row["response"] = _string(record, "response")
            row["step"] = _integer(record, "step")
            row["n_tokens"] = _integer(record, "n_tokens", required=False)
            row["reward"] = _number(record, "reward")
            row["entropy"] = _number(record, "entropy")
            row["split"] = _split(record)
        if not guard.failed:
            rows.append(row)
    return _to_frame(rows)


def _split(record: dict) -> str:
    value = _string(record, "split", required=False)
    if value is None:
        return "train"
    if value not in schema.SPLITS:
        raise _BadRow("split", f"{value!r} is neither 'train' nor 'eval'")
    return value


def _trl(records: _Records, report: FileReport, group_size: int | None, skip: bool) -> pl.DataFrame:
    if group_size is None:
        raise InputError(
            records.path, "TRL completion dumps have no group id", field="group_size",
            fix="pass --group-size (group_size=) equal to the run's num_generations",
        )
    if len(records.rows) % group_size:
        raise InputError(
            records.path, f"{len(records.rows)} rows do not divide into groups of {group_size}",
            field="group_size", fix="check --group-size against the run's num_generations",
        )
    reward_columns = _trl_reward_columns(records)
    rows = []
    for index, (_, record, guard) in enumerate(_rows(records, report, skip)):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("completion",)}
            row["prompt"] = _string(record, "prompt")
            row["response"] = _string(record, "completion")
            row["step"] = _integer(record, "step")
            rewards = [_number(record, name) for name in reward_columns]
            row["reward"] = None if not rewards or any(r is None for r in rewards) else sum(rewards)
            row["group_id"] = f"{index // group_size:05d}"
            row["split"] = "train"
        if not guard.failed:
            rows.append(row)
    return _to_frame(rows)


def _trl_reward_columns(records: _Records) -> list[str]:
    """TRL writes one numeric column per reward function beside step, prompt, completion, advantage."""
    not_rewards = {"step", "prompt", "completion", "advantage", "image", "images"}
    first = records.rows[0][1]
    return sorted(
        name for name in records.columns
        if name not in not_rewards and isinstance(first.get(name), (int, float)) and not isinstance(first.get(name), bool)
    )


def _verl(records: _Records, report: FileReport, group_size: int | None, skip: bool) -> pl.DataFrame:
    rows = []
    for _, record, guard in _rows(records, report, skip):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("input", "output", "score")}
            row["prompt"] = _string(record, "input")
            row["response"] = _string(record, "output")
            row["reward"] = _number(record, "score")
            step = _integer(record, "step", required=False)
            row["step"] = step if step is not None else _step_from_name(records.path)
            # verl reorders rows, so a group is every row sharing (step, input).
            row["group_id"] = _text_id(row["prompt"])
            row["split"] = "train"
        if not guard.failed:
            rows.append(row)
    return _to_frame(rows)


def _step_from_name(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise _BadRow("step", f"missing, and the file name {path.name!r} is not '<global_step>.jsonl'") from None


def _noveltybench(records: _Records, report: FileReport, group_size: int | None, skip: bool) -> pl.DataFrame:
    rows = []
    for _, record, guard in _rows(records, report, skip):
        with guard:
            prompt = _string(record, "prompt")
            generations = record.get("generations")
            if not isinstance(generations, list) or not all(isinstance(g, str) for g in generations):
                raise _BadRow("generations", "expected a list of strings")
            if not generations:
                raise _BadRow("generations", "the list is empty")
            group = _string(record, "id", required=False) or _text_id(prompt)
            extra = {k: v for k, v in record.items() if k not in ("id", "prompt", "generations")}
            group_rows = [
                {**extra, "prompt": prompt, "response": text, "group_id": group, "step": 0, "split": "eval"}
                for text in generations
            ]
        if not guard.failed:
            rows.extend(group_rows)
    return _to_frame(rows)


_CONVERTERS = {"canonical": _canonical, "trl": _trl, "verl": _verl, "noveltybench": _noveltybench}


def _text_id(text: str) -> str:
    """A short stable id for a prompt, the same across steps, runs and machines."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _to_frame(rows: list[dict]) -> pl.DataFrame:
    if not rows:
        return schema.empty_frame()
    extra = sorted({k for r in rows for k in r} - set(schema.COLUMNS))
    columns = {name: [r.get(name) for r in rows] for name in schema.COLUMNS}
    frame = pl.DataFrame(columns, schema=schema.COLUMNS)
    if extra:
        frame = frame.with_columns(_extra_column(name, [r.get(name) for r in rows]) for name in extra)
    return frame


def _extra_column(name: str, values: list) -> pl.Series:
    """Keep a column we do not interpret; mixed types are kept as their JSON text."""
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else json.dumps(v, default=str) for v in values], dtype=pl.String)


def _apply_defaults(frame: pl.DataFrame, path: Path, lineage: str | None, phase: str | None) -> pl.DataFrame:
    """Fill lineage and phase: an explicit argument wins, then the file's own value, then a default."""
    run_name = _run_name(path)
    return frame.with_columns(
        (pl.lit(lineage, pl.String) if lineage is not None else pl.col("lineage").fill_null(run_name)).alias("lineage"),
        (pl.lit(phase, pl.String) if phase is not None else pl.col("phase").fill_null("1")).alias("phase"),
    )


def _run_name(path: Path) -> str:
    """The run's name for files without a lineage: the folder above completions/ or rollouts/."""
    parent = path.resolve().parent
    if parent.name in ("completions", "rollouts", "rollout_data", "rollouts_data") and parent.parent.name:
        return parent.parent.name
    return parent.name or path.stem
