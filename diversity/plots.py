"""Phase-wise comparison figures (SPEC.md §4). Each function only draws.

Inputs are small tidy tables, so the figures work for any number of lineages
and phases and from any source (a trainer run's metrics, rollout logs, saved
scores):

- ``entropy_figure``: rows (lineage, phase, step, entropy).
- ``reward_figure``: rows (lineage, phase, step, task, reward), eval rewards.
- ``diversity_figure``: a ``Scores.summary`` table, rows (lineage, phase, step,
  split, ``<metric>_mean``, ``<metric>_se``).
- ``pass_at_k_figure``: rows (lineage, phase, step, split, task, k, pass_at_k),
  from :func:`diversity.analysis.pass_at_k_table`.

:func:`make_figures` draws every figure an :class:`~diversity.analysis.Analysis`
supports, with its caption.

Lineages that share a history (a fork at a phase boundary) are drawn as one
line up to the fork: pass ``parents={"child": "parent"}`` and the child's line
starts from the parent's last point before the child's first step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from rollout_common.errors import OptionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from diversity.analysis import Analysis

PHASE2_PANELS = ("repetition_fraction", "pairwise_cosine", "vendi_score", "centroid_distance")


def lineage_colors(lineages: Sequence[str]) -> dict[str, str]:
    """One colour per lineage, fixed by sorted name, so every figure agrees."""
    palette = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
        "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
    ]
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(set(lineages)))}


def phase_boundaries(frame: pl.DataFrame) -> list[tuple[str, int]]:
    """(phase, first step) for every phase after the first, in step order."""
    starts = frame.group_by("phase").agg(pl.col("step").min()).sort("step")
    return [(row["phase"], row["step"]) for row in starts.iter_rows(named=True)][1:]


def with_parent_history(
    frame: pl.DataFrame, lineage: str, parents: Mapping[str, str] | None, value: str
) -> pl.DataFrame:
    """The lineage's (step, value) points, led by its parent's last point before the fork."""
    own = frame.filter(pl.col("lineage") == lineage).sort("step")
    parent = (parents or {}).get(lineage)
    if parent is None or own.is_empty():
        return own
    before = frame.filter((pl.col("lineage") == parent) & (pl.col("step") < own["step"].min())).sort("step")
    return pl.concat([before.tail(1), own], how="diagonal_relaxed") if not before.is_empty() else own


def _new_axes(figsize=(7.5, 4.2)) -> tuple["Figure", "Axes"]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def _mark_boundaries(ax: "Axes", boundaries: list[tuple[str, int]]) -> None:
    for phase, step in boundaries:
        ax.axvline(step, color="0.4", linestyle=":", linewidth=1.2, gid=f"boundary-{phase}")
        ax.annotate(
            f"phase {phase} starts", xy=(step, 1.0), xycoords=("data", "axes fraction"),
            xytext=(3, -12), textcoords="offset points", fontsize=8, color="0.3",
        )


def _mean_per_step(frame: pl.DataFrame, value: str, keys: Sequence[str]) -> pl.DataFrame:
    """Mean of ``value`` per key, with its standard error across the rows averaged
    (across seeds, when several runs of a lineage are given); 0 for a single row."""
    return (
        frame.drop_nulls(value)
        .group_by(*keys)
        .agg(pl.col(value).std().fill_null(0.0).truediv(pl.len().sqrt()).alias("se"), pl.col(value).mean())
        .sort(*keys)
    )


def _line_with_band(ax: "Axes", line: pl.DataFrame, value: str, **style) -> None:
    """The mean line, and a ±1 s.e. band where several runs were averaged."""
    ax.plot(line["step"], line[value], **style)
    se = line["se"].fill_null(0.0).to_numpy()
    if (se > 0).any():
        mean = line[value].to_numpy()
        ax.fill_between(line["step"], mean - se, mean + se, color=style["color"], alpha=0.15, linewidth=0)


def entropy_figure(entropy: pl.DataFrame, parents: Mapping[str, str] | None = None) -> "Figure":
    """Figure 1: token-mean policy entropy over global step, every lineage, phase boundaries marked.

    Several runs of one lineage (seeds) are averaged, with a ±1 s.e. band."""
    points = _mean_per_step(entropy, "entropy", ("lineage", "phase", "step"))
    colors = lineage_colors(points["lineage"].to_list())
    figure, ax = _new_axes()
    for lineage in sorted(colors):
        line = with_parent_history(points, lineage, parents, "entropy")
        _line_with_band(ax, line, "entropy", color=colors[lineage], label=lineage, linewidth=1.8)
    _mark_boundaries(ax, phase_boundaries(points))
    ax.set_xlabel("global training step")
    ax.set_ylabel("token-mean entropy (nats)")
    ax.set_title("Policy entropy across phases")
    ax.legend(title="lineage", fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def reward_figure(
    evals: pl.DataFrame, tasks: Sequence[str] | None = None, parents: Mapping[str, str] | None = None
) -> "Figure":
    """Figure 2: eval reward over global step; first task solid on the left axis, second dashed on the right."""
    points = _mean_per_step(evals, "reward", ("lineage", "phase", "task", "step"))
    tasks = list(tasks) if tasks is not None else _tasks_in_phase_order(points)
    if not 1 <= len(tasks) <= 2:
        raise ValueError(f"reward_figure draws one or two tasks, got {tasks}")
    colors = lineage_colors(points["lineage"].to_list())
    figure, left = _new_axes()
    axes = [left, left.twinx()] if len(tasks) == 2 else [left]
    for ax, task, style in zip(axes, tasks, ("-", "--")):
        rows = points.filter(pl.col("task") == task)
        for lineage in sorted(colors):
            line = with_parent_history(rows, lineage, parents, "reward")
            if not line.is_empty():
                _line_with_band(ax, line, "reward", linestyle=style, color=colors[lineage],
                                label=f"{lineage} · task {task}", linewidth=1.8)
        ax.set_ylabel(f"task {task} eval reward ({'solid' if style == '-' else 'dashed'}; higher = better)")
    _mark_boundaries(left, phase_boundaries(points))
    left.set_xlabel("global training step")
    left.set_title("Eval reward across phases")
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    labels = [label for ax in axes for label in ax.get_legend_handles_labels()[1]]
    left.legend(handles, labels, fontsize=7, loc="lower left")
    left.grid(alpha=0.3)
    return figure


def _tasks_in_phase_order(points: pl.DataFrame) -> list[str]:
    """Tasks ordered by the first phase in which they were trained or evaluated, at most two."""
    order = points.group_by("task").agg(pl.col("step").min()).sort("step", "task")
    return order["task"].to_list()[:2]


def diversity_figure(
    summary: pl.DataFrame,
    metrics: Sequence[str] = PHASE2_PANELS,
    phase: str | None = None,
    split: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> "Figure":
    """Figure 3: intra-prompt diversity per lineage, one panel per metric, ±1 standard error band.

    ``phase`` defaults to the last phase; ``split`` to eval when present, else train.
    ``labels`` maps a metric to its axis label (default: the metric registry's).
    """
    from matplotlib.figure import Figure

    phase = phase if phase is not None else sorted(summary["phase"].unique().to_list())[-1]
    if split is None:
        split = "eval" if "eval" in summary["split"].unique().to_list() else "train"
    rows = summary.filter((pl.col("phase") == phase) & (pl.col("split") == split))
    labels = dict(labels) if labels is not None else metric_labels(metrics)
    colors = lineage_colors(summary["lineage"].to_list())
    columns = 2 if len(metrics) > 1 else 1
    panel_rows = -(-len(metrics) // columns)
    figure = Figure(figsize=(5.2 * columns, 3.4 * panel_rows), layout="constrained")
    axes = figure.subplots(panel_rows, columns, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        for lineage in sorted(colors):
            line = rows.filter(pl.col("lineage") == lineage).sort("step")
            if line.is_empty():
                continue
            mean, se = line[f"{metric}_mean"].to_numpy(), line[f"{metric}_se"].fill_null(0).to_numpy()
            ax.plot(line["step"], mean, color=colors[lineage], label=lineage, linewidth=1.8)
            ax.fill_between(line["step"], mean - se, mean + se, color=colors[lineage], alpha=0.18, linewidth=0)
        ax.set_title(metric.replace("_", " "))
        ax.set_ylabel(labels.get(metric, metric), fontsize=8)
        ax.set_xlabel("global training step")
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    axes[0].legend(title="lineage", fontsize=8)
    figure.suptitle(f"Intra-prompt diversity, phase {phase} ({split} groups; band = ±1 s.e. across groups)")
    return figure


def pass_at_k_figure(table: pl.DataFrame, parents: Mapping[str, str] | None = None,
                     split: str | None = None) -> "Figure":
    """pass@1 (solid) and pass@G (dashed) over global step per lineage (left), and the pass@k curve for
    k = 1 .. G at the first (dotted) and last (solid) step of each phase (right); a row of panels per task.

    ``split`` defaults to eval when present, else train. G is each step's group size (the smallest, when
    groups differ).
    """
    from matplotlib.figure import Figure

    if split is None:
        split = "eval" if "eval" in table["split"].unique().to_list() else "train"
    rows = table.filter(pl.col("split") == split)
    tasks = sorted(rows["task"].unique().to_list())
    colors = lineage_colors(table["lineage"].to_list())
    figure = Figure(figsize=(11.0, 3.6 * len(tasks)), layout="constrained")
    axes = figure.subplots(len(tasks), 2, squeeze=False)
    for (over_steps, curve), task in zip(axes, tasks):
        part = rows.filter(pl.col("task") == task)
        largest = part.group_by("lineage", "phase", "step").agg(pl.col("k").max().alias("G"))
        ends = {"pass@1": part.filter(pl.col("k") == 1),
                "pass@G": part.join(largest, on=["lineage", "phase", "step"]).filter(pl.col("k") == pl.col("G"))}
        for lineage in sorted(colors):
            for (label, points), style in zip(ends.items(), ("-", "--")):
                line = with_parent_history(points, lineage, parents, "pass_at_k")
                if not line.is_empty():
                    over_steps.plot(line["step"], line["pass_at_k"], linestyle=style, color=colors[lineage],
                                    label=f"{lineage} · {label}", linewidth=1.8)
            _draw_curves(curve, part.filter(pl.col("lineage") == lineage), lineage, colors[lineage])
        _mark_boundaries(over_steps, phase_boundaries(part))
        suffix = f" · task {task}" if task != "-" else ""
        over_steps.set(xlabel="global training step", ylabel="pass@k (higher = more often solved)",
                       title=f"pass@1 (solid) and pass@G (dashed){suffix}", ylim=(-0.02, 1.02))
        curve.set(xlabel="k (responses drawn from the group)", ylabel="pass@k",
                  title=f"pass@k against k: first (dotted), last (solid) step per phase{suffix}", ylim=(-0.02, 1.02))
        for ax in (over_steps, curve):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6.5)
    figure.suptitle(f"Unbiased pass@k (Chen et al. 2021), {split} groups")
    return figure


def _draw_curves(ax: "Axes", rows: pl.DataFrame, lineage: str, color: str) -> None:
    """One lineage's pass@k against k at the first and the last step of each of its phases."""
    for phase in sorted(rows["phase"].unique().to_list()):
        steps = rows.filter(pl.col("phase") == phase)["step"]
        for step, style in ((steps.min(), ":"), (steps.max(), "-")):
            if style == ":" and steps.min() == steps.max():
                continue
            at = rows.filter((pl.col("phase") == phase) & (pl.col("step") == step)).sort("k")
            ax.plot(at["k"], at["pass_at_k"], linestyle=style, marker="o", markersize=3, color=color,
                    label=f"{lineage} · phase {phase} · step {step}", linewidth=1.5)


