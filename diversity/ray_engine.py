"""The Ray Data engine: the local engine's per-group kernels, spread over a Ray cluster.

    rollout-diversity score LOGS --out scores.parquet --engine ray   # RAY_ADDRESS=head:6379 joins a cluster
    diversity.score(rollouts, engine="ray")                         # an in-memory frame

It joins the cluster at ``RAY_ADDRESS`` when that is set (or uses the Ray
session already started in this process), else starts a local one and shuts it
down at the end. Every node needs this package (``pip install -e '.[ray]'``),
and the logs and the embedding cache must be on storage every node sees.

How the work splits; each stage is a Ray Data operator, blocks stream between them:

1. read: one task per canonical log file reads it in pieces of ``chunk_rows``
   through the loader's reader (:class:`diversity.streaming.reading.LogReader`), a block per piece.
2. group: each row's bucket is a hash of its group key modulo
   B = ceil(rows / chunk_rows); ``groupby(bucket).map_groups`` (a sort-based
   shuffle, :func:`data_context`) hands each bucket to one task, whole groups
   only, which computes the lexical metrics with :func:`diversity.score` and
   packs each group into one row (its rows' values as lists).
3. embed: an actor pool (``map_batches`` with a callable class; one GPU per
   actor when the cluster has GPUs, else one CPU) loads the embedder once per
   actor; per batch of packed groups (whole groups, since a row is one) it
   embeds each distinct text once, through the on-disk cache when ``cache_dir``
   is given, and computes the embedding metrics with :func:`diversity.score`.
4. sort and write: ``sort`` by the group key (Ray's sampled range partition);
   the driver appends the sorted blocks to the one scores file as the local engine does.

A group's metrics read that group only, so the numbers are the local engine's.
Logs are read as the canonical columns and a correct-flag column (``diversity.outcomes``); other columns
beyond the schema are dropped. Canonical JSONL and Parquet files are read by Ray tasks; files of the
other formats are read by the driver's loader, as the local engine reads them (their loaders look across files).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from diversity.load.options import LoadOptions
from diversity.load.paths import as_list
from diversity.schema import COLUMNS, GROUP_KEYS
from diversity.streaming.reading import ROW, LogReader
from rollout_common.errors import InputError

log = logging.getLogger("diversity")

FILE = "_file"
BUCKET = "_bucket"
SETTINGS = "_settings"
# Packed groups per embedding batch: chunk_rows rollouts in groups of this many.
_GROUP_GUESS = 8
# Memory a bucket task reserves per rollout (the local engine peaks near 6 KB a rollout at 200k a chunk). The
# reservation also keeps the bucket tasks apart from the embedding actors: Ray fuses operators with equal resources.
_BYTES_PER_ROW = 6_000


# Tries at starting a local Ray: its raylet gives up when the dashboard agent takes over 15 s to start,
# which happens on a busy machine (ray-project/ray#65983); a second try usually finds the imports cached.
START_ATTEMPTS = 3


@contextlib.contextmanager
def ray_session() -> Iterator[object]:
    """The running Ray session, the cluster at $RAY_ADDRESS, or a local one (shut down on exit)."""
    try:
        import ray
    except ImportError:
        from rollout_common.errors import OptionError

        raise OptionError("--engine ray needs Ray Data: pip install -e '.[ray]'") from None
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            start_local(ray)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def data_context(progress: bool) -> Iterator[None]:
    """Ray Data settings for the engine's datasets, restored afterwards: progress bars, and the sort-based
    pull shuffle for ``groupby`` and ``sort``. The default hash shuffle starts aggregator actors per shuffle:
    on 2 cores the demo took 50 s with it and 4 s without."""
    import ray.data
    from ray.data.context import ShuffleStrategy

    context = ray.data.DataContext.get_current()
    before = context.enable_progress_bars, context.shuffle_strategy
    context.enable_progress_bars, context.shuffle_strategy = progress, ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    try:
        yield
    finally:
        context.enable_progress_bars, context.shuffle_strategy = before


def start_local(ray, **init_options) -> None:
    """``ray.init`` of a local instance (no dashboard), tried START_ATTEMPTS times."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            ray.init(include_dashboard=False, logging_level=logging.WARNING, **init_options)
            return
        except Exception as error:  # Ray raises a bare Exception when its node does not come up
            if attempt == START_ATTEMPTS or "timed out during startup" not in str(error):
                raise
            log.warning("ray: the local instance did not start in time (a busy machine); trying again")
            ray.shutdown()


