"""The texts the embedder benchmarks measure on, and the MiniLM reference vectors for them.

Data sets (real model outputs, all shipped in data/):

- ``experiment``: the shipped experiment's eval groups
  (data/experiment/seed0/*/rollouts/eval_*.parquet): 3,640 groups of 8 short
  answers (1-11 words) to the synthetic list tasks, 12,209 distinct texts.
- ``nb-tune``: NoveltyBench NB-Curated answers (data/noveltybench/README.md:
  gemini-1.5-pro and gpt-4o under four prompting variants, 10 answers a
  prompt) to the 50 prompts with an even id: 250 groups. Settings are tuned
  on this set only.
- ``nb-heldout``: the same five sources' answers to the other 50 prompts (odd
  ids): 250 groups on prompts the tuning never saw.

MiniLM reference vectors are kept in ``.cache/embed_bench/`` (gitignored) through
the toolkit's embedding cache, so each text is embedded by MiniLM once.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from diversity.embedding import distinct, embed
from diversity.metrics import Groups, kernel_batches
from diversity.metrics.registry import METRICS

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "embed_bench"
DATASETS = ("experiment", "nb-tune", "nb-heldout")
# The figures' embedding metrics; the agreement targets are on the first two.
AGREEMENT_METRICS = ("pairwise_cosine", "vendi_score", "centroid_distance")


@dataclass
class Dataset:
    """Rows laid out group by group; ``meta`` has one row per group (lineage, phase, step, task, ...)."""

    name: str
    texts: list[str]  # (N,) one per rollout, contiguous per group
    groups: Groups
    meta: pl.DataFrame  # (B,) rows

    @property
    def distinct_texts(self) -> list[str]:
        return distinct(self.texts)[0]


def load(name: str) -> Dataset:
    if name == "experiment":
        files = sorted(glob.glob(str(REPO / "data/experiment/seed0/*/rollouts/eval_*.parquet")))
        rows = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
        keys = ["lineage", "phase", "step", "task", "group_id"]
    elif name in ("nb-tune", "nb-heldout"):
        rows = pl.read_parquet(REPO / "data/noveltybench/answers.parquet")
        even = pl.col("id").str.extract(r"(\d+)$").cast(pl.Int64) % 2 == 0
        rows = rows.filter(even if name == "nb-tune" else ~even)
        keys = ["source", "id"]
    else:
        raise ValueError(f"unknown data set {name!r}; choose from {DATASETS}")
    rows = rows.with_row_index("_row").sort([*keys, "_row"])
    meta = rows.group_by(keys, maintain_order=True).agg(pl.len().alias("size"))
    return Dataset(name, rows["response"].to_list(), Groups(meta["size"].to_numpy()), meta)


def reference_vectors(texts: list[str]) -> np.ndarray:
    """MiniLM vectors of ``texts`` (distinct), read from or added to the on-disk cache."""
    return embed(texts, "minilm", cache_dir=CACHE, progress=True).vectors


def group_metrics(vectors, dataset: Dataset, index: np.ndarray, names=AGREEMENT_METRICS) -> dict[str, np.ndarray]:
    """(B,) value per group of each metric, from the vectors of the distinct texts (row ``index[k]`` for text k)."""
    out = {name: np.full(dataset.groups.n_groups, np.nan) for name in names}
    for chosen, kernels in kernel_batches(vectors, dataset.groups, index, min_size=2):
        for name in names:
            out[name][chosen] = METRICS[name].batch_fn(kernels)
    return out
