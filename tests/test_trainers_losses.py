"""Hand-computed cases for the policy-gradient math in trainers/losses.py."""

from __future__ import annotations

import math

import pytest
import torch

from trainers import losses


def test_group_advantages_normalise_within_each_group() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 1.0, 0.5]])
    adv = losses.group_advantages(rewards)
    # Group 1: mean 0.25, unbiased std 0.5.  Group 2: mean 0.5, unbiased std sqrt(0.5 / 3).
    std2 = math.sqrt(0.5 / 3)
    expected = torch.tensor([
        [0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001],
        [-0.5 / (std2 + 1e-4), 0.0, 0.5 / (std2 + 1e-4), 0.0],
    ])
    assert torch.allclose(adv, expected, atol=1e-6)


def test_dr_grpo_advantages_are_only_centred() -> None:
    adv = losses.group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), scale=False)
    assert torch.allclose(adv, torch.tensor([[0.75, -0.25, -0.25, -0.25]]))


@pytest.mark.parametrize("scale", [True, False])
def test_equal_rewards_and_single_response_groups_have_zero_advantage(scale: bool) -> None:
    equal = losses.group_advantages(torch.tensor([[0.5, 0.5, 0.5]]), scale=scale)
    single = losses.group_advantages(torch.tensor([[0.7], [0.2]]), scale=scale)
    assert torch.equal(equal, torch.zeros(1, 3))
    assert torch.equal(single, torch.zeros(2, 1))
    assert not torch.isnan(single).any()


# Padding positions hold 9s: every mode must ignore them.
LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize(
    "mode, expected",
    [("token-mean", 10 / 4), ("seq-mean-token-mean", (2.0 + 4.0) / 2), ("constant", 10 / (2 * 3))],
)
def test_aggregation_modes(mode: str, expected: float) -> None:
    assert float(losses.aggregate(LOSS, MASK, mode, max_tokens=3)) == pytest.approx(expected)


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="token-mean"):
        losses.aggregate(LOSS, MASK, "sum", 3)


def test_clipped_surrogate_by_hand() -> None:
    old = torch.zeros(4)
    logp = torch.log(torch.tensor([1.5, 0.5, 0.5, 1.5])).requires_grad_()
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    loss, low, high = losses.clipped_surrogate(logp, old, adv, eps_low=0.2, eps_high=0.2)
    # r=1.5, A=+1: clipped at 1.2.  r=0.5, A=-1: clipped at 0.8.  The other two stay unclipped.
    assert torch.allclose(loss, torch.tensor([-1.2, 0.8, -0.5, 1.5]))
    assert low.tolist() == [False, True, False, False]
    assert high.tolist() == [True, False, False, False]
    loss.sum().backward()
    # Clipped tokens get no gradient; unclipped ones get -A * r.
    assert torch.allclose(logp.grad, torch.tensor([0.0, 0.0, -0.5, 1.5]))


def test_clip_higher_widens_only_the_upper_side() -> None:
    logp, old, adv = torch.log(torch.tensor([1.25])), torch.zeros(1), torch.ones(1)
    narrow, _, high_narrow = losses.clipped_surrogate(logp, old, adv, 0.2, 0.2)
    wide, _, high_wide = losses.clipped_surrogate(logp, old, adv, 0.2, 0.28)
    assert float(narrow) == pytest.approx(-1.2) and bool(high_narrow)
    assert float(wide) == pytest.approx(-1.25) and not bool(high_wide)


def test_kl_estimators_by_hand() -> None:
    logp = torch.tensor([math.log(2.0), 0.0, -math.log(2.0)])
    ref = torch.zeros(3)
    assert torch.allclose(losses.kl_estimate(logp, ref, "k1"), torch.tensor([math.log(2), 0.0, -math.log(2)]))
    # k3 = exp(-x) + x - 1
    assert torch.allclose(losses.kl_estimate(logp, ref, "k3"), torch.tensor([0.5 + math.log(2) - 1, 0.0, 2 - math.log(2) - 1]))
    assert (losses.kl_estimate(torch.randn(100), torch.randn(100), "k3") >= 0).all()


def test_token_covariance_by_hand() -> None:
    adv = torch.tensor([[1.0, 1.0, 5.0], [-1.0, -1.0, 5.0]])
    logp = torch.tensor([[-1.0, -3.0, 0.0], [-1.0, -3.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    # Valid tokens: mean A = 0, mean logp = -2; padding gets 0.
    assert torch.equal(losses.token_covariance(adv, logp, mask), torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]]))


def test_clip_cov_selects_floor_ratio_n_tokens_inside_the_band() -> None:
    cov = torch.zeros(100, 100)
    band = [(0, 1), (3, 4), (10, 10), (50, 2), (99, 99)]
    for i, j in band:
        cov[i, j] = 2.0
    cov[7, 7] = 6.0  # above the band: never picked
    mask = torch.ones(100, 100)
    generator = torch.Generator().manual_seed(0)
    picked = losses.clip_cov_select(cov, mask, 1.0, 5.0, 2e-4, generator)
    assert int(picked.sum()) == 2  # floor(0.0002 * 10000)
    assert all((i, j) in band for i, j in picked.nonzero().tolist())
    # At least one token even when ratio * N < 1; never more than the band holds.
    assert int(losses.clip_cov_select(cov, mask, 1.0, 5.0, 1e-6, generator).sum()) == 1
    assert int(losses.clip_cov_select(cov, mask, 1.0, 5.0, 0.5, generator).sum()) == len(band)
    assert int(losses.clip_cov_select(torch.zeros(4, 4), torch.ones(4, 4), 1.0, 5.0, 0.5, generator).sum()) == 0


