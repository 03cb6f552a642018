"""A self-contained HTML report: compute → :class:`Report` → HTML (file or notebook cell).

``build_report`` takes trainer run directories, rollout logs or saved
``Scores`` (Parquet), scores what needs scoring, and returns a :class:`Report`
holding the headline table, the figures (PNG bytes), the most collapsed
prompts, the metric definitions and the provenance. Rendering only formats
what the Report holds. The HTML has its figures inline and loads nothing from
the network (a Content-Security-Policy forbids it); every string that came from
a log is escaped by Jinja's autoescape.

    report = build_report(["runs/grpo_p2", "runs/repo_r_p2"])
    report.to_html("reports/experiment.html")
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from diversity import report_data, report_tables
from diversity.load import LoadResult, is_run_directory, read_rollouts
from diversity.plots import PHASE2_PANELS, diversity_figure, entropy_figure, reward_figure
from rollout_common.errors import InputError, OptionError
from rollout_common.files import atomic_path, check_output_path
from rollout_common.provenance import package_version

log = logging.getLogger("diversity")

_PACKAGES = ("rollout-diversity", "polars", "numpy", "torch", "sentence-transformers", "matplotlib")


@dataclass
class Figure:
    """One rendered figure: its title and PNG bytes."""

    title: str
    png: bytes


@dataclass
class Report:
    """Everything the report shows, computed once; rendering only formats it."""

    title: str
    headline: pl.DataFrame
    figures: list[Figure]
    collapsed: list[dict]
    collapsed_metric: str
    definitions: list[dict]
    provenance: dict
    lineages: list[str] = field(default_factory=list)
    findings: str | None = None  # plain text shown as-is (escaped), e.g. an experiment's claims table
    page_data: dict | None = None  # the interactive charts' and group browser's data (diversity.report_data)

    def render(self, fragment: bool = False) -> str:
        """The report as HTML: a whole page, or a fragment for a notebook cell."""
        import jinja2

        environment = jinja2.Environment(
            loader=jinja2.PackageLoader("diversity", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        template = environment.get_template("report.html.j2")
        page = template.render(
            fragment=fragment,
            csp=report_data.CSP_SLOT,
            interactive=report_data.app_html(self.page_data, fragment) if self.page_data else "",
            title=self.title,
            generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            version=package_version("rollout-diversity"),
            lineages=self.lineages,
            headline=headline_grid(self.headline),
            collapse_notes=self.collapse_notes(),
            figures=[{"title": f.title, "png": base64.b64encode(f.png).decode("ascii")} for f in self.figures],
            collapsed=[_format_collapsed(c) for c in self.collapsed],
            collapsed_metric=self.collapsed_metric,
            collapsed_step=self.collapsed[0]["step"] if self.collapsed else "-",
            definitions=self.definitions,
            provenance=self.provenance,
            findings=self.findings,
        )
        return page if fragment else report_data.seal(page)

    def collapse_notes(self) -> list[str]:
        """One sentence per (lineage, phase) whose entropy fell below half its start."""
        if self.headline.is_empty():
            return []
        flagged = self.headline.filter(pl.col("collapsed"))
        return [
            f"{r['lineage']}, phase {r['phase']}: entropy fell from {r['start']:.3g} to {r['end']:.3g} nats "
            f"(below {report_tables.COLLAPSE_RATIO:.0%} of its start)"
            for r in flagged.iter_rows(named=True)
        ]

    def to_html(self, path: str | Path, force: bool = False, inputs: Iterable[str | Path] = ()) -> Path:
        """Write the self-contained page atomically; an existing file is replaced only with ``force``."""
        path = check_output_path(path, force=force, inputs=inputs)
        with atomic_path(path) as tmp:
            tmp.write_text(self.render(), encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return self.render(fragment=True)


def headline_grid(headline: pl.DataFrame) -> dict:
    """The tidy headline as a grid: a row per (lineage, phase), a column per quantity,
    each cell "start → end (change)" over the phase's steps."""
    if headline.is_empty():
        return {"columns": [], "rows": []}
    columns = list(dict.fromkeys(headline["quantity"].to_list()))
    rows = []
    for (lineage, phase), part in headline.group_by("lineage", "phase", maintain_order=True):
        cells = {r["quantity"]: r for r in part.iter_rows(named=True)}
        steps = f"{part['first_step'].min()}–{part['last_step'].max()}"
        rows.append({
            "lineage": lineage, "phase": phase, "steps": steps,
            "collapsed": bool(part["collapsed"].any()),
            "cells": [_format_cell(cells.get(q)) for q in columns],
        })
    return {"columns": columns, "rows": rows}


