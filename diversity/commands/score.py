"""``rollout-diversity score LOG... --out scores.parquet``: diversity of every prompt's group of rollouts.

Examples:
  rollout-diversity score data/demo/canonical.jsonl --out reports/demo_scores.parquet
  rollout-diversity score runs/grpo runs/repo_r --out scores.parquet --cache-dir /scratch/embeddings
  rollout-diversity score huge/*.jsonl --out scores.parquet --embedder hashing --metrics vendi_score jaccard_overlap
  rollout-diversity score runs/grpo --out scores.parquet --correct-threshold 1.0 --pass-k 4
  rollout-diversity score huge/ --out scores.parquet --embedder hashing --chunk-rows 500000
  RAY_ADDRESS=head-node:6379 rollout-diversity score /mnt/shared/logs --out scores.parquet --engine ray

Writes one Parquet file with a row per group (lineage, phase, step, split,
group_id) and a column per metric; ``rollout-diversity report`` and
``diversity.Scores.read_parquet`` read it back. Prints the per-step summary.
The logs are read, scored and written --chunk-rows rollouts at a time (whole
groups), so memory does not grow with the log; the file is the same for any
chunk size. An existing file is replaced only with --force.
"""

from __future__ import annotations

import argparse

from diversity.commands.options import (
    add_engine_options,
    add_load_options,
    add_scoring_options,
    engine_options,
    load_options,
    scoring_options,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "score", help="score the diversity of every prompt's group of rollouts",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_options(parser)
    add_scoring_options(parser)
    add_engine_options(parser)
    parser.add_argument("--out", required=True, help="the Parquet file to write, e.g. scores.parquet")
    parser.add_argument("--force", action="store_true", help="replace an existing output")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from diversity.streaming import score_logs
    from rollout_common.errors import OptionError

    if not args.out.endswith(".parquet"):
        raise OptionError(f"--out {args.out}: scores are written as Parquet; give a path ending in .parquet")
    written = score_logs(args.logs, args.out, load_options=load_options(args), force=args.force,
                         **engine_options(args), **scoring_options(args))
    if not args.quiet:
        print(_summary_text(written))
    print(f"wrote {written.path}: {written.groups} groups, {written.rollouts} rollouts, "
          f"metrics {', '.join(written.metrics)}")
    return 0


def _summary_text(scores) -> str:
    """The summary's means, one line per (lineage, phase, step, split)."""
    import polars as pl

    columns = ["lineage", "phase", "step", "split", "groups", *(f"{m}_mean" for m in scores.metrics)]
    table = scores.summary.select(columns).rename({f"{m}_mean": m for m in scores.metrics})
    with pl.Config(tbl_rows=40, tbl_cols=len(columns), float_precision=3, tbl_width_chars=200,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        return str(table)
