"""The embedding cache across runs and processes: shards written as embedding proceeds, Ctrl-C keeping them,
several processes at once, a damaged or missing index, reads that open only the shards they need, and the
command line's default cache. The model is a fake that counts the texts it is asked for."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from diversity import embedding as e
from diversity.embedding import cache_store, embedding_cache
from rollout_cli import main
from tests.conftest import REPO, CountingEmbedder, write_jsonl

WORDS = ["red", "green", "blue", "cyan", "gold", "grey", "pink", "plum", "rose", "sand"]


def texts_of(n: int) -> list[str]:
    return [f"{WORDS[i % 10]} {WORDS[i // 10 % 10]} answer {i}" for i in range(n)]


def the_folder(cache: Path) -> Path:
    folder, = [p for p in cache.iterdir() if p.is_dir()]
    return folder


def index_is_consistent(folder: Path) -> int:
    """Every entry of the index points at a shard on disk holding that key at that row; returns the entry count."""
    db = sqlite3.connect(folder / cache_store.INDEX_NAME)
    shards = {name: cache_store.read_shard(folder / name)[0]
              for (name,) in db.execute("SELECT name FROM shards WHERE rows >= 0")}
    entries = db.execute("SELECT e.key, s.name, e.row FROM entries e JOIN shards s ON s.id = e.shard").fetchall()
    db.close()
    for key, name, row in entries:
        assert bytes(shards[name][row]) == bytes(key)
    assert set(shards) == {p.name for p in folder.glob("*.npz")}
    return len(entries)


@pytest.fixture
def small_shards(monkeypatch):
    """Chunks of 2 texts, a shard every 4: a run of 10 new texts writes 3 shards."""
    monkeypatch.setattr(embedding_cache, "_ENCODE_CHUNK", 2)
    monkeypatch.setattr(embedding_cache, "SHARD_TEXTS", 4)


def test_shards_are_written_as_embedding_proceeds(tmp_path, small_shards) -> None:
    texts = texts_of(10)
    e.embed(texts, CountingEmbedder(), cache_dir=tmp_path)
    folder = the_folder(tmp_path)
    assert len(list(folder.glob("*.npz"))) == 3 and index_is_consistent(folder) == 10


def test_a_run_that_fails_midway_keeps_the_finished_chunks(tmp_path, small_shards) -> None:
    class Failing(CountingEmbedder):
        def encode(self, texts):
            if len(self.calls) == 3:
                raise RuntimeError("CUDA out of memory")
            return super().encode(texts)

    texts = texts_of(10)
    with pytest.raises(RuntimeError, match="out of memory"):
        e.embed(texts, Failing(), cache_dir=tmp_path)
    rerun = CountingEmbedder()
    result = e.embed(texts, rerun, cache_dir=tmp_path)
    assert rerun.embedded == 4 and result.from_cache == 6  # 3 chunks of 2 were kept
    np.testing.assert_array_equal(result.vectors, CountingEmbedder().encode(texts))


SLOW_CLI = """
import sys, time
from diversity.embedding import embedding_cache
from tests.conftest import CountingEmbedder

class Slow(CountingEmbedder):
    def encode(self, texts):
        time.sleep(0.3)
        vectors = super().encode(texts)
        with open(sys.argv[1], "a") as progress:
            progress.write(f"{len(texts)}\\n")
        return vectors

