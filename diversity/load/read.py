"""The loader's loop: expand the paths, open each file, read it as its format, fill lineage, phase and split,
then let each format look across its files (``Format.finish``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity import schema
from diversity.load.formats import FORMATS, companion_reason, detect, expected_columns
from diversity.load.formats.verl import VALIDATION_FOLDERS
from diversity.load.options import LoadOptions
from diversity.load.paths import as_list, expand_paths
from diversity.load.records import SUFFIXES, open_records
from diversity.load.result import FileReport, LoadResult
from diversity.load.rows import concat_rows
from rollout_common.errors import InputError
from rollout_common.run_directory import ROLLOUTS

if TYPE_CHECKING:
    from diversity.load.formats.base import ReadFiles

log = logging.getLogger("diversity")

# Folders that trainers write their rollout files into: the run's name is the folder above. verl has no
# default for rollout_data_dir / validation_data_dir; these are the names its recipes and users give them.
_ROLLOUT_FOLDERS = (ROLLOUTS, "completions", "rollout", "rollout_data", "rollouts_data", *VALIDATION_FOLDERS)


def load_rollouts(
    paths: str | Path | Iterable[str | Path], options: LoadOptions | None = None, **option_values
) -> pl.DataFrame:
    """Load rollout logs into one DataFrame in the canonical schema.

    Args:
        paths: files, globs or directories (one or several).
        options: how to read them (:class:`LoadOptions`); or give its fields
            as keywords instead: ``format=``, ``group_size=``, ``lineage=``,
            ``phase=``, ``on_bad_row=``, ``split=``, ``reward_weights=``,
            ``columns=``.

    Returns:
        A polars DataFrame: the canonical columns first, then every other
        column the sources had. :func:`read_rollouts` also says what was read
        from each file and which rows were skipped.
    """
    return read_rollouts(paths, options, **option_values).frame


def read_rollouts(
    paths: str | Path | Iterable[str | Path], options: LoadOptions | None = None, **option_values
) -> LoadResult:
    """Like :func:`load_rollouts`, but also returns what was read from each file, and what was summed,
    dropped, de-duplicated or warned about (:class:`LoadResult`)."""
    options = LoadOptions.given(options, option_values)
    read, ignored, why_ignored = [], [], {}
    for path, found_in_directory in expand_paths(paths):
        records = open_records(path)
        fmt = FORMATS[options.format] if options.format != "auto" else detect(records.columns, options)
        if fmt is None:
            reason = companion_reason(path.name)
            if found_in_directory:
                ignored.append(str(path))
                if reason:
                    why_ignored[str(path)] = reason
                continue
            if reason:
                raise InputError(path, f"not a rollout log: {reason}", fix="point at the rollout files beside it")
            raise InputError(
                path,
                f"columns {sorted(records.columns)} match no known rollout format",
                fix=f"expected {expected_columns()}; or pass --format, or for a table of your own name its "
                    "columns: --columns prompt=COLUMN,response=COLUMN,...",
            )
        log.debug("%s: read as %s", path, fmt.title)
        report = FileReport(str(path), fmt.name, read=len(records.rows))
        read.append((report, _fill_labels(fmt.read(records, report, options), path, report, options)))
    read = _finish(read, options)
    for report, frame in read:
        report.rows = frame.height
        if report.skipped:
            log.warning("%s: skipped %d bad row(s), first at %s", report.path, report.skipped,
                        "; ".join(report.skipped_at))
        for sentence in report.notes:
            log.warning("%s: %s", report.path, sentence)
    for path, reason in why_ignored.items():
        log.info("%s: skipped, %s", path, reason)
    unexplained = [path for path in ignored if path not in why_ignored]
    if unexplained:
        log.warning("ignored %d file(s) that are not rollout logs: %s", len(unexplained), ", ".join(unexplained[:5]))
    if options.reward_weights is not None and not any(report.reward for report, _ in read):
        log.warning("reward_weights given, but no file read sums reward columns (only TRL logs do): not used")
    frames = [frame for _, frame in read if frame.height]
    if not frames:
        raise InputError(
            ", ".join(str(p) for p in as_list(paths)),
            "no rollout rows found",
            fix=f"point at files ending in {', '.join(SUFFIXES)} (or slime's rollout_data/*.pt) that hold rollouts",
        )
    frame = concat_rows(frames)
    reports = [report for report, _ in read]
    for fmt in FORMATS.values():
        chosen = [r for r in reports if r.format == fmt.name]
        if chosen:
            where = chosen[0].path if len(chosen) == 1 else f"{len(chosen)} files"
            log.info("%s: read as %s, %d rows", where, fmt.title, sum(r.rows for r in chosen))
    return LoadResult(schema.order_columns(frame), reports, ignored, why_ignored)


def _fill_labels(frame: pl.DataFrame, path: Path, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    """Lineage, phase and split: an explicit option wins, then the file's own value, then a default
    (the run's name; phase "1"; split "train")."""
    lineage = pl.lit(options.lineage, pl.String) if options.lineage is not None else pl.col("lineage").fill_null(_run_name(path))
    phase = pl.lit(options.phase, pl.String) if options.phase is not None else pl.col("phase").fill_null("1")
    split = pl.col("split").fill_null("train")
    if options.split is not None:
        split = pl.lit(options.split, pl.String)
        report.split = f"{options.split} (--split / split=)"
    return frame.with_columns(lineage.alias("lineage"), phase.alias("phase"), split.alias("split"))


def _finish(read: ReadFiles, options: LoadOptions) -> ReadFiles:
    """Each format's cross-file step (``Format.finish``) over its files; the files keep their order."""
    done = {}
    for fmt in FORMATS.values():
        mine = [pair for pair in read if pair[0].format == fmt.name]
        if mine:
            for report, frame in (fmt.finish(mine, options) if fmt.finish is not None else mine):
                done[id(report)] = (report, frame)
    return [done[id(report)] for report, _ in read if id(report) in done]


def _run_name(path: Path) -> str:
    """The run's name for files without a lineage: the folder above completions/ or rollouts/, else the file's folder."""
    parent = path.resolve().parent
    if parent.name in _ROLLOUT_FOLDERS and parent.parent.name:
        return parent.parent.name
    return parent.name or path.stem
