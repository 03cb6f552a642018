"""From inputs to tables: read runs, logs and saved scores, score the logs, derive what is shown.

compute (here) → figures (:mod:`diversity.plots`) → page (:mod:`diversity.report`).

- :func:`analyse`: trainer run directories, rollout logs and saved ``Scores``
  in any mix → an :class:`Analysis` (scored groups, per-step summaries,
  entropy, eval reward, fork parents), read a chunk of whole groups at a time
  (:mod:`diversity.streaming.survey`), so memory is set by the chunk, not the logs.
- :func:`read_run`: what a run directory adds beyond its rollouts (its config
  and training metrics), read through ``rollout_common.run_directory``.
- :func:`entropy_table`, :func:`pass_at_k_table`: the tidy tables the figures draw.
- :func:`headline`: per lineage and phase, entropy, reward per task and each
  diversity metric at the phase's first and last step, with the change, and
  a collapse flag.
- :func:`most_collapsed_prompts`: the prompts whose groups are least diverse at
  the last step, with every lineage's answers to the same prompt at that step
  (:func:`collapsed_prompts` gathers its inputs from an analysis).

Everything but :func:`analyse`, :func:`read_run` and :func:`collapsed_prompts` is a pure function on tidy frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load import LoadOptions
from rollout_common.errors import InputError
from rollout_common.run_directory import RunConfig, RunPaths, is_run_directory, read_config, read_jsonl

if TYPE_CHECKING:
    import tempfile

    from diversity.streaming.groups import GroupTable
    from diversity.streaming.survey import LogTables

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


def entropy_table(runs: Sequence[RunInfo], from_rollouts: pl.DataFrame | None) -> pl.DataFrame:
    """Token-mean entropy per (lineage, phase, step): the trainer's own log where there is one,
    else the mean of per-response entropies of training rollouts (``from_rollouts``: per lineage, phase,
    step and seed, as :meth:`diversity.streaming.step_totals.StepTotals.train_entropy` gives it)."""
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
    if from_rollouts is not None and from_rollouts.height:
        logged = [{"lineage": lineage, "phase": phase} for lineage, phase in covered]
        keep = ~pl.struct("lineage", "phase").is_in(logged) if covered else pl.lit(True)
        parts.append(from_rollouts.filter(keep).select("lineage", "phase", "step", "entropy"))
    parts = [p for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema={"lineage": pl.String, "phase": pl.String, "step": pl.Int64, "entropy": pl.Float64})
    return pl.concat(parts).sort("lineage", "step")


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


# ---------------------------------------------------------------- analyse


@dataclass
class Analysis:
    """Everything computed from the inputs, before any drawing."""

    logs: LogTables | None
    """what the logs gave: files read, per-step tables, their rows kept for a second read; None without logs"""
    saved: list[Path]
    runs: list[RunInfo]
    scores: GroupTable
    """every scored group, a whole step at a time (``steps()``), with ``summary``, ``metrics`` and ``settings``"""
    entropy: pl.DataFrame
    evals: pl.DataFrame
    parents: dict[str, str]
    metric_names: list[str]
    embedder: str
    pass_at_k: pl.DataFrame  # pass_at_k_table of the scored groups; empty when correctness is unknown
    workspace: tempfile.TemporaryDirectory | None = None
    """the folder holding the spilled rows and the scored groups, removed by :meth:`close`"""

    def close(self) -> None:
        """Remove the files the analysis read from (its spilled rows and scored groups)."""
        if self.workspace is not None:
            self.workspace.cleanup()


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
    chunk_rows: int | None = None,
    work_dir: str | Path | None = None,
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
    counts as correct, and pass_at_k's k). The logs are read, scored and
    tabulated ``chunk_rows`` rollouts at a time (default
    ``diversity.streaming.CHUNK_ROWS``, 200,000), whole groups only; a log
    over one chunk is spilled to a hidden folder in ``work_dir`` (default: the
    system's temporary folder), kept until :meth:`Analysis.close`."""
    from diversity.metrics.registry import METRICS
    from diversity.streaming import CHUNK_ROWS
    from diversity.streaming.survey import survey

    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    runs = [read_run(s) for s in sources if is_run_directory(s)]
    saved = [Path(s) for s in sources if is_scores_file(Path(s))]
    logs = [s for s in sources if Path(s) not in saved]
    scoring = None
    if score_logs:
        scoring = {"metrics": metrics, "embedder": embedder, "batch_size": batch_size, "cache_dir": cache_dir,
                   "correct_threshold": correct_threshold, "pass_k": pass_k}
        if token_pattern is not None:
            scoring["token_pattern"] = token_pattern
    found = survey(logs, saved, load_options=load_options or LoadOptions(), scoring=scoring, score_splits=score_splits,
                   chunk_rows=CHUNK_ROWS if chunk_rows is None else chunk_rows, progress=progress, work_dir=work_dir)
    scores, tables = found.groups, found.logs
    return Analysis(
        logs=tables,
        saved=saved,
        runs=runs,
        scores=scores,
        entropy=entropy_table(runs, tables.train_entropy if tables is not None else None),
        evals=tables.evals if tables is not None else pl.DataFrame(),
        parents=parent_lineages(runs),
        metric_names=[m for m in METRICS if f"{m}_mean" in scores.summary.columns],
        embedder=embedder,
        pass_at_k=_pass_at_k(scores),
        workspace=found.workspace,
    )


