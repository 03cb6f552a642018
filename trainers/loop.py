"""The training loop: rollout -> advantage -> update -> controller -> log, once per step.

Every method shares this loop; what differs is one hook of the method object
(``trainers/methods.py``). Entry point: :func:`train`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rollout_common.errors import OptionError
from rollout_common.files import write_text_atomic
from rollout_common.run_directory import START, CheckpointRecord, RunRecord, config_record
from trainers import losses
from trainers.config import TrainConfig, resolve_policy, target_number
from trainers.methods import COUNT, GRPO, METHODS, Tokens, make_method
from trainers.policy_builder import build_policy, pick_device
from trainers.rollouts import Rollouts, concat, generate, response_logits
from trainers.rundir import RunDir, RunLog, load_parent, rollout_rows
from trainers.tasks import TASKS, Task


@dataclass
class Session:
    """What one run holds while it trains."""

    config: TrainConfig
    record: RunRecord  # what was derived from the parent: lineage, phase, first step
    run: RunDir
    device: torch.device
    tokenizer: Any
    policy: torch.nn.Module
    task: Task
    method: GRPO
    optimizer: torch.optim.Optimizer
    cpu_gen: torch.Generator  # prompt choice, Clip-Cov's random pick
    sample_gen: torch.Generator  # sampling responses
    noise_gen: torch.Generator  # the noisy training grader's flips (drawn only with --grader-noise)
    reference: torch.nn.Module | None  # the frozen start policy, for the KL method

    @property
    def start(self) -> int:
        return self.record.start_step

    @property
    def final(self) -> int:
        return self.start + self.config.run.steps


def train(config: TrainConfig, resume: bool = False, force: bool = False, progress: bool = True) -> Path:
    """Train (or, with ``resume``, continue) the run ``config.run.out``; returns its directory."""
    from tqdm.auto import tqdm

    from diversity.monitor import DiversityMonitor

    s = open_session(config, resume, force)
    step, log = _begin(s, resume)
    monitor = DiversityMonitor(group_size=s.config.rl.group_size)  # the same diversity/* keys as the TRL callback logs
    bar = tqdm(total=s.final - s.start, initial=step - s.start, disable=not progress, desc=s.record.lineage, leave=False)
    began = time.perf_counter()
    while step < s.final:
        step += 1
        row, logged = train_step(s, step)
        row.update(monitor.step(step, [p.text for p in logged.prompts], logged.texts, logged.rewards.tolist()))
        log.add_step(row, rollout_rows(logged, s.record, step=step, split="train", task=s.task.name, seed=s.config.run.seed))
        bar.update(1)
        bar.set_postfix(step=step, reward=f"{row['reward_mean']:.3f}", entropy=f"{row['entropy']:.3f}")
        done = step - s.start
        if done % s.config.run.eval_every == 0 or step == s.final:
            log_evaluation(s.policy, s.tokenizer, s.config, s.record, step, log, s.device)
        if done % s.config.run.save_every == 0 or step == s.final:
            log.flush()  # logs first, then the checkpoint that vouches for them
            s.run.save_latest({
                "step": step, "model": s.policy.state_dict(), "optimizer": s.optimizer.state_dict(),
                "method": s.method.state_dict(), "cpu_generator": s.cpu_gen.get_state(),
                "sample_generator": s.sample_gen.get_state(), "noise_generator": s.noise_gen.get_state(),
            })
    bar.close()
    s.run.save_final(CheckpointRecord(
        kind="train", step=step, phase=s.record.phase, lineage=s.record.lineage, task=s.task.name,
        method=s.config.run.method, target_entropy=s.method.target, policy=policy_record(s.config),
        vocab=vocab_list(s.tokenizer),
    ), s.policy.state_dict())
    _write_summary(s.run, log, s.config, s.record, s.method, time.perf_counter() - began)
    return s.run.root


def train_step(s: Session, step: int) -> tuple[dict, Rollouts]:
    """One step of the algorithm: rollout -> advantage and update -> controller. Returns the metrics
    row and the step's sampled groups."""
    tick = time.perf_counter()
    logged, batch = collect(s.policy, s.tokenizer, s.task, s.method, s.config, s.cpu_gen, s.sample_gen, s.device,
                            s.noise_gen)
    entropy = logged.token_mean_entropy()
    if s.method.uses_target and s.method.target is None:
        s.method.target = entropy  # H_init: the policy's own entropy on its first batch, before any update
    control = s.method.control()  # the value this step's update uses
    stats = update(s.policy, s.optimizer, s.method, batch, s.config, s.reference)
    s.method.after_step(entropy)
    row = {
        "step": step, "phase": s.record.phase, "lineage": s.record.lineage, "task": s.task.name,
        "method": s.config.run.method, "reward_mean": float(logged.rewards.mean()),
        "reward_std": float(logged.rewards.std()), "reward_zero_std": zero_std_fraction(logged), "entropy": entropy,
        "target_entropy": s.method.target,
        **stats, **control, "response_tokens": float(logged.response_mask.sum(1).mean()),
        "time_s": time.perf_counter() - tick,
    }
    return row, logged


