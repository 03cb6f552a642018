"""Policies: a tiny decoder-only transformer in plain PyTorch, and an adapter for
any Hugging Face causal LM; both sampled by one function. No I/O here.

A policy is an ``nn.Module`` with

- ``forward(input_ids, attention_mask) -> logits``: (B, T) -> (B, T, V), for scoring;
- ``next_logits(input_ids, attention_mask, cache) -> (logits, cache)``: (B, V) for
  the last position, for sampling (the adapter reuses the model's KV cache).

Prompts are left-padded; positions count real tokens only, so a prompt's
tokens get the same positions whatever the padding.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 32
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token among the real (mask = 1) tokens of its row: (B, T) -> (B, T)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class KVCache:
    """Every layer's keys and values, preallocated for the whole context (``block_size`` positions), so
    each decoding step writes its one new position in place instead of concatenating the cache."""

    def __init__(self, config: GPTConfig, batch: int, like: torch.Tensor):
        shape = (config.n_layer, batch, config.n_head, config.block_size, config.n_embd // config.n_head)
        self.k = torch.empty(shape, dtype=like.dtype, device=like.device)  # (L, B, nh, block, hs)
        self.v = torch.empty_like(self.k)
        self.length = 0  # positions filled

    def repeat(self, times: int) -> "KVCache":
        """Each row ``times`` times over (consecutively), filled positions only: a group's shared prompt."""
        out = copy.copy(self)
        out.k = self.k.new_empty((self.k.shape[0], self.k.shape[1] * times, *self.k.shape[2:]))
        out.v = torch.empty_like(out.k)
        out.k[:, :, :, : self.length] = self.k[:, :, :, : self.length].repeat_interleave(times, 1)
        out.v[:, :, :, : self.length] = self.v[:, :, :, : self.length].repeat_interleave(times, 1)
        return out

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k``, ``v`` (B, nh, t, hs) after the filled positions; the layer's keys and values so far."""
        end = self.length + k.shape[2]
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]  # (B, nh, T, hs)


class SharedPrompt:
    """Each group's prompt keys and values, with gradient: recorded by one pass over the group's
    prompt (:meth:`extend` keeps them), then repeated for the group's G rows (:meth:`repeat`), after
    which :meth:`extend` puts them before the responses' keys and values."""

    def __init__(self):
        self.kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.repeated = False

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.repeated:
            self.kv.append((k, v))  # (P, nh, W, hs)
            return k, v
        past_k, past_v = self.kv[layer]  # (N, nh, W, hs)
        return torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)  # (N, nh, W + t, hs)

    def repeat(self, group_size: int) -> None:
        self.kv = [(k.repeat_interleave(group_size, 0), v.repeat_interleave(group_size, 0)) for k, v in self.kv]
        self.repeated = True


class SelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, cache: KVCache | SharedPrompt | None = None, layer: int = 0):
        """x (B, t, C) new positions; allowed (B, 1, t, T) over past + new keys; ``cache`` holds the past."""
        B, t, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (z.view(B, t, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))  # (B, nh, t, hs)
        if cache is not None:
            k, v = cache.extend(layer, k, v)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.proj(y.transpose(1, 2).contiguous().view(B, t, C))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), nn.Linear(4 * config.n_embd, config.n_embd)
        )

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, cache: KVCache | SharedPrompt | None = None,
                layer: int = 0):
        x = x + self.attn(self.ln_1(x), allowed, cache, layer)
        return x + self.mlp(self.ln_2(x))


