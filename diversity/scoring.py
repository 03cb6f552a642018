"""Score every prompt's group of rollouts, then aggregate per lineage, phase, step and split.

    import diversity
    rollouts = diversity.load_rollouts("data/demo/canonical.jsonl")
    scores = diversity.score(rollouts, embedder="hashing")
    scores.groups      # one row per group: keys, task, prompt, group_size, reward_mean, entropy_mean,
                       # n_correct (when correctness is known), metrics
    scores.summary     # per (lineage, phase, step, split): groups, rollouts, <metric>_mean / _se / _count
    scores.to_parquet("reports/scores.parquet")

Groups are the rows sharing ``GROUP_KEYS`` (lineage, phase, step, split,
group_id), ordered by those keys; rows keep their log order inside a group.
Lexical metrics run once over all groups (:class:`diversity.metrics.Corpus`);
embedding metrics embed each distinct text once and run on batches of cosine
kernels, one batch per group size. Groups smaller than a metric's
``min_group_size`` (one response, for the pairwise metrics) get null there.
Metrics that read correctness or rewards (pass@k, reward_zero_std, ...) get
them from :func:`diversity.outcomes.read_outcomes`; when the log does not
hold them, those metrics are skipped with one line saying why.

A saved ``Scores`` is one Parquet file: the groups table, with the metric
names and scoring settings in the file's key-value metadata (key
``rollout_diversity``). The summary is a pure function of the groups and is
recomputed on read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from diversity.embedding import BATCH_SIZE, DEFAULT_EMBEDDER, embed
from diversity.metrics import TOKEN_PATTERN, Corpus, Groups, kernel_batches
from diversity.metrics.registry import METRICS, NEEDS, MetricSpec, resolve
from diversity.outcomes import Outcomes, read_outcomes
from diversity.schema import GROUP_KEYS
from rollout_common.errors import InputError, OptionError
from rollout_common.files import atomic_path, check_output_path

log = logging.getLogger("diversity")

SUMMARY_KEYS = ("lineage", "phase", "step", "split")
ENGINES = ("local", "ray")
"""Where ``score(engine=)`` runs: this process, or Ray Data (:mod:`diversity.ray_engine`)."""
_METADATA_KEY = b"rollout_diversity"
_FORMAT = "rollout-diversity scores"
_FORMAT_VERSION = 1


def summarise(groups: pl.DataFrame, metrics: Sequence[str]) -> pl.DataFrame:
    """Per (lineage, phase, step, split): group and rollout counts, mean reward and entropy when
    present, and each metric's mean, standard error (sample std / sqrt(count)) and count of groups
    with a value."""
    aggregates = [pl.len().alias("groups"), pl.col("group_size").sum().alias("rollouts")]
    aggregates += [pl.col(c).mean() for c in ("reward_mean", "entropy_mean") if c in groups.columns]
    for name in metrics:
        value = pl.col(name)
        aggregates += [
            value.mean().alias(f"{name}_mean"),
            (value.std(ddof=1) / value.count().sqrt()).alias(f"{name}_se"),
            value.count().alias(f"{name}_count"),
        ]
    return groups.group_by(SUMMARY_KEYS).agg(aggregates).sort(SUMMARY_KEYS)


@dataclass
class Scores:
    """Per-group diversity scores and their per-step summary."""

    groups: pl.DataFrame
    metrics: tuple[str, ...]
    settings: dict[str, str] = field(default_factory=dict)
    """How the scores were made: ``embedder`` and ``token_pattern``; ``correct`` (what counted as correct)
    and ``pass_k`` when a metric read them."""
    summary: pl.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.metrics = tuple(self.metrics)
        missing = [c for c in (*GROUP_KEYS, "group_size", *self.metrics) if c not in self.groups.columns]
        if missing:
            raise OptionError(f"scores table lacks column(s) {', '.join(missing)}")
        self.summary = summarise(self.groups, self.metrics)

    @property
    def embedder(self) -> str | None:
        return self.settings.get("embedder")

    # ------------------------------------------------------------ files

    def to_parquet(self, path: str | Path, force: bool = False, inputs: Sequence[str | Path] = ()) -> Path:
        """Write the groups table and the settings to one Parquet file, atomically."""
        import pyarrow.parquet as pq

        path = check_output_path(path, force=force, inputs=inputs)
        table = self.groups.to_arrow()
        with atomic_path(path) as tmp:
            pq.write_table(table.replace_schema_metadata(self.file_metadata(table.schema)), tmp)
        return path

    def file_metadata(self, schema) -> dict[bytes, bytes]:
        """The Parquet key-value metadata of a scores file whose groups table has the Arrow ``schema``:
        the metric names and settings (:mod:`diversity.streaming` writes a file a chunk at a time with it)."""
        info = {"format": _FORMAT, "version": _FORMAT_VERSION, "metrics": list(self.metrics), "settings": self.settings}
        return {**(schema.metadata or {}), _METADATA_KEY: json.dumps(info).encode("utf-8")}

    @staticmethod
    def is_scores_file(path: str | Path) -> bool:
        """True for a Parquet file written by :meth:`to_parquet`."""
        return _read_info(Path(path)) is not None

    @classmethod
    def read_parquet(cls, path: str | Path) -> "Scores":
        shell = cls.read_schema(path)
        return cls(pl.read_parquet(path), shell.metrics, shell.settings)

    @classmethod
    def read_schema(cls, path: str | Path) -> "Scores":
        """A scores file's metrics, settings and columns, without its groups (an empty table of its schema)."""
        path = Path(path)
        info = _read_info(path)
        if info is None:
            raise InputError(path, "not a scores file (no rollout_diversity metadata)",
                             fix="write one with `rollout-diversity score LOG --out FILE.parquet`")
        if info.get("format") != _FORMAT or info.get("version", 0) > _FORMAT_VERSION:
            raise InputError(path, f"scores format {info.get('format')!r} version {info.get('version')!r} "
                                   f"is not {_FORMAT!r} <= {_FORMAT_VERSION}", fix="re-score the logs")
        return cls(pl.DataFrame(schema=pl.read_parquet_schema(path)), tuple(info["metrics"]),
                   dict(info.get("settings", {})))

    @classmethod
    def concat(cls, parts: Sequence["Scores"]) -> "Scores":
        """One Scores holding the groups of all ``parts`` (metrics: the union, registry order first)."""
        if not parts:
            return cls(_empty_groups(), ())
        names = {name for part in parts for name in part.metrics}
        ordered = [n for n in METRICS if n in names] + sorted(names - set(METRICS))
        settings = {}
        for key in sorted({k for part in parts for k in part.settings}):
            values = dict.fromkeys(p.settings[key] for p in parts if key in p.settings)
            settings[key] = "; ".join(values)
        groups = pl.concat([p.groups for p in parts], how="diagonal_relaxed")
        return cls(groups.sort(GROUP_KEYS, maintain_order=True), tuple(ordered), settings)

    # ------------------------------------------------------------ views

    def to_pandas(self, table: str = "groups"):
        """The ``groups`` (default) or ``summary`` table as a pandas DataFrame."""
        if table not in ("groups", "summary"):
            raise OptionError(f"table must be 'groups' or 'summary', not {table!r}")
        return getattr(self, table).to_pandas()

    def _repr_html_(self) -> str:
        import html

        head = (f"<p><b>Scores</b>: {self.groups.height} groups, metrics {html.escape(', '.join(self.metrics))}; "
                f"embedder {html.escape(str(self.embedder))}. Summary per (lineage, phase, step, split):</p>")
        return head + self.summary._repr_html_()