def open_session(config: TrainConfig, resume: bool, force: bool) -> Session:
    """Resolve the config against the parent run, create (or reopen) the run directory, build everything."""
    config = config.resolved()
    parent, parent_weights = load_parent(config.run.init_from) if config.run.init_from else (None, None)
    config, record = _derive(config, parent)
    run = RunDir(config.run.out)
    _open_run(run, config, record, resume, force)
    device = pick_device(config.run.device)
    torch.manual_seed(config.run.seed)
    tokenizer, policy = build_policy(config.policy, device)
    _check_budget(config, tokenizer, policy)
    if parent is not None:
        _load_weights(policy, tokenizer, parent, parent_weights, config.run.init_from)
    target = _initial_target(config, parent, tokenizer.vocab_size)
    cpu_gen = torch.Generator().manual_seed(config.run.seed)
    sample_gen = torch.Generator(device).manual_seed(config.run.seed + 1)
    noise_gen = torch.Generator().manual_seed(config.run.seed + 2)
    method = make_method(config, cpu_gen)
    method.target = target if method.uses_target else None
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.rl.lr)
    reference = _reference(run, policy, method, resume)
    return Session(config, record, run, device, tokenizer, policy, TASKS[config.run.task], method, optimizer,
                   cpu_gen, sample_gen, noise_gen, reference)


def _begin(s: Session, resume: bool) -> tuple[int, RunLog]:
    """(step, logs) from the last readable checkpoint when resuming, else a fresh start evaluated at its
    first step."""
    checkpoint = s.run.load_latest() if resume else None
    if checkpoint is None:
        log = RunLog.restore(s.run, s.start - 1)  # drops what a run killed before its first checkpoint wrote
        log_evaluation(s.policy, s.tokenizer, s.config, s.record, s.start, log, s.device)
        return s.start, log
    s.policy.load_state_dict(checkpoint["model"])
    s.optimizer.load_state_dict(checkpoint["optimizer"])
    s.method.load_state_dict(checkpoint["method"])
    s.cpu_gen.set_state(checkpoint["cpu_generator"])
    s.sample_gen.set_state(checkpoint["sample_generator"])
    s.noise_gen.set_state(checkpoint["noise_generator"])
    return checkpoint["step"], RunLog.restore(s.run, checkpoint["step"])


def collect(policy, tokenizer, task: Task, method: GRPO, config: TrainConfig, cpu_gen, sample_gen, device,
            noise_gen=None):
    """This step's groups: (the first draw, all of it, for the logs; the groups that train).

    Prompts come from the task's train prompts (``--train-prompts`` of them);
    with ``--grader-noise`` the rewards are the noisy training grader's.
    Methods that drop groups (DAPO's dynamic sampling) draw again, up to
    ``--max-gen-batches`` times, until ``--prompts-per-step`` groups are kept.
    """
    rl = config.rl
    pool = task.train_subset(config.run.train_prompts)
    drawn, kept, n_kept = [], [], 0
    for _ in range(config.control.max_gen_batches):
        choice = torch.randint(len(pool), (rl.prompts_per_step,), generator=cpu_gen).tolist()
        batch = generate(policy, tokenizer, task, [pool[i] for i in choice], rl.group_size, rl.max_new_tokens,
                         rl.temperature, sample_gen, device)
        if config.run.grader_noise > 0:
            batch.rewards = noisy_rewards(task, batch, config.run.grader_noise, noise_gen)
        drawn.append(batch)
        keep = method.keep(batch.group_rewards())
        kept.append(batch.select(keep))
        n_kept += int(keep.sum())
        if n_kept >= rl.prompts_per_step:
            break
    train = concat(kept, tokenizer.pad_id)
    return drawn[0], train.slice_groups(0, min(n_kept, rl.prompts_per_step))


def noisy_rewards(task: Task, batch: Rollouts, flip: float, generator: torch.Generator) -> torch.Tensor:
    """The rewards of a grader that misjudges each check (``Task.checks``) with chance ``flip``, (N,):
    a stand-in for a noisy verifier or judge."""
    prompts = [p for p in batch.prompts for _ in range(batch.group_size)]
    checks = [task.checks(p, text) for p, text in zip(prompts, batch.texts)]
    flips = (torch.rand(len(checks), max(map(len, checks)), generator=generator) < flip).tolist()
    rewards = [sum(c != f for c, f in zip(row, flipped)) / len(row) for row, flipped in zip(checks, flips)]
    return torch.tensor(rewards, dtype=torch.float32, device=batch.rewards.device)


