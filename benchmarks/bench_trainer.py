"""Seconds per training step, measured against SPEC.md §7's anchor (TRL GRPOTrainer on this
2-core machine: median 0.20-0.21 s/step without gradient checkpointing, 0.27 s with it).

Same work as the anchor: a randomly initialised 2-layer, d = 128, 4-head GPT
(~0.4M parameters; a 100-word vocabulary here, 120 there), 32 prompts x 8
completions of up to 12 tokens per optimizer step, GRPO, no reference model.
It runs the trainer's own ``collect`` and ``update``, so it times exactly
what ``rollout-diversity train`` does per step (evaluation and logging
excluded), and splits a step into generation, scoring (the no-gradient pass
for old log-probabilities and entropies) and the update (forward + backward
+ Adam, once per minibatch)::

    .venv/bin/python benchmarks/bench_trainer.py            # default: 1 and 2 minibatches
    .venv/bin/python benchmarks/bench_trainer.py --steps 40 --minibatches 1
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from trainers.config import ControlConfig, RLConfig, RunConfig, TrainConfig, resolve_policy
from trainers.loop import update
from trainers.methods import make_method
from trainers.policy_builder import build_policy, pick_device
from trainers.rollouts import generate, token_logprobs_and_entropy
from trainers.tasks import TASKS


def bench(minibatches: int, steps: int, warmup: int, device: torch.device) -> dict[str, float]:
    config = TrainConfig(run=RunConfig(out="unused"), rl=RLConfig(minibatches=minibatches), control=ControlConfig())
    config = config.resolved()
    policy_config = resolve_policy(config.policy, None, None)
    torch.manual_seed(0)
    tokenizer, policy = build_policy(policy_config, device)
    task, method = TASKS["A"], make_method(config)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.rl.lr)
    rl, pool = config.rl, task.prompts("train")
    generator = torch.Generator(device).manual_seed(0)
    parts: dict[str, list[float]] = {"generate": [], "score": [], "update": [], "step": []}
    for i in range(warmup + steps):
        prompts = [pool[(i * rl.prompts_per_step + j) % len(pool)] for j in range(rl.prompts_per_step)]
        t0 = time.perf_counter()
        batch = generate(policy, tokenizer, task, prompts, rl.group_size, rl.max_new_tokens, rl.temperature, generator, device)
        t1 = time.perf_counter()
        batch = token_logprobs_and_entropy(policy, batch, rl.temperature, rl.entropy_chunk)
        t2 = time.perf_counter()
        update(policy, optimizer, method, batch, config, None)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t3 = time.perf_counter()
        if i >= warmup:
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                parts[name].append(seconds)
    return {name: statistics.median(values) for name, values in parts.items()} | {
        "tokens": float(batch.response_mask.sum(1).mean()),
        "params": sum(p.numel() for p in policy.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--minibatches", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    for minibatches in args.minibatches:
        r = bench(minibatches, args.steps, args.warmup, device)
        print(f"minibatches={minibatches}: median {r['step']:.3f} s/step (generate {r['generate']:.3f}, "
              f"score {r['score']:.3f}, update {r['update']:.3f}); {r['tokens']:.1f} tokens/response, "
              f"{r['params'] / 1e6:.2f}M parameters")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
