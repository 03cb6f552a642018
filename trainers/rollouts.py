"""Sampling groups of responses, grading them, and the log-probabilities and entropies of their
tokens under a policy.

N = groups x G responses, W prompt width (left-padded), R = max_new_tokens
response width (right-padded). No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

from trainers import losses
from trainers.policy import left_pad, sample
from trainers.tasks import Prompt, Task

_RESPONSE_COLUMNS = ("response_ids", "response_mask", "old_logp", "entropy")  # the (N, R) fields


@dataclass
class Rollouts:
    """One batch of groups: the G responses to each prompt are consecutive rows."""

    prompts: list[Prompt]  # one per group
    group_size: int
    prompt_ids: torch.Tensor  # (N, W)
    prompt_mask: torch.Tensor  # (N, W)
    response_ids: torch.Tensor  # (N, R)
    response_mask: torch.Tensor  # (N, R) float, 1.0 up to and including the end token
    texts: list[str]  # (N,) decoded responses
    rewards: torch.Tensor  # (N,)
    old_logp: torch.Tensor | None = None  # (N, R) log pi_old(o_t): from the sampling pass, or token_logprobs_and_entropy()
    entropy: torch.Tensor | None = None  # (N, R) H_t of pi_old, likewise

    def group_rewards(self) -> torch.Tensor:
        return self.rewards.view(len(self.prompts), self.group_size)

    def token_mean_entropy(self) -> float:
        return float((self.entropy * self.response_mask).sum() / self.response_mask.sum().clamp(min=1.0))

    def response_entropy(self) -> torch.Tensor:
        """Mean per-token entropy of each response, (N,)."""
        return (self.entropy * self.response_mask).sum(1) / self.response_mask.sum(1).clamp(min=1.0)

    def select(self, groups: torch.Tensor) -> "Rollouts":
        """The groups where ``groups`` (P,) is True, in order."""
        rows = groups.repeat_interleave(self.group_size)
        keep = [i for i, k in enumerate(rows.tolist()) if k]
        tensors = {f.name: getattr(self, f.name)[rows] for f in fields(self) if isinstance(getattr(self, f.name), torch.Tensor)}
        return Rollouts(
            prompts=[p for p, k in zip(self.prompts, groups.tolist()) if k], group_size=self.group_size,
            texts=[self.texts[i] for i in keep], **tensors,
        )

    def trimmed(self) -> "Rollouts":
        """The same groups with the response columns cut after the longest response: the columns past
        every end token are padding that the update's forward pass need not compute."""
        width = max(int(self.response_mask.sum(1).max().item()), 1) if self.response_mask.numel() else 1
        cut = {f.name: getattr(self, f.name)[:, :width] for f in fields(self) if f.name in _RESPONSE_COLUMNS
               and getattr(self, f.name) is not None}
        return replace(self, **cut)

    def slice_groups(self, start: int, stop: int) -> "Rollouts":
        groups = torch.zeros(len(self.prompts), dtype=torch.bool)
        groups[start:stop] = True
        return self.select(groups.to(self.rewards.device))


def concat(batches: list[Rollouts], pad_id: int) -> Rollouts:
    """Stack batches, re-padding prompts on the left to a common width."""
    width = max(b.prompt_ids.shape[1] for b in batches)

    def stack(name: str, value: int | None = None) -> torch.Tensor | None:
        parts = [getattr(b, name) for b in batches]
        if parts[0] is None:
            return None
        if value is not None:
            parts = [torch.nn.functional.pad(t, (width - t.shape[1], 0), value=value) for t in parts]
        return torch.cat(parts)

    return Rollouts(
        prompts=[p for b in batches for p in b.prompts], group_size=batches[0].group_size,
        prompt_ids=stack("prompt_ids", pad_id), prompt_mask=stack("prompt_mask", 0),
        response_ids=stack("response_ids"), response_mask=stack("response_mask"),
        texts=[t for b in batches for t in b.texts], rewards=stack("rewards"),
        old_logp=stack("old_logp"), entropy=stack("entropy"),
    )


