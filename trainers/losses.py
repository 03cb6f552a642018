"""The policy-gradient math as small pure functions on tensors (SPEC.md §3).

Shapes: N responses, R response positions, V vocabulary; ``mask`` (N, R) is
1.0 on response tokens (the end token included) and 0.0 on padding. Nothing
here reads or writes files or holds state.
"""

from __future__ import annotations

import torch

# The registries --aggregation and --kl-estimator are checked against (trainers/config.py) and --help lists.
AGGREGATIONS = {
    "token-mean": "sum over all tokens / number of tokens (DAPO; TRL and verl default)",
    "seq-mean-token-mean": "mean over responses of each response's token mean (original GRPO)",
    "constant": "sum / (N * max_tokens), a length-independent constant (Dr. GRPO)",
}
KL_ESTIMATORS = {
    "k1": "x = logp - ref_logp, the log-ratio",
    "k3": "exp(-x) + x - 1: non-negative, low variance (verl low_var_kl)",
}


def entropy_from_logits(logits: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Per-position entropy H = logsumexp(z) - sum softmax(z) * z, in float32.

    Rows are processed ``chunk_size`` at a time so the float32 softmax never
    materialises for the whole batch (TRL ``entropy_from_logits``; verl
    ``entropy_from_logits_with_chunking``). ``logits`` (..., V) -> (...).
    """
    flat = logits.reshape(-1, logits.shape[-1])
    rows = max(1, flat.shape[0] if chunk_size is None else chunk_size)
    parts = []
    for chunk in flat.split(rows):
        z = chunk.float()
        parts.append(torch.logsumexp(z, dim=-1) - (torch.softmax(z, dim=-1) * z).sum(-1))
    return torch.cat(parts).reshape(logits.shape[:-1])


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log pi(token) in float32: logits (N, R, V), tokens (N, R) -> (N, R)."""
    z = logits.float()
    return z.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(z, dim=-1)


def logprobs_and_entropy(
    logits: torch.Tensor, tokens: torch.Tensor, chunk_size: int | None = None, entropy_grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(token) and H, both from one float32 log-softmax per chunk of rows: (N, R, V), (N, R) -> (N, R) x 2.

    H = -sum_v p_v log p_v with log p = log_softmax(z), the same quantity as
    :func:`entropy_from_logits`' logsumexp(z) - sum softmax(z) z; one pass
    serves the policy loss and the entropy (and its gradient only when
    ``entropy_grad``, for an entropy bonus). Rows go ``chunk_size`` at a time
    so memory stays flat for large vocabularies.
    """
    flat, flat_tokens = logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1, 1)
    rows = max(1, flat.shape[0] if chunk_size is None else chunk_size)
    logps, entropies = [], []
    for chunk, chunk_tokens in zip(flat.split(rows), flat_tokens.split(rows)):
        log_p = torch.log_softmax(chunk.float(), dim=-1)
        logps.append(log_p.gather(-1, chunk_tokens).squeeze(-1))
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            entropies.append(-(log_p.exp() * log_p).sum(-1))
    return torch.cat(logps).reshape(tokens.shape), torch.cat(entropies).reshape(tokens.shape)


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    """GRPO: (R_i - mean_j R_j) / (std_j R_j + eps) within each group; Dr. GRPO: no division.

    ``rewards`` (P, G) -> (P, G). std is the unbiased one (TRL ``grpo_trainer``,
    verl ``compute_grpo_outcome_advantage``). A group of one response, or of
    equal rewards, has zero advantage: nothing to compare it with.
    """
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale or rewards.shape[1] < 2:
        return centred if rewards.shape[1] > 1 else torch.zeros_like(rewards)
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def aggregate(loss: torch.Tensor, mask: torch.Tensor, mode: str, max_tokens: int) -> torch.Tensor:
    """Reduce a per-token loss (N, R) to a scalar, one of :data:`AGGREGATIONS`."""
    if mode == "token-mean":
        return (loss * mask).sum() / mask.sum().clamp(min=1.0)
    if mode == "seq-mean-token-mean":
        return ((loss * mask).sum(1) / mask.sum(1).clamp(min=1.0)).mean()
    if mode == "constant":
        return (loss * mask).sum() / (loss.shape[0] * max_tokens)
    raise ValueError(f"unknown aggregation {mode!r}; choose one of {', '.join(AGGREGATIONS)}")


def clipped_surrogate(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """l = -min(r * A, clip(r, 1 - eps_low, 1 + eps_high) * A), r = exp(logp - old_logp).

    Returns the per-token loss and where clipping removed the gradient: below
    (A < 0, r < 1 - eps_low) and above (A > 0, r > 1 + eps_high).
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    low = (adv < 0) & (ratio < 1.0 - eps_low)
    high = (adv > 0) & (ratio > 1.0 + eps_high)
    return -torch.minimum(unclipped, clipped), low, high


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-token KL(pi || ref) estimate from sampled tokens, one of :data:`KL_ESTIMATORS`."""
    x = logp - ref_logp
    if kind == "k1":
        return x
    if kind == "k3":
        return torch.exp(-x) + x - 1.0
    raise ValueError(f"unknown KL estimator {kind!r}; choose one of {', '.join(KL_ESTIMATORS)}")


def token_covariance(adv: torch.Tensor, logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cov_t = (A_t - mean A)(logp_t - mean logp), means over valid tokens; 0 on padding (Cui et al. 2025)."""
    valid = mask > 0
    n = valid.sum().clamp(min=1)
    adv_mean = (adv * mask).sum() / n
    logp_mean = (logp.detach() * mask).sum() / n
    return torch.where(valid, (adv - adv_mean) * (logp.detach() - logp_mean), torch.zeros_like(adv))


def clip_cov_select(
    cov: torch.Tensor, mask: torch.Tensor, lower: float, upper: float, ratio: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Clip-Cov: among valid tokens with lower < Cov < upper, pick max(floor(ratio * N), 1) at random.

    ``N`` is the number of valid tokens. Returns a bool mask (N, R) of the
    tokens whose gradient is dropped (verl ``compute_policy_loss_clip_cov``).
    """
    candidates = torch.nonzero(((cov > lower) & (cov < upper) & (mask > 0)).flatten()).squeeze(1)
    selected = torch.zeros(cov.numel(), dtype=torch.bool, device=cov.device)
    if candidates.numel():
        count = min(_selection_size(ratio, int(mask.sum().item())), candidates.numel())
        order = torch.randperm(candidates.numel(), generator=generator, device="cpu")[:count]
        selected[candidates[order.to(candidates.device)]] = True
    return selected.reshape(cov.shape)


def _selection_size(ratio: float, n: int) -> int:
    """max(floor(ratio * n), 1); the epsilon keeps 3e-4 * 10000 from flooring to 2."""
    return max(int(ratio * n + 1e-9), 1)


def kl_cov_select(cov: torch.Tensor, mask: torch.Tensor, ratio: float) -> torch.Tensor:
    """KL-Cov: the top max(floor(ratio * N), 1) valid tokens by Cov, as a bool mask (N, R)."""
    valid = mask > 0
    n = int(valid.sum().item())
    selected = torch.zeros(cov.numel(), dtype=torch.bool, device=cov.device)
    if n:
        scores = torch.where(valid, cov, torch.full_like(cov, float("-inf"))).flatten()
        selected[torch.topk(scores, min(_selection_size(ratio, n), n)).indices] = True
    return selected.reshape(cov.shape)


def repo_r_rescale(adv: torch.Tensor, logp: torch.Tensor, entropy: torch.Tensor, zeta: float) -> torch.Tensor:
    """REPO-R's advantage rescaling with the centred log-probability L = log pi(o_t) + H_t, detached.

    A > 0: A' = max(A (1 - zeta L), 0); A < 0: A' = min(A (1 + zeta L), 0)
    (arXiv 2603.11682; SkyRL PR #1896 ``repo_r_rescale_advantages``, which
    uses raw log pi for L). zeta > 0 lifts rare rewarded tokens and softens
    the penalty on rare punished ones, so entropy rises. The clamps keep
    every advantage's sign; zeta = 0 is the identity.
    """
    centred = (logp + entropy).detach()
    positive = torch.clamp(adv * (1.0 - zeta * centred), min=0.0)
    negative = torch.clamp(adv * (1.0 + zeta * centred), max=0.0)
    return torch.where(adv > 0, positive, torch.where(adv < 0, negative, torch.zeros_like(adv)))
