"""Text without word tokens (emoji, punctuation, operators) and CJK: duplicates compare normalised text, and
every lexical metric and lexical embedder gives its documented, defined value; library and command line."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from diversity import metrics as m
from diversity.embedding import get_embedder
from diversity.metrics.registry import METRICS
from diversity.scoring import score
from tests.conftest import run_cli, write_jsonl

# Groups whose responses have few or no tokens under \w+ (CJK runs are tokens).
GROUPS = {
    "operators": ["x > y", "x < y"],
    "emoji": ["🙂"] * 9 + ["🎉"],
    "punctuation": ["!!!", "???", "...", "!!!"],
    "cjk": ["你好世界", "你好世界", "再见"],
    "token_less_pair": ["🙂", "🎉"],
    "mixed": ["🙂", "hello there"],
}
LEXICAL = [name for name, spec in METRICS.items() if spec.kind == "lexical"]


def normalised_duplicates(texts: list[str]) -> float:
    return 1 - len({" ".join(t.casefold().split()) for t in texts}) / len(texts)


def test_two_different_responses_are_never_duplicates() -> None:
    assert m.duplicate_fraction(["x > y", "x < y"]) == 0.0
    assert m.duplicate_fraction(["🙂"] * 9 + ["🎉"]) == pytest.approx(0.8)
    assert m.duplicate_fraction(["Yes.", "yes", "YES!"]) == 0.0
    # Only case and whitespace are normalised (Unicode case folding: ß = ss, K (Kelvin) = k; NBSP is whitespace).
    assert m.duplicate_fraction(["Straße", "STRASSE", " strasse\n"]) == pytest.approx(2 / 3)
    assert m.duplicate_fraction(["\u212a", "k"]) == 0.5
    assert m.duplicate_fraction(["a\u00a0b", "a  b", "a\tb", "ab"]) == pytest.approx(1 / 2)
    assert m.normalise("  Hello \n\t WORLD  ") == "hello world"


@pytest.mark.parametrize("pattern", [m.TOKEN_PATTERN, r"[a-z]+"])
def test_the_batched_duplicates_equal_the_plain_definition_on_perturbed_texts(pattern: str) -> None:
    rng = np.random.default_rng(3)
    base = ["The answer is 4.", "Straße 12", "x > y", "🙂 ok", "你好 世界", "ǅemal", "İstanbul", "", "  "]
    variants = [str.upper, str.lower, lambda t: f" {t} ", lambda t: t.replace(" ", "\n  "),
                lambda t: t + "!", lambda t: t.replace("ß", "SS"), lambda t: t]
    groups = [[variants[rng.integers(len(variants))](base[rng.integers(len(base))]) for _ in range(rng.integers(1, 9))]
              for _ in range(300)]
    corpus = m.Corpus([t for g in groups for t in g], [len(g) for g in groups], pattern)
    values = m.duplicate_fraction_batch(corpus)
    assert values == pytest.approx([normalised_duplicates(g) for g in groups], abs=1e-12)


def test_every_lexical_metric_documents_its_value_for_responses_without_tokens() -> None:
    assert all(METRICS[name].without_tokens for name in LEXICAL)


@pytest.mark.parametrize("name", LEXICAL)
def test_every_lexical_metric_is_defined_on_text_without_tokens(name: str) -> None:
    spec = METRICS[name]
    for texts in GROUPS.values():
        extra = [[True] * len(texts)] if "correct" in spec.needs else []
        value = spec.group_fn(texts, *extra)
        low, high = spec.bounds(len(texts))
        assert np.isfinite(value) and low - 1e-9 <= value <= high + 1e-9, (name, texts, value)


def test_the_documented_values_for_responses_without_tokens() -> None:
    token_less = ["🙂", "?!", "> <"]
    assert m.repetition_fraction(token_less) == 0.0
    assert m.jaccard_overlap(token_less) == 1.0  # J(∅, ∅) = 1
    assert m.jaccard_overlap(["🙂", "hello"]) == 0.0
    assert m.distinct_n(token_less) == 1.0
    assert m.ngram_vendi(token_less) == pytest.approx(1.0)  # zero vectors: one answer
    assert m.ngram_vendi(["🙂", "hello"]) == pytest.approx(2.0)
    assert m.duplicate_fraction(token_less) == 0.0
    assert m.compression_ratio(token_less) > 0
    assert m.tokenize(["你好世界 再见", "🙂 ?!"]) == [["你好世界", "再见"], []]


@pytest.mark.parametrize("embedder", ["hashing", "tfidf"])
def test_lexical_embedders_give_defined_values_on_text_without_tokens(embedder: str) -> None:
    vectors = get_embedder(embedder).encode(["🙂", "?!", "x > y"])
    assert vectors[:2].nnz == 0 and vectors[2].nnz > 0  # no token: the zero vector
    rows = [{"lineage": "a", "phase": "1", "step": 0, "split": "train", "group_id": key, "prompt": "p", "response": t}
            for key, texts in GROUPS.items() for t in texts]
    groups = score(pl.DataFrame(rows), embedder=embedder, progress=False).groups
    metrics = [c for c in groups.columns if c in METRICS]
    assert groups.select(metrics).null_count().sum_horizontal().item() == 0
    assert all(np.isfinite(groups[c].to_numpy()).all() for c in metrics)
    token_less = groups.filter(pl.col("group_id") == "token_less_pair").row(0, named=True)
    assert token_less["pairwise_cosine"] == 1.0 and token_less["vendi_score"] == pytest.approx(1.0)
    assert token_less["duplicate_fraction"] == 0.0  # ... yet never duplicates
    mixed = groups.filter(pl.col("group_id") == "mixed").row(0, named=True)
    assert mixed["pairwise_cosine"] == 0.0 and mixed["vendi_score"] == pytest.approx(2.0)


def test_text_without_tokens_on_the_command_line(tmp_path, capsys) -> None:
    rows = [{"group_id": key, "prompt": "p", "response": t, "step": 0} for key, texts in GROUPS.items() for t in texts]
    log = write_jsonl(tmp_path / "odd.jsonl", rows)
    out = tmp_path / "odd.parquet"
    code, _, err = run_cli(capsys, "score", log, "--out", out, "--embedder", "hashing", "--no-progress")
    assert code == 0, err
    groups = pl.read_parquet(out)
    assert dict(zip(groups["group_id"], groups["duplicate_fraction"])) == pytest.approx(
        {key: normalised_duplicates(texts) for key, texts in GROUPS.items()})
    assert groups.select([c for c in groups.columns if c in METRICS]).null_count().sum_horizontal().item() == 0
