"""Look at groups one by one (notebooks): score hand-made groups, see one prompt's groups across lineages.

Everything here wraps the package's own loaders and scorer, so a notebook
holds no logic of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from diversity.schema import COLUMNS, GROUP_KEYS


def groups_frame(groups: Mapping[str, Sequence[str]], prompt: str = "") -> pl.DataFrame:
    """Named groups of answers as canonical rollouts: one group per name, at step 0."""
    rows = [
        {"lineage": "example", "phase": "1", "step": 0, "group_id": name, "prompt": prompt,
         "response": text, "split": "eval"}
        for name, texts in groups.items() for text in texts
    ]
    return pl.DataFrame(rows).with_columns(
        pl.lit(None, dtype).alias(name) for name, dtype in COLUMNS.items() if name not in rows[0]
    ).select(list(COLUMNS))


def score_groups(
    groups: Mapping[str, Sequence[str]],
    metrics: Sequence[str] | None = None,
    embedder: str = "minilm",
    progress: bool = False,
) -> pl.DataFrame:
    """Score named groups of answers; one row per group, in the order given, a column per metric
    (default: every metric that reads only the answers, not their correctness or rewards)."""
    from diversity.metrics.registry import METRICS
    from diversity.scoring import score

    names = list(metrics) if metrics is not None else [name for name, spec in METRICS.items() if not spec.needs]
    scores = score(groups_frame(groups), metrics=names, embedder=embedder, progress=progress)
    order = pl.DataFrame({"group_id": list(groups), "order": range(len(groups))})
    table = scores.groups.join(order, on="group_id").sort("order")
    return table.select(pl.col("group_id").alias("group"), "group_size", *scores.metrics)


def prompt_view(
    rollouts: pl.DataFrame,
    scores,
    prompt: str,
    step: int | None = None,
    split: str | None = None,
) -> pl.DataFrame:
    """Every lineage's answers to ``prompt`` at one step, with that group's metrics on each row.

    ``scores`` is the :class:`diversity.Scores` of ``rollouts``.
    ``step`` defaults to the last step at which the prompt was sampled; ``split``
    to eval when the prompt has eval groups, else train.
    """
    rows = rollouts.filter(pl.col("prompt") == prompt)
    if rows.is_empty():
        raise KeyError(f"no rollouts for prompt {prompt!r}")
    if split is None:
        split = "eval" if "eval" in rows["split"].unique().to_list() else "train"
    rows = rows.filter(pl.col("split") == split)
    step = rows["step"].max() if step is None else step
    rows = rows.filter(pl.col("step") == step)
    keys = list(GROUP_KEYS)
    return (
        rows.select(*keys, "response", "reward")
        .join(scores.groups.select(*keys, *scores.metrics), on=keys, how="left")
        .sort("lineage", maintain_order=True)
    )
