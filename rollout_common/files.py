"""Writing outputs safely: to a temporary file in the same folder, then renamed.

A reader never sees half a file, and a crash mid-write leaves the previous
version intact. An existing output is replaced only when ``force`` is set.
Two processes writing one output at once each rename a whole file of their
own, so the result is one of them, never a mix. The new file gets the mode a
plain ``open()`` would give it (the umask's), a replaced file keeps its mode,
and the folder is fsynced after the rename so the new name survives a power
cut. A full disk, a read-only or forbidden folder, or a file where a folder
should be is one :class:`~rollout_common.errors.OutputError` naming the path
and the fix; the previous output stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rollout_common.errors import OptionError, OutputError

# errno -> (what happened, what would fix it)
_FIXES = {
    errno.ENOSPC: ("no space left on the device", "free some space or write to another folder"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write to another folder"),
    errno.EROFS: ("the file system is read-only", "write to another folder"),
    errno.EACCES: ("permission denied", "write to a folder you may write to, or change its permissions"),
    errno.EPERM: ("operation not permitted", "write to a folder you may write to, or change its permissions"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "give a path whose parent folders are folders"),
    errno.EEXIST: ("a part of the path is a file, not a folder", "give a path whose parent folders are folders"),
    errno.EISDIR: ("the path is a folder", "give a file path"),
}
_POLARS_OS_ERROR = re.compile(r"\(os error (\d+)\)")


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


def os_error_number(error: BaseException) -> int | None:
    """The errno behind ``error``: an OSError's own, or the one polars/pyarrow quote in their message."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    match = _POLARS_OS_ERROR.search(str(error))
    return int(match.group(1)) if match else None


def output_error(path: Path, error: BaseException) -> OutputError | None:
    """The one-line error for a failed write of ``path``, or None when ``error`` is not an I/O failure we know."""
    number = os_error_number(error)
    if number not in _FIXES:
        return None
    problem, fix = _FIXES[number]
    return OutputError(f"cannot write {path}: {problem}; {fix} (the previous {path.name}, if any, is unchanged)")


def _new_file_mode() -> int:
    """0o666 less the process umask: the mode ``open(path, 'w')`` would give a new file."""
    try:  # Linux reports the umask without changing it (changing it is not thread-safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename itself is still atomic
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as error:
        raise output_error(path, error) or error from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)  # a replaced file keeps its mode
        except FileNotFoundError:
            mode = _new_file_mode()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
        _fsync_folder(path.parent)
    except Exception as error:
        translated = output_error(path, error)
        if translated is None:
            raise
        raise translated from None
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
