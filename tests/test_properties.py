"""Property-based tests over the whole metric registry (hypothesis).

Arbitrary Unicode text, empty strings, random or degenerate embeddings and
arbitrary correct flags and rewards never crash a metric, never give NaN
(except where the metric is undefined, UNDEFINED_WHEN), and always respect
its declared range; shuffling a group never changes its value. Groups too
small for a pairwise metric must raise a clear DiversityError, never return
garbage.
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
from tests.conftest import UNDEFINED_WHEN, metric_args, random_outcomes

LEXICAL = [s for s in METRICS.values() if s.kind == "lexical"]
EMBEDDING = [s for s in METRICS.values() if s.kind == "embedding"]
OUTCOME = [s for s in METRICS.values() if s.kind == "outcome"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
word_texts = st.lists(st.sampled_from(["a", "b", "c", "ab", "é", "日本", "!", " "]), max_size=12).map("".join)
text_groups = st.lists(st.one_of(texts, word_texts, st.just("")), min_size=1, max_size=8)
embedding_groups = st.integers(1, 8).flatmap(
    lambda g: st.integers(1, 6).flatmap(
        lambda d: arrays(np.float64, (g, d), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32))
    )
)


outcome_groups = st.integers(1, 8).flatmap(lambda g: st.fixed_dictionaries({
    "correct": st.lists(st.booleans(), min_size=g, max_size=g).map(np.array),
    "reward": st.lists(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(-1e6, 1e6, allow_nan=False)),
                       min_size=g, max_size=g).map(np.array),
}))


def check(spec: MetricSpec, group, value: float, columns: dict) -> None:
    assert isinstance(value, float), (spec.name, group, value)
    if spec.name in UNDEFINED_WHEN and UNDEFINED_WHEN[spec.name](columns):
        assert math.isnan(value), (spec.name, group, value)
        return
    assert not math.isnan(value), (spec.name, group, value)
    low, high = spec.bounds(len(group))
    assert low - 1e-9 <= value <= high + 1e-9, (spec.name, value, (low, high))


def value_or_clear_error(spec: MetricSpec, group, columns: dict):
    try:
        return float(spec.group_fn(*metric_args(spec, group, columns)))
    except DiversityError as error:
        assert len(group) < spec.min_group_size, (spec.name, len(group), error)
        return None


def shuffled(columns: dict, order: np.ndarray) -> dict:
    return {name: values[order] for name, values in columns.items()}


@pytest.mark.parametrize("spec", LEXICAL, ids=lambda s: s.name)
@SETTINGS
@given(group=text_groups, seed=st.integers(0, 2**16))
def test_lexical_metrics_on_arbitrary_unicode(spec: MetricSpec, group: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = random_outcomes(rng, len(group))
    value = value_or_clear_error(spec, group, columns)
    if value is None:
        return
    check(spec, group, value, columns)
    order = rng.permutation(len(group))
    again = spec.group_fn(*metric_args(spec, [group[i] for i in order], shuffled(columns, order)))
    assert float(again) == pytest.approx(value, abs=1e-9, nan_ok=True)


@pytest.mark.parametrize("spec", EMBEDDING, ids=lambda s: s.name)
@SETTINGS
@given(group=embedding_groups, seed=st.integers(0, 2**16))
def test_embedding_metrics_on_random_and_degenerate_vectors(spec: MetricSpec, group: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = random_outcomes(rng, len(group))
    value = value_or_clear_error(spec, group, columns)
    if value is None:
        return
    check(spec, group, value, columns)
    order = rng.permutation(len(group))
    again = spec.group_fn(*metric_args(spec, group[order], shuffled(columns, order)))
    assert float(again) == pytest.approx(value, abs=1e-6, nan_ok=True)


@pytest.mark.parametrize("spec", OUTCOME, ids=lambda s: s.name)
@SETTINGS
@given(columns=outcome_groups, seed=st.integers(0, 2**16))
def test_outcome_metrics_on_arbitrary_flags_and_rewards(spec: MetricSpec, columns: dict, seed: int) -> None:
    size = len(columns["correct"])
    value = value_or_clear_error(spec, [None] * size, columns)
    check(spec, [None] * size, value, columns)
    order = np.random.default_rng(seed).permutation(size)
    assert float(spec.group_fn(*metric_args(spec, None, shuffled(columns, order)))) == pytest.approx(value, abs=1e-12)