def _read_info(path: Path) -> dict | None:
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not Parquet at all
        return None
    if _METADATA_KEY not in metadata:
        return None
    try:
        return json.loads(metadata[_METADATA_KEY])
    except json.JSONDecodeError:
        raise InputError(path, "scores metadata is not valid JSON", fix="re-score the logs") from None


def _empty_groups() -> pl.DataFrame:
    from diversity.schema import COLUMNS

    return pl.DataFrame(schema={**{k: COLUMNS[k] for k in GROUP_KEYS}, "group_size": pl.Int64})


# ---------------------------------------------------------------- scoring


def score(
    rollouts: pl.DataFrame,
    metrics: Sequence[str] | None = None,
    embedder: str = DEFAULT_EMBEDDER,
    batch_size: int = BATCH_SIZE,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    *,
    token_pattern: str = TOKEN_PATTERN,
    device: str | None = None,
    correct_threshold: float | None = None,
    pass_k: int | None = None,
    engine: str = "local",
) -> Scores:
    """Score every group of ``rollouts`` (canonical schema, polars or pandas) on ``metrics``.

    Args:
        rollouts: one row per response with at least the group keys and ``response``.
        metrics: names from :data:`diversity.metrics.registry.METRICS`; None = the defaults.
        embedder: ``minilm``, ``static``, ``hashing``, ``tfidf``, a sentence-transformers
            model folder or cached name, or an :class:`diversity.embedding.Embedder`.
            Loaded only when an embedding metric is asked for.
        batch_size: batch size on CPU, in 128-token texts (see :data:`diversity.embedding.BATCH_SIZE`).
        cache_dir: folder for the embedding cache and the static model (see :mod:`diversity.embedding`).
        progress: show progress bars on stderr.
        token_pattern: regex whose matches are the tokens of the lowercased text.
        device: ``cpu`` / ``cuda``; default CUDA when available.
        correct_threshold: a response is correct when its reward >= this, unless the log has a
            correct-flag column (see :mod:`diversity.outcomes`).
        pass_k: k of ``pass_at_k``; None = each group's size. Smaller groups get null.
        engine: ``local`` (this process) or ``ray`` (the same kernels on Ray Data, :mod:`diversity.ray_engine`;
            the same numbers). For logs on disk, :func:`diversity.streaming.score_logs` bounds the memory.
    """
    if engine not in ENGINES:
        raise OptionError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    specs = resolve(metrics)
    frame = _prepare(rollouts)
    if engine == "ray" and frame.height:
        from diversity.ray_engine import score_on_ray

        return score_on_ray(frame, metrics=metrics, embedder=embedder, batch_size=batch_size, cache_dir=cache_dir,
                            progress=progress, token_pattern=token_pattern, device=device,
                            correct_threshold=correct_threshold, pass_k=pass_k)
    outcomes = read_outcomes(frame, correct_threshold)
    specs = _available(specs, outcomes, asked=metrics is not None)
    table = _group_table(frame)
    groups = Groups(table["group_size"].to_numpy()) if table.height else None
    inputs = _Inputs(outcomes, groups) if groups is not None else None
    values = {spec.name: np.full(table.height, np.nan) for spec in specs}
    params = {"k": pass_k}
    lexical = [s for s in specs if s.kind == "lexical"]
    semantic = [s for s in specs if s.kind == "embedding"]
    if groups is not None and lexical:
        _score_lexical(frame["response"].to_list(), groups, lexical, values, token_pattern, progress, inputs)
    if groups is not None:
        _score_outcomes(groups, [s for s in specs if s.kind == "outcome"], values, inputs, params)
    embedder_id = "none"
    if groups is not None and semantic:
        embedder_id = _score_embeddings(
            frame["response"].to_list(), groups, semantic, values,
            dict(embedder=embedder, cache_dir=cache_dir, batch_size=batch_size, device=device), progress, inputs,
        )
    _log_small_groups(table, specs)
    settings = {"embedder": embedder_id, "token_pattern": token_pattern}
    if any("correct" in s.needs for s in specs):
        settings["correct"] = outcomes.correct_source
    if "pass_at_k" in values:
        settings["pass_k"] = "G" if pass_k is None else str(pass_k)
    columns = [pl.Series(name, column, dtype=pl.Float64, nan_to_null=True) for name, column in values.items()]
    if outcomes.correct is not None:
        columns.insert(0, pl.Series("n_correct", inputs.correct_counts() if inputs else [], dtype=pl.Int64))
    return Scores(table.with_columns(columns), tuple(values), settings)


