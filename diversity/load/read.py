"""The loader's loop: expand the paths, open each file, read it as its format, fill lineage and phase."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from diversity import schema
from diversity.load.formats import FORMATS, detect, expected_columns
from diversity.load.options import LoadOptions
from diversity.load.paths import as_list, expand_paths
from diversity.load.records import SUFFIXES, open_records
from diversity.load.result import FileReport, LoadResult
from rollout_common.errors import InputError
from rollout_common.run_directory import ROLLOUTS

log = logging.getLogger("diversity")

# Folders that trainers write their rollout files into: the run's name is the folder above.
_ROLLOUT_FOLDERS = (ROLLOUTS, "completions", "rollout_data", "rollouts_data")


def load_rollouts(
    paths: str | Path | Iterable[str | Path], options: LoadOptions | None = None, **option_values
) -> pl.DataFrame:
    """Load rollout logs into one DataFrame in the canonical schema.

    Args:
        paths: files, globs or directories (one or several).
        options: how to read them (:class:`LoadOptions`); or give its fields
            as keywords instead: ``format=``, ``group_size=``, ``lineage=``,
            ``phase=``, ``on_bad_row=``.

    Returns:
        A polars DataFrame: the canonical columns first, then every other
        column the sources had. :func:`read_rollouts` also says what was read
        from each file and which rows were skipped.
    """
    return read_rollouts(paths, options, **option_values).frame


def read_rollouts(
    paths: str | Path | Iterable[str | Path], options: LoadOptions | None = None, **option_values
) -> LoadResult:
    """Like :func:`load_rollouts`, but also returns what was read from each file."""
    options = LoadOptions.given(options, option_values)
    frames, reports, ignored = [], [], []
    for path, found_in_directory in expand_paths(paths):
        records = open_records(path)
        fmt = FORMATS[options.format] if options.format != "auto" else detect(records.columns)
        if fmt is None:
            if found_in_directory:
                ignored.append(str(path))
                continue
            raise InputError(
                path,
                f"columns {sorted(records.columns)} match no known rollout format",
                fix=f"expected {expected_columns()}; or pass --format",
            )
        log.debug("%s: read as %s", path, fmt.title)
        report = FileReport(str(path), fmt.name, read=len(records.rows))
        frame = _fill_lineage_and_phase(fmt.read(records, report, options), path, options)
        report.rows = frame.height
        if report.skipped:
            log.warning("%s: skipped %d bad row(s), first at %s", path, report.skipped, "; ".join(report.skipped_at))
        if report.deduplicated:
            log.warning("%s: dropped %d duplicate row(s)", path, report.deduplicated)
        frames.append(frame)
        reports.append(report)
    if ignored:
        log.warning("ignored %d file(s) that are not rollout logs: %s", len(ignored), ", ".join(ignored[:5]))
    if not frames:
        raise InputError(
            ", ".join(str(p) for p in as_list(paths)),
            "no rollout rows found",
            fix=f"point at files ending in {', '.join(SUFFIXES)} that hold rollouts",
        )
    frame = pl.concat(frames, how="diagonal_relaxed")
    for fmt in FORMATS.values():
        chosen = [r for r in reports if r.format == fmt.name]
        if chosen:
            where = chosen[0].path if len(chosen) == 1 else f"{len(chosen)} files"
            log.info("%s: read as %s, %d rows", where, fmt.title, sum(r.rows for r in chosen))
    return LoadResult(schema.order_columns(frame), reports, ignored)


def _fill_lineage_and_phase(frame: pl.DataFrame, path: Path, options: LoadOptions) -> pl.DataFrame:
    """An explicit option wins, then the file's own value, then a default (the run's name; phase "1")."""
    lineage = pl.lit(options.lineage, pl.String) if options.lineage is not None else pl.col("lineage").fill_null(_run_name(path))
    phase = pl.lit(options.phase, pl.String) if options.phase is not None else pl.col("phase").fill_null("1")
    return frame.with_columns(lineage.alias("lineage"), phase.alias("phase"))


def _run_name(path: Path) -> str:
    """The run's name for files without a lineage: the folder above completions/ or rollouts/, else the file's folder."""
    parent = path.resolve().parent
    if parent.name in _ROLLOUT_FOLDERS and parent.parent.name:
        return parent.parent.name
    return parent.name or path.stem
