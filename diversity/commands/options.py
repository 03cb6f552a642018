"""Command-line options shared by the subcommands that read logs: a builder per group, and what the flags make.

- :func:`add_load_options` / :func:`load_options`: the logs and how to read them (a LoadOptions).
- :func:`add_scoring_options` / :func:`scoring_options`: what is computed and how.
- :func:`add_analysis_options` / :func:`analysis_options`: both, plus what ``report`` and ``plot`` share.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The logs, and the loader's options; for every command that reads logs."""
    from diversity.load.formats import FORMATS
    from diversity.load.options import BAD_ROW_MODES
    from diversity.schema import SPLITS

    parser.add_argument("logs", nargs="+", metavar="LOG", help="rollout log files, globs or directories")
    parser.add_argument(
        "--format", default="auto", choices=["auto", *FORMATS],
        help="log format (default: detect per file from its columns)",
    )
    parser.add_argument(
        "--group-size", type=int, default=None,
        help="responses per prompt; required for TRL completion dumps (their num_generations)",
    )
    parser.add_argument("--lineage", default=None, help="set the lineage of every row (default: from the log)")
    parser.add_argument("--phase", default=None, help="set the phase of every row (default: from the log, else 1)")
    parser.add_argument(
        "--on-bad-row", default="error", choices=list(BAD_ROW_MODES),
        help="stop at the first bad row (default) or skip bad rows and report how many and where",
    )
    parser.add_argument(
        "--split", default=None, choices=list(SPLITS),
        help="set the split of every row, in any format (default: from the log; verl dumps in a folder named "
             "like a validation_data_dir, e.g. validation/, are eval)",
    )
    parser.add_argument(
        "--reward-weights", default=None, metavar="W1,W2,...",
        help="TRL: the run's reward_weights, one per reward column in the file's order, e.g. 1.0,0.5; reward is "
             "then TRL's total, the weighted sum skipping nulls (default: every weight 1; `inspect` shows the columns)",
    )
    parser.add_argument(
        "--columns", default=None, metavar="FIELD=COLUMN,...",
        help="a table of your own: which column holds each canonical field, e.g. prompt=question,response=answer,"
             "group_id=uid,step=iteration,reward=score; files holding every named column are read as a table, a "
             "list-valued response column making each row one group",
    )


def load_options(args: argparse.Namespace):
    """The LoadOptions the flags of :func:`add_load_options` give."""
    from diversity.load import LoadOptions

    return LoadOptions(format=args.format, group_size=args.group_size, lineage=args.lineage, phase=args.phase,
                       on_bad_row=args.on_bad_row, split=args.split, reward_weights=args.reward_weights,
                       columns=args.columns)


def read_logs(args: argparse.Namespace):
    """Load the logs named on the command line; returns a ``LoadResult``."""
    from diversity.load import read_rollouts

    return read_rollouts(args.logs, load_options(args))


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """Options that choose what is computed and how; for every command that scores."""
    from diversity.embedding import BATCH_SIZE, DEFAULT_EMBEDDER
    from diversity.metrics import TOKEN_PATTERN
    from diversity.metrics.registry import DEFAULT_METRICS, METRICS

    parser.add_argument(
        "--metrics", nargs="+", default=None, metavar="METRIC", choices=list(METRICS),
        help=f"metrics to compute, from: {', '.join(METRICS)} (default: {', '.join(DEFAULT_METRICS)})",
    )
    parser.add_argument(
        "--embedder", default=DEFAULT_EMBEDDER,
        help="minilm (default: all-MiniLM-L6-v2, offline; on a CUDA GPU when available, in float16), static "
             "(model2vec distilled from that MiniLM once and kept in the cache folder: ~300x faster on CPU, "
             "rougher scores; benchmarks/EMBEDDERS.md), hashing or tfidf (fast lexical vectors), or a "
             "sentence-transformers model folder",
    )
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir", default=None,
        help="embedding cache folder, so no text is embedded twice; the static model is kept in its models/ "
             "(default: $ROLLOUT_DIVERSITY_CACHE_DIR, else $XDG_CACHE_HOME/rollout-diversity/embeddings, "
             "else ~/.cache/rollout-diversity/embeddings)",
    )
    cache.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the embedding cache (the static model is still kept in the "
                            "default folder's models/)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"batch size of sentence-transformers models on CPU, in 128-token texts: batches of "
                             f"up to N x 128 padded tokens (default {BATCH_SIZE}; on CUDA, 65,536 padded tokens)")
    parser.add_argument("--token-pattern", default=TOKEN_PATTERN,
                        help=f"regex whose matches in the lowercased text are tokens (default {TOKEN_PATTERN!r})")
    parser.add_argument(
        "--correct-threshold", type=float, default=None, metavar="REWARD",
        help="count a response as correct when its reward >= REWARD, for pass@k and the other correctness "
             "metrics; a log's own correct / acc / exact_match column takes precedence (without either, "
             "those metrics are skipped)",
    )
    parser.add_argument("--pass-k", type=int, default=None, metavar="K",
                        help="k of pass_at_k (default: each group's size); smaller groups get no value")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def scoring_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``diversity.score`` from the flags of :func:`add_scoring_options`."""
    from diversity.embedding import default_cache_dir

    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    return {
        "metrics": args.metrics, "embedder": args.embedder, "cache_dir": cache_dir,
        "batch_size": args.batch_size, "token_pattern": args.token_pattern, "progress": not args.no_progress,
        "correct_threshold": args.correct_threshold, "pass_k": args.pass_k,
    }


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``report`` and ``plot``: the loader's, the scorer's, and outputs."""
    add_load_options(parser)
    add_scoring_options(parser)
    parser.add_argument("--score-splits", nargs="+", default=None, choices=["train", "eval"], metavar="SPLIT",
                        help="score only these splits, e.g. eval for long runs (default: all; "
                             "entropy and reward read every split)")
    parser.add_argument("--extra-metric", nargs="+", default=[], metavar="METRIC", dest="extra_metrics",
                        help="further scored metrics to draw as their own figure")
    _add_chunk_rows(parser, "read, scored and summed")
    parser.add_argument("--force", action="store_true", help="replace an existing output")


def analysis_options(args: argparse.Namespace, out: Path) -> dict:
    """Keyword arguments for ``diversity.analysis.analyse`` (and ``build_report``) from the flags; a log over one
    chunk is spilled beside ``out`` (in the nearest folder of its path that exists)."""
    folder = next(p for p in (out.absolute().parent, *out.absolute().parents) if p.is_dir())
    return {**scoring_options(args), "load_options": load_options(args), "score_splits": args.score_splits,
            "chunk_rows": args.chunk_rows, "work_dir": folder}


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Where and in what pieces the scoring runs; for ``score``."""
    from diversity.streaming import ENGINES

    parser.add_argument("--engine", default="local", choices=list(ENGINES),
                        help="local: this process, memory set by --chunk-rows; ray: Ray Data, on the cluster at "
                             "$RAY_ADDRESS or a local one (pip install -e '.[ray]')")
    _add_chunk_rows(parser, "scored")


def _add_chunk_rows(parser: argparse.ArgumentParser, done: str) -> None:
    from diversity.streaming import CHUNK_ROWS

    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, metavar="N",
                        help=f"rollouts {done} at once, whole groups only; peak memory grows with it, not with the "
                             f"log (default {CHUNK_ROWS:,})")


def engine_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``diversity.streaming.score_logs`` from the flags of :func:`add_engine_options`."""
    return {"engine": args.engine, "chunk_rows": args.chunk_rows}
