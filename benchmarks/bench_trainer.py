"""Seconds per training step, side by side with the TRL anchor of SPEC.md §7, in one process.

The same work as the anchor: a randomly initialised 2-layer, d = 128, 4-head
GPT (~0.4M parameters; a 100-word vocabulary here, 120 there), 32 prompts x 8
completions of up to 12 tokens per optimizer step, GRPO, no reference model,
one update per step. It runs the trainer's own ``collect`` and ``update``, so
it times what ``rollout-diversity train`` does per step (evaluation and
logging excluded), split into generation (sampling, which also yields the
old log-probabilities and entropies, and grading) and the update (forward +
backward + Adam, once per minibatch).

With TRL installed (``pip install -e '.[dev]'``: trl 1.16.0) it trains the
anchor (``benchmarks/trl_anchor.py``) and runs one step of this trainer after
each TRL step, so both see the same load, and prints both medians and their
ratio; without TRL it times this trainer alone::

    .venv/bin/python benchmarks/bench_trainer.py                  # side by side, 30 steps each
    .venv/bin/python benchmarks/bench_trainer.py --steps 40 --threads 1
    .venv/bin/python benchmarks/bench_trainer.py --no-trl --minibatches 1 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # trl_anchor, beside this file

from trl_anchor import run_anchor, trl_available  # noqa: E402

from trainers.config import ControlConfig, RLConfig, RunConfig, TrainConfig, resolve_policy  # noqa: E402
from trainers.loop import collect, update  # noqa: E402
from trainers.methods import make_method  # noqa: E402
from trainers.policy_builder import build_policy, pick_device  # noqa: E402
from trainers.tasks import TASKS  # noqa: E402

WARMUP = 5  # untimed steps first, as the anchor skips its first 5


class OurStep:
    """One training step of this trainer per call, timed into ``times``."""

    def __init__(self, minibatches: int, device: torch.device):
        config = TrainConfig(run=RunConfig(out="unused"), rl=RLConfig(minibatches=minibatches), control=ControlConfig())
        self.config = config.resolved()
        torch.manual_seed(0)
        self.tokenizer, self.policy = build_policy(resolve_policy(self.config.policy, None, None), device)
        self.task, self.method, self.device = TASKS["A"], make_method(self.config), device
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.rl.lr)
        self.cpu_gen, self.sample_gen = torch.Generator().manual_seed(0), torch.Generator(device).manual_seed(1)
        self.times: dict[str, list[float]] = {"generate": [], "update": [], "step": []}
        self.tokens: list[float] = []

    def __call__(self) -> None:
        t0 = time.perf_counter()
        _, batch = collect(self.policy, self.tokenizer, self.task, self.method, self.config, self.cpu_gen,
                           self.sample_gen, self.device)
        t1 = time.perf_counter()
        update(self.policy, self.optimizer, self.method, batch, self.config, None)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        for name, seconds in zip(self.times, (t1 - t0, t2 - t1, t2 - t0)):
            self.times[name].append(seconds)
        self.tokens.append(float(batch.response_mask.sum(1).mean()))

    def medians(self) -> dict[str, float]:
        return {name: statistics.median(values[WARMUP:]) for name, values in self.times.items()}

    def describe(self) -> str:
        m = self.medians()
        params = sum(p.numel() for p in self.policy.parameters())
        return (f"median {m['step']:.3f} s/step (generate {m['generate']:.3f}, update {m['update']:.3f}); "
                f"{statistics.mean(self.tokens):.1f} tokens/response, {params / 1e6:.2f}M parameters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help=f"timed steps of each trainer (after {WARMUP} untimed)")
    parser.add_argument("--minibatches", type=int, nargs="+", default=[1], help="updates per step (the anchor: 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-trl", action="store_true", help="time this trainer alone")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    with_trl = not args.no_trl and trl_available() and device.type == "cpu"
    if not args.no_trl and not with_trl:
        print("TRL not installed (pip install -e '.[dev]'), or not on CPU: timing this trainer alone")
    for minibatches in args.minibatches:
        ours = OurStep(minibatches, device)
        if with_trl:
            trl = run_anchor(WARMUP + args.steps, between=ours)[WARMUP:]
            ratios = [a / b for a, b in zip(ours.times["step"][WARMUP:], trl)]
            print(f"TRL {__import__('trl').__version__} GRPOTrainer: median {statistics.median(trl):.3f} s/step "
                  f"(min {min(trl):.3f})")
            print(f"this trainer, minibatches={minibatches}: {ours.describe()}")
            print(f"ratio this / TRL: {ours.medians()['step'] / statistics.median(trl):.2f} (of the medians), "
                  f"{statistics.median(ratios):.2f} (median of the {len(ratios)} alternating pairs)")
        else:
            for _ in range(WARMUP + args.steps):
                ours()
            print(f"minibatches={minibatches}: {ours.describe()}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (both trainers' process)")


if __name__ == "__main__":
    main()
