"""Subcommands of ``rollout-diversity`` that read and score logs, one module each.

Each subcommand module (``inspect_logs``, ``score``, ``report``, ``plot``)
defines ``register(subparsers)``; its parser sets ``handler``, a function
``(argparse.Namespace) -> int | None`` that does the work. ``options`` holds
the option builders they share. The command line itself is assembled in
``rollout_cli``.
"""
