"""NoveltyBench ``generations.jsonl``: one line per prompt with its list of ``generations``.

One line is one group (``group_id`` is the line's ``id``, else a hash of the
prompt), read as eval rollouts at step 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, each_row, string, text_id, to_frame

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    rows = []
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            prompt = string(record, "prompt")
            generations = record.get("generations")
            if not isinstance(generations, list) or not all(isinstance(g, str) for g in generations):
                raise BadRow("generations", "expected a list of strings")
            if not generations:
                raise BadRow("generations", "the list is empty")
            group = string(record, "id", required=False) or text_id(prompt)
            extra = {k: v for k, v in record.items() if k not in ("id", "prompt", "generations")}
            group_rows = [
                {**extra, "prompt": prompt, "response": text, "group_id": group, "step": 0, "split": "eval"}
                for text in generations
            ]
        if not guard.failed:
            rows.extend(group_rows)
    return to_frame(rows)


FORMAT = Format(name="noveltybench", title="NoveltyBench generations", columns=("prompt", "generations"), read=read)
