"""Subcommands of ``rollout-diversity`` that read and score logs, one module each.

Each module defines ``register(subparsers)``; its parser sets ``handler``, a
function ``(argparse.Namespace) -> int | None`` that does the work. The
command line itself is assembled in ``rollout_cli``.
"""
