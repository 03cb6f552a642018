"""Each metric against hand-computed cases and a plain reference computed here (loops, eigvalsh).

The batched forms run on many groups of mixed sizes at once and must equal
the references group by group; Vendi is also checked against the published
``vendi_score.vendi.score_K`` where that package is right (SPEC.md §1).
"""

from __future__ import annotations

import gzip
import itertools
import math
import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from vendi_score import vendi as published

from diversity import metrics as m
from diversity.metrics import sorted_rows, text_engine
from diversity.metrics.lexical import _group_intersections
from diversity.metrics.sorted_rows import count_distinct, runs_within_rows
from diversity.metrics.vocabulary import IntegerIds
from rollout_common.errors import OptionError

RNG = np.random.default_rng(7)
WORDS = "red blue green cat dog sat ran the a on mat hat big small".split()


def random_texts(rng, count: int) -> list[str]:
    """Short texts with repeats, punctuation, case changes, empties and texts shorter than 4 tokens."""
    texts = []
    for _ in range(count):
        kind = rng.integers(0, 10)
        if kind == 0:
            texts.append("")
        elif kind == 1 and texts:
            texts.append(texts[-1].upper() + "!")
        else:
            words = rng.choice(WORDS, size=rng.integers(1, 12))
            texts.append(" ".join(words).capitalize() + rng.choice([".", ",", "", " ?"]))
    return texts


def mixed_groups(rng, sizes=(1, 2, 3, 5, 8, 3, 8)) -> tuple[list[list[str]], list[str]]:
    groups = [random_texts(rng, size) for size in sizes]
    return groups, [t for g in groups for t in g]


# ---------------------------------------------------------------- plain references


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def ref_repetition(texts, n, pattern=m.TOKEN_PATTERN):
    values = []
    for tokens in m.tokenize(texts, pattern):
        grams = ngrams(tokens, n)
        values.append(1 - len(set(grams)) / len(grams) if grams else 0.0)
    return sum(values) / len(values)


def ref_duplicate(texts, pattern=m.TOKEN_PATTERN):
    """SPEC §1: responses compared case-folded, whitespace runs collapsed and trimmed; the pattern plays no part."""
    return 1 - len({" ".join(t.casefold().split()) for t in texts}) / len(texts)


def ref_jaccard(texts, n, pattern=m.TOKEN_PATTERN):
    sets = [set(ngrams(t, n)) for t in m.tokenize(texts, pattern)]
    pairs = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in itertools.combinations(sets, 2)]
    return sum(pairs) / len(pairs)


def ref_distinct(texts, n, pattern=m.TOKEN_PATTERN):
    grams = [g for t in m.tokenize(texts, pattern) for g in ngrams(t, n)]
    return len(set(grams)) / len(grams) if grams else 1.0


