"""The embedding cache under damage: truncated, bit-flipped or foreign shards, a writer's leftover
temporary file, and several writers at once. Each time the answer equals an undamaged cache's,
only the affected texts reach the model again, and a damaged shard is named in a warning."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from diversity import embedding as e
from tests.conftest import TEXTS, CountingEmbedder

MORE = ["a bird", "a fish", "a cat"]  # "a cat" is already in the first shard


def flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 8]) + data[middle + 8:]


def inconsistent_arrays(data: bytes) -> bytes:
    """A shard that unzips fine but holds fewer vectors than keys."""
    import io

    with np.load(io.BytesIO(data)) as shard:
        keys, vectors = shard["keys"], shard["vectors"]
    buffer = io.BytesIO()
    np.savez(buffer, keys=keys, vectors=vectors[:-1])
    return buffer.getvalue()


DAMAGE = {
    "arrays of mismatched length": inconsistent_arrays,
    "truncated to half": lambda data: data[: len(data) // 2],
    "truncated to nothing": lambda data: b"",
    "8 bytes flipped (CRC mismatch)": flip_middle,
    "not a zip file": lambda data: b"PK\x03\x04 but nothing after",
}


def two_shards(cache: Path) -> tuple[Path, Path, np.ndarray]:
    """A cache holding TEXTS (first shard) and MORE's new texts (second shard); the reference vectors."""
    e.embed(TEXTS, CountingEmbedder(), cache_dir=cache)
    folder, = [p for p in cache.iterdir() if p.is_dir()]
    first, = folder.glob("*.npz")
    e.embed(MORE, CountingEmbedder(), cache_dir=cache)
    second, = set(folder.glob("*.npz")) - {first}
    reference = e.embed(TEXTS + MORE, CountingEmbedder())
    return first, second, reference.vectors[reference.index]


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_shard_is_reported_and_only_its_texts_are_rebuilt(tmp_path, caplog, damage) -> None:
    _, second, expected = two_shards(tmp_path)
    second.write_bytes(DAMAGE[damage](second.read_bytes()))
    model = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = e.embed(TEXTS + MORE, model, cache_dir=tmp_path)
    assert model.calls == [["a bird", "a fish"]]  # the damaged shard's texts, nothing else
    assert result.from_cache == 4 and result.from_model == 2
    np.testing.assert_array_equal(result.vectors[result.index], expected)
    warning, = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "skipping unreadable shard" in warning and str(second) in warning
    # The rebuilt entries replaced the damaged shard (same texts, same name): the next run is clean.
    caplog.clear()
    again = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="diversity"):
        e.embed(TEXTS + MORE, again, cache_dir=tmp_path)
    assert again.calls == [] and caplog.records == []


def test_a_writers_unfinished_temporary_file_is_ignored(tmp_path, caplog) -> None:
    first, _, expected = two_shards(tmp_path)
    # What a writer killed (or still busy) mid-write leaves: atomic_path's temporary name, half written.
    (first.parent / f".{first.name}.abc123.tmp").write_bytes(first.read_bytes()[:100])
    model = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = e.embed(TEXTS + MORE, model, cache_dir=tmp_path)
    assert model.calls == [] and caplog.records == []
    np.testing.assert_array_equal(result.vectors[result.index], expected)


def test_concurrent_writers_and_readers_agree_and_leave_a_whole_cache(tmp_path, caplog) -> None:
    texts = [f"text number {i}" for i in range(40)]
    expected = e.embed(texts, CountingEmbedder()).vectors
    # Overlapping slices, so several threads write shards with the same keys (and names) at once.
    slices = [texts[i:i + 20] for i in range(0, 40, 5)] * 3
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(len(slices))

    def work(n: int) -> None:
        barrier.wait()
        embedded = e.embed(slices[n], CountingEmbedder(), cache_dir=tmp_path)
        results[n] = embedded.vectors[embedded.index]

    with caplog.at_level(logging.WARNING, logger="diversity"):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(len(slices))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert caplog.records == [] and len(results) == len(slices)
    for n, part in enumerate(slices):
        np.testing.assert_array_equal(results[n], expected[[texts.index(t) for t in part]])
    model = CountingEmbedder()
    final = e.embed(texts, model, cache_dir=tmp_path)
    assert model.calls == [] and final.from_cache == 40
    np.testing.assert_array_equal(final.vectors, expected)
    folder, = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
