"""Intra-prompt diversity metrics: per-group functions and their batched forms.

Definitions, defaults and sources are in SPEC.md §1; each formula is cited
next to the line that implements it. Two families:

- *Lexical* metrics read the texts of a group. Their batched forms take a
  :class:`Corpus` (N texts laid out as B contiguous groups, tokenised once)
  and return one value per group, computed with whole-array operations
  across groups (polars group-bys, sparse products), never a Python loop
  over groups. The one exception is gzip in :func:`compression_ratio_batch`,
  which has no batched form.
- *Embedding* metrics read an (n, d) array of sentence embeddings. Their
  batched forms take a stack of cosine kernels, shape (B, G, G), one per
  group of size G; :func:`kernel_stacks` builds the stacks from embeddings.

Every per-group function runs the batched form on a single group, so the two
can never drift apart; the tests check both against plain loops.

Tokenisation rule **[ours]**: lowercase, then the tokens are the maximal
runs matching ``TOKEN_PATTERN`` (Rust regex syntax, as polars runs it;
``\\w+`` splits on whitespace and punctuation and keeps Unicode letters,
digits and underscores). Every lexical function takes it as ``pattern``.

Zero embeddings **[ours]**: cosine is undefined for a zero vector (a lexical
embedder gives one for an empty response). A zero vector is taken as
identical to every other zero vector and orthogonal to every non-zero one,
which keeps K a valid kernel with unit diagonal (as if each zero row were one
shared extra axis). The published Vendi package instead leaves a zero row in
K, so its eigenvalues no longer sum to 1.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np
import polars as pl
import scipy.sparse as sp

from diversity.errors import OptionError

TOKEN_PATTERN = r"\w+"
REPETITION_N = 4  # seq-rep-4 (Welleck et al. 2019)
JACCARD_N = 1
DISTINCT_N = 2
NGRAM_VENDI_NS = (1, 2)  # unigram + bigram counts, as the Vendi package's n-gram kernel
VENDI_Q = 1.0
# Eigenvalues at or below this fraction of the largest are round-off, set to 0
# (SPEC §1: the published package keeps them, so 4 identical items score 2 at q = 0).
EIGEN_RTOL = 1e-10
# Two responses whose embeddings have cosine >= this are linked in one semantic cluster [ours].
CLUSTER_THRESHOLD = 0.9
# Kernels per batched eigendecomposition (SPEC §5: one huge batch can fail on CUDA; bounds memory here).
EIGEN_CHUNK = 8192
# Embedding values gathered per kernel stack (B * G * d): 2^21 float64 = 16 MiB.
STACK_ELEMENTS = 2**21


# ---------------------------------------------------------------- groups and tokens


class Groups:
    """N rows laid out as B contiguous groups: group b is rows starts[b] .. starts[b] + sizes[b] - 1."""

    def __init__(self, sizes: Sequence[int] | np.ndarray):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        if self.sizes.ndim != 1 or (self.sizes < 1).any():
            raise OptionError("group sizes must be a 1-D sequence of positive integers")
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def n_groups(self) -> int:
        return len(self.sizes)

    @property
    def n_rows(self) -> int:
        return int(self.sizes.sum())

    @cached_property
    def row_group(self) -> np.ndarray:
        """(N,) the group index of each row."""
        return np.repeat(np.arange(self.n_groups), self.sizes)

    def by_size(self, min_size: int = 1) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Per distinct group size G >= min_size: (G, group indices (B_G,), row indices (B_G, G))."""
        for size in np.unique(self.sizes):
            if size < min_size:
                continue
            chosen = np.flatnonzero(self.sizes == size)
            yield int(size), chosen, self.starts[chosen, None] + np.arange(size)


def tokenize(texts: Sequence[str], pattern: str = TOKEN_PATTERN) -> list[list[str]]:
    """Each text's tokens under the module's rule: lowercase, then runs matching ``pattern``."""
    return _token_lists(texts, pattern).to_list()


def _token_lists(texts: Sequence[str], pattern: str) -> pl.Series:
    series = pl.Series("text", list(texts), dtype=pl.String)
    if series.null_count():
        raise OptionError("texts must be strings, not None; write an empty string for an empty response")
    try:
        return series.str.to_lowercase().str.extract_all(pattern)
    except pl.exceptions.ComputeError as error:
        raise OptionError(f"token pattern {pattern!r} is not a valid regex: {error}") from None


