"""The canonical rollout schema: one row per sampled response.

Every loader returns a :class:`polars.DataFrame` with these columns, in this
order, followed by any other columns the source file had (kept, never dropped).

======== ======== ======== ==================================================
column   type     nullable meaning
======== ======== ======== ==================================================
lineage  str      no       one training run's line of descent ("grpo", "repo_r")
phase    str      no       phase of continued training ("1", "2", ...)
step     int      no       global optimizer step, counted across phases
group_id str      no       one prompt's group of responses within (lineage, phase, step, split)
prompt   str      no       the prompt text
response str      no       one sampled response
reward   float    yes      the response's total reward
entropy  float    yes      mean per-token entropy of the response (nats)
n_tokens int      yes      number of response tokens
split    str      no       "train" (training rollouts) or "eval"
task     str      yes      task name, when a run trains or evaluates several
======== ======== ======== ==================================================

A *group* is all rows sharing (lineage, phase, step, split, group_id): the G
responses sampled for one prompt at one step. Metrics are computed per group.
"""

from __future__ import annotations

import polars as pl

COLUMNS: dict[str, pl.DataType] = {
    "lineage": pl.String(),
    "phase": pl.String(),
    "step": pl.Int64(),
    "group_id": pl.String(),
    "prompt": pl.String(),
    "response": pl.String(),
    "reward": pl.Float64(),
    "entropy": pl.Float64(),
    "n_tokens": pl.Int64(),
    "split": pl.String(),
    "task": pl.String(),
}
SPLITS = ("train", "eval")
# The columns that identify one group of responses to one prompt.
GROUP_KEYS = ("lineage", "phase", "step", "split", "group_id")


def empty_frame() -> pl.DataFrame:
    """A zero-row frame with the canonical columns and types."""
    return pl.DataFrame(schema=COLUMNS)


def order_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Canonical columns first, in schema order, then the rest as they came."""
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame.select([*COLUMNS, *extra])
