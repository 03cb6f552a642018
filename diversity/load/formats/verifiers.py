"""verifiers ``vf-eval -s`` results: ``outputs/evals/{env}--{model}/{run id}/results.jsonl``.

Checked against files verifiers 0.1.12 and 0.3.1 wrote (0.3.1 is the last
release writing ``results.jsonl``; 0.4's ``traces.jsonl`` is another format).
One line per rollout: ``example_id``, ``prompt`` and ``completion`` as
message lists, ``answer``, ``reward``, ``task`` (0.1.12) or ``info`` (0.3.1),
``error``, ``metrics`` and each metric again as a top-level key.

- Groups: ``example_id`` (the ``-r`` rollouts of one example).
- Text: the messages' contents joined by blank lines, the roles kept in
  ``prompt_roles`` / ``response_roles`` (a multi-turn completion holds the
  tool and user turns too).
- ``reward`` is verifiers' own: the weighted rubric sum; the per-function
  metrics are kept unweighted as their columns.
- A rollout with an ``error`` is kept and counted.
- ``lineage`` is ``{env}--{model}/{run id}``, so two runs of one
  environment and model never pool; ``split`` eval, ``step`` 0; ``task``
  the line's ``task`` when present.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import each_row, integer, number, put_messages, string, to_frame

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

_RUN_ID = re.compile(r"^[0-9a-f]{8}$")  # vf-eval's run folder: uuid4().hex[:8]


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    folder = records.path.resolve().parent
    lineage = f"{folder.parent.name}/{folder.name}" if _RUN_ID.match(folder.name) and folder.parent.name else None
    rows, errors = [], 0
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("prompt", "completion", "example_id")}
            row["group_id"] = str(integer(record, "example_id"))
            row["example_id"] = int(row["group_id"])
            put_messages(row, record)
            row["reward"] = number(record, "reward")
            row["task"] = string(record, "task", required=False)
            row.update(step=0, split="eval", lineage=lineage)
        if not guard.failed:
            errors += record.get("error") is not None
            rows.append(row)
    report.note("rollouts_with_error", errors,
                f"{errors} rollout(s) carry an 'error' (the environment or model call failed): kept, with the "
                "reward verifiers gave them; filter on the 'error' column to leave them out")
    return to_frame(rows)


FORMAT = Format(name="verifiers", title="verifiers vf-eval results", columns=("example_id", "prompt", "completion"),
                read=read)
