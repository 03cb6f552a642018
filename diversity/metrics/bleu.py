"""Self-BLEU: how much of each response the group's other responses already say (Zhu et al. 2018, Texygen).

self-BLEU of a group = the mean over its G responses of sacrebleu's sentence
BLEU (0-100) of one response against the other G - 1 as references, i.e.
``sacrebleu.sentence_bleu(response, others).score`` with sacrebleu's defaults:
its 13a tokenizer (case kept, not the project's token rule), n-grams up to 4,
exponential smoothing, effective order. Higher = less diverse; a group needs
two responses.

Cost: the plain loop scores each response against G - 1 references, so it
reads G(G - 1) reference texts a group: quadratic in G. The batched form
tokenises every distinct text once, all at once (:func:`bleu_words`), counts
each text's n-grams once, and reads every response's clipped matches off the
group's two highest counts of each n-gram (the largest count among the
*other* responses is the highest, unless the response holds it, then the
second), so its n-gram work grows with the group's tokens, not G times them;
only the closest reference length is a (G, G) comparison, and sacrebleu's
own formula (``BLEU.compute_bleu``) runs once per response on the counts.
sacrebleu is imported when this runs (``pip install 'rollout-diversity[bleu]'``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from diversity.metrics.sorted_rows import ranges, row_starts, runs_within_rows
from diversity.metrics.text_engine import Corpus, Groups, _ngram_ids
from diversity.metrics.validation import need_pairs
from diversity.metrics.vocabulary import compact
from rollout_common.errors import OptionError

BLEU_ORDER = 4  # sacrebleu's default maximum n-gram order
# n-gram entries (response, distinct n-gram) handled per block of groups: temporaries stay a few MiB each.
ENTRY_BLOCK = 2**20


def self_bleu_batch(corpus: Corpus) -> np.ndarray:
    """(B,) mean over each group's responses of the sentence BLEU against the group's other responses.

    Groups of one response have no reference and get NaN (``score`` reports null).
    """
    bleu = _sentence_bleu()
    groups = corpus.groups
    out = np.full(groups.n_groups, np.nan)
    pairs = groups.sizes >= 2
    if not pairs.any():
        return out
    tokens, doc_len, vocab = _bleu_tokens(corpus.distinct)
    hyp_len = doc_len[corpus.text_index]  # (N,)
    matches = np.zeros((groups.n_rows, BLEU_ORDER), dtype=np.int64)
    for n in range(1, BLEU_ORDER + 1):
        matches[:, n - 1] = _clipped_matches(corpus, tokens, doc_len, vocab, n)
    totals = np.maximum(hyp_len[:, None] - np.arange(BLEU_ORDER), 0)  # (N, 4): n-grams of each order
    ref_len = _closest_reference_lengths(hyp_len, groups)
    per_response = np.full(groups.n_rows, np.nan)
    for row in np.flatnonzero(pairs[groups.row_group]).tolist():
        per_response[row] = bleu.compute_bleu(
            matches[row].tolist(), totals[row].tolist(), int(hyp_len[row]), int(ref_len[row]),
            smooth_method=bleu.smooth_method, smooth_value=bleu.smooth_value,
            effective_order=bleu.effective_order, max_ngram_order=bleu.max_ngram_order,
        ).score
    sums = np.bincount(groups.row_group, np.nan_to_num(per_response), minlength=groups.n_groups)
    out[pairs] = sums[pairs] / groups.sizes[pairs]
    return out


def self_bleu(texts: Sequence[str]) -> float:
    """Mean sentence BLEU (sacrebleu, 0-100) of each response against the group's others. Needs G >= 2."""
    need_pairs(len(texts), "self_bleu")
    return float(self_bleu_batch(Corpus.single(texts))[0])


def _sentence_bleu():
    """sacrebleu's BLEU with the settings of ``sacrebleu.sentence_bleu`` (its defaults, effective order)."""
    try:
        from sacrebleu.metrics.bleu import BLEU
    except ImportError:
        raise OptionError("self_bleu needs sacrebleu: pip install 'rollout-diversity[bleu]' "
                          "(or sacrebleu==2.6.0)") from None
    return BLEU(effective_order=True)


