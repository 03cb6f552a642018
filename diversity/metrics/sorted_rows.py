"""Rows of integer ids laid out one after another: where rows start, their sums, their distinct values.

Row r of a flat array ``values`` is the ``lengths[r]`` values after row r - 1's.
:func:`sorted_rows` sorts every row at once, in padded blocks that fit in
cache; :func:`count_distinct` and :func:`runs_within_rows` read the runs of
equal values off the sorted blocks. All counts are exact.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def row_starts(lengths: np.ndarray) -> np.ndarray:
    """(R,) where each row starts, for rows of ``lengths`` laid out one after another."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + l) over (s, l): the gather index of rows picked from a flat layout."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)


def row_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(R,) sum of each row of ``values`` (rows of ``lengths``, one after another; empty rows give 0)."""
    total = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    ends = np.cumsum(lengths)
    return total[ends] - total[ends - lengths]


def count_distinct(values: np.ndarray, bound: int, lengths: np.ndarray) -> np.ndarray:
    """(R,) number of distinct values (all in [0, bound)) in each row."""
    out = np.zeros(len(lengths), dtype=np.int64)
    for rows, block, lens in sorted_rows(values, bound, lengths):
        changes = np.count_nonzero(block[:, 1:] != block[:, :-1], axis=1)
        out[rows] = changes + 1 - (lens < block.shape[1])  # the padding, if any, is one more run
    return out


def runs_within_rows(values: np.ndarray, bound: int, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """(distinct values, how often each occurs, counts (R,)): each row's distinct values, sorted, row after row."""
    counts = np.zeros(len(lengths), dtype=np.int64)
    parts = []
    for rows, block, lens in sorted_rows(values, bound, lengths):
        starts, valid = run_starts(block, np.iinfo(block.dtype).max)
        runs = np.diff(starts, append=block.size)
        counts[rows] = np.bincount(starts[valid] // block.shape[1], minlength=len(rows))
        parts.append((rows, block.ravel()[starts[valid]], runs[valid]))
    distinct, often = np.zeros(counts.sum(), dtype=np.int64), np.zeros(counts.sum(), dtype=np.int64)
    offsets = row_starts(counts)
    for rows, value, run in parts:
        at = ranges(offsets[rows], counts[rows])
        distinct[at], often[at] = value, run
    return distinct, often, counts


def run_starts(block: np.ndarray, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions where a run of equal values starts in each row of a sorted block padded with
    ``padding`` (the padding is a run too), and which of those runs hold values rather than padding."""
    first = np.empty(block.shape, dtype=bool)
    first[:, 0] = True
    np.not_equal(block[:, 1:], block[:, :-1], out=first[:, 1:])
    starts = np.flatnonzero(first)
    return starts, block.ravel()[starts] != padding


# Cells of one padded block of rows to sort: 2^18 int64 = 2 MiB, so each block sorts in cache.
ROW_BLOCK = 2**18


def sorted_rows(values: np.ndarray, bound: int, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
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
        gathered = values[ranges(row_starts(lengths)[rows], lengths[rows])]
        yield from _sorted_blocks(gathered, lengths[rows], rows, dtype, defer=False)


def _sorted_blocks(values: np.ndarray, lengths: np.ndarray, rows: np.ndarray, dtype, defer: bool):
    """:func:`sorted_rows` over consecutive rows; returns the rows of the blocks deferred."""
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
