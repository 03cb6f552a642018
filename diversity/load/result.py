"""What a load returns: the rollouts in canonical form and, per file, what was read, kept, skipped and de-duplicated.

No row is lost silently: for every file, ``read == kept + skipped +
deduplicated``, each of them counted (the loader's tests hold every fixture and
every fuzzed file to it).
"""

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
    """canonical rows made from the kept records: one each, except where a record is a group (NoveltyBench's lines)"""
    skipped: int = 0
    """bad records skipped (``on_bad_row="skip"``); the first locations are in ``skipped_at``"""
    skipped_at: list[str] = field(default_factory=list)
    read: int = 0
    """records in the file: JSON lines (blank lines hold none), Parquet or CSV rows"""
    kept: int = 0
    """records that became rows"""
    deduplicated: int = 0
    """records dropped as repeats of one already kept (a format that de-duplicates says which)"""


@dataclass
class LoadResult:
    """The rollouts in canonical form plus where they came from."""

    frame: pl.DataFrame
    files: list[FileReport]
    ignored: list[str]

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def deduplicated(self) -> int:
        return sum(f.deduplicated for f in self.files)

    @property
    def skipped_at(self) -> list[str]:
        return [location for f in self.files for location in f.skipped_at][:MAX_LOCATIONS]
