"""Policies: the tiny GPT's cache and padding, sampling, and the Hugging Face adapter on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import write_tiny_hf_model
from trainers.config import PolicyConfig
from trainers.policy import GPTConfig, HFPolicy, TinyGPT, left_pad, sample
from trainers.policy_builder import build_policy
from trainers.rollouts import Rollouts, response_logits, token_logprobs_and_entropy

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def cached_logits_match_full_forward(policy, prompts: list[list[int]], steps: int = 5) -> float:
    """Largest gap between the cached per-step logits and one full forward over the same tokens."""
    ids, mask = left_pad(prompts, 0, CPU)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        response, response_mask, _, _ = sample(policy, ids, mask, steps, 1.0, eos_id=1, pad_id=0, generator=generator)
        full = policy(torch.cat([ids, response], 1), torch.cat([mask, response_mask], 1))
        gap, cache, seq, seq_mask = 0.0, None, ids, mask
        for t in range(response.shape[1]):
            logits, cache = policy.next_logits(seq, seq_mask, cache)
            assert cache is not None  # the cached path is the one under test
            live = seq_mask[:, -1] > 0 if t else torch.ones(len(prompts), dtype=torch.bool)
            gap = max(gap, float((logits - full[:, seq.shape[1] - 1])[live].abs().max()))
            seq = torch.cat([seq, response[:, t : t + 1]], 1)
            seq_mask = torch.cat([seq_mask, response_mask[:, t : t + 1]], 1)
    return gap


PROMPTS = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]


def tiny_gpt(vocab: int = 40) -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab, block_size=32, n_layer=2, n_head=2, n_embd=32)).eval()


def test_tiny_gpt_cached_sampling_equals_full_forward() -> None:
    assert cached_logits_match_full_forward(tiny_gpt(), PROMPTS) < 1e-5


def test_left_padding_does_not_change_a_prompts_logits() -> None:
    model = tiny_gpt()
    alone = model(torch.tensor([PROMPTS[1]]), torch.ones(1, 2, dtype=torch.long))
    ids, mask = left_pad(PROMPTS, 0, CPU)
    padded = model(ids, mask)[1, -2:]
    assert torch.allclose(alone[0], padded, atol=1e-5)


def test_sample_masks_up_to_the_end_token_and_pads_after_it() -> None:
    model = tiny_gpt(vocab=6)  # small vocabulary: the end token (1) comes up quickly
    ids, mask = left_pad([[2, 3, 4], [3, 4], [5, 2, 3, 4]] * 10, 0, CPU)
    response, response_mask, _, _ = sample(model, ids, mask, 12, 1.0, eos_id=1, pad_id=0,
                                     generator=torch.Generator().manual_seed(0))
    ended = 0
    for row, row_mask in zip(response.tolist(), response_mask.tolist()):
        if 1 in row:
            end = row.index(1)
            ended += 1
            assert row_mask[: end + 1] == [1] * (end + 1)
            assert row_mask[end + 1 :] == [0] * (len(row) - end - 1)
            assert row[end + 1 :] == [0] * (len(row) - end - 1)
        else:
            assert row_mask == [1] * len(row)
    assert ended > 0
    again, *_ = sample(model, ids, mask, 12, 1.0, eos_id=1, pad_id=0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(response, again)


def test_sampling_yields_the_log_probs_and_entropies_a_full_scoring_pass_gives() -> None:
    """The sampling pass (cached, each group's prompt computed once) against the plain full forward."""
    model, group = tiny_gpt(), 4
    ids, mask = left_pad([p for p in PROMPTS for _ in range(group)], 0, CPU)
    response, response_mask, logp, entropy = sample(model, ids, mask, 6, 0.7, eos_id=1, pad_id=0,
                                                    generator=torch.Generator().manual_seed(0), group_size=group)
    batch = Rollouts([], group, ids, mask, response, response_mask.float(), [], torch.zeros(len(ids)))
    rescored = token_logprobs_and_entropy(model, batch, temperature=0.7, chunk_size=64)
    assert torch.allclose(logp, rescored.old_logp, atol=1e-5) and torch.allclose(entropy, rescored.entropy, atol=1e-5)
    assert (logp[response_mask == 0] == 0).all() and (entropy[response_mask == 0] == 0).all()
    alone, *_ = sample(model, ids, mask, 6, 0.7, eos_id=1, pad_id=0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(alone, response)  # sharing the prompt pass changes no sampled token here


def test_grouped_logits_equal_the_plain_forward() -> None:
    model, group = tiny_gpt(), 3
    ids, mask = left_pad([p for p in PROMPTS for _ in range(group)], 0, CPU)
    torch.manual_seed(1)
    response, response_mask = torch.randint(3, 40, (len(ids), 5)), torch.ones(len(ids), 5, dtype=torch.long)
    response_mask[::2, 3:] = 0
    grouped = model.grouped_logits(ids, mask, response, response_mask, group)
    plain = model(torch.cat([ids, response], 1), torch.cat([mask, response_mask], 1))[:, ids.shape[1] - 1 :]
    assert grouped.shape == plain.shape and torch.allclose(grouped, plain, atol=1e-5)


def test_response_logits_are_float32_for_a_bfloat16_policy() -> None:
    model = tiny_gpt().to(torch.bfloat16)
    ids, mask = left_pad(PROMPTS, 0, CPU)
    batch = Rollouts([], 1, ids, mask, torch.full((3, 2), 7), torch.ones(3, 2), [], torch.zeros(3))
    logits = response_logits(model, batch, temperature=1.0)
    assert logits.dtype == torch.float32 and logits.shape == (3, 2, 40)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    return write_tiny_hf_model(tmp_path_factory.mktemp("tiny_hf"))


def test_hf_adapter_loads_a_local_model_and_matches_it(hf_dir: Path) -> None:
    tokenizer, policy = build_policy(PolicyConfig(model=str(hf_dir), n_layer=2, n_head=4, n_embd=128, dtype="float32"), CPU)
    assert isinstance(policy, HFPolicy)
    ids = torch.tensor([tokenizer.encode("list 5 fruit :")])
    with torch.no_grad():
        ours = policy(ids, torch.ones_like(ids))
        theirs = policy.model(input_ids=ids).logits
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert tokenizer.decode(tokenizer.encode("apple pear") + [tokenizer.eos_id] + tokenizer.encode("plum")) == "apple pear"


def test_hf_adapter_cached_sampling_equals_full_forward_with_left_padding(hf_dir: Path) -> None:
    _, policy = build_policy(PolicyConfig(model=str(hf_dir), n_layer=2, n_head=4, n_embd=128, dtype="float32"), CPU)
    policy.eval()
    assert cached_logits_match_full_forward(policy, PROMPTS) < 1e-4
