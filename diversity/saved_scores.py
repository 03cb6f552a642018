"""Saved scores beside logs: a saved score stands for its logs, and one table never mixes two ways of scoring.

:func:`diversity.analysis.analyse` takes saved ``Scores`` files and logs in any
mix. The groups of the logs that a saved file already holds are not scored
again (:func:`not_yet_scored`), a group held by two saved files counts once
(:func:`once_per_group`), and scoring is refused when it would put metrics
made with two embedders or token patterns into one table
(:func:`check_same_settings`, :func:`check_can_join`), with the flag that fixes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from diversity.schema import GROUP_KEYS
from rollout_common.errors import OptionError

log = logging.getLogger("diversity")


def not_yet_scored(rollouts: pl.DataFrame, covered: pl.DataFrame | None) -> pl.DataFrame:
    """The rollouts whose group is not among ``covered`` (the group keys saved Scores hold): a saved score
    stands for its logs, never scored twice."""
    if covered is None or not covered.height or not rollouts.height:
        return rollouts
    fresh = rollouts.join(covered, on=list(GROUP_KEYS), how="anti", nulls_equal=True, maintain_order="left")
    known = rollouts.select(GROUP_KEYS).unique().height - fresh.select(GROUP_KEYS).unique().height
    if known:
        log.info("%d group(s) of the logs are in the saved scores: their saved scores stand, not scored again", known)
    return fresh


def once_per_group(groups: pl.DataFrame) -> pl.DataFrame:
    """A group given twice (in two saved files, or saved and in the logs) is one group: the first row stands."""
    once = groups.unique(subset=list(GROUP_KEYS), keep="first", maintain_order=True)
    if once.height < groups.height:
        log.warning("%d group(s) appear in more than one saved scores file: each is counted once (the first)",
                    groups.height - once.height)
    return once


def check_same_settings(saved: Sequence[tuple[Path, object]]) -> None:
    """Saved scores made with different embedders (or token patterns) cannot share one table."""
    for setting, flag in (("embedder", "--embedder"), ("token_pattern", "--token-pattern")):
        made = {path: part.settings.get(setting) for path, part in saved if part.settings.get(setting) not in (None, "none")}
        if len(set(made.values())) > 1:
            listed = "; ".join(f"{path}: {value}" for path, value in made.items())
            raise OptionError(f"saved scores were made with different {setting.replace('_', ' ')}s ({listed}); "
                              f"their metrics are not comparable in one table: re-score the logs of all of them "
                              f"with one {flag}, or report them separately")


def check_can_join(saved: Sequence[tuple[Path, object]], metrics, embedder, batch_size, token_pattern,
                   cache_dir=None) -> None:
    """Scoring new logs beside saved scores must use the saved scores' embedder and token pattern."""
    from diversity.embedding import get_embedder
    from diversity.metrics import TOKEN_PATTERN
    from diversity.metrics.registry import resolve

    kinds = {spec.kind for spec in resolve(metrics)}
    ours = {"embedder": get_embedder(embedder, batch_size, cache_dir=cache_dir).id if "embedding" in kinds else None,
            "token_pattern": (token_pattern or TOKEN_PATTERN) if "lexical" in kinds else None}
    for path, part in saved:
        for setting, value in ours.items():
            theirs = part.settings.get(setting)
            if value is None or theirs in (None, "none") or theirs == value:
                continue
            fix = (f"--embedder {_embedder_name(theirs)}" if setting == "embedder" else f"--token-pattern '{theirs}'")
            raise OptionError(
                f"{path} was scored with {setting.replace('_', ' ')} {theirs}, the other logs would be scored with "
                f"{value}: one table would mix the two. Pass {fix} to score them as the saved file was, or drop "
                f"{path} and score every log again")


def _embedder_name(embedder_id: str) -> str:
    """The --embedder value that gives ``embedder_id`` (``minilm:...`` → minilm), and where: MiniLM's vectors
    are float16 on a CUDA GPU (the id ends in ``:fp16``) and float32 on the CPU."""
    kind, _, rest = embedder_id.partition(":")
    name = rest if kind == "sentence-transformers" else kind
    if kind not in ("minilm", "sentence-transformers"):
        return name
    fp16 = embedder_id.endswith(":fp16")
    return f"{name.removesuffix(':fp16')} on {'a CUDA GPU' if fp16 else 'the CPU'}"
