"""Intra-prompt diversity metrics: per-group functions and their batched forms.

Definitions, defaults and sources are in SPEC.md §1; each formula is cited
next to the line that implements it. Two families:

- *Lexical* metrics read the texts of a group. Their batched forms take a
  :class:`Corpus` (N texts laid out as B contiguous groups, each distinct
  text tokenised once into exact integer ids) and return one value per group,
  computed with whole-array operations on blocks of thousands of texts or
  groups at a time (row-wise sorts of exact n-gram ids, bitmask histograms),
  never a Python loop over groups. The one exception is gzip in
  :func:`compression_ratio_batch`, which has no batched form.
- *Embedding* metrics read an (n, d) array of sentence embeddings. Their
  batched forms take a stack of cosine kernels, shape (B, G, G), one per
  group of size G; :func:`kernel_stacks` builds the stacks from embeddings.

Every per-group function runs the batched form on a single group, so the two
can never drift apart; the tests check both against plain loops.

Tokenisation rule **[ours]**: lowercase, then the tokens are the maximal
runs matching ``TOKEN_PATTERN`` (Rust regex syntax, as polars runs it;
``\\w+`` splits on whitespace and punctuation and keeps Unicode letters,
digits and underscores). Every lexical function takes it as ``pattern``.
:func:`tokenize` is the rule's reference form; for the default pattern the
:class:`Corpus` reaches the same tokens from bytes, without a regex.

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
from functools import cache, cached_property
from itertools import chain

import numpy as np
import polars as pl
import scipy.sparse as sp

from rollout_common.errors import OptionError

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
    """Each text's tokens under the module's rule: lowercase, then runs matching ``pattern``.

    This is the rule's reference form (polars' regex). :class:`Corpus` reaches the
    same tokens for the default pattern without a regex; the tests hold the two equal.
    """
    return _token_lists(texts, pattern).to_list()


def _token_lists(texts: Sequence[str], pattern: str) -> pl.Series:
    series = pl.Series("text", list(texts), dtype=pl.String)
    if series.null_count():
        raise OptionError("texts must be strings, not None; write an empty string for an empty response")
    try:
        return series.str.to_lowercase().str.extract_all(pattern)
    except pl.exceptions.ComputeError as error:
        raise OptionError(f"token pattern {pattern!r} is not a valid regex: {error}") from None


# Work is done a block at a time, a block being whole texts (or whole groups) holding about this many
# tokens or characters: every temporary array stays a few MiB, cache-friendly and reused rather than
# freshly allocated (fresh pages cost as much as the arithmetic).
BLOCK = 2**17


class Corpus:
    """N texts in B contiguous groups; each distinct text is tokenised once.

    ``text_index`` (N,) maps every text to its entry in ``distinct`` (collapsed
    policies repeat whole answers, so there is less to tokenise). Token ids are
    exact (one id per distinct token string), as are n-gram ids, so every count
    below is exact, not hashed.
    """

    def __init__(self, texts: Sequence[str], sizes: Sequence[int] | np.ndarray, pattern: str = TOKEN_PATTERN):
        self.texts = list(texts)
        self.groups = Groups(sizes)
        if self.groups.n_rows != len(self.texts):
            raise OptionError(f"group sizes add up to {self.groups.n_rows} but there are {len(self.texts)} texts")
        self.pattern = pattern
        self.text_index, self.distinct = _distinct_texts(self.texts)  # (N,), U strings
        self.tokens, self.doc_len, self.vocab = _token_ids(self.distinct, pattern)  # (T,), (U,), V
        self.doc_start = _offsets(self.doc_len)  # (U,) where each distinct text's tokens start
        self._cache: dict[tuple[str, int], object] = {}

    @classmethod
    def single(cls, texts: Sequence[str], pattern: str = TOKEN_PATTERN) -> "Corpus":
        """One group holding all ``texts``."""
        texts = list(texts)
        if not texts:
            raise OptionError("a group needs at least one response; got none")
        return cls(texts, [len(texts)], pattern)

    @cached_property
    def token_doc(self) -> np.ndarray:
        """(T,) the distinct text of each token."""
        return np.repeat(np.arange(len(self.distinct)), self.doc_len)

    @cached_property
    def normalised(self) -> pl.Series:
        """(N,) each text as its tokens joined by spaces (from the reference :func:`tokenize`)."""
        return _token_lists(self.distinct, self.pattern).list.join(" ").gather(self.text_index)

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(ids (M,), doc (M,), bound): every n-gram of every distinct text, text after text.

        ``doc`` indexes ``distinct``; ids are exact across the corpus and < bound.
        """
        ids, bound = self._ngram_ids(n)
        return ids, np.repeat(np.arange(len(self.distinct)), self.ngram_counts(n)), bound

    def _ngram_ids(self, n: int) -> tuple[np.ndarray, int]:
        key = ("ngrams", _check_n(n))
        if key not in self._cache:
            self._cache[key] = _ngram_ids(self.tokens, self.doc_len, self.vocab, n)
        return self._cache[key]

    def ngram_counts(self, n: int) -> np.ndarray:
        """(U,) number of n-grams in each distinct text (0 when shorter than n)."""
        return np.maximum(self.doc_len - n + 1, 0)

    def ngram_totals(self, n: int) -> np.ndarray:
        """(N,) number of n-grams in each text (0 when shorter than n)."""
        return self.ngram_counts(n)[self.text_index]

    def distinct_ngram_counts(self, n: int) -> np.ndarray:
        """(U,) number of distinct n-grams in each distinct text."""
        key = ("distinct", _check_n(n))
        if key not in self._cache:
            out, counts = np.empty(len(self.distinct), dtype=np.int64), self.ngram_counts(n)
            for u0, u1 in _blocks(self.doc_len, BLOCK):
                tokens = self.tokens[self.doc_start[u0]:self.doc_start[u0] + self.doc_len[u0:u1].sum()]
                ids, bound = _ngram_ids(tokens, self.doc_len[u0:u1], self.vocab, n)
                out[u0:u1] = _count_distinct(ids, bound, counts[u0:u1])
            self._cache[key] = out
        return self._cache[key]

    def member_tokens(self, docs: np.ndarray) -> np.ndarray:
        """The tokens of the distinct texts ``docs``, text after text."""
        if len(docs) and docs[-1] - docs[0] == len(docs) - 1 and (np.diff(docs) == 1).all():
            return self.tokens[self.doc_start[docs[0]]:self.doc_start[docs[-1]] + self.doc_len[docs[-1]]]  # a slice
        return self.tokens[_ranges(self.doc_start[docs], self.doc_len[docs])]

    @cached_property
    def group_members(self) -> tuple[np.ndarray, np.ndarray]:
        """(docs (K,), counts (B,)): each group's distinct texts (indices into ``distinct``), group after group."""
        docs, _, counts = _runs_within_rows(self.text_index, len(self.distinct), self.groups.sizes)
        return docs, counts

    def sequence_ids(self, docs: np.ndarray) -> np.ndarray:
        """An exact id of the token sequence of each distinct text in ``docs``: equal sequences, equal ids.

        The key is the bytes of the text's token ids, so equality is exact.
        """
        data = self.member_tokens(docs).astype("<i8").tobytes()
        ends = np.cumsum(self.doc_len[docs]) * 8
        keys = map(data.__getitem__, map(slice, (ends - self.doc_len[docs] * 8).tolist(), ends.tolist()))
        seen: dict[bytes, int] = {}
        return np.fromiter((seen.setdefault(key, len(seen)) for key in keys), dtype=np.int64, count=len(docs))

    def incidence(self, n: int, binary: bool) -> sp.csr_matrix:
        """(N, bound) sparse matrix of n-gram presence (binary) or counts per text."""
        ids, bound = _compact(*self._ngram_ids(n))
        columns, often, counts = _runs_within_rows(ids, bound, self.ngram_counts(n))
        data = np.ones(len(columns)) if binary else often.astype(np.float64)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        per_distinct = sp.csr_matrix((data, columns, indptr), shape=(len(self.distinct), bound))
        return per_distinct[self.text_index]


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise OptionError(f"n-gram order n must be a positive integer, not {n!r}")
    return int(n)


