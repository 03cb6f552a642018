"""Supervised warm-up: the shared base policy every lineage starts from.

It fits the tiny GPT to noisy-but-plausible demonstrations of both tasks'
train prompts (``Task.demonstrate``), so the base is like a pretrained,
instruction-tuned model: partly competent, coherent, with entropy well below
the uniform log|V|, and with errors that are wrong choices among plausible
words rather than junk (SPEC.md §6). The run directory holds
``checkpoints/final.pt`` (what ``train --init-from`` reads), the base's
evaluation on every task (``eval.jsonl``, ``rollouts/``) and ``summary.json``.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch

from rollout_common.files import write_text_atomic
from rollout_common.run_directory import CheckpointRecord, RunRecord, config_record
from trainers import losses
from trainers.config import RunConfig, TrainConfig, WarmupConfig
from trainers.loop import log_evaluation, policy_record, vocab_list
from trainers.policy import left_pad
from trainers.policy_builder import build_policy, pick_device
from trainers.rollouts import Rollouts, response_logits
from trainers.rundir import RunDir, RunLog
from trainers.tasks import TASKS


def demonstration_batch(tokenizer, examples, max_new_tokens: int, device) -> Rollouts:
    """(prompt, demonstration text) pairs as a batch whose responses end with the end token."""
    prompt_ids, prompt_mask = left_pad([tokenizer.encode(p.text) for p, _ in examples], tokenizer.pad_id, device)
    responses = torch.full((len(examples), max_new_tokens), tokenizer.pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), max_new_tokens))
    for row, (_, text) in enumerate(examples):
        ids = (tokenizer.encode(text) + [tokenizer.eos_id])[:max_new_tokens]
        responses[row, : len(ids)] = torch.tensor(ids)
        mask[row, : len(ids)] = 1.0
    zeros = torch.zeros(len(examples), device=device)
    return Rollouts([p for p, _ in examples], 1, prompt_ids, prompt_mask, responses.to(device), mask.to(device),
                    [t for _, t in examples], zeros)


def warmup(config: WarmupConfig, force: bool = False, progress: bool = True) -> Path:
    """Train the base policy; returns its run directory."""
    config = config.resolved()
    w = config.warmup
    record = RunRecord(lineage=Path(w.out).resolve().name, phase="0")
    run = RunDir(w.out)
    run.create(config_record(config.to_dict(), record), force)
    device = pick_device(w.device)
    torch.manual_seed(w.seed)
    tokenizer, policy = build_policy(config.policy, device)
    # Evaluation samples as a training run would: its defaults for G, length and temperature.
    train_view = TrainConfig(run=RunConfig(out=w.out, seed=w.seed, eval_groups=w.eval_groups), policy=config.policy)
    max_new_tokens = train_view.rl.max_new_tokens
    rng = random.Random(w.seed)
    pool = [(task, p) for task in TASKS.values() for p in task.prompts("train")]
    optimizer = torch.optim.AdamW(policy.parameters(), lr=w.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.45 * (1 + math.cos(math.pi * min(s / w.steps, 1.0)))
    )

    from tqdm.auto import tqdm

    began = time.perf_counter()
    bar = tqdm(range(w.steps), disable=not progress, desc="warm-up", leave=False)
    for _ in bar:
        examples = [(p, task.demonstrate(p, rng, config.noise)) for task, p in rng.choices(pool, k=w.batch_size)]
        batch = demonstration_batch(tokenizer, examples, max_new_tokens, device)
        logp = losses.token_logprobs(response_logits(policy, batch, 1.0), batch.response_ids)
        loss = -(logp * batch.response_mask).sum() / batch.response_mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
    seconds = time.perf_counter() - began

    log = RunLog(run)
    log_evaluation(policy, tokenizer, train_view, record, 0, log, device)
    log.flush()
    run.save_final(CheckpointRecord(kind="warmup", step=0, phase=record.phase, lineage=record.lineage, task=None,
                                    method="warmup", target_entropy=None, policy=policy_record(train_view),
                                    vocab=vocab_list(tokenizer)), policy.state_dict())
    summary = {"warmup_s": seconds, "steps": w.steps, "log_vocab": math.log(tokenizer.vocab_size),
               "eval": {e["task"]: {"reward": e["reward_mean"], "entropy": e["entropy"]} for e in log.evals}}
    write_text_atomic(run.summary, json.dumps(summary, indent=2) + "\n")
    return run.root
