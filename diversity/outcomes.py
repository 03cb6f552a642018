"""Which responses are correct, and their rewards: the inputs of the correctness-aware metrics.

What counts as correct, in this order (SPEC.md §1):

1. a column of the log that says so, the first of ``CORRECT_COLUMNS`` present:
   ``correct`` (this project's name), ``acc`` (what verl's reward functions
   return beside the score, e.g. math_dapo, and verl writes into its rollout
   dumps), ``exact_match`` (lm-eval's per-sample metric). It must hold
   booleans or numbers that are exactly 0 or 1; null means unknown.
2. else reward >= a threshold the user sets (``correct_threshold=``,
   ``--correct-threshold``); a null reward means unknown.
3. else unknown, and the metrics that need it are skipped with one line
   saying why. Nothing is guessed: not from rewards without a threshold, and
   not from NoveltyBench's partitions, which group equivalent answers, not
   correct ones.

A group holding a response of unknown correctness (or a null reward) gets no
value (null) for the metrics that need it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from rollout_common.errors import OptionError

log = logging.getLogger("diversity")

CORRECT_COLUMNS = ("correct", "acc", "exact_match")


@dataclass(frozen=True)
class Outcomes:
    """Per response, in the frame's row order: correct (1.0 / 0.0, NaN unknown) and reward (NaN missing)."""

    correct: np.ndarray | None
    """(N,) or None when no source says which responses are correct"""
    reward: np.ndarray | None
    """(N,) or None when the log has no rewards"""
    correct_source: str = ""
    """where ``correct`` came from: "column 'acc'" or "reward >= 1.0"; empty when unknown"""
    missing: dict[str, str] = field(default_factory=dict)
    """input name ("correct", "reward") -> why it is not available, as one sentence"""

    def values(self, need: str) -> np.ndarray | None:
        return self.correct if need == "correct" else self.reward


def read_outcomes(frame: pl.DataFrame, correct_threshold: float | None = None) -> Outcomes:
    """The outcomes of ``frame``'s rows (canonical schema, plus whatever columns the log had)."""
    threshold = _check_threshold(correct_threshold)
    reward, missing = _rewards(frame), {}
    if reward is None:
        missing["reward"] = "the rollouts have no rewards"
    correct, source, skipped = None, "", []
    for name in CORRECT_COLUMNS:
        if name not in frame.columns:
            continue
        flags, problem = _flags(frame[name])
        if flags is not None:
            correct, source = flags, f"column {name!r}"
            if threshold is not None:
                log.warning("correctness from column %r; --correct-threshold %g is not used", name, threshold)
            break
        skipped.append(f"column {name!r} {problem}")
    if correct is None and threshold is not None and reward is not None:
        correct = np.where(np.isnan(reward), np.nan, (reward >= threshold).astype(np.float64))
        source = f"reward >= {threshold:g}"
    if correct is None:
        missing["correct"] = _why_unknown(skipped, threshold, reward is not None)
    return Outcomes(correct, reward, source, missing)


def _check_threshold(threshold) -> float | None:
    if threshold is None:
        return None
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise OptionError(f"correct_threshold must be a number (a response is correct when reward >= it), "
                          f"not {threshold!r}") from None
    if not math.isfinite(value):
        raise OptionError(f"correct_threshold must be finite, not {threshold!r}")
    return value


def _rewards(frame: pl.DataFrame) -> np.ndarray | None:
    """(N,) rewards, NaN where null; None when the frame has no reward column or only nulls in it."""
    if "reward" not in frame.columns or (frame.height and frame["reward"].null_count() == frame.height):
        return None
    return frame["reward"].cast(pl.Float64).fill_null(np.nan).to_numpy()


def _flags(column: pl.Series) -> tuple[np.ndarray | None, str]:
    """(1.0 / 0.0 / NaN per row, "") when the column holds correct flags, else (None, what it holds)."""
    if column.dtype == pl.Boolean:
        return column.cast(pl.Float64).fill_null(np.nan).to_numpy(), ""
    if not column.dtype.is_numeric():
        return None, f"holds {column.dtype}, not booleans"
    values = column.cast(pl.Float64)
    odd = values.filter(values.is_not_null() & ~values.is_in([0.0, 1.0]))
    if odd.len():
        return None, f"holds {odd[0]!r}, not only 0 and 1"
    return values.fill_null(np.nan).to_numpy(), ""


def _why_unknown(skipped: list[str], threshold: float | None, has_rewards: bool) -> str:
    said = f" ({'; '.join(skipped)})" if skipped else ""
    if threshold is not None:  # a threshold, but nothing to compare it with
        return f"the rollouts have no correct-flag column{said} and no rewards to compare with --correct-threshold"
    fix = "pass --correct-threshold (correct_threshold=) to count reward >= it as correct" if has_rewards else \
        f"add a boolean column, one of {', '.join(CORRECT_COLUMNS)}"
    return f"nothing says which responses are correct: no column {', '.join(CORRECT_COLUMNS)}{said}; {fix}"
