"""The log formats the loader reads: one module per format, and this registry.

Adding a format is one module that defines ``FORMAT = Format(...)`` (its
columns and its reader, see :class:`~diversity.load.formats.base.Format`) and
one line in :data:`FORMATS`. ``--format`` offers exactly these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diversity.load.formats import batch, canonical, lm_eval, noveltybench, skyrl, slime, table, trl, verifiers, verl
from diversity.load.formats.base import Format

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

# name → Format, in the order messages and --help list them. With format="auto" a
# file is read as the format whose columns it has; when several match, the one
# listed last wins, so canonical's generic prompt+response is tried after every other, verifiers'
# example_id+prompt+completion before TRL's prompt+completion, and the table's prompt+generations+rewards
# before NoveltyBench's prompt+generations. A format's ``claims`` (the table's, for a columns= mapping) comes first.
FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        canonical.FORMAT,
        trl.FORMAT,
        verl.FORMAT,
        noveltybench.FORMAT,
        skyrl.FORMAT,
        slime.FORMAT,
        lm_eval.FORMAT,
        batch.FORMAT,
        verifiers.FORMAT,
        table.FORMAT,
    )
}


def detect(columns: set[str], options: LoadOptions | None = None) -> Format | None:
    """The format whose columns a file has, or None when it matches none; a format the options make claim
    the file (``Format.claims``) comes first."""
    if options is not None:
        for fmt in FORMATS.values():
            if fmt.claims is not None and fmt.claims(columns, options):
                return fmt
    for fmt in reversed(FORMATS.values()):
        if fmt.matches(columns):
            return fmt
    return None


def companion_reason(name: str) -> str | None:
    """Why a file of this name beside some format's logs is not a rollout log (``Format.companions``), if known."""
    for fmt in FORMATS.values():
        if name in fmt.companions:
            return fmt.companions[name]
    return None


def expected_columns() -> str:
    """Each format's columns, for a message about a file that matches none: 'prompt+response (canonical), ...'."""
    listed = [f"{'+'.join(fmt.columns)} ({fmt.name})" for fmt in FORMATS.values()]
    return ", ".join(listed[:-1]) + " or " + listed[-1] if len(listed) > 1 else listed[0]


__all__ = ["FORMATS", "Format", "companion_reason", "detect", "expected_columns"]
