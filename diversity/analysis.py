"""From inputs to tables: read runs, logs and saved scores, score the logs, derive what is shown.

compute (here) → figures (:mod:`diversity.plots`) → page (:mod:`diversity.report`).

- :func:`analyse`: trainer run directories, rollout logs and saved ``Scores``
  in any mix → an :class:`Analysis` (rollouts, scores, per-step entropy, eval
  reward, fork parents).
- :func:`read_run`: what a run directory adds beyond its rollouts (its config
  and training metrics), read through ``rollout_common.run_directory``.
- :func:`entropy_table`, :func:`eval_reward_table`, :func:`pass_at_k_table`: the tidy tables the figures draw.
- :func:`headline`: per lineage and phase, entropy, reward per task and each
  diversity metric at the phase's first and last step, with the change, and
  a collapse flag.
- :func:`most_collapsed_prompts`: the prompts whose groups are least diverse at
  the last step, with every lineage's answers to the same prompt at that step.

Everything but :func:`analyse` and :func:`read_run` is a pure function on tidy frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from diversity.load import LoadOptions, LoadResult, read_rollouts
from diversity.saved_scores import check_can_join, check_same_settings, not_yet_scored, once_per_group
from rollout_common.errors import InputError
from rollout_common.run_directory import RunConfig, RunPaths, is_run_directory, read_config, read_jsonl

# ---------------------------------------------------------------- inputs


@dataclass
class RunInfo:
    """What a trainer run directory adds beyond its rollouts."""

    config: RunConfig
    metrics: pl.DataFrame  # per training step: at least step and entropy

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def lineage(self) -> str:
        return self.config.lineage

    @property
    def phase(self) -> str:
        return self.config.phase


def read_run(path: str | Path) -> RunInfo:
    """A run's config and per-step training metrics (``metrics.jsonl``)."""
    paths = RunPaths(path)
    rows = read_jsonl(paths.metrics)
    try:
        metrics = pl.DataFrame(rows, infer_schema_length=None)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as error:
        raise InputError(paths.metrics, f"cannot read training metrics ({str(error).splitlines()[0]})") from None
    return RunInfo(read_config(path), metrics)


def is_scores_file(path: Path) -> bool:
    if path.suffix != ".parquet" or not path.is_file():
        return False
    from diversity.scoring import Scores

    return Scores.is_scores_file(path)


def parent_lineages(runs: Sequence[RunInfo]) -> dict[str, str]:
    """child lineage → parent lineage, for forks the trainer recorded (--init-from). A parent's
    lineage comes from the child's record, else from the parent's run among ``runs``."""
    by_dir = {run.name: run.lineage for run in runs}
    parents = {}
    for run in runs:
        parent_dir = run.config.parent
        if not parent_dir:
            continue
        parent_lineage = run.config.parent_lineage or by_dir.get(Path(str(parent_dir)).name)
        if parent_lineage and parent_lineage != run.lineage:
            parents[run.lineage] = str(parent_lineage)
    return parents


# ---------------------------------------------------------------- tables for the figures


def entropy_table(runs: Sequence[RunInfo], rollouts: pl.DataFrame) -> pl.DataFrame:
    """Token-mean entropy per (lineage, phase, step): the trainer's own log where there is one,
    else the mean of per-response entropies of training rollouts."""
    parts = []
    covered = set()
    for run in runs:
        if run.metrics.is_empty() or not {"step", "entropy"} <= set(run.metrics.columns):
            continue
        parts.append(run.metrics.select(
            pl.lit(run.lineage).alias("lineage"), pl.lit(run.phase).alias("phase"),
            pl.col("step").cast(pl.Int64), pl.col("entropy").cast(pl.Float64),
        ))
        covered.add((run.lineage, run.phase))
    if rollouts.height:
        from_rollouts = (
            rollouts.filter(pl.col("split") == "train")
            .drop_nulls("entropy")
            .group_by("lineage", "phase", "step", *_seed_key(rollouts))
            .agg(pl.col("entropy").mean())
        )
        logged = [{"lineage": lineage, "phase": phase} for lineage, phase in covered]
        keep = ~pl.struct("lineage", "phase").is_in(logged) if covered else pl.lit(True)
        parts.append(from_rollouts.filter(keep).select("lineage", "phase", "step", "entropy"))
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema={"lineage": pl.String, "phase": pl.String, "step": pl.Int64, "entropy": pl.Float64})
    return pl.concat(parts).sort("lineage", "step")


def eval_reward_table(rollouts: pl.DataFrame) -> pl.DataFrame:
    """Mean eval reward per (lineage, phase, step, task), and per seed when the logs have one."""
    evals = rollouts.filter((pl.col("split") == "eval") & pl.col("reward").is_not_null())
    return (
        evals.with_columns(pl.col("task").fill_null("-"))
        .group_by("lineage", "phase", "step", "task", *_seed_key(evals))
        .agg(pl.col("reward").mean())
        .sort("lineage", "step", "task")
    )


