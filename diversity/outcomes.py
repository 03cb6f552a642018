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


@dataclass(frozen=True)
class OutcomeSources:
    """Which outcome inputs a whole log has, decided over all its rows: a log scored a chunk at a time
    (:mod:`diversity.streaming`) gives every chunk the choice :func:`read_outcomes` makes on the whole log."""

    correct_column: str | None
    """the first of ``CORRECT_COLUMNS`` that holds correct flags in every row that has it; None: none does"""
    has_rewards: bool
    """whether any row has a reward"""
    problems: tuple[str, ...] = ()
    """why a correct-flag column present in the log was not used, e.g. column 'acc' holds 0.5, not only 0 and 1"""


class OutcomeSurvey:
    """Looks at a log's rows a chunk at a time (:meth:`add`), then says what :func:`read_outcomes` would
    choose for all of them together (:meth:`sources`)."""

    def __init__(self) -> None:
        self._present: dict[str, None] = {}
        self._problems: dict[str, str] = {}
        self._typed: set[str] = set()
        self._rewards = False

    def add(self, frame: pl.DataFrame) -> None:
        for name in CORRECT_COLUMNS:
            if name not in frame.columns:
                continue
            self._present.setdefault(name)
            column = frame[name]
            if name in self._problems or column.null_count() == column.len():
                continue  # an all-null piece says nothing about the column's values
            self._typed.add(name)
            problem = _flags(column)[1]
            if problem:
                self._problems[name] = problem
        if not self._rewards and "reward" in frame.columns:
            self._rewards = frame["reward"].null_count() < frame.height

    def sources(self) -> OutcomeSources:
        problems = []
        for name in self._present:
            if name in self._problems:
                problems.append(f"column {name!r} {self._problems[name]}")
            elif name not in self._typed:
                problems.append(f"column {name!r} holds null, not booleans")
            else:
                return OutcomeSources(name, self._rewards, tuple(problems))
        return OutcomeSources(None, self._rewards, tuple(problems))


def read_outcomes(frame: pl.DataFrame, correct_threshold: float | None = None,
                  sources: OutcomeSources | None = None) -> Outcomes:
    """The outcomes of ``frame``'s rows (canonical schema, plus whatever columns the log had); with
    ``sources``, the inputs are those the whole log has (``frame`` being one chunk of it)."""
    threshold = _check_threshold(correct_threshold)
    if sources is not None:
        return _outcomes_from(frame, threshold, sources)
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


def _outcomes_from(frame: pl.DataFrame, threshold: float | None, sources: OutcomeSources) -> Outcomes:
    """What :func:`read_outcomes` gives for ``frame``'s rows as part of a log whose inputs are ``sources``."""
    unknown = np.full(frame.height, np.nan)
    missing = {} if sources.has_rewards else {"reward": "the rollouts have no rewards"}
    reward = (_rewards(frame) if "reward" in frame.columns else None) if sources.has_rewards else None
    if sources.has_rewards and reward is None:
        reward = unknown.copy()
    name = sources.correct_column
    if name is not None:
        column = frame[name] if name in frame.columns else None
        empty = column is None or column.null_count() == column.len()
        if threshold is not None:
            log.warning("correctness from column %r; --correct-threshold %g is not used", name, threshold)
        return Outcomes(unknown.copy() if empty else _flags(column)[0], reward, f"column {name!r}", missing)
    if threshold is not None and reward is not None:
        correct = np.where(np.isnan(reward), np.nan, (reward >= threshold).astype(np.float64))
        return Outcomes(correct, reward, f"reward >= {threshold:g}", missing)
    missing["correct"] = _why_unknown(list(sources.problems), threshold, reward is not None)
    return Outcomes(None, reward, "", missing)


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
