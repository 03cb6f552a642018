"""One test per invariant, run across every metric in the registry (SPEC.md §1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diversity import metrics as m
from diversity.metrics.registry import DEFAULT_METRICS, KINDS, METRICS, NEEDS, MetricSpec, resolve
from rollout_common.errors import OptionError
from tests.conftest import REPO, UNDEFINED_WHEN, metric_args, random_outcomes

SPECS = list(METRICS.values())
IDS = list(METRICS)
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi".split()


def group_texts_or_embeddings(spec: MetricSpec, rng, size: int):
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


def group_inputs(spec: MetricSpec, rng, size: int) -> list:
    """The per-group form's arguments for a random group: its texts or embeddings, then the outcomes it needs."""
    return metric_args(spec, group_texts_or_embeddings(spec, rng, size), random_outcomes(rng, size))


def identical_group(spec: MetricSpec, size: int) -> list:
    """G identical responses, all correct, with equal rewards."""
    text = "the quick brown fox jumps over the lazy dog again"
    primary = [text] * size if spec.kind == "lexical" else np.tile([[0.3, -1.2, 2.0, 0.5]], (size, 1))
    return metric_args(spec, primary, {"correct": np.ones(size, dtype=bool), "reward": np.full(size, 0.5)})


def orthogonal_group(spec: MetricSpec, size: int) -> list:
    """G mutually orthogonal responses (disjoint vocabularies, orthogonal embeddings), all correct, all
    rewards different."""
    if spec.kind == "lexical":
        primary = [" ".join(f"w{i}x{k}" for k in range(6)) for i in range(size)]
    else:
        primary = np.eye(size, size + 2)
    return metric_args(spec, primary, {"correct": np.ones(size, dtype=bool), "reward": np.arange(size) / size})


def permuted(args: list, order: np.ndarray) -> list:
    return [[arg[i] for i in order] if isinstance(arg, list) else np.asarray(arg)[order] for arg in args]


def columns_of(spec: MetricSpec, args: list) -> dict:
    """The outcome inputs among a per-group form's arguments, by name."""
    return dict(zip(spec.needs, args[len(args) - len(spec.needs):]))


def lexical_single_text_repetition() -> float:
    return m.repetition_fraction(identical_group(METRICS["repetition_fraction"], 1)[0])


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
    "self_bleu": lambda g: 100.0,
    "pass_at_1": lambda g: 1.0,  # all correct
    "pass_at_k": lambda g: 1.0,
    "distinct_correct": lambda g: 1.0,
    "vendi_score_correct": lambda g: 1.0,
    "reward_zero_std": lambda g: 1.0,  # equal rewards: a dead group
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
    "self_bleu": lambda g: 0.0,
    "distinct_correct": lambda g: float(g),
    "vendi_score_correct": lambda g: float(g),
    "reward_zero_std": lambda g: 0.0,
}


def test_registry_entries_are_complete() -> None:
    assert set(IDENTICAL) == set(METRICS), "every metric must state its value on identical responses"
    for spec in METRICS.values():
        assert spec.description.endswith(".")
        assert spec.kind in KINDS and set(spec.needs) <= set(NEEDS)
        assert spec.kind != "outcome" or spec.needs, "an outcome metric reads some outcome"
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
        args = group_inputs(spec, rng, size)
        shuffled = permuted(args, rng.permutation(size))
        assert spec.group_fn(*shuffled) == pytest.approx(spec.group_fn(*args), rel=1e-12, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_values_stay_within_the_registered_range(spec: MetricSpec) -> None:
    rng = np.random.default_rng(2)
    for size in range(spec.min_group_size, 10):
        for _ in range(5):
            low, high = spec.bounds(size)
            args = group_inputs(spec, rng, size)
            value = spec.group_fn(*args)
            if spec.name in UNDEFINED_WHEN and UNDEFINED_WHEN[spec.name](columns_of(spec, args)):
                assert np.isnan(value)
                continue
            assert low - 1e-9 <= value <= high + 1e-9, (size, value)


@pytest.mark.parametrize("spec", [s for s in SPECS if IDENTICAL[s.name] is not None],
                         ids=[n for n in IDS if IDENTICAL[n] is not None])
def test_identical_responses_score_as_fully_collapsed(spec: MetricSpec) -> None:
    for size in (2, 4, 8):
        expected = IDENTICAL[spec.name](size)
        assert spec.group_fn(*identical_group(spec, size)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.name in ORTHOGONAL], ids=[n for n in IDS if n in ORTHOGONAL])
def test_orthogonal_responses_score_as_fully_diverse(spec: MetricSpec) -> None:
    for size in (2, 4, 8):
        expected = ORTHOGONAL[spec.name](size)
        assert spec.group_fn(*orthogonal_group(spec, size)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("q", [0, 0.5, 1, 2, 7.5, math.inf])
def test_orthogonal_embeddings_give_vendi_g_and_identical_give_1_at_every_q(q: float) -> None:
    for size in (1, 2, 5, 8):
        assert m.vendi_score(np.eye(size, size + 3), q=q) == pytest.approx(size, rel=1e-12)
        assert m.vendi_score(np.ones((size, 4)), q=q) == pytest.approx(1.0, rel=1e-12)
        assert m.vendi_score(kernel=np.eye(size), q=q) == pytest.approx(size, rel=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_batched_form_equals_per_group_form(spec: MetricSpec) -> None:
    rng = np.random.default_rng(3)
    sizes = [2, 3, 3, 6, 2]
    groups = [group_inputs(spec, rng, size) for size in sizes]
    layout = m.Groups(sizes)
    # Each argument of every group, concatenated group after group: (N,) outcomes, texts, (N, d) embeddings.
    flat = [[x for g in groups for x in g[i]] if isinstance(groups[0][i], list) else np.concatenate([g[i] for g in groups])
            for i in range(len(groups[0]))]
    if spec.kind == "lexical":
        batched = spec.batch_fn(m.Corpus(flat[0], sizes), *flat[1:])
    elif spec.kind == "outcome":
        batched = spec.batch_fn(layout, *flat)
    else:
        batched = np.empty(len(groups))
        for chosen, kernels in m.kernel_batches(flat[0], layout):
            rows = layout.starts[chosen, None] + np.arange(kernels.shape[-1])
            batched[chosen] = spec.batch_fn(kernels, *(column[rows] for column in flat[1:]))
    for b, args in enumerate(groups):
        assert batched[b] == pytest.approx(spec.group_fn(*args), rel=1e-12, abs=1e-12, nan_ok=True)


def test_the_readme_defines_the_rl_metrics_as_the_registry_does() -> None:
    """README's table of the correctness-aware metrics and self-BLEU: definition, direction, range, inputs."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for spec in SPECS:
        if not (spec.needs or spec.name == "self_bleu"):
            continue
        primary = {"lexical": ["texts"], "embedding": ["embeddings"], "outcome": []}[spec.kind]
        reads = " + ".join([*primary, *spec.needs])
        low, high = spec.range
        row = f"| `{spec.name}` | {spec.description} | {spec.direction} | [{low}, {high}] | {reads} |"
        assert row in readme, row
