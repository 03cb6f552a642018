"""``rollout-diversity experiment``: the two-phase continued-training experiment, end to end.

The seed experiment (SPEC.md §4) at small scale, as plain trainer runs:

1. warm-up: the base policy every lineage starts from (one, shared by all seeds);
2. phase 1 on task A: ``grpo`` and ``repo_r`` (target = its own initial entropy);
3. phase 2 on the design's second task (``full``: C, ``full-v1``: B): each
   lineage continues from its own phase-1 checkpoint; ``repo_r``'s target is
   again its initial entropy, now measured on the phase-2 task from its
   phase-1 checkpoint before any phase-2 update (SPEC.md §6 names this or
   carrying the phase-1 target; task A's level is no level for another task);
4. the fork ``repo_r_raised``: from ``repo_r``'s phase-1 checkpoint, its target
   raised ``TARGET_RAISE`` (+18%, as the seed's 0.32 vs 0.27) above the entropy
   ``repo_r`` settles at in phase 2 (its mean over the second half of phase 2);
5. every run evaluates every task's eval prompts every ``eval_every`` steps;
6. the eval groups are scored, summaries written to ``--data-dir``, and the
   report, with the claims checked against the seed's figures
   (``trainers/experiment_claims.py``), to ``--report``.

Examples:
  rollout-diversity experiment --preset full --out runs/experiment \\
      --report reports/experiment.html --data-dir data/experiment
  rollout-diversity experiment --preset quick --out runs/quick --report runs/quick/report.html

The design (``DESIGNS``: the phase-2 task, the training grader's noise, the
training-set size) was chosen by a rule on GRPO and the base alone, before
the comparison ran (``benchmarks/experiment_pilot.py``; README).

A finished run (its final checkpoint exists) is not trained again, so an
interrupted experiment continues where it stopped; --force starts over.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rollout_common.run_directory import CHECKPOINTS, EVAL, METRICS, RunPaths, is_finished, read_config, read_jsonl

log = logging.getLogger("diversity")

TARGET_RAISE = 0.18  # the seed raised 0.27 -> 0.32


@dataclass(frozen=True)
class Design:
    """The regime a comparison runs in: what phase 2 trains on, and the training grader and data."""

    phase2_task: str
    """task of phase 2 (phase 1 is always task A)"""
    grader_noise: float
    """chance that the training grader flips each check (both phases; evaluation is always exact)"""
    train_prompts: int | None
    """train prompts per task (both phases), None for all; eval prompts are held out either way"""
    stands_for: str
    """what the design stands in for"""


DESIGNS = {
    "v1": Design("B", 0.0, None, "the first experiment: a broad second task (any lexicon word with the letter), "
                                 "an exact grader, every train prompt"),
    "rare": Design("C", 0.0, None, "a narrow second task whose rewarded answers lie in the base's tail "
                                   "(an instruction the model's usual answers fail), an exact grader"),
    "rare-noisy": Design("C", 0.1, None, "the same with a noisy verifier or judge: each check misjudged "
                                         "one time in ten during training"),
    "rare-noisy-small": Design("C", 0.1, 8, "the same with small training sets: 8 prompts per task "
                                            "(every category once, two twice), evaluated on held-out prompts"),
    "rare-noisier-small": Design("C", 0.2, 8, "the same with a noisier grader: one check in five misjudged"),
}
# The order the pilot tries designs in, from the mildest regime to the most adverse (benchmarks/experiment_pilot.py).
PILOT_ORDER = ("rare", "rare-noisy", "rare-noisy-small", "rare-noisier-small")


@dataclass(frozen=True)
class Preset:
    """The experiment's size and design; every field is a trainer option or picks one."""

    warmup_steps: int
    """supervised warm-up steps for the base policy"""
    phase_steps: int
    """optimizer steps in each phase"""
    seeds: int
    """training seeds per lineage (the base is shared)"""
    prompts_per_step: int
    """prompts per training step (each with a group of 8)"""
    eval_every: int
    """steps between evaluations of every task"""
    eval_groups: int
    """groups sampled per eval prompt at each evaluation"""
    design: str
    """the regime (a key of DESIGNS)"""


PRESETS = {
    # Asserts the pipeline in the test suite, not the science: a few minutes on 2 cores.
    "quick": Preset(warmup_steps=150, phase_steps=6, seeds=1, prompts_per_step=8, eval_every=3, eval_groups=1,
                    design="rare-noisy"),
    # The published result: within 45 minutes on 2 cores. Its design is the pilot's choice
    # (benchmarks/experiment_pilot.py: GRPO on seeds 100-101 ended phase 2 at 0.88 / 0.86 with "rare",
    # 0.80 / 0.81 with "rare-noisy", the first inside [0.30, 0.85]).
    "full": Preset(warmup_steps=1500, phase_steps=150, seeds=5, prompts_per_step=32, eval_every=25, eval_groups=4,
                   design="rare-noisy"),
    # The first published experiment (data/experiment_v1/): task B in phase 2, 3 seeds.
    "full-v1": Preset(warmup_steps=1500, phase_steps=150, seeds=3, prompts_per_step=32, eval_every=25,
                      eval_groups=4, design="v1"),
}


