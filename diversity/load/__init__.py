"""Read rollout logs from the trainers people use into the canonical schema (SPEC.md §2).

::

    from diversity.load import LoadOptions, read_rollouts
    result = read_rollouts("out/completions", LoadOptions(group_size=8))   # TRL: group_size = num_generations
    result.frame, result.files, result.skipped

The formats live in :mod:`diversity.load.formats`, one module each
(canonical, TRL, verl, NoveltyBench, SkyRL, slime, lm-evaluation-harness,
OpenAI / vLLM batch output, verifiers, and tables of your own named with
``columns=``), detected per file from its columns with ``format="auto"``. Paths may be files, globs or directories
(:mod:`~diversity.load.paths`): a trainer run directory is read from its
``rollouts/`` folder, a TRL output_dir from its ``completions/``; files found in
any other directory whose columns match no format are listed as ignored (never
silently).

What a reader sums, drops, de-duplicates or warns about is never silent
either: each :class:`FileReport` says how the reward was made (``reward``),
where the split came from (``split``), and counts every event (``counts``,
with one sentence each in ``notes``: the count and the fix); ``inspect`` prints
them and the report's provenance lists them.

Bad input raises :class:`~rollout_common.errors.InputError` naming the file,
line or row, and field. With ``on_bad_row="skip"`` bad rows are skipped
instead, and counted with their first locations in :attr:`LoadResult.skipped`.
No record is lost silently: each file's ``read`` records are ``kept``,
``skipped``, ``dropped`` (by the format's own rule, noted) or
``deduplicated`` (noted).

Modules: ``options`` (:class:`LoadOptions`), ``paths`` (expanding inputs),
``records`` (opening JSONL / Parquet / CSV / Arrow / torch files), ``columnar`` (Parquet and Arrow
through pyarrow, a piece at a time), ``limits`` (what one file may make the loader hold), ``rows`` (the row loop and field
checks the readers share), ``formats/`` (one reader per format and the
registry), ``read`` (the loop, then each format's look across its files), ``result``
(:class:`LoadResult`, :class:`FileReport`).
"""

from __future__ import annotations

from diversity.load.options import LoadOptions
from diversity.load.read import load_rollouts, read_rollouts
from diversity.load.result import FileReport, LoadResult

__all__ = ["FileReport", "LoadOptions", "LoadResult", "load_rollouts", "read_rollouts"]
