"""Compute → :class:`Report`: score what needs scoring and gather what the page shows.

A Report holds the headline table, the figures (PNG bytes), the most
collapsed prompts, the metric definitions and the provenance; rendering
(:mod:`diversity.report.html`) only formats what it holds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from diversity.analysis import COLLAPSE_RATIO, Analysis, analyse, collapsed_prompts, headline
from diversity.plots import make_figures
from diversity.report import html, page_data
from rollout_common.files import atomic_path, check_output_path
from rollout_common.provenance import package_version

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
    page_data: dict | None = None  # the interactive charts' and group browser's data (diversity.report.page_data)

    def render(self, fragment: bool = False) -> str:
        """The report as HTML: a whole page, or a fragment for a notebook cell."""
        return html.render(self, fragment=fragment)

    def collapse_notes(self) -> list[str]:
        """One sentence per (lineage, phase) whose entropy fell below half its start."""
        if self.headline.is_empty():
            return []
        flagged = self.headline.filter(pl.col("collapsed"))
        return [
            f"{r['lineage']}, phase {r['phase']}: entropy fell from {r['start']:.3g} to {r['end']:.3g} nats "
            f"(below {COLLAPSE_RATIO:.0%} of its start)"
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


def build_report(
    sources: str | Path | Sequence[str | Path] | Analysis,
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
            :class:`~diversity.analysis.Analysis` already made by
            :func:`~diversity.analysis.analyse` (nothing is re-scored).
        title: the page's title.
        extra_metrics: registered metrics drawn as a further figure.
        collapsed_prompts: how many of the least diverse prompts to show.
        findings: plain text shown under the headline (an experiment's claims).
        group_steps, groups_per_step: which scored groups the page's browser carries
            (:func:`diversity.report.page_data.select_groups`; default: all that fit ~3 MB).
        **analyse_options: passed to :func:`~diversity.analysis.analyse`
            (``load_options`` (a LoadOptions), ``metrics``, ``embedder``,
            ``cache_dir``, ``score_splits``, ``progress``, ``chunk_rows``,
            ``work_dir``, ...); the analysis's files are removed once the report is built.
    """
    shown = {"group_steps": group_steps, "groups_per_step": groups_per_step,
             "progress": analyse_options.get("progress", True)}
    if isinstance(sources, Analysis):
        return _build(sources, title, extra_metrics, collapsed_prompts, findings, **shown)
    analysis = analyse(sources, **analyse_options)
    try:
        return _build(analysis, title, extra_metrics, collapsed_prompts, findings, **shown)
    finally:
        analysis.close()


def _build(analysis: Analysis, title, extra_metrics, prompts, findings, group_steps, groups_per_step,
           progress) -> Report:
    from diversity.metrics.registry import METRICS

    figures = [Figure(caption, _png(figure)) for _, caption, figure in make_figures(analysis, extra_metrics)]
    summary = analysis.scores.summary
    names = analysis.metric_names
    diverse = [n for n in names if METRICS[n].measures_diversity]
    collapse_metric = "vendi_score" if "vendi_score" in diverse else diverse[0] if diverse else ""
    collapsed = []
    if collapse_metric:
        collapsed = collapsed_prompts(analysis, collapse_metric, METRICS[collapse_metric].higher_is_more_diverse,
                                      prompts, progress)
    lineages = sorted(set(summary["lineage"].to_list()) | set(analysis.entropy["lineage"].to_list()))
    return Report(
        title=title,
        headline=headline(analysis.entropy, analysis.evals, summary, names),
        figures=figures,
        collapsed=collapsed,
        collapsed_metric=collapse_metric,
        definitions=_definitions(names, analysis.scores.settings),
        provenance=_provenance(analysis),
        lineages=lineages,
        findings=findings,
        page_data=page_data.page_data(analysis, group_steps=group_steps, groups_per_step=groups_per_step,
                                      progress=progress),
    )


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _definitions(metric_names: Sequence[str], settings: dict[str, str]) -> list[dict]:
    """The registry's definition, direction and range of each metric shown, and for the metrics that
    read correctness, what counted as correct here (and pass_at_k's k)."""
    from diversity.metrics.registry import METRICS

    rows = []
    for name in metric_names:
        spec = METRICS[name]
        low, high = spec.range
        description = spec.description
        if "correct" in spec.needs and settings.get("correct"):
            description += f" Correct here: {settings['correct']}."
        if "k" in spec.parameters and settings.get("pass_k"):
            description += f" k here: {settings['pass_k']}."
        rows.append({"name": name, "description": description, "direction": spec.direction, "range": f"[{low}, {high}]"})
    return rows


def _provenance(analysis: Analysis) -> dict:
    logs = analysis.logs
    files = [vars(f) for f in logs.files] if logs is not None else []
    files += [{"path": str(p), "format": "saved scores", "rows": "-", "skipped": 0, "skipped_at": [], "reward": None,
               "split": None, "counts": {}, "notes": []}
              for p in analysis.saved]
    return {
        "files": files,
        "ignored": logs.ignored if logs is not None else [],
        "rows": logs.rows if logs is not None else "-",
        "groups": analysis.scores.count,
        "skipped": logs.skipped if logs is not None else 0,
        "counts": logs.counts if logs is not None else {},
        "embedder": analysis.scores.embedder or analysis.embedder,
        "packages": {name: package_version(name) for name in _PACKAGES},
        "configs": {run.name: json.dumps(run.config.raw, indent=2, sort_keys=True) for run in analysis.runs},
    }