def _distinct_texts(texts: list) -> tuple[np.ndarray, list[str]]:
    """(index (N,), distinct texts in order of first appearance), texts[k] == distinct[index[k]]."""
    if not set(map(type, texts)) <= {str}:  # one fast pass; the loop below only names the culprit
        for row, text in enumerate(texts):
            if text is None:
                raise OptionError(f"texts must be strings, not None (text {row}); write an empty string for an "
                                  "empty response")
            if not isinstance(text, str):
                raise OptionError(f"texts must be strings; text {row} is a {type(text).__name__}")
    position = dict.fromkeys(texts)  # the distinct texts, in order of first appearance
    position.update(zip(position, range(len(position))))
    return np.fromiter(map(position.__getitem__, texts), dtype=np.int64, count=len(texts)), list(position)


def _blocks(weights: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive ranges [a, b) of items whose weights add up to about ``budget`` (at least one item each)."""
    if len(weights) == 0:
        return []
    total = np.cumsum(weights)
    ends = np.searchsorted(total, np.arange(budget, total[-1], budget)) + 1  # just after each multiple of budget
    bounds = np.unique(np.concatenate([[0], ends, [len(weights)]])).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


# ---------------------------------------------------------------- token ids


def _token_ids(texts: list[str], pattern: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(tokens (T,), counts (U,), V): exact dense ids 0..V-1 of every token, text after text."""
    if not texts:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), 1
    if pattern != TOKEN_PATTERN:
        lists = _token_lists(texts, pattern)
        tokens, vocab = _dense_token_ids(lists.explode().drop_nulls())
        return tokens, lists.list.len().to_numpy().astype(np.int64), vocab
    vocab, tokens, counts = _Vocabulary(), [], []
    for a, b in _blocks(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), 8 * BLOCK):
        ids, per_text = _word_token_ids(texts[a:b], vocab)
        tokens.append(ids.astype(np.int32) if vocab.size < 2**31 else ids)  # int32: half the memory
        counts.append(per_text)
    return np.concatenate(tokens), np.concatenate(counts), max(vocab.size, 1)