class Corpus:
    """N texts in B contiguous groups, tokenised once; n-gram ids are built on demand.

    Token ids are exact (one id per distinct token string), as are n-gram ids,
    so every count below is exact, not hashed.
    """

    def __init__(self, texts: Sequence[str], sizes: Sequence[int] | np.ndarray, pattern: str = TOKEN_PATTERN):
        self.texts = list(texts)
        self.groups = Groups(sizes)
        if self.groups.n_rows != len(self.texts):
            raise OptionError(f"group sizes add up to {self.groups.n_rows} but there are {len(self.texts)} texts")
        lists = _token_lists(self.texts, pattern)
        self.normalised = lists.list.join(" ")  # (N,) the response as its token sequence
        self.doc_len = lists.list.len().to_numpy().astype(np.int64)  # (N,)
        self.token_doc = np.repeat(np.arange(len(self.texts)), self.doc_len)  # (T,)
        self.tokens, self.vocab = _dense_token_ids(lists.explode().drop_nulls())  # (T,)
        self._ngrams: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}

    @classmethod
    def single(cls, texts: Sequence[str], pattern: str = TOKEN_PATTERN) -> "Corpus":
        """One group holding all ``texts``."""
        texts = list(texts)
        if not texts:
            raise OptionError("a group needs at least one response; got none")
        return cls(texts, [len(texts)], pattern)

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(ids (M,), doc (M,), bound): every n-gram occurrence; ids are exact and < bound."""
        if n not in self._ngrams:
            self._ngrams[n] = _ngram_ids(self.tokens, self.token_doc, self.vocab, _check_n(n))
        return self._ngrams[n]

    def ngram_totals(self, n: int) -> np.ndarray:
        """(N,) number of n-grams in each text (0 when shorter than n)."""
        return np.maximum(self.doc_len - n + 1, 0)

    def incidence(self, n: int, binary: bool) -> sp.csr_matrix:
        """(N, bound) sparse matrix of n-gram presence (binary) or counts per text."""
        ids, doc, bound = self.ngrams(n)
        ids, bound = _compact(ids, bound)
        # One sorted int64 key per (text, n-gram) gives the CSR layout directly (rows, then columns).
        keys = pl.Series("key", doc * bound + ids)
        if binary:
            key = keys.unique().sort().to_numpy()
            data = np.ones(len(key))
        else:
            counted = keys.to_frame().group_by("key").len().sort("key")
            key, data = counted["key"].to_numpy(), counted["len"].to_numpy().astype(np.float64)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(key // bound, minlength=len(self.texts)))])
        return sp.csr_matrix((data, key % bound, indptr), shape=(len(self.texts), bound))


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise OptionError(f"n-gram order n must be a positive integer, not {n!r}")
    return int(n)


def _dense_token_ids(tokens: pl.Series) -> tuple[np.ndarray, int]:
    """Exact dense ids 0..V-1 for token strings (a hash-based categorical, then compacted)."""
    if tokens.len() == 0:
        return np.zeros(0, dtype=np.int64), 1
    physical = tokens.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    return _compact(physical, int(physical.max()) + 1)


def _compact(ids: np.ndarray, bound: int) -> tuple[np.ndarray, int]:
    """Renumber ids densely; a lookup table when the range is small, else a sort-based rank."""
    if len(ids) == 0:
        return ids, 1
    if bound <= 4 * len(ids) + 1024:
        present = np.zeros(bound, dtype=bool)
        present[ids] = True
        lookup = np.cumsum(present) - 1
        return lookup[ids], int(present.sum())
    ranked = pl.Series(ids).rank("dense").to_numpy().astype(np.int64) - 1
    return ranked, int(ranked.max()) + 1


def _ngram_ids(tokens: np.ndarray, token_doc: np.ndarray, vocab: int, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact ids of every n-gram inside one text: id(w1..wk) * V + w(k+1), re-ranked before int64 overflows."""
    starts = len(tokens) - n + 1
    if starts <= 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, 1
    ids, bound = tokens[:starts].astype(np.int64), vocab
    for k in range(1, n):
        if bound > (2**62) // vocab:
            ids, bound = _compact(ids, bound)
        ids, bound = ids * vocab + tokens[k:starts + k], bound * vocab
    inside = token_doc[:starts] == token_doc[n - 1:]  # the n-gram does not cross into the next text
    return ids[inside], token_doc[:starts][inside], bound


