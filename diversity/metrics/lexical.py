"""Lexical metrics: each reads the texts of a group through a :class:`~diversity.metrics.Corpus`.

Each ``*_batch`` form takes a Corpus (N texts laid out as B contiguous
groups) and returns one value per group, computed with whole-array
operations on blocks of thousands of texts or groups at a time (row-wise
sorts of exact n-gram ids, bitmask histograms), never a Python loop over
groups. The one exception is gzip in :func:`compression_ratio_batch`, which
has no batched form. Each per-group form runs its batched form on a single
group, so the two can never drift apart.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from diversity.metrics.kernels import cosine_kernel, mean_off_diagonal, sparse_gram
from diversity.metrics.sorted_rows import count_distinct, row_sums, run_starts, sorted_rows
from diversity.metrics.text_engine import TOKEN_PATTERN, Corpus, Groups, normalise
from diversity.metrics.validation import check_n, need_pairs
from diversity.metrics.vendi import VENDI_Q, vendi_score_batch
from diversity.metrics.vocabulary import compact

REPETITION_N = 4  # seq-rep-4 (Welleck et al. 2019)
JACCARD_N = 1
DISTINCT_N = 2
NGRAM_VENDI_NS = (1, 2)  # unigram + bigram counts, as the Vendi package's n-gram kernel
# Largest group for the bitmask form of the Jaccard intersections (2^G masks per group).
MASK_GROUP = 10
# Groups per thread task in _gzip_sizes: small enough to balance the threads on a busy machine.
GZIP_TASK = 64


def repetition_fraction_batch(corpus: Corpus, n: int = REPETITION_N) -> np.ndarray:
    """seq-rep-n per text, 1 - distinct n-grams / n-grams (0 when shorter than n), averaged per group.

    Welleck et al. 2019, "Neural Text Generation with Unlikelihood Training"
    (facebookresearch/unlikelihood_training custom/metrics.py).
    """
    distinct = corpus.distinct_ngram_counts(n)[corpus.text_index]
    total = corpus.ngram_totals(n)
    per_text = np.where(total > 0, 1.0 - distinct / np.maximum(total, 1), 0.0)
    return _group_mean(per_text, corpus.groups)


def duplicate_fraction_batch(corpus: Corpus) -> np.ndarray:
    """1 - distinct normalised responses / G (SPEC §1).

    Normalised (:func:`~diversity.metrics.text_engine.normalise`): Unicode
    case-folded, whitespace runs collapsed to one space and trimmed, nothing
    else removed, so two responses that differ in any other character (an
    operator, an emoji, punctuation) are distinct, whether or not they have
    tokens. Identical texts are one distinct text already; only the texts
    that could still match another of their group are normalised
    (:func:`_normal_form_ids`).
    """
    docs, members = corpus.group_members
    forms, bound = _normal_form_ids(corpus, docs, members)
    return 1.0 - count_distinct(forms, bound, members) / corpus.groups.sizes


def _normal_form_ids(corpus: Corpus, docs: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, int]:
    """((K,) ids, bound): for each group's distinct texts ``docs``, an id that two texts of a group share
    exactly when their normalised forms are equal.

    Normalising keeps every ``\\w+`` token boundary (case folding maps word
    characters to word characters and others to others; whitespace is never
    inside a token), so under the default pattern two texts can only match
    with as many tokens, and two ASCII texts only with the same token
    sequence. Only texts sharing such a key with another text of their group
    are normalised; under any other pattern every text is.
    """
    ids = docs.copy()  # a text that cannot match another of its group keeps its own id
    if corpus.pattern == TOKEN_PATTERN:
        group = np.repeat(np.arange(corpus.groups.n_groups), members)
        _, bucket, counts = np.unique(group * (int(corpus.doc_len.max(initial=0)) + 1) + corpus.doc_len[docs],
                                      return_inverse=True, return_counts=True)  # (group, tokens)
        ascii_text = np.fromiter(map(str.isascii, corpus.distinct), dtype=bool, count=len(corpus.distinct))[docs]
        mixed = np.bincount(bucket, weights=(~ascii_text).astype(float), minlength=len(counts)) > 0
        suspect = counts[bucket] > 1
        pure = np.flatnonzero(suspect & ~mixed[bucket])  # all-ASCII buckets: split them by token sequence
        sequence = bucket[pure] * (len(pure) + 1) + corpus.sequence_ids(docs[pure])
        _, at, repeats = np.unique(sequence, return_inverse=True, return_counts=True)
        chosen = np.sort(np.concatenate([np.flatnonzero(suspect & mixed[bucket]), pure[repeats[at] > 1]]))
    else:
        chosen = np.arange(len(docs))
    seen: dict[str, int] = {}
    forms = [seen.setdefault(normalise(corpus.distinct[k]), len(seen)) for k in docs[chosen].tolist()]
    ids[chosen] = len(corpus.distinct) + np.asarray(forms, dtype=np.int64)
    return ids, len(corpus.distinct) + len(seen)


def distinct_n_batch(corpus: Corpus, n: int = DISTINCT_N) -> np.ndarray:
    """distinct-n: distinct n-grams / n-grams over the whole group (Li et al. 2016, cshaib/diversity).

    A group with no n-gram at all scores 1 **[ours]**: like seq-rep-n's rule
    that a text shorter than n repeats nothing, nothing was repeated.
    """
    check_n(n)
    docs, members = corpus.group_members  # a text repeated within its group adds no new n-gram
    counts = corpus.ngram_counts(n)[docs]  # (K,) per member
    distinct = np.empty(corpus.groups.n_groups)
    for groups, at, ids, bound in corpus.member_ngram_blocks(docs, members, n):
        distinct[groups] = count_distinct(ids, bound, row_sums(counts[at], members[groups]))
    total = np.bincount(corpus.groups.row_group, corpus.ngram_totals(n), minlength=corpus.groups.n_groups)
    return np.where(total > 0, distinct / np.maximum(total, 1), 1.0)


def jaccard_overlap_batch(corpus: Corpus, n: int = JACCARD_N) -> np.ndarray:
    """Mean over pairs i < j of |A_i ∩ A_j| / |A_i ∪ A_j|, A = the text's set of n-grams; J(∅, ∅) = 1.

    Intersections come for all groups of a size at once: from bitmasks of
    which members hold each n-gram (:func:`_group_intersections`), or for
    groups over MASK_GROUP from the within-group Gram matrix of the binary
    incidence. Groups of one text have no pair and get NaN (``score`` reports null).
    """
    check_n(n)
    out = np.full(corpus.groups.n_groups, np.nan)
    for size, chosen, rows in corpus.groups.by_size(min_size=2):
        if size <= MASK_GROUP:
            inter = _group_intersections(corpus, n, rows)  # (B_G, G, G); diagonal = |A_i|
        else:
            inter = sparse_gram(corpus.incidence(n, binary=True), rows)
        sizes = np.diagonal(inter, axis1=1, axis2=2)
        union = sizes[:, :, None] + sizes[:, None, :] - inter
        jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        out[chosen] = mean_off_diagonal(jaccard)
    return out


def _group_intersections(corpus: Corpus, n: int, rows: np.ndarray) -> np.ndarray:
    """(B, G, G) |A_a ∩ A_b| for the members a, b of each group; rows (B, G) are the groups' texts.

    A group's distinct texts each carry the bitmask of the members that wrote
    them; each n-gram of the group gets the OR of the masks of the texts that
    hold it. From the histogram of those masks per group, :func:`_pair_counts`
    reads every intersection (the diagonal: |A_a|).
    """
    batch, size = rows.shape
    docs, masks, members = _member_masks(corpus.text_index[rows])  # (K,), (K,), (B,)
    counts = corpus.ngram_counts(n)[docs]
    out = np.empty((batch, size, size))
    for groups, at, ids, bound in corpus.member_ngram_blocks(docs, members, n):
        width = groups.stop - groups.start  # groups in this block
        if bound > 2**(62 - size):
            ids, bound = compact(ids, bound)
        keys = (ids.astype(np.int64) << size) | np.repeat(masks[at], counts[at])  # id, then holders
        histogram = np.zeros(2**size * width, dtype=np.int64)  # (mask, group)
        for group, block, lens in sorted_rows(keys, bound << size, row_sums(counts[at], members[groups])):
            starts, valid = run_starts(block >> size, np.iinfo(block.dtype).max >> size)  # a run: one n-gram
            held = np.bitwise_or.reduceat(block.ravel() & (2**size - 1), starts)[valid]
            histogram += np.bincount(held * width + group[starts[valid] // block.shape[1]], minlength=len(histogram))
        out[groups] = _pair_counts(histogram.reshape(2**size, width), size)
    return out


def _member_masks(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From (B, G) text ids: (distinct texts (K,), bitmask of the members holding each (K,), per group (B,))."""
    batch, size = docs.shape
    keys = (np.arange(batch)[:, None] * (int(docs.max()) + 1) + docs).ravel()
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.diff(keys[order], prepend=-1))
    masks = np.bitwise_or.reduceat(np.tile(1 << np.arange(size), batch)[order], starts)
    return docs.ravel()[order[starts]], masks, np.bincount(order[starts] // size, minlength=batch)


def _pair_counts(histogram: np.ndarray, size: int) -> np.ndarray:
    """(B, G, G) from (2^G, B) counts of items per member bitmask (summed in place): how many items
    members a and b both hold.

    A superset-sum (zeta) transform over the G bits turns entry S into the
    count of items whose mask contains S, in G vectorised passes (groups on the
    last axis keep the inner loops long); the pair (a, b) then reads entry
    {a, b}, and a member alone reads {a}. Integer arithmetic, so exact.
    """
    for bit in range(size):
        halves = histogram.reshape(-1, 2, 2**bit, histogram.shape[-1])  # [:, 1] = the masks with this bit set
        halves[:, 0] += halves[:, 1]
    single = 1 << np.arange(size)
    return np.moveaxis(histogram[single[:, None] | single[None, :]], -1, 0)


def compression_ratio_batch(corpus: Corpus) -> np.ndarray:
    """UTF-8 bytes of the group's texts (joined by newlines) / bytes of their gzip, compressed once.

    As cshaib/diversity's compression ratio; higher = more redundant. The
    texts are joined in sorted order **[ours]**, since gzip's output depends on
    the order and a group's score must not. gzip has no batched form: this is
    the one loop over groups, spread over threads (zlib releases the GIL).
    """
    encoded = [text.encode("utf-8") for text in corpus.distinct]
    raw = [encoded[k] for k in corpus.text_index.tolist()]
    joined = [b"\n".join(sorted(raw[start:start + size]))
              for start, size in zip(corpus.groups.starts.tolist(), corpus.groups.sizes.tolist())]
    lengths = np.fromiter(map(len, joined), dtype=np.float64, count=len(joined))
    return lengths / _gzip_sizes(joined)


def _gzip_sizes(chunks: list[bytes]) -> np.ndarray:
    """Byte size of ``gzip.compress(chunk, mtime=0)`` for each chunk: raw deflate at level 9 plus
    gzip's fixed 10-byte header and 8-byte trailer (RFC 1952), computed on all cores."""
    from concurrent.futures import ThreadPoolExecutor

    def sizes(part: list[bytes]) -> list[int]:
        return [len(zlib.compress(chunk, 9, wbits=-15)) + 18 for chunk in part]

    tasks = [chunks[at:at + GZIP_TASK] for at in range(0, len(chunks), GZIP_TASK)]
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, len(tasks)))) as pool:
        return np.array([size for part in pool.map(sizes, tasks) for size in part], dtype=np.float64)