def _word_token_ids(texts: list[str], vocab: "_Vocabulary") -> tuple[np.ndarray, np.ndarray]:
    """(tokens, counts per text) for the default pattern ``\\w+``, on bytes instead of a regex.

    A match of ``\\w+`` is a maximal run of word characters, so the tokens are
    the runs of a per-character class, and all bytes of a UTF-8 character share
    it. The texts are lowercased (by polars, as in :func:`tokenize`; ASCII text
    byte-wise, which is the same), joined by newlines (not a word character, so
    no run crosses two texts) and encoded; a table maps each byte to its
    lowercase form, or 0 outside words. ``vocab`` turns the tokens' bytes into
    ids, kept across calls.
    """
    # A newline before the first text and 8 after the last, so every 8-byte window below is in bounds.
    joined = "\n".join(chain([""], texts, ["\n" * 7]))
    if joined.isascii():
        word = np.frombuffer(joined.encode("ascii").translate(_byte_table()), dtype=np.uint8)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:  # the UTF-8 bytes straight from polars' buffer, each text followed by its newline
        lowered = pl.Series("text", texts, dtype=pl.String).str.to_lowercase() + "\n"
        arrow = lowered.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string: one data buffer
        offsets = np.frombuffer(arrow.buffers()[1], dtype=np.int64)[arrow.offset:arrow.offset + len(texts) + 1]
        word = np.zeros(offsets[-1] - offsets[0] + 9, dtype=np.uint8)
        data = memoryview(arrow.buffers()[2])[offsets[0]:offsets[-1]]
        word[1:-8] = np.frombuffer(bytearray(data).translate(_byte_table()), dtype=np.uint8)
        lengths = np.diff(offsets) - 1
        _clear_non_word_characters(word)
    edges = np.flatnonzero(np.diff(word != 0))  # alternately a run's first byte - 1 and its last byte
    starts, ends = edges[0::2] + 1, edges[1::2] + 1
    text_starts = 1 + np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    counts = np.diff(np.searchsorted(starts, text_starts), append=len(starts)).astype(np.int64)
    return vocab.token_ids(word, starts, ends - starts), counts