embedding_cache.get_embedder = lambda *args, **kwargs: Slow()
embedding_cache._ENCODE_CHUNK, embedding_cache.SHARD_TEXTS = 2, 4
from rollout_cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_ctrl_c_keeps_what_was_embedded_and_a_rerun_embeds_only_the_rest(tmp_path) -> None:
    texts = texts_of(40)
    log = write_jsonl(tmp_path / "log.jsonl", [
        {"step": 0, "group_id": f"g{i // 4}", "prompt": f"p{i // 4}", "response": text} for i, text in enumerate(texts)
    ])
    script, progress, cache = tmp_path / "slow_cli.py", tmp_path / "progress.txt", tmp_path / "cache"
    script.write_text(SLOW_CLI)
    command = [sys.executable, str(script), str(progress), "score", str(log), "--out", str(tmp_path / "s.parquet"),
               "--metrics", "vendi_score", "--cache-dir", str(cache), "--no-progress"]
    child = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (progress.exists() and sum(map(int, progress.read_text().split())) >= 10):
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130
    last = stderr.strip().splitlines()[-1]
    match = re.fullmatch(r"rollout-diversity score: interrupted; kept (\d+) embeddings in (.+); "
                         r"a rerun embeds only the other (\d+)", last)
    assert match, stderr
    kept, left = int(match.group(1)), int(match.group(3))
    assert kept >= 10 and kept + left == 40 and Path(match.group(2)) == the_folder(cache)
    assert "Traceback" not in stderr
    rerun = CountingEmbedder()
    result = e.embed(texts, rerun, cache_dir=cache)
    assert rerun.embedded == left and result.from_cache == kept
    np.testing.assert_array_equal(result.vectors, CountingEmbedder().encode(texts))


WRITER = """
import sys
from pathlib import Path
import time
from diversity.embedding import embed, embedding_cache
from tests.conftest import CountingEmbedder

embedding_cache._ENCODE_CHUNK, embedding_cache.SHARD_TEXTS = 3, 3
cache, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
while not Path(cache, "go").exists():
    time.sleep(0.01)
texts = [f"text number {i}" for i in range(start, stop)]
for _ in range(3):
    embedded = embed(texts, CountingEmbedder(), cache_dir=cache)
    assert (embedded.vectors[embedded.index] == CountingEmbedder().encode(texts)).all()
"""


