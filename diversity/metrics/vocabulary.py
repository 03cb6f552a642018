"""Exact dense integer ids: of tokens from their UTF-8 bytes, of 64-bit keys, of any integer values.

:class:`Vocabulary` gives the default pattern's tokens (maximal runs of word
characters, read off a per-byte table) ids 0, 1, ... in order of first
appearance, kept across blocks of texts; :class:`IntegerIds` is the hash
table beneath it. :func:`byte_table` and :func:`clear_non_word_characters`
class bytes and characters exactly as polars' regex ``\\w`` does.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

# Tokens longer than this many bytes are keyed by their bytes; shorter ones by integers.
CHUNKED_TOKEN = 64


class Vocabulary:
    """Exact ids 0, 1, ... of the distinct tokens met so far, block after block.

    Each token gets a 64-bit integer key, then an id from :class:`IntegerIds`.
    A token up to 8 bytes is keyed by its bytes read as one integer (exact: a
    word byte is never 0, so the lowest byte, its first, is not 0 either). A
    token up to CHUNKED_TOKEN bytes is a sequence of 8-byte chunks: each chunk
    gets an id, each (sequence so far, chunk) pair an id, and the key is
    (the whole sequence's id + 1) << 8. A longer token gets a fresh key from a
    dict of its bytes, from 2^63 up. Keys ending in a zero byte are never a
    short token's, and the ranges of the other two do not meet.
    """

    def __init__(self):
        self.ids = IntegerIds()  # token key -> token id
        self.chunks = IntegerIds()  # 8-byte chunk -> chunk id
        self.sequences = IntegerIds()  # (sequence id + 1) << 32 | (chunk id + 1) -> sequence id
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


class IntegerIds:
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
def byte_table() -> bytes:
    """256 bytes: an ASCII word character's lowercase byte, 0 for other ASCII, itself for bytes >= 0x80.

    Which ASCII characters are word characters is asked of polars' regex, the
    reference for ``\\w``; non-ASCII bytes are classed per character later.
    """
    ascii_chars = pl.Series("c", [chr(c) for c in range(128)], dtype=pl.String)
    is_word = ascii_chars.str.contains(r"^\w$").to_numpy()
    lowered = np.frombuffer("".join(chr(c) for c in range(128)).lower().encode("ascii"), dtype=np.uint8)
    return np.concatenate([np.where(is_word, lowered, 0), np.arange(128, 256)]).astype(np.uint8).tobytes()


def clear_non_word_characters(word: np.ndarray) -> None:
    """Zero, in place, the UTF-8 bytes of every non-ASCII character that is not a word character.

    Each lead byte (11xxxxxx) and its continuation bytes are decoded to a code
    point; each code point is classed once, by polars' regex ``\\w``, so the
    class is exactly the one :func:`diversity.metrics.tokenize` applies.
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
    import pandas  # a heavy import, needed only here

    codes, uniques = pandas.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), uniques


def compact(ids: np.ndarray, bound: int) -> tuple[np.ndarray, int]:
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

