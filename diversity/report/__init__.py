"""A self-contained HTML report: compute → :class:`Report` → HTML (file or notebook cell).

``build_report`` takes trainer run directories, rollout logs or saved
``Scores`` (Parquet), or an :class:`~diversity.analysis.Analysis`, scores what
needs scoring, and returns a :class:`Report` holding the headline table, the
figures (PNG bytes), the most collapsed prompts, the metric definitions and
the provenance. Rendering (``html``, the Jinja template in ``templates/``)
only formats what the Report holds. The HTML has its figures inline and loads
nothing from the network (a Content-Security-Policy forbids it); every string
that came from a log is escaped by Jinja's autoescape.

    report = build_report(["runs/grpo_p2", "runs/repo_r_p2"])
    report.to_html("reports/experiment.html")
"""

from __future__ import annotations

from diversity.report.build import Figure, Report, build_report
from diversity.report.html import headline_grid

__all__ = ["Figure", "Report", "build_report", "headline_grid"]
