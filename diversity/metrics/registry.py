"""The one registry of diversity metrics: what each measures, its direction, range and inputs.

``score``, the CLI, the report, the plots and the docs all read :data:`METRICS`;
the invariant tests run once per entry. Adding a metric means adding its
functions to the module of its family in :mod:`diversity.metrics` and one
:class:`MetricSpec` here.

Each entry holds the per-group function (one group's texts or embeddings) and
the batched function: for ``kind="lexical"`` it takes a
:class:`diversity.metrics.Corpus`, for ``kind="embedding"`` a batch of cosine
kernels (B, G, G), for ``kind="outcome"`` only the group layout
(:class:`diversity.metrics.Groups`); all return one value per group.

A metric that reads more than the texts (pass@k reads which responses are
correct, reward_zero_std their rewards) names those inputs in ``needs``; both
forms take them after the kind's own input, in that order. ``score`` skips
such a metric, with one line saying why, when the log does not hold them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from diversity import metrics as m
from rollout_common.errors import OptionError


@dataclass(frozen=True)
class MetricSpec:
    """One metric and everything a caller needs to know to read it."""

    name: str
    """Column name in ``Scores.groups`` (and ``<name>_mean`` / ``_se`` / ``_count`` in the summary)."""
    description: str
    """One sentence: what is computed, per group."""
    higher_is_more_diverse: bool
    """True when a larger value means a more varied group; for a metric of outcomes (``higher_means`` set),
    when a larger value is the healthy end (more solved, not more dead groups)."""
    range: tuple[float | str, float | str]
    """Lowest and highest possible value; ``"G"`` stands for the group size, ``"log G"`` for its log."""
    kind: str
    """``"lexical"`` (reads texts), ``"embedding"`` (reads sentence embeddings) or ``"outcome"`` (reads only
    the inputs in ``needs``)."""
    group_fn: Callable
    """Per-group form: ``fn(texts, *needs)`` for lexical metrics, ``fn(embeddings, *needs)`` for embedding
    metrics, ``fn(*needs)`` for outcome metrics."""
    batch_fn: Callable[..., np.ndarray]
    """Batched form: ``fn(corpus, *needs)``, ``fn(kernels (B, G, G), *needs)`` or ``fn(groups, *needs)`` →
    (B,) values; each input in ``needs`` is (N,), group after group, or (B, G) beside kernels."""
    min_group_size: int = 1
    """Smaller groups have no value (null in ``Scores``): pairwise metrics need two responses."""
    default: bool = True
    """Computed when ``score(metrics=None)``."""
    source: str = ""
    """Where the definition comes from."""
    needs: tuple[str, ...] = ()
    """Per-response inputs beyond texts or embeddings, from ``NEEDS``: ``"correct"`` (one boolean each, see
    :mod:`diversity.outcomes`) and ``"reward"`` (one float each)."""
    parameters: tuple[str, ...] = ()
    """Keyword arguments of both forms that ``score`` sets from its own (pass_at_k's ``k``)."""
    higher_means: str = ""
    """What a larger value means when the metric measures outcomes, not diversity; empty for diversity metrics."""
    without_tokens: str = ""
    """Lexical metrics: what a response with no token under the pattern (emoji, punctuation, operators only)
    contributes; every such case has a defined value."""

    @property
    def needs_embeddings(self) -> bool:
        return self.kind == "embedding"

    @property
    def measures_diversity(self) -> bool:
        return not self.higher_means

    @property
    def direction(self) -> str:
        if self.higher_means:
            return f"higher = {self.higher_means}"
        return "higher = more diverse" if self.higher_is_more_diverse else "higher = less diverse"

    @property
    def axis_label(self) -> str:
        return f"{self.name.replace('_', ' ')} ({self.direction})"

    def bounds(self, group_size: int) -> tuple[float, float]:
        """The numeric range for groups of ``group_size`` responses."""
        return _resolve(self.range[0], group_size), _resolve(self.range[1], group_size)


KINDS = ("lexical", "embedding", "outcome")
NEEDS = ("correct", "reward")


def _resolve(value: float | str, group_size: int) -> float:
    if value == "G":
        return float(group_size)
    if value == "log G":
        return float(np.log(group_size))
    return float(value)


_SPECS = (
    MetricSpec(
        "repetition_fraction",
        f"Mean over responses of 1 - distinct {m.REPETITION_N}-grams / {m.REPETITION_N}-grams "
        f"(seq-rep-{m.REPETITION_N}; 0 for a response shorter than {m.REPETITION_N} tokens).",
        False, (0.0, 1.0), "lexical", m.repetition_fraction, m.repetition_fraction_batch,
        source="Welleck et al. 2019, facebookresearch/unlikelihood_training custom/metrics.py",
        without_tokens="0, as any response shorter than n: it repeats nothing",
    ),
    MetricSpec(
        "duplicate_fraction",
        "1 - distinct responses / G, responses compared case-folded with whitespace runs collapsed and trimmed "
        "(any other difference makes two responses distinct).",
        False, (0.0, 1.0), "lexical", m.duplicate_fraction, m.duplicate_fraction_batch,
        source="SPEC.md §1",
        without_tokens="compared by its normalised text like any response: tokens play no part",
    ),
    MetricSpec(
        "jaccard_overlap",
        f"Mean over pairs of responses of the Jaccard similarity of their {m.JACCARD_N}-gram sets.",
        False, (0.0, 1.0), "lexical", m.jaccard_overlap, m.jaccard_overlap_batch, min_group_size=2,
        source="SPEC.md §1",
        without_tokens="an empty n-gram set: J(∅, ∅) = 1 with another such response, 0 with a response that has n-grams",
    ),
    MetricSpec(
        "distinct_n",
        f"Distinct {m.DISTINCT_N}-grams / {m.DISTINCT_N}-grams over the whole group.",
        True, (0.0, 1.0), "lexical", m.distinct_n, m.distinct_n_batch,
        source="Li et al. 2016; cshaib/diversity",
        without_tokens="adds no n-gram; a group with no n-gram at all scores 1 (nothing repeated)",
    ),
    MetricSpec(
        "compression_ratio",
        "Bytes of the group's responses / bytes after gzip; redundant groups compress more.",
        False, (0.0, float("inf")), "lexical", m.compression_ratio, m.compression_ratio_batch,
        source="cshaib/diversity",
        without_tokens="counted by its UTF-8 bytes like any response: tokens play no part",
    ),
    MetricSpec(
        "pairwise_cosine",
        "Mean cosine similarity of the response embeddings over all pairs.",
        False, (-1.0, 1.0), "embedding", m.pairwise_cosine, m.pairwise_cosine_batch, min_group_size=2,
        source="SPEC.md §1",
    ),
    MetricSpec(
        "centroid_distance",
        "Mean cosine distance of each response embedding to the group's mean embedding.",
        True, (0.0, 1.0), "embedding", m.centroid_distance, m.centroid_distance_batch,
        source="SPEC.md §1",
    ),
    MetricSpec(
        "vendi_score",
        "Vendi score (q = 1): the effective number of distinct answers, exp of the entropy of "
        "the eigenvalues of the cosine kernel / G.",
        True, (1.0, "G"), "embedding", m.vendi_score, m.vendi_score_batch,
        source="Friedman & Dieng 2023; vertaix/Vendi-Score",
    ),
    MetricSpec(
        "semantic_clusters",
        f"Number of clusters when responses with embedding cosine >= {m.CLUSTER_THRESHOLD} are linked.",
        True, (1.0, "G"), "embedding", m.semantic_clusters, m.semantic_clusters_batch,
        source="NoveltyBench src/partition.py (union-find instead of greedy)",
    ),
    MetricSpec(
        "cluster_entropy",
        "Entropy (nats) of the sizes of the semantic clusters.",
        True, (0.0, "log G"), "embedding", m.cluster_entropy, m.cluster_entropy_batch, default=False,
        source="SPEC.md §1 further metrics",
    ),
    MetricSpec(
        "ngram_vendi",
        "Vendi score of the responses' unigram + bigram count vectors under the cosine kernel.",
        True, (1.0, "G"), "lexical", m.ngram_vendi, m.ngram_vendi_batch, default=False,
        source="vertaix/Vendi-Score text_utils.ngram_vendi_score",
        without_tokens="a zero count vector: identical to every other zero vector, orthogonal to the rest "
                       "(diversity.metrics.kernels), so all such responses count as one answer",
    ),
    MetricSpec(
        "self_bleu",
        "Mean over responses of sacrebleu's sentence BLEU (0-100) of the response against the group's other "
        "responses; its cost grows with G squared, so it is not computed by default.",
        False, (0.0, 100.0), "lexical", m.self_bleu, m.self_bleu_batch, min_group_size=2, default=False,
        without_tokens="sacrebleu's 13a tokens, where punctuation and symbols are tokens; an empty response scores 0",
        source="Zhu et al. 2018 (Texygen); sacrebleu sentence_bleu",
    ),
    MetricSpec(
        "pass_at_1",
        "pass@1: the fraction of the group's responses that are correct.",
        True, (0.0, 1.0), "outcome", m.pass_at_1, m.pass_at_1_batch, needs=("correct",),
        higher_means="more often correct", source="Chen et al. 2021 (HumanEval)",
    ),
    MetricSpec(
        "pass_at_k",
        "Unbiased pass@k = 1 - C(G - c, k) / C(G, k) for c correct responses of G (1 when G - c < k), "
        "k = the group size unless set (--pass-k); the bootstrap best@k some frameworks log, "
        "1 - (1 - c/G)^k, is biased low.",
        True, (0.0, 1.0), "outcome", m.pass_at_k, m.pass_at_k_batch, needs=("correct",), parameters=("k",),
        higher_means="more prompts solved within k tries", source="Chen et al. 2021 (HumanEval) eq. 1; verl PR #7240",
    ),
    MetricSpec(
        "distinct_correct",
        "Number of distinct answers among the correct responses (distinct as duplicate_fraction counts them); "
        "0 when none is correct.",
        True, (0.0, "G"), "lexical", m.distinct_correct, m.distinct_correct_batch, needs=("correct",),
        without_tokens="compared by normalised text, as duplicate_fraction: two different token-less answers are distinct",
        source="SPEC.md §1 (arXiv 2604.16027)",
    ),
    MetricSpec(
        "vendi_score_correct",
        "Vendi score (q = 1) of the correct responses only: the effective number of distinct correct answers; "
        "undefined (null) when none is correct.",
        True, (1.0, "G"), "embedding", m.vendi_score_correct, m.vendi_score_correct_batch, needs=("correct",),
        source="SPEC.md §1 (arXiv 2604.16027); Friedman & Dieng 2023",
    ),
    MetricSpec(
        "reward_zero_std",
        "1 when all rewards of the group are equal, so GRPO's advantage is 0 for every response, else 0; "
        "its step mean is the fraction of dead groups.",
        False, (0.0, 1.0), "outcome", m.reward_zero_std, m.reward_zero_std_batch, needs=("reward",),
        higher_means="more dead groups (no learning signal)", source="TRL frac_reward_zero_std",
    ),
)

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}
DEFAULT_METRICS: tuple[str, ...] = tuple(name for name, spec in METRICS.items() if spec.default)


def resolve(names=None) -> list[MetricSpec]:
    """The specs for ``names`` (registry order, duplicates dropped); None means the defaults."""
    if names is None:
        names = DEFAULT_METRICS
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise OptionError(f"unknown metric(s) {', '.join(map(repr, unknown))}; choose from {', '.join(METRICS)}")
    if not names:
        raise OptionError(f"no metrics chosen; choose from {', '.join(METRICS)}")
    return [spec for name, spec in METRICS.items() if name in names]
