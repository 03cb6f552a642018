"""The tuned encoding pipeline: length-sorted token-budget batches, a tokenising worker thread, same vectors as encode."""

from __future__ import annotations

import numpy as np
import pytest

from diversity.embedding import tuned_encode as te


def test_batches_cover_every_text_once_longest_first_within_the_token_budget():
    lengths = [5, 300, 17, 17, 1, 64, 9, 250]
    batches = te.length_batches(lengths, batch_tokens=512)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for rows in batches:
        padded = -(-max(lengths[i] for i in rows) // te.PAD_MULTIPLE) * te.PAD_MULTIPLE
        assert len(rows) == 1 or len(rows) * padded <= 512
    assert len(batches[-1]) > len(batches[0])  # short texts travel in bigger batches


def test_batches_respect_max_batch_and_empty_input():
    assert [len(b) for b in te.length_batches([1] * 10, batch_tokens=10**6, max_batch=4)] == [4, 4, 2]
    assert te.length_batches([], batch_tokens=64) == []


@pytest.fixture(scope="module")
def minilm():
    from diversity.embedding import get_embedder

    return get_embedder("minilm", device="cpu").model


def test_same_vectors_as_plain_encode_on_cpu(minilm):
    texts = ["a cat sat on the mat", "", "lemon plum grape", "x" * 2000,
             "Sure! One Spanish-speaking country is **Spain**.", "a cat sat on the mat", "ünïcode ✓"] * 3
    plain = minilm.encode(texts, batch_size=4, convert_to_numpy=True)
    tuned = te.tuned_encode(minilm, texts, batch_tokens=64)
    assert tuned.shape == plain.shape and tuned.dtype == np.float32
    np.testing.assert_allclose(tuned, plain, atol=1e-5)


def test_worker_errors_reach_the_caller(minilm, monkeypatch):
    def broken(texts):
        raise ValueError("tokeniser failed")

    monkeypatch.setattr(minilm, "preprocess", broken)
    with pytest.raises(ValueError, match="tokeniser failed"):
        te.tuned_encode(minilm, ["a", "b"])


def test_a_failing_model_does_not_leave_the_worker_blocked(minilm, monkeypatch):
    import threading

    def broken(features):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(type(minilm), "__call__", lambda self, features: broken(features))
    with pytest.raises(RuntimeError, match="out of memory"):
        te.tuned_encode(minilm, [f"text {i}" for i in range(200)], batch_tokens=16, prefetch=1)
    assert not [t for t in threading.enumerate() if t.name == "tokenise"]


def test_minilm_on_cuda_encodes_through_the_tuned_path_with_a_float16_id(minilm, monkeypatch):
    """No GPU here: the embedder is told it is on CUDA, and tuned_encode is watched (on this CPU model it
    runs in float32, so the vectors still equal plain encode's)."""
    from diversity.embedding import SentenceTransformerEmbedder, get_embedder

    calls = []
    real = te.tuned_encode
    monkeypatch.setattr(te, "tuned_encode",
                        lambda model, texts, **options: calls.append((len(texts), options)) or real(model, texts, **options))
    embedder = get_embedder("minilm", device="cpu")
    plain_id = embedder.id
    embedder._model = minilm
    monkeypatch.setattr(SentenceTransformerEmbedder, "on_cuda", property(lambda self: True))
    texts = ["a cat sat on the mat", "lemon plum grape"]
    np.testing.assert_allclose(embedder.encode(texts), minilm.encode(texts, convert_to_numpy=True), atol=1e-5)
    assert calls == [(2, {"batch_tokens": None})]  # None: tuned_encode's CUDA budget
    assert embedder.id == plain_id + ":fp16" and not embedder.slow_on_cpu and embedder.encode_chunk == 16384


def test_minilm_on_cpu_takes_the_tuned_path_in_float32_batches_of_batch_size_x_128_tokens(minilm, monkeypatch):
    from diversity.embedding import get_embedder

    calls = []
    real = te.tuned_encode
    monkeypatch.setattr(te, "tuned_encode",
                        lambda model, texts, **options: calls.append(options) or real(model, texts, **options))
    embedder = get_embedder("minilm", batch_size=16, device="cpu")
    embedder._model = minilm
    texts = ["a cat sat on the mat", "", "lemon plum grape " * 40]
    np.testing.assert_allclose(embedder.encode(texts), minilm.encode(texts, convert_to_numpy=True), atol=1e-5)
    assert calls == [{"batch_tokens": 16 * 128}]
    assert not embedder.id.endswith(":fp16") and embedder.slow_on_cpu and embedder.encode_chunk is None
    assert get_embedder("minilm", device="cuda").id.endswith(":fp16")  # the id is known before the model loads


def test_the_embedder_benchmark_runs_on_cpu_with_its_gpu_table_in_a_smoke_run(tmp_path):
    """benchmarks/bench_embed.py on a tiny budget; ``--gpu-device cpu`` runs its GPU table's code here."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, repo / "benchmarks" / "bench_embed.py", "--embedders", "hashing", "--minilm-texts", "2",
         "--seconds", "0", "--repeats", "1", "--gpu-texts", "24", "--gpu-device", "cpu"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(repo)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(" hashing ") == 2
    assert "CPU fp32 embed(texts, minilm)" in done.stdout
    assert float(done.stdout.rsplit("tuned vs plain: min cosine ", 1)[1]) > 0.9999
