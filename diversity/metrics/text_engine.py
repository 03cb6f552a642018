"""The lexical engine: N texts in B contiguous groups, each distinct text tokenised once into exact ids.

Tokenisation rule **[ours]**: lowercase, then the tokens are the maximal
runs matching ``TOKEN_PATTERN`` (Rust regex syntax, as polars runs it;
``\\w+`` splits on whitespace and punctuation and keeps Unicode letters,
digits and underscores). Every lexical function takes it as ``pattern``.
:func:`tokenize` is the rule's reference form; for the default pattern the
:class:`Corpus` reaches the same tokens from bytes, without a regex
(:mod:`diversity.metrics.vocabulary` turns the tokens' bytes into ids).

Token ids and n-gram ids are exact (one id per distinct string), so every
count the lexical metrics make from them is exact, not hashed.

Texts without tokens **[ours]**: a response of emoji, punctuation or
operators only ("🙂", "?!", "x > y" has tokens, "> <" has none) has zero
tokens under ``\\w+``. Every lexical metric still gives a defined value
(each registry entry's ``without_tokens`` says which): seq-rep-n 0, an empty
n-gram set for Jaccard (J(∅, ∅) = 1), no n-gram for distinct-n, a zero count
vector for n-gram Vendi; duplicates (:func:`normalise`) and compression read
the text itself, so two different token-less responses are never duplicates.
CJK text is tokens: each run of letters is one token.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import chain

import numpy as np
import polars as pl
import scipy.sparse as sp

from diversity.metrics.sorted_rows import count_distinct, ranges, row_starts, row_sums, runs_within_rows
from diversity.metrics.validation import check_n, check_texts, need_group
from diversity.metrics.vocabulary import Vocabulary, byte_table, clear_non_word_characters, compact
from rollout_common.errors import OptionError

TOKEN_PATTERN = r"\w+"
# Work is done a block at a time, a block being whole texts (or whole groups) holding about this many
# tokens or characters: every temporary array stays a few MiB, cache-friendly and reused rather than
# freshly allocated (fresh pages cost as much as the arithmetic).
BLOCK = 2**17


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


def normalise(text: str) -> str:
    """The form in which two responses are compared for duplicates (SPEC §1): Unicode case-folded
    (``str.casefold``), whitespace runs (``str.isspace``) collapsed to one space, leading and trailing
    whitespace removed; nothing else. "x > y" and "x < y" stay distinct; "Yes " and "yes" do not."""
    return " ".join(text.casefold().split())


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
        self.doc_start = row_starts(self.doc_len)  # (U,) where each distinct text's tokens start
        self._cache: dict[tuple[str, int], object] = {}

    @classmethod
    def single(cls, texts: Sequence[str], pattern: str = TOKEN_PATTERN) -> "Corpus":
        """One group holding all ``texts``."""
        texts = list(texts)
        need_group(len(texts), "response")
        return cls(texts, [len(texts)], pattern)

    def _ngram_ids(self, n: int) -> tuple[np.ndarray, int]:
        key = ("ngrams", check_n(n))
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
        key = ("distinct", check_n(n))
        if key not in self._cache:
            out, counts = np.empty(len(self.distinct), dtype=np.int64), self.ngram_counts(n)
            for u0, u1 in _blocks(self.doc_len, BLOCK):
                tokens = self.tokens[self.doc_start[u0]:self.doc_start[u0] + self.doc_len[u0:u1].sum()]
                ids, bound = _ngram_ids(tokens, self.doc_len[u0:u1], self.vocab, n)
                out[u0:u1] = count_distinct(ids, bound, counts[u0:u1])
            self._cache[key] = out
        return self._cache[key]

    def member_tokens(self, docs: np.ndarray) -> np.ndarray:
        """The tokens of the distinct texts ``docs``, text after text."""
        if len(docs) and docs[-1] - docs[0] == len(docs) - 1 and (np.diff(docs) == 1).all():
            return self.tokens[self.doc_start[docs[0]]:self.doc_start[docs[-1]] + self.doc_len[docs[-1]]]  # a slice
        return self.tokens[ranges(self.doc_start[docs], self.doc_len[docs])]

    def member_ngram_blocks(self, docs: np.ndarray, members: np.ndarray,
                            n: int) -> Iterator[tuple[slice, slice, np.ndarray, int]]:
        """Yield (groups, at, ids, bound), whole groups at a time (about BLOCK tokens each).

        Group b holds the ``members[b]`` distinct texts of ``docs`` (K,) that
        follow group b - 1's; ``groups`` slices the groups of the block,
        ``at`` their members in ``docs``, and ``ids`` (< bound) are the exact
        n-gram ids of those members, text after text.
        """
        member_start = row_starts(members)
        for g0, g1 in _blocks(row_sums(self.doc_len[docs], members), BLOCK):
            at = slice(member_start[g0], member_start[g0] + members[g0:g1].sum())
            ids, bound = _ngram_ids(self.member_tokens(docs[at]), self.doc_len[docs[at]], self.vocab, n)
            yield slice(g0, g1), at, ids, bound

    @cached_property
    def group_members(self) -> tuple[np.ndarray, np.ndarray]:
        """(docs (K,), counts (B,)): each group's distinct texts (indices into ``distinct``), group after group."""
        docs, _, counts = runs_within_rows(self.text_index, len(self.distinct), self.groups.sizes)
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
        ids, bound = compact(*self._ngram_ids(n))
        columns, often, counts = runs_within_rows(ids, bound, self.ngram_counts(n))
        data = np.ones(len(columns)) if binary else often.astype(np.float64)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        per_distinct = sp.csr_matrix((data, columns, indptr), shape=(len(self.distinct), bound))
        return per_distinct[self.text_index]