def pass_at_k_table(groups: pl.DataFrame) -> pl.DataFrame:
    """Mean unbiased pass@k per (lineage, phase, step, split, task) for k = 1 .. G, from a Scores groups
    table (``group_size``, ``n_correct``); G is the step's smallest group size. Empty when no group says
    how many of its responses were correct."""
    from diversity.metrics import pass_at_k_counts

    keys = ["lineage", "phase", "step", "split", "task"]
    schema = {**{k: pl.Int64 if k == "step" else pl.String for k in keys}, "k": pl.Int64, "pass_at_k": pl.Float64}
    if "n_correct" not in groups.columns:
        return pl.DataFrame(schema=schema)
    known = groups.drop_nulls("n_correct").with_columns(
        task=pl.col("task").fill_null("-") if "task" in groups.columns else pl.lit("-"))
    known = known.with_columns(largest_k=pl.col("group_size").min().over(keys)).with_columns(
        k=pl.int_ranges(1, pl.col("largest_k") + 1)).explode("k")
    values = pass_at_k_counts(known["group_size"].to_numpy(), known["n_correct"].to_numpy(),
                              known["k"].to_numpy()) if known.height else []
    table = known.with_columns(pass_at_k=pl.Series(values, dtype=pl.Float64))
    return table.group_by(*keys, "k").agg(pl.col("pass_at_k").mean()).sort(*keys, "k").select(list(schema))


def _seed_key(frame: pl.DataFrame) -> list[str]:
    """Keep runs of one lineage with different seeds apart, so figures can show their spread."""
    return ["seed"] if "seed" in frame.columns else []


# ---------------------------------------------------------------- analyse


@dataclass
class Analysis:
    """Everything computed from the inputs, before any drawing."""

    loaded: LoadResult | None
    saved: list[Path]
    runs: list[RunInfo]
    rollouts: pl.DataFrame
    scores: object  # diversity.scoring.Scores
    entropy: pl.DataFrame
    evals: pl.DataFrame
    parents: dict[str, str]
    metric_names: list[str]
    embedder: str
    pass_at_k: pl.DataFrame  # pass_at_k_table of the scored groups; empty when correctness is unknown


def analyse(
    sources: str | Path | Sequence[str | Path],
    *,
    load_options: LoadOptions | None = None,
    metrics: Sequence[str] | None = None,
    embedder: str = "minilm",
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    token_pattern: str | None = None,
    score_splits: Sequence[str] | None = None,
    score_logs: bool = True,
    progress: bool = True,
    correct_threshold: float | None = None,
    pass_k: int | None = None,
) -> Analysis:
    """Read run directories, rollout logs and saved scores; score the logs.

    ``load_options`` says how to read the logs (default: ``LoadOptions()``).
    ``score_splits`` limits scoring to those splits (e.g. ``("eval",)`` for a
    long run's eval groups); every split still feeds entropy and reward.
    ``score_logs=False`` scores nothing: the saved scores among ``sources``
    stand for the logs (their entropy, rewards and answers are still read).
    Either way a group a saved file holds keeps its saved score and counts
    once, and scoring the other logs with another embedder or token pattern
    than the saved scores' is an OptionError (:mod:`diversity.saved_scores`).
    ``correct_threshold`` and ``pass_k`` go to :func:`diversity.score` (what
    counts as correct, and pass_at_k's k)."""
    from diversity.metrics.registry import METRICS
    from diversity.scoring import Scores, score

    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    runs = [read_run(s) for s in sources if is_run_directory(s)]
    saved = [Path(s) for s in sources if is_scores_file(Path(s))]
    logs = [s for s in sources if Path(s) not in saved]

    loaded = read_rollouts(logs, load_options or LoadOptions()) if logs else None
    rollouts = loaded.frame if loaded is not None else pl.DataFrame()
    score_parts = [Scores.read_parquet(p) for p in saved]
    check_same_settings(list(zip(saved, score_parts)))
    if loaded is not None and score_logs:
        options = {"token_pattern": token_pattern} if token_pattern is not None else {}
        scored = rollouts if score_splits is None else rollouts.filter(pl.col("split").is_in(list(score_splits)))
        scored = not_yet_scored(scored, score_parts)
        if scored.height:
            check_can_join(list(zip(saved, score_parts)), metrics, embedder, batch_size, token_pattern)
            score_parts.append(score(scored, metrics=metrics, embedder=embedder, batch_size=batch_size,
                                     cache_dir=cache_dir, progress=progress, correct_threshold=correct_threshold,
                                     pass_k=pass_k, **options))
    scores = once_per_group(Scores.concat(score_parts))
    return Analysis(
        loaded=loaded,
        saved=saved,
        runs=runs,
        rollouts=rollouts,
        scores=scores,
        entropy=entropy_table(runs, rollouts),
        evals=eval_reward_table(rollouts) if rollouts.height else pl.DataFrame(),
        parents=parent_lineages(runs),
        metric_names=[m for m in METRICS if f"{m}_mean" in scores.summary.columns],
        embedder=embedder,
        pass_at_k=pass_at_k_table(scores.groups),
    )


