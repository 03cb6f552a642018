"""score() and Scores: one row per group, values equal to the per-group functions, summary, files, CLI."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import diversity
from diversity import embedding, scoring
from diversity.metrics.registry import DEFAULT_METRICS, METRICS
from rollout_cli import main
from rollout_common.errors import InputError, OptionError
from tests.conftest import REPO, metric_args, write_jsonl

ALL = list(METRICS)
THRESHOLD = 2.0  # rewards are 0, 1, 2, ... within a group: responses 2 and up are correct


def rollouts(seed: int = 0) -> pl.DataFrame:
    """Two lineages, two steps, groups of 3-5 responses with duplicates, one group of one, eval rows."""
    rng = np.random.default_rng(seed)
    words = "red blue green cat dog sat ran on mat hat".split()
    rows = []
    for lineage in ("repo_r", "grpo"):
        for step in (20, 10):
            for group in range(3):
                size = 1 if (lineage, step, group) == ("grpo", 10, 2) else int(rng.integers(3, 6))
                for i in range(size):
                    text = " ".join(rng.choice(words, size=rng.integers(2, 8)))
                    rows.append({
                        "lineage": lineage, "phase": "1", "step": step, "split": "eval" if group == 0 else "train",
                        "group_id": f"g{group}", "prompt": f"prompt {group}", "response": text if i != 1 else "same",
                        "reward": float(i), "entropy": 0.5 + i, "n_tokens": 3, "task": "A",
                    })
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def scored() -> scoring.Scores:
    return scoring.score(rollouts(), metrics=ALL, embedder="hashing", progress=False, correct_threshold=THRESHOLD)


def test_one_row_per_group_in_key_order_with_group_columns(scored) -> None:
    groups = scored.groups
    frame = rollouts()
    keys = ["lineage", "phase", "step", "split", "group_id"]
    assert groups.height == frame.select(keys).unique().height
    assert groups.select(keys).rows() == sorted(groups.select(keys).rows())
    assert groups.columns[:11] == [*keys, "task", "prompt", "group_size", "reward_mean", "entropy_mean", "n_correct"]
    assert groups.columns[11:] == ALL
    one = groups.filter((pl.col("lineage") == "grpo") & (pl.col("step") == 10) & (pl.col("group_id") == "g2"))
    rows = frame.filter((pl.col("lineage") == "grpo") & (pl.col("step") == 10) & (pl.col("group_id") == "g2"))
    assert one["group_size"][0] == rows.height and one["reward_mean"][0] == rows["reward"].mean()
    assert one["prompt"][0] == "prompt 2"


def test_group_values_equal_the_per_group_functions(scored) -> None:
    frame = rollouts()
    for row in scored.groups.iter_rows(named=True):
        members = frame.filter(
            (pl.col("lineage") == row["lineage"]) & (pl.col("step") == row["step"])
            & (pl.col("split") == row["split"]) & (pl.col("group_id") == row["group_id"])
        )
        texts = members["response"].to_list()
        vectors = embedding.embed(texts, "hashing").vectors.toarray()[embedding.distinct(texts)[1]]
        columns = {"correct": (members["reward"] >= THRESHOLD).to_numpy(), "reward": members["reward"].to_numpy()}
        assert row["n_correct"] == columns["correct"].sum()
        for name, spec in METRICS.items():
            if len(texts) < spec.min_group_size:
                assert row[name] is None
                continue
            expected = spec.group_fn(*metric_args(spec, texts if spec.kind == "lexical" else vectors, columns))
            if np.isnan(expected):  # undefined (vendi_score_correct with nothing correct): null
                assert row[name] is None, name
                continue
            assert row[name] == pytest.approx(expected, rel=1e-12, abs=1e-12), name


def test_row_order_of_the_log_does_not_matter(scored) -> None:
    shuffled = rollouts().sample(fraction=1.0, shuffle=True, seed=3)
    again = scoring.score(shuffled, metrics=ALL, embedder="hashing", progress=False, correct_threshold=THRESHOLD)
    assert_frame_equal(again.groups, scored.groups, check_exact=False, rel_tol=1e-12, abs_tol=1e-12)


def test_groups_of_one_get_null_pairwise_metrics_and_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = scoring.score(rollouts(), metrics=["jaccard_overlap", "vendi_score"], embedder="hashing",
                               progress=False)
    single = result.groups.filter(pl.col("group_size") == 1)
    assert single.height == 1 and single["jaccard_overlap"][0] is None and single["vendi_score"][0] == 1.0
    assert "1 group(s) have fewer than 2 responses: jaccard_overlap" in caplog.text
    assert not any(np.isnan(v) for v in result.groups["vendi_score"].to_list())


def test_summary_is_mean_standard_error_and_count_per_step(scored) -> None:
    summary = scored.summary
    assert summary.select("lineage", "phase", "step", "split").rows() == sorted(
        scored.groups.select("lineage", "phase", "step", "split").unique().rows()
    )
    part = scored.groups.filter((pl.col("lineage") == "repo_r") & (pl.col("step") == 20) & (pl.col("split") == "train"))
    row = summary.filter((pl.col("lineage") == "repo_r") & (pl.col("step") == 20) & (pl.col("split") == "train"))
    values = part["vendi_score"].to_numpy()
    assert row["groups"][0] == part.height == row["vendi_score_count"][0]
    assert row["rollouts"][0] == part["group_size"].sum()
    assert row["vendi_score_mean"][0] == pytest.approx(values.mean())
    assert row["vendi_score_se"][0] == pytest.approx(values.std(ddof=1) / np.sqrt(len(values)))
    one = summary.filter((pl.col("lineage") == "grpo") & (pl.col("step") == 10) & (pl.col("split") == "train"))
    assert one["jaccard_overlap_count"][0] == 1 and one["groups"][0] == 2  # the group of one has no value


def test_parquet_round_trip_keeps_groups_summary_metrics_and_settings(scored, tmp_path) -> None:
    path = scored.to_parquet(tmp_path / "scores.parquet")
    assert scoring.Scores.is_scores_file(path)
    back = scoring.Scores.read_parquet(path)
    assert back.groups.equals(scored.groups) and back.summary.equals(scored.summary)
    assert back.metrics == scored.metrics and back.embedder == embedding.HashingEmbedder.id
    with pytest.raises(OptionError, match="exists; pass --force"):
        scored.to_parquet(path)
    scored.to_parquet(path, force=True)


def test_plain_parquet_is_not_a_scores_file(tmp_path) -> None:
    path = tmp_path / "rollouts.parquet"
    rollouts().write_parquet(path)
    assert not scoring.Scores.is_scores_file(path)
    assert not scoring.Scores.is_scores_file(tmp_path / "missing.parquet")
    with pytest.raises(InputError, match="rollouts.parquet: not a scores file"):
        scoring.Scores.read_parquet(path)


def test_concat_takes_the_union_of_metrics() -> None:
    frame = rollouts()
    a = scoring.score(frame.filter(pl.col("lineage") == "grpo"), metrics=["duplicate_fraction"], progress=False)
    b = scoring.score(frame.filter(pl.col("lineage") == "repo_r"), metrics=["vendi_score", "duplicate_fraction"],
                      embedder="hashing", progress=False)
    both = scoring.Scores.concat([b, a])
    assert both.metrics == ("duplicate_fraction", "vendi_score")
    assert both.groups.height == a.groups.height + b.groups.height
    assert both.groups["lineage"].to_list()[0] == "grpo"
    assert both.summary.filter(pl.col("lineage") == "grpo")["vendi_score_count"].to_list() == [0] * 4
    empty = scoring.Scores.concat([])
    assert empty.groups.height == 0 and empty.summary.height == 0 and empty.metrics == ()


def test_views_pandas_and_html(scored) -> None:
    assert len(scored.to_pandas()) == scored.groups.height
    assert list(scored.to_pandas("summary").columns) == scored.summary.columns
    with pytest.raises(OptionError, match="'groups' or 'summary'"):
        scored.to_pandas("rows")
    assert "Scores</b>: 12 groups" in scored._repr_html_()


def test_lexical_metrics_never_load_the_embedder() -> None:
    result = scoring.score(rollouts(), metrics=["duplicate_fraction"], embedder="/no/such/model", progress=False)
    assert result.metrics == ("duplicate_fraction",) and result.embedder == "none"


def test_pandas_input_and_the_lazy_package_exports() -> None:
    result = diversity.score(rollouts().to_pandas(), metrics=["distinct_n"], progress=False)
    assert isinstance(result, diversity.Scores) and result.groups.height == 12


def test_empty_rollouts_give_empty_scores() -> None:
    result = scoring.score(rollouts().head(0), embedder="hashing", progress=False, correct_threshold=THRESHOLD)
    assert result.groups.height == 0 and result.metrics == DEFAULT_METRICS


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop("group_id"), "lack column.*group_id"),
    (lambda f: f.with_columns(response=pl.when(pl.col("reward") == 2).then(None).otherwise("response")),
     "null response"),
    (lambda f: f.with_columns(response=pl.col("reward")), "must hold strings"),
])
def test_bad_rollouts_are_refused_with_the_reason(change, message) -> None:
    with pytest.raises(OptionError, match=message):
        scoring.score(change(rollouts()), metrics=["duplicate_fraction"], progress=False)


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(OptionError, match="unknown metric"):
        scoring.score(rollouts(), metrics=["entropy"], progress=False)


# ---------------------------------------------------------------- the command line


def test_score_command_writes_scores_that_read_back(tmp_path, capsys) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", rollouts().to_dicts())
    out = tmp_path / "out" / "scores.parquet"
    args = ["score", str(log), "--out", str(out), "--embedder", "hashing", "--no-progress",
            "--metrics", "vendi_score", "jaccard_overlap"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "vendi_score" in printed
    back = scoring.Scores.read_parquet(out)
    direct = scoring.score(rollouts(), metrics=["vendi_score", "jaccard_overlap"], embedder="hashing", progress=False)
    assert back.groups.equals(direct.groups)
    # A second run without --force refuses to overwrite: one line, exit status 2.
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


def test_score_command_refuses_a_non_parquet_output(tmp_path, capsys) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", rollouts().to_dicts())
    assert main(["score", str(log), "--out", str(tmp_path / "s.csv")]) == 2
    assert "ending in .parquet" in capsys.readouterr().err


def test_vendi_of_the_shipped_demo_separates_collapsed_from_varied(tmp_path) -> None:
    """The real MiniLM on the demo's last step: GRPO's answers collapse, REPO-R's stay varied."""
    frame = diversity.load_rollouts(REPO / "data/demo/canonical.jsonl")
    last = frame.filter(pl.col("step") == 70)
    result = scoring.score(last, metrics=["vendi_score", "pairwise_cosine"], progress=False,
                           cache_dir=tmp_path, device="cpu")
    by_lineage = result.summary.sort("lineage")
    grpo, repo_r = by_lineage["vendi_score_mean"].to_list()
    assert 1.0 <= grpo < repo_r <= 4.0
    assert result.embedder.startswith("minilm:")


def test_score_command_takes_the_correct_threshold_and_k(tmp_path, capsys) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", rollouts().to_dicts())
    out = tmp_path / "scores.parquet"
    assert main(["score", str(log), "--out", str(out), "--no-progress", "--metrics", "pass_at_k", "reward_zero_std",
                 "--correct-threshold", str(THRESHOLD), "--pass-k", "2"]) == 0
    back = scoring.Scores.read_parquet(out)
    assert back.settings["correct"] == "reward >= 2" and back.settings["pass_k"] == "2"
    direct = scoring.score(rollouts(), metrics=["pass_at_k", "reward_zero_std"], correct_threshold=THRESHOLD,
                           pass_k=2, progress=False)
    assert back.groups.equals(direct.groups) and "pass_at_k" in capsys.readouterr().out
