"""Errors a user can act on: each names the file, the line or row, the field, and the fix.

The CLI turns any :class:`DiversityError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import re
from pathlib import Path

# Characters that would break the one line (a form feed, U+2028 in a column name) or control a terminal, written as
# their escapes: a message quotes what the file holds.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class DiversityError(Exception):
    """Base class for errors caused by user input (files, options, values)."""


class InputError(DiversityError, ValueError):
    """A problem with one input file, located as precisely as we can.

    The message reads ``FILE:LINE: field 'F': PROBLEM; FIX`` (the parts that are
    known), so it fits on one line and editors can jump to it.
    """

    def __init__(
        self,
        path: str | Path | None,
        problem: str,
        *,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.row = row
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.path or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        elif self.row is not None:
            where += f": row {self.row}"
        parts = [where + ":"]
        if self.field is not None:
            parts.append(f"field '{self.field}':")
        parts.append(self.problem)
        message = " ".join(parts)
        if self.fix:
            message += f"; {self.fix}"
        return one_line(message)


def one_line(text: str) -> str:
    """``text`` on one line: newlines as spaces, other line breaks and control characters as their escapes."""
    return _CONTROL.sub(lambda found: ascii(found.group())[1:-1], text.replace("\n", " "))


class OptionError(DiversityError, ValueError):
    """A bad command-line option or function argument; the message names it."""


class OutputError(DiversityError, OSError):
    """An output could not be written (full disk, read-only or forbidden folder, ...); names the path and the fix."""
