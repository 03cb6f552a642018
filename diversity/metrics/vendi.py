"""The Vendi score: exp of the Rényi entropy of a similarity kernel's spectrum (Friedman & Dieng 2023).

:func:`vendi_score_batch` takes a batch of cosine kernels (B, G, G);
:func:`vendi_score` takes one group's embeddings or any valid kernel.
Eigenvalues at or below ``EIGEN_RTOL`` times the largest are round-off and
set to 0 (SPEC §1: the published package keeps them, so 4 identical items
score 2 at q = 0).
"""

from __future__ import annotations

import math

import numpy as np

from diversity.metrics.kernels import EIGEN_CHUNK, one_kernel, unit_rows
from diversity.metrics.validation import check_kernel, check_q
from rollout_common.errors import OptionError

VENDI_Q = 1.0
EIGEN_RTOL = 1e-10


def vendi_score_batch(kernels: np.ndarray, q: float = VENDI_Q, rtol: float = EIGEN_RTOL) -> np.ndarray:
    """exp(H_q(λ)), λ = eigenvalues of K / G (Friedman & Dieng 2023, eq. 1; Rényi order q)."""
    return np.exp(renyi_entropy(kernel_spectrum(kernels, rtol), check_q(q)))


def kernel_spectrum(kernels: np.ndarray, rtol: float = EIGEN_RTOL, chunk: int = EIGEN_CHUNK) -> np.ndarray:
    """(B, G) eigenvalues of each K / G, those <= rtol * the largest set to 0 (SPEC §1).

    The batch is decomposed ``chunk`` kernels at a time (numpy, on the CPU): it bounds the work arrays, and
    SPEC §5 saw one batch of 125k 8x8 matrices fail in cuSOLVER, so no caller should hand a GPU solver more.
    """
    size = kernels.shape[-1]
    parts = [np.linalg.eigvalsh(kernels[at:at + chunk] / size) for at in range(0, len(kernels), chunk)]
    eigenvalues = np.concatenate(parts) if parts else np.zeros((0, size))
    return _threshold(eigenvalues, rtol)


def _threshold(eigenvalues: np.ndarray, rtol: float) -> np.ndarray:
    largest = eigenvalues.max(axis=-1, keepdims=True)
    return np.where(eigenvalues > rtol * largest, eigenvalues, 0.0)


def renyi_entropy(p: np.ndarray, q: float) -> np.ndarray:
    """(B,) Rényi entropy of order q of each row of p (zeros allowed; 0 log 0 = 0).

    H_1 = -Σ p log p; H_q = log(Σ p^q) / (1 - q); H_0 = log #(p > 0); H_∞ = -log max p.
    """
    positive = p > 0
    if q == 1:
        return -np.sum(np.where(positive, p * np.log(np.where(positive, p, 1.0)), 0.0), axis=-1)
    if q == 0:
        return np.log(positive.sum(axis=-1))
    if math.isinf(q):
        return -np.log(p.max(axis=-1))
    return np.log(np.sum(np.where(positive, p, 0.0) ** q, axis=-1)) / (1.0 - q)


def vendi_score(embeddings: np.ndarray | None = None, *, kernel: np.ndarray | None = None,
                q: float = VENDI_Q, rtol: float = EIGEN_RTOL) -> float:
    """Vendi score of one group: from an (n, d) array of embeddings or an (n, n) similarity kernel.

    q is any float >= 0 or float("inf"), honoured for both input forms. With
    embeddings and n > d the dual form is used: the eigenvalues of UᵀU / n
    (d × d) are the non-zero eigenvalues of K / n (Friedman & Dieng 2023 §3).
    A kernel (dense or scipy sparse) must be symmetric with unit diagonal
    (k(x, x) = 1); all its eigenvalues are used, sparse or not.
    """
    q = check_q(q)
    if (embeddings is None) == (kernel is None):
        raise OptionError("vendi_score takes either embeddings or kernel=, exactly one of them")
    if kernel is not None:
        return float(vendi_score_batch(check_kernel(kernel)[None], q, rtol)[0])
    unit = unit_rows(embeddings)
    count, dim = unit.shape
    if count <= dim:
        return float(vendi_score_batch(one_kernel(embeddings), q, rtol)[0])
    spectrum = _threshold(np.linalg.eigvalsh(unit.T @ unit / count)[None], rtol)
    return float(np.exp(renyi_entropy(spectrum, q))[0])
