"""The two-phase experiment's claims, checked against its summary tables and the seed's figures.

Reads what ``rollout-diversity experiment`` writes to its data folder
(``training_metrics``, ``evaluations``, ``scores`` and ``outcomes`` Parquet
files) and gives, per lineage, the mean and 95% interval across seeds
(Student's t, n - 1 degrees of freedom) of the quantities SPEC.md §4
reports, with the seed's figure beside each, then one verdict per claim:
AGREES, DOES NOT AGREE, or NOT MEASURABLE (the data cannot decide: fewer
than two seeds for an interval, or a table or lineage missing). "Phase-2
task" is the task the phase-2 runs trained on (C in ``full``, B in
``full-v1``); differences are paired by seed.

The claims and their thresholds, fixed before the reported run (the commit
that wrote them precedes the one that published ``data/experiment/``):

 1. GRPO's entropy collapses in phase 1: last / first 10% of steps < 0.5 on every seed.
 2. GRPO's entropy collapses again in phase 2: the same in phase 2.
 3. REPO-R holds its target in phase 1: mean |H - H*| over the second half < 10% of H*.
 4. REPO-R and the raised target hold theirs in phase 2: the same, each.
 5. The raised target holds more entropy than REPO-R in phase 2 (second-half mean): interval above 0.
 6. Task-A reward parity at the end of phase 1: the interval of REPO-R - GRPO inside ±0.05.
 7. Task-A retention parity at the end of phase 2: the intervals of REPO-R - GRPO and of raised - GRPO inside ±0.05.
 8. GRPO's phase-2 reward peaks, then falls: its value at the seed-mean curve's best evaluation before the
    last, minus its final value: interval above 0.
 9. REPO-R ends phase 2 above GRPO (final phase-2 eval reward): interval above 0.
10. REPO-R improves in phase 2 where GRPO stalls (gain = final - phase-2 start): interval of the difference above 0.
11. Raising the target raised performance (final phase-2 eval reward, raised - REPO-R): interval above 0.
12. At the end of phase 2 GRPO is less diverse than REPO-R: Vendi (REPO-R - GRPO) and pairwise cosine
    (GRPO - REPO-R) intervals both above 0.
13. The raised target is more diverse than REPO-R at the end of phase 2 (Vendi): interval above 0.
14. GRPO's repetition fraction climbs through phase 2 (final - first evaluation): interval above 0.

Beside them, with no figure of the seed's: pass@1 and pass@8 (k = G; full
marks count as correct) on the phase-2 task's eval groups at the end of
phase 2, and the fraction of dead groups (all rewards equal, so zero GRPO
advantage) among training groups over phase 2's second half and among the
final eval groups. The experiment puts this text in its report;
``benchmarks/experiment_summary.py`` prints it.
"""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import polars as pl

import diversity

LINEAGES = ("grpo", "repo_r", "repo_r_raised")
DIVERSITY = ("repetition_fraction", "pairwise_cosine", "vendi_score", "centroid_distance")
PARITY = 0.05  # claims 6-7: the interval of a reward difference must lie inside +-PARITY
COLLAPSE = 0.5  # claims 1-2: entropy end / start below this on every seed
HOLD = 0.10  # claims 3-4: mean |H - H*| below this fraction of H*
# Student's t, two-sided 95%, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
AGREES, DISAGREES, UNMEASURABLE = "AGREES", "DOES NOT AGREE", "NOT MEASURABLE"
OPPOSITE = " (the interval lies wholly on the other side)"  # a note on a DOES NOT AGREE, not a verdict of its own
# The seed's figures (SPEC.md §4), for the side-by-side table.
SEED = {
    ("grpo", "entropy end/start, phase 1"): "0.24 -> 0.05 (0.21)",
    ("grpo", "entropy end/start, phase 2"): "~0.05 after a brief recovery",
    ("repo_r", "entropy, 2nd half, phase 1"): "~0.26 (0.19-0.35)",
    ("repo_r_raised", "entropy, 2nd half, phase 2"): "~0.30 (0.22-0.41)",
    ("*", "task A reward, end of phase 1"): "~0.68-0.70 all",
    ("*", "task A retention, end of phase 2"): "~0.65-0.70 all",
    ("grpo", "phase-2 task reward, peak / end"): "0.67 (step 140) / 0.61",
    ("repo_r", "phase-2 task reward, peak / end"): "- / 0.66",
    ("repo_r_raised", "phase-2 task reward, peak / end"): "- / 0.68",
    ("grpo", "vendi_score"): "2.4 -> 1.9", ("repo_r", "vendi_score"): "~3.0", ("repo_r_raised", "vendi_score"): "~3.3",
    ("grpo", "pairwise_cosine"): "0.79 -> 0.84", ("repo_r", "pairwise_cosine"): "~0.75",
    ("repo_r_raised", "pairwise_cosine"): "~0.72", ("grpo", "repetition_fraction"): "climbs to ~0.28",
}


def interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95% t interval of the mean across seeds; (mean, nan, nan) for one value."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def fmt(values: list[float]) -> str:
    mean, low, high = interval(values)
    return f"{mean:.3f}" if math.isnan(low) else f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def above_zero(values: list[float]) -> str:
    """AGREES when the interval lies above 0; NOT MEASURABLE with fewer than two seeds."""
    if len(values) < 2:
        return UNMEASURABLE
    return AGREES if interval(values)[1] > 0 else DISAGREES


def within_parity(values: list[float]) -> str:
    if len(values) < 2:
        return UNMEASURABLE
    _, low, high = interval(values)
    return AGREES if -PARITY < low and high < PARITY else DISAGREES


def paired(a: dict[int, float], b: dict[int, float]) -> list[float]:
    """a - b for the seeds both have."""
    return [a[seed] - b[seed] for seed in sorted(a.keys() & b.keys())]


def pass_at_k(n: int, correct: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n - c, k) / C(n, k)."""
    return 1.0 if n - correct < k else 1.0 - math.comb(n - correct, k) / math.comb(n, k)


def window(frame: pl.DataFrame, fraction: float, last: bool) -> pl.DataFrame:
    """The first or last ``fraction`` of each run's steps (per seed)."""
    rank, size = pl.col("step").rank("ordinal").over("run", "seed"), pl.len().over("run", "seed")
    return frame.filter(rank > size * (1 - fraction) if last else rank <= (size * fraction).ceil())


def per_seed(frame: pl.DataFrame, column: str) -> dict[int, float]:
    return dict(frame.group_by("seed").agg(pl.col(column).mean()).sort("seed").iter_rows())


