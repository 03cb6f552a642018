"""What one untrusted log file may make the loader hold, and the checks that hold it there.

:func:`file_limit` bytes (2 GiB; the environment variable
``ROLLOUT_DIVERSITY_MAX_FILE_BYTES`` sets another) per file read whole, and
per piece when a log is streamed (``diversity.streaming``): measured on disk
for JSONL, CSV and torch files, from the metadata and again as decoded for
Parquet and Arrow, and as unpickled for torch files, before any row becomes a
Python object, so a small file that would expand to gigabytes is refused.
One JSON line may hold :data:`MAX_LINE_BYTES`; a record or column may nest
:data:`MAX_NESTING` levels.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rollout_common.errors import InputError, OptionError

LIMIT_ENV = "ROLLOUT_DIVERSITY_MAX_FILE_BYTES"
MAX_FILE_BYTES = 2 * 1024**3
"""The default of :func:`file_limit`."""
MAX_LINE_BYTES = 64 * 1024**2
"""The longest JSON line read (a 5 MB response is fine; a file with no newlines is not one line)."""
MAX_NESTING = 64
"""The deepest JSON record, Parquet or Arrow column, or torch value read (TRL's conversational
``list<struct<role, content>>`` is 4 levels); polars takes seconds to convert values nested some hundreds of
levels."""
BYTES_PER_VALUE = 16
"""Bytes a decoded value takes at least (an Arrow slot plus a Python object's header), for bounds that count
values."""
MAX_UNPICKLED_RATIO = 64
"""How many times its size on disk a torch file may take as unpickled, each shared reference counted at every
use. A pickle refers to a value it already wrote in two bytes, which is to it what compression is to Parquet:
slime's dumps take some 10 times their size as Python objects; a file of 7 KB that refers to one sample 32,768
times takes 200 MB and seconds to read."""


def file_limit() -> int:
    """The most bytes one file may take once read: ``$ROLLOUT_DIVERSITY_MAX_FILE_BYTES``, else MAX_FILE_BYTES."""
    value = os.environ.get(LIMIT_ENV, "").strip()
    if not value:
        return MAX_FILE_BYTES
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise OptionError(f"{LIMIT_ENV}={value!r}: give a positive number of bytes, e.g. {MAX_FILE_BYTES}")
    return limit


def check_size(path: Path, size: int, how: str) -> None:
    """An InputError when ``size`` bytes (measured ``how``) is over :func:`file_limit`."""
    limit = file_limit()
    if size > limit:
        raise InputError(
            path, f"the file would take {size_text(size)} to read ({how}), over the {size_text(limit)} limit for "
                  "one file", fix=f"split it (e.g. one file per step), or raise the limit with {LIMIT_ENV}=BYTES",
        )


def size_text(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:.2f} GiB"
    return f"{size / 1024**2:.4g} MiB" if size >= 1024**2 else f"{size:,} bytes"


def nested_deeper(value: Any, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels (the value itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def check_unpickled(path: Path, value: Any, on_disk: int) -> None:
    """Refuse what a torch file unpickled to when, each shared value counted at every use, it is over the file
    limit or over MAX_UNPICKLED_RATIO times the file's size on disk."""
    size = unpickled_size(path, value)
    check_size(path, size, "as unpickled, each shared value counted at every use")
    if size > MAX_UNPICKLED_RATIO * on_disk:
        raise InputError(
            path, f"the file would take {size_text(size)} as unpickled, {size / on_disk:,.0f} times its "
                  f"{size_text(on_disk)} on disk (at most {MAX_UNPICKLED_RATIO} times): it refers to shared values "
                  "over and over, and each use would become its own copy in the rows",
            fix="save each sample's values as their own objects (slime: Sample.to_dict())",
        )


def unpickled_size(path: Path, value: Any) -> int:
    """Bytes ``value`` (what a torch file unpickled to) takes as Python objects once every reference to a
    shared value is its own copy, as the rows made from it will be: a pickle may refer to one list a million
    times, or nest lists that do so. Each distinct container is measured once and its repeats counted in C, so this is quick
    however large the answer; nesting past MAX_NESTING, or a value that contains itself, is an InputError."""
    measured: dict[int, tuple[int, int]] = {}  # id -> (bytes, levels) of a container measured
    open_now: set[int] = set()  # the containers whose children are being measured: the current path
    stack: list[tuple[Any, int, bool]] = [(value, 1, False)]  # (value, its level, its children measured)
    while stack:
        item, depth, done = stack.pop()
        children = _children(item)
        if children is None:
            continue
        key = id(item)
        if done:
            open_now.discard(key)
            total, levels = _own_size(item), 1
            for child, uses in _distinct(children):
                size, height = measured[id(child)] if _children(child) is not None else (_own_size(child), 0)
                total, levels = total + uses * size, max(levels, 1 + height)
            measured[key] = (total, levels)
            continue
        if key in open_now:
            raise InputError(path, "the file holds a value that contains itself", fix="re-save it without cycles")
        levels = measured[key][1] if key in measured else 1
        if depth + levels - 1 > MAX_NESTING:
            raise InputError(path, f"a value is nested more than {MAX_NESTING} levels deep",
                             fix="flatten the nested values")
        if key not in measured:
            open_now.add(key)
            stack.append((item, depth, True))
            stack.extend((child, depth + 1, False) for child, _ in _distinct(children))
    return measured[id(value)][0] if _children(value) is not None else _own_size(value)


def _distinct(children: list) -> list[tuple[Any, int]]:
    """Each distinct child (by identity) with how many times the container holds it; counted in C, so a list
    holding one dict a million times costs one entry."""
    uses = Counter(map(id, children))
    return [(child, uses[key]) for key, child in dict(zip(map(id, children), children)).items()]


def _children(value: Any) -> list | None:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return None


def _own_size(value: Any) -> int:
    """Bytes the object itself takes (a container without its items), a tensor's or array's data included."""
    nbytes = getattr(value, "nbytes", None)
    try:
        return sys.getsizeof(value) + (nbytes if isinstance(nbytes, int) else 0)
    except TypeError:
        return BYTES_PER_VALUE
