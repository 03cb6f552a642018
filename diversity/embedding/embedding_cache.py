"""The on-disk embedding cache, and :func:`embed`: each distinct text embedded once, through the cache.

Collapsed policies repeat answers, so :func:`embed` embeds each distinct text
once. With ``cache_dir`` the vectors of dense embedders are kept on disk,
keyed by the embedder's id and each text's SHA-256, so scoring a log again
calls no model. Layout: ``cache_dir/<embedder slug>-<id hash>/`` holds
``embedder.txt`` (the id) and shards ``<hash>.npz`` (``keys``: (n, 16) uint8
text hashes, ``vectors``: (n, d) float32), each written atomically; a new run
adds one shard with the texts it had to embed. A shard that cannot be read is
skipped with a warning and its texts are embedded again. The sparse lexical
embedders are cheaper to recompute than to read and are never cached.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diversity.embedding.embedders import BATCH_SIZE, DEFAULT_EMBEDDER, Embedder, get_embedder
from rollout_common.errors import OptionError
from rollout_common.files import atomic_path, write_text_atomic

log = logging.getLogger("diversity")

# Texts per call to the model, so the progress bar moves and memory stays flat.
_ENCODE_CHUNK = 2048


@dataclass
class Embedded:
    """Vectors for the distinct texts; text k's vector is ``vectors[index[k]]``."""

    vectors: object  # (M, d) float32 array or scipy sparse matrix
    index: np.ndarray  # (N,) row of each input text
    embedder_id: str
    from_model: int  # distinct texts the model embedded in this call
    from_cache: int  # distinct texts read from the cache


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
    model = get_embedder(embedder, batch_size, device)
    unique, index = distinct(texts)
    if model.sparse or cache_dir is None or not unique:
        if cache_dir is not None and model.sparse:
            log.info("embedder %s is recomputed, not cached", model.id)
        return Embedded(_encode(model, unique, progress), index, model.id, len(unique), 0)
    folder = _cache_folder(Path(cache_dir), model.id)
    keys = [text_key(t) for t in unique]
    cached = _read_cache(folder, set(keys))
    missing = [i for i, k in enumerate(keys) if k not in cached]
    new = _encode(model, [unique[i] for i in missing], progress) if missing else None
    if missing:
        _write_shard(folder, [keys[i] for i in missing], new)
    dim = new.shape[1] if new is not None else len(next(iter(cached.values())))
    vectors = np.empty((len(unique), dim), dtype=np.float32)
    for i, key in enumerate(keys):
        if key in cached:
            vectors[i] = cached[key]
    if missing:
        vectors[missing] = new
    return Embedded(vectors, index, model.id, len(missing), len(unique) - len(missing))


def _encode(model: Embedder, texts: list[str], progress: bool):
    """Dense models in chunks under a progress bar; sparse ones in one call (tfidf fits on all texts)."""
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    if model.sparse:
        return model.encode(texts)
    from tqdm.auto import tqdm

    parts = []
    with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress, leave=False) as bar:
        for at in range(0, len(texts), _ENCODE_CHUNK):
            parts.append(model.encode(texts[at:at + _ENCODE_CHUNK]))
            bar.update(len(parts[-1]))
    return np.concatenate(parts)


def _cache_folder(cache_dir: Path, embedder_id: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_id)[-60:].strip("_")
    folder = cache_dir / f"{slug}-{hashlib.sha256(embedder_id.encode()).hexdigest()[:12]}"
    if not folder.is_dir():
        if cache_dir.exists() and not cache_dir.is_dir():
            raise OptionError(f"cache directory {cache_dir} is a file; give a folder path")
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / "embedder.txt", embedder_id + "\n")
    return folder


def _read_cache(folder: Path, wanted: set[bytes]) -> dict[bytes, np.ndarray]:
    """Vectors for the wanted keys found in any shard; unreadable shards are skipped with a warning."""
    found: dict[bytes, np.ndarray] = {}
    width = None
    for shard in sorted(folder.glob("*.npz")):
        try:
            with np.load(shard) as data:
                keys, vectors = data["keys"], data["vectors"]
            if keys.ndim != 2 or keys.shape[1] != 16 or vectors.ndim != 2 or len(vectors) != len(keys):
                raise ValueError(f"keys {keys.shape} do not match vectors {vectors.shape}")
            if width is not None and vectors.shape[1] != width:
                raise ValueError(f"vectors of width {vectors.shape[1]}, not {width}")
            width = vectors.shape[1]
        except Exception as error:
            log.warning("embedding cache: skipping unreadable shard %s (%s)", shard, error)
            continue
        for row, key in enumerate(map(bytes, keys)):
            if key in wanted and key not in found:
                found[key] = vectors[row]
    return found


def _write_shard(folder: Path, keys: list[bytes], vectors: np.ndarray) -> Path:
    key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 16)
    path = folder / f"{hashlib.sha256(key_array.tobytes()).hexdigest()[:20]}.npz"
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, keys=key_array, vectors=np.asarray(vectors, dtype=np.float32))
    return path
