"""Per-step tables from every rollout, a chunk of whole groups at a time: sums and counts added up.

:class:`StepTotals` takes the rows a chunk at a time (:meth:`~StepTotals.add`)
and gives the three tables a report reads from every rollout, whatever split
was scored:

- :meth:`~StepTotals.steps`: per (lineage, phase, step, split): groups,
  answers, and the mean reward, entropy and tokens (``n_tokens``);
- :meth:`~StepTotals.train_entropy`: per (lineage, phase, step, and seed when
  the logs have one): the mean entropy of the train rollouts;
- :meth:`~StepTotals.evals`: per (lineage, phase, step, task, and seed): the
  mean reward of the eval rollouts (task null is ``"-"``).

Each chunk holds whole groups, so a step's group count is the sum of its
chunks' counts. A mean is kept per chunk with its sum and count: a key seen in
one chunk keeps that chunk's mean, the same number the whole log's would be;
one seen in several gets the sum of its sums over the sum of its counts,
equal to the whole log's mean up to floating-point rounding. Null values are
not counted; a key with none gets a null mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

STEP_KEYS = ("lineage", "phase", "step", "split")
SEED = "seed"
_PIECES = "_pieces"


class StepTotals:
    """The per-step tables of the rows added so far."""

    def __init__(self) -> None:
        self.has_seed = False
        self._steps: list[pl.DataFrame] = []
        self._entropy: list[pl.DataFrame] = []
        self._evals: list[pl.DataFrame] = []

    def add(self, rows: pl.DataFrame) -> None:
        """One chunk of canonical rows holding whole groups."""
        self.has_seed |= SEED in rows.columns
        if SEED not in rows.columns:
            rows = rows.with_columns(pl.lit(None).alias(SEED))
        self._steps.append(rows.group_by(STEP_KEYS).agg(
            pl.col("group_id").n_unique().alias("groups"), pl.len().alias("answers"),
            *_parts("reward"), *_parts("entropy"), *_parts("n_tokens", "tokens"),
        ))
        train = rows.filter(pl.col("split") == "train").drop_nulls("entropy")
        self._entropy.append(train.group_by("lineage", "phase", "step", SEED).agg(*_parts("entropy")))
        evals = rows.filter((pl.col("split") == "eval") & pl.col("reward").is_not_null())
        self._evals.append(evals.with_columns(pl.col("task").fill_null("-"))
                           .group_by("lineage", "phase", "step", "task", SEED).agg(*_parts("reward")))

    def steps(self) -> pl.DataFrame:
        """Per (lineage, phase, step, split): groups, answers, reward, entropy, tokens."""
        table = _combine(self._steps, STEP_KEYS, ("reward", "entropy", "tokens"), counts=("groups", "answers"))
        return table.with_columns(pl.col("groups", "answers").cast(pl.UInt32)).sort(STEP_KEYS)

    def train_entropy(self) -> pl.DataFrame:
        """Per (lineage, phase, step[, seed]): the mean entropy of train rollouts."""
        table = _combine(self._entropy, ("lineage", "phase", "step", SEED), ("entropy",))
        return self._seeded(table).sort("lineage", "step", "phase", *self._seed())

    def evals(self) -> pl.DataFrame:
        """Per (lineage, phase, step, task[, seed]): the mean eval reward."""
        table = _combine(self._evals, ("lineage", "phase", "step", "task", SEED), ("reward",))
        return self._seeded(table).sort("lineage", "step", "task", "phase", *self._seed())

    def _seed(self) -> list[str]:
        return [SEED] if self.has_seed else []

    def _seeded(self, table: pl.DataFrame) -> pl.DataFrame:
        """Runs of one lineage with different seeds stay apart, so figures can show their spread."""
        return table if self.has_seed else table.drop(SEED)


def _parts(column: str, name: str | None = None) -> list[pl.Expr]:
    """A chunk's mean of ``column``, with the sum and count that add up across chunks."""
    name = name or column
    value = pl.col(column)
    return [value.mean().alias(name), value.sum().alias(f"{name}_sum"), value.count().alias(f"{name}_n")]


def _combine(parts: list[pl.DataFrame], keys: Sequence[str], means: Sequence[str],
             counts: Sequence[str] = ()) -> pl.DataFrame:
    """One row per key: counts added, each mean its one chunk's, else the sums over the counts."""
    table = pl.concat(parts, how="diagonal_relaxed")
    table = table.group_by(keys).agg(
        pl.len().alias(_PIECES), *[pl.col(c).sum() for c in counts],
        *[pl.col(m).first() for m in means], *[pl.col(f"{m}_{p}").sum() for m in means for p in ("sum", "n")],
    )
    combined = [
        pl.when(pl.col(_PIECES) == 1).then(pl.col(m))
        .when(pl.col(f"{m}_n") > 0).then(pl.col(f"{m}_sum") / pl.col(f"{m}_n")).alias(m)
        for m in means
    ]
    return table.select(*keys, *counts, *combined)
