"""What the registry holds for each log format: how to recognise its files and how to read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from diversity.load.options import LoadOptions
    from diversity.load.records import Records
    from diversity.load.result import FileReport


@dataclass(frozen=True)
class Format:
    """One log format."""

    name: str
    """the ``format=`` / ``--format`` value"""
    title: str
    """what the log is, for messages ("TRL GRPOTrainer completions")"""
    columns: tuple[str, ...]
    """columns every file of this format has: ``format="auto"`` detects the format by them"""
    read: Callable[[Records, FileReport, LoadOptions], pl.DataFrame]
    """converts a file's records to canonical rows (``rows.to_frame``), each record inside a guard of
    ``rows.each_row`` so that it is counted on the FileReport as kept, skipped or de-duplicated;
    lineage and phase left null are filled by the loader"""

    def matches(self, columns: set[str]) -> bool:
        return set(self.columns) <= columns
