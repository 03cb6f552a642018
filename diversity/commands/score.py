"""``rollout-diversity score LOG... --out scores.parquet``: diversity of every prompt's group of rollouts.

Examples:
  rollout-diversity score data/demo/canonical.jsonl --out reports/demo_scores.parquet
  rollout-diversity score runs/grpo runs/repo_r --out scores.parquet --cache-dir /scratch/embeddings
  rollout-diversity score huge/*.jsonl --out scores.parquet --embedder hashing --metrics vendi_score jaccard_overlap

Writes one Parquet file with a row per group (lineage, phase, step, split,
group_id) and a column per metric; ``rollout-diversity report`` and
``diversity.Scores.read_parquet`` read it back. Prints the per-step summary.
An existing file is replaced only with --force.
"""

from __future__ import annotations

import argparse

from diversity.commands.options import add_load_options, add_scoring_options, read_logs, scoring_options


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score", help="score the diversity of every prompt's group of rollouts",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_options(parser)
    add_scoring_options(parser)
    parser.add_argument("--out", required=True, help="the Parquet file to write, e.g. scores.parquet")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from diversity.scoring import score
    from rollout_common.errors import OptionError
    from rollout_common.files import check_output_path

    if not args.out.endswith(".parquet"):
        raise OptionError(f"--out {args.out}: scores are written as Parquet; give a path ending in .parquet")
    check_output_path(args.out, force=args.force, inputs=args.logs)
    rollouts = read_logs(args).frame
    scores = score(rollouts, **scoring_options(args))
    path = scores.to_parquet(args.out, force=args.force, inputs=args.logs)
    if not args.quiet:
        print(_summary_text(scores))
    print(f"wrote {path}: {scores.groups.height} groups, {rollouts.height} rollouts, metrics {', '.join(scores.metrics)}")
    return 0


def _summary_text(scores) -> str:
    """The summary's means, one line per (lineage, phase, step, split)."""
    import polars as pl

    columns = ["lineage", "phase", "step", "split", "groups", *(f"{m}_mean" for m in scores.metrics)]
    table = scores.summary.select(columns).rename({f"{m}_mean": m for m in scores.metrics})
    with pl.Config(tbl_rows=40, tbl_cols=len(columns), float_precision=3, tbl_width_chars=200,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        return str(table)
