"""The report as HTML: the Jinja template (autoescape on) and the formatting of what a Report holds.

Rendering only formats; every number and string comes from the
:class:`~diversity.report.build.Report`. The page inlines its figures and its
Content-Security-Policy forbids every network load.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import polars as pl

from diversity.report import page_data
from rollout_common.provenance import package_version

if TYPE_CHECKING:
    from diversity.report.build import Report

TEMPLATE = "report.html.j2"


def render(report: Report, fragment: bool = False) -> str:
    """A whole page, or a fragment for a notebook cell."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("diversity.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    page = environment.get_template(TEMPLATE).render(
        fragment=fragment,
        csp=page_data.CSP_SLOT,
        interactive=page_data.app_html(report.page_data, fragment) if report.page_data else "",
        title=report.title,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=package_version("rollout-diversity"),
        lineages=report.lineages,
        headline=headline_grid(report.headline),
        collapse_notes=report.collapse_notes(),
        figures=[{"title": f.title, "png": base64.b64encode(f.png).decode("ascii")} for f in report.figures],
        collapsed=[_format_collapsed(c) for c in report.collapsed],
        collapsed_metric=report.collapsed_metric,
        collapsed_step=report.collapsed[0]["step"] if report.collapsed else "-",
        definitions=report.definitions,
        provenance=report.provenance,
        findings=report.findings,
    )
    return page if fragment else page_data.seal(page)


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
    lineages = [{**entry, "value": "-" if entry["value"] is None else f"{entry['value']:.2f}"} for entry in item["lineages"]]
    return {**item, "lineages": lineages}
