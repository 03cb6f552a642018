"""What a load returns: the rollouts in canonical form and, per file, what was read and skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

# How many skipped-row locations a report keeps (the count is always exact).
MAX_LOCATIONS = 5


@dataclass
class FileReport:
    """What was read from one file."""

    path: str
    format: str
    rows: int = 0
    skipped: int = 0
    skipped_at: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    """The rollouts in canonical form plus where they came from."""

    frame: pl.DataFrame
    files: list[FileReport]
    ignored: list[str]

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def skipped_at(self) -> list[str]:
        return [location for f in self.files for location in f.skipped_at][:MAX_LOCATIONS]
