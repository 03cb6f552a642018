"""Embedders: distinct texts embedded once, the on-disk cache, lexical vectors, the real offline model."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from diversity import embedding as e
from rollout_common.errors import OptionError
from tests.conftest import TEXTS, CountingEmbedder


def test_distinct_keeps_first_seen_order_and_maps_every_text() -> None:
    unique, index = e.distinct(TEXTS)
    assert unique == ["a cat", "a dog", "", "ünïcode"]
    assert [unique[i] for i in index] == TEXTS


def test_each_distinct_text_is_embedded_once() -> None:
    model = CountingEmbedder()
    result = e.embed(TEXTS, model)
    assert model.embedded == 4 and result.from_model == 4 and result.from_cache == 0
    np.testing.assert_array_equal(result.vectors[result.index], model.encode(TEXTS))


def test_cache_makes_a_second_run_free_of_model_calls(tmp_path) -> None:
    first = e.embed(TEXTS, CountingEmbedder(), cache_dir=tmp_path)
    again = CountingEmbedder()
    second = e.embed(TEXTS, again, cache_dir=tmp_path)
    assert again.calls == [] and second.from_cache == 4 and second.from_model == 0
    np.testing.assert_array_equal(second.vectors[second.index], first.vectors[first.index])
    # Only texts the cache lacks reach the model, and they are added as a new shard.
    more = CountingEmbedder()
    third = e.embed(["a dog", "a bird"], more, cache_dir=tmp_path)
    assert more.calls == [["a bird"]] and third.from_cache == 1
    folder, = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(list(folder.glob("*.npz"))) == 2
    assert (folder / "embedder.txt").read_text().strip() == "counting:v1"
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_cache_is_keyed_by_embedder_id(tmp_path) -> None:
    e.embed(TEXTS, CountingEmbedder("model-a"), cache_dir=tmp_path)
    other = CountingEmbedder("model-b")
    e.embed(TEXTS, other, cache_dir=tmp_path)
    assert other.embedded == 4
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2


def test_an_unreadable_shard_is_skipped_with_a_warning(tmp_path, caplog) -> None:
    e.embed(TEXTS, CountingEmbedder(), cache_dir=tmp_path)
    folder, = [p for p in tmp_path.iterdir() if p.is_dir()]
    for shard in folder.glob("*.npz"):
        shard.write_bytes(b"not a zip file")
    model = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = e.embed(TEXTS, model, cache_dir=tmp_path)
    assert model.embedded == 4 and result.from_cache == 0
    assert "unreadable shard" in caplog.text


def test_a_cache_path_that_is_a_file_is_refused(tmp_path) -> None:
    path = tmp_path / "cache"
    path.write_text("")
    with pytest.raises(OptionError, match="is a file"):
        e.embed(TEXTS, CountingEmbedder(), cache_dir=path)


def test_hashing_vectors_are_unigram_counts() -> None:
    result = e.embed(["The cat, the hat.", "dog", ""], "hashing")
    vectors = result.vectors
    assert sp.issparse(vectors) and vectors.shape == (3, e.HASHING_FEATURES)
    assert sorted(vectors[0].data) == [1.0, 1.0, 2.0]  # the x2, cat, hat
    assert vectors[2].nnz == 0
    assert result.embedder_id == e.HashingEmbedder.id


def test_lexical_embedders_are_recomputed_not_cached(tmp_path) -> None:
    e.embed(["a b", "c"], "tfidf", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    empty = e.embed(["", "..."], "tfidf").vectors  # no vocabulary at all: zero vectors, not an error
    assert empty.shape[0] == 2 and empty.nnz == 0


@pytest.mark.parametrize("name, batch_size, message", [
    ("", 8, "embedder must be a name"),
    (3, 8, "embedder must be a name"),
    ("minilm", 0, "batch_size must be a positive integer"),
])
def test_bad_embedder_options_are_refused(name, batch_size, message) -> None:
    with pytest.raises(OptionError, match=message):
        e.get_embedder(name, batch_size)


def test_a_missing_model_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(OptionError, match="cannot load embedder .*nothing is downloaded"):
        e.embed(["a"], str(tmp_path / "no-such-model"))


def test_minilm_loads_offline_and_ranks_paraphrases_closest() -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on the mat.", "Quarterly revenue rose by ten percent."]
    model = e.get_embedder("minilm", device="cpu")
    assert model.id.startswith("minilm:all-MiniLM-L6-v2")
    vectors = e.embed(texts, model).vectors
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similar, unrelated = unit[0] @ unit[1], unit[0] @ unit[2]
    assert similar > 0.7 > unrelated