def test_processes_writing_one_cache_at_once_leave_it_consistent(tmp_path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    spans = [(0, 40), (10, 50), (20, 60), (0, 60)]  # overlapping: the same texts written by several at once
    children = [subprocess.Popen([sys.executable, str(script), str(cache), str(a), str(b)], cwd=REPO, env=env,
                                 stderr=subprocess.PIPE, text=True) for a, b in spans]
    time.sleep(3)  # let them all import and wait at the start line
    (cache / "go").touch()
    for child in children:
        _, stderr = child.communicate(timeout=240)
        assert child.returncode == 0 and "embedding cache" not in stderr, stderr
    (cache / "go").unlink()
    texts = [f"text number {i}" for i in range(60)]
    model = CountingEmbedder()
    final = e.embed(texts, model, cache_dir=cache)
    assert model.calls == [] and final.from_cache == 60
    np.testing.assert_array_equal(final.vectors, CountingEmbedder().encode(texts))
    folder = the_folder(cache)
    assert index_is_consistent(folder) == 60
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted"])
def test_a_damaged_or_missing_index_is_rebuilt_from_the_shards(tmp_path, caplog, small_shards, damage) -> None:
    texts = texts_of(10)
    e.embed(texts, CountingEmbedder(), cache_dir=tmp_path)
    index = the_folder(tmp_path) / cache_store.INDEX_NAME
    if damage == "garbage":
        index.write_bytes(b"this is not an SQLite database" * 100)
    elif damage == "truncated":
        index.write_bytes(index.read_bytes()[:4096 + 100])
    else:
        index.unlink()
    model = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = e.embed(texts, model, cache_dir=tmp_path)
    assert model.calls == [] and result.from_cache == 10
    np.testing.assert_array_equal(result.vectors, CountingEmbedder().encode(texts))
    warnings = [r.getMessage() for r in caplog.records]
    if damage == "deleted":  # a cache from before the index, or one whose index was removed: rebuilt silently
        assert warnings == []
    else:
        warning, = warnings
        assert f"index {index} is damaged" in warning and "rebuilding it from the shards" in warning
    assert index_is_consistent(the_folder(tmp_path)) == 10


def test_a_read_opens_only_the_shards_that_hold_its_texts(tmp_path, monkeypatch, small_shards) -> None:
    texts = texts_of(12)
    e.embed(texts, CountingEmbedder(), cache_dir=tmp_path)  # 3 shards of 4 texts
    opened = []
    read_shard = cache_store.read_shard
    monkeypatch.setattr(cache_store, "read_shard", lambda path, **kw: opened.append(path.name) or read_shard(path, **kw))
    model = CountingEmbedder()
    result = e.embed(texts[4:6], model, cache_dir=tmp_path)
    assert model.calls == [] and result.from_cache == 2 and len(opened) == 1


def test_a_shard_removed_by_hand_is_forgotten_and_its_texts_embedded_again(tmp_path, caplog, small_shards) -> None:
    texts = texts_of(8)
    e.embed(texts, CountingEmbedder(), cache_dir=tmp_path)
    first = sorted(the_folder(tmp_path).glob("*.npz"))[0]
    first.unlink()
    model = CountingEmbedder()
    with caplog.at_level(logging.WARNING, logger="diversity"):
        result = e.embed(texts, model, cache_dir=tmp_path)
    assert model.embedded == 4 and result.from_cache == 4 and caplog.records == []
    np.testing.assert_array_equal(result.vectors, CountingEmbedder().encode(texts))


def test_the_default_cache_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(e.CACHE_ENV, str(tmp_path / "mine"))
    assert e.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(e.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert e.default_cache_dir() == tmp_path / "xdg" / "rollout-diversity" / "embeddings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert e.default_cache_dir() == tmp_path / "home" / ".cache" / "rollout-diversity" / "embeddings"


@pytest.fixture
def counted_cli(monkeypatch) -> list[CountingEmbedder]:
    """The command line's embedder replaced by counting fakes; returns the ones made, in order."""
    made: list[CountingEmbedder] = []
    monkeypatch.setattr(embedding_cache, "get_embedder", lambda *a, **k: made.append(CountingEmbedder()) or made[-1])
    return made


def test_score_then_report_embed_each_text_once_through_the_default_cache(
        tmp_path, counted_cli, private_user_cache, canonical_file) -> None:
    metrics = ["--metrics", "vendi_score", "--embedder", "counting", "--no-progress"]
    assert main(["score", str(canonical_file), "--out", str(tmp_path / "s.parquet"), *metrics]) == 0
    assert main(["report", str(canonical_file), "--out", str(tmp_path / "r.html"), *metrics]) == 0
    first, second = counted_cli
    assert first.embedded == 12 and second.calls == []
    assert index_is_consistent(the_folder(private_user_cache)) == 12


def test_no_cache_reads_and_writes_no_cache(tmp_path, counted_cli, private_user_cache, canonical_file) -> None:
    for _ in range(2):
        assert main(["score", str(canonical_file), "--out", str(tmp_path / "s.parquet"), "--force", "--no-cache",
                     "--metrics", "vendi_score", "--no-progress"]) == 0
    assert [m.embedded for m in counted_cli] == [12, 12] and list(private_user_cache.iterdir()) == []


def test_a_shard_removed_between_the_lookup_and_its_read_is_embedded_again(tmp_path, monkeypatch, small_shards) -> None:
    texts = texts_of(8)
    e.embed(texts, CountingEmbedder(), cache_dir=tmp_path)
    first = sorted(the_folder(tmp_path).glob("*.npz"))[0]
    locate = cache_store.CacheStore._locate

    def locate_then_remove(self, keys):
        located = locate(self, keys)
        first.unlink()  # another process cleaning the cache at just this moment
        return located

    monkeypatch.setattr(cache_store.CacheStore, "_locate", locate_then_remove)
    model = CountingEmbedder()
    result = e.embed(texts, model, cache_dir=tmp_path)
    assert model.embedded == 4 and result.from_cache == 4
    np.testing.assert_array_equal(result.vectors, CountingEmbedder().encode(texts))
