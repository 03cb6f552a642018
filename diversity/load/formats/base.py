"""What the registry holds for each log format: how to recognise its files and how to read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from diversity.load.options import LoadOptions
    from diversity.load.records import Records
    from diversity.load.result import FileReport

    # What the loader has read in one format: each file's report and canonical rows.
    ReadFiles = list[tuple[FileReport, pl.DataFrame]]


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
    finish: Callable[[ReadFiles, LoadOptions], ReadFiles] | None = None
    """optional: runs once over all the files read in this format, after lineage, phase and split are filled,
    for what one file cannot tell (a batch re-logged at a later step, a group larger than its run's usual);
    returns the (report, frame) pairs to keep, noting on each report what it changed"""

    claims: Callable[[set[str], LoadOptions], bool] | None = None
    """optional: True when the options make a file with these columns this format's, whatever else it matches
    (a ``columns=`` mapping naming the file's columns); tried before any format's ``columns``"""
    companions: dict[str, str] = field(default_factory=dict)
    """file names that sit beside this format's logs and are not rollouts, with why (SkyRL's
    ``aggregated_results.jsonl``): a search skips them with the reason, a named one is refused with it"""

    def matches(self, columns: set[str]) -> bool:
        return set(self.columns) <= columns
