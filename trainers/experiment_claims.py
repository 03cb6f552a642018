"""The two-phase experiment's claims, checked against its summary tables and the seed's figures.

Reads the summaries `rollout-diversity experiment` writes (training_metrics,
evaluations and scores Parquet files) and gives, per lineage, the quantities
SPEC.md §4 reports, the seed's value beside each, and one PASS/FAIL line per
claim. Spreads are across seeds (± standard deviation) unless stated. The
experiment puts this text in its report; ``benchmarks/experiment_summary.py``
prints it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

import diversity

LINEAGES = ("grpo", "repo_r", "repo_r_raised")
DIVERSITY = ("repetition_fraction", "pairwise_cosine", "vendi_score", "centroid_distance")
# The seed's figures (SPEC.md §4), for the side-by-side table.
SEED = {
    ("grpo", "entropy end/start, phase 1"): "0.24 -> 0.05 (0.21)",
    ("grpo", "entropy end/start, phase 2"): "~0.05 after a brief recovery",
    ("repo_r", "entropy band, 2nd half"): "~0.26 (0.19-0.35)",
    ("repo_r_raised", "entropy band, 2nd half"): "~0.30 (0.22-0.41)",
    ("*", "task A reward, end of phase 1"): "~0.68-0.70 all",
    ("*", "task A retention, end of phase 2"): "~0.65-0.70 all",
    ("grpo", "task B reward peak / end"): "0.67 / 0.61",
    ("repo_r", "task B reward peak / end"): "- / 0.66",
    ("repo_r_raised", "task B reward peak / end"): "- / 0.68",
    ("grpo", "vendi_score"): "2.4 -> 1.9", ("repo_r", "vendi_score"): "~3.0", ("repo_r_raised", "vendi_score"): "~3.3",
    ("grpo", "pairwise_cosine"): "0.79 -> 0.84", ("repo_r", "pairwise_cosine"): "~0.75",
    ("repo_r_raised", "pairwise_cosine"): "~0.72", ("grpo", "repetition_fraction"): "climbs to ~0.28",
}


def mean_sd(values: list[float]) -> str:
    series = pl.Series(values, dtype=pl.Float64)
    sd = series.std() if len(values) > 1 else 0.0
    return f"{series.mean():.3f} ± {sd:.3f}"


def window(frame: pl.DataFrame, fraction: float, last: bool) -> pl.DataFrame:
    """The first or last ``fraction`` of each run's steps."""
    return frame.filter(
        (pl.col("step").rank("ordinal").over("run") > pl.len().over("run") * (1 - fraction)) if last
        else (pl.col("step").rank("ordinal").over("run") <= (pl.len().over("run") * fraction).ceil())
    )


def entropy_claims(metrics: pl.DataFrame, rows: list, claims: list) -> None:
    for phase in ("1", "2"):
        grpo = metrics.filter((pl.col("lineage") == "grpo") & (pl.col("phase") == phase))
        start = window(grpo, 0.1, last=False).group_by("seed").agg(pl.col("entropy").mean())
        end = window(grpo, 0.1, last=True).group_by("seed").agg(pl.col("entropy").mean())
        ratio = start.join(end, on="seed").select(pl.col("entropy_right") / pl.col("entropy"))["entropy_right"].to_list()
        s, e = start["entropy"].mean(), end["entropy"].mean()
        rows.append(("grpo", f"entropy end/start, phase {phase}", f"{s:.3f} -> {e:.3f} ({mean_sd(ratio)})"))
        claims.append((f"GRPO entropy collapses in phase {phase} (end/start < 0.5 for every seed)",
                       all(r < 0.5 for r in ratio)))
    gaps = {}
    for lineage in ("repo_r", "repo_r_raised"):
        runs = metrics.filter(pl.col("lineage") == lineage)
        for phase in sorted(runs["phase"].unique().to_list()):
            half = window(runs.filter(pl.col("phase") == phase), 0.5, last=True)
            q05, q95 = half["entropy"].quantile(0.05), half["entropy"].quantile(0.95)
            target = half["target_entropy"].mean()
            gap = (half["entropy"] - half["target_entropy"]).abs().mean()
            gaps[(lineage, phase)] = (gap, target, half["entropy"].mean())
            rows.append((lineage, f"entropy band, 2nd half, phase {phase}",
                         f"{half['entropy'].mean():.3f} ({q05:.3f}-{q95:.3f}); target {target:.3f}, |gap| {gap:.3f}"))
            at_bound = half["zeta_at_bound"].mean() if "zeta_at_bound" in half.columns else float("nan")
            rows.append((lineage, f"zeta at a bound, 2nd half, phase {phase}", f"{at_bound:.0%}"))
            claims.append((f"{lineage} holds its target in phase {phase} (mean |H - H*| < 10% of H*)",
                           gap < 0.1 * target))
    raised, plain = gaps.get(("repo_r_raised", "2")), gaps.get(("repo_r", "2"))
    if raised and plain:
        claims.append(("the raised target holds more entropy than repo_r through phase 2", raised[2] > plain[2]))