def generate(policy, tokenizer, task: Task, prompts: list[Prompt], group_size: int, max_new_tokens: int,
             temperature: float, generator: torch.Generator, device: torch.device) -> Rollouts:
    """Sample ``group_size`` responses per prompt and grade them with the task's grader; ``old_logp`` and
    ``entropy`` come from the sampling pass itself (the sampling policy's own, on-policy)."""
    encoded = [tokenizer.encode(p.text) for p in prompts for _ in range(group_size)]
    prompt_ids, prompt_mask = left_pad(encoded, tokenizer.pad_id, device)
    was_training = policy.training
    policy.eval()
    response_ids, response_mask, old_logp, entropy = sample(
        policy, prompt_ids, prompt_mask, max_new_tokens, temperature, tokenizer.eos_id, tokenizer.pad_id, generator,
        group_size,
    )
    policy.train(was_training)
    short = max_new_tokens - response_ids.shape[1]  # every response ended early: pad to the full width
    response_ids = torch.nn.functional.pad(response_ids, (0, short), value=tokenizer.pad_id)
    response_mask, old_logp, entropy = (torch.nn.functional.pad(t, (0, short)) for t in (response_mask, old_logp, entropy))
    texts = [tokenizer.decode(row) for row in response_ids.tolist()]
    rewards = [task.grade(p, text) for p, text in zip((p for p in prompts for _ in range(group_size)), texts)]
    return Rollouts(prompts, group_size, prompt_ids, prompt_mask, response_ids, response_mask.float(), texts,
                    torch.tensor(rewards, dtype=torch.float32, device=device), old_logp, entropy)


def response_logits(policy, batch: Rollouts, temperature: float) -> torch.Tensor:
    """Logits / temperature at the positions that predict the response tokens, float32 (N, R, V).

    Position t predicts token t + 1, so the last response token is never fed.
    A policy with ``grouped_logits`` (the tiny GPT) computes each group's
    shared prompt once instead of G times.
    """
    width, inputs, mask = batch.prompt_ids.shape[1], batch.response_ids[:, :-1], batch.response_mask[:, :-1].long()
    if hasattr(policy, "grouped_logits") and batch.group_size > 1 and _groups_share_prompts(batch):
        logits = policy.grouped_logits(batch.prompt_ids, batch.prompt_mask, inputs, mask, batch.group_size)
    else:
        ids, full_mask = torch.cat([batch.prompt_ids, inputs], dim=1), torch.cat([batch.prompt_mask, mask], dim=1)
        logits = policy(ids, full_mask)[:, width - 1 :]
    return logits.float() / temperature


def _groups_share_prompts(batch: Rollouts) -> bool:
    first = batch.prompt_ids[:: batch.group_size].repeat_interleave(batch.group_size, 0)
    return first.shape == batch.prompt_ids.shape and torch.equal(first, batch.prompt_ids)


@torch.no_grad()
def token_logprobs_and_entropy(policy, batch: Rollouts, temperature: float, chunk_size: int, max_rows: int = 512) -> Rollouts:
    """Fill ``old_logp`` (log pi of each response token) and ``entropy`` (H_t) under ``policy`` by a full
    forward pass, ``max_rows`` at a time: for responses that ``policy`` did not sample itself (hand-made or
    off-policy batches); sampled ones carry them from :func:`generate`."""
    logps, entropies = [], []
    for start in range(0, batch.response_ids.shape[0], max_rows):
        part = _rows(batch, start, start + max_rows)
        logits = response_logits(policy, part, temperature)
        logps.append(losses.token_logprobs(logits, part.response_ids) * part.response_mask)
        entropies.append(losses.entropy_from_logits(logits, chunk_size) * part.response_mask)
    batch.old_logp, batch.entropy = torch.cat(logps), torch.cat(entropies)
    return batch


def _rows(batch: Rollouts, start: int, stop: int) -> Rollouts:
    """A view of rows [start, stop) with only what response_logits reads."""
    return Rollouts([], batch.group_size, batch.prompt_ids[start:stop], batch.prompt_mask[start:stop],
                    batch.response_ids[start:stop], batch.response_mask[start:stop], [], batch.rewards[start:stop])