def _prepare(rollouts) -> pl.DataFrame:
    """The rollouts as polars, checked, sorted into contiguous groups (stable: log order kept inside)."""
    if not isinstance(rollouts, pl.DataFrame):
        try:
            rollouts = pl.from_pandas(rollouts)
        except (TypeError, ValueError):
            raise OptionError(f"rollouts must be a polars or pandas DataFrame, not {type(rollouts).__name__}") from None
    missing = [c for c in (*GROUP_KEYS, "response") if c not in rollouts.columns]
    if missing:
        raise OptionError(f"rollouts lack column(s) {', '.join(missing)}; load logs with diversity.load_rollouts")
    nulls = rollouts["response"].null_count()
    if nulls:
        first = rollouts.with_row_index("row").filter(pl.col("response").is_null())["row"][0]
        raise OptionError(f"{nulls} rollout(s) have a null response (first at row {first}); "
                          "write an empty string for an empty response")
    if rollouts.schema["response"] != pl.String:
        raise OptionError(f"column 'response' must hold strings, not {rollouts.schema['response']}")
    return rollouts.with_row_index("_row").sort([*GROUP_KEYS, "_row"])


def _group_table(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per group, in the frame's (sorted) order: keys, task, prompt, size, reward and entropy means."""
    extra = [pl.col(c).first() for c in ("task", "prompt") if c in frame.columns]
    means = [pl.col(c).cast(pl.Float64).mean().alias(f"{c}_mean") for c in ("reward", "entropy") if c in frame.columns]
    return frame.group_by(GROUP_KEYS, maintain_order=True).agg(
        *extra, pl.len().cast(pl.Int64).alias("group_size"), *means,
    )


def _available(specs: list[MetricSpec], outcomes: Outcomes, asked: bool) -> list[MetricSpec]:
    """The specs whose inputs the rollouts hold; one line for each input that is missing."""
    for need, why in outcomes.missing.items():
        names = [s.name for s in specs if need in s.needs]
        if names:
            (log.warning if asked else log.info)("%s skipped: %s", ", ".join(names), why)
    return [s for s in specs if all(need not in outcomes.missing for need in s.needs)]


class _Inputs:
    """The per-response inputs of the metrics' ``needs``, laid out as the groups, and the groups where one
    is unknown (their value is null)."""

    def __init__(self, outcomes: Outcomes, groups: Groups):
        self.groups = groups
        self.known = {need: outcomes.values(need) for need in NEEDS if outcomes.values(need) is not None}
        self.unknown = {need: np.bincount(groups.row_group, np.isnan(v), minlength=groups.n_groups) > 0
                        for need, v in self.known.items()}

    def rows(self, need: str) -> np.ndarray:
        """(N,) the input as the metrics take it: correct as booleans (unknown as False), reward as floats."""
        values = self.known[need]
        return values == 1.0 if need == "correct" else values

    def missing(self, spec: MetricSpec) -> np.ndarray:
        """(B,) groups lacking one of the spec's inputs."""
        lacking = np.zeros(self.groups.n_groups, dtype=bool)
        for need in spec.needs:
            lacking |= self.unknown[need]
        return lacking

    def correct_counts(self) -> list[int | None]:
        counts = np.bincount(self.groups.row_group, self.rows("correct"), minlength=self.groups.n_groups)
        return [None if gone else int(c) for c, gone in zip(counts.tolist(), self.unknown["correct"].tolist())]


def _score_lexical(texts: list[str], groups: Groups, specs: list[MetricSpec], values: dict,
                   token_pattern: str, progress: bool, inputs: _Inputs) -> None:
    from tqdm.auto import tqdm

    corpus = Corpus(texts, groups.sizes, token_pattern)
    for spec in tqdm(specs, desc="lexical metrics", unit="metric", disable=not progress, leave=False):
        result = spec.batch_fn(corpus, *(inputs.rows(need) for need in spec.needs))
        result[(groups.sizes < spec.min_group_size) | inputs.missing(spec)] = np.nan
        values[spec.name] = result


def _score_outcomes(groups: Groups, specs: list[MetricSpec], values: dict, inputs: _Inputs, params: dict) -> None:
    """Outcome metrics, on the groups that have every input and at least k responses (pass_at_k)."""
    for spec in specs:
        options = {name: params[name] for name in spec.parameters}
        smallest = max(spec.min_group_size, options.get("k") or 1)
        chosen = ~inputs.missing(spec) & (groups.sizes >= smallest)
        if smallest > spec.min_group_size and (groups.sizes < smallest).any():
            log.warning("%d group(s) have fewer than k = %d responses: %s left empty (null) for them",
                        int((groups.sizes < smallest).sum()), smallest, spec.name)
        if chosen.any():
            rows = chosen[groups.row_group]
            columns = [inputs.rows(need)[rows] for need in spec.needs]
            values[spec.name][chosen] = spec.batch_fn(Groups(groups.sizes[chosen]), *columns, **options)


def _score_embeddings(texts: list[str], groups: Groups, specs: list[MetricSpec], values: dict,
                      embed_options: dict, progress: bool, inputs: _Inputs) -> str:
    """Fill ``values`` for the embedding metrics; returns the embedder's id."""
    from tqdm.auto import tqdm

    embedded = embed(texts, progress=progress, **embed_options)
    log.info("embedded %d distinct texts with %s (%d from cache)", embedded.from_model + embedded.from_cache,
             embedded.embedder_id, embedded.from_cache)
    with tqdm(total=groups.n_groups, desc="embedding metrics", unit="group", disable=not progress, leave=False) as bar:
        for chosen, kernels in kernel_batches(embedded.vectors, groups, embedded.index):
            size = kernels.shape[-1]
            rows = groups.starts[chosen, None] + np.arange(size)  # (B, G)
            for spec in specs:
                if size >= spec.min_group_size:
                    values[spec.name][chosen] = spec.batch_fn(kernels, *(inputs.rows(n)[rows] for n in spec.needs))
            bar.update(len(chosen))
    for spec in specs:
        values[spec.name][inputs.missing(spec)] = np.nan
    return embedded.embedder_id


def _log_small_groups(table: pl.DataFrame, specs: list[MetricSpec]) -> None:
    for need in sorted({s.min_group_size for s in specs if s.min_group_size > 1}):
        small = table.filter(pl.col("group_size") < need).height
        if small:
            names = ", ".join(s.name for s in specs if s.min_group_size == need)
            log.warning("%d group(s) have fewer than %d responses: %s left empty (null) for them", small, need, names)
