"""A faster pipeline around a sentence-transformers model, for large logs (and GPUs).

Plain ``SentenceTransformer.encode`` on an H200 reached ~5,000 texts/s at ~60
words (SPEC.md §5), far below what the GPU allows for a 22M-parameter encoder:
tokenisation, padding and host copies run in series with the model. Here:

- texts are sorted by length and cut into batches of about ``batch_tokens``
  padded tokens each (so short texts come in large batches and a batch's
  padding is small); padded lengths are rounded up to a multiple of 8;
- a worker thread tokenises the next batches while the model runs on the
  current one (the fast tokenizer releases the GIL), ``prefetch`` ahead;
- on CUDA the token tensors are pinned and copied with ``non_blocking=True``,
  the model runs in float16 (its weights cast once), and vectors are copied
  back in float32 after each batch;
- pooling and normalisation are the model's own modules (``model(features)``),
  so the vectors match ``encode``'s up to float16 rounding.

On CPU the same pipeline runs in float32, vectors within 1e-5 of ``encode``'s
(the equivalence test runs there): measured on this 2-core CPU, as fast as
``encode(batch_size=64)`` on paragraphs and 1.0-2.3x as fast on answers of a
few words, whose batches hold more texts (benchmarks/EMBEDDERS.md).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence

import numpy as np

BATCH_TOKENS = 1 << 16
"""Padded tokens per batch on CUDA (a 22M-parameter MiniLM in float16 holds far more; raise it on large GPUs)."""
TOKENS_PER_TEXT = 128
"""On CPU a batch holds batch_size x this many padded tokens: 64 texts of 128 tokens by default."""
CPU_BATCH_TOKENS = 64 * TOKENS_PER_TEXT
MAX_BATCH = 8192
PAD_MULTIPLE = 8


def length_batches(lengths: Sequence[int], batch_tokens: int, max_batch: int = MAX_BATCH) -> list[np.ndarray]:
    """Indices of the texts, longest first, cut so each batch's padded size (rows x longest) is <= batch_tokens."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, at = [], 0
    while at < len(order):
        longest = max(1, -(-int(lengths[order[at]]) // PAD_MULTIPLE) * PAD_MULTIPLE)
        rows = max(1, min(max_batch, batch_tokens // longest))
        batches.append(order[at:at + rows])
        at += rows
    return batches


def tuned_encode(model, texts: Sequence[str], *, batch_tokens: int | None = None, fp16: bool | None = None,
                 prefetch: int = 3) -> np.ndarray:
    """(len(texts), d) float32 sentence embeddings of ``model`` (a SentenceTransformer), in the order given."""
    import torch

    device = model.device
    cuda = device.type == "cuda"
    fp16 = cuda if fp16 is None else fp16
    batch_tokens = batch_tokens or (BATCH_TOKENS if cuda else CPU_BATCH_TOKENS)
    max_tokens = model.get_max_seq_length() or 512
    # Character length orders texts by token length closely enough, without tokenising twice.
    batches = length_batches([min(len(t) // 3 + 2, max_tokens) for t in texts], batch_tokens)
    if fp16 and next(model.parameters()).dtype != torch.float16:
        model.half()
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension  # ST >= 6 renamed it
    out = np.zeros((len(texts), dimension()), dtype=np.float32)
    with torch.inference_mode():
        for rows, features in _prefetched(model, texts, batches, cuda, prefetch):
            features = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in features.items()}
            out[rows] = model(features)["sentence_embedding"].float().cpu().numpy()
    return out


def _prefetched(model, texts, batches, pin: bool, depth: int) -> Iterator[tuple[np.ndarray, dict]]:
    """(rows, tokenised features) per batch, produced by a worker thread ``depth`` batches ahead."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        """Wait for a free slot unless the consumer has gone; False when it has."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for rows in batches:
                features = model.preprocess([texts[i] for i in rows])
                if pin:
                    features = {k: v.pin_memory() if hasattr(v, "pin_memory") else v for k, v in features.items()}
                if not put((rows, features)):
                    return
            put(None)
        except BaseException as error:  # surfaced in the consumer, not lost in the thread
            put(error)

    worker = threading.Thread(target=produce, name="tokenise", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
