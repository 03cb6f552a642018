"""rollout-diversity: see, and control, how diverse RL rollouts stay over training.

Load any trainer's rollout log into one canonical table::

    import diversity
    rollouts = diversity.load_rollouts("runs/grpo")          # polars.DataFrame
    trl = diversity.load_rollouts("out/completions", diversity.LoadOptions(group_size=8))

Importing this package is light: torch, sentence-transformers and matplotlib
load only inside the functions that need them.
"""

from __future__ import annotations

import importlib

from diversity.load import LoadOptions, load_rollouts, read_rollouts
from diversity.schema import COLUMNS as SCHEMA
from rollout_common.errors import DiversityError, InputError, OptionError

__version__ = "0.1.0"

# Public names that live in heavier modules, imported on first use. A module
# must not share its name with a function exported here: importing
# `diversity.scoring` would otherwise rebind `diversity.score` to the module.
_LAZY = {
    "score": "diversity.scoring",
    "Scores": "diversity.scoring",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'diversity' has no attribute {name!r}")


__all__ = [
    "DiversityError",
    "InputError",
    "LoadOptions",
    "OptionError",
    "SCHEMA",
    "load_rollouts",
    "read_rollouts",
    *_LAZY,
]
