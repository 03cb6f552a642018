"""Writing outputs safely: to a temporary file in the same folder, then renamed.

A reader never sees half a file, and a crash mid-write leaves the previous
version intact. An existing output is replaced only when ``force`` is set.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rollout_common.errors import OptionError


def check_output_path(path: str | Path, *, force: bool, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse to overwrite without ``force`` and never write over an input."""
    path = Path(path)
    resolved = path.resolve()
    for source in inputs:
        if Path(source).resolve() == resolved:
            raise OptionError(f"output {path} is also an input; choose another --out path")
    if path.exists() and not force:
        raise OptionError(f"output {path} exists; pass --force (force=True) to replace it")
    if path.exists() and path.is_dir():
        raise OptionError(f"output {path} is a directory; give a file path")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

