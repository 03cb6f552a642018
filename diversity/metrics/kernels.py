"""Cosine kernels: from embeddings to batches of (G, G) kernels, one per group of size G.

The embedding metrics, Vendi and the semantic clusters all read a batch of
kernels, shape (B, G, G); :func:`kernel_batches` builds the batches from an
(M, d) array (dense or scipy sparse) and a group layout.

Zero embeddings **[ours]**: cosine is undefined for a zero vector (a lexical
embedder gives one for an empty response). A zero vector is taken as
identical to every other zero vector and orthogonal to every non-zero one,
which keeps K a valid kernel with unit diagonal (as if each zero row were one
shared extra axis). The published Vendi package instead leaves a zero row in
K, so its eigenvalues no longer sum to 1.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from diversity.metrics.text_engine import Groups
from diversity.metrics.validation import check_embeddings, need_group
from rollout_common.errors import OptionError

# Kernels per batched eigendecomposition (SPEC §5: one huge batch can fail on CUDA; bounds memory here),
# and groups per batch built from sparse embeddings.
EIGEN_CHUNK = 8192
# Embedding values gathered per dense kernel batch (B * G * d): 2^21 float64 = 16 MiB.
BATCH_ELEMENTS = 2**21


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, in float64; zero rows become one shared extra axis (module doc)."""
    matrix = check_embeddings(embeddings)
    norms = np.linalg.norm(matrix, axis=1)
    zero = norms == 0
    unit = matrix / np.where(zero, 1.0, norms)[:, None]
    if zero.any():
        unit = np.hstack([unit, zero[:, None].astype(np.float64)])
    return unit


def cosine_kernel(gram: np.ndarray) -> np.ndarray:
    """Cosine kernels from Gram matrices (..., G, G) of raw inner products, zero vectors as in the module doc."""
    norms = np.sqrt(np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0.0, None))  # (..., G)
    zero = norms == 0
    safe = np.where(zero, 1.0, norms)
    kernel = gram / (safe[..., :, None] * safe[..., None, :])
    both_zero = zero[..., :, None] & zero[..., None, :]
    kernel = np.where(both_zero, 1.0, kernel)
    eye = np.eye(gram.shape[-1], dtype=bool)
    return np.clip(np.where(eye, 1.0, kernel), -1.0, 1.0)


def kernel_batches(embeddings, groups: Groups, index: np.ndarray | None = None, min_size: int = 1,
                   chunk: int | None = None):
    """Yield (group indices (B,), cosine kernels (B, G, G)) for every group, ``chunk`` groups at a time.

    ``embeddings`` is a dense (M, d) array or a scipy sparse matrix (lexical
    embedders); text k of the group layout is row ``index[k]`` (default: row k),
    so each distinct text needs embedding only once. By default a dense batch
    holds about BATCH_ELEMENTS embedding values, small enough to stay in cache
    (faster than one huge batch); a sparse batch holds EIGEN_CHUNK groups.
    """
    sparse = sp.issparse(embeddings)
    matrix = sp.csr_matrix(embeddings, dtype=np.float64) if sparse else check_embeddings(embeddings, cast=False)
    index = np.arange(groups.n_rows) if index is None else np.asarray(index)
    if len(index) != groups.n_rows or (len(index) and index.max() >= matrix.shape[0]):
        raise OptionError(f"{len(index)} embedding indices for {groups.n_rows} texts and {matrix.shape[0]} rows")
    for size, chosen, rows in groups.by_size(min_size):
        step = chunk or (EIGEN_CHUNK if sparse else max(1, BATCH_ELEMENTS // (size * matrix.shape[1])))
        for at in range(0, len(chosen), step):
            part = index[rows[at:at + step]]  # (B, G) embedding rows
            if sparse:
                gram = sparse_gram(matrix, part)
            else:
                vectors = matrix[part].astype(np.float64)  # (B, G, d)
                gram = vectors @ vectors.transpose(0, 2, 1)
            yield chosen[at:at + step], cosine_kernel(gram)


def one_kernel(embeddings: np.ndarray) -> np.ndarray:
    """(1, n, n) cosine kernel of one group's embeddings."""
    matrix = check_embeddings(embeddings)
    need_group(len(matrix), "embedding")
    return cosine_kernel((matrix @ matrix.T)[None])


def sparse_gram(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """(B, G, G) inner products among each group's rows of a sparse matrix; rows is (B, G).

    One sparse elementwise product per pair of positions (i, j), each over
    all B groups at once: G(G+1)/2 vectorised operations, not B loops.
    """
    batch, size = rows.shape
    at = [matrix[rows[:, i]] for i in range(size)]
    gram = np.empty((batch, size, size))
    for i in range(size):
        for j in range(i, size):
            gram[:, i, j] = gram[:, j, i] = np.asarray(at[i].multiply(at[j]).sum(axis=1)).ravel()
    return gram


def mean_off_diagonal(matrices: np.ndarray) -> np.ndarray:
    """(B,) mean of the off-diagonal entries of each symmetric (G, G) matrix."""
    size = matrices.shape[-1]
    return (matrices.sum(axis=(1, 2)) - np.trace(matrices, axis1=1, axis2=2)) / (size * (size - 1))