def cosine(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def ref_kernel(embeddings):
    n = len(embeddings)
    return np.array([[cosine(embeddings[i], embeddings[j]) for j in range(n)] for i in range(n)])


def ref_pairwise(embeddings):
    n = len(embeddings)
    return np.mean([cosine(embeddings[i], embeddings[j]) for i in range(n) for j in range(i + 1, n)])


def ref_centroid(embeddings):
    unit = [e / np.linalg.norm(e) for e in embeddings]
    centre = np.mean(unit, axis=0)
    return np.mean([1 - cosine(u, centre) for u in unit])


def ref_vendi(embeddings, q=1.0):
    lam = np.linalg.eigvalsh(ref_kernel(embeddings) / len(embeddings))
    lam = lam[lam > 1e-10 * lam.max()]
    if q == 1:
        return math.exp(-sum(x * math.log(x) for x in lam))
    if q == 0:
        return float(len(lam))
    if math.isinf(q):
        return 1 / lam.max()
    return math.exp(math.log(sum(x**q for x in lam)) / (1 - q))


def ref_clusters(embeddings, threshold):
    """Union-find over all pairs with cosine >= threshold; returns the cluster sizes."""
    n = len(embeddings)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if cosine(embeddings[i], embeddings[j]) >= threshold:
                parent[find(i)] = find(j)
    roots = [find(i) for i in range(n)]
    return [roots.count(r) for r in set(roots)]


# ---------------------------------------------------------------- tokens and hand-computed cases


def test_tokenize_lowercases_and_splits_on_whitespace_and_punctuation() -> None:
    assert m.tokenize(["The cat, sat!  On-the MAT.", "", "café_au 3.5"]) == [
        ["the", "cat", "sat", "on", "the", "mat"], [], ["café_au", "3", "5"],
    ]
    assert m.tokenize(["a-b c"], pattern=r"[\w-]+") == [["a-b", "c"]]


def test_hand_computed_lexical_values() -> None:
    # "a b a b a b": 4-grams abab, baba, abab -> 1 - 2/3; "x y" is shorter than 4 -> 0.
    assert m.repetition_fraction(["a b a b a b", "x y"]) == pytest.approx((1 / 3 + 0) / 2)
    assert m.repetition_fraction(["a a a"], n=2) == pytest.approx(0.5)
    assert m.duplicate_fraction(["Hello  world ", "hello\tWORLD", "hello, world!"]) == pytest.approx(1 / 3)
    # {a,b} vs {b,c}: 1/3; each vs the empty set: 0.
    assert m.jaccard_overlap(["a b", "b c", ""]) == pytest.approx(1 / 9)
    assert m.jaccard_overlap(["", "..."]) == 1.0  # J(∅, ∅) = 1
    assert m.distinct_n(["a b a b"], n=2) == pytest.approx(2 / 3)
    assert m.distinct_n(["a", "b"], n=2) == 1.0  # no bigram at all
    raw = "one two\nthree".encode()  # texts joined in sorted order
    assert m.compression_ratio(["three", "one two"]) == pytest.approx(len(raw) / len(gzip.compress(raw)))


# ---------------------------------------------------------------- batched lexical = plain loops


@pytest.mark.parametrize("n", [1, 2, 4])
def test_lexical_batches_equal_plain_loops_on_mixed_groups(n: int) -> None:
    groups, texts = mixed_groups(np.random.default_rng(n))
    corpus = m.Corpus(texts, [len(g) for g in groups])
    repetition = m.repetition_fraction_batch(corpus, n)
    distinct = m.distinct_n_batch(corpus, n)
    jaccard = m.jaccard_overlap_batch(corpus, n)
    duplicate = m.duplicate_fraction_batch(corpus)
    for b, group in enumerate(groups):
        assert repetition[b] == pytest.approx(ref_repetition(group, n), abs=1e-12)
        assert distinct[b] == pytest.approx(ref_distinct(group, n), abs=1e-12)
        assert duplicate[b] == pytest.approx(ref_duplicate(group), abs=1e-12)
        if len(group) > 1:
            assert jaccard[b] == pytest.approx(ref_jaccard(group, n), abs=1e-12)
        else:
            assert np.isnan(jaccard[b])  # no pair: score() turns this into null


# Characters where lowercasing or \w is subtle: accents, ß, dotted/dotless i, final sigma, the Kelvin
# sign (lowercases to ASCII k), a titlecase digraph, a ligature, combining marks, a zero-width joiner,
# superscript two (Python's isalnum says yes, Rust's \w says no), Arabic-Indic digits, CJK, an emoji.
UNICODE = list("abcxyzAZ09_ éÉßİıΣσςKǅﬁ\u0301\u200d²٣中文😀·-.,!?\n\t\u00a0")
WORDS_ASCII = ["a", "b", "ab", "abcdefgh", "abcdefghi", "abcdefghijklmnopq", "x" * 40, "Word7", "WORD7"]


def unicode_texts(rng, count: int) -> list[str]:
    """Random texts mixing the subtle characters above, common words, long tokens, repeats and empties."""
    texts = []
    for _ in range(count):
        kind = rng.integers(0, 8)
        if kind == 0:
            texts.append(rng.choice(["", " ", "...", "\n"]))
        elif kind == 1 and texts:
            texts.append(texts[rng.integers(0, len(texts))])
        else:
            parts = [rng.choice(WORDS_ASCII) if rng.random() < 0.4
                     else "".join(rng.choice(UNICODE, size=rng.integers(1, 12))) for _ in range(rng.integers(1, 15))]
            texts.append(" ".join(parts))
    return texts


def token_ids_by_text(corpus: m.Corpus) -> list[list[int]]:
    ends = np.cumsum(corpus.doc_len)
    return [corpus.tokens[end - size:end].tolist() for end, size in zip(ends, corpus.doc_len)]


def assert_ids_are_the_reference_tokens(corpus: m.Corpus, pattern: str = m.TOKEN_PATTERN) -> None:
    """The corpus' token ids are a one-to-one renaming of the reference tokeniser's strings, ids 0..V-1."""
    to_id, to_token = {}, {}
    for tokens, ids in zip(m.tokenize(corpus.distinct, pattern), token_ids_by_text(corpus)):
        assert len(tokens) == len(ids)
        for token, i in zip(tokens, ids):
            assert to_id.setdefault(token, i) == i
            assert to_token.setdefault(i, token) == token
    assert sorted(to_token) == list(range(len(to_token)))
    assert corpus.vocab == max(len(to_token), 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_tokenizer_equals_the_regex_reference_on_unicode(seed: int, monkeypatch) -> None:
    monkeypatch.setattr(text_engine, "BLOCK", 16)  # many blocks: the vocabulary carries ids across them and grows
    texts = unicode_texts(np.random.default_rng(seed), 3000)
    corpus = m.Corpus(texts, [len(texts)])
    assert [corpus.distinct[k] for k in corpus.text_index] == texts
    assert len(set(corpus.distinct)) == len(corpus.distinct)
    assert_ids_are_the_reference_tokens(corpus)
    assert corpus.vocab > 2**12  # enough tokens for the vocabulary's table (2^12 slots at first) to resize twice


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40), min_size=1, max_size=6))
def test_fast_tokenizer_equals_the_regex_reference_on_arbitrary_text(texts: list[str]) -> None:
    assert_ids_are_the_reference_tokens(m.Corpus(texts, [len(texts)]))


