"""``rollout-diversity inspect LOG...``: what the loader sees in some logs.

Prints, per input file, the detected format and row counts (and its records:
read = kept + skipped + dropped + de-duplicated), how the reward
was made (TRL: which columns were summed, with which weights), where the
split came from, and everything the loader dropped, de-duplicated or warned
about (re-logged TRL batches, rows without a reward, failed NoveltyBench
prompts, oversized verl groups, lm-eval lines de-duplicated across filters,
failed batch requests, aborted slime samples, ...), each with its count, and
each file it skipped with why; then per lineage,
phase and split the steps, groups and group sizes. Use it before scoring to
check a log is read the way you expect.
"""

from __future__ import annotations

import argparse

from diversity.commands.options import add_load_options, read_logs


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="show what was detected in rollout logs",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_load_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from diversity.schema import COLUMNS

    result = read_logs(args)
    for report in result.files:
        left_out = "".join(f", {count} {what}" for count, what in
                           ((report.dropped, "dropped"), (report.deduplicated, "de-duplicated")) if count)
        print(f"{report.path}: {report.format}, {report.rows} rows, {report.skipped} skipped; "
              f"{report.read} records read, {report.kept} kept{left_out}")
        for location in report.skipped_at:
            print(f"  skipped {location}")
        if report.reward:
            print(f"  reward = {report.reward}")
        if report.split:
            print(f"  split = {report.split}")
        for sentence in report.notes:
            print(f"  {sentence}")
    for path in result.ignored:
        print(f"{path}: ignored ({result.why_ignored.get(path, 'not a rollout log')})")
    frame = result.frame
    table = (
        frame.group_by("lineage", "phase", "split", "step", "group_id")
        .agg(pl.len().alias("size"))
        .group_by("lineage", "phase", "split")
        .agg(
            pl.col("step").n_unique().alias("steps"),
            pl.col("step").min().alias("first"),
            pl.col("step").max().alias("last"),
            pl.len().alias("groups"),
            pl.col("size").sum().alias("rows"),
            pl.col("size").unique().sort().alias("sizes"),
        )
        .sort("lineage", "phase", "split")
    )
    print(f"\n{frame.height} rows, {result.skipped} skipped, {len(result.ignored)} files ignored")
    if result.counts:
        print("; ".join(f"{event.replace('_', ' ')}: {count}" for event, count in result.counts.items()))
    print(f"{'lineage':<20} {'phase':<6} {'split':<6} {'steps':>6} {'range':>13} {'groups':>7} {'rows':>8}  group sizes")
    for row in table.iter_rows(named=True):
        sizes = ",".join(str(s) for s in row["sizes"])
        span = f"{row['first']}-{row['last']}"
        print(
            f"{row['lineage']:<20} {row['phase']:<6} {row['split']:<6} {row['steps']:>6} {span:>13} "
            f"{row['groups']:>7} {row['rows']:>8}  {sizes}"
        )
    extra = [c for c in frame.columns if c not in COLUMNS]
    if extra:
        print(f"other columns kept: {', '.join(extra)}")
    return 0
