"""``rollout-diversity report``: one self-contained HTML page from runs, logs or saved scores.

Examples:
  rollout-diversity report runs/grpo runs/repo_r --out reports/compare.html
  rollout-diversity report data/demo/canonical.jsonl --out reports/demo.html --embedder tfidf
  rollout-diversity report scores.parquet data/demo/canonical.jsonl --out reports/demo.html --force
  rollout-diversity report runs/grpo --out reports/grpo.html --groups-per-step 16
  rollout-diversity report huge/ --out reports/huge.html --embedder hashing --chunk-rows 500000

The page has its figures and data inline and loads nothing from the network;
it opens offline in any browser. Its charts and group browser run on the page's
own script. Per-step summaries cover every step; the browser carries every
scored group when they fit (~3 MB), else a stated sample per step: choose with
--groups-per-step and --group-steps. The logs are read --chunk-rows rollouts at a
time (whole groups), so memory does not grow with them; the answers the page
shows are read again. An existing file is replaced only with --force.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    parser.add_argument("--groups-per-step", type=int, default=None, metavar="N",
                        help="groups the page's browser carries per lineage, phase, split and step: the N whose hash "
                             "of prompt and group id is lowest, the same prompts in every lineage (default: all, "
                             "or as many as fit ~3 MB)")
    parser.add_argument("--group-steps", type=int, nargs="+", default=None, metavar="STEP",
                        help="carry only the groups of these steps (every group there unless --groups-per-step)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from diversity.report import build_report
    from rollout_common.files import check_output_path

    check_output_path(args.out, force=args.force, inputs=args.logs)
    report = build_report(
        args.logs, title=args.title, extra_metrics=args.extra_metrics, collapsed_prompts=args.prompts,
        group_steps=args.group_steps, groups_per_step=args.groups_per_step, **analysis_options(args, Path(args.out)),
    )
    path = report.to_html(args.out, force=args.force, inputs=args.logs)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0

