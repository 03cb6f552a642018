"""One test per invariant, run across every metric in the registry (SPEC.md §1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diversity import metrics as m
from diversity.metrics.registry import DEFAULT_METRICS, METRICS, MetricSpec, resolve
from rollout_common.errors import OptionError

SPECS = list(METRICS.values())
IDS = list(METRICS)
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


def group_inputs(spec: MetricSpec, rng, size: int):
    """A random group for the metric: texts (with repeats) or embeddings (some near-duplicates)."""
    if spec.kind == "lexical":
        texts = [" ".join(rng.choice(WORDS[:6], size=rng.integers(0, 10))) for _ in range(size)]
        if size > 2:
            texts[1] = texts[0]
        return texts
    embeddings = rng.normal(size=(size, 5))
    if size > 2:
        embeddings[1] = embeddings[0] * 2.0
        embeddings[2] = embeddings[0] + 0.01 * rng.normal(size=5)
    return embeddings


def identical_group(spec: MetricSpec, size: int):
    text = "the quick brown fox jumps over the lazy dog again"
    return [text] * size if spec.kind == "lexical" else np.tile([[0.3, -1.2, 2.0, 0.5]], (size, 1))


def orthogonal_group(spec: MetricSpec, size: int):
    if spec.kind == "lexical":
        return [" ".join(f"w{i}x{k}" for k in range(6)) for i in range(size)]  # disjoint vocabularies
    return np.eye(size, size + 2)


def lexical_single_text_repetition() -> float:
    return m.repetition_fraction([identical_group(METRICS["repetition_fraction"], 1)[0]])


# What G identical responses must give, from each metric's definition (None: no fixed value).
IDENTICAL = {
    "repetition_fraction": lambda g: lexical_single_text_repetition(),  # the mean of G equal values
    "duplicate_fraction": lambda g: (g - 1) / g,
    "jaccard_overlap": lambda g: 1.0,
    "distinct_n": lambda g: 1 / g,  # the text's bigrams are all distinct, each seen G times
    "compression_ratio": None,
    "pairwise_cosine": lambda g: 1.0,
    "centroid_distance": lambda g: 0.0,
    "vendi_score": lambda g: 1.0,
    "semantic_clusters": lambda g: 1.0,
    "cluster_entropy": lambda g: 0.0,
    "ngram_vendi": lambda g: 1.0,
}
# What G mutually orthogonal responses (disjoint vocabularies, orthogonal embeddings) must give.
ORTHOGONAL = {
    "duplicate_fraction": lambda g: 0.0,
    "jaccard_overlap": lambda g: 0.0,
    "distinct_n": lambda g: 1.0,
    "pairwise_cosine": lambda g: 0.0,
    "centroid_distance": lambda g: 1 - 1 / math.sqrt(g),
    "vendi_score": lambda g: float(g),
    "semantic_clusters": lambda g: float(g),
    "cluster_entropy": lambda g: math.log(g),
    "ngram_vendi": lambda g: float(g),
}


def test_registry_entries_are_complete() -> None:
    assert set(IDENTICAL) == set(METRICS), "every metric must state its value on identical responses"
    for spec in METRICS.values():
        assert spec.description.endswith(".")
        assert spec.kind in ("lexical", "embedding")
        low, high = spec.bounds(8)
        assert low < high
    assert "vendi_score" in DEFAULT_METRICS


def test_resolve_keeps_registry_order_and_rejects_unknown_names() -> None:
    assert [s.name for s in resolve(["vendi_score", "duplicate_fraction", "vendi_score"])] == [
        "duplicate_fraction", "vendi_score",
    ]
    assert [s.name for s in resolve(None)] == list(DEFAULT_METRICS)
    with pytest.raises(OptionError, match="unknown metric.*'vendi'.*choose from"):
        resolve(["vendi"])


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_permuting_a_group_changes_nothing(spec: MetricSpec) -> None:
    rng = np.random.default_rng(1)
    for size in (2, 5, 9):
        group = group_inputs(spec, rng, size)
        order = rng.permutation(size)
        shuffled = [group[i] for i in order] if spec.kind == "lexical" else group[order]
        assert spec.group_fn(shuffled) == pytest.approx(spec.group_fn(group), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_values_stay_within_the_registered_range(spec: MetricSpec) -> None:
    rng = np.random.default_rng(2)
    for size in range(spec.min_group_size, 10):
        for _ in range(5):
            low, high = spec.bounds(size)
            value = spec.group_fn(group_inputs(spec, rng, size))
            assert low - 1e-9 <= value <= high + 1e-9, (size, value)


@pytest.mark.parametrize("spec", [s for s in SPECS if IDENTICAL[s.name] is not None],
                         ids=[n for n in IDS if IDENTICAL[n] is not None])
def test_identical_responses_score_as_fully_collapsed(spec: MetricSpec) -> None:
    for size in (2, 4, 8):
        expected = IDENTICAL[spec.name](size)
        assert spec.group_fn(identical_group(spec, size)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.name in ORTHOGONAL], ids=[n for n in IDS if n in ORTHOGONAL])
def test_orthogonal_responses_score_as_fully_diverse(spec: MetricSpec) -> None:
    for size in (2, 4, 8):
        expected = ORTHOGONAL[spec.name](size)
        assert spec.group_fn(orthogonal_group(spec, size)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("q", [0, 0.5, 1, 2, 7.5, math.inf])
def test_orthogonal_embeddings_give_vendi_g_and_identical_give_1_at_every_q(q: float) -> None:
    for size in (1, 2, 5, 8):
        assert m.vendi_score(np.eye(size, size + 3), q=q) == pytest.approx(size, rel=1e-12)
        assert m.vendi_score(np.ones((size, 4)), q=q) == pytest.approx(1.0, rel=1e-12)
        assert m.vendi_score(kernel=np.eye(size), q=q) == pytest.approx(size, rel=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_batched_form_equals_per_group_form(spec: MetricSpec) -> None:
    rng = np.random.default_rng(3)
    groups = [group_inputs(spec, rng, size) for size in (2, 3, 3, 6, 2)]
    sizes = [len(g) for g in groups]
    if spec.kind == "lexical":
        batched = spec.batch_fn(m.Corpus([t for g in groups for t in g], sizes))
    else:
        batched = np.empty(len(groups))
        for chosen, kernels in m.kernel_batches(np.vstack(groups), m.Groups(sizes)):
            batched[chosen] = spec.batch_fn(kernels)
    for b, group in enumerate(groups):
        assert batched[b] == pytest.approx(spec.group_fn(group), rel=1e-12, abs=1e-12)
