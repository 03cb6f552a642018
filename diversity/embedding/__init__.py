"""Sentence embeddings for the embedding metrics: one vector per distinct text, cached on disk.

    from diversity.embedding import embed
    embedded = embed(texts, "minilm", cache_dir=".cache/embeddings")
    vectors = embedded.vectors[embedded.index]     # (N, d): one row per input text

- :mod:`~diversity.embedding.embedders`: the embedders by name (``minilm``,
  a sentence-transformers model, ``static``, ``hashing``, ``tfidf``) and
  :func:`get_embedder`.
- :mod:`~diversity.embedding.static`: ``static``, model2vec distilled from
  the shipped MiniLM once, kept in the cache folder's ``models/``.
- :mod:`~diversity.embedding.tuned_encode`: the faster pipeline around a
  sentence-transformers model that ``minilm`` takes on CUDA.
- :mod:`~diversity.embedding.embedding_cache`: :func:`embed`, which reads
  and extends the on-disk cache, :func:`default_cache_dir` (the one the
  command line uses) and :func:`models_dir`.
- :mod:`~diversity.embedding.progress`: the progress bar (texts/s, ETA) and
  the hint when a CPU run will be long.
- :mod:`~diversity.embedding.cache_store`: the cache's folder layout, its
  shards and its index.
"""

from __future__ import annotations

from diversity.embedding.embedders import (
    BATCH_SIZE,
    DEFAULT_EMBEDDER,
    HASHING_FEATURES,
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    TfidfEmbedder,
    get_embedder,
)
from diversity.embedding.embedding_cache import CACHE_ENV, Embedded, default_cache_dir, distinct, embed, models_dir
from diversity.embedding.static import StaticEmbedder, StaticSettings

__all__ = [
    "BATCH_SIZE",
    "CACHE_ENV",
    "DEFAULT_EMBEDDER",
    "HASHING_FEATURES",
    "Embedded",
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "StaticEmbedder",
    "StaticSettings",
    "TfidfEmbedder",
    "default_cache_dir",
    "distinct",
    "embed",
    "get_embedder",
    "models_dir",
]