# sacrebleu's 13a tokenizer (tokenizers/tokenizer_13a.py and tokenizer_re.py), step by step: literal
# replacements, a space at each end, four regex passes, a split on whitespace. Python's str.split() and
# rstrip() whitespace is Unicode White_Space (the regex \s) plus the separators U+001C-U+001F.
_LITERALS = (("<skipped>", ""), ("-\n", ""), ("\n", " "),
             ("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))  # no entity matches without an &
_PASSES = (
    (r"([\x7B-\x7E\x5B-\x60\x20-\x26\x28-\x2B\x3A-\x40/])", " ${1} "),  # ASCII symbols, spaced out
    (r"([^0-9])([.,])", "${1} ${2} "),  # a period or comma, unless after a digit
    (r"([.,])([^0-9])", " ${1} ${2}"),  # ... or before one
    (r"([0-9])(-)", "${1} ${2} "),  # a dash after a digit
)
_SPACE = r"\s\x1C-\x1F"


def bleu_words(texts: Sequence[str]) -> pl.Series:
    """Each text's tokens as sacrebleu's sentence BLEU reads them: trailing whitespace stripped, its 13a
    tokenizer (case kept), split on whitespace. Polars runs it over all texts at once; the tests hold it
    equal to sacrebleu's own ``Tokenizer13a``."""
    lines = pl.Series("text", list(texts), dtype=pl.String).str.replace(f"[{_SPACE}]+$", "")
    for old, new in _LITERALS:
        lines = lines.str.replace_all(old, new, literal=True)
    lines = " " + lines + " "
    for pattern, replacement in _PASSES:
        lines = lines.str.replace_all(pattern, replacement)
    return lines.str.extract_all(f"[^{_SPACE}]+")


def _bleu_tokens(texts: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(tokens (T,), tokens per text (U,), V): exact dense ids of :func:`bleu_words`, text after text."""
    words = bleu_words(texts)
    flat = words.explode().drop_nulls()  # an empty list explodes to one null
    if flat.len() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(len(texts), dtype=np.int64), 1
    physical = flat.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)  # exact: one id per string
    tokens, vocab = compact(physical, int(physical.max()) + 1)
    return tokens, words.list.len().to_numpy().astype(np.int64), vocab


def _clipped_matches(corpus: Corpus, tokens: np.ndarray, doc_len: np.ndarray, vocab: int, n: int) -> np.ndarray:
    """(N,) Σ over each response's distinct n-grams of min(its count, the largest count among the group's
    other responses): BLEU's clipped n-gram matches against the rest of the group."""
    ids, bound = compact(*_ngram_ids(tokens, doc_len, vocab, n))
    grams, often, distinct = runs_within_rows(ids, bound, np.maximum(doc_len - n + 1, 0))  # per distinct text
    first = row_starts(distinct)
    groups = corpus.groups
    entries = distinct[corpus.text_index]  # (N,) distinct n-grams of each response
    out = np.zeros(groups.n_rows, dtype=np.int64)
    for g0, g1 in _group_blocks(np.bincount(groups.row_group, entries, minlength=groups.n_groups)):
        r0 = groups.starts[g0]
        r1 = groups.starts[g1 - 1] + groups.sizes[g1 - 1]
        docs = corpus.text_index[r0:r1]
        at = ranges(first[docs], entries[r0:r1])
        row = np.repeat(np.arange(r0, r1), entries[r0:r1])
        key = groups.row_group[row] * bound + grams[at]  # (group, n-gram)
        order = np.argsort(key, kind="stable")
        key, count, row = key[order], often[at][order], row[order]
        heads = np.flatnonzero(np.diff(key, prepend=-1))  # where each (group, n-gram) run starts
        run = np.cumsum(np.diff(key, prepend=-1) != 0) - 1  # each entry's run
        top = np.maximum.reduceat(count, heads)
        is_top = count == top[run]
        alone = np.add.reduceat(is_top, heads) == 1  # one response holds the run's highest count
        second = np.maximum.reduceat(np.where(is_top, 0, count), heads)  # highest among the rest (0: none)
        # min(count, highest among the others) is the count itself, except for a response that alone
        # holds the highest count: the others' highest is then the second.
        clipped = np.where(is_top & alone[run], second[run], count)
        out += np.bincount(row, clipped, minlength=groups.n_rows).astype(np.int64)
    return out


def _group_blocks(entries_per_group: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive ranges [a, b) of groups holding about ENTRY_BLOCK entries each (at least one group)."""
    total = np.cumsum(entries_per_group)
    if len(total) == 0:
        return []
    ends = np.searchsorted(total, np.arange(ENTRY_BLOCK, total[-1], ENTRY_BLOCK)) + 1
    bounds = np.unique(np.concatenate([[0], ends, [len(total)]])).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def _closest_reference_lengths(lengths: np.ndarray, groups: Groups) -> np.ndarray:
    """(N,) the length of the other response closest to each response's own (ties: the shorter), as
    sacrebleu picks BLEU's reference length; 0 for a group of one."""
    out = np.zeros(groups.n_rows, dtype=np.int64)
    for size, _, rows in groups.by_size(min_size=2):
        own = lengths[rows]  # (B, G)
        gap = np.abs(own[:, :, None] - own[:, None, :])  # (B, G, G): |len_i - len_j|
        rank = gap * (int(own.max()) + 1) + own[:, None, :]  # closer first, then shorter
        rank[:, np.arange(size), np.arange(size)] = np.iinfo(np.int64).max  # never oneself
        out[rows] = np.take_along_axis(own, rank.argmin(axis=2), axis=1)
    return out