def test_fast_tokenizer_keeps_very_long_tokens_apart() -> None:
    # Tokens of 9 to 20,000 bytes sharing long prefixes, and one differing only in its last byte.
    long = ["y" * 20_000, "y" * 19_999 + "z", "y" * 5000, "ab" * 300, "ab" * 300 + "c", "é" * 700, "É" * 700]
    texts = [" ".join(long[k] for k in np.random.default_rng(s).integers(0, len(long), 5)) for s in range(12)]
    assert_ids_are_the_reference_tokens(m.Corpus(texts + ["ninebytes", "x"], [len(texts) + 2]))


def test_fast_tokenizer_on_ascii_equals_python_re() -> None:
    texts = [t for t in unicode_texts(np.random.default_rng(9), 500) if t.isascii()]
    corpus = m.Corpus(texts, [len(texts)])
    reference = [re.findall(r"\w+", t.lower()) for t in corpus.distinct]
    assert reference == m.tokenize(corpus.distinct)
    assert_ids_are_the_reference_tokens(corpus)


def test_a_custom_pattern_uses_the_regex_and_stays_exact() -> None:
    pattern = r"[\w-]+"
    groups = [["on-the mat", "on the mat", "ON-THE MAT!"], ["a-b c-d", "", "c-d a-b c-d"]]
    corpus = m.Corpus([t for g in groups for t in g], [3, 3], pattern)
    assert_ids_are_the_reference_tokens(corpus, pattern)
    for b, group in enumerate(groups):
        assert m.duplicate_fraction_batch(corpus)[b] == pytest.approx(ref_duplicate(group, pattern), abs=1e-12)
        for n in (1, 2):
            assert m.jaccard_overlap_batch(corpus, n)[b] == pytest.approx(ref_jaccard(group, n, pattern), abs=1e-12)
            assert m.distinct_n_batch(corpus, n)[b] == pytest.approx(ref_distinct(group, n, pattern), abs=1e-12)
            assert m.repetition_fraction_batch(corpus, n)[b] == pytest.approx(ref_repetition(group, n, pattern),
                                                                              abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_lexical_batches_equal_plain_loops_across_blocks_and_group_sizes(n: int, monkeypatch) -> None:
    # Small blocks and row blocks: groups and texts straddle every boundary, long rows get deferred;
    # group sizes up to 12 cover both Jaccard forms (bitmasks up to MASK_GROUP, sparse Gram above).
    monkeypatch.setattr(text_engine, "BLOCK", 50)
    monkeypatch.setattr(sorted_rows, "ROW_BLOCK", 64)
    rng = np.random.default_rng(10 + n)
    sizes = rng.integers(1, 13, 60)
    groups = [unicode_texts(rng, size) for size in sizes]
    groups[3] = ["Yes.", "yes", "YES!", "no", " yes"]  # same token sequence, two of them the same normalised text
    groups[4] = ["same words here"] * 5  # one text, repeated
    corpus = m.Corpus([t for g in groups for t in g], [len(g) for g in groups])
    values = {name: fn(corpus) if name == "duplicate" else fn(corpus, n) for name, fn in [
        ("repetition", m.repetition_fraction_batch), ("distinct", m.distinct_n_batch),
        ("jaccard", m.jaccard_overlap_batch), ("duplicate", m.duplicate_fraction_batch)]}
    for b, group in enumerate(groups):
        assert values["repetition"][b] == pytest.approx(ref_repetition(group, n), abs=1e-12)
        assert values["distinct"][b] == pytest.approx(ref_distinct(group, n), abs=1e-12)
        assert values["duplicate"][b] == pytest.approx(ref_duplicate(group), abs=1e-12)
        if len(group) > 1:
            assert values["jaccard"][b] == pytest.approx(ref_jaccard(group, n), abs=1e-12)


def rows_of(values: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    ends = np.cumsum(lengths)
    return [values[end - size:end] for end, size in zip(ends, lengths)]


@pytest.mark.parametrize("bound", [50, 2**40])  # int32 and int64 blocks
def test_row_helpers_equal_plain_loops(bound: int, monkeypatch) -> None:
    monkeypatch.setattr(sorted_rows, "ROW_BLOCK", 40)
    rng = np.random.default_rng(bound % 97)
    lengths = rng.choice([0, 1, 2, 5, 9, 30, 300], size=200, p=[.1, .1, .2, .3, .2, .08, .02])  # long rows: deferred
    values = rng.integers(0, min(bound, 40), lengths.sum()) * (bound // 40)
    rows = rows_of(values, lengths)
    assert count_distinct(values, bound, lengths).tolist() == [len(set(r.tolist())) for r in rows]
    distinct, often, counts = runs_within_rows(values, bound, lengths)
    assert counts.tolist() == [len(set(r.tolist())) for r in rows]
    expected = [np.unique(r, return_counts=True) for r in rows]
    np.testing.assert_array_equal(distinct, np.concatenate([u for u, _ in expected]))
    np.testing.assert_array_equal(often, np.concatenate([c for _, c in expected]))


def test_group_intersections_equal_set_intersections() -> None:
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice(list("abcdefghij"), size=rng.integers(0, 8))) for _ in range(7 * 40)]
    texts[:7] = ["a b", "a b", "c", "", "a b", "c d", ""]  # repeated texts within a group share one mask
    corpus = m.Corpus(texts, [7] * 40)
    inter = _group_intersections(corpus, 1, np.arange(len(texts)).reshape(40, 7))
    sets = [set(t) for t in m.tokenize(texts)]
    for b in range(40):
        expected = [[len(sets[7 * b + i] & sets[7 * b + j]) for j in range(7)] for i in range(7)]
        assert inter[b].tolist() == expected


def test_integer_ids_are_exact_despite_hash_collisions() -> None:
    table = IntegerIds()
    rng = np.random.default_rng(2)
    reference: dict[int, int] = {}
    for _ in range(30):  # blocks of keys, many shared, some new; the table fills, collides and resizes
        keys = rng.integers(1, 2**64 - 1, 300, dtype=np.uint64)
        keys = np.concatenate([keys, rng.choice(np.array(list(reference) or [1], dtype=np.uint64), 300)])
        ids = table.lookup(keys)
        assert ids.tolist() == [reference.setdefault(int(k), len(reference)) for k in keys.tolist()]


def test_ngram_ids_stay_exact_when_the_vocabulary_overflows_int64() -> None:
    # 70,000 distinct words: 4-gram ids of 70,000^4 exceed 2^62, so ids are re-ranked midway.
    words = [f"w{i}" for i in range(70_000)]
    first = " ".join(words)
    second = " ".join(words[:8] + words[:8])  # repeats its first 8 words
    assert m.repetition_fraction([first, second]) == pytest.approx(ref_repetition([first, second], 4))
    assert m.distinct_n([first, first], n=4) == pytest.approx(0.5)


def test_ngram_vendi_is_vendi_of_count_vectors() -> None:
    texts = ["a b a", "a b", "c d", ""]
    vocab = sorted({g for t in m.tokenize(texts) for n in (1, 2) for g in ngrams(t, n)})
    counts = np.array([[sum(1 for n in (1, 2) for g in ngrams(t, n) if g == v) for v in vocab]
                       for t in m.tokenize(texts)], dtype=float)
    assert m.ngram_vendi(texts) == pytest.approx(ref_vendi(counts), abs=1e-9)


# ---------------------------------------------------------------- embedding metrics = plain references


def random_embedding_groups(rng, sizes=(1, 2, 3, 5, 8, 8, 3, 16), dim=6):
    return [rng.normal(size=(size, dim)) for size in sizes]


@pytest.mark.parametrize("sparse", [False, True])
def test_kernel_batch_metrics_equal_plain_references(sparse: bool) -> None:
    groups = random_embedding_groups(np.random.default_rng(3))
    stacked = np.vstack(groups)
    layout = m.Groups([len(g) for g in groups])
    results = {}
    for chosen, kernels in m.kernel_batches(sp.csr_matrix(stacked) if sparse else stacked, layout, chunk=2):
        for b, kernel in zip(chosen, kernels):
            results[b] = kernel
    assert sorted(results) == list(range(len(groups)))
    for b, group in enumerate(groups):
        kernel = results[b][None]
        np.testing.assert_allclose(kernel[0], ref_kernel(group), atol=1e-12)
        assert m.centroid_distance_batch(kernel)[0] == pytest.approx(ref_centroid(group), abs=1e-9)
        assert m.vendi_score_batch(kernel)[0] == pytest.approx(ref_vendi(group), abs=1e-9)
        if len(group) > 1:
            assert m.pairwise_cosine_batch(kernel)[0] == pytest.approx(ref_pairwise(group), abs=1e-12)


def test_kernel_batches_follow_an_index_into_distinct_rows() -> None:
    distinct_rows = RNG.normal(size=(3, 4))
    index = np.array([0, 1, 1, 2, 0])
    (chosen, kernels), = m.kernel_batches(distinct_rows, m.Groups([5]), index)
    np.testing.assert_allclose(kernels[0], ref_kernel(distinct_rows[index]), atol=1e-12)


def test_per_group_embedding_functions_equal_references() -> None:
    for group in random_embedding_groups(np.random.default_rng(11), sizes=(2, 4, 7)):
        assert m.pairwise_cosine(group) == pytest.approx(ref_pairwise(group), abs=1e-12)
        assert m.centroid_distance(group) == pytest.approx(ref_centroid(group), abs=1e-9)
        for q in (0, 0.5, 1, 2, 3.5, math.inf):
            assert m.vendi_score(group, q=q) == pytest.approx(ref_vendi(group, q), rel=1e-9)


@pytest.mark.parametrize("threshold", [-0.2, 0.0, 0.3, 0.6, 0.9])
def test_semantic_clusters_are_union_find_components(threshold: float) -> None:
    for group in random_embedding_groups(np.random.default_rng(5), sizes=(1, 3, 6, 9), dim=3):
        sizes = ref_clusters(group, threshold)
        assert m.semantic_clusters(group, threshold) == len(sizes)
        expected_entropy = -sum(s / len(group) * math.log(s / len(group)) for s in sizes)
        assert m.cluster_entropy(group, threshold) == pytest.approx(expected_entropy, abs=1e-12)


def test_semantic_clusters_link_chains() -> None:
    # 0°, 20°, 40°: neighbours are within 25°, the ends are not, yet all three form one cluster.
    angles = np.radians([0, 20, 40])
    chain = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert m.semantic_clusters(chain, threshold=math.cos(math.radians(25))) == 1
    assert m.semantic_clusters(chain, threshold=math.cos(math.radians(15))) == 3


# ---------------------------------------------------------------- Vendi against the published package


@pytest.mark.parametrize("q", [1, 2])
def test_vendi_matches_published_score_k(q: int) -> None:
    for group in random_embedding_groups(np.random.default_rng(q), sizes=(2, 5, 8, 30)):
        unit = group / np.linalg.norm(group, axis=1, keepdims=True)
        kernel = unit @ unit.T
        expected = published.score_K(kernel, q=q)
        assert m.vendi_score(group, q=q) == pytest.approx(expected, abs=1e-6)
        assert m.vendi_score(kernel=kernel, q=q) == pytest.approx(expected, abs=1e-6)


def test_vendi_dual_form_equals_kernel_form_when_items_outnumber_dimensions() -> None:
    group = RNG.normal(size=(40, 5))  # n > d: eigenvalues of the 5 x 5 UᵀU / n
    unit = group / np.linalg.norm(group, axis=1, keepdims=True)
    for q in (0, 1, 2, math.inf):
        assert m.vendi_score(group, q=q) == pytest.approx(m.vendi_score(kernel=unit @ unit.T, q=q), rel=1e-9)
        assert m.vendi_score(group, q=q) == pytest.approx(ref_vendi(group, q), rel=1e-9)


def test_kernel_spectrum_in_chunks_equals_one_batch() -> None:
    """The batched eigendecomposition runs EIGEN_CHUNK kernels at a time (SPEC §5); any chunk size, a tiny one,
    one that does not divide the batch, or one larger than it, gives the same eigenvalues."""
    groups = RNG.normal(size=(37, 8, 5))
    unit = groups / np.linalg.norm(groups, axis=-1, keepdims=True)
    kernels = unit @ unit.transpose(0, 2, 1)  # (37, 8, 8)
    whole = m.kernel_spectrum(kernels, chunk=len(kernels))
    for chunk in (1, 3, 8, 36, 1000):
        np.testing.assert_array_equal(m.kernel_spectrum(kernels, chunk=chunk), whole)
    expected = [ref_vendi(group, 1.0) for group in groups]
    np.testing.assert_allclose(m.vendi_score_batch(kernels), expected, rtol=1e-9)
    assert m.kernel_spectrum(kernels[:0], chunk=2).shape == (0, 8)


def test_vendi_cases_the_published_package_gets_wrong() -> None:
    identical = np.ones((4, 3))
    # q = 0 on identical items: round-off eigenvalues must not count (published: 2.0).
    assert m.vendi_score(identical, q=0) == 1.0
    # q = inf as a float (published: NaN unless given the string "inf").
    group = RNG.normal(size=(6, 4))
    assert m.vendi_score(group, q=np.inf) == pytest.approx(ref_vendi(group, math.inf), rel=1e-12)
    assert m.vendi_score(group, q="inf") == m.vendi_score(group, q=float("inf"))
    # q honoured whatever the input form (published score_X ignores it).
    unit = group / np.linalg.norm(group, axis=1, keepdims=True)
    assert m.vendi_score(group, q=2) == pytest.approx(m.vendi_score(kernel=unit @ unit.T, q=2), rel=1e-12)
    assert m.vendi_score(group, q=2) != pytest.approx(m.vendi_score(group, q=1), rel=1e-3)
    # Sparse identity kernel: all 20 eigenvalues (published eigsh finds 6 and scores 2.46).
    assert m.vendi_score(kernel=sp.identity(20, format="csr")) == pytest.approx(20.0)


def test_zero_vectors_are_one_shared_direction() -> None:
    # Two zero rows are identical to each other and orthogonal to the rest: as a 4th shared axis.
    with_zeros = np.vstack([np.eye(3), np.zeros((2, 3))])
    as_axis = np.vstack([np.eye(4)[:3], np.eye(4)[[3, 3]]])
    for q in (0, 1, 2, math.inf):
        assert m.vendi_score(with_zeros, q=q) == pytest.approx(m.vendi_score(as_axis, q=q), rel=1e-12)
    assert m.pairwise_cosine(with_zeros) == pytest.approx(ref_pairwise(as_axis))
    assert m.vendi_score(np.zeros((3, 5))) == pytest.approx(1.0)
    assert m.centroid_distance(np.zeros((3, 5))) == pytest.approx(0.0)


def test_centroid_distance_is_one_when_the_centroid_vanishes() -> None:
    assert m.centroid_distance(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(1.0)


# ---------------------------------------------------------------- edge cases and errors


def test_a_single_response_has_defined_values_or_a_clear_error() -> None:
    assert m.repetition_fraction(["a b c d a b c d"]) == pytest.approx(1 - 4 / 5)
    assert m.duplicate_fraction(["x"]) == 0.0
    assert m.distinct_n(["x"]) == 1.0
    one = RNG.normal(size=(1, 4))
    assert m.vendi_score(one) == pytest.approx(1.0)
    assert m.centroid_distance(one) == pytest.approx(0.0)
    assert m.semantic_clusters(one) == 1
    with pytest.raises(OptionError, match="jaccard_overlap .* at least 2"):
        m.jaccard_overlap(["x"])
    with pytest.raises(OptionError, match="pairwise_cosine .* at least 2"):
        m.pairwise_cosine(one)


@pytest.mark.parametrize("call, message", [
    (lambda: m.vendi_score(RNG.normal(size=(3, 2)), q=-1), "q must be >= 0"),
    (lambda: m.vendi_score(RNG.normal(size=(3, 2)), q=float("nan")), "q must be >= 0"),
    (lambda: m.vendi_score(RNG.normal(size=(3, 2)), q="many"), "q must be a number"),
    (lambda: m.vendi_score(), "exactly one"),
    (lambda: m.vendi_score(np.eye(2), kernel=np.eye(2)), "exactly one"),
    (lambda: m.vendi_score(kernel=2 * np.eye(3)), "diagonal must be 1"),
    (lambda: m.vendi_score(kernel=np.array([[1.0, 0.5], [0.1, 1.0]])), "symmetric"),
    (lambda: m.vendi_score(kernel=np.ones((2, 3))), "square"),
    (lambda: m.pairwise_cosine(np.array([[1.0, np.nan], [0.0, 1.0]])), "NaN"),
    (lambda: m.centroid_distance(np.zeros((0, 3))), "at least one"),
    (lambda: m.centroid_distance(np.ones(3)), "2-D"),
    (lambda: m.repetition_fraction([]), "at least one"),
    (lambda: m.repetition_fraction(["a"], n=0), "positive integer"),
    (lambda: m.duplicate_fraction(["a", None]), "not None"),
    (lambda: m.distinct_n(["a"], pattern="("), "not a valid regex"),
    (lambda: m.Corpus(["a", "b"], [3]), "add up to 3"),
])
def test_bad_arguments_raise_option_errors_naming_the_problem(call, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        call()
