"""TRL ``GRPOTrainer`` completion dumps: ``<output_dir>/completions/completions_{step:05d}.parquet``.

Written with ``log_completions=True``: columns ``step``, ``prompt``,
``completion``, ``advantage`` and one numeric column per reward function.
The rows carry no group id: each prompt's ``num_generations`` completions are
consecutive rows, so the loader needs ``group_size``. ``reward`` is the sum of
the reward columns (which are kept as they were).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import each_row, integer, number, string, to_frame
from rollout_common.errors import InputError

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

# Columns TRL writes beside the reward functions' own.
_NOT_REWARDS = {"step", "prompt", "completion", "advantage", "image", "images"}


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    group_size = options.group_size
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
    reward_columns = _reward_columns(records)
    rows = []
    for index, (_, record, guard) in enumerate(each_row(records, report, options.skip_bad_rows)):
        with guard:
            row = {k: v for k, v in record.items() if k != "completion"}
            row["prompt"] = string(record, "prompt")
            row["response"] = string(record, "completion")
            row["step"] = integer(record, "step")
            rewards = [number(record, name) for name in reward_columns]
            row["reward"] = None if not rewards or any(r is None for r in rewards) else sum(rewards)
            row["group_id"] = f"{index // group_size:05d}"
            row["split"] = "train"
        if not guard.failed:
            rows.append(row)
    return to_frame(rows)


def _reward_columns(records: Records) -> list[str]:
    """The numeric columns of the first row that TRL did not write itself: one per reward function."""
    first = records.rows[0][1]
    return sorted(
        name for name in records.columns
        if name not in _NOT_REWARDS and isinstance(first.get(name), (int, float)) and not isinstance(first.get(name), bool)
    )


FORMAT = Format(name="trl", title="TRL GRPOTrainer completions", columns=("prompt", "completion"), read=read)
