"""SkyRL evaluation dumps: ``{export_path}/dumped_evals/global_step_{N}_evals/{data_source}.jsonl``.

SkyRL dumps eval rollouts only (``trainer.dump_eval_results``; schema from
NovaSky-AI/SkyRL@a9564572e ``dump_per_dataset_eval_results``): one file per
data source (``/`` written as ``_``; rows without one go to ``unknown.jsonl``),
each line ``input_prompt``, ``output_response``, ``score``, ``stop_reason``,
``env_class``, ``env_extras``, ``data_source``.

- Groups: there is no id; a prompt's ``eval_n_samples_per_prompt`` samples
  share their ``input_prompt`` text, so a group is the rows of one data
  source with one ``input_prompt`` (``group_id`` = data source + a hash of
  the prompt), at one step.
- ``step`` is N from the ``global_step_{N}_evals`` folder. ``split`` is
  eval, ``task`` the data source, ``lineage`` the export folder's name (the
  folder above ``dumped_evals/``). ``eval_only/`` (an evaluation outside
  training) has no step: step 0 of its own lineage ``{export}/eval_only``,
  counted, so it never pools with the run's step-0 groups.
- ``reward`` is ``score``; a list of per-token scores (token-level reward
  generators) is summed, as SkyRL's own eval metrics do, and counted.
- The text is kept as SkyRL decoded it, special tokens included
  (``<|im_start|>``, a closing ``<|im_end|>`` when ``stop_reason`` is stop).
- ``aggregated_results.jsonl`` beside the dumps is one line of metrics, not
  samples: skipped with that reason.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, each_row, fits_int64, number, preview, string, text_id, to_frame
from rollout_common.errors import InputError

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

_STEP_FOLDER = re.compile(r"^global_step_(?P<step>\d+)_evals$")
_EVAL_ONLY = "eval_only"
_DUMPS = "dumped_evals"


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    folder = records.path.resolve().parent
    step = _step(folder)
    lineage = folder.parent.parent.name if folder.parent.name == _DUMPS and folder.parent.parent.name else None
    rows, summed = [], 0
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("input_prompt", "output_response", "score")}
            row["prompt"] = string(record, "input_prompt")
            row["response"] = string(record, "output_response")
            row["reward"], per_token = _reward(record)
            task = string(record, "data_source", required=False) or records.path.stem
            row.update(task=task, group_id=f"{task}:{text_id(row['prompt'])}", step=step, split="eval",
                       lineage=lineage)
        if not guard.failed:
            summed += per_token
            rows.append(row)
    if step is None:
        run = f"{lineage or folder.parent.name}/{folder.name}"
        for row in rows:
            row.update(step=0, lineage=run)
        report.note("eval_only_rows", len(rows),
                    f"{len(rows)} row(s) are from SkyRL's {folder.name}/ (an evaluation outside training, no global "
                    f"step): read as step 0 of their own lineage {run!r}, so they never pool with step 0's groups")
    report.note("per_token_scores_summed", summed,
                f"{summed} row(s) have a list of per-token scores: reward is their sum (SkyRL's eval metrics sum "
                "them too)")
    return to_frame(rows)


def _step(folder: Path) -> int | None:
    """N from ``global_step_{N}_evals``; None for ``eval_only`` or a folder of another name."""
    match = _STEP_FOLDER.match(folder.name)
    if match and not fits_int64(int(match["step"])):
        raise InputError(folder, "the folder's step does not fit in 64 bits", field="step",
                         fix="keep SkyRL's folder names (global_step_{N}_evals)")
    return int(match["step"]) if match else None


def _reward(record: dict) -> tuple[float | None, bool]:
    """``score`` as one number, and whether it was a per-token list that was summed."""
    value = record.get("score")
    if not isinstance(value, list):
        return number(record, "score"), False
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise BadRow("score", f"expected a number or a list of finite numbers, found {preview(value)}")
    return math.fsum(value), True


FORMAT = Format(
    name="skyrl", title="SkyRL eval dump", columns=("input_prompt", "output_response"), read=read,
    companions={"aggregated_results.jsonl": "SkyRL's eval metrics for the step (one line of eval/<data source>/... "
                                            "numbers), not samples"},
)
