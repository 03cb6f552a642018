"""Choose the experiment's design by a rule that looks at GRPO and the base alone, before the comparison.

For each design of ``trainers/experiment.py`` in ``PILOT_ORDER`` (mildest
regime first), it trains GRPO's two phases at the ``full`` preset's size on
the pilot seeds (100, 101; the reported seeds are 0-4) from one shared base.
REPO-R never runs here. The rule, fixed before any pilot ran:

- a design qualifies when GRPO's phase-2 eval reward on the phase-2 task,
  both its peak and its final value, lies in [0.30, 0.85] on every pilot
  seed: not saturated (room for an ordering of reward to show) and not
  hopeless (GRPO learns something);
- the first qualifying design in ``PILOT_ORDER`` is chosen, so later ones
  are not run; if none qualifies, the one whose mean final reward is
  closest to 0.575, the band's middle.

It prints one line per design and seed and writes ``OUT/pilot.json``::

    .venv/bin/python benchmarks/experiment_pilot.py --out runs/pilot
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rollout_common.run_directory import RunPaths, read_jsonl
from trainers.experiment import DESIGNS, PILOT_ORDER, PRESETS, STAGES, Preset, train_stages

PILOT_SEEDS = (100, 101)
BAND = (0.30, 0.85)
GRPO = tuple(stage for stage in STAGES if stage.lineage == "grpo")


def grpo_result(out: Path, seed: int, task: str) -> dict:
    """GRPO's phase-2 eval reward on ``task`` (start, peak, end), its phase-1 task-A end and entropies."""
    p1, p2 = (out / f"seed{seed}" / name for name in ("grpo_p1", "grpo_p2"))
    curve = [e["reward_mean"] for e in read_jsonl(RunPaths(p2).eval) if e["task"] == task]
    a_end = [e["reward_mean"] for e in read_jsonl(RunPaths(p1).eval) if e["task"] == "A"][-1]
    metrics = read_jsonl(RunPaths(p2).metrics)
    tail = metrics[len(metrics) // 2 :]
    return {"seed": seed, "start": curve[0], "peak": max(curve), "end": curve[-1], "phase1_A_end": a_end,
            "entropy_p2_end": metrics[-1]["entropy"],
            "dead_groups_p2_2nd_half": statistics.mean(m["reward_zero_std"] for m in tail)}


def qualifies(results: list[dict]) -> bool:
    return all(BAND[0] <= r[key] <= BAND[1] for r in results for key in ("peak", "end"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/pilot", help="folder for the pilot runs")
    args = parser.parse_args()
    out = Path(args.out)
    base = out / "base"
    record: dict = {"rule": f"first design in {list(PILOT_ORDER)} with GRPO's phase-2 peak and end in {list(BAND)} "
                            f"on every pilot seed {list(PILOT_SEEDS)}", "designs": {}}
    began = time.perf_counter()
    chosen = None
    for name in PILOT_ORDER:
        design = DESIGNS[name]
        preset = Preset(**{**PRESETS["full"].__dict__, "design": name})
        train_stages(out / name, preset, PILOT_SEEDS, GRPO, progress=False, base=base)
        base_eval = {e["task"]: e["reward_mean"] for e in read_jsonl(RunPaths(base).eval)}
        results = [grpo_result(out / name, seed, design.phase2_task) for seed in PILOT_SEEDS]
        ok = qualifies(results)
        record["designs"][name] = {"base_reward": base_eval[design.phase2_task], "grpo": results, "qualifies": ok}
        for r in results:
            print(f"{name:<20} seed {r['seed']}: base {base_eval[design.phase2_task]:.3f}; GRPO phase 2 "
                  f"{r['start']:.3f} -> peak {r['peak']:.3f}, end {r['end']:.3f}; task A after phase 1 "
                  f"{r['phase1_A_end']:.3f}; entropy {r['entropy_p2_end']:.3f}; dead groups "
                  f"{r['dead_groups_p2_2nd_half']:.2f}")
        print(f"{name:<20} {'qualifies' if ok else 'does not qualify'}  ({time.perf_counter() - began:.0f} s so far)")
        if ok:
            chosen = name
            break
    if chosen is None:
        ends = {n: statistics.mean(r["end"] for r in d["grpo"]) for n, d in record["designs"].items()}
        chosen = min(ends, key=lambda n: abs(ends[n] - sum(BAND) / 2))
    record.update(chosen=chosen, seconds=time.perf_counter() - began)
    (out / "pilot.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"chosen design: {chosen}; {record['seconds']:.0f} s")


if __name__ == "__main__":
    main()