def score_logs_on_ray(paths, writer, options: LoadOptions, chunk_rows: int, progress: bool,
                      score_options: dict) -> tuple[list, int]:
    """Score the logs at ``paths`` on Ray into ``writer`` (a ScoresWriter); returns (files read by the driver, rows)."""
    reader = LogReader(paths, options, chunk_rows)
    planned = reader.plan()
    with ray_session() as ray, data_context(progress):
        import ray.data

        streamed = [{"path": str(path), "file": i} for i, (path, how) in enumerate(planned) if how == "pieces"]
        parts = []
        if streamed:
            parts.append(ray.data.from_items(streamed, override_num_blocks=len(streamed)).map_batches(
                _read_files, batch_size=1, batch_format="pyarrow",
                fn_kwargs={"options": options, "chunk_rows": chunk_rows}))
        whole = reader.read_with_loader([path for path, how in planned if how == "loader"])
        loaded = [_block(frame.slice(at, chunk_rows), i, at) for i, (path, how) in enumerate(planned) if how == "loader"
                  for frame in [whole[path][1]] for at in range(0, frame.height, chunk_rows)]
        if loaded:
            parts.append(ray.data.from_arrow(loaded))
        rows = (parts[0] if len(parts) == 1 else parts[0].union(*parts[1:])).materialize() if parts else None
        count = rows.count() if rows is not None else 0
        if not count:
            raise InputError(", ".join(str(p) for p in as_list(paths)), "no rollout rows found",
                             fix="point at files ending in .jsonl, .parquet or .csv that hold rollouts")
        log.info("ray: %d file(s) read by %d task(s) (%d by the driver's loader) into %d block(s) of at most %d rows",
                 len(planned), len(streamed), len(planned) - len(streamed), rows.num_blocks(), chunk_rows)
        for scores in _scored(ray, rows, count, chunk_rows, score_options):
            writer.write(scores)
    return [report for report, _ in whole.values()], count


def score_on_ray(frame: pl.DataFrame, chunk_rows: int | None = None, **score_options):
    """``diversity.score`` of a frame on Ray; ``frame`` is score's prepared frame (sorted, with ``_row``)."""
    from diversity.scoring import Scores
    from diversity.streaming.pipeline import CHUNK_ROWS

    chunk_rows = chunk_rows or CHUNK_ROWS
    with ray_session() as ray, data_context(score_options.get("progress", True)):
        import ray.data

        table = frame.with_columns(pl.lit(0, pl.Int64).alias(FILE)).to_arrow(compat_level=pl.CompatLevel.oldest())
        blocks = max(1, min(64, math.ceil(frame.height / chunk_rows)))
        parts = list(_scored(ray, ray.data.from_arrow(table).repartition(blocks), frame.height, chunk_rows,
                             score_options))
    metrics, settings = parts[0].metrics, parts[0].settings
    return Scores(pl.concat([p.groups for p in parts]), metrics, settings)