# Tokens longer than this many bytes are keyed by their bytes; shorter ones by integers.
CHUNKED_TOKEN = 64


class _Vocabulary:
    """Exact ids 0, 1, ... of the distinct tokens met so far, block after block.

    Each token gets a 64-bit integer key, then an id from :class:`_IntegerIds`.
    A token up to 8 bytes is keyed by its bytes read as one integer (exact: a
    word byte is never 0, so the lowest byte, its first, is not 0 either). A
    token up to CHUNKED_TOKEN bytes is a sequence of 8-byte chunks: each chunk
    gets an id, each (sequence so far, chunk) pair an id, and the key is
    (the whole sequence's id + 1) << 8. A longer token gets a fresh key from a
    dict of its bytes, from 2^63 up. Keys ending in a zero byte are never a
    short token's, and the ranges of the other two do not meet.
    """

    def __init__(self):
        self.ids = _IntegerIds()  # token key -> token id
        self.chunks = _IntegerIds()  # 8-byte chunk -> chunk id
        self.sequences = _IntegerIds()  # (sequence id + 1) << 32 | (chunk id + 1) -> sequence id
        self.longest: dict[bytes, int] = {}

    @property
    def size(self) -> int:
        return self.ids.size

    def token_ids(self, word: np.ndarray, starts: np.ndarray, size: np.ndarray) -> np.ndarray:
        """The id of each token word[starts:starts + size], adding the tokens not seen yet."""
        windows = np.ndarray((len(word) - 7,), dtype="<u8", buffer=word, strides=(1,))  # window k = bytes k..k+7
        keys = windows[starts] & _PREFIX_MASKS[np.minimum(size, 8)]
        chunked = np.flatnonzero(size > 8)
        if len(chunked):
            keys[chunked] = self._chunked_keys(windows, starts[chunked], size[chunked])
        for k in np.flatnonzero(size > CHUNKED_TOKEN).tolist():
            token = word[starts[k]:starts[k] + size[k]].tobytes()
            keys[k] = self.longest.setdefault(token, (2**55 + len(self.longest)) << 8)
        return self.ids.lookup(keys)

    def _chunked_keys(self, windows: np.ndarray, starts: np.ndarray, size: np.ndarray) -> np.ndarray:
        """Keys of tokens of 9 to CHUNKED_TOKEN bytes, a round per 8-byte chunk (longer ones get theirs later)."""
        sequence = np.zeros(len(starts), dtype=np.uint64)  # the id + 1 of each token's chunks so far; 0: none
        alive, offset = np.flatnonzero(size <= CHUNKED_TOKEN), 0
        while len(alive):
            left = size[alive] - offset
            chunk = self.chunks.lookup(windows[starts[alive] + offset] & _PREFIX_MASKS[np.minimum(left, 8)])
            pair = (sequence[alive] << np.uint64(32)) | (chunk.astype(np.uint64) + np.uint64(1))
            sequence[alive] = self.sequences.lookup(pair).astype(np.uint64) + np.uint64(1)
            alive, offset = alive[left > 8], offset + 8
        return sequence << np.uint64(8)