def test_clip_cov_ignores_padding() -> None:
    cov = torch.full((2, 3), 2.0)
    mask = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    picked = losses.clip_cov_select(cov, mask, 1.0, 5.0, 1.0, torch.Generator().manual_seed(0))
    assert picked.tolist() == [[True, False, False], [False, False, False]]


def test_kl_cov_selects_the_top_k_valid_tokens() -> None:
    cov = torch.arange(10000, dtype=torch.float32).reshape(100, 100)
    mask = torch.ones(100, 100)
    mask[99, 99] = 0.0  # the largest value is padding
    picked = losses.kl_cov_select(cov, mask, 2e-4)  # k = floor(0.0002 * 9999) = 1 -> at least 1
    assert picked.nonzero().tolist() == [[99, 98]]
    picked = losses.kl_cov_select(cov, torch.ones(100, 100), 3e-4)  # k = 3
    assert picked.nonzero().tolist() == [[99, 97], [99, 98], [99, 99]]


def test_repo_r_rescale_by_hand() -> None:
    adv = torch.tensor([2.0, -2.0, 2.0, -2.0, 0.0])
    logp = torch.tensor([-3.0, -3.0, -0.1, -0.1, -1.0])
    entropy = torch.ones(5)  # L = logp + H = [-2, -2, 0.9, 0.9, 0]
    out = losses.repo_r_rescale(adv, logp, entropy, zeta=0.25)
    # rare rewarded token lifted (x1.5), rare punished softened (x0.5), common ones the other way
    assert torch.allclose(out, torch.tensor([3.0, -1.0, 1.55, -2.45, 0.0]))


def test_repo_r_zeta_zero_is_the_identity() -> None:
    torch.manual_seed(0)
    adv, logp, entropy = torch.randn(6, 7), -torch.rand(6, 7) * 5, torch.rand(6, 7) * 3
    assert torch.equal(losses.repo_r_rescale(adv, logp, entropy, 0.0), adv)


@pytest.mark.parametrize("zeta", [-5.0, -0.5, 0.05, 0.5, 5.0])
def test_repo_r_never_flips_an_advantage_sign(zeta: float) -> None:
    torch.manual_seed(1)
    adv, logp, entropy = torch.randn(50, 9), -torch.rand(50, 9) * 8, torch.rand(50, 9) * 3
    out = losses.repo_r_rescale(adv, logp, entropy, zeta)
    assert ((out == 0) | (torch.sign(out) == torch.sign(adv))).all()
    assert (out[adv == 0] == 0).all()
    # With a large zeta some advantages must be clamped to exactly zero, not flipped.
    if abs(zeta) >= 5.0:
        assert (out == 0).sum() > (adv == 0).sum()


def test_repo_r_rescale_passes_no_gradient_through_L() -> None:
    logp = torch.tensor([-2.0], requires_grad=True)
    entropy = torch.tensor([1.0], requires_grad=True)
    out = losses.repo_r_rescale(torch.tensor([1.0]), logp, entropy, 0.5)
    assert not out.requires_grad


@pytest.mark.parametrize("chunk", [None, 1, 4, 7, 1000])
def test_chunked_entropy_equals_unchunked_and_the_definition(chunk) -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 50) * 4
    p = torch.softmax(logits.double(), -1)
    expected = -(p * torch.log(p)).sum(-1)
    got = losses.entropy_from_logits(logits, chunk)
    assert got.shape == (3, 5) and got.dtype == torch.float32
    assert torch.allclose(got.double(), expected, atol=1e-5)
    assert torch.allclose(got, losses.entropy_from_logits(logits, None))


def test_entropy_is_float32_for_low_precision_logits() -> None:
    logits = torch.zeros(2, 3, 8, dtype=torch.bfloat16)
    got = losses.entropy_from_logits(logits, 2)
    assert got.dtype == torch.float32
    assert torch.allclose(got, torch.full((2, 3), math.log(8)))


def test_token_logprobs_match_log_softmax() -> None:
    torch.manual_seed(0)
    logits, tokens = torch.randn(2, 4, 11), torch.randint(11, (2, 4))
    expected = torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)
    assert torch.allclose(losses.token_logprobs(logits, tokens), expected, atol=1e-6)


@pytest.mark.parametrize("chunk", [None, 3, 1000])
def test_fused_logprobs_and_entropy_equal_the_separate_forms_with_their_gradients(chunk) -> None:
    torch.manual_seed(0)
    logits = (torch.randn(3, 5, 20) * 3).requires_grad_()
    tokens = torch.randint(20, (3, 5))
    logp, entropy = losses.logprobs_and_entropy(logits, tokens, chunk)
    assert torch.allclose(logp, losses.token_logprobs(logits, tokens), atol=1e-6)
    assert torch.allclose(entropy, losses.entropy_from_logits(logits, chunk), atol=1e-5)
    fused = torch.autograd.grad((logp.sum() + entropy.sum()), logits)[0]
    plain = torch.autograd.grad(losses.token_logprobs(logits, tokens).sum() + losses.entropy_from_logits(logits).sum(),
                                logits)[0]
    assert torch.allclose(fused, plain, atol=1e-5)
    _, detached = losses.logprobs_and_entropy(logits, tokens, chunk, entropy_grad=False)
    assert not detached.requires_grad
