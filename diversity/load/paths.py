"""Expand what a user names (files, globs, directories) into the files to read.

A directory that is a run of this project's trainer (see
``rollout_common.run_directory``) is read from its ``rollouts/`` folder, and a
TRL ``output_dir`` (checkpoints, README, trainer_state.json beside
``completions/``) from its ``completions/`` folder; any other directory is
searched recursively for rollout files. ``.pt`` files are picked up only in
folders named as :data:`TORCH_FOLDERS` (slime's ``rollout_data/``), so a
search never unpickles a model checkpoint; name other ``.pt`` files explicitly.

A search never leaves the directory it was given: a symbolic link in it
(to a file or a folder) that points outside it, or nowhere, is not followed,
and a warning names the link and its target (name the target itself to read
it). Links that stay inside are followed; a file reached twice is read once.
Paths the user names (and glob matches) are read wherever their links lead.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from diversity.load.records import SUFFIXES, TORCH_SUFFIX
from rollout_common.errors import InputError, OptionError
from rollout_common.run_directory import RunPaths, is_run_directory

log = logging.getLogger("diversity")

# The folder of a TRL output_dir that GRPOTrainer(log_completions=True) writes completions_{step:05d}.parquet into.
TRL_COMPLETIONS = "completions"
# Folders whose .pt files a directory search reads: slime's --dump-details D writes D/rollout_data/{id}.pt.
TORCH_FOLDERS = ("rollout_data",)


def as_list(paths: str | Path | Iterable[str | Path]) -> list[str | Path]:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read, each once, with whether it was found by searching a directory
    (such a file may be skipped when it is not a rollout log; a named one may not)."""
    found: list[tuple[Path, bool]] = []
    items = as_list(paths)
    if not items:
        raise OptionError("no input paths given")
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.extend((p, True) for p in files_in_directory(path))
        elif path.exists():
            found.append((path, False))
        elif globlib.has_magic(str(item)):
            matches = sorted(Path(m) for m in globlib.glob(str(item), recursive=True))
            if not matches:
                raise InputError(item, "the pattern matches no file", fix="check the path and quoting")
            for match in matches:
                if match.is_dir():
                    found.extend((p, True) for p in files_in_directory(match))
                else:
                    found.append((match, False))
        else:
            raise InputError(item, "no such file or directory", fix="check the path")
    if not found:
        raise InputError(
            ", ".join(str(i) for i in items),
            f"no rollout files found (looked for {', '.join('*' + s for s in SUFFIXES)})",
            fix="point at a log file or a folder that holds some",
        )
    seen, unique = set(), []
    for path, in_directory in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((path, in_directory))
    return unique


def files_in_directory(directory: Path) -> list[Path]:
    """Rollout files under a directory, not following links out of it; a trainer run is read from its rollouts/
    folder, a TRL output_dir from its completions/ folder."""
    if is_run_directory(directory):
        directory = RunPaths(directory).rollouts
    elif any((directory / TRL_COMPLETIONS).glob("completions_*.parquet")):
        directory = directory / TRL_COMPLETIONS
    root = directory.resolve()
    found = []
    for folder, subfolders, names in os.walk(directory):  # a linked folder is listed, never entered
        for name in sorted(subfolders):
            link = Path(folder, name)
            if link.is_symlink() and not _stays_inside(link, root):
                _warn_link(link, directory)
        for name in names:
            path = Path(folder, name)
            if not _is_rollout_file(path):
                continue
            if path.is_symlink() and not (_stays_inside(path, root) and path.is_file()):
                _warn_link(path, directory)
            elif path.is_file():
                found.append(path)
    return sorted(found)


def _is_rollout_file(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    return path.suffix in SUFFIXES or (path.suffix == TORCH_SUFFIX and path.parent.name in TORCH_FOLDERS)


def _stays_inside(link: Path, root: Path) -> bool:
    try:
        return link.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a loop of links
        return False


def _warn_link(link: Path, directory: Path) -> None:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    where = "nowhere" if not link.exists() else f"outside {directory}"
    log.warning("%s: not following the link to %s (it points %s); name the target to read it", link, target, where)
