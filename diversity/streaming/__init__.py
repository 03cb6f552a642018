"""Score logs of any size: read, group, score and write a chunk of whole groups at a time.

    from diversity.streaming import score_logs
    written = score_logs("runs/", "scores.parquet", embedder="hashing", chunk_rows=200_000)
    written.rollouts, written.groups, written.summary    # Scores.read_parquet(written.path) reads it back

Peak memory is set by ``chunk_rows``, not by the log; the file is the one
``diversity.score(load_rollouts(...)).to_parquet(...)`` writes. ``engine="ray"``
runs the same per-group kernels on Ray Data (:mod:`diversity.ray_engine`).

``report`` and ``plot`` read logs the same way: :func:`diversity.analysis.analyse`
runs :func:`~diversity.streaming.survey.survey`, which also sums the per-step
tables and keeps the rows for a second read of the groups a page shows.

Modules: ``reading`` (logs as canonical chunks), ``partition`` (rows in any
order regrouped on disk into key-range buckets of whole groups), ``output``
(the incremental scores file, what a run returns, log lines said once),
``pipeline`` (:func:`score_logs`), ``step_totals`` (per-step tables from sums
and counts), ``groups`` (saved and new scores merged, read a whole step at a
time), ``survey`` (what ``analyse`` reads).
"""

from __future__ import annotations

from diversity.streaming.output import ScoresFile
from diversity.streaming.pipeline import CHUNK_ROWS, ENGINES, score_logs

__all__ = ["CHUNK_ROWS", "ENGINES", "ScoresFile", "score_logs"]
