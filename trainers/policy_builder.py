"""Building a policy and its tokenizer on a device: the built-in tiny GPT, or a Hugging Face model
from a local directory (nothing is ever downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch

from rollout_common.errors import OptionError
from trainers.config import PolicyConfig
from trainers.policy import GPTConfig, HFPolicy, TinyGPT
from trainers.tasks import vocabulary
from trainers.tokenizer import HFTokenizer, WordTokenizer

# Longest sequence the tiny GPT sees: prompts are at most 7 words; responses up to 57 tokens fit.
TINY_BLOCK_SIZE = 64


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"--device {name}: CUDA is not available here; use --device cpu or auto")
    return device


def build_policy(config: PolicyConfig, device: torch.device):
    """(tokenizer, policy) for a resolved policy config, with freshly initialised or pretrained weights."""
    dtype = getattr(torch, config.dtype)
    if config.model == "tiny":
        tokenizer = WordTokenizer(vocabulary())
        gpt = GPTConfig(tokenizer.vocab_size, TINY_BLOCK_SIZE, config.n_layer, config.n_head, config.n_embd)
        return tokenizer, TinyGPT(gpt).to(device=device, dtype=dtype)
    path = Path(config.model)
    if not (path / "config.json").is_file():
        raise OptionError(f"--model {path}: not a Hugging Face model directory (no config.json); "
                          "give a local directory or 'tiny'")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        tokenizer = HFTokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))
    except (OSError, ValueError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise OptionError(f"--model {path}: cannot load a causal LM and its tokenizer ({message})") from None
    return tokenizer, HFPolicy(model).to(device)