def zero_std_fraction(batch: Rollouts) -> float:
    """Fraction of groups whose rewards are all equal: their GRPO advantage is zero (TRL's
    ``frac_reward_zero_std``), so they teach nothing."""
    rewards = batch.group_rewards()
    return float((rewards.max(1).values == rewards.min(1).values).float().mean())


def update(policy, optimizer, method: GRPO, batch: Rollouts, config: TrainConfig, reference) -> dict[str, float]:
    """Advantages per group, then one optimizer step per minibatch of groups; returns mean statistics."""
    rl = config.rl
    groups = len(batch.prompts)
    if groups == 0:  # every group was dropped: nothing to learn from this step
        return {"loss": math.nan, "groups_kept": 0}
    adv = method.advantages(batch.group_rewards()).flatten()  # (N,)
    totals: dict[str, float] = defaultdict(float)
    edges = torch.linspace(0, groups, min(rl.minibatches, groups) + 1).round().long().tolist()
    for lo, hi in zip(edges[:-1], edges[1:]):
        part = batch.slice_groups(lo, hi).trimmed()
        mask = part.response_mask
        logits = response_logits(policy, part, rl.temperature)  # (n, R, V)
        logp, entropy = losses.logprobs_and_entropy(logits, part.response_ids, rl.entropy_chunk,
                                                    entropy_grad=method.needs_entropy_grad)
        ref_logp = None
        if reference is not None:
            with torch.no_grad():
                ref_logp = losses.token_logprobs(response_logits(reference, part, rl.temperature), part.response_ids)
        token_adv = adv[lo * batch.group_size : hi * batch.group_size, None].expand_as(mask)
        token_loss, extra = method.token_loss(Tokens(logp, part.old_logp, entropy, token_adv, mask, ref_logp))
        loss = losses.aggregate(token_loss, mask, rl.aggregation, rl.max_new_tokens)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if rl.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), rl.grad_clip)
        optimizer.step()
        with torch.no_grad():
            totals["loss"] += float(loss)
            totals["approx_kl"] += _masked_mean(losses.kl_estimate(logp, part.old_logp, "k3"), mask)
            for name, value in extra.items():  # the method's statistics: counts add up over the step, means average
                counted = method.statistics[name] == COUNT
                totals[name] += float(value[mask > 0].sum()) if counted else _masked_mean(value, mask)
    n = len(edges) - 1
    stats = {name: value if method.statistics.get(name) == COUNT else value / n for name, value in totals.items()}
    return {**stats, "groups_kept": groups}


def _masked_mean(value: torch.Tensor, mask: torch.Tensor) -> float:
    return float((value.float() * mask).sum() / mask.sum().clamp(min=1.0))


@torch.no_grad()
def evaluate(policy, tokenizer, config: TrainConfig, step: int, device) -> dict[str, Rollouts]:
    """Sample ``--eval-groups`` groups per eval prompt of every task, with a generator seeded by the
    step alone, so evaluation never shifts the training's random stream."""
    rl = config.rl
    generator = torch.Generator(device).manual_seed(config.run.seed * 1_000_003 + step + 7)
    results = {}
    for name, task in TASKS.items():
        prompts = [p for p in task.prompts("eval") for _ in range(config.run.eval_groups)]
        parts = []
        for i in range(0, len(prompts), rl.prompts_per_step):
            parts.append(generate(policy, tokenizer, task, prompts[i : i + rl.prompts_per_step], rl.group_size,
                                  rl.max_new_tokens, rl.temperature, generator, device))
        results[name] = concat(parts, tokenizer.pad_id)
    return results


def log_evaluation(policy, tokenizer, config, record: RunRecord, step, log: RunLog, device) -> None:
    rows, results = [], []
    for name, batch in evaluate(policy, tokenizer, config, step, device).items():
        rewards = batch.rewards
        results.append({"step": step, "phase": record.phase, "lineage": record.lineage, "task": name,
                        "reward_mean": float(rewards.mean()),
                        "reward_se": float(rewards.std() / math.sqrt(len(rewards))),
                        "entropy": batch.token_mean_entropy(), "responses": len(rewards)})
        rows += rollout_rows(batch, record, step=step, split="eval", task=name, seed=config.run.seed)
    log.add_eval(step, results, rows)