def metric_labels(metrics: Sequence[str]) -> dict[str, str]:
    """Axis labels with the direction, from the metric registry."""
    from diversity.metrics.registry import METRICS

    labels = {}
    for name in metrics:
        spec = METRICS.get(name)
        labels[name] = spec.axis_label if spec is not None else name
    return labels


def make_figures(analysis: Analysis, extra_metrics: Sequence[str] = ()) -> list[tuple[str, str, Figure]]:
    """(file stem, caption, figure) for every figure the analysis supports, in report order."""
    summary = analysis.scores.summary
    figures = []
    if analysis.entropy.height:
        figures.append(("entropy", "Figure 1. Token-mean policy entropy over global step.",
                        entropy_figure(analysis.entropy, analysis.parents)))
    if analysis.evals.height:
        figures.append(("eval_reward",
                        "Figure 2. Eval reward over global step: first task solid (left axis), "
                        "second task dashed (right axis).",
                        reward_figure(analysis.evals, parents=analysis.parents)))
    panels = [m for m in PHASE2_PANELS if m in analysis.metric_names]
    if summary.height and panels:
        figures.append(("diversity",
                        "Figure 3. Intra-prompt diversity in the last phase, per lineage "
                        "(band: ±1 standard error across groups).",
                        diversity_figure(summary, panels)))
    if analysis.pass_at_k.height:
        figures.append(("pass_at_k",
                        "Figure 4. Unbiased pass@k per lineage: pass@1 (solid) and pass@G (dashed) over global "
                        "step, and the pass@k curve, k = 1..G, at the first (dotted) and last (solid) step of each "
                        "phase.",
                        pass_at_k_figure(analysis.pass_at_k, analysis.parents)))
    unknown = [m for m in extra_metrics if m not in analysis.metric_names]
    if unknown:
        raise OptionError(f"--extra-metric {', '.join(unknown)} was not scored; scored: {', '.join(analysis.metric_names)}")
    if summary.height and extra_metrics:
        figures.append(("extra_metrics", f"Further metrics: {', '.join(extra_metrics)}.",
                        diversity_figure(summary, list(extra_metrics))))
    return figures
