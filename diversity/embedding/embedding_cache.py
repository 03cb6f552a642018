""":func:`embed`: each distinct text embedded once, through the on-disk cache.

Collapsed policies repeat answers, so :func:`embed` embeds each distinct text
once. With ``cache_dir`` the vectors of dense embedders are kept on disk,
keyed by the embedder's id and each text's SHA-256 (the folder's layout and
its index: :mod:`~diversity.embedding.cache_store`), so scoring a log again
calls no model. The command line uses :func:`default_cache_dir` unless told
otherwise. The texts the cache lacks are embedded in chunks, and a shard is
written every :data:`SHARD_TEXTS` texts or :data:`SHARD_SECONDS` seconds, so
a run that is interrupted (Ctrl-C, a crash) keeps what it embedded and a
rerun embeds only the rest; Ctrl-C raises ``KeyboardInterrupt("kept N
embeddings in FOLDER ...")``. The sparse lexical embedders are cheaper to
recompute than to read and are never cached. Models that an embedder builds
for itself (the static embedder's distillation) are kept in the same folder,
under ``models/`` (:func:`models_dir`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diversity.embedding.cache_store import CacheStore
from diversity.embedding.embedders import BATCH_SIZE, DEFAULT_EMBEDDER, Embedder, get_embedder
from diversity.embedding.progress import EmbeddingProgress

log = logging.getLogger("diversity")

CACHE_ENV = "ROLLOUT_DIVERSITY_CACHE_DIR"
"""The environment variable that moves the default cache (see :func:`default_cache_dir`)."""
MODELS_FOLDER = "models"
"""The subfolder of the cache folder where embedders keep models they build."""
# Texts per call to the model, so the progress bar moves and memory stays flat (an embedder may ask for
# larger chunks: Embedder.encode_chunk); the first chunk is small so the bar shows a rate soon.
_ENCODE_CHUNK = 2048
FIRST_CHUNK = 256
SHARD_TEXTS = 16384
"""A shard is written once this many new texts are embedded ..."""
SHARD_SECONDS = 60.0
"""... or once this many seconds have passed since the last one (at the end of a chunk), whichever comes first."""


@dataclass
class Embedded:
    """Vectors for the distinct texts; text k's vector is ``vectors[index[k]]``."""

    vectors: object  # (M, d) float32 array or scipy sparse matrix
    index: np.ndarray  # (N,) row of each input text
    embedder_id: str
    from_model: int  # distinct texts the model embedded in this call
    from_cache: int  # distinct texts read from the cache


def default_cache_dir() -> Path:
    """``$ROLLOUT_DIVERSITY_CACHE_DIR``, else ``$XDG_CACHE_HOME/rollout-diversity/embeddings``,
    else ``~/.cache/rollout-diversity/embeddings``: where the command line caches embeddings."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "rollout-diversity" / "embeddings"


def models_dir(cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/models``, the default cache folder's when ``cache_dir`` is None (as with ``--no-cache``:
    a built model is not an embedding, and rebuilding it every run would cost more than keeping it)."""
    return Path(default_cache_dir() if cache_dir is None else cache_dir).expanduser() / MODELS_FOLDER


def distinct(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(distinct texts in first-seen order, (N,) index of each text among them)."""
    position: dict[str, int] = {}
    index = np.fromiter((position.setdefault(t, len(position)) for t in texts), dtype=np.int64, count=len(texts))
    return list(position), index


def text_key(text: str) -> bytes:
    """16 bytes of the text's SHA-256: the cache key within one embedder's folder."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def embed(
    texts: Sequence[str],
    embedder: str | Embedder = DEFAULT_EMBEDDER,
    *,
    cache_dir: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
    device: str | None = None,
    progress: bool = False,
) -> Embedded:
    """Embed each distinct text once, reading and extending the on-disk cache when given."""
    model = get_embedder(embedder, batch_size, device, cache_dir=cache_dir)
    unique, index = distinct(texts)
    if model.sparse or cache_dir is None or not unique:
        if cache_dir is not None and model.sparse:
            log.info("embedder %s is recomputed, not cached", model.id)
        return Embedded(_encode(model, unique, progress), index, model.id, len(unique), 0)
    with CacheStore(cache_dir, model.id) as store:
        keys = [text_key(t) for t in unique]
        cached = store.read(keys)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        new = _encode_into(store, model, [unique[i] for i in missing], [keys[i] for i in missing], progress)
    dim = new.shape[1] if missing else len(next(iter(cached.values())))
    vectors = np.empty((len(unique), dim), dtype=np.float32)
    for i, key in enumerate(keys):
        if key in cached:
            vectors[i] = cached[key]
    if missing:
        vectors[missing] = new
    return Embedded(vectors, index, model.id, len(missing), len(unique) - len(missing))


def _encode(model: Embedder, texts: list[str], progress: bool):
    """Sparse models in one call (tfidf fits on all texts); dense ones in chunks under a progress bar."""
    if model.sparse and texts:
        return model.encode(texts)
    return _encode_into(None, model, texts, [], progress)


def _encode_into(store: CacheStore | None, model: Embedder, texts: list[str], keys: list[bytes], progress: bool):
    """Dense vectors for ``texts``, in chunks; with a store, a shard is written every SHARD_TEXTS texts or
    SHARD_SECONDS, and on any interruption the finished chunks are written before it propagates."""
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    parts: list[np.ndarray] = []
    done = kept = 0  # texts embedded, texts written to the cache
    last_write = time.monotonic()

    def keep() -> None:
        nonlocal kept, last_write
        if store is not None and done > kept:
            store.write(keys[kept:done], np.concatenate(parts)[kept:done])
            kept, last_write = done, time.monotonic()

    try:
        name = model.id.split(":", 1)[0]
        with EmbeddingProgress(len(texts), name, lambda: model.slow_on_cpu, progress) as bar:
            for at, end in chunks(len(texts), model.encode_chunk or _ENCODE_CHUNK):
                parts.append(np.asarray(model.encode(texts[at:end]), dtype=np.float32))
                done = end
                bar.update(done, end - at)
                if done - kept >= SHARD_TEXTS or time.monotonic() - last_write >= SHARD_SECONDS:
                    keep()
            keep()
    except BaseException as interruption:
        if store is None:
            raise
        try:
            keep()
        except Exception as error:  # the cache keeps what the earlier shards hold
            log.warning("embedding cache: could not keep the last %d embeddings (%s)", done - kept, error)
        if isinstance(interruption, KeyboardInterrupt):
            raise KeyboardInterrupt(
                f"kept {kept} embeddings in {store.folder}; a rerun embeds only the other {len(texts) - kept}"
            ) from None
        raise
    return np.concatenate(parts)


def chunks(total: int, size: int) -> list[tuple[int, int]]:
    """(start, end) of each chunk: the first of at most FIRST_CHUNK texts, the others of ``size``."""
    first = min(total, FIRST_CHUNK, size)
    return [(0, first)] * bool(first) + [(at, min(at + size, total)) for at in range(first, total, size)]
