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


class SelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, past=None):
        """x (B, t, C) new positions; allowed (B, 1, t, T) over past + new keys; past: cached (k, v)."""
        B, t, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (z.view(B, t, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))  # (B, nh, t, hs)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.proj(y.transpose(1, 2).contiguous().view(B, t, C)), (k, v)


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), nn.Linear(4 * config.n_embd, config.n_embd)
        )

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, past=None):
        y, kv = self.attn(self.ln_1(x), allowed, past)
        x = x + y
        return x + self.mlp(self.ln_2(x)), kv


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
        return self._run(input_ids, attention_mask, None)[0]

    def next_logits(self, input_ids, attention_mask, cache=None):
        """The last position's logits; with a cache, only the newest token is computed."""
        ids = input_ids if cache is None else input_ids[:, -1:]
        logits, cache = self._run(ids, attention_mask, cache)
        return logits[:, -1], cache

    def _run(self, ids: torch.Tensor, attention_mask: torch.Tensor, past):
        """ids (B, t): the last t of the T positions that ``attention_mask`` (B, T) covers."""
        T, t = attention_mask.shape[1], ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
        square = torch.ones(T, T, dtype=torch.bool, device=ids.device)
        causal, itself = square.tril()[T - t :], torch.eye(T, dtype=torch.bool, device=ids.device)[T - t :]  # (t, T)
        # A token sees earlier real tokens and itself (so padding rows never see nothing).
        allowed = ((causal & attention_mask.bool()[:, None, :]) | itself)[:, None]  # (B, 1, t, T)
        x = self.wte(ids) + self.wpe(positions(attention_mask)[:, T - t :])  # (B, t, C)
        cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, allowed, None if past is None else past[i])
            cache.append(kv)
        return self.lm_head(self.ln_f(x)), cache  # (B, t, V)


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

    def next_logits(self, input_ids, attention_mask, cache=None):
        """Feeds only the newest token once the model's KV cache holds the rest."""
        ids, pos = input_ids, positions(attention_mask)
        if cache is not None:
            ids, pos = ids[:, -1:], pos[:, -1:]
        out = self.model(input_ids=ids, attention_mask=attention_mask, position_ids=pos, use_cache=True,
                         **{self.cache_name: cache})
        return out.logits[:, -1], out.get(self.cache_name)


def left_pad(sequences: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id lists -> (ids, mask), both (B, T), padded on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
    return ids.to(device), mask.to(device)


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample responses from softmax(logits / temperature), nothing truncated (no top-k / top-p).

    Returns the response ids and mask, (B, R) with R <= max_new_tokens; the
    mask is 1 up to and including each response's end token.
    """
    ids, mask, cache = prompt_ids, prompt_mask, None
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for _ in range(max_new_tokens):
        logits, cache = policy.next_logits(ids, mask, cache)
        probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        ids = torch.cat([ids, token[:, None]], dim=1)
        mask = torch.cat([mask, (~done).long()[:, None]], dim=1)
        done |= token == eos_id
        if bool(done.all()):
            break
    width = prompt_ids.shape[1]
    return ids[:, width:], mask[:, width:]
