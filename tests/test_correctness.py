"""Correctness-aware metrics against plain references computed here, their invariants, and where
"correct" comes from (diversity.outcomes)."""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import polars as pl
import pytest

from diversity import metrics as m
from diversity import scoring
from diversity.load import load_rollouts
from diversity.outcomes import read_outcomes
from rollout_common.errors import OptionError
from tests.conftest import write_jsonl


def plain_pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. 2021 eq. 1, written out: 1 - C(n - c, k) / C(n, k)."""
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def enumerated_pass_at_k(correct: list[bool], k: int) -> float:
    """The share of the k-subsets of the responses that hold a correct one: what pass@k estimates."""
    subsets = list(itertools.combinations(correct, k))
    return sum(any(s) for s in subsets) / len(subsets)


# ---------------------------------------------------------------- pass@k


def test_pass_at_k_equals_the_binomial_formula_and_the_enumeration_for_every_k() -> None:
    for n in range(1, 9):
        for c in range(n + 1):
            correct = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                value = m.pass_at_k(correct, k)
                assert value == pytest.approx(enumerated_pass_at_k(correct, k), abs=1e-12)
                assert value == plain_pass_at_k(n, c, k) or n - c < k and value == 1.0


def test_pass_at_k_is_exact_for_large_groups() -> None:
    n, c = 256, 3
    values = m.pass_at_k_counts(np.array([n] * 4), np.array([c] * 4), 100)
    assert values[0] == plain_pass_at_k(n, c, 100)  # Python's int ratio, correctly rounded


def test_pass_at_k_invariants() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        correct = rng.random(n) < rng.random()
        curve = [m.pass_at_k(correct, k) for k in range(1, n + 1)]
        assert all(a <= b + 1e-15 for a, b in zip(curve, curve[1:])), "pass@k rises with k"
        assert curve[0] == pytest.approx(correct.mean())
        assert curve[-1] == float(correct.any())  # pass@G: any correct
        assert m.pass_at_k(rng.permutation(correct), 2 if n > 1 else 1) == m.pass_at_k(correct, 2 if n > 1 else 1)
        best_at_k = 1 - (1 - correct.mean()) ** n  # the bootstrap estimate, with replacement
        assert best_at_k <= curve[-1] + 1e-12, "the bootstrap best@k is biased low"
    for k in (1, 3, 5):
        assert m.pass_at_k([True] * 5, k) == 1.0 and m.pass_at_k([False] * 5, k) == 0.0


def test_pass_at_k_defaults_to_the_group_size_and_refuses_bad_k() -> None:
    assert m.pass_at_k([False, False, True]) == 1.0 and m.pass_at_k([False, False]) == 0.0
    with pytest.raises(OptionError, match="k = 4 but a group has only 3"):
        m.pass_at_k([True, False, False], 4)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(OptionError, match="k to be a positive integer"):
            m.pass_at_k([True, False], bad)
    with pytest.raises(OptionError, match="booleans"):
        m.pass_at_k([0.5, 1.0])
    with pytest.raises(OptionError, match="at least one response"):
        m.pass_at_k([])


def test_batched_pass_at_k_equals_the_per_group_form() -> None:
    rng = np.random.default_rng(1)
    sizes = [1, 4, 8, 8, 3]
    correct = rng.random(sum(sizes)) < 0.4
    groups = m.Groups(sizes)
    starts = groups.starts
    for k in (None, 1):
        batched = m.pass_at_k_batch(groups, correct, k)
        for b, (start, size) in enumerate(zip(starts, sizes)):
            assert batched[b] == m.pass_at_k(correct[start:start + size], k)
    with pytest.raises(OptionError, match="k = 2 but a group has only 1"):
        m.pass_at_k_batch(groups, correct, 2)


# ---------------------------------------------------------------- diversity among the correct answers


def test_distinct_correct_counts_distinct_answers_among_the_correct_ones() -> None:
    texts = ["paris", "paris", "lyon", "rome", "rome"]
    assert m.distinct_correct(texts, [True, True, True, False, False]) == 2.0
    assert m.distinct_correct(texts, [False] * 5) == 0.0  # defined as 0, not undefined
    assert m.distinct_correct(texts, [True] * 5) == 3.0
    rng = np.random.default_rng(2)
    words = ["a", "b", "c", "d"]
    for _ in range(30):
        size = int(rng.integers(1, 9))
        group = [" ".join(rng.choice(words, size=rng.integers(1, 3))) for _ in range(size)]
        correct = rng.random(size) < 0.6
        right = [t for t, ok in zip(group, correct) if ok]
        # The same notion of "distinct" as duplicate_fraction's, on the correct subset.
        expected = round(len(right) * (1 - m.duplicate_fraction(right))) if right else 0
        assert m.distinct_correct(group, correct) == expected


def test_vendi_over_the_correct_responses_is_vendi_of_that_subset() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 3, 6, 9):
        embeddings = rng.normal(size=(size, 4))
        correct = rng.random(size) < 0.5
        correct[0] = True
        assert m.vendi_score_correct(embeddings, correct) == pytest.approx(m.vendi_score(embeddings[correct]), rel=1e-9)
        assert m.vendi_score_correct(embeddings, np.ones(size, bool)) == pytest.approx(m.vendi_score(embeddings))
        assert math.isnan(m.vendi_score_correct(embeddings, np.zeros(size, bool)))  # undefined, not 0


# ---------------------------------------------------------------- dead groups


def test_reward_zero_std_flags_groups_whose_rewards_are_all_equal() -> None:
    assert m.reward_zero_std([0.5, 0.5, 0.5]) == 1.0
    assert m.reward_zero_std([1.0]) == 1.0  # one response: its advantage is 0 as well
    assert m.reward_zero_std([0.0, 1.0, 0.0]) == 0.0
    assert m.reward_zero_std([1.0, 1.0 + 1e-12]) == 1.0  # round-off is no signal
    assert math.isnan(m.reward_zero_std([1.0, None]))
    groups = m.Groups([2, 3, 1])
    rewards = np.array([1.0, 1.0, 0.0, 0.5, 0.0, 7.0])
    assert m.reward_zero_std_batch(groups, rewards).tolist() == [1.0, 0.0, 1.0]


# ---------------------------------------------------------------- what counts as correct


def frame(**columns) -> pl.DataFrame:
    base = {"lineage": ["a"] * 4, "phase": ["1"] * 4, "step": [0] * 4, "split": ["train"] * 4,
            "group_id": ["g"] * 4, "prompt": ["p"] * 4, "response": ["w", "x", "y", "z"],
            "reward": [1.0, 0.5, 0.0, 1.0]}
    return pl.DataFrame({**base, **columns})


@pytest.mark.parametrize("column, values", [
    ("correct", [True, False, False, True]),
    ("acc", [1, 0, 0, 1]),  # verl's reward functions' extra info
    ("exact_match", [1.0, 0.0, 0.0, 1.0]),  # lm-eval's per-sample metric
])
def test_a_correct_flag_column_says_which_responses_are_correct(column, values) -> None:
    outcomes = read_outcomes(frame(**{column: values}))
    assert outcomes.correct.tolist() == [1.0, 0.0, 0.0, 1.0] and outcomes.correct_source == f"column {column!r}"


def test_otherwise_reward_at_or_above_the_threshold_counts_as_correct() -> None:
    outcomes = read_outcomes(frame(), correct_threshold=1.0)
    assert outcomes.correct.tolist() == [1.0, 0.0, 0.0, 1.0] and outcomes.correct_source == "reward >= 1"
    with_null = read_outcomes(frame(reward=[1.0, None, 0.0, 1.0]), correct_threshold=0.5)
    assert np.isnan(with_null.correct[1])
    with pytest.raises(OptionError, match="correct_threshold must be a number"):
        read_outcomes(frame(), correct_threshold="high")


def test_nothing_is_guessed_when_no_source_says_what_is_correct() -> None:
    outcomes = read_outcomes(frame(partition=[0, 0, 1, 2]))  # NoveltyBench's partitions: equivalence, not correctness
    assert outcomes.correct is None and "--correct-threshold" in outcomes.missing["correct"]
    fractional = read_outcomes(frame(acc=[0.25, 1.0, 0.0, 0.5]))  # not a flag: not used
    assert fractional.correct is None and "column 'acc' holds 0.25" in fractional.missing["correct"]
    used = read_outcomes(frame(acc=[0.25, 1.0, 0.0, 0.5]), correct_threshold=1.0)
    assert used.correct_source == "reward >= 1"
    no_rewards = read_outcomes(frame(reward=[None] * 4))
    assert no_rewards.reward is None and "no rewards" in no_rewards.missing["reward"]


def test_score_skips_the_correctness_metrics_with_one_line_when_correctness_is_unknown(caplog) -> None:
    metrics = ["pass_at_1", "pass_at_k", "vendi_score_correct", "distinct_correct", "reward_zero_std"]
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = scoring.score(frame(), metrics=metrics, embedder="hashing", progress=False)
    assert result.metrics == ("reward_zero_std",) and "n_correct" not in result.groups.columns
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("pass_at_1, pass_at_k, distinct_correct, vendi_score_correct "
                                                   "skipped: nothing says which responses are correct")


def test_score_reads_verl_acc_and_the_trainers_fractional_rewards(tmp_path) -> None:
    rows = [{"input": f"q{p}", "output": f"o{p}-{i % 2}", "score": float(i == 0), "step": 3, "acc": i == 0}
            for p in range(2) for i in range(4)]
    verl = load_rollouts(write_jsonl(tmp_path / "verl" / "3.jsonl", rows))
    scored = scoring.score(verl, embedder="hashing", progress=False)
    assert scored.settings["correct"] == "column 'acc'" and scored.settings["pass_k"] == "G"
    assert scored.groups["n_correct"].to_list() == [1, 1]
    assert scored.groups["pass_at_1"].to_list() == [0.25, 0.25] and scored.groups["pass_at_k"].to_list() == [1.0, 1.0]
    assert scored.groups["distinct_correct"].to_list() == [1.0, 1.0]
    # This project's tasks give the fraction of constraints met; full marks = 1.0.
    trainer = frame(reward=[1.0, 5 / 6, 1.0, 0.0], task=["B"] * 4)
    scored = scoring.score(trainer, embedder="hashing", progress=False, correct_threshold=1.0, pass_k=2)
    group = scored.groups.row(0, named=True)
    assert group["n_correct"] == 2 and group["pass_at_k"] == plain_pass_at_k(4, 2, 2)
    assert group["reward_zero_std"] == 0.0 and group["task"] == "B"


def test_groups_smaller_than_k_or_with_unknown_correctness_get_null(caplog) -> None:
    rows = frame(reward=[1.0, 0.0, None, 1.0], group_id=["g", "g", "h", "h"])
    small = pl.concat([rows, frame(group_id=["i"] * 4).head(1)])
    with caplog.at_level(logging.WARNING, logger="diversity"):
        scored = scoring.score(small, metrics=["pass_at_k", "reward_zero_std"], correct_threshold=1.0,
                               pass_k=2, progress=False)
    table = {r["group_id"]: r for r in scored.groups.iter_rows(named=True)}
    assert table["g"]["pass_at_k"] == 1.0 and table["h"]["pass_at_k"] is None and table["i"]["pass_at_k"] is None
    assert table["h"]["n_correct"] is None and table["h"]["reward_zero_std"] is None
    assert "1 group(s) have fewer than k = 2 responses: pass_at_k" in caplog.text


def test_pass_at_k_table_averages_the_unbiased_estimate_over_a_steps_groups() -> None:
    from diversity.analysis import pass_at_k_table

    groups = pl.DataFrame({
        "lineage": ["a", "a", "a"], "phase": ["1"] * 3, "step": [0, 0, 5], "split": ["eval"] * 3,
        "group_id": ["g", "h", "g"], "task": ["A", "A", None], "group_size": [4, 3, 2], "n_correct": [1, 0, 2],
    })
    table = pass_at_k_table(groups)
    at_0 = table.filter(pl.col("step") == 0)
    assert at_0["k"].to_list() == [1, 2, 3]  # up to the step's smallest group
    expected = [(plain_pass_at_k(4, 1, k) + plain_pass_at_k(3, 0, k)) / 2 for k in (1, 2, 3)]
    assert at_0["pass_at_k"].to_list() == pytest.approx(expected)
    assert table.filter(pl.col("step") == 5).select("task", "k", "pass_at_k").rows() == [("-", 1, 1.0), ("-", 2, 1.0)]
    assert pass_at_k_table(groups.drop("n_correct")).is_empty()
