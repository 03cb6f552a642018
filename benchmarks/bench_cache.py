"""How a lookup in the embedding cache scales: a cache of a million entries, read through its index.

    .venv/bin/python benchmarks/bench_cache.py                       # 1,000,000 entries, 32-d vectors
    .venv/bin/python benchmarks/bench_cache.py --entries 200000 --dim 384

Writes a cache of ``--entries`` texts (random vectors, in shards of
``SHARD_TEXTS`` as ``embed`` writes them) into a temporary folder, then
times, each on its own: rebuilding the index from the shards (what the first
run after an upgrade, or after a damaged index, does); looking up a few texts,
many texts and only texts the cache lacks, with the shards each opens; and,
for contrast, what the cache did before the index: reading every shard
whole and comparing every key. The vector width only changes how much a
shard read costs, not the index: 32-d keeps the folder small.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from diversity.embedding import cache_store, embedding_cache
from diversity.embedding.cache_store import CacheStore
from diversity.embedding.embedding_cache import text_key


def timed(label: str, action):
    started = time.perf_counter()
    value = action()
    print(f"{label:<58} {time.perf_counter() - started:8.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=32)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    keys = [text_key(f"text number {i}") for i in range(args.entries)]
    opened: list[str] = []
    read_shard = cache_store.read_shard

    def counting(path, **options):
        opened.append(path.name)
        return read_shard(path, **options)

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as folder:
        per_shard = embedding_cache.SHARD_TEXTS

        def fill() -> None:
            with CacheStore(folder, "bench:v1") as store:
                for at in range(0, args.entries, per_shard):
                    part = keys[at:at + per_shard]
                    store.write(part, rng.standard_normal((len(part), args.dim), dtype=np.float32))

        timed(f"write {args.entries:,} entries in shards of {per_shard:,}", fill)
        store = CacheStore(folder, "bench:v1")
        shards = sorted(store.folder.glob("*.npz"))
        size = sum(p.stat().st_size for p in shards) + store.index_path.stat().st_size
        print(f"{len(shards)} shards, {size / 1e6:.0f} MB on disk with the index "
              f"({store.index_path.stat().st_size / 1e6:.0f} MB)")
        store.close()
        cache_store.read_shard = counting
        for label, wanted in [
            (f"look up the {per_shard:,} texts one earlier run embedded", np.arange(per_shard, 2 * per_shard)),
            ("look up 1,000 cached texts spread over all shards", rng.choice(args.entries, 1000, replace=False)),
            ("look up 100,000 cached texts", rng.choice(args.entries, min(100_000, args.entries), replace=False)),
        ]:
            for turn in ("", ", again"):  # the first turn may read from disk, the second from the page cache
                opened.clear()
                with CacheStore(folder, "bench:v1") as store:
                    found = timed(label + turn, lambda: store.read([keys[i] for i in wanted]))
                assert len(found) == len(wanted)
                print(f"{'':<4}opened {len(opened)} of {len(shards)} shards")
        opened.clear()
        with CacheStore(folder, "bench:v1") as store:
            missing = [text_key(f"new text {i}") for i in range(100_000)]
            assert timed("look up 100,000 texts the cache lacks", lambda: store.read(missing)) == {}
        print(f"{'':<4}opened {len(opened)} shards")
        Path(store.index_path).unlink()
        opened.clear()
        with CacheStore(folder, "bench:v1") as store:
            timed("rebuild the index from the shards, then look up 1,000", lambda: store.read(keys[:1000]))
        cache_store.read_shard = read_shard
        wanted = {keys[i] for i in rng.choice(args.entries, 1000, replace=False)}
        for turn in ("", ", again"):
            timed("before the index: every shard read and scanned, for 1,000" + turn,
                  lambda: scan_every_shard(shards, wanted))


def scan_every_shard(shards: list[Path], wanted: set[bytes]) -> dict[bytes, np.ndarray]:
    """What a lookup did before the index: every shard's keys and vectors read, every key compared."""
    found = {}
    for shard in shards:
        with np.load(shard) as data:
            keys, vectors = data["keys"], data["vectors"]
        for row, key in enumerate(map(bytes, keys)):
            if key in wanted and key not in found:
                found[key] = vectors[row]
    return found


if __name__ == "__main__":
    main()