class _IntegerIds:
    """Exact ids 0, 1, ... of distinct non-zero 64-bit keys, in order of first appearance.

    Most look-ups are answered by a direct-mapped table (slot = a
    multiplicative hash of the key, checked against the key stored there) in a
    few vectorised passes; the rest go to a sorted array of all keys.
    """

    def __init__(self):
        self.keys = np.zeros(0, dtype=np.uint64)  # every key, sorted
        self.ids = np.zeros(0, dtype=np.int64)  # the id of each key
        self.size = 0
        self._resize(12)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The id of each key (repeats allowed), adding the keys not seen yet."""
        if self.bits > 16:  # a table past 1 MiB misses the cache: look up each distinct key once
            local, distinct = _factorize(keys)
            return self._lookup(distinct)[local]
        return self._lookup(keys)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        slot = self._slot(keys)
        ids = self.slot_ids[slot]
        miss = np.flatnonzero(self.slot_keys[slot] != keys)  # no key is 0, an empty slot's key
        if len(miss):
            local, distinct = _factorize(keys[miss])
            found = self._sorted_ids(distinct)
            ids[miss] = found[local]
            if self.size * 4 > len(self.slot_keys) and self.bits < 22:  # keep the table at most 1/4 full
                self._resize(self.bits + 2)
            else:
                self._place(distinct, found)
        return ids

    def _sorted_ids(self, keys: np.ndarray) -> np.ndarray:
        """The ids of distinct keys from the sorted array, adding the new ones to it."""
        at = np.searchsorted(self.keys, keys)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == keys[known]
        out = np.zeros(len(keys), dtype=np.int64)
        out[known] = self.ids[at[known]]
        new = np.flatnonzero(~known)
        out[new] = self.size + np.arange(len(new))
        self.size += len(new)
        order = new[np.argsort(keys[new])]
        self.keys = np.insert(self.keys, at[order], keys[order])
        self.ids = np.insert(self.ids, at[order], out[order])
        return out

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - self.bits)).view(np.int64)

    def _place(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Put (key, id) pairs into their slots where those are empty; of keys sharing a slot, the first."""
        slot, first = np.unique(self._slot(keys), return_index=True)
        empty = self.slot_keys[slot] == 0
        self.slot_keys[slot[empty]] = keys[first[empty]]
        self.slot_ids[slot[empty]] = ids[first[empty]]

    def _resize(self, bits: int) -> None:
        """A table of 2^bits slots holding the keys so far, the earliest (most common) first."""
        self.bits = bits
        self.slot_keys = np.zeros(2**bits, dtype=np.uint64)
        self.slot_ids = np.zeros(2**bits, dtype=np.int64)
        order = np.argsort(self.ids)
        self._place(self.keys[order], self.ids[order])


# _PREFIX_MASKS[k] keeps the first k bytes of a little-endian 8-byte window.
_PREFIX_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


@cache
def _byte_table() -> bytes:
    """256 bytes: an ASCII word character's lowercase byte, 0 for other ASCII, itself for bytes >= 0x80.

    Which ASCII characters are word characters is asked of polars' regex, the
    reference for ``\\w``; non-ASCII bytes are classed per character later.
    """
    ascii_chars = pl.Series("c", [chr(c) for c in range(128)], dtype=pl.String)
    is_word = ascii_chars.str.contains(r"^\w$").to_numpy()
    lowered = np.frombuffer("".join(chr(c) for c in range(128)).lower().encode("ascii"), dtype=np.uint8)
    return np.concatenate([np.where(is_word, lowered, 0), np.arange(128, 256)]).astype(np.uint8).tobytes()


def _clear_non_word_characters(word: np.ndarray) -> None:
    """Zero, in place, the UTF-8 bytes of every non-ASCII character that is not a word character.

    Each lead byte (11xxxxxx) and its continuation bytes are decoded to a code
    point; each code point is classed once, by polars' regex ``\\w``, so the
    class is exactly the one :func:`tokenize` applies.
    """
    lead = np.flatnonzero(word >= 0xC0)
    if not len(lead):
        return
    first = word[lead].astype(np.int64)
    width = 2 + (first >= 0xE0) + (first >= 0xF0)  # bytes in the character
    code = first & np.select([width == 2, width == 3], [0x1F, 0x0F], 0x07)
    for k in (1, 2, 3):
        code = np.where(width > k, (code << 6) | (word[lead + k] & 0x3F), code)
    classes = _character_classes()
    new = np.unique(code[classes[code] == 0])
    if len(new):
        chars = pl.Series("c", [chr(c) for c in new.tolist()], dtype=pl.String)
        classes[new] = np.where(chars.str.contains(r"^\w$").to_numpy(), 1, 2)
    not_word = classes[code] == 2
    for k in range(4):
        word[lead[not_word & (width > k)] + k] = 0


