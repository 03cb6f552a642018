"""Embedding metrics on cosine kernels: mean pairwise cosine and distance to the centroid (SPEC §1).

Each ``*_batch`` form takes a batch of kernels (B, G, G) (see
:func:`diversity.metrics.kernel_batches`) and returns one value per group;
each per-group form runs it on one group's (n, d) embeddings.
"""

from __future__ import annotations

import numpy as np

from diversity.metrics.kernels import mean_off_diagonal, one_kernel
from diversity.metrics.validation import need_pairs


def pairwise_cosine_batch(kernels: np.ndarray) -> np.ndarray:
    """Mean over i < j of cos(e_i, e_j) (SPEC §1); needs G >= 2."""
    return mean_off_diagonal(kernels)


def centroid_distance_batch(kernels: np.ndarray) -> np.ndarray:
    """Mean over i of 1 - cos(e_i, c), c = mean of the unit embeddings (SPEC §1).

    Since Σ_i u_i·c = G |c|², the mean is 1 - |c|, and |c|² = Σ_ij K_ij / G².
    When c = 0 the cosine is undefined; 1 is the limit of 1 - |c| **[ours]**.
    """
    size = kernels.shape[-1]
    return 1.0 - np.sqrt(np.clip(kernels.sum(axis=(1, 2)), 0.0, None)) / size


def pairwise_cosine(embeddings: np.ndarray) -> float:
    """Mean cosine similarity over the pairs of rows of an (n, d) array. Needs n >= 2."""
    need_pairs(len(embeddings), "pairwise_cosine")
    return float(pairwise_cosine_batch(one_kernel(embeddings))[0])


def centroid_distance(embeddings: np.ndarray) -> float:
    """Mean cosine distance of the unit-norm rows to their mean."""
    return float(centroid_distance_batch(one_kernel(embeddings))[0])