# ---------------------------------------------------------------- lexical, batched (one value per group)


def repetition_fraction_batch(corpus: Corpus, n: int = REPETITION_N) -> np.ndarray:
    """seq-rep-n per text, 1 - distinct n-grams / n-grams (0 when shorter than n), averaged per group.

    Welleck et al. 2019, "Neural Text Generation with Unlikelihood Training"
    (facebookresearch/unlikelihood_training custom/metrics.py).
    """
    distinct = _distinct_per(corpus.ngrams(n)[:2], len(corpus.texts))
    total = corpus.ngram_totals(n)
    per_text = np.where(total > 0, 1.0 - distinct / np.maximum(total, 1), 0.0)
    return _group_mean(per_text, corpus.groups)


def duplicate_fraction_batch(corpus: Corpus) -> np.ndarray:
    """1 - distinct normalised responses / G; normalised = the token sequence (SPEC §1)."""
    frame = pl.DataFrame({"group": corpus.groups.row_group, "text": corpus.normalised})
    distinct = frame.group_by("group").agg(pl.col("text").n_unique()).sort("group")["text"].to_numpy()
    return 1.0 - distinct / corpus.groups.sizes


def distinct_n_batch(corpus: Corpus, n: int = DISTINCT_N) -> np.ndarray:
    """distinct-n: distinct n-grams / n-grams over the whole group (Li et al. 2016, cshaib/diversity).

    A group with no n-gram at all scores 1 **[ours]**: like seq-rep-n's rule
    that a text shorter than n repeats nothing, nothing was repeated.
    """
    ids, doc, _ = corpus.ngrams(n)
    distinct = _distinct_per((ids, corpus.groups.row_group[doc]), corpus.groups.n_groups)
    total = np.bincount(corpus.groups.row_group, corpus.ngram_totals(n), minlength=corpus.groups.n_groups)
    return np.where(total > 0, distinct / np.maximum(total, 1), 1.0)


def jaccard_overlap_batch(corpus: Corpus, n: int = JACCARD_N) -> np.ndarray:
    """Mean over pairs i < j of |A_i ∩ A_j| / |A_i ∪ A_j|, A = the text's set of n-grams; J(∅, ∅) = 1.

    Intersections are the within-group Gram matrix of the binary n-gram
    incidence matrix, so all pairs of all groups come from sparse products.
    Groups of one text have no pair and get NaN (``score`` reports null).
    """
    incidence = corpus.incidence(n, binary=True)
    out = np.full(corpus.groups.n_groups, np.nan)
    for size, chosen, rows in corpus.groups.by_size(min_size=2):
        inter = _sparse_gram(incidence, rows)  # (B_G, G, G); diagonal = |A_i|
        sizes = np.diagonal(inter, axis1=1, axis2=2)
        union = sizes[:, :, None] + sizes[:, None, :] - inter
        jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        out[chosen] = _mean_off_diagonal(jaccard)
    return out


def compression_ratio_batch(corpus: Corpus) -> np.ndarray:
    """UTF-8 bytes of the group's texts (joined by newlines) / bytes of their gzip, compressed once.

    As cshaib/diversity's compression ratio; higher = more redundant. The
    texts are joined in sorted order **[ours]**, since gzip's output depends on
    the order and a group's score must not. gzip has no batched form: this is
    the one loop over groups, spread over threads (zlib releases the GIL).
    """
    raw = [text.encode("utf-8") for text in corpus.texts]
    joined = [b"\n".join(sorted(raw[start:start + size]))
              for start, size in zip(corpus.groups.starts, corpus.groups.sizes)]
    lengths = np.array([len(data) for data in joined], dtype=np.float64)
    return lengths / _gzip_sizes(joined)


