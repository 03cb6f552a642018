"""Notebook helpers: named groups scored in order; one prompt's answers per lineage with its metrics."""

from __future__ import annotations

import polars as pl
import pytest

from diversity.group_view import prompt_view, score_groups
from diversity.scoring import score
from tests.conftest import experiment_rows


def test_score_groups_keeps_the_given_order_and_values() -> None:
    table = score_groups(
        {"same": ["a b c"] * 3, "varied": ["a b c", "d e f", "g h i"]},
        metrics=["duplicate_fraction", "vendi_score"], embedder="hashing",
    )
    assert table["group"].to_list() == ["same", "varied"]
    assert table["duplicate_fraction"].to_list() == pytest.approx([2 / 3, 0.0])
    assert table["vendi_score"].to_list() == pytest.approx([1.0, 3.0])


def test_prompt_view_shows_each_lineage_at_the_last_step() -> None:
    rollouts = pl.DataFrame(experiment_rows())
    scores = score(rollouts, metrics=["duplicate_fraction"], embedder="hashing", progress=False)
    view = prompt_view(rollouts, scores, "list words 1")
    assert view["step"].unique().to_list() == [30] and view["split"].unique().to_list() == ["eval"]
    per_lineage = dict(view.group_by("lineage").agg(pl.col("duplicate_fraction").first()).iter_rows())
    assert per_lineage == pytest.approx({"grpo": 0.75, "repo_r": 0.0})
    with pytest.raises(KeyError, match="no rollouts for prompt"):
        prompt_view(rollouts, scores, "never asked")