def _derive(config: TrainConfig, parent: CheckpointRecord | None) -> tuple[TrainConfig, RunRecord]:
    """Settle what depends on the parent: policy, lineage, phase and the first global step."""
    run = config.run
    policy = resolve_policy(config.policy, parent.policy if parent else None, run.init_from)
    trained_parent = parent is not None and parent.kind == "train"
    lineage = run.lineage or (parent.lineage if trained_parent else Path(run.out).resolve().name)
    phase = run.phase
    if phase is None:
        phase = "1"
        if parent is not None:
            if not parent.phase.isdigit():
                raise OptionError(f"--init-from {run.init_from} has phase {parent.phase!r}, not a number; pass --phase")
            phase = str(int(parent.phase) + 1)
    record = RunRecord(lineage=lineage, phase=phase, start_step=parent.step if parent else 0, parent=run.init_from,
                       parent_lineage=parent.lineage if parent else None)
    return replace(config, policy=policy), record


def _open_run(run: RunDir, config: TrainConfig, record: RunRecord, resume: bool, force: bool) -> None:
    content = config_record(config.to_dict(), record)
    if not resume:
        run.create(content, force)
        return
    ours, theirs = _flatten(content), _flatten(run.saved_config())
    diffs = sorted(k for k in ours.keys() | theirs.keys() if k != "run.steps" and ours.get(k) != theirs.get(k))
    if diffs:
        raise OptionError(
            f"--resume {run.root}: options differ from its config.json ({', '.join(diffs)}); "
            "resume with the run's own options (only --steps may change)"
        )
    run.write_config(content)


def _flatten(record: dict) -> dict:
    return {f"{section}.{key}": value for section, values in record.items() for key, value in values.items()}


def _check_budget(config: TrainConfig, tokenizer, policy) -> None:
    block = getattr(getattr(policy, "config", None), "block_size", None)
    longest = max(len(tokenizer.encode(p.text)) for t in TASKS.values() for s in ("train", "eval") for p in t.prompts(s))
    if block is not None and longest + config.rl.max_new_tokens > block:
        raise OptionError(f"--max-new-tokens {config.rl.max_new_tokens} is too long: prompts of {longest} tokens "
                          f"plus the response exceed the tiny GPT's {block}-token context; use at most {block - longest}")


def _load_weights(policy, tokenizer, parent: CheckpointRecord, weights: dict, source: str) -> None:
    if parent.vocab != vocab_list(tokenizer):
        raise OptionError(f"--init-from {source}: its checkpoint was trained with another vocabulary; "
                          "start from a run of this version of the trainer (or re-run the warm-up)")
    try:
        policy.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise OptionError(f"--init-from {source}: its weights do not fit this policy ({first}); "
                          "use the same --model and vocabulary as that run") from None


def _initial_target(config: TrainConfig, parent: CheckpointRecord | None, vocab_size: int) -> float | None:
    """A number, the parent's target ('parent'), or None: measured on the first batch ('init')."""
    choice = config.control.target_entropy
    if choice == "parent":
        if parent is None or parent.target_entropy is None:
            targeted = ", ".join(name for name, method in METHODS.items() if method.uses_target)
            raise OptionError(f"--target-entropy parent needs --init-from a run that had an entropy target "
                              f"({targeted}); pass init or a number instead")
        return float(parent.target_entropy)
    return target_number(choice, vocab_size)


def _reference(run: RunDir, policy, method: GRPO, resume: bool):
    """A frozen copy of the start policy for the KL method, kept in checkpoints/start.pt for resuming."""
    if not method.needs_reference:
        return None
    reference = copy.deepcopy(policy).eval().requires_grad_(False)
    saved = run.load(START) if resume else None
    if saved is not None:
        reference.load_state_dict(saved["model"])
    else:
        run.save(START, {"model": policy.state_dict()})
    return reference


def policy_record(config: TrainConfig) -> dict:
    return {k: getattr(config.policy, k) for k in ("model", "n_layer", "n_head", "n_embd", "dtype")}


def vocab_list(tokenizer) -> list[str] | None:
    return list(getattr(tokenizer, "words", [])) or None


def _write_summary(run: RunDir, log: RunLog, config: TrainConfig, record: RunRecord, method: GRPO, wall: float) -> None:
    steps = log.metrics
    finals = {e["task"]: e["reward_mean"] for e in log.evals if e["step"] == log.evals[-1]["step"]}
    summary = {
        **record.to_dict(), "method": config.run.method, "task": config.run.task, "steps": len(steps),
        "wall_s_this_session": wall, "median_step_s": sorted(m["time_s"] for m in steps)[len(steps) // 2] if steps else None,
        "entropy_first": steps[0]["entropy"] if steps else None, "entropy_last": steps[-1]["entropy"] if steps else None,
        "target_entropy": steps[-1].get("target_entropy") if steps else None,
        **method.summary(steps), "final_eval_reward": finals,
    }
    write_text_atomic(run.summary, json.dumps(summary, indent=2, default=float) + "\n")