def _format_cell(row: dict | None) -> dict:
    if row is None:
        return {"text": "–", "collapsed": False}
    return {"text": f"{row['start']:.3g} → {row['end']:.3g} ({row['change']:+.3g})", "collapsed": row["collapsed"]}


def _format_collapsed(item: dict) -> dict:
    lineages = [{**l, "value": "-" if l["value"] is None else f"{l['value']:.2f}"} for l in item["lineages"]]
    return {**item, "lineages": lineages}


# ---------------------------------------------------------------- inputs


@dataclass
class RunInfo:
    """What a trainer run directory adds beyond its rollouts."""

    name: str
    config: dict
    metrics: pl.DataFrame  # per training step: at least step and entropy


def read_run(path: Path) -> RunInfo:
    """A run's config and per-step training metrics (``metrics.jsonl``)."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(path / "config.json", f"cannot read the run config ({error})") from None
    metrics_path = path / "metrics.jsonl"
    metrics = pl.DataFrame()
    if metrics_path.is_file() and metrics_path.stat().st_size:
        try:
            metrics = pl.read_ndjson(metrics_path, infer_schema_length=None)
        except Exception as error:
            raise InputError(metrics_path, f"cannot read training metrics ({str(error).splitlines()[0]})") from None
    return RunInfo(path.name, config, metrics)


def is_scores_file(path: Path) -> bool:
    if path.suffix != ".parquet" or not path.is_file():
        return False
    from diversity.scoring import Scores

    return Scores.is_scores_file(path)


def _lineage_of(run: RunInfo) -> str:
    return str(_config_value(run.config, "lineage") or run.name)


def _parent_lineages(runs: Sequence[RunInfo]) -> dict[str, str]:
    """child lineage → parent lineage, for forks recorded by the trainer (``init_from``)."""
    by_dir = {}
    for run in runs:
        by_dir[run.name] = _lineage_of(run)
    parents = {}
    for run in runs:
        parent_dir = _config_value(run.config, "init_from")
        if not parent_dir:
            continue
        parent_lineage = _config_value(run.config, "parent_lineage") or by_dir.get(Path(str(parent_dir)).name)
        child = _lineage_of(run)
        if parent_lineage and parent_lineage != child:
            parents[child] = str(parent_lineage)
    return parents


def _config_value(config: dict, key: str):
    """The first set value of ``key`` at the top level of a run config or one level down
    (configs nest dataclasses; the trainer records defaults it derived under ``derived``)."""
    if config.get(key) is not None:
        return config[key]
    for value in config.values():
        if isinstance(value, dict) and value.get(key) is not None:
            return value[key]
    return None


def entropy_table(runs: Sequence[RunInfo], rollouts: pl.DataFrame) -> pl.DataFrame:
    """Token-mean entropy per (lineage, phase, step): the trainer's own log where there is one,
    else the mean of per-response entropies of training rollouts."""
    parts = []
    covered = set()
    for run in runs:
        if run.metrics.is_empty() or not {"step", "entropy"} <= set(run.metrics.columns):
            continue
        lineage = _lineage_of(run)
        phase = str(_config_value(run.config, "phase") or "1")
        parts.append(run.metrics.select(
            pl.lit(lineage).alias("lineage"), pl.lit(phase).alias("phase"),
            pl.col("step").cast(pl.Int64), pl.col("entropy").cast(pl.Float64),
        ))
        covered.add((lineage, phase))
    if rollouts.height:
        from_rollouts = (
            rollouts.filter(pl.col("split") == "train")
            .drop_nulls("entropy")
            .group_by("lineage", "phase", "step", *_seed_key(rollouts))
            .agg(pl.col("entropy").mean())
        )
        keep = ~pl.struct("lineage", "phase").is_in([{"lineage": l, "phase": p} for l, p in covered]) if covered else pl.lit(True)
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


def _seed_key(frame: pl.DataFrame) -> list[str]:
    """Keep runs of one lineage with different seeds apart, so figures can show their spread."""
    return ["seed"] if "seed" in frame.columns else []


# ---------------------------------------------------------------- build


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


def analyse(
    sources: str | Path | Sequence[str | Path],
    *,
    metrics: Sequence[str] | None = None,
    embedder: str = "minilm",
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    token_pattern: str | None = None,
    format: str = "auto",
    group_size: int | None = None,
    lineage: str | None = None,
    phase: str | None = None,
    on_bad_row: str = "error",
    score_splits: Sequence[str] | None = None,
    score_logs: bool = True,
    progress: bool = True,
) -> Analysis:
    """Read run directories, rollout logs and saved scores; score the logs.

    ``score_splits`` limits scoring to those splits (e.g. ``("eval",)`` for a
    long run's eval groups); every split still feeds entropy and reward.
    ``score_logs=False`` scores nothing: the saved scores among ``sources``
    stand for the logs (their entropy, rewards and answers are still read)."""
    from diversity.registry import METRICS
    from diversity.scoring import Scores, score

    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    runs = [read_run(Path(s)) for s in sources if is_run_directory(Path(s))]
    saved = [Path(s) for s in sources if is_scores_file(Path(s))]
    logs = [s for s in sources if Path(s) not in saved]

    loaded = read_rollouts(logs, format, group_size, lineage, phase, on_bad_row) if logs else None
    rollouts = loaded.frame if loaded is not None else pl.DataFrame()
    score_parts = [Scores.read_parquet(p) for p in saved]
    if loaded is not None and score_logs:
        options = {"token_pattern": token_pattern} if token_pattern is not None else {}
        scored = rollouts if score_splits is None else rollouts.filter(pl.col("split").is_in(list(score_splits)))
        score_parts.append(score(scored, metrics=metrics, embedder=embedder, batch_size=batch_size,
                                 cache_dir=cache_dir, progress=progress, **options))
    scores = Scores.concat(score_parts)
    return Analysis(
        loaded=loaded,
        saved=saved,
        runs=runs,
        rollouts=rollouts,
        scores=scores,
        entropy=entropy_table(runs, rollouts),
        evals=eval_reward_table(rollouts) if rollouts.height else pl.DataFrame(),
        parents=_parent_lineages(runs),
        metric_names=[m for m in METRICS if f"{m}_mean" in scores.summary.columns],
        embedder=embedder,
    )


def make_figures(analysis: Analysis, extra_metrics: Sequence[str] = ()) -> list[tuple[str, str, object]]:
    """(file stem, caption, matplotlib Figure) for every figure the inputs support."""
    summary = analysis.scores.summary
    figures = []
    if analysis.entropy.height:
        figures.append(("entropy", "Figure 1. Token-mean policy entropy over global step.",
                        entropy_figure(analysis.entropy, analysis.parents)))
    if analysis.evals.height:
        figures.append(("eval_reward",
                        "Figure 2. Eval reward over global step: first task solid (left axis), second task dashed (right axis).",
                        reward_figure(analysis.evals, parents=analysis.parents)))
    panels = [m for m in PHASE2_PANELS if m in analysis.metric_names]
    if summary.height and panels:
        figures.append(("diversity",
                        "Figure 3. Intra-prompt diversity in the last phase, per lineage (band: ±1 standard error across groups).",
                        diversity_figure(summary, panels)))
    unknown = [m for m in extra_metrics if m not in analysis.metric_names]
    if unknown:
        raise OptionError(f"--extra-metric {', '.join(unknown)} was not scored; scored: {', '.join(analysis.metric_names)}")
    if summary.height and extra_metrics:
        figures.append(("extra_metrics", f"Further metrics: {', '.join(extra_metrics)}.",
                        diversity_figure(summary, list(extra_metrics))))
    return figures


def build_report(
    sources: "str | Path | Sequence[str | Path] | Analysis",
    *,
    title: str = "Rollout diversity report",
    extra_metrics: Sequence[str] = (),
    collapsed_prompts: int = 3,
    findings: str | None = None,
    group_steps: Sequence[int] | None = None,
    groups_per_step: int | None = None,
    **analyse_options,
) -> Report:
    """Score what needs scoring and assemble a :class:`Report`.

    Args:
        sources: trainer run directories, rollout logs (files, globs, folders)
            and saved ``Scores`` Parquet files, in any mix; or an
            :class:`Analysis` already made by :func:`analyse` (nothing is re-scored).
        title: the page's title.
        extra_metrics: registered metrics drawn as a further figure.
        collapsed_prompts: how many of the least diverse prompts to show.
        findings: plain text shown under the headline (an experiment's claims).
        group_steps, groups_per_step: which scored groups the page's browser carries
            (:func:`diversity.report_data.select_groups`; default: all that fit ~3 MB).
        **analyse_options: passed to :func:`analyse` (``metrics``, ``embedder``,
            ``cache_dir``, and the loader's ``format``, ``group_size``, ``lineage``,
            ``phase``, ``on_bad_row``; ``progress``).
    """
    from diversity.registry import METRICS

    analysis = sources if isinstance(sources, Analysis) else analyse(sources, **analyse_options)
    figures = [Figure(caption, _png(figure)) for _, caption, figure in make_figures(analysis, extra_metrics)]
    groups = analysis.scores.groups
    names = analysis.metric_names
    collapse_metric = "vendi_score" if "vendi_score" in names else names[0] if names else ""
    collapsed = []
    if collapse_metric and analysis.rollouts.height:
        collapsed = report_tables.most_collapsed_prompts(
            groups, analysis.rollouts, collapse_metric,
            lower_is_collapsed=METRICS[collapse_metric].higher_is_more_diverse, prompts=collapsed_prompts,
        )
    lineages = sorted(set(groups["lineage"].to_list()) | set(analysis.entropy["lineage"].to_list()))
    return Report(
        title=title,
        headline=report_tables.headline(analysis.entropy, analysis.evals, analysis.scores.summary, names),
        figures=figures,
        collapsed=collapsed,
        collapsed_metric=collapse_metric,
        definitions=_definitions(names),
        provenance=_provenance(analysis),
        lineages=lineages,
        findings=findings,
        page_data=report_data.page_data(analysis, group_steps=group_steps, groups_per_step=groups_per_step),
    )


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _definitions(metric_names: Sequence[str]) -> list[dict]:
    from diversity.registry import METRICS

    rows = []
    for name in metric_names:
        spec = METRICS[name]
        low, high = spec.range
        rows.append({
            "name": name,
            "description": spec.description,
            "direction": "higher = more diverse" if spec.higher_is_more_diverse else "higher = less diverse",
            "range": f"[{low}, {high}]",
        })
    return rows


def _provenance(analysis: Analysis) -> dict:
    loaded = analysis.loaded
    files = [vars(f) for f in loaded.files] if loaded is not None else []
    files += [{"path": str(p), "format": "saved scores", "rows": "-", "skipped": 0, "skipped_at": []}
              for p in analysis.saved]
    return {
        "files": files,
        "ignored": loaded.ignored if loaded is not None else [],
        "rows": loaded.frame.height if loaded is not None else "-",
        "groups": analysis.scores.groups.height,
        "skipped": loaded.skipped if loaded is not None else 0,
        "embedder": analysis.scores.embedder or analysis.embedder,
        "packages": {name: package_version(name) for name in _PACKAGES},
        "configs": {run.name: json.dumps(run.config, indent=2, sort_keys=True) for run in analysis.runs},
    }
