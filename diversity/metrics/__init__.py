"""Intra-prompt diversity metrics: per-group functions and their batched forms.

Definitions, defaults and sources are in SPEC.md §1; each formula is cited
next to the line that implements it. One module per family:

- :mod:`~diversity.metrics.text_engine`: :class:`Groups`, :class:`Corpus`
  (N texts laid out as B contiguous groups, each distinct text tokenised once
  into exact integer ids), the tokenisation rule, :func:`tokenize`, and the
  form responses are compared in for duplicates, :func:`normalise`; beneath
  it :mod:`~diversity.metrics.vocabulary` (token ids from bytes) and
  :mod:`~diversity.metrics.sorted_rows` (row-wise sorts of id rows).
- :mod:`~diversity.metrics.lexical`: metrics that read the texts of a group;
  their batched forms take a :class:`Corpus`.
- :mod:`~diversity.metrics.kernels`: cosine kernels of sentence embeddings;
  :func:`kernel_batches` yields batches of kernels, shape (B, G, G), one per
  group of size G.
- :mod:`~diversity.metrics.embedding`, :mod:`~diversity.metrics.vendi`,
  :mod:`~diversity.metrics.clusters`: metrics that read embeddings; their
  batched forms take a batch of kernels.
- :mod:`~diversity.metrics.bleu`: self-BLEU (sacrebleu's sentence BLEU
  against the rest of the group); its batched form takes a :class:`Corpus`.
- :mod:`~diversity.metrics.correctness`: metrics that read which responses
  are correct or their rewards: pass@k, distinct correct answers, Vendi over
  the correct ones, dead groups (reward_zero_std).
- :mod:`~diversity.metrics.validation`: the argument checks.
- :mod:`~diversity.metrics.registry`: every metric with its direction, range
  and both forms.

Every batched form is named ``<metric>_batch`` and returns one value per
group. Every per-group function runs the batched form on a single group, so
the two can never drift apart; the tests check both against plain loops.
"""

from __future__ import annotations

from diversity.metrics.bleu import BLEU_ORDER, self_bleu, self_bleu_batch
from diversity.metrics.clusters import (
    CLUSTER_THRESHOLD,
    cluster_entropy,
    cluster_entropy_batch,
    cluster_sizes_batch,
    semantic_clusters,
    semantic_clusters_batch,
)
from diversity.metrics.correctness import (
    REWARD_ATOL,
    distinct_correct,
    distinct_correct_batch,
    pass_at_1,
    pass_at_1_batch,
    pass_at_k,
    pass_at_k_batch,
    pass_at_k_counts,
    reward_zero_std,
    reward_zero_std_batch,
    vendi_score_correct,
    vendi_score_correct_batch,
)
from diversity.metrics.embedding import (
    centroid_distance,
    centroid_distance_batch,
    pairwise_cosine,
    pairwise_cosine_batch,
)
from diversity.metrics.kernels import cosine_kernel, kernel_batches, unit_rows
from diversity.metrics.lexical import (
    DISTINCT_N,
    JACCARD_N,
    NGRAM_VENDI_NS,
    REPETITION_N,
    compression_ratio,
    compression_ratio_batch,
    distinct_n,
    distinct_n_batch,
    duplicate_fraction,
    duplicate_fraction_batch,
    jaccard_overlap,
    jaccard_overlap_batch,
    ngram_vendi,
    ngram_vendi_batch,
    repetition_fraction,
    repetition_fraction_batch,
)
from diversity.metrics.text_engine import TOKEN_PATTERN, Corpus, Groups, normalise, tokenize
from diversity.metrics.vendi import EIGEN_RTOL, VENDI_Q, kernel_spectrum, renyi_entropy, vendi_score, vendi_score_batch

__all__ = [
    "BLEU_ORDER",
    "CLUSTER_THRESHOLD",
    "DISTINCT_N",
    "EIGEN_RTOL",
    "JACCARD_N",
    "NGRAM_VENDI_NS",
    "REPETITION_N",
    "REWARD_ATOL",
    "TOKEN_PATTERN",
    "VENDI_Q",
    "Corpus",
    "Groups",
    "centroid_distance",
    "centroid_distance_batch",
    "cluster_entropy",
    "cluster_entropy_batch",
    "cluster_sizes_batch",
    "compression_ratio",
    "compression_ratio_batch",
    "cosine_kernel",
    "distinct_correct",
    "distinct_correct_batch",
    "distinct_n",
    "distinct_n_batch",
    "duplicate_fraction",
    "duplicate_fraction_batch",
    "jaccard_overlap",
    "jaccard_overlap_batch",
    "kernel_batches",
    "kernel_spectrum",
    "ngram_vendi",
    "ngram_vendi_batch",
    "normalise",
    "pairwise_cosine",
    "pass_at_1",
    "pass_at_1_batch",
    "pass_at_k",
    "pass_at_k_batch",
    "pass_at_k_counts",
    "pairwise_cosine_batch",
    "renyi_entropy",
    "repetition_fraction",
    "repetition_fraction_batch",
    "reward_zero_std",
    "reward_zero_std_batch",
    "self_bleu",
    "self_bleu_batch",
    "semantic_clusters",
    "semantic_clusters_batch",
    "tokenize",
    "unit_rows",
    "vendi_score",
    "vendi_score_batch",
    "vendi_score_correct",
    "vendi_score_correct_batch",
]