class Claims:
    """The data folder's tables, the rows of the comparison table and the verdicts, built claim by claim."""

    def __init__(self, folder: Path):
        self.metrics = pl.read_parquet(folder / "training_metrics.parquet")
        self.evals = pl.read_parquet(folder / "evaluations.parquet")
        self.scores = diversity.Scores.read_parquet(folder / "scores.parquet")
        outcomes = folder / "outcomes.parquet"
        self.outcomes = pl.read_parquet(outcomes) if outcomes.exists() else None
        tasks = self.metrics.filter(pl.col("phase") == "2")["task"].unique().to_list()
        self.task2 = tasks[0] if len(tasks) == 1 else None
        self.rows: list[tuple[str, str, str]] = []
        self.verdicts: list[tuple[str, str, str]] = []  # (verdict, claim, the numbers)

    def row(self, lineage: str, quantity: str, here: str) -> None:
        self.rows.append((lineage, quantity, here))

    def claim(self, text: str, verdict: str, numbers: str) -> None:
        self.verdicts.append((verdict, text, numbers))

    def has(self, *lineages: str) -> bool:
        return all(not self.metrics.filter(pl.col("lineage") == name).is_empty() for name in lineages)

    # ---------------------------------------------------------------- entropy (claims 1-5)

    def entropy(self) -> None:
        for phase, number in (("1", 1), ("2", 2)):
            grpo = self.metrics.filter((pl.col("lineage") == "grpo") & (pl.col("phase") == phase))
            start, end = (per_seed(window(grpo, 0.1, last), "entropy") for last in (False, True))
            ratios = [end[s] / start[s] for s in sorted(start)]
            self.row("grpo", f"entropy end/start, phase {phase}",
                     f"{fmt(list(start.values()))} -> {fmt(list(end.values()))} (ratio {fmt(ratios)})")
            verdict = UNMEASURABLE if not ratios else AGREES if max(ratios) < COLLAPSE else DISAGREES
            which = "" if number == 1 else " again"
            self.claim(f"{number}. GRPO's entropy collapses{which} in phase {phase} (end/start < {COLLAPSE} on every seed)",
                       verdict, f"ratios {', '.join(f'{r:.2f}' for r in ratios)}")
        settled = {}
        for lineage, phase in (("repo_r", "1"), ("repo_r", "2"), ("repo_r_raised", "2")):
            runs = self.metrics.filter((pl.col("lineage") == lineage) & (pl.col("phase") == phase))
            if runs.is_empty():
                continue
            half = window(runs, 0.5, last=True)
            target, gap = half["target_entropy"].mean(), (half["entropy"] - half["target_entropy"]).abs().mean()
            settled[(lineage, phase)] = per_seed(half, "entropy")
            at_bound = half["zeta_at_bound"].mean() if "zeta_at_bound" in half.columns else math.nan
            self.row(lineage, f"entropy, 2nd half, phase {phase}",
                     f"{fmt(list(settled[(lineage, phase)].values()))} (5-95%: {half['entropy'].quantile(0.05):.3f}-"
                     f"{half['entropy'].quantile(0.95):.3f}); target {target:.3f}, |gap| {gap:.3f}, "
                     f"zeta at a bound {at_bound:.0%}")
            number = 3 if phase == "1" else 4
            self.claim(f"{number}. {lineage} holds its target in phase {phase} (mean |H - H*| < {HOLD:.0%} of H*)",
                       AGREES if gap < HOLD * target else DISAGREES, f"gap {gap:.3f} = {gap / target:.0%} of {target:.3f}")
        if ("repo_r_raised", "2") in settled and ("repo_r", "2") in settled:
            diff = paired(settled[("repo_r_raised", "2")], settled[("repo_r", "2")])
            self.claim("5. the raised target holds more entropy than repo_r in phase 2", above_zero(diff),
                       f"difference {fmt(diff)} nats")

    # ---------------------------------------------------------------- reward (claims 6-11)

    def eval_curve(self, lineage: str, phase: str, task: str) -> pl.DataFrame:
        return self.evals.filter((pl.col("lineage") == lineage) & (pl.col("phase") == phase) & (pl.col("task") == task))

    def final(self, lineage: str, phase: str, task: str) -> dict[int, float]:
        curve = self.eval_curve(lineage, phase, task)
        return per_seed(curve.filter(pl.col("step") == pl.col("step").max().over("seed")), "reward_mean")

    def reward(self) -> None:
        a_end = {lineage: self.final(lineage, "1", "A") for lineage in ("grpo", "repo_r")}
        for lineage, values in a_end.items():
            self.row(lineage, "task A reward, end of phase 1", fmt(list(values.values())))
        diff = paired(a_end["repo_r"], a_end["grpo"])
        self.claim(f"6. task-A reward parity at the end of phase 1 (REPO-R - GRPO inside ±{PARITY})",
                   within_parity(diff), f"difference {fmt(diff)}")
        kept = {lineage: self.final(lineage, "2", "A") for lineage in LINEAGES if self.has(lineage)}
        for lineage, values in kept.items():
            self.row(lineage, "task A retention, end of phase 2", fmt(list(values.values())))
        diffs = {other: paired(kept[other], kept["grpo"]) for other in ("repo_r", "repo_r_raised") if other in kept}
        verdicts = {within_parity(d) for d in diffs.values()}
        self.claim(f"7. task-A retention parity at the end of phase 2 (each minus GRPO inside ±{PARITY})",
                   min(verdicts, key=(UNMEASURABLE, DISAGREES, AGREES).index) if verdicts else UNMEASURABLE,
                   "; ".join(f"{other} - grpo {fmt(d)}" for other, d in diffs.items()))
        if self.task2 is None:
            self.claim("8-11. phase-2 reward claims", UNMEASURABLE, "no single phase-2 task in the metrics")
            return
        ends, gains = {}, {}
        for lineage in (name for name in LINEAGES if self.has(name)):
            curve = self.eval_curve(lineage, "2", self.task2)
            mean = curve.group_by("step").agg(pl.col("reward_mean").mean()).sort("step")
            peak = mean.row(int(mean["reward_mean"].arg_max()), named=True)
            ends[lineage] = self.final(lineage, "2", self.task2)
            start = per_seed(curve.filter(pl.col("step") == pl.col("step").min().over("seed")), "reward_mean")
            gains[lineage] = paired(ends[lineage], start)
            self.row(lineage, "phase-2 task reward, peak / end",
                     f"{peak['reward_mean']:.3f} (step {peak['step']}) / {fmt(list(ends[lineage].values()))}; "
                     f"gain from the phase-2 start {fmt(gains[lineage])}")
            if lineage == "grpo":
                before_last = mean.filter(pl.col("step") < mean["step"].max())
                best = int(before_last.row(int(before_last["reward_mean"].arg_max()), named=True)["step"])
                drop = paired(per_seed(curve.filter(pl.col("step") == best), "reward_mean"), ends["grpo"])
                self.claim(f"8. GRPO's phase-2 reward peaks, then falls (value at step {best} minus the final one)",
                           above_zero(drop), f"drop {fmt(drop)}")
        if "repo_r" in ends:
            diff = paired(ends["repo_r"], ends["grpo"])
            self.claim("9. REPO-R ends phase 2 above GRPO", above_zero(diff), f"difference {fmt(diff)}")
            gain = [r - g for r, g in zip(gains["repo_r"], gains["grpo"])]
            self.claim("10. REPO-R improves in phase 2 where GRPO stalls (gain difference)", above_zero(gain),
                       f"gains {fmt(gains['repo_r'])} vs {fmt(gains['grpo'])}; difference {fmt(gain)}")
        if "repo_r_raised" in ends and "repo_r" in ends:
            diff = paired(ends["repo_r_raised"], ends["repo_r"])
            self.claim("11. raising the target raised performance (raised - repo_r, end of phase 2)",
                       above_zero(diff), f"difference {fmt(diff)}")

    # ---------------------------------------------------------------- diversity (claims 12-14)

    def diversity(self) -> None:
        groups = self.scores.groups.filter((pl.col("phase") == "2") & (pl.col("split") == "eval"))
        if self.task2 is not None:
            groups = groups.filter(pl.col("task") == self.task2)
        seeds = groups["group_id"].map_elements(seed_of_group, return_dtype=pl.Int64).alias("seed")
        groups = groups.with_columns(seeds)
        first = groups.filter(pl.col("step") == pl.col("step").min().over("lineage"))
        last = groups.filter(pl.col("step") == pl.col("step").max().over("lineage"))
        values = {}
        for lineage in LINEAGES:
            for metric in DIVERSITY:
                start = per_seed(first.filter(pl.col("lineage") == lineage), metric)
                end = per_seed(last.filter(pl.col("lineage") == lineage), metric)
                if not end:
                    continue
                values[(lineage, metric)] = (start, end)
                self.row(lineage, metric, f"{fmt(list(start.values()))} -> {fmt(list(end.values()))}")
        if not {("grpo", "vendi_score"), ("repo_r", "vendi_score")} <= values.keys():
            self.claim("12-14. diversity claims", UNMEASURABLE, "a lineage has no phase-2 scores")
            return
        end = {key: pair[1] for key, pair in values.items()}
        vendi = paired(end[("repo_r", "vendi_score")], end[("grpo", "vendi_score")])
        cosine = paired(end[("grpo", "pairwise_cosine")], end[("repo_r", "pairwise_cosine")])
        both = {above_zero(vendi), above_zero(cosine)}
        self.claim("12. at the end of phase 2 GRPO is less diverse than REPO-R (Vendi and pairwise cosine)",
                   min(both, key=(UNMEASURABLE, DISAGREES, AGREES).index),
                   f"Vendi repo_r - grpo {fmt(vendi)}; cosine grpo - repo_r {fmt(cosine)}")
        if ("repo_r_raised", "vendi_score") in end:
            diff = paired(end[("repo_r_raised", "vendi_score")], end[("repo_r", "vendi_score")])
            self.claim("13. the raised target is more diverse than REPO-R at the end of phase 2 (Vendi)",
                       above_zero(diff), f"difference {fmt(diff)}")
        start, stop = values[("grpo", "repetition_fraction")]
        climb = paired(stop, start)
        self.claim("14. GRPO's repetition fraction climbs through phase 2", above_zero(climb), f"change {fmt(climb)}")

    # ---------------------------------------------------------------- pass@k and dead groups (no claim)

    def outcomes_rows(self) -> None:
        for lineage in LINEAGES:
            p2 = self.metrics.filter((pl.col("lineage") == lineage) & (pl.col("phase") == "2"))
            if p2.is_empty():
                continue
            if "reward_zero_std" in p2.columns:
                dead = per_seed(window(p2, 0.5, last=True), "reward_zero_std")
                self.row(lineage, "dead training groups, phase 2, 2nd half", fmt(list(dead.values())))
            if self.outcomes is None or self.task2 is None:
                continue
            groups = self.outcomes.filter((pl.col("lineage") == lineage) & (pl.col("phase") == "2")
                                          & (pl.col("task") == self.task2))
            last = groups.filter(pl.col("step") == pl.col("step").max().over("seed"))
            for k in (1, 8):
                scored = last.with_columns(pl.struct("n", "correct").map_elements(
                    lambda g, k=k: pass_at_k(g["n"], g["correct"], min(k, g["n"])), return_dtype=pl.Float64).alias("p"))
                self.row(lineage, f"pass@{k}, phase-2 task, end of phase 2", fmt(list(per_seed(scored, "p").values())))
            zero = last.with_columns(pl.col("zero_std").cast(pl.Float64))
            self.row(lineage, "dead eval groups, end of phase 2", fmt(list(per_seed(zero, "zero_std").values())))


