"""``rollout-diversity plot``: the phase-wise figures as PNG and SVG files.

Examples:
  rollout-diversity plot runs/grpo runs/repo_r --out reports/figures
  rollout-diversity plot data/demo/canonical.jsonl --out reports/demo_figures --embedder tfidf
  rollout-diversity plot data/experiment/seed0/* --score-splits eval --correct-threshold 1.0 --out reports/figures

Writes entropy, eval_reward and diversity (.png and .svg), each when the
inputs hold what it needs, pass_at_k when the logs say which responses are
correct (a correct / acc / exact_match column, or --correct-threshold), plus
extra_metrics with --extra-metric. The logs are read --chunk-rows rollouts at a
time (whole groups), so memory does not grow with them. Existing files are
replaced only with --force.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diversity.commands.options import add_analysis_options, analysis_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "plot", help="write the phase-wise figures as PNG and SVG",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_analysis_options(parser)
    parser.add_argument("--out", required=True, help="folder to write the figures into")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from diversity.analysis import analyse
    from diversity.plots import make_figures
    from rollout_common.errors import OptionError
    from rollout_common.files import atomic_path, check_output_path

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OptionError(f"--out {out} is a file; give a folder")
    analysis = analyse(args.logs, **analysis_options(args, out / "figure"))
    try:
        figures = make_figures(analysis, args.extra_metrics)
    finally:
        analysis.close()
    if not figures:
        raise OptionError("the inputs hold no entropy, eval reward or scored groups to plot")
    targets = [(out / f"{stem}.{kind}", figure) for stem, _, figure in figures for kind in ("png", "svg")]
    for path, _ in targets:
        check_output_path(path, force=args.force, inputs=args.logs)
    for path, figure in tqdm(targets, desc="figures", unit="file", disable=args.no_progress):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=path.suffix[1:], dpi=130)
        print(f"wrote {path}")
    return 0