def _distinct_texts(texts: list) -> tuple[np.ndarray, list[str]]:
    """(index (N,), distinct texts in order of first appearance), texts[k] == distinct[index[k]]."""
    check_texts(texts)
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


# ---------------------------------------------------------------- token ids and n-gram ids


def _token_ids(texts: list[str], pattern: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(tokens (T,), counts (U,), V): exact dense ids 0..V-1 of every token, text after text."""
    if not texts:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64), 1
    if pattern != TOKEN_PATTERN:
        lists = _token_lists(texts, pattern)
        tokens, vocab = _dense_token_ids(lists.explode().drop_nulls())
        return tokens, lists.list.len().to_numpy().astype(np.int64), vocab
    vocab, tokens, counts = Vocabulary(), [], []
    for a, b in _blocks(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), 8 * BLOCK):
        ids, per_text = _word_token_ids(texts[a:b], vocab)
        tokens.append(ids.astype(np.int32) if vocab.size < 2**31 else ids)  # int32: half the memory
        counts.append(per_text)
    return np.concatenate(tokens), np.concatenate(counts), max(vocab.size, 1)


def _word_token_ids(texts: list[str], vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
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
        word = np.frombuffer(joined.encode("ascii").translate(byte_table()), dtype=np.uint8)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    else:  # the UTF-8 bytes straight from polars' buffer, each text followed by its newline
        lowered = pl.Series("text", texts, dtype=pl.String).str.to_lowercase() + "\n"
        arrow = lowered.to_arrow(compat_level=pl.CompatLevel.oldest())  # large_string: one data buffer
        bounds = np.frombuffer(arrow.buffers()[1], dtype=np.int64)[arrow.offset:arrow.offset + len(texts) + 1]
        word = np.zeros(bounds[-1] - bounds[0] + 9, dtype=np.uint8)
        data = memoryview(arrow.buffers()[2])[bounds[0]:bounds[-1]]
        word[1:-8] = np.frombuffer(bytearray(data).translate(byte_table()), dtype=np.uint8)
        lengths = np.diff(bounds) - 1
        clear_non_word_characters(word)
    edges = np.flatnonzero(np.diff(word != 0))  # alternately a run's first byte - 1 and its last byte
    starts, ends = edges[0::2] + 1, edges[1::2] + 1
    text_starts = 1 + np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    counts = np.diff(np.searchsorted(starts, text_starts), append=len(starts)).astype(np.int64)
    return vocab.token_ids(word, starts, ends - starts), counts


def _dense_token_ids(tokens: pl.Series) -> tuple[np.ndarray, int]:
    """Exact dense ids 0..V-1 for token strings (a hash-based categorical, then compacted)."""
    if tokens.len() == 0:
        return np.zeros(0, dtype=np.int64), 1
    physical = tokens.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    return compact(physical, int(physical.max()) + 1)


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
            ids, bound = compact(ids, bound)
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

