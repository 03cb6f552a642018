"""Correctness-aware metrics: pass@k, diversity among the correct answers, dead groups (SPEC.md §1).

These read one outcome per response beside (or instead of) its text or
embedding: ``correct`` (one boolean per response) or ``rewards`` (one float).
What counts as correct is settled before they run (:mod:`diversity.outcomes`:
a boolean column of the log, or reward >= a threshold the user sets); nothing
here guesses it.

- :func:`pass_at_k`: the unbiased pass@k of Chen et al. 2021, exact for every k <= G.
- :func:`distinct_correct`, :func:`vendi_score_correct`: how varied the correct
  answers are, which separates "wrong answers removed" from "narrowed onto one
  right answer" (arXiv 2604.16027 makes this split).
- :func:`reward_zero_std`: whether all rewards of the group are equal, so that
  GRPO's group-normalised advantage is zero for every member (TRL logs the
  step mean as ``frac_reward_zero_std``).

Batched forms follow the registry's layouts: ``(groups, correct (N,))`` for
the outcome metrics, ``(corpus, correct (N,))`` for the lexical one and
``(kernels (B, G, G), correct (B, G))`` for the embedding one. Each per-group
form runs its batched form on one group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from diversity.metrics.kernels import one_kernel
from diversity.metrics.lexical import duplicate_fraction_batch
from diversity.metrics.text_engine import TOKEN_PATTERN, Corpus, Groups
from diversity.metrics.validation import check_correct, check_rewards, need_group
from diversity.metrics.vendi import VENDI_Q, kernel_spectrum, renyi_entropy
from rollout_common.errors import OptionError

# Rewards this close (max - min) count as equal: TRL's torch.isclose(std, 0) up to round-off [ours].
REWARD_ATOL = 1e-8


# ---------------------------------------------------------------- pass@k


def pass_at_k_counts(n, c, k=None) -> np.ndarray:
    """Unbiased pass@k = 1 - C(n - c, k) / C(n, k) for groups of n responses of which c are correct.

    Chen et al. 2021, "Evaluating Large Language Models Trained on Code" (HumanEval), eq. 1:
    the chance that k responses drawn without replacement from the n include a
    correct one. It is unbiased for every k <= n and 1 when n - c < k. The
    bootstrap "best@k" some frameworks log (k draws *with* replacement,
    1 - (1 - c/n)^k) is biased low (verl PR #7240). ``k`` is one int, one per
    group, or None for each group's own size (pass@G: 1 when any response is
    correct). Exact: a ratio of integers (math.comb), correctly rounded, once
    per distinct (n, c, k).
    """
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    if n.shape != c.shape or n.ndim != 1:
        raise OptionError("pass@k needs 1-D arrays of group sizes n and correct counts c of the same length")
    if ((n < 1) | (c < 0) | (c > n)).any():
        raise OptionError("pass@k needs 0 <= c <= n and n >= 1 for every group")
    draws = n if k is None else _check_k(k, n)
    if len(n) == 0:
        return np.zeros(0)
    span = int(n.max()) + 1  # n, c and k are all <= max n: one integer key per (n, c, k)
    keys, inverse = np.unique((n * span + c) * span + draws, return_inverse=True)
    exact = [1.0 if size - right < pick else 1.0 - math.comb(size - right, pick) / math.comb(size, pick)
             for size, right, pick in zip(keys // span**2, keys // span % span, keys % span)]
    return np.asarray(exact, dtype=np.float64)[inverse]


def _check_k(k, n: np.ndarray) -> np.ndarray:
    """k as one value per group, each 1 <= k <= n."""
    values = np.asarray(k)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer) or (values < 1).any():
        raise OptionError(f"pass@k needs k to be a positive integer, not {k!r}")
    values = np.broadcast_to(values, n.shape)
    too_big = values > n
    if too_big.any():
        first = int(np.argmax(too_big))
        raise OptionError(f"pass@k needs k <= n, the responses in a group: k = {int(values[first])} but a group "
                          f"has only {int(n[first])}; choose a smaller k, or leave k unset for k = each group's size")
    return values


def pass_at_k_batch(groups: Groups, correct: np.ndarray, k: int | None = None) -> np.ndarray:
    """(B,) unbiased pass@k of each group (k None: each group's size); correct is (N,), group after group."""
    correct = check_correct(correct, groups.n_rows)
    hits = np.bincount(groups.row_group, correct, minlength=groups.n_groups).astype(np.int64)
    return pass_at_k_counts(groups.sizes, hits, k)


def pass_at_1_batch(groups: Groups, correct: np.ndarray) -> np.ndarray:
    """(B,) pass@1: the fraction of each group's responses that are correct."""
    return pass_at_k_batch(groups, correct, 1)


def pass_at_k(correct: Sequence[bool], k: int | None = None) -> float:
    """Unbiased pass@k of one group from its responses' correct flags; k None means k = G.

    Refuses k < 1 and k > G with an OptionError (see :func:`pass_at_k_counts`).
    """
    flags = check_correct(correct)
    need_group(len(flags), "response")
    return float(pass_at_k_batch(Groups([len(flags)]), flags, k)[0])


def pass_at_1(correct: Sequence[bool]) -> float:
    """pass@1 of one group: the fraction of correct responses."""
    return pass_at_k(correct, 1)


# ---------------------------------------------------------------- diversity among the correct answers


def distinct_correct_batch(corpus: Corpus, correct: np.ndarray) -> np.ndarray:
    """(B,) number of distinct responses among each group's correct ones; 0 when none is correct.

    Two responses are the same answer exactly when :func:`duplicate_fraction_batch`
    counts them as duplicates, so the two metrics never disagree on what "distinct" means.
    """
    correct = check_correct(correct, corpus.groups.n_rows)
    keep = np.flatnonzero(correct)
    hits = np.bincount(corpus.groups.row_group[keep], minlength=corpus.groups.n_groups)
    out = np.zeros(corpus.groups.n_groups)
    some = hits > 0
    if some.any():
        subset = Corpus([corpus.texts[i] for i in keep.tolist()], hits[some], corpus.pattern)
        out[some] = np.rint((1.0 - duplicate_fraction_batch(subset)) * hits[some])  # distinct / c, times c
    return out


def distinct_correct(texts: Sequence[str], correct: Sequence[bool], pattern: str = TOKEN_PATTERN) -> float:
    """Number of distinct answers among one group's correct responses (0 when none is correct)."""
    flags = check_correct(correct, len(texts))
    return float(distinct_correct_batch(Corpus.single(texts, pattern), flags)[0])


def vendi_score_correct_batch(kernels: np.ndarray, correct: np.ndarray, q: float = VENDI_Q) -> np.ndarray:
    """(B,) Vendi score of each group's correct responses only; NaN (undefined) when none is correct.

    The kernel masked to the correct rows and columns, diag(m) K diag(m), has
    the same non-zero eigenvalues as the correct responses' own kernel, so its
    spectrum over c (not G) is theirs. ``correct`` is (B, G).
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.shape != kernels.shape[:2]:
        raise OptionError(f"correct flags of shape {correct.shape} for kernels of shape {kernels.shape}")
    hits = correct.sum(axis=1)
    out = np.full(len(kernels), np.nan)
    some = hits > 0
    if some.any():
        mask = correct[some].astype(np.float64)
        masked = kernels[some] * mask[:, :, None] * mask[:, None, :]
        spectrum = kernel_spectrum(masked) * (kernels.shape[-1] / hits[some, None])  # eigenvalues of K_c / c
        out[some] = np.exp(renyi_entropy(spectrum, q))
    return out


def vendi_score_correct(embeddings: np.ndarray, correct: Sequence[bool], q: float = VENDI_Q) -> float:
    """Vendi score of one group's correct responses (1..c); NaN, undefined, when none is correct."""
    kernel = one_kernel(embeddings)
    flags = check_correct(correct, kernel.shape[-1])
    return float(vendi_score_correct_batch(kernel, flags[None], q)[0])


# ---------------------------------------------------------------- dead groups


def reward_zero_std_batch(groups: Groups, rewards: np.ndarray) -> np.ndarray:
    """(B,) 1.0 when all of a group's rewards are equal (max - min <= REWARD_ATOL), else 0.0; NaN when a
    reward is missing.

    GRPO's advantage (r - mean) / std is then 0 for every member, so the group
    adds nothing to the update; the step mean is the fraction of such dead
    groups (TRL's ``frac_reward_zero_std``). A group of one is dead too.
    """
    rewards = check_rewards(rewards, groups.n_rows)
    if groups.n_rows == 0:
        return np.zeros(0)
    starts = groups.starts
    spread = np.maximum.reduceat(rewards, starts) - np.minimum.reduceat(rewards, starts)  # NaN if any is NaN
    return np.where(np.isnan(spread), np.nan, (spread <= REWARD_ATOL).astype(np.float64))


def reward_zero_std(rewards: Sequence[float]) -> float:
    """1.0 when all rewards of one group are equal (GRPO's advantage is 0 for each), else 0.0."""
    values = check_rewards(rewards)
    need_group(len(values), "reward")
    return float(reward_zero_std_batch(Groups([len(values)]), values)[0])
