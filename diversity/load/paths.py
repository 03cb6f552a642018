"""Expand what a user names (files, globs, directories) into the files to read.

A directory that is a run of this project's trainer (see
``rollout_common.run_directory``) is read from its ``rollouts/`` folder, and a
TRL ``output_dir`` (checkpoints, README, trainer_state.json beside
``completions/``) from its ``completions/`` folder; any other directory is
searched recursively for rollout files. ``.pt`` files are picked up only in
folders named as :data:`TORCH_FOLDERS` (slime's ``rollout_data/``), so a
search never unpickles a model checkpoint; name other ``.pt`` files explicitly.
"""

from __future__ import annotations

import glob as globlib
from collections.abc import Iterable
from pathlib import Path

from diversity.load.records import SUFFIXES, TORCH_SUFFIX
from rollout_common.errors import InputError, OptionError
from rollout_common.run_directory import RunPaths, is_run_directory

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
    """Rollout files under a directory; a trainer run is read from its rollouts/ folder, a TRL output_dir
    from its completions/ folder."""
    if is_run_directory(directory):
        directory = RunPaths(directory).rollouts
    elif any((directory / TRL_COMPLETIONS).glob("completions_*.parquet")):
        directory = directory / TRL_COMPLETIONS
    return sorted(
        p for p in directory.rglob("*")
        if p.is_file() and not p.name.startswith(".")
        and (p.suffix in SUFFIXES or (p.suffix == TORCH_SUFFIX and p.parent.name in TORCH_FOLDERS))
    )
