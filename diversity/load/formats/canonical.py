"""This project's canonical schema (``diversity.schema``) as JSONL, Parquet or CSV.

Groups are explicit (``group_id``); ``split`` defaults to train. Every column
the file has beyond the schema is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from diversity import schema
from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, each_row, integer, number, string, to_frame

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    rows = []
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            row = dict(record)
            for name in ("lineage", "phase", "task"):
                row[name] = string(record, name, required=False)
            row["group_id"] = string(record, "group_id")
            row["prompt"] = string(record, "prompt")
            row["response"] = string(record, "response")
            row["step"] = integer(record, "step")
            row["n_tokens"] = integer(record, "n_tokens", required=False)
            row["reward"] = number(record, "reward")
            row["entropy"] = number(record, "entropy")
            row["split"] = _split(record)
        if not guard.failed:
            rows.append(row)
    return to_frame(rows)


def _split(record: dict) -> str:
    value = string(record, "split", required=False)
    if value is None:
        return "train"
    if value not in schema.SPLITS:
        raise BadRow("split", f"{value!r} is neither 'train' nor 'eval'")
    return value


FORMAT = Format(name="canonical", title="canonical rollout schema", columns=("prompt", "response"), read=read)
