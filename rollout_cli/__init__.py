"""The ``rollout-diversity`` command line: assembles the subcommands of ``diversity`` and ``trainers``.

It sits above both packages (they never import it); ``main`` is the console entry point.
"""

from rollout_cli.command_line import build_parser, main

__all__ = ["build_parser", "main"]