class TinyGPT(nn.Module):
    """A nanoGPT-style decoder (pre-LayerNorm blocks, tied embeddings, no dropout)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self._run(input_ids, attention_mask, None)

    def grouped_logits(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, ids: torch.Tensor,
                       mask: torch.Tensor, group_size: int) -> torch.Tensor:
        """What ``forward(cat(prompt, ids), cat(masks))[:, W - 1:]`` gives, (N, 1 + t, V), computing each
        group's prompt once: prompt rows (N, W) are the same within each group of ``group_size``
        consecutive rows, ``ids`` / ``mask`` (N, t) follow them."""
        shared = SharedPrompt()
        last = self._run(prompt_ids[::group_size], prompt_mask[::group_size], shared)[:, -1:]  # (P, 1, V)
        shared.repeat(group_size)
        rest = self._run(ids, torch.cat([prompt_mask, mask], dim=1), shared)  # (N, t, V)
        return torch.cat([last.repeat_interleave(group_size, 0), rest], dim=1)

    def next_logits(self, input_ids, attention_mask, cache: KVCache | None = None, group_size: int = 1):
        """The last position's logits; with a cache, only the newest token is computed. Without one (the
        prompt pass), rows come in groups of ``group_size`` equal prompts, each computed once."""
        if cache is not None:
            logits = self._run(input_ids[:, -1:], attention_mask, cache)[:, -1]
            cache.length += 1
            return logits, cache
        cache = KVCache(self.config, input_ids.shape[0] // group_size, self.wte.weight)
        logits = self._run(input_ids[::group_size], attention_mask[::group_size], cache)[:, -1]
        cache.length = input_ids.shape[1]
        return logits.repeat_interleave(group_size, 0), cache.repeat(group_size)

    def _run(self, ids: torch.Tensor, attention_mask: torch.Tensor, cache: KVCache | SharedPrompt | None) -> torch.Tensor:
        """ids (B, t): the last t of the T positions that ``attention_mask`` (B, T) covers."""
        T, t = attention_mask.shape[1], ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
        square = torch.ones(T, T, dtype=torch.bool, device=ids.device)
        causal, itself = square.tril()[T - t :], torch.eye(T, dtype=torch.bool, device=ids.device)[T - t :]  # (t, T)
        # A token sees earlier real tokens and itself (so padding rows never see nothing).
        allowed = ((causal & attention_mask.bool()[:, None, :]) | itself)[:, None]  # (B, 1, t, T)
        x = self.wte(ids) + self.wpe(positions(attention_mask)[:, T - t :])  # (B, t, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, allowed, cache, layer)
        return self.lm_head(self.ln_f(x))  # (B, t, V)


class HFPolicy(nn.Module):
    """Any Hugging Face causal LM behind the policy interface (positions from the mask)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        # transformers 5 renamed ``past_key_values`` to ``cache``; accept either.
        self.cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask))
        return out.logits

    def next_logits(self, input_ids, attention_mask, cache=None, group_size: int = 1):
        """Feeds only the newest token once the model's KV cache holds the rest (every row's prompt is
        computed: ``group_size`` is a hint this adapter does not use)."""
        ids, pos = input_ids, positions(attention_mask)
        if cache is not None:
            ids, pos = ids[:, -1:], pos[:, -1:]
        out = self.model(input_ids=ids, attention_mask=attention_mask, position_ids=pos, use_cache=True,
                         **{self.cache_name: cache})
        return out.logits[:, -1], out.get(self.cache_name)


def left_pad(sequences: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id lists -> (ids, mask), both (B, T), padded on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.tensor([[pad_id] * (width - len(s)) + list(s) for s in sequences], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], dtype=torch.long)
    return ids.reshape(len(sequences), width).to(device), mask.reshape(len(sequences), width).to(device)


@torch.no_grad()
def sample(
    policy: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator | None = None,
    group_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample responses from softmax(logits / temperature), nothing truncated (no top-k / top-p).

    Returns the response ids and mask, (B, R) with R <= max_new_tokens (the
    mask is 1 up to and including each response's end token), and, from the
    same float32 logits z, each sampled token's log pi = z_o - logsumexp(z)
    and its position's entropy H = logsumexp(z) - sum softmax(z) z (SPEC.md
    §3), both (B, R) and 0 on padding: the sampling policy's log-probabilities
    and entropies, so on-policy data needs no second scoring pass. Rows in
    groups of ``group_size`` equal prompts let the policy compute each prompt once.
    """
    ids, mask, cache = prompt_ids, prompt_mask, None
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    logps, entropies = [], []
    for _ in range(max_new_tokens):
        logits, cache = policy.next_logits(ids, mask, cache, group_size)
        z = logits.float() / temperature  # (B, V)
        probs = torch.softmax(z, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        lse = torch.logsumexp(z, dim=-1)
        logps.append(z.gather(-1, token[:, None]).squeeze(1) - lse)
        entropies.append(lse - (probs * z).sum(-1))
        token = torch.where(done, torch.full_like(token, pad_id), token)
        ids = torch.cat([ids, token[:, None]], dim=1)
        mask = torch.cat([mask, (~done).long()[:, None]], dim=1)
        done |= token == eos_id
        if bool(done.all()):
            break
    width = prompt_ids.shape[1]
    response_mask = mask[:, width:]
    live = response_mask.float()
    return ids[:, width:], response_mask, torch.stack(logps, 1) * live, torch.stack(entropies, 1) * live
