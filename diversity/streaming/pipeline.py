"""``score_logs``: score rollout logs of any size into one scores file, with memory set by the chunk.

read (:mod:`~diversity.streaming.reading`) → partition (:mod:`~diversity.streaming.partition`)
→ :func:`diversity.score` on each bucket of whole groups → append to one Parquet
file (:class:`~diversity.streaming.output.ScoresWriter`).

A log of at most ``chunk_rows`` rows is scored in one piece. A larger one is
spilled to a hidden folder beside the output (removed at the end; it takes
about the log's size in compressed Arrow) and scored bucket by bucket. Either
way the file equals ``score(load_rollouts(paths), ...).to_parquet(out)``: the
same rows in the same order and the same numbers, because every metric of a
group reads that group only. The one embedder whose vectors depend on the
other texts, ``tfidf``, is refused for a log over one chunk.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from numbers import Integral
from pathlib import Path

from diversity.load.options import LoadOptions
from diversity.load.paths import as_list
from diversity.scoring import ENGINES
from diversity.streaming.output import ScoresFile, ScoresWriter, merged_log
from diversity.streaming.partition import Spill
from diversity.streaming.reading import ROW, LogReader
from rollout_common.errors import OptionError
from rollout_common.files import atomic_path, check_output_path

CHUNK_ROWS = 200_000
"""Rollouts scored at once by default: a peak of 1.3-1.5 GB for 40-120-word answers (benchmarks/bench_scale.py)."""


def score_logs(
    paths: str | Path | Iterable[str | Path],
    out: str | Path,
    *,
    load_options: LoadOptions | None = None,
    chunk_rows: int = CHUNK_ROWS,
    engine: str = "local",
    progress: bool = True,
    force: bool = False,
    **score_options,
) -> ScoresFile:
    """Read, score and write the logs at ``paths`` a chunk of whole groups at a time.

    Args:
        paths: files, globs or directories, as for :func:`diversity.load_rollouts`.
        out: the Parquet file to write (replaced only with ``force``).
        load_options: how to read the logs (:class:`~diversity.load.LoadOptions`).
        chunk_rows: rollouts per chunk; peak memory grows with it, not with the log.
        engine: ``"local"`` (this process) or ``"ray"`` (Ray Data, :mod:`diversity.ray_engine`).
        progress: show progress bars (rows done, ETA) on stderr.
        **score_options: passed to :func:`diversity.score` for every chunk (``metrics``,
            ``embedder``, ``batch_size``, ``cache_dir``, ``token_pattern``, ``device``, ...).
    """
    check_chunk_rows(chunk_rows)
    if engine not in ENGINES:
        raise OptionError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    options = load_options or LoadOptions()
    out = check_output_path(out, force=force, inputs=as_list(paths))
    with atomic_path(out) as tmp:
        writer = ScoresWriter(tmp)
        try:
            if engine == "ray":
                from diversity.ray_engine import score_logs_on_ray

                files, rows = score_logs_on_ray(paths, writer, options, chunk_rows, progress, score_options)
                ignored = []
            else:
                with tempfile.TemporaryDirectory(prefix=f".{out.name}.spill-", dir=out.parent) as folder:
                    reader = LogReader(paths, options, chunk_rows, progress)
                    for scores in _score_chunks(reader, Spill(Path(folder), chunk_rows), progress, score_options):
                        writer.write(scores)
                files, ignored, rows = reader.files, reader.ignored, reader.rows
        finally:
            writer.close()
    return ScoresFile(out, rows, writer.groups, writer.metrics, writer.settings, files, ignored)


def check_chunk_rows(chunk_rows) -> None:
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, Integral) or chunk_rows < 1:
        raise OptionError(f"chunk_rows must be a positive integer, not {chunk_rows!r}")


def chunk_embedder(score_options: dict, rows: int, chunk_rows: int) -> dict:
    """``score_options`` with the embedder made once for every chunk (a model loads once), when one is needed;
    an embedder fitted to all the texts at once (tfidf) is refused for a log over one chunk."""
    from diversity.embedding import BATCH_SIZE, DEFAULT_EMBEDDER, get_embedder
    from diversity.metrics.registry import resolve

    if not any(spec.needs_embeddings for spec in resolve(score_options.get("metrics"))):
        return score_options
    name = score_options.get("embedder", DEFAULT_EMBEDDER)
    embedder = get_embedder(name, score_options.get("batch_size", BATCH_SIZE), score_options.get("device"),
                            score_options.get("cache_dir"))
    if embedder.fitted_to_texts and rows > chunk_rows:
        raise OptionError(
            f"embedder {name!r} is fitted to all the texts it embeds at once, so a log scored in chunks would get "
            f"other vectors; the log has {rows} rows, more than chunk_rows = {chunk_rows}: use --embedder hashing "
            f"or minilm, or --chunk-rows {rows}"
        )
    return {**score_options, "embedder": embedder}


def _score_chunks(reader: LogReader, spill: Spill, progress: bool, score_options: dict) -> Iterator:
    """Scores of each chunk, in group-key order: the whole log at once when it fits one chunk."""
    from tqdm.auto import tqdm

    from diversity.scoring import score

    for frame in reader:
        spill.add(frame)
    options = {**chunk_embedder(score_options, reader.rows, spill.chunk_rows), "progress": False}
    with merged_log(), tqdm(total=reader.rows, desc="scoring", unit="rollout", unit_scale=True,
                            disable=not progress) as bar:
        for chunk in spill.buckets(progress):
            yield score(chunk.drop(ROW), **options)
            bar.update(chunk.height)
