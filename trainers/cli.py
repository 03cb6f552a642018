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


def register(subparsers) -> None:
    from trainers.config import SECTIONS, WARMUP_SECTIONS

    train = subparsers.add_parser(
        "train", help="train a GRPO / REPO-R / ... lineage on a synthetic task, logging rollouts",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_fields(train, SECTIONS)
    train.add_argument("--resume", action="store_true", help="continue --out from its last checkpoint (same options; --steps may grow)")
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
    import json
    from pathlib import Path

    from trainers.config import TrainConfig
    from trainers.loop import train

    values = _values(args)
    config = TrainConfig.from_flat(values)
    if args.resume and values.get("out"):
        saved = Path(values["out"]) / "config.json"
        if saved.is_file():  # the run's own options, then whatever was given again on the command line
            base = TrainConfig.from_dict({k: v for k, v in json.loads(saved.read_text()).items() if k != "derived"})
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