def _pass_at_k(scores: GroupTable) -> pl.DataFrame:
    """pass_at_k_table of every scored group, a whole step at a time."""
    tables = [pass_at_k_table(part) for part in scores.steps()]
    if not tables:
        return pass_at_k_table(pl.DataFrame())
    return pl.concat(tables).sort("lineage", "phase", "step", "split", "task", "k")


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


def collapse_step(groups: pl.DataFrame) -> tuple[str, str, int] | None:
    """(phase, split, step) at which prompts are compared: the last phase's last step, in its eval groups
    when it has any, else train. ``groups``: scored groups, or their summary (the same keys)."""
    if groups.is_empty():
        return None
    last_phase = sorted(groups["phase"].unique().to_list())[-1]
    candidates = groups.filter(pl.col("phase") == last_phase)
    split = "eval" if "eval" in candidates["split"].unique().to_list() else "train"
    return last_phase, split, candidates.filter(pl.col("split") == split)["step"].max()


def least_diverse_prompts(at_step: pl.DataFrame, metric: str, lower_is_collapsed: bool = True,
                          prompts: int = 3) -> list[str]:
    """The ``prompts`` prompts of ``at_step``'s groups with the least diverse mean ``metric`` across lineages
    (ties in prompt order)."""
    order = at_step.group_by("prompt").agg(pl.col(metric).mean().alias("value"))
    order = order.sort("value", "prompt", descending=[not lower_is_collapsed, False], nulls_last=True)
    return order.head(prompts)["prompt"].to_list()


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
    is matched across lineages whatever their group ids. ``groups`` and
    ``rollouts`` need only hold the groups and rows of that step.
    """
    if groups.is_empty() or metric not in groups.columns:
        return []
    last_phase, split, step = collapse_step(groups)
    at_step = groups.filter((pl.col("phase") == last_phase) & (pl.col("split") == split) & (pl.col("step") == step))
    chosen = []
    for prompt in least_diverse_prompts(at_step, metric, lower_is_collapsed, prompts):
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


def collapsed_prompts(analysis: Analysis, metric: str, lower_is_collapsed: bool = True,
                      prompts: int = 3, progress: bool = False) -> list[dict]:
    """:func:`most_collapsed_prompts` of an analysis: its groups at the collapse step, and the logs' rows of
    the chosen prompts there, read again. Empty without logs."""
    at = collapse_step(analysis.scores.summary)
    if at is None or analysis.logs is None:
        return []
    phase, split, step = at
    where = (pl.col("phase") == phase) & (pl.col("split") == split) & (pl.col("step") == step)
    groups = pl.concat([part.filter(where) for part in analysis.scores.steps()])
    if metric not in groups.columns:
        return []
    chosen = least_diverse_prompts(groups, metric, lower_is_collapsed, prompts)
    keys = pl.DataFrame({"phase": [phase] * len(chosen), "split": [split] * len(chosen),
                         "step": [step] * len(chosen), "prompt": chosen},
                        schema={"phase": pl.String, "split": pl.String, "step": pl.Int64, "prompt": pl.String})
    return most_collapsed_prompts(groups, analysis.logs.matching(keys, progress), metric, lower_is_collapsed, prompts)
