"""The one home of the metrics' argument checks: each raises an OptionError that names what to fix."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from rollout_common.errors import OptionError


def check_texts(texts: list) -> None:
    """Every text is a string; None (a missing response) is refused with the row that holds it."""
    if set(map(type, texts)) <= {str}:  # one fast pass; the loop below only names the culprit
        return
    for row, text in enumerate(texts):
        if text is None:
            raise OptionError(f"texts must be strings, not None (text {row}); write an empty string for an "
                              "empty response")
        if not isinstance(text, str):
            raise OptionError(f"texts must be strings; text {row} is a {type(text).__name__}")


def check_n(n: int) -> int:
    """The n-gram order as an int; a positive integer (not a bool)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise OptionError(f"n-gram order n must be a positive integer, not {n!r}")
    return int(n)


def check_q(q) -> float:
    """The Vendi order as a float >= 0; float('inf') and the string 'inf' are allowed."""
    try:
        value = float(q)
    except (TypeError, ValueError):
        raise OptionError(f"Vendi order q must be a number >= 0 or float('inf'), not {q!r}") from None
    if math.isnan(value) or value < 0:
        raise OptionError(f"Vendi order q must be >= 0 (or float('inf')), not {q!r}")
    return value


def check_embeddings(embeddings, cast: bool = True) -> np.ndarray:
    """A finite numeric (n, d) array, cast to float64 unless ``cast`` is False."""
    matrix = np.asarray(embeddings, dtype=np.float64) if cast else np.asarray(embeddings)
    if not np.issubdtype(matrix.dtype, np.number):
        raise OptionError(f"embeddings must be numeric, got dtype {matrix.dtype}")
    if matrix.ndim != 2:
        raise OptionError(f"embeddings must be a 2-D (n, d) array, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise OptionError("embeddings contain NaN or infinite values; check the embedder's output")
    return matrix


def check_kernel(kernel) -> np.ndarray:
    """A dense float64 copy of a similarity kernel: square, finite, symmetric, with unit diagonal."""
    matrix = np.asarray(kernel.toarray() if sp.issparse(kernel) else kernel, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise OptionError(f"kernel must be a non-empty square (n, n) matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise OptionError("kernel contains NaN or infinite values")
    if not np.allclose(matrix, matrix.T, atol=1e-8):
        raise OptionError("kernel must be symmetric; pass (K + K.T) / 2 if it is only off by round-off")
    if not np.allclose(np.diagonal(matrix), 1.0, atol=1e-6):
        raise OptionError("kernel diagonal must be 1 (k(x, x) = 1); normalise it as K / sqrt(outer(diag K, diag K))")
    return matrix


def need_group(count: int, item: str) -> None:
    """A group holds at least one ``item`` (response or embedding)."""
    if count == 0:
        raise OptionError(f"a group needs at least one {item}; got none")


def need_pairs(count: int, name: str) -> None:
    """Metric ``name`` compares pairs, so its group holds at least 2 responses."""
    if count < 2:
        raise OptionError(f"{name} compares pairs of responses and needs a group of at least 2, got {count}")


def check_correct(correct, count: int | None = None) -> np.ndarray:
    """One flag per response as a bool array: booleans, or numbers that are exactly 0 or 1 (never NaN).

    ``count``, when given, is how many responses the flags must cover.
    """
    flags = np.asarray(correct)
    if flags.ndim != 1:
        raise OptionError(f"correct must be a 1-D sequence with one flag per response, got shape {flags.shape}")
    if count is not None and len(flags) != count:
        raise OptionError(f"{len(flags)} correct flags for {count} responses; give one flag per response")
    if flags.dtype != bool:
        if not np.issubdtype(flags.dtype, np.number) or not np.isin(flags, (0, 1)).all():
            raise OptionError("correct flags must be booleans (or 0 / 1); decide what counts as correct first, "
                              "e.g. reward >= a threshold")
        flags = flags.astype(bool)
    return flags


def check_rewards(rewards, count: int | None = None) -> np.ndarray:
    """One reward per response as float64; NaN marks a missing reward (its group gets no value)."""
    try:
        values = np.asarray(rewards, dtype=np.float64)  # None becomes NaN
    except (TypeError, ValueError):
        raise OptionError("rewards must be numbers (None or NaN for a missing one)") from None
    if values.ndim != 1:
        raise OptionError(f"rewards must be a 1-D sequence with one reward per response, got shape {values.shape}")
    if count is not None and len(values) != count:
        raise OptionError(f"{len(values)} rewards for {count} responses; give one reward per response")
    if np.isinf(values).any():
        raise OptionError("rewards contain infinite values")
    return values