@cache
def _character_classes() -> np.ndarray:
    """(0x110000,) per code point: 1 a word character, 2 not, 0 not asked yet (filled in as met)."""
    return np.zeros(0x110000, dtype=np.uint8)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, uniques): exact dense ids 0..K-1 of integer values, uniques[ids] == values (a hash table)."""
    from pandas import factorize  # a heavy import, needed only here

    codes, uniques = factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), uniques


def _dense_token_ids(tokens: pl.Series) -> tuple[np.ndarray, int]:
    """Exact dense ids 0..V-1 for token strings (a hash-based categorical, then compacted)."""
    if tokens.len() == 0:
        return np.zeros(0, dtype=np.int64), 1
    physical = tokens.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    return _compact(physical, int(physical.max()) + 1)


def _compact(ids: np.ndarray, bound: int) -> tuple[np.ndarray, int]:
    """Renumber ids densely; a lookup table when the range is small, else a hash table."""
    if len(ids) == 0:
        return ids, 1
    if bound <= 4 * len(ids) + 1024:
        present = np.zeros(bound, dtype=bool)
        present[ids] = True
        lookup = np.cumsum(present) - 1
        return lookup[ids], int(present.sum())
    ids, uniques = _factorize(ids)
    return ids, len(uniques)


def _ngram_ids(tokens: np.ndarray, doc_len: np.ndarray, vocab: int, n: int) -> tuple[np.ndarray, int]:
    """(ids, bound): exact ids of every n-gram inside a text, text after text; tokens holds the texts
    of ``doc_len`` one after another. id(w1..wk) * V + w(k+1), renumbered before int64 overflows."""
    starts = len(tokens) - n + 1
    if n == 1:
        return tokens, vocab
    if starts <= 0:
        return np.zeros(0, dtype=np.int64), 1
    ids, bound = tokens[:starts].astype(np.int64), vocab
    for k in range(1, n):
        if bound > (2**62) // vocab:
            ids, bound = _compact(ids, bound)
        ids *= vocab
        ids += tokens[k:starts + k]
        bound *= vocab
    # Drop the n-grams that cross into the next text: those starting in a text's last n - 1 tokens.
    inside = np.ones(starts, dtype=bool)
    ends = np.cumsum(doc_len)
    for k in range(1, n):
        cut = ends[doc_len >= k] - k
        inside[cut[cut < starts]] = False
    return ids[inside], bound


# ---------------------------------------------------------------- rows of ids: sorted, distinct


def _offsets(lengths: np.ndarray) -> np.ndarray:
    """(R,) where each row starts, for rows of ``lengths`` laid out one after another."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + l) over (s, l): the gather index of rows picked from a flat layout."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def _count_distinct(values: np.ndarray, bound: int, lengths: np.ndarray) -> np.ndarray:
    """(R,) number of distinct values (all in [0, bound)) in each row."""
    out = np.zeros(len(lengths), dtype=np.int64)
    for rows, block, lens in _sorted_rows(values, bound, lengths):
        changes = np.count_nonzero(block[:, 1:] != block[:, :-1], axis=1)
        out[rows] = changes + 1 - (lens < block.shape[1])  # the padding, if any, is one more run
    return out


