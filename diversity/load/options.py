"""How to read rollout logs: one options object, validated once, for every caller that loads.

``load_rollouts``, ``read_rollouts``, ``diversity.analysis.analyse``,
``build_report`` and the subcommands that read logs all take a
:class:`LoadOptions`; the command line builds it from its flags
(``diversity.commands.options``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import Any

from diversity.load.formats import FORMATS
from diversity.schema import COLUMNS, SPLITS
from rollout_common.errors import OptionError

BAD_ROW_MODES = ("error", "skip")


@dataclass(frozen=True)
class LoadOptions:
    """How to read rollout logs. A bad value is an OptionError when the object is made."""

    format: str = "auto"
    """``"auto"`` (detect each file's format from its columns) or a name in ``diversity.load.formats.FORMATS``"""
    group_size: int | None = None
    """responses per prompt; required for TRL dumps, whose groups are consecutive blocks of ``num_generations`` rows"""
    lineage: str | None = None
    """sets the lineage of every row (default: the file's own ``lineage`` column, else the run directory's name)"""
    phase: str | None = None
    """sets the phase of every row (default: the file's own, else "1")"""
    on_bad_row: str = "error"
    """``"error"``: raise at the first bad row; ``"skip"``: skip it, counted with its location in the LoadResult"""
    split: str | None = None
    """sets the split of every row, "train" or "eval", in any format (default: the file's own; verl dumps in a
    folder named like a validation_data_dir are eval)"""
    reward_weights: tuple[float, ...] | None = None
    """TRL: the run's ``reward_weights``, one per reward column in the file's column order; ``reward`` is then
    TRL's total, the weighted sum skipping nulls (default: every weight 1)"""

    columns: dict[str, str] | None = None
    """a table of your own: which of its columns holds each canonical field, e.g. ``{"prompt": "question",
    "response": "answer", "group_id": "uid", "step": "iteration", "reward": "score"}`` (or the string
    ``"prompt=question,response=answer,..."``); a file holding every named column is read as a table
    (``formats.table``), a list-valued ``response`` column making each row one group"""

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in FORMATS:
            raise OptionError(f"unknown format {self.format!r}; choose auto or one of {', '.join(FORMATS)}")
        if self.on_bad_row not in BAD_ROW_MODES:
            raise OptionError(f"on_bad_row must be 'error' or 'skip', not {self.on_bad_row!r}")
        size = self.group_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, Integral) or size < 1):
            raise OptionError(f"group_size must be a positive integer, not {size!r}")
        for name in ("lineage", "phase"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise OptionError(f"{name} must be a string, not {value!r}; write {name}={str(value)!r}")
        if self.split is not None and self.split not in SPLITS:
            raise OptionError(f"split must be one of {', '.join(SPLITS)}, not {self.split!r}")
        if self.reward_weights is not None:
            object.__setattr__(self, "reward_weights", _weights(self.reward_weights))
        if self.columns is not None:
            object.__setattr__(self, "columns", _column_mapping(self.columns))

    @property
    def skip_bad_rows(self) -> bool:
        return self.on_bad_row == "skip"

    @classmethod
    def given(cls, options: LoadOptions | None, values: dict[str, Any]) -> LoadOptions:
        """``options``, or one made from keyword arguments (``format=``, ``group_size=``, ...); not both."""
        if options is None:
            unknown = sorted(set(values) - {f.name for f in fields(cls)})
            if unknown:
                raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}; LoadOptions has "
                                f"{', '.join(f.name for f in fields(cls))}")
            return cls(**values)
        if not isinstance(options, LoadOptions):
            raise TypeError(f"options must be a LoadOptions, not {type(options).__name__}")
        if values:
            raise OptionError(f"pass either a LoadOptions or its fields as keywords ({', '.join(values)}), not both")
        return options


def _weights(values: Any) -> tuple[float, ...]:
    """Reward weights as a tuple of finite floats; from a sequence or a comma-separated string ("1.0,0.5")."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        items = list(values)
    except TypeError:
        raise OptionError(f"reward_weights must be a list of numbers, not {values!r}") from None
    weights = []
    for value in items:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise OptionError(f"reward weight {value!r} is not a number; write e.g. 1.0,0.5") from None
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise OptionError(f"reward weight {value!r} is not a finite number; write e.g. [1.0, 0.5]")
        weights.append(float(value))
    if not weights:
        raise OptionError("reward_weights is empty; give one weight per reward column, or leave it unset")
    return tuple(weights)


def _column_mapping(values: Any) -> dict[str, str]:
    """A column mapping as {canonical field: the file's column}; from a dict or "field=column,field=column"."""
    example = "write e.g. prompt=question,response=answer,group_id=uid"
    if isinstance(values, str):
        pairs = []
        for item in (v for v in values.split(",") if v.strip()):
            name, sep, column = item.partition("=")
            if not sep:
                raise OptionError(f"column mapping {item.strip()!r} has no '='; {example}")
            pairs.append((name.strip(), column.strip()))
    elif isinstance(values, dict):
        pairs = list(values.items())
    else:
        raise OptionError(f"columns must be a dict of canonical field to column name, not {type(values).__name__}")
    mapping: dict[str, str] = {}
    for name, column in pairs:
        if name not in COLUMNS:
            raise OptionError(f"columns: {name!r} is not a canonical field; map one of {', '.join(COLUMNS)}")
        if not isinstance(column, str) or not column:
            raise OptionError(f"columns: the column for {name!r} must be a non-empty name, not {column!r}; {example}")
        if name in mapping:
            raise OptionError(f"columns: {name!r} is mapped twice ({mapping[name]!r} and {column!r})")
        mapping[name] = column
    if not mapping:
        raise OptionError(f"columns is empty; {example}, or leave it unset")
    return mapping