def _scored(ray, rows, count: int, chunk_rows: int, score_options: dict) -> Iterator:
    """Scores of the sorted blocks of per-group results, from a dataset of rows with ``_file`` and ``_row``."""
    from diversity.metrics.registry import resolve
    from diversity.scoring import Scores

    specs = resolve(score_options.get("metrics"))
    names = [s.name for s in specs]
    semantic = [s.name for s in specs if s.needs_embeddings]
    lexical = [n for n in names if n not in semantic]
    options = {**score_options, "progress": False}
    buckets = max(1, math.ceil(count / chunk_rows))
    memory = min(chunk_rows * _BYTES_PER_ROW, ray.cluster_resources().get("memory", math.inf) / 4)
    grouped = rows.map_batches(_add_bucket, batch_format="pyarrow", fn_kwargs={"buckets": buckets}).groupby(
        BUCKET, num_partitions=buckets)
    packed = grouped.map_groups(_score_bucket, batch_format="pyarrow", memory=memory,
                                fn_kwargs={"lexical": lexical, "pack": bool(semantic), "options": options})
    if semantic:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
        packed = packed.map_batches(
            _EmbeddingStage, batch_size=max(1, chunk_rows // _GROUP_GUESS), batch_format="pyarrow",
            fn_constructor_kwargs={"semantic": semantic, "lexical": lexical, "options": options},
            concurrency=(1, actors), **({"num_gpus": 1} if gpus else {"num_cpus": 1}),
        )
        log.info("ray: %d bucket(s) scored by map_groups tasks; embedding on up to %d actor(s) (%s each), "
                 "%d groups a batch", buckets, actors, "1 GPU" if gpus else "1 CPU", max(1, chunk_rows // _GROUP_GUESS))
    else:
        log.info("ray: %d bucket(s) scored by map_groups tasks", buckets)
    for batch in packed.sort(list(GROUP_KEYS)).iter_batches(batch_size=None, batch_format="pyarrow"):
        if batch.num_rows:
            groups = pl.from_arrow(batch)
            settings = json.loads(groups[SETTINGS][0])
            groups = groups.drop(SETTINGS)
            present = [n for n in names if n in groups.columns]  # a metric whose inputs the log lacks is skipped
            yield Scores(groups.select(*[c for c in groups.columns if c not in names], *present), present, settings)


# ---------------------------------------------------------------- the stages (run in Ray workers)


def _read_files(batch, options: LoadOptions, chunk_rows: int) -> Iterator:
    """Stage 1: each canonical file of the batch, a block per piece, with ``_file`` (its index) and ``_row``."""
    for path, index in zip(batch["path"].to_pylist(), batch["file"].to_pylist()):
        done = 0
        for frame in LogReader([path], options, chunk_rows).pieces(Path(path)):
            yield _block(frame, index, done)
            done += frame.height


def _block(frame: pl.DataFrame, index: int, start: int):
    """The canonical columns (and a correct-flag column the file has) of rows ``start``... of file ``index``, as
    Arrow, with ``_file`` and ``_row``: every block of a log has the same columns."""
    from diversity.outcomes import CORRECT_COLUMNS

    return frame.select(
        *(pl.col(name).cast(dtype) for name, dtype in COLUMNS.items()),
        *(c for c in CORRECT_COLUMNS if c in frame.columns),
        pl.lit(index, pl.Int64).alias(FILE),
        pl.int_range(start, start + frame.height, dtype=pl.Int64).alias(ROW),
    ).to_arrow(compat_level=pl.CompatLevel.oldest())


def _add_bucket(table, buckets: int):
    """Stage 2, before the shuffle: ``_bucket``, a hash of the group key mod ``buckets`` (polars' hash is stable
    within a polars version, so every worker gives a group the same bucket)."""
    frame = pl.from_arrow(table)
    hashed = frame.select(GROUP_KEYS).hash_rows(seed=0)
    return frame.with_columns((hashed % buckets).cast(pl.Int64).alias(BUCKET)).to_arrow(
        compat_level=pl.CompatLevel.oldest())


def _score_bucket(table, lexical: list[str], pack: bool, options: dict):
    """Stage 2: one bucket's rows (whole groups) → the lexical metrics, and each group packed into one row
    when the embedding stage follows (else the final per-group rows)."""
    from diversity.scoring import score

    frame = pl.from_arrow(table).sort(FILE, ROW).drop(FILE, ROW, BUCKET)
    out, settings = None, {}
    if lexical:
        scores = score(frame, **{**options, "metrics": lexical})
        out, settings = scores.groups, scores.settings
    if pack:
        packed = frame.sort(GROUP_KEYS, maintain_order=True).group_by(GROUP_KEYS, maintain_order=True).agg(
            pl.exclude(GROUP_KEYS))
        out = packed.with_columns(out.select(c for c in lexical if c in out.columns)) if out is not None else packed
    return out.with_columns(pl.lit(json.dumps(settings)).alias(SETTINGS)).to_arrow(
        compat_level=pl.CompatLevel.oldest())


class _EmbeddingStage:
    """Stage 3, an actor: the embedder loads once; each batch of packed groups gets its embedding metrics."""

    def __init__(self, semantic: list[str], lexical: list[str], options: dict):
        from diversity.embedding import BATCH_SIZE, DEFAULT_EMBEDDER, get_embedder

        self.semantic, self.lexical = semantic, lexical
        embedder = get_embedder(options.get("embedder", DEFAULT_EMBEDDER), options.get("batch_size", BATCH_SIZE),
                                options.get("device"), options.get("cache_dir"))
        self.options = {**options, "embedder": embedder, "metrics": semantic}

    def __call__(self, table):
        from diversity.scoring import score

        packed = pl.from_arrow(table).sort(GROUP_KEYS)  # score's group order, so its rows line up with these
        values = [c for c in packed.columns if c not in (*GROUP_KEYS, *self.lexical, SETTINGS)]
        scores = score(packed.select(*GROUP_KEYS, *values).explode(values), **self.options)
        settings = {**json.loads(packed[SETTINGS][0]), **scores.settings}
        out = scores.groups.with_columns(packed.select(c for c in self.lexical if c in packed.columns))
        return out.with_columns(pl.lit(json.dumps(settings)).alias(SETTINGS)).to_arrow(
            compat_level=pl.CompatLevel.oldest())
