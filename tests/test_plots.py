"""Figures are checked by content: lines per lineage, boundary position, labels, colours."""

from __future__ import annotations

import matplotlib.colors as mcolors
import polars as pl
import pytest

from diversity import plots


def entropy_rows() -> pl.DataFrame:
    rows = []
    for step in range(0, 10):
        rows.append({"lineage": "grpo", "phase": "1", "step": step, "entropy": 2.0 - 0.1 * step})
        rows.append({"lineage": "repo_r", "phase": "1", "step": step, "entropy": 2.0})
    for step in range(10, 20):
        rows.append({"lineage": "grpo", "phase": "2", "step": step, "entropy": 1.0 - 0.04 * (step - 10)})
        rows.append({"lineage": "repo_r", "phase": "2", "step": step, "entropy": 2.0})
        rows.append({"lineage": "repo_r_raised", "phase": "2", "step": step, "entropy": 2.3})
    return pl.DataFrame(rows)


def lines_by_label(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_entropy_figure_one_line_per_lineage_and_boundary_at_phase_2() -> None:
    figure = plots.entropy_figure(entropy_rows(), parents={"repo_r_raised": "repo_r"})
    ax = figure.axes[0]
    lines = lines_by_label(ax)
    assert set(lines) == {"grpo", "repo_r", "repo_r_raised"}
    boundaries = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("boundary")]
    assert [line.get_xdata()[0] for line in boundaries] == [10]
    # The fork starts from its parent's last phase-1 point, so the two lines join there.
    fork = lines["repo_r_raised"]
    assert list(fork.get_xdata()[:2]) == [9, 10] and fork.get_ydata()[0] == 2.0
    assert "entropy (nats)" in ax.get_ylabel() and "step" in ax.get_xlabel()


def test_colours_are_consistent_across_figures() -> None:
    entropy = plots.entropy_figure(entropy_rows())
    evals = entropy_rows().rename({"entropy": "reward"}).with_columns(task=pl.lit("A"))
    reward = plots.reward_figure(evals)
    a = {k: mcolors.to_hex(v.get_color()) for k, v in lines_by_label(entropy.axes[0]).items()}
    b = {k.split(" · ")[0]: mcolors.to_hex(v.get_color()) for k, v in lines_by_label(reward.axes[0]).items()}
    assert a == b and len(set(a.values())) == 3


def test_reward_figure_two_tasks_on_two_axes_solid_and_dashed() -> None:
    rows = []
    for lineage in ("grpo", "repo_r"):
        for step in range(0, 20, 5):
            phase = "1" if step < 10 else "2"
            rows.append({"lineage": lineage, "phase": phase, "step": step, "task": "A", "reward": 0.5})
            rows.append({"lineage": lineage, "phase": phase, "step": step, "task": "B", "reward": 0.2})
    figure = plots.reward_figure(pl.DataFrame(rows).with_columns(pl.col("task")))
    left, right = figure.axes[0], figure.axes[1]
    assert {line.get_linestyle() for line in lines_by_label(left).values()} == {"-"}
    assert {line.get_linestyle() for line in lines_by_label(right).values()} == {"--"}
    assert "task A" in left.get_ylabel() and "task B" in right.get_ylabel()
    boundaries = [line for line in left.get_lines() if (line.get_gid() or "").startswith("boundary")]
    assert [line.get_xdata()[0] for line in boundaries] == [10]


def test_diversity_figure_four_panels_with_standard_error_bands() -> None:
    metrics = ("repetition_fraction", "pairwise_cosine", "vendi_score", "centroid_distance")
    rows = []
    for lineage, level in (("grpo", 0.8), ("repo_r", 0.5)):
        for step in (10, 15, 20):
            row = {"lineage": lineage, "phase": "2", "step": step, "split": "eval"}
            for m in metrics:
                row[f"{m}_mean"], row[f"{m}_se"] = level, 0.05
            rows.append(row)
    labels = {m: f"{m} (higher = more alike)" for m in metrics}
    figure = plots.diversity_figure(pl.DataFrame(rows), metrics, labels=labels)
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert len(axes) == 4
    for ax, metric in zip(axes, metrics):
        assert set(lines_by_label(ax)) == {"grpo", "repo_r"}
        assert len(ax.collections) == 2  # one ±s.e. band per lineage
        assert ax.get_ylabel() == labels[metric]
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        assert band.min() == pytest.approx(0.75) and band.max() == pytest.approx(0.85)


def test_phase_boundaries_lists_each_later_phase_start() -> None:
    assert plots.phase_boundaries(entropy_rows()) == [("2", 10)]


def test_several_seeds_of_a_lineage_are_averaged_with_a_band() -> None:
    rows = [{"lineage": "grpo", "phase": "1", "step": step, "entropy": 1.0 + seed, "seed": seed}
            for seed in (0, 2) for step in range(5)]
    ax = plots.entropy_figure(pl.DataFrame(rows)).axes[0]
    assert list(lines_by_label(ax)["grpo"].get_ydata()) == [2.0] * 5
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(1.0) and band.max() == pytest.approx(3.0)  # s.e. of (1, 3) is 1


def pass_rows() -> pl.DataFrame:
    """Two lineages, two phases, G = 4: grpo's pass@1 rises, repo_r's holds; one task."""
    rows = []
    for lineage in ("grpo", "repo_r"):
        for step in (0, 5, 10, 15):
            phase = "1" if step < 10 else "2"
            for k in range(1, 5):
                value = min(1.0, 0.2 * k + (0.05 * step if lineage == "grpo" else 0.0))
                rows.append({"lineage": lineage, "phase": phase, "step": step, "split": "eval", "task": "A",
                             "k": k, "pass_at_k": value})
    return pl.DataFrame(rows)


def test_pass_at_k_figure_draws_pass_1_and_pass_g_over_steps_and_the_curves_at_phase_ends() -> None:
    figure = plots.pass_at_k_figure(pass_rows())
    over_steps, curve = figure.axes[:2]
    lines = lines_by_label(over_steps)
    assert set(lines) == {f"{lin} · {label}" for lin in ("grpo", "repo_r") for label in ("pass@1", "pass@G")}
    assert lines["grpo · pass@1"].get_linestyle() == "-" and lines["grpo · pass@G"].get_linestyle() == "--"
    assert list(lines["grpo · pass@1"].get_ydata()) == pytest.approx([0.2, 0.45, 0.7, 0.95])
    assert list(lines["grpo · pass@G"].get_ydata()) == [0.8, 1.0, 1.0, 1.0]  # k = G = 4
    boundaries = [line for line in over_steps.get_lines() if (line.get_gid() or "").startswith("boundary")]
    assert [line.get_xdata()[0] for line in boundaries] == [10]
    curves = lines_by_label(curve)
    assert set(curves) == {f"{lin} · phase {p} · step {s}" for lin in ("grpo", "repo_r") for p, s in
                           (("1", 0), ("1", 5), ("2", 10), ("2", 15))}
    first, last = curves["grpo · phase 1 · step 0"], curves["grpo · phase 1 · step 5"]
    assert first.get_linestyle() == ":" and last.get_linestyle() == "-"
    assert list(first.get_xdata()) == [1, 2, 3, 4] and list(first.get_ydata()) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert "pass@k" in over_steps.get_ylabel() and "k" in curve.get_xlabel()


def test_pass_at_k_figure_has_a_row_of_panels_per_task() -> None:
    rows = pl.concat([pass_rows(), pass_rows().with_columns(task=pl.lit("B"))])
    figure = plots.pass_at_k_figure(rows)
    assert len(figure.axes) == 4 and "task B" in figure.axes[2].get_title()
