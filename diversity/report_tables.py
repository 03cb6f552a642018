"""The report's tables, as pure functions on tidy frames (no I/O, no HTML).

- :func:`headline`: per lineage and phase, entropy, reward per task and each
  diversity metric at the phase's first and last step, with the change, and
  a collapse flag.
- :func:`most_collapsed_prompts`: the prompts whose groups are least diverse at
  the last step, with every lineage's answers to the same prompt at that step.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

# Entropy falling below this fraction of its phase-start value is flagged as collapse.
COLLAPSE_RATIO = 0.5


def first_last(frame: pl.DataFrame, value: str, keys: Sequence[str] = ("lineage", "phase")) -> pl.DataFrame:
    """Per ``keys``: the step-mean of ``value`` at the first and at the last step present."""
    per_step = frame.drop_nulls(value).group_by(*keys, "step").agg(pl.col(value).mean()).sort(*keys, "step")
    return per_step.group_by(*keys, maintain_order=True).agg(
        pl.col("step").first().alias("first_step"),
        pl.col("step").last().alias("last_step"),
        pl.col(value).first().alias("start"),
        pl.col(value).last().alias("end"),
    )


def headline(
    entropy: pl.DataFrame,
    evals: pl.DataFrame,
    summary: pl.DataFrame,
    metrics: Sequence[str],
) -> pl.DataFrame:
    """One row per (lineage, phase, quantity): start, end, change, and a collapse flag.

    ``entropy``: (lineage, phase, step, entropy); ``evals``: (lineage, phase, step,
    task, reward); ``summary``: a Scores summary with ``<metric>_mean`` columns.
    Diversity is read from eval groups when a phase has them, else train groups.
    """
    parts = []
    if not entropy.is_empty():
        ent = first_last(entropy, "entropy").with_columns(quantity=pl.lit("entropy (nats)"))
        parts.append(ent.with_columns(collapsed=pl.col("end") < COLLAPSE_RATIO * pl.col("start")))
    if not evals.is_empty():
        rew = first_last(evals, "reward", ("lineage", "phase", "task"))
        parts.append(
            rew.with_columns(quantity=pl.format("task {} eval reward", pl.col("task")), collapsed=pl.lit(False))
            .drop("task")
        )
    if not summary.is_empty():
        preferred = _preferred_split(summary)
        for metric in metrics:
            column = f"{metric}_mean"
            if column not in summary.columns:
                continue
            part = first_last(preferred.rename({column: "value"}), "value")
            parts.append(part.with_columns(quantity=pl.lit(metric), collapsed=pl.lit(False)))
    if not parts:
        return pl.DataFrame()
    table = pl.concat([p.select("lineage", "phase", "quantity", "first_step", "last_step", "start", "end", "collapsed")
                       for p in parts], how="vertical_relaxed")
    return table.with_columns(change=pl.col("end") - pl.col("start")).sort("lineage", "phase", maintain_order=True)


def _preferred_split(summary: pl.DataFrame) -> pl.DataFrame:
    """Per (lineage, phase), eval rows when there are any, else train rows."""
    has_eval = summary.group_by("lineage", "phase").agg((pl.col("split") == "eval").any().alias("has_eval"))
    joined = summary.join(has_eval, on=["lineage", "phase"])
    return joined.filter(pl.when(pl.col("has_eval")).then(pl.col("split") == "eval").otherwise(True)).drop("has_eval")


def most_collapsed_prompts(
    groups: pl.DataFrame,
    rollouts: pl.DataFrame,
    metric: str = "vendi_score",
    lower_is_collapsed: bool = True,
    prompts: int = 3,
) -> list[dict]:
    """The ``prompts`` least diverse prompts at the last step every lineage shares.

    Returns, per prompt: its text, the step, and for each lineage its answers and
    metric value at that step. Prompts are compared by text, so the same prompt
    is matched across lineages whatever their group ids.
    """
    if groups.is_empty() or metric not in groups.columns:
        return []
    last_phase = sorted(groups["phase"].unique().to_list())[-1]
    candidates = groups.filter(pl.col("phase") == last_phase)
    split = "eval" if "eval" in candidates["split"].unique().to_list() else "train"
    candidates = candidates.filter(pl.col("split") == split)
    step = candidates["step"].max()
    at_step = candidates.filter(pl.col("step") == step)
    order = at_step.group_by("prompt").agg(pl.col(metric).mean().alias("value"))
    order = order.sort("value", descending=not lower_is_collapsed, nulls_last=True).head(prompts)
    chosen = []
    for prompt, _value in order.iter_rows():
        answers = rollouts.filter(
            (pl.col("phase") == last_phase) & (pl.col("split") == split)
            & (pl.col("step") == step) & (pl.col("prompt") == prompt)
        )
        lineages = []
        for lineage in sorted(answers["lineage"].unique().to_list()):
            value = at_step.filter((pl.col("prompt") == prompt) & (pl.col("lineage") == lineage))[metric].mean()
            lineages.append({
                "lineage": lineage,
                "value": value,
                "responses": answers.filter(pl.col("lineage") == lineage)["response"].to_list(),
            })
        chosen.append({"prompt": prompt, "step": step, "phase": last_phase, "split": split, "lineages": lineages})
    return chosen
