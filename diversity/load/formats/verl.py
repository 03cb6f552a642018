"""verl rollout dumps: ``{rollout_data_dir}/{global_step}.jsonl`` with ``input``, ``output``, ``score``.

verl reorders rows, so a group is every row sharing (step, input); its
``group_id`` is a hash of the prompt. ``step`` comes from the file name when
the rows lack it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, each_row, integer, number, string, text_id, to_frame

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    rows = []
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("input", "output", "score")}
            row["prompt"] = string(record, "input")
            row["response"] = string(record, "output")
            row["reward"] = number(record, "score")
            step = integer(record, "step", required=False)
            row["step"] = step if step is not None else _step_from_name(records.path)
            row["group_id"] = text_id(row["prompt"])
            row["split"] = "train"
        if not guard.failed:
            rows.append(row)
    return to_frame(rows)


def _step_from_name(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise BadRow("step", f"missing, and the file name {path.name!r} is not '<global_step>.jsonl'") from None


FORMAT = Format(name="verl", title="verl rollout dump", columns=("input", "output"), read=read)