def reward_claims(evals: pl.DataFrame, rows: list, claims: list) -> None:
    end_p1 = {}
    for lineage in ("grpo", "repo_r"):
        a = evals.filter((pl.col("lineage") == lineage) & (pl.col("phase") == "1") & (pl.col("task") == "A"))
        last = a.filter(pl.col("step") == a["step"].max())
        end_p1[lineage] = last["reward_mean"].to_list()
        rows.append((lineage, "task A reward, end of phase 1", mean_sd(end_p1[lineage])))
    claims.append(("task-A reward parity at the end of phase 1 (REPO-R within 0.05 of GRPO)",
                   abs(pl.Series(end_p1["repo_r"]).mean() - pl.Series(end_p1["grpo"]).mean()) < 0.05))
    for lineage in LINEAGES:
        p2 = evals.filter((pl.col("lineage") == lineage) & (pl.col("phase") == "2"))
        a = p2.filter((pl.col("task") == "A") & (pl.col("step") == p2["step"].max()))
        rows.append((lineage, "task A retention, end of phase 2", mean_sd(a["reward_mean"].to_list())))
        b = p2.filter(pl.col("task") == "B").group_by("step").agg(pl.col("reward_mean").mean()).sort("step")
        peak = b.sort("reward_mean").tail(1)
        rows.append((lineage, "task B reward peak / end",
                     f"{peak['reward_mean'][0]:.3f} (step {peak['step'][0]}) / {b['reward_mean'][-1]:.3f}"))


def diversity_claims(scores: diversity.Scores, rows: list, claims: list) -> None:
    summary = scores.summary.filter((pl.col("phase") == "2") & (pl.col("split") == "eval"))
    ends = {}
    for lineage in LINEAGES:
        part = summary.filter(pl.col("lineage") == lineage).sort("step")
        if part.is_empty():
            continue
        for metric in DIVERSITY:
            start, end = part[f"{metric}_mean"][0], part[f"{metric}_mean"][-1]
            se = part[f"{metric}_se"][-1]
            ends[(lineage, metric)] = end
            rows.append((lineage, metric, f"{start:.3f} -> {end:.3f} (± {se:.3f} s.e. across groups)"))
    if ("grpo", "vendi_score") in ends and ("repo_r", "vendi_score") in ends:
        claims.append(("phase-2 end: GRPO's Vendi below REPO-R's",
                       ends[("grpo", "vendi_score")] < ends[("repo_r", "vendi_score")]))
        claims.append(("phase-2 end: GRPO's pairwise cosine above REPO-R's",
                       ends[("grpo", "pairwise_cosine")] > ends[("repo_r", "pairwise_cosine")]))


def claims_text(folder: str | Path = "data/experiment") -> str:
    """The comparison table and the PASS/FAIL lines, as plain text."""
    data = Path(folder)
    metrics = pl.read_parquet(data / "training_metrics.parquet")
    evals = pl.read_parquet(data / "evaluations.parquet")
    scores = diversity.Scores.read_parquet(data / "scores.parquet")
    rows: list[tuple[str, str, str]] = []
    claims: list[tuple[str, bool]] = []
    entropy_claims(metrics, rows, claims)
    reward_claims(evals, rows, claims)
    diversity_claims(scores, rows, claims)
    seeds = metrics["seed"].n_unique()
    lines = [f"{data}: {seeds} seed(s), lineages {', '.join(sorted(metrics['lineage'].unique().to_list()))}", ""]
    lines.append(f"{'lineage':<14} {'quantity':<42} {'here':<62} seed (SPEC.md §4)")
    for lineage, quantity, here in rows:
        seed = SEED.get((lineage, quantity.split(", phase")[0] if "band" in quantity else quantity)) \
            or SEED.get(("*", quantity), "")
        lines.append(f"{lineage:<14} {quantity:<42} {here:<62} {seed}")
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'}  {claim}" for claim, ok in claims]
    lines += ["", f"{sum(ok for _, ok in claims)} passed, {sum(not ok for _, ok in claims)} failed"]
    return "\n".join(lines)
