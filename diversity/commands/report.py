"""``rollout-diversity report``: one self-contained HTML page from runs, logs or saved scores.

Examples:
  rollout-diversity report runs/grpo runs/repo_r --out reports/compare.html
  rollout-diversity report data/demo/canonical.jsonl --out reports/demo.html --embedder tfidf
  rollout-diversity report scores.parquet data/demo/canonical.jsonl --out reports/demo.html --force

The page has its figures inline and loads nothing from the network; it opens
offline in any browser. An existing file is replaced only with --force.
"""

from __future__ import annotations

import argparse

from diversity.commands.options import add_analysis_options, analysis_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write a self-contained HTML report",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_analysis_options(parser)
    parser.add_argument("--out", required=True, help="the HTML file to write, e.g. reports/NAME.html")
    parser.add_argument("--title", default="Rollout diversity report", help="the page's title")
    parser.add_argument("--prompts", type=int, default=3, help="how many most-collapsed prompts to show (default 3)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from diversity.report import build_report
    from rollout_common.files import check_output_path

    check_output_path(args.out, force=args.force, inputs=args.logs)
    report = build_report(
        args.logs, title=args.title, extra_metrics=args.extra_metrics, collapsed_prompts=args.prompts,
        **analysis_options(args),
    )
    path = report.to_html(args.out, force=args.force, inputs=args.logs)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0

