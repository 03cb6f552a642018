"""``rollout-diversity train`` and ``rollout-diversity warmup``.

Every option is a field of the typed config (``trainers/config.py``), named
``--field-name``, with that field's help text. Examples::

    rollout-diversity warmup --out runs/base
    rollout-diversity train --method grpo --task A --steps 150 --init-from runs/base --out runs/grpo_p1
    rollout-diversity train --method grpo --task B --steps 150 --init-from runs/grpo_p1 --out runs/grpo_p2
    rollout-diversity train --method repo_r --task B --steps 150 --init-from runs/repo_r_p1 \\
        --lineage repo_r_raised --target-entropy 1.5 --out runs/repo_r_raised_p2
    rollout-diversity train ... --out runs/grpo_p1 --resume     # after a crash or kill
"""

from __future__ import annotations

import argparse

_TYPES = {"int": int, "float": float, "str": str, "int | None": int, "float | None": float, "str | None": str}


def _add_fields(parser: argparse.ArgumentParser, sections: dict[str, type]) -> None:
    from dataclasses import fields

    for name, section in sections.items():
        group = parser.add_argument_group(name, section.__doc__.splitlines()[0])
        for f in fields(section):
            default = "" if f.default is None else f" (default: {f.default})"
            group.add_argument(
                f"--{f.name.replace('_', '-')}", dest=f.name, type=_TYPES[str(f.type)], default=None,
                metavar=f.name.upper(), help=f.metadata["help"] + ("" if "default" in f.metadata["help"] else default),
            )


class _HelpWithRegistries(argparse.Action):
    """``train --help``, listing the registries below the options; they are imported only then, as the
    methods and losses need torch and building the parser must not."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help="show this help message and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        parser.epilog = registries_text()
        parser.print_help()
        parser.exit()


def registries_text() -> str:
    """The tasks, methods (with the defaults each sets), aggregations and KL estimators, for ``--help``."""
    from trainers.losses import AGGREGATIONS, KL_ESTIMATORS
    from trainers.methods import METHODS
    from trainers.tasks import TASKS

    def table(title: str, rows: dict[str, str]) -> list[str]:
        width = max(map(len, rows))
        return [title, *(f"  {name:<{width}}  {text}" for name, text in rows.items()), ""]

    methods = {}
    for name, method in METHODS.items():
        sets = [f"--{k.replace('_', '-')} {v}" for k, v in method.rl_defaults.items()]
        notes = (["entropy target"] if method.uses_target else []) + ([f"sets {', '.join(sets)}"] if sets else [])
        methods[name] = method.description + (f" [{'; '.join(notes)}]" if notes else "")
    return "\n".join([
        *table("tasks (--task):", {name: task.description for name, task in TASKS.items()}),
        *table("methods (--method), each one difference on GRPO:", methods),
        *table("aggregations (--aggregation):", AGGREGATIONS),
        *table("KL estimators (--kl-estimator):", KL_ESTIMATORS),
    ]).rstrip()


def register(subparsers) -> None:
    from trainers.config import SECTIONS, WARMUP_SECTIONS

    train = subparsers.add_parser(
        "train", help="train a GRPO / REPO-R / ... lineage on a synthetic task, logging rollouts",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    train.add_argument("-h", "--help", action=_HelpWithRegistries)
    _add_fields(train, SECTIONS)
    train.add_argument("--resume", action="store_true",
                       help="continue --out from its last checkpoint (same options; --steps may grow)")
    train.add_argument("--force", action="store_true", help="delete an existing run in --out and start over")
    train.set_defaults(handler=run_train)

    warm = subparsers.add_parser(
        "warmup", help="supervised warm-up: the base policy (tiny GPT) every lineage starts from",
        description="Fit the tiny GPT to noisy-but-plausible demonstrations of both tasks; "
        "writes OUT/checkpoints/final.pt for train --init-from OUT.",
    )
    _add_fields(warm, WARMUP_SECTIONS)
    warm.add_argument("--force", action="store_true", help="delete an existing run in --out and start over")
    warm.set_defaults(handler=run_warmup)


def _values(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k not in ("handler", "command", "quiet", "resume", "force")}


def run_train(args: argparse.Namespace) -> int:
    from rollout_common.run_directory import RunPaths, read_config
    from trainers.config import TrainConfig
    from trainers.loop import train

    values = _values(args)
    config = TrainConfig.from_flat(values)
    if args.resume and values.get("out"):
        if RunPaths(values["out"]).config.is_file():  # the run's own options, then whatever was given again
            saved = read_config(values["out"]).raw
            base = TrainConfig.from_dict({k: v for k, v in saved.items() if k != "derived"})
            config = TrainConfig.from_flat({**_flat(base), **{k: v for k, v in values.items() if v is not None}})
    out = train(config, resume=args.resume, force=args.force, progress=not args.quiet)
    print(out)
    return 0


def run_warmup(args: argparse.Namespace) -> int:
    from trainers.config import WarmupConfig
    from trainers.warmup import warmup

    out = warmup(WarmupConfig.from_flat(_values(args)), force=args.force, progress=not args.quiet)
    print(out)
    return 0


def _flat(config) -> dict:
    return {k: v for section in config.to_dict().values() for k, v in section.items()}