# ---------------------------------------------------------------- tables for the report


# Entropy falling below this fraction of its phase-start value is flagged as collapse.
COLLAPSE_RATIO = 0.5


def first_last(frame: pl.DataFrame, value: str, keys: Sequence[str] = ("lineage", "phase")) -> pl.DataFrame:
    """Per ``keys``: the step-mean of ``value`` at the first and at the last step present."""
    per_step = frame.drop_nulls(value).group_by(*keys, "step").agg(pl.col(value).mean()).sort(*keys, "step")
    return per_step.group_by(*keys, maintain_order=True).agg(
        pl.col("step").first().alias("first_step"),
        pl.col("step").last().alias("last_step"),
        pl.col(value).first().alias("start"),
        pl.col(value).last().alias("end"),
    )


def headline(
    entropy: pl.DataFrame,
    evals: pl.DataFrame,
    summary: pl.DataFrame,
    metrics: Sequence[str],
) -> pl.DataFrame:
    """One row per (lineage, phase, quantity): start, end, change, and a collapse flag.

    ``entropy``: (lineage, phase, step, entropy); ``evals``: (lineage, phase, step,
    task, reward); ``summary``: a Scores summary with ``<metric>_mean`` columns.
    Diversity is read from eval groups when a phase has them, else train groups.
    """
    parts = []
    if not entropy.is_empty():
        ent = first_last(entropy, "entropy").with_columns(quantity=pl.lit("entropy (nats)"))
        parts.append(ent.with_columns(collapsed=pl.col("end") < COLLAPSE_RATIO * pl.col("start")))
    if not evals.is_empty():
        rew = first_last(evals, "reward", ("lineage", "phase", "task"))
        parts.append(
            rew.with_columns(quantity=pl.format("task {} eval reward", pl.col("task")), collapsed=pl.lit(False))
            .drop("task")
        )
    if not summary.is_empty():
        preferred = _preferred_split(summary)
        for metric in metrics:
            column = f"{metric}_mean"
            if column not in summary.columns:
                continue
            part = first_last(preferred.rename({column: "value"}), "value")
            parts.append(part.with_columns(quantity=pl.lit(metric), collapsed=pl.lit(False)))
    if not parts:
        return pl.DataFrame()
    table = pl.concat([p.select("lineage", "phase", "quantity", "first_step", "last_step", "start", "end", "collapsed")
                       for p in parts], how="vertical_relaxed")
    return table.with_columns(change=pl.col("end") - pl.col("start")).sort("lineage", "phase", maintain_order=True)


def _preferred_split(summary: pl.DataFrame) -> pl.DataFrame:
    """Per (lineage, phase), eval rows when there are any, else train rows."""
    has_eval = summary.group_by("lineage", "phase").agg((pl.col("split") == "eval").any().alias("has_eval"))
    joined = summary.join(has_eval, on=["lineage", "phase"])
    return joined.filter(pl.when(pl.col("has_eval")).then(pl.col("split") == "eval").otherwise(True)).drop("has_eval")


def most_collapsed_prompts(
    groups: pl.DataFrame,
    rollouts: pl.DataFrame,
    metric: str = "vendi_score",
    lower_is_collapsed: bool = True,
    prompts: int = 3,
) -> list[dict]:
    """The ``prompts`` least diverse prompts at the last step every lineage shares.

    Returns, per prompt: its text, the step, and for each lineage its answers and
    metric value at that step. Prompts are compared by text, so the same prompt
    is matched across lineages whatever their group ids.
    """
    if groups.is_empty() or metric not in groups.columns:
        return []
    last_phase = sorted(groups["phase"].unique().to_list())[-1]
    candidates = groups.filter(pl.col("phase") == last_phase)
    split = "eval" if "eval" in candidates["split"].unique().to_list() else "train"
    candidates = candidates.filter(pl.col("split") == split)
    step = candidates["step"].max()
    at_step = candidates.filter(pl.col("step") == step)
    order = at_step.group_by("prompt").agg(pl.col(metric).mean().alias("value"))
    order = order.sort("value", descending=not lower_is_collapsed, nulls_last=True).head(prompts)
    chosen = []
    for prompt, _value in order.iter_rows():
        answers = rollouts.filter(
            (pl.col("phase") == last_phase) & (pl.col("split") == split)
            & (pl.col("step") == step) & (pl.col("prompt") == prompt)
        )
        lineages = []
        for lineage in sorted(answers["lineage"].unique().to_list()):
            value = at_step.filter((pl.col("prompt") == prompt) & (pl.col("lineage") == lineage))[metric].mean()
            lineages.append({
                "lineage": lineage,
                "value": value,
                "responses": answers.filter(pl.col("lineage") == lineage)["response"].to_list(),
            })
        chosen.append({"prompt": prompt, "step": step, "phase": last_phase, "split": split, "lineages": lineages})
    return chosen