def _runs_within_rows(values: np.ndarray, bound: int, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """(distinct values, how often each occurs, counts (R,)): each row's distinct values, sorted, row after row."""
    counts = np.zeros(len(lengths), dtype=np.int64)
    parts = []
    for rows, block, lens in _sorted_rows(values, bound, lengths):
        starts, valid = _run_starts(block, np.iinfo(block.dtype).max)
        runs = np.diff(starts, append=block.size)
        counts[rows] = np.bincount(starts[valid] // block.shape[1], minlength=len(rows))
        parts.append((rows, block.ravel()[starts[valid]], runs[valid]))
    distinct, often = np.zeros(counts.sum(), dtype=np.int64), np.zeros(counts.sum(), dtype=np.int64)
    offsets = _offsets(counts)
    for rows, value, run in parts:
        at = _ranges(offsets[rows], counts[rows])
        distinct[at], often[at] = value, run
    return distinct, often, counts


def _run_starts(block: np.ndarray, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions where a run of equal values starts in each row of a sorted block padded with
    ``padding`` (the padding is a run too), and which of those runs hold values rather than padding."""
    first = np.empty(block.shape, dtype=bool)
    first[:, 0] = True
    np.not_equal(block[:, 1:], block[:, :-1], out=first[:, 1:])
    starts = np.flatnonzero(first)
    return starts, block.ravel()[starts] != padding


# Cells of one padded block of rows to sort: 2^18 int64 = 2 MiB, so each block sorts in cache.
ROW_BLOCK = 2**18


def _sorted_rows(values: np.ndarray, bound: int, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield (rows (r,), block (r, W), lengths (r,)): each row of ``values`` sorted, padded on the right.

    ``values`` (M,), all in [0, bound), holds rows of ``lengths`` (R,) one
    after another. Rows go into a padded block, int32 when the bound allows
    (twice the sort speed), with the dtype's maximum as padding, sorted along
    axis 1: many short sorts in cache, far faster than one global sort of
    (row, value) keys. Blocks take consecutive rows; a block that would be
    mostly padding (a long row among short ones) is left to a second pass over
    those rows in order of length. Empty rows may not be yielded.
    """
    dtype = np.int32 if bound < 2**31 else np.int64
    deferred = yield from _sorted_blocks(values, lengths, np.arange(len(lengths)), dtype, defer=True)
    if len(deferred):
        rows = deferred[np.argsort(lengths[deferred], kind="stable")]
        gathered = values[_ranges(_offsets(lengths)[rows], lengths[rows])]
        yield from _sorted_blocks(gathered, lengths[rows], rows, dtype, defer=False)


def _sorted_blocks(values: np.ndarray, lengths: np.ndarray, rows: np.ndarray, dtype, defer: bool):
    """:func:`_sorted_rows` over consecutive rows; returns the rows of the blocks deferred."""
    deferred, row, at = [], 0, 0
    while row < len(lengths):
        window = lengths[row:row + ROW_BLOCK // max(int(lengths[row]), 1) + 1]
        widths = np.maximum.accumulate(window)
        fits = np.arange(1, len(window) + 1) * widths <= ROW_BLOCK
        count = len(window) if fits.all() else max(1, int(np.argmin(fits)))
        lens, width = window[:count], int(widths[count - 1])
        size = int(lens.sum())
        if defer and count * width > 2 * size:
            deferred.append(rows[row:row + count])
        elif size:
            block = np.full((count, width), np.iinfo(dtype).max, dtype=dtype)
            block[np.arange(width) < lens[:, None]] = values[at:at + size]
            block.sort(axis=1)  # the padding, greater than every value, stays at the end of each row
            yield rows[row:row + count], block, lens
        row, at = row + count, at + size
    return np.concatenate(deferred) if deferred else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------- lexical, batched (one value per group)


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
    """1 - distinct normalised responses / G; normalised = the token sequence (SPEC §1).

    Identical texts are one distinct text already; two different texts of a
    group can still share a token sequence ("Yes." and "yes"), which needs as
    many tokens, so only such texts are compared, exactly.
    """
    docs, members = corpus.group_members
    group = np.repeat(np.arange(corpus.groups.n_groups), members)
    same_length = group * (int(corpus.doc_len.max(initial=0)) + 1) + corpus.doc_len[docs]  # (group, tokens)
    _, inverse, counts = np.unique(same_length, return_inverse=True, return_counts=True)
    suspect = np.flatnonzero(counts[inverse] > 1)
    sequence = docs.copy()  # a text's own id where no other text of its group could match it
    sequence[suspect] = len(corpus.distinct) + corpus.sequence_ids(docs[suspect])
    distinct = _count_distinct(sequence, len(corpus.distinct) + len(suspect), members)
    return 1.0 - distinct / corpus.groups.sizes


def distinct_n_batch(corpus: Corpus, n: int = DISTINCT_N) -> np.ndarray:
    """distinct-n: distinct n-grams / n-grams over the whole group (Li et al. 2016, cshaib/diversity).

    A group with no n-gram at all scores 1 **[ours]**: like seq-rep-n's rule
    that a text shorter than n repeats nothing, nothing was repeated.
    """
    _check_n(n)
    docs, members = corpus.group_members  # a text repeated within its group adds no new n-gram
    counts = corpus.ngram_counts(n)[docs]  # (K,) per member
    distinct = np.empty(corpus.groups.n_groups)
    member_start = _offsets(members)
    for g0, g1 in _blocks(_row_sums(corpus.doc_len[docs], members), BLOCK):
        k0, k1 = member_start[g0], member_start[g0] + members[g0:g1].sum()
        ids, bound = _ngram_ids(corpus.member_tokens(docs[k0:k1]), corpus.doc_len[docs[k0:k1]], corpus.vocab, n)
        distinct[g0:g1] = _count_distinct(ids, bound, _row_sums(counts[k0:k1], members[g0:g1]))
    total = np.bincount(corpus.groups.row_group, corpus.ngram_totals(n), minlength=corpus.groups.n_groups)
    return np.where(total > 0, distinct / np.maximum(total, 1), 1.0)


# Largest group for the bitmask form of the Jaccard intersections (2^G masks per group).
MASK_GROUP = 10


def jaccard_overlap_batch(corpus: Corpus, n: int = JACCARD_N) -> np.ndarray:
    """Mean over pairs i < j of |A_i ∩ A_j| / |A_i ∪ A_j|, A = the text's set of n-grams; J(∅, ∅) = 1.

    Intersections come for all groups of a size at once: from bitmasks of
    which members hold each n-gram (:func:`_group_intersections`), or for
    groups over MASK_GROUP from the within-group Gram matrix of the binary
    incidence. Groups of one text have no pair and get NaN (``score`` reports null).
    """
    _check_n(n)
    out = np.full(corpus.groups.n_groups, np.nan)
    for size, chosen, rows in corpus.groups.by_size(min_size=2):
        if size <= MASK_GROUP:
            inter = _group_intersections(corpus, n, rows)  # (B_G, G, G); diagonal = |A_i|
        else:
            inter = _sparse_gram(corpus.incidence(n, binary=True), rows)
        sizes = np.diagonal(inter, axis1=1, axis2=2)
        union = sizes[:, :, None] + sizes[:, None, :] - inter
        jaccard = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        out[chosen] = _mean_off_diagonal(jaccard)
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
    member_start = _offsets(members)
    out = np.empty((batch, size, size))
    for g0, g1 in _blocks(_row_sums(corpus.doc_len[docs], members), BLOCK):
        k0, k1 = member_start[g0], member_start[g0] + members[g0:g1].sum()
        ids, bound = _ngram_ids(corpus.member_tokens(docs[k0:k1]), corpus.doc_len[docs[k0:k1]], corpus.vocab, n)
        if bound > 2**(62 - size):
            ids, bound = _compact(ids, bound)
        keys = (ids.astype(np.int64) << size) | np.repeat(masks[k0:k1], counts[k0:k1])  # id, then holders
        histogram = np.zeros(2**size * (g1 - g0), dtype=np.int64)  # (mask, group)
        for group, block, lens in _sorted_rows(keys, bound << size, _row_sums(counts[k0:k1], members[g0:g1])):
            starts, valid = _run_starts(block >> size, np.iinfo(block.dtype).max >> size)  # a run: one n-gram
            held = np.bitwise_or.reduceat(block.ravel() & (2**size - 1), starts)[valid]
            histogram += np.bincount(held * (g1 - g0) + group[starts[valid] // block.shape[1]],
                                     minlength=len(histogram))
        out[g0:g1] = _pair_counts(histogram.reshape(2**size, g1 - g0), size)
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


# Groups per thread task in _gzip_sizes: small enough to balance the threads on a busy machine.
GZIP_TASK = 64


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
        out[chosen] = vendi_stack(cosine_kernel(_sparse_gram(counts, rows)), q)
    return out


def _row_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(R,) sum of each row of ``values`` (rows of ``lengths``, one after another; empty rows give 0)."""
    total = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    ends = np.cumsum(lengths)
    return total[ends] - total[ends - lengths]


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
