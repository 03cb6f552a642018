"""Property-based tests over the whole metric registry (hypothesis).

Arbitrary Unicode text, empty strings, and random or degenerate embeddings
never crash a metric, never give NaN, and always respect its declared range;
shuffling a group never changes its value. Groups too small for a pairwise
metric must raise a clear DiversityError, never return garbage.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from diversity.metrics.registry import METRICS, MetricSpec
from rollout_common.errors import DiversityError

LEXICAL = [s for s in METRICS.values() if s.kind == "lexical"]
EMBEDDING = [s for s in METRICS.values() if s.kind == "embedding"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
word_texts = st.lists(st.sampled_from(["a", "b", "c", "ab", "é", "日本", "!", " "]), max_size=12).map("".join)
text_groups = st.lists(st.one_of(texts, word_texts, st.just("")), min_size=1, max_size=8)
embedding_groups = st.integers(1, 8).flatmap(
    lambda g: st.integers(1, 6).flatmap(
        lambda d: arrays(np.float64, (g, d), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32))
    )
)


def check(spec: MetricSpec, group, value: float) -> None:
    assert isinstance(value, float) and not math.isnan(value), (spec.name, group, value)
    low, high = spec.bounds(len(group))
    assert low - 1e-9 <= value <= high + 1e-9, (spec.name, value, (low, high))


def value_or_clear_error(spec: MetricSpec, group):
    try:
        return float(spec.group_fn(group))
    except DiversityError as error:
        assert len(group) < spec.min_group_size, (spec.name, len(group), error)
        return None


@pytest.mark.parametrize("spec", LEXICAL, ids=lambda s: s.name)
@SETTINGS
@given(group=text_groups, seed=st.integers(0, 2**16))
def test_lexical_metrics_on_arbitrary_unicode(spec: MetricSpec, group: list[str], seed: int) -> None:
    value = value_or_clear_error(spec, group)
    if value is None:
        return
    check(spec, group, value)
    shuffled = list(np.random.default_rng(seed).permutation(np.array(group, dtype=object)))
    assert float(spec.group_fn(shuffled)) == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("spec", EMBEDDING, ids=lambda s: s.name)
@SETTINGS
@given(group=embedding_groups, seed=st.integers(0, 2**16))
def test_embedding_metrics_on_random_and_degenerate_vectors(spec: MetricSpec, group: np.ndarray, seed: int) -> None:
    value = value_or_clear_error(spec, group)
    if value is None:
        return
    check(spec, group, value)
    shuffled = group[np.random.default_rng(seed).permutation(len(group))]
    assert float(spec.group_fn(shuffled)) == pytest.approx(value, abs=1e-6)