@dataclass(frozen=True)
class Stage:
    """One trainer run of the experiment."""

    name: str  # run directory under <out>/seed<k>/
    lineage: str
    phase: str
    method: str
    parent: str  # run directory name under the same seed, or "base"

    def task(self, design: Design) -> str:
        return "A" if self.phase == "1" else design.phase2_task


STAGES = (
    Stage("grpo_p1", "grpo", "1", "grpo", "base"),
    Stage("repo_r_p1", "repo_r", "1", "repo_r", "base"),
    Stage("grpo_p2", "grpo", "2", "grpo", "grpo_p1"),
    Stage("repo_r_p2", "repo_r", "2", "repo_r", "repo_r_p1"),
    Stage("repo_r_raised_p2", "repo_r_raised", "2", "repo_r", "repo_r_p1"),
)


def settled_entropy(run_dir: Path) -> float:
    """Mean token-mean entropy over the second half of a run's steps (``metrics.jsonl``)."""
    rows = read_jsonl(RunPaths(run_dir).metrics)
    half = [r["entropy"] for r in rows[len(rows) // 2 :]]
    return sum(half) / len(half)


def stage_options(stage: Stage, seed: int, preset: Preset, out: Path, raised_target: float | None,
                  base: Path | None = None) -> dict:
    """The trainer options (``TrainConfig.from_flat`` names) of one stage; the base is ``out/base`` unless given."""
    design = DESIGNS[preset.design]
    parent = (base or out / "base") if stage.parent == "base" else out / f"seed{seed}" / stage.parent
    options = {
        "out": str(out / f"seed{seed}" / stage.name), "task": stage.task(design), "method": stage.method,
        "grader_noise": design.grader_noise, "train_prompts": design.train_prompts,
        "steps": preset.phase_steps, "seed": seed, "init_from": str(parent), "lineage": stage.lineage,
        "phase": stage.phase, "eval_every": preset.eval_every, "eval_groups": preset.eval_groups,
        "save_every": preset.eval_every, "prompts_per_step": preset.prompts_per_step,
    }
    if stage.lineage == "repo_r_raised":
        options["target_entropy"] = f"{raised_target:.6g}"
    return options


def train_stages(out: Path, preset: Preset, seeds, stages=STAGES, progress: bool = True, base: Path | None = None) -> dict:
    """Warm up the shared base (once; ``out/base`` unless given), then train ``stages`` for each seed in
    ``seeds``; finished runs are kept. Returns the record: timings and the raised targets."""
    import torch

    from trainers.config import TrainConfig, WarmupConfig
    from trainers.loop import train
    from trainers.warmup import warmup

    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    began = time.perf_counter()
    base = base or out / "base"
    if not is_finished(base):
        log.info("warm-up: %d steps -> %s", preset.warmup_steps, base)
        warmup(WarmupConfig.from_flat({"out": str(base), "steps": preset.warmup_steps}), force=True, progress=progress)
    timings["warmup_s"] = time.perf_counter() - began
    raised: dict[int, float] = {}
    for seed in seeds:
        for stage in stages:
            if stage.lineage == "repo_r_raised":
                raised[seed] = settled_entropy(out / f"seed{seed}" / "repo_r_p2") * (1 + TARGET_RAISE)
            options = stage_options(stage, seed, preset, out, raised.get(seed), base)
            if is_finished(Path(options["out"])):
                continue
            log.info("seed %d: %s (%s, task %s, %s)", seed, stage.name, stage.method, options["task"],
                     f"target {options['target_entropy']}" if "target_entropy" in options else "no target")
            tick = time.perf_counter()
            train(TrainConfig.from_flat(options), force=True, progress=progress)
            timings[f"seed{seed}/{stage.name}_s"] = time.perf_counter() - tick
    timings["training_s"] = time.perf_counter() - began
    return {"preset": asdict(preset), "design": asdict(DESIGNS[preset.design]), "seeds": list(seeds),
            "target_raise": TARGET_RAISE, "raised_targets": raised, "timings": timings,
            "torch_threads": torch.get_num_threads()}


def run_experiment(
    out: Path, preset: Preset, seeds: int, report: Path, data_dir: Path, embedder: str,
    force: bool = False, progress: bool = True,
) -> dict:
    """Train every stage for every seed, then score, summarise and report. Returns the plan's record."""
    if force and out.exists():
        shutil.rmtree(out)
    began = time.perf_counter()
    record = train_stages(out, preset, range(seeds), STAGES, progress)
    summarise(out, seeds, report, data_dir, embedder, record, progress)
    record["timings"]["total_s"] = time.perf_counter() - began
    return record


def run_dirs(out: Path, seeds: int) -> list[Path]:
    return [out / f"seed{seed}" / stage.name for seed in range(seeds) for stage in STAGES]


def summarise(out: Path, seeds: int, report: Path, data_dir: Path, embedder: str, record: dict, progress: bool) -> None:
    """Score the eval groups; write small summary tables to ``data_dir`` and the HTML report."""
    from diversity.analysis import analyse
    from diversity.report import build_report
    from rollout_common.files import atomic_path, write_text_atomic
    from trainers.experiment_claims import claims_text
    from trainers.tasks import FULL_MARKS

    runs = run_dirs(out, seeds)
    analysis = analyse(runs, embedder=embedder, cache_dir=out / "embedding_cache", score_splits=("eval",),
                       correct_threshold=FULL_MARKS, progress=progress)
    data_dir.mkdir(parents=True, exist_ok=True)
    analysis.scores.to_parquet(data_dir / "scores.parquet", force=True)
    for log_name, table in ((METRICS, "training_metrics"), (EVAL, "evaluations")):
        with atomic_path(data_dir / f"{table}.parquet") as tmp:
            run_table(runs, log_name).write_parquet(tmp)
    with atomic_path(data_dir / "outcomes.parquet") as tmp:
        group_outcomes(runs).write_parquet(tmp)
    write_text_atomic(data_dir / "experiment.json", json.dumps(record, indent=2, default=str) + "\n")
    publish_logs(out, data_dir, seed=0)
    page = build_report(analysis, title="Continued training: GRPO vs REPO-R vs REPO-R with a raised target",
                        findings=claims_text(data_dir))
    page.to_html(report, force=True)
    log.info("wrote %s and the summaries in %s", report, data_dir)


def publish_logs(out: Path, data_dir: Path, seed: int = 0) -> Path:
    """Copy one seed's runs without their checkpoints (configs, logs, rollouts) to ``data_dir/seed<k>``,
    so ``rollout-diversity report data_dir/seed<k>/*`` works without training."""
    target = data_dir / f"seed{seed}"
    staging = data_dir / f".seed{seed}.tmp"  # copied whole, then swapped in: never a half copy
    shutil.rmtree(staging, ignore_errors=True)
    for stage in STAGES:
        shutil.copytree(out / f"seed{seed}" / stage.name, staging / stage.name,
                        ignore=shutil.ignore_patterns(CHECKPOINTS))
    old = data_dir / f".seed{seed}.old"
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def run_table(runs: list[Path], name: str):
    """One of every run's JSONL logs (``metrics.jsonl``, ``eval.jsonl``) as one table,
    with the run's seed and name on each row."""
    import polars as pl

    frames = []
    for run in runs:
        seed = read_config(run).seed
        frame = pl.read_ndjson(run / name, infer_schema_length=None)
        frames.append(frame.with_columns(pl.lit(seed).alias("seed"), pl.lit(run.name).alias("run")))
    return pl.concat(frames, how="diagonal_relaxed")


def group_outcomes(runs: list[Path]):
    """One row per eval group of every run: its size, how many responses earned full marks (reward 1,
    every check passed), whether its rewards are all equal, and its mean reward; for pass@k and the
    fraction of dead groups (``trainers/experiment_claims.py``)."""
    import polars as pl

    frames = [pl.read_parquet(path, columns=["lineage", "phase", "step", "task", "seed", "group_id", "reward"])
              .with_columns(pl.lit(run.name).alias("run"))
              for run in runs for path in sorted(RunPaths(run).rollouts.glob("eval_*.parquet"))]
    return pl.concat(frames).group_by("run", "seed", "lineage", "phase", "step", "task", "group_id").agg(
        n=pl.len(), correct=(pl.col("reward") >= 1.0).sum(), zero_std=pl.col("reward").max() == pl.col("reward").min(),
        reward_mean=pl.col("reward").mean(),
    ).sort("run", "seed", "step", "task", "group_id")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "experiment", help="run the two-phase continued-training experiment and report it",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=list(PRESETS), default="quick",
                        help="quick (minutes, a smoke run), full (the published one) or full-v1 (the first one)")
    parser.add_argument("--design", choices=list(DESIGNS), default=None,
                        help="the regime (default: the preset's; listed in trainers/experiment.py DESIGNS)")
    parser.add_argument("--out", required=True, help="folder for the runs, e.g. runs/experiment")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds 0..N-1 (default: the preset's; full: 5)")
    parser.add_argument("--report", default=None, help="HTML report to write (default: OUT/report.html)")
    parser.add_argument("--data-dir", default=None, help="folder for the summary tables (default: OUT/summary)")
    parser.add_argument("--embedder", default="minilm",
                        help="embedder for the diversity metrics: minilm (default), static, hashing, tfidf "
                             "or a sentence-transformers folder")
    parser.add_argument("--force", action="store_true", help="delete OUT and start over")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rollout_common.errors import OptionError

    preset = PRESETS[args.preset]
    if args.design:
        preset = replace(preset, design=args.design)
    seeds = preset.seeds if args.seeds is None else args.seeds
    if seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {seeds}")
    out = Path(args.out)
    report = Path(args.report) if args.report else out / "report.html"
    data_dir = Path(args.data_dir) if args.data_dir else out / "summary"
    record = run_experiment(out, preset, seeds, report, data_dir, args.embedder, args.force, progress=not args.quiet)
    print(f"wrote {report}; summaries in {data_dir}; {record['timings']['total_s']:.0f} s in all")
    return 0
