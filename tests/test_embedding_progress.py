"""The embedding progress bar (texts/s, ETA) and the one-line hint when a CPU run will take long."""

from __future__ import annotations

import re
from functools import partial

import numpy as np

from diversity.embedding import Embedder, embed, embedding_cache
from diversity.embedding import progress as pr


def test_slow_cpu_hint_only_past_ten_minutes_with_both_expected_times():
    assert pr.slow_cpu_hint(remaining=50_000, texts_per_s=100) is None  # 8.3 min
    line = pr.slow_cpu_hint(remaining=600_000, texts_per_s=100)  # 100 min on CPU
    static_s, gpu_s = 600_000 / (100 * pr.STATIC_SPEEDUP), 600_000 / pr.GPU_TEXTS_PER_S
    assert line == (f"embedding 600,000 texts with minilm on CPU will take ~1.7 h; --embedder static would take "
                    f"~{pr.duration(static_s)}, a CUDA GPU ~{pr.duration(gpu_s)} (benchmarks/EMBEDDERS.md)")
    assert [pr.duration(s) for s in (0.2, 20, 120, 6000)] == ["1 s", "20 s", "2 min", "1.7 h"]
    assert "\n" not in line
    assert pr.slow_cpu_hint(remaining=10, texts_per_s=0) is None


def clock(*times: float):
    ticks = iter(times)
    return lambda: next(ticks)


def test_the_hint_comes_once_from_the_rate_after_the_first_chunk(capsys):
    # Chunk 1 (256 texts) ends at 50 s (loading the model included); chunk 2 (2,048) takes 20.48 s: 100 texts/s,
    # so the 97,696 texts left would take 16 min.
    with pr.EmbeddingProgress(100_000, "minilm", lambda: True, True, clock(50.0, 70.48, 90.96)) as bar:
        bar.update(256, 256)
        assert bar.hint is None
        bar.update(2304, 2048)
        bar.update(4352, 2048)
        shown = str(bar.bar)
    err = capsys.readouterr().err
    assert bar.hint == pr.slow_cpu_hint(97_696, 100.0, "minilm") and err.count(bar.hint) == 1
    assert "16 min" in bar.hint
    assert re.search(r"4352/100000 \[\d\d:\d\d<[\d:]+, +[\d.]+texts/s\]", shown)  # the rate and the ETA


def test_no_hint_for_short_runs_or_models_off_the_cpu(capsys, caplog):
    with pr.EmbeddingProgress(20_000, "minilm", lambda: True, True, clock(5.0, 25.48)) as bar:  # 3 min left
        bar.update(256, 256), bar.update(2304, 2048)
    assert bar.hint is None
    asked = []
    with pr.EmbeddingProgress(100_000, "minilm", lambda: asked.append(1) or False, True, clock(5.0, 25.48)) as bar:
        bar.update(256, 256), bar.update(2304, 2048)
    assert bar.hint is None and asked == [1]
    assert "static" not in capsys.readouterr().err


def test_without_a_bar_the_hint_is_logged(caplog):
    with caplog.at_level("INFO", logger="diversity"):
        with pr.EmbeddingProgress(100_000, "minilm", lambda: True, False, clock(1.0, 21.48)) as bar:
            bar.update(256, 256), bar.update(2304, 2048)
    assert bar.hint and bar.hint in caplog.text


class SlowCpuModel(Embedder):
    """A fake neural model on the CPU: zero vectors, counting the texts of each call."""

    id = "fake-cpu-model"
    slow_on_cpu = True

    def __init__(self):
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        return np.zeros((len(texts), 2), dtype=np.float32)


def test_embed_asks_for_the_hint_through_its_bar(monkeypatch, capsys):
    """embed's chunks (256, then 2,048 each) reach the bar; at 100 texts/s, 70,000 texts are past ten minutes."""
    times = iter(np.arange(100) * 20.48 + 50)
    monkeypatch.setattr(embedding_cache, "EmbeddingProgress", partial(pr.EmbeddingProgress, clock=lambda: next(times)))
    model = SlowCpuModel()
    embed([f"text {i}" for i in range(70_000)], model, progress=True)
    assert model.calls[:3] == [256, 2048, 2048] and sum(model.calls) == 70_000
    err = capsys.readouterr().err
    assert err.count("--embedder static would take") == 1 and "with fake-cpu-model on CPU" in err
    assert "texts/s" in err


def test_chunks_start_small_then_take_the_embedder_s_size():
    assert embedding_cache.chunks(0, 2048) == []
    assert embedding_cache.chunks(100, 2048) == [(0, 100)]
    assert embedding_cache.chunks(5000, 2048) == [(0, 256), (256, 2304), (2304, 4352), (4352, 5000)]
    assert embedding_cache.chunks(5, 2) == [(0, 2), (2, 4), (4, 5)]
