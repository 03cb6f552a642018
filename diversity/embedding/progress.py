"""The embedding progress bar: texts/s and an ETA, and one line of advice when a CPU run will be long.

The bar (tqdm) counts the distinct texts the cache lacks, with the rate in
texts/s and the time left. Texts are embedded in chunks
(:mod:`~diversity.embedding.embedding_cache`); the first chunk includes
loading the model, so the rate used for advice is the one measured from the
end of the first chunk to the end of the second. If the embedder is a neural
model running on the CPU and the texts left would take longer than
:data:`ETA_HINT_SECONDS` at that rate, one line names the faster options with
their expected times (:func:`slow_cpu_hint`), in one line, e.g. ``embedding
600,000 texts with minilm on CPU will take ~1.7 h; --embedder static would
take ~20 s, a CUDA GPU ~2 min (benchmarks/EMBEDDERS.md)``.

It is written above the bar when the bar is shown, else logged (INFO).
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("diversity")

ETA_HINT_SECONDS = 600
"""A CPU embedding run expected to last longer than this gets one line suggesting the faster options."""
STATIC_SPEEDUP = 80
"""Static texts/s over MiniLM's on the same CPU, the lowest measured (x83 on answers of a few words; x257 on
paragraphs: benchmarks/EMBEDDERS.md), rounded down, so the expected time errs long."""
GPU_TEXTS_PER_S = 5000
"""MiniLM through plain encode in float16 on one H200 at ~60 words (SPEC.md §5); the tuned path is not measured."""


def slow_cpu_hint(remaining: int, texts_per_s: float, embedder: str = "minilm") -> str | None:
    """One line naming the static embedder and a GPU with their expected times, when the CPU ETA is long; else None."""
    if texts_per_s <= 0 or remaining / texts_per_s <= ETA_HINT_SECONDS:
        return None
    return (f"embedding {remaining:,} texts with {embedder} on CPU will take ~{duration(remaining / texts_per_s)}; "
            f"--embedder static would take ~{duration(remaining / (texts_per_s * STATIC_SPEEDUP))}, "
            f"a CUDA GPU ~{duration(remaining / GPU_TEXTS_PER_S)} (benchmarks/EMBEDDERS.md)")


def duration(seconds: float) -> str:
    """``20 s``, ``2 min``, ``1.7 h``."""
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class EmbeddingProgress:
    """The bar over ``total`` texts; :meth:`update` after each chunk; a context manager that closes the bar.

    ``slow_on_cpu``: called after the first chunk (the model is loaded by then), True when the embedder is a
    neural model on the CPU, whose long runs get the hint.
    """

    def __init__(self, total: int, embedder_name: str, slow_on_cpu, enabled: bool, clock=time.monotonic):
        from tqdm.auto import tqdm

        self.total, self.name, self.enabled = total, embedder_name, enabled
        self._slow_on_cpu, self._clock = slow_on_cpu, clock
        self.bar = tqdm(total=total, desc="embedding", unit="texts", disable=not enabled, leave=False)
        self._chunks, self._first_end, self._first_done = 0, 0.0, 0
        self.hint: str | None = None

    def __enter__(self) -> EmbeddingProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def update(self, done: int, texts: int) -> None:
        """``texts`` more embedded, ``done`` in all so far."""
        self.bar.update(texts)
        self._chunks += 1
        now = self._clock()
        if self._chunks == 1:
            self._first_end, self._first_done = now, done
        elif self._chunks == 2 and self._slow_on_cpu():
            rate = (done - self._first_done) / max(now - self._first_end, 1e-9)
            self.hint = slow_cpu_hint(self.total - done, rate, self.name)
            if self.hint and self.enabled:
                self.bar.write(self.hint, file=sys.stderr)
            elif self.hint:
                log.info("%s", self.hint)
