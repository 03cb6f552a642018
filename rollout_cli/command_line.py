"""The ``rollout-diversity`` command line.

Each subcommand lives in its own module, in the package that does its work
(listed in ``SUBCOMMAND_MODULES``), with a ``register(subparsers)`` function that adds its parser and sets
``handler``. Modules import heavy dependencies inside their handlers, so
``rollout-diversity --help`` stays fast.

Global options (``-q``) go before or after the subcommand:
``rollout-diversity -q score ...`` and ``rollout-diversity score ... -q`` are the same.

Exit status: 0 on success, 2 on bad input or options (one line on stderr,
no traceback), 130 on Ctrl-C (one line saying what was kept, e.g. the embeddings
already made, which a rerun reads from the cache).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from rollout_common.errors import DiversityError, one_line

# In the order ``--help`` lists them.
SUBCOMMAND_MODULES = (
    "diversity.commands.inspect_logs",
    "diversity.commands.score",
    "diversity.commands.report",
    "diversity.commands.plot",
    "trainers.commands",
    "trainers.experiment",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollout-diversity",
        description="Score, plot and report how diverse RL rollouts stay over training; "
        "train GRPO / REPO-R lineages that log such rollouts.",
    )
    _add_global_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for subparser in subparsers.choices.values():
        # SUPPRESS: an option not given after the subcommand leaves the value from before it.
        _add_global_options(subparser, default=argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="only print warnings and errors")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return args.handler(args) or 0
    except DiversityError as error:
        print(f"rollout-diversity {args.command}: error: {one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # its message, when it has one, says what was kept
        detail = f"; {interrupt}" if str(interrupt) else ""
        print(f"rollout-diversity {args.command}: interrupted{detail}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