def opposite(numbers: str) -> str:
    """OPPOSITE when every interval quoted in ``numbers`` lies below 0, else nothing."""
    bounds = re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", numbers)
    return OPPOSITE if bounds and all(float(high) < 0 for _, high in bounds[-1:]) else ""


def seed_of_group(group_id: str) -> int | None:
    """The seed in a trainer rollout's group id (``eval-C-s3-0007``; ``trainers/rundir.py``)."""
    found = re.search(r"-s(\d+)-", group_id)
    return int(found.group(1)) if found else None


def claims_text(folder: str | Path = "data/experiment") -> str:
    """The comparison table and the verdicts, as plain text."""
    data = Path(folder)
    claims = Claims(data)
    claims.entropy()
    claims.reward()
    claims.diversity()
    claims.outcomes_rows()
    seeds = claims.metrics["seed"].n_unique()
    lineages = ", ".join(sorted(claims.metrics["lineage"].unique().to_list()))
    lines = [f"{data}: {seeds} seed(s), lineages {lineages}, phase-2 task {claims.task2}; "
             "mean [95% interval across seeds]", ""]
    lines.append(f"{'lineage':<14} {'quantity':<42} {'here':<70} seed (SPEC.md §4)")
    for lineage, quantity, here in claims.rows:
        seed = SEED.get((lineage, quantity)) or SEED.get(("*", quantity), "")
        lines.append(f"{lineage:<14} {quantity:<42} {here:<70} {seed}")
    lines.append("")
    lines += [f"{verdict:<15} {claim}: {numbers}{opposite(numbers) if verdict == DISAGREES else ''}"
              for verdict, claim, numbers in claims.verdicts]
    counts = {v: sum(verdict == v for verdict, *_ in claims.verdicts) for v in (AGREES, DISAGREES, UNMEASURABLE)}
    lines += ["", f"{counts[AGREES]} agree, {counts[DISAGREES]} do not agree, {counts[UNMEASURABLE]} not measurable"]
    return "\n".join(lines)