def ngram_vendi_batch(corpus: Corpus, ns: Sequence[int] = NGRAM_VENDI_NS, q: float = VENDI_Q) -> np.ndarray:
    """Vendi score with the cosine kernel on n-gram count vectors (unigrams + bigrams by default).

    Friedman & Dieng 2023 (vertaix/Vendi-Score ``text_utils.ngram_vendi_score``).
    """
    counts = sp.hstack([corpus.incidence(n, binary=False) for n in ns], format="csr")
    out = np.empty(corpus.groups.n_groups)
    for size, chosen, rows in corpus.groups.by_size():
        out[chosen] = vendi_score_batch(cosine_kernel(sparse_gram(counts, rows)), q)
    return out


def _group_mean(values: np.ndarray, groups: Groups) -> np.ndarray:
    return np.bincount(groups.row_group, values, minlength=groups.n_groups) / groups.sizes


# ---------------------------------------------------------------- per-group forms (one group each)


def repetition_fraction(texts: Sequence[str], n: int = REPETITION_N, pattern: str = TOKEN_PATTERN) -> float:
    """Mean over the group of seq-rep-n: 1 - distinct n-grams / n-grams (0 for a text shorter than n)."""
    return float(repetition_fraction_batch(Corpus.single(texts, pattern), n)[0])


def duplicate_fraction(texts: Sequence[str], pattern: str = TOKEN_PATTERN) -> float:
    """1 - distinct responses / G, responses compared after case folding and collapsing whitespace only."""
    return float(duplicate_fraction_batch(Corpus.single(texts, pattern))[0])


def jaccard_overlap(texts: Sequence[str], n: int = JACCARD_N, pattern: str = TOKEN_PATTERN) -> float:
    """Mean pairwise Jaccard similarity of the responses' n-gram sets; J(∅, ∅) = 1. Needs G >= 2."""
    need_pairs(len(texts), "jaccard_overlap")
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

