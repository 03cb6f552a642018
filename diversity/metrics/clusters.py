"""Semantic clusters: responses whose embeddings have cosine >= a threshold are linked [ours].

A cluster is a connected component of that graph (single linkage, so the
partition does not depend on the order of the group). Each ``*_batch`` form
takes a batch of cosine kernels (B, G, G); each per-group form one group's
(n, d) embeddings.
"""

from __future__ import annotations

import math

import numpy as np

from diversity.metrics.kernels import one_kernel

# Two responses whose embeddings have cosine >= this are linked in one semantic cluster [ours].
CLUSTER_THRESHOLD = 0.9


def cluster_sizes_batch(kernels: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> np.ndarray:
    """(B, G) size of the cluster holding each item: connected components of cos >= threshold.

    Union-find semantics (single linkage) rather than NoveltyBench's greedy
    pass, so the partition does not depend on the order of the group. The
    reachability matrix comes from repeated boolean squaring of the adjacency.
    """
    reach = (kernels >= threshold).astype(np.float32)
    size = kernels.shape[-1]
    for _ in range(max(1, math.ceil(math.log2(max(size, 2))))):
        reach = ((reach @ reach) > 0).astype(np.float32)
    return reach.sum(axis=-1, dtype=np.float64)


def semantic_clusters_batch(kernels: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> np.ndarray:
    """(B,) number of clusters: Σ_i 1 / |cluster(i)|, rounded (each cluster's members add to 1)."""
    return np.rint((1.0 / cluster_sizes_batch(kernels, threshold)).sum(axis=-1))


def cluster_entropy_batch(kernels: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> np.ndarray:
    """(B,) Shannon entropy (nats) of the cluster-size distribution: -(1/G) Σ_i log(|cluster(i)| / G).

    Σ_c p_c log p_c with p_c = |c| / G, written per member i of c (each adds p_c log p_c / |c|).
    """
    sizes = cluster_sizes_batch(kernels, threshold)
    size = kernels.shape[-1]
    return -np.log(sizes / size).mean(axis=-1) + 0.0


def semantic_clusters(embeddings: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> int:
    """Number of clusters when rows with cosine >= threshold are linked (connected components)."""
    return int(semantic_clusters_batch(one_kernel(embeddings), threshold)[0])


def cluster_entropy(embeddings: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> float:
    """Entropy (nats) of the sizes of the :func:`semantic_clusters` partition."""
    return float(cluster_entropy_batch(one_kernel(embeddings), threshold)[0])
