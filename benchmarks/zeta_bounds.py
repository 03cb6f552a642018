"""Measure REPO-R's zeta bounds: how well each (zeta_min, zeta_max) holds the entropy target.

Runs one phase (task A from a warm-up base) per pair of bounds and seed, and
prints one row each: mean |H - H*| after a burn-in, the fraction of steps
with |zeta| at its cap, how often zeta changed sign, the final entropy and
the eval rewards on both tasks, with GRPO alongside as the no-control
reference. The README's Trainer section quotes its output; rerun it with::

    .venv/bin/rollout-diversity warmup --out runs/base
    .venv/bin/python benchmarks/zeta_bounds.py --base runs/base --out runs/zeta_sweep --seeds 0
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from rollout_common.run_directory import RunPaths, read_jsonl
from trainers.config import ControlConfig, RunConfig, TrainConfig
from trainers.loop import train

DEFAULT_GRID = ("0.0001:0.05", "0.001:0.05", "0.001:0.2", "0.001:0.5", "0.001:1.0", "0.02:0.2", "0.05:0.5", "0.1:1.0")


def measure(run_dir: Path, burn_in: int) -> dict:
    paths = RunPaths(run_dir)
    rows, evals = read_jsonl(paths.metrics), read_jsonl(paths.eval)
    last = {e["task"]: e["reward_mean"] for e in evals if e["step"] == evals[-1]["step"]}
    after = rows[burn_in:]
    zetas = [r["zeta"] for r in rows if "zeta" in r]
    return {
        "gap": statistics.mean(abs(r["entropy"] - r["target_entropy"]) for r in after) if "zeta" in rows[0] else None,
        "at_cap": statistics.mean(r["zeta_at_bound"] for r in rows) if zetas else None,
        "sign_flips": sum((a > 0) != (b > 0) for a, b in zip(zetas, zetas[1:])) if zetas else None,
        "entropy_start": rows[0]["entropy"], "entropy_end": statistics.mean(r["entropy"] for r in rows[-10:]),
        "train_reward_end": statistics.mean(r["reward_mean"] for r in rows[-10:]),
        "eval_A": last["A"], "eval_B": last["B"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="warm-up run directory to start from")
    parser.add_argument("--out", default="runs/zeta_sweep", help="folder for the sweep's runs")
    parser.add_argument("--grid", nargs="+", default=list(DEFAULT_GRID), help="ZETA_MIN:ZETA_MAX pairs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--burn-in", type=int, default=20, help="steps left out of the gap")
    args = parser.parse_args()
    print("| method | zeta_min | zeta_max | seed | mean abs(H - H*) | at cap | sign flips | H start -> end | "
          "train reward end | eval A | eval B |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cases = [("grpo", None, None)] + [("repo_r", *map(float, pair.split(":"))) for pair in args.grid]
    for seed in args.seeds:
        for method, zmin, zmax in cases:
            name = method if zmin is None else f"repo_r_{zmin:g}_{zmax:g}"
            out = Path(args.out) / f"{name}_s{seed}"
            control = ControlConfig() if zmin is None else ControlConfig(zeta_min=zmin, zeta_max=zmax, zeta_init=zmin)
            run = RunConfig(out=str(out), task="A", method=method, steps=args.steps, seed=seed, init_from=args.base)
            train(TrainConfig(run=run, control=control), force=True, progress=False)
            m = measure(out, args.burn_in)
            fmt = lambda v: "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)
            bound = lambda v: "-" if v is None else f"{v:g}"
            print(f"| {method} | {bound(zmin)} | {bound(zmax)} | {seed} | {fmt(m['gap'])} | {fmt(m['at_cap'])} | "
                  f"{fmt(m['sign_flips'])} | {m['entropy_start']:.2f} -> {m['entropy_end']:.2f} | "
                  f"{m['train_reward_end']:.3f} | {m['eval_A']:.3f} | {m['eval_B']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
