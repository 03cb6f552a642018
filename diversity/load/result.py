"""What a load returns: the rollouts in canonical form and, per file, what was read, kept, left out and changed.

No record is lost silently: for every file, ``read == kept + skipped +
dropped + deduplicated``, each of them counted and each left-out record
reported (the loader's tests hold every fixture and every fuzzed file to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

# How many skipped-row locations a report keeps (the count is always exact).
MAX_LOCATIONS = 5


@dataclass
class FileReport:
    """What was read from one file, and everything the reader summed, dropped, de-duplicated or warned about."""

    path: str
    format: str
    rows: int = 0
    """canonical rows made from the kept records: one each, except where a record is a group (NoveltyBench's
    lines, lm-eval's documents, batch requests, a table's list of responses) or several records are one answer
    (verl's multi-output sessions)"""
    skipped: int = 0
    """bad records skipped (``on_bad_row="skip"``); the first locations are in ``skipped_at``"""
    skipped_at: list[str] = field(default_factory=list)
    read: int = 0
    """records in the file: JSON lines (blank lines hold none), Parquet, CSV or Arrow rows, a torch file's samples"""
    kept: int = 0
    """records whose rows are in the load's frame"""
    dropped: int = 0
    """sound records the format leaves out by its own rule (slime's aborted samples, failed batch requests, ...);
    each rule's count and reason are in ``counts`` and ``notes``"""
    deduplicated: int = 0
    """records left out as repeats of one kept (lm-eval's filter lines, TRL's re-logged batches, ...); noted too"""
    reward: str | None = None
    """how each row's reward was made from the file's columns, when that is more than one column read as-is"""
    split: str | None = None
    """where the rows' split came from, when not the file's own column (an option, a folder's name)"""
    counts: dict[str, int] = field(default_factory=dict)
    """rows or groups dropped, de-duplicated or warned about, by event (``relogged_rows_dropped``, ...); exact"""
    notes: list[str] = field(default_factory=list)
    """one sentence per event in ``counts``: the count, what was done, and how to change it"""

    def note(self, event: str, count: int, sentence: str) -> None:
        """Record ``count`` occurrences of ``event`` with the sentence that explains them (nothing when 0)."""
        if count:
            self.counts[event] = self.counts.get(event, 0) + count
            self.notes.append(sentence)

    def repeated_elsewhere(self, records: int) -> None:
        """``records`` kept records turn out to repeat another file's (a format's look across its files):
        counted as de-duplicated instead."""
        self.kept -= records
        self.deduplicated += records


@dataclass
class LoadResult:
    """The rollouts in canonical form plus where they came from."""

    frame: pl.DataFrame
    files: list[FileReport]
    ignored: list[str]
    """files a directory search found that are not rollout logs"""
    why_ignored: dict[str, str] = field(default_factory=dict)
    """for an ignored file whose name says what it is (SkyRL's aggregated_results.jsonl), why it is not a log"""

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def dropped(self) -> int:
        return sum(f.dropped for f in self.files)

    @property
    def deduplicated(self) -> int:
        return sum(f.deduplicated for f in self.files)

    @property
    def skipped_at(self) -> list[str]:
        return [location for f in self.files for location in f.skipped_at][:MAX_LOCATIONS]

    @property
    def counts(self) -> dict[str, int]:
        """Every file's ``counts``, added up."""
        return added_counts(self.files)


def added_counts(files: list[FileReport]) -> dict[str, int]:
    """The files' ``counts``, added up by event."""
    total: dict[str, int] = {}
    for report in files:
        for event, count in report.counts.items():
            total[event] = total.get(event, 0) + count
    return total
