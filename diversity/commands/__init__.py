"""Subcommands of ``rollout-diversity``, one module each, in the order ``--help`` lists them.

Each module defines ``register(subparsers)``; its parser sets ``handler``, a
function ``(argparse.Namespace) -> int | None`` that does the work.
"""

SUBCOMMAND_MODULES = (
    "diversity.commands.inspect",
    "diversity.commands.score",
    "diversity.commands.report",
    "diversity.commands.plot",
    "trainers.cli",
    "trainers.experiment",
)