def _gzip_sizes(chunks: list[bytes]) -> np.ndarray:
    """Byte size of ``gzip.compress(chunk, mtime=0)`` for each chunk: raw deflate at level 9 plus
    gzip's fixed 10-byte header and 8-byte trailer (RFC 1952), computed on all cores."""
    from concurrent.futures import ThreadPoolExecutor

    def sizes(part: list[bytes]) -> list[int]:
        return [len(zlib.compress(chunk, 9, wbits=-15)) + 18 for chunk in part]

    workers = max(1, min(os.cpu_count() or 1, len(chunks) // 256))
    step = -(-len(chunks) // workers) if chunks else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = pool.map(sizes, [chunks[at:at + step] for at in range(0, len(chunks), step)])
        return np.array([size for part in parts for size in part], dtype=np.float64)


def ngram_vendi_batch(corpus: Corpus, ns: Sequence[int] = NGRAM_VENDI_NS, q: float = VENDI_Q) -> np.ndarray:
    """Vendi score with the cosine kernel on n-gram count vectors (unigrams + bigrams by default).

    Friedman & Dieng 2023 (vertaix/Vendi-Score ``text_utils.ngram_vendi_score``).
    """
    counts = sp.hstack([corpus.incidence(n, binary=False) for n in ns], format="csr")
    out = np.empty(corpus.groups.n_groups)
    for size, chosen, rows in corpus.groups.by_size():
        out[chosen] = vendi_stack(cosine_kernel(_sparse_gram(counts, rows)), q)
    return out


def _distinct_per(pairs: tuple[np.ndarray, np.ndarray], length: int) -> np.ndarray:
    """(length,) number of distinct ids per owner, from (ids, owner) occurrence arrays."""
    ids, owner = pairs
    out = np.zeros(length)
    if len(ids):
        counts = pl.DataFrame({"owner": owner, "id": ids}).group_by("owner").agg(pl.col("id").n_unique())
        out[counts["owner"].to_numpy()] = counts["id"].to_numpy()
    return out


def _group_mean(values: np.ndarray, groups: Groups) -> np.ndarray:
    return np.bincount(groups.row_group, values, minlength=groups.n_groups) / groups.sizes


def _sparse_gram(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
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


def _mean_off_diagonal(stack: np.ndarray) -> np.ndarray:
    """(B,) mean of the off-diagonal entries of each symmetric (G, G) matrix."""
    size = stack.shape[-1]
    return (stack.sum(axis=(1, 2)) - np.trace(stack, axis1=1, axis2=2)) / (size * (size - 1))


# ---------------------------------------------------------------- embeddings → cosine kernels


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, in float64; zero rows become one shared extra axis (module doc)."""
    matrix = _as_embeddings(embeddings)
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


def kernel_stacks(embeddings, groups: Groups, index: np.ndarray | None = None, min_size: int = 1,
                  chunk: int | None = None):
    """Yield (group indices (B,), cosine kernels (B, G, G)) for every group, ``chunk`` groups at a time.

    ``embeddings`` is a dense (M, d) array or a scipy sparse matrix (lexical
    embedders); text k of the group layout is row ``index[k]`` (default: row k),
    so each distinct text needs embedding only once. By default a dense chunk
    holds about STACK_ELEMENTS embedding values, small enough to stay in cache
    (faster than one huge stack); a sparse chunk holds EIGEN_CHUNK groups.
    """
    sparse = sp.issparse(embeddings)
    matrix = sp.csr_matrix(embeddings, dtype=np.float64) if sparse else _as_embeddings(embeddings, cast=False)
    index = np.arange(groups.n_rows) if index is None else np.asarray(index)
    if len(index) != groups.n_rows or (len(index) and index.max() >= matrix.shape[0]):
        raise OptionError(f"{len(index)} embedding indices for {groups.n_rows} texts and {matrix.shape[0]} rows")
    for size, chosen, rows in groups.by_size(min_size):
        step = chunk or (EIGEN_CHUNK if sparse else max(1, STACK_ELEMENTS // (size * matrix.shape[1])))
        for at in range(0, len(chosen), step):
            part = index[rows[at:at + step]]  # (B, G) embedding rows
            if sparse:
                gram = _sparse_gram(matrix, part)
            else:
                stack = matrix[part].astype(np.float64)  # (B, G, d)
                gram = stack @ stack.transpose(0, 2, 1)
            yield chosen[at:at + step], cosine_kernel(gram)


def _as_embeddings(embeddings, cast: bool = True) -> np.ndarray:
    matrix = np.asarray(embeddings, dtype=np.float64) if cast else np.asarray(embeddings)
    if not np.issubdtype(matrix.dtype, np.number):
        raise OptionError(f"embeddings must be numeric, got dtype {matrix.dtype}")
    if matrix.ndim != 2:
        raise OptionError(f"embeddings must be a 2-D (n, d) array, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise OptionError("embeddings contain NaN or infinite values; check the embedder's output")
    return matrix


# ---------------------------------------------------------------- embedding metrics on kernel stacks (B, G, G)


def pairwise_cosine_stack(kernels: np.ndarray) -> np.ndarray:
    """Mean over i < j of cos(e_i, e_j) (SPEC §1); needs G >= 2."""
    return _mean_off_diagonal(kernels)


def centroid_distance_stack(kernels: np.ndarray) -> np.ndarray:
    """Mean over i of 1 - cos(e_i, c), c = mean of the unit embeddings (SPEC §1).

    Since Σ_i u_i·c = G |c|², the mean is 1 - |c|, and |c|² = Σ_ij K_ij / G².
    When c = 0 the cosine is undefined; 1 is the limit of 1 - |c| **[ours]**.
    """
    size = kernels.shape[-1]
    return 1.0 - np.sqrt(np.clip(kernels.sum(axis=(1, 2)), 0.0, None)) / size


def vendi_stack(kernels: np.ndarray, q: float = VENDI_Q, rtol: float = EIGEN_RTOL) -> np.ndarray:
    """exp(H_q(λ)), λ = eigenvalues of K / G (Friedman & Dieng 2023, eq. 1; Rényi order q)."""
    return np.exp(renyi_entropy(kernel_spectrum(kernels, rtol), _check_q(q)))


def kernel_spectrum(kernels: np.ndarray, rtol: float = EIGEN_RTOL) -> np.ndarray:
    """(B, G) eigenvalues of each K / G, those <= rtol * the largest set to 0 (SPEC §1)."""
    size = kernels.shape[-1]
    parts = [np.linalg.eigvalsh(kernels[at:at + EIGEN_CHUNK] / size) for at in range(0, len(kernels), EIGEN_CHUNK)]
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


def _check_q(q) -> float:
    try:
        value = float(q)
    except (TypeError, ValueError):
        raise OptionError(f"Vendi order q must be a number >= 0 or float('inf'), not {q!r}") from None
    if math.isnan(value) or value < 0:
        raise OptionError(f"Vendi order q must be >= 0 (or float('inf')), not {q!r}")
    return value


def cluster_sizes_stack(kernels: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> np.ndarray:
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


def semantic_clusters_stack(kernels: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> np.ndarray:
    """(B,) number of clusters: Σ_i 1 / |cluster(i)|, rounded (each cluster's members add to 1)."""
    return np.rint((1.0 / cluster_sizes_stack(kernels, threshold)).sum(axis=-1))


def cluster_entropy_stack(kernels: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> np.ndarray:
    """(B,) Shannon entropy (nats) of the cluster-size distribution: -(1/G) Σ_i log(|cluster(i)| / G).

    Σ_c p_c log p_c with p_c = |c| / G, written per member i of c (each adds p_c log p_c / |c|).
    """
    sizes = cluster_sizes_stack(kernels, threshold)
    size = kernels.shape[-1]
    return -np.log(sizes / size).mean(axis=-1) + 0.0


# ---------------------------------------------------------------- per-group functions (one group each)


def repetition_fraction(texts: Sequence[str], n: int = REPETITION_N, pattern: str = TOKEN_PATTERN) -> float:
    """Mean over the group of seq-rep-n: 1 - distinct n-grams / n-grams (0 for a text shorter than n)."""
    return float(repetition_fraction_batch(Corpus.single(texts, pattern), n)[0])


def duplicate_fraction(texts: Sequence[str], pattern: str = TOKEN_PATTERN) -> float:
    """1 - distinct responses / G, responses compared as token sequences (case and punctuation ignored)."""
    return float(duplicate_fraction_batch(Corpus.single(texts, pattern))[0])


def jaccard_overlap(texts: Sequence[str], n: int = JACCARD_N, pattern: str = TOKEN_PATTERN) -> float:
    """Mean pairwise Jaccard similarity of the responses' n-gram sets; J(∅, ∅) = 1. Needs G >= 2."""
    _need_pairs(len(texts), "jaccard_overlap")
    return float(jaccard_overlap_batch(Corpus.single(texts, pattern), n)[0])


def distinct_n(texts: Sequence[str], n: int = DISTINCT_N, pattern: str = TOKEN_PATTERN) -> float:
    """Distinct n-grams / n-grams over the whole group (1 when the group has no n-gram)."""
    return float(distinct_n_batch(Corpus.single(texts, pattern), n)[0])


def compression_ratio(texts: Sequence[str]) -> float:
    """Bytes of the group's texts, sorted and joined by newlines / bytes of their gzip."""
    return float(compression_ratio_batch(Corpus.single(texts))[0])


def ngram_vendi(texts: Sequence[str], ns: Sequence[int] = NGRAM_VENDI_NS, q: float = VENDI_Q,
                pattern: str = TOKEN_PATTERN) -> float:
    """Vendi score of the responses' n-gram count vectors under the cosine kernel."""
    return float(ngram_vendi_batch(Corpus.single(texts, pattern), ns, q)[0])


def pairwise_cosine(embeddings: np.ndarray) -> float:
    """Mean cosine similarity over the pairs of rows of an (n, d) array. Needs n >= 2."""
    _need_pairs(len(embeddings), "pairwise_cosine")
    return float(pairwise_cosine_stack(_one_kernel(embeddings))[0])


def centroid_distance(embeddings: np.ndarray) -> float:
    """Mean cosine distance of the unit-norm rows to their mean."""
    return float(centroid_distance_stack(_one_kernel(embeddings))[0])


def semantic_clusters(embeddings: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> int:
    """Number of clusters when rows with cosine >= threshold are linked (connected components)."""
    return int(semantic_clusters_stack(_one_kernel(embeddings), threshold)[0])


def cluster_entropy(embeddings: np.ndarray, threshold: float = CLUSTER_THRESHOLD) -> float:
    """Entropy (nats) of the sizes of the :func:`semantic_clusters` partition."""
    return float(cluster_entropy_stack(_one_kernel(embeddings), threshold)[0])


def vendi_score(embeddings: np.ndarray | None = None, *, kernel: np.ndarray | None = None,
                q: float = VENDI_Q, rtol: float = EIGEN_RTOL) -> float:
    """Vendi score of one group: from an (n, d) array of embeddings or an (n, n) similarity kernel.

    q is any float >= 0 or float("inf"), honoured for both input forms. With
    embeddings and n > d the dual form is used: the eigenvalues of UᵀU / n
    (d × d) are the non-zero eigenvalues of K / n (Friedman & Dieng 2023 §3).
    A kernel (dense or scipy sparse) must be symmetric with unit diagonal
    (k(x, x) = 1); all its eigenvalues are used, sparse or not.
    """
    q = _check_q(q)
    if (embeddings is None) == (kernel is None):
        raise OptionError("vendi_score takes either embeddings or kernel=, exactly one of them")
    if kernel is not None:
        return float(vendi_stack(_check_kernel(kernel)[None], q, rtol)[0])
    unit = unit_rows(embeddings)
    count, dim = unit.shape
    if count <= dim:
        return float(vendi_stack(_one_kernel(embeddings), q, rtol)[0])
    spectrum = _threshold(np.linalg.eigvalsh(unit.T @ unit / count)[None], rtol)
    return float(np.exp(renyi_entropy(spectrum, q))[0])


def _one_kernel(embeddings: np.ndarray) -> np.ndarray:
    """(1, n, n) cosine kernel of one group's embeddings."""
    matrix = _as_embeddings(embeddings)
    if len(matrix) == 0:
        raise OptionError("a group needs at least one embedding; got none")
    return cosine_kernel((matrix @ matrix.T)[None])


def _check_kernel(kernel) -> np.ndarray:
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


def _need_pairs(count: int, name: str) -> None:
    if count < 2:
        raise OptionError(f"{name} compares pairs of responses and needs a group of at least 2, got {count}")
