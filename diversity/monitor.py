"""Watch diversity while training: per-step metrics from any training loop, one call a step.

    from diversity.monitor import Alert, DiversityMonitor

    monitor = DiversityMonitor(group_size=8, rollout_log="runs/grpo/diversity.jsonl",
                               alerts=[Alert("duplicate_fraction", above=0.5)])
    for step in range(1, steps + 1):
        ...                                                    # sample, reward, update
        logs.update(monitor.step(step, prompts, responses, rewards))
    logs.update(monitor.close())                               # waits for background work

A step's groups are ``responses`` in consecutive blocks of ``group_size``, with
``prompts`` once per group or once per response. Each metric is scored per
group by :func:`diversity.scoring.score` on the step's rows in the canonical
schema and logged as its mean over the step's groups, as ``diversity/<metric>``.

Lexical metrics are computed in the call (a few ms for 256 short answers).
Embedding metrics (``embedder=``) run in one background thread: each call
returns the results finished since the previous one, oldest first (averaged
when several), with ``diversity/embedding_step`` naming their step; ``flush``
and ``close`` wait for the rest. A call waits only when the thread is
``max_pending`` steps behind (nothing is dropped); ``embed_every=n`` embeds
every n-th step. ``rollout_log`` appends each step's rows to a canonical JSONL
file (whole lines, flushed each step) for ``rollout-diversity report``. An
:class:`Alert` warns on the ``diversity`` logger when a metric crosses a line,
naming the step and showing the most collapsed group's answers.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import statistics
import sys
import threading
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from diversity.embedding import get_embedder
from diversity.metrics.registry import resolve
from diversity.schema import COLUMNS
from diversity.scoring import Scores, score
from rollout_common.errors import DiversityError, OptionError

log = logging.getLogger("diversity")

PREFIX = "diversity/"
EMBEDDING_STEP = f"{PREFIX}embedding_step"
# How much of an answer an alert shows, and how many distinct answers.
_EXCERPT_CHARS = 60
_EXCERPT_ANSWERS = 3


@dataclass(frozen=True)
class Alert:
    """Warn when a step's mean of ``metric`` goes above ``above`` or below ``below`` (give one).

    ``Alert("duplicate_fraction", above=0.5)``; ``Alert("vendi_score", below=0.5, relative=True)``
    (Vendi under half its first value). Fires on the step the line is crossed; again once it came back.
    """

    metric: str
    """A metric the monitor computes (a name in the registry)."""
    above: float | None = None
    """Fire when the step mean is greater than this."""
    below: float | None = None
    """Fire when the step mean is less than this."""
    relative: bool = False
    """``above``/``below`` are fractions of the metric's first logged value, not absolute values."""

    def __post_init__(self) -> None:
        if (self.above is None) == (self.below is None):
            raise OptionError(f"Alert({self.metric!r}) needs exactly one of above= or below=")
        line = self.above if self.above is not None else self.below
        if isinstance(line, bool) or not isinstance(line, (int, float)) or not math.isfinite(line):
            raise OptionError(f"Alert({self.metric!r}): the threshold must be a finite number, not {line!r}")


@dataclass(frozen=True)
class StepMetrics:
    """One step's results from one kind of metric (lexical now, embedding possibly later)."""

    step: int
    values: dict[str, float]
    """``diversity/<metric>``: the mean over the step's groups (a metric without any value is left out)."""
    scores: Scores
    """The per-group values (``scores.groups``), for a closer look."""
    rollouts: pl.DataFrame
    """The step's rows in the canonical schema."""


class DiversityMonitor:
    """Scores each training step's groups of answers; see the module doc."""

    def __init__(
        self,
        group_size: int,
        metrics: Sequence[str] | None = None,
        embedder=None,
        *,
        background: bool = True,
        max_pending: int = 4,
        embed_every: int = 1,
        rollout_log: str | Path | None = None,
        lineage: str | None = None,
        phase: str | None = None,
        alerts: Sequence[Alert] = (),
    ):
        """
        Args:
            group_size: answers per prompt (GRPO's G, TRL's ``num_generations``).
            metrics: registry names; None = the default lexical metrics, plus the
                default embedding metrics when ``embedder`` is given.
            embedder: None (lexical metrics only), an embedder name (``minilm``,
                ``static``, ``hashing``, a local sentence-transformers folder) or an
                :class:`diversity.embedding.Embedder`; loaded once, on first use.
            background: score embedding metrics in a worker thread (True) or in the call.
            max_pending: steps the worker may fall behind before a call waits for it.
            embed_every: score embedding metrics on every n-th call only.
            rollout_log: a JSONL file to append each step's rows to (canonical schema).
            lineage: the log's ``lineage`` (None: readers name it after the log's folder).
            phase: the log's ``phase`` (None: readers take "1").
            alerts: warnings to raise when a metric crosses a line.
        """
        for name, value in (("group_size", group_size), ("max_pending", max_pending), ("embed_every", embed_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{name} must be a positive integer, not {value!r}")
        specs = resolve(metrics) if metrics is not None else [  # defaults: diversity, which needs no correctness
            s for s in resolve(None) if not s.needs and (s.kind == "lexical" or embedder is not None)]
        self.group_size, self.lineage, self.phase = group_size, lineage, phase
        self._lexical = [s.name for s in specs if s.kind == "lexical"]
        self._embedding = [s.name for s in specs if s.kind == "embedding"]
        if self._embedding and embedder is None:
            raise OptionError(f"metric(s) {', '.join(self._embedding)} need embeddings; pass embedder='minilm' "
                              "(scored in a background thread) or choose lexical metrics")
        self._embedder = get_embedder(embedder) if self._embedding else None
        self._alerts = _AlertBook(alerts, self._lexical + self._embedding)
        self._embed_every, self._calls = embed_every, 0
        self._last_step, self._groups_at_step = None, 0
        self._ready: deque = deque()
        self._worker = _Worker(self._score_embedding, max_pending) if self._embedding and background else None
        self._log, self._closed = None, False
        if rollout_log is not None:
            path = Path(rollout_log)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(path, "a", encoding="utf-8")

    # ------------------------------------------------------------ the per-step calls

    def step(self, step: int, prompts: Sequence[str], responses: Sequence[str],
             rewards: Sequence[float | None] | None = None) -> dict[str, float]:
        """Observe one step's groups; return the metrics to log now (this step's lexical ones, and
        the embedding results finished since the last call)."""
        self.observe(step, prompts, responses, rewards)
        return merge(self.collect())

    def observe(self, step: int, prompts: Sequence[str], responses: Sequence[str],
                rewards: Sequence[float | None] | None = None) -> None:
        """Take one step's groups: log them, score the lexical metrics, queue the embedding ones."""
        if self._closed:
            raise OptionError("the monitor is closed; make a new one")
        rollouts = self._frame(step, prompts, responses, rewards)
        if self._log is not None:
            self._log.write(rollouts.write_ndjson())  # whole lines, one write a step
            self._log.flush()
        embed = bool(self._embedding) and self._calls % self._embed_every == 0
        self._calls += 1
        now = self._lexical + (self._embedding if embed and self._worker is None else [])
        if self._worker is not None:
            self._ready.extend(self._worker.finished())  # older embedding results go first
        if now:
            self._ready.append(self._score(step, rollouts, now))
        if embed and self._worker is not None:
            self._worker.submit(step, rollouts)  # waits while max_pending steps are queued

    def collect(self, wait: bool = False) -> list[StepMetrics]:
        """The results ready since the last call, in the order their steps were observed (per kind);
        ``wait`` first lets the background worker finish. Raises a background failure here."""
        if self._worker is not None:
            self._ready.extend(self._worker.finished(wait))
        out: list[StepMetrics] = []
        while self._ready:
            item = self._ready.popleft()
            if isinstance(item, _Failure):
                self._ready.extendleft(reversed(out))  # kept for the next call
                raise DiversityError(f"embedding metrics for step {item.step} failed: "
                                     f"{type(item.error).__name__}: {item.error}") from item.error
            self._alerts.check(item)
            out.append(item)
        return out

    def flush(self) -> dict[str, float]:
        """Wait for the background worker; return every result not yet returned, merged."""
        return merge(self.collect(wait=True))

    def close(self) -> dict[str, float]:
        """Flush, stop the worker, close the rollout log; returns what :meth:`flush` returns."""
        if self._closed:
            return {}
        try:
            return self.flush()
        finally:
            self._closed = True
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
            if self._log is not None:
                self._log.close()

    # ------------------------------------------------------------ internals

    def _frame(self, step, prompts, responses, rewards) -> pl.DataFrame:
        """The step's rows in the canonical schema; groups numbered on from earlier calls for the same step."""
        if isinstance(step, bool) or not isinstance(step, int):
            raise OptionError(f"step must be an integer, not {step!r}")
        responses = _strings(responses, "responses")
        size = len(responses)
        if size == 0 or size % self.group_size:
            raise OptionError(f"{size} responses do not divide into groups of group_size={self.group_size}")
        groups = size // self.group_size
        prompts = _group_prompts(_strings(prompts, "prompts"), groups, self.group_size)
        if rewards is None:
            rewards = [None] * size
        elif len(rewards) != size:
            raise OptionError(f"{len(rewards)} rewards for {size} responses; give one per response (or None)")
        first = self._groups_at_step if step == self._last_step else 0
        self._last_step, self._groups_at_step = step, first + groups
        group_ids = [f"{first + i // self.group_size:05d}" for i in range(size)]
        return pl.DataFrame({
            "lineage": [self.lineage] * size, "phase": [self.phase] * size, "step": [step] * size,
            "group_id": group_ids, "prompt": [prompts[i // self.group_size] for i in range(size)],
            "response": responses, "reward": [_finite(r) for r in rewards],
            "entropy": [None] * size, "n_tokens": [None] * size, "split": ["train"] * size, "task": [None] * size,
        }, schema=COLUMNS)

    def _score(self, step: int, rollouts: pl.DataFrame, names: list[str]) -> StepMetrics:
        options = {"embedder": self._embedder} if self._embedder is not None else {}
        scores = score(rollouts, names, progress=False, **options)
        means = {name: scores.groups[name].mean() for name in names if name in scores.groups.columns}
        values = {PREFIX + name: float(v) for name, v in means.items() if v is not None}
        return StepMetrics(step, values, scores, rollouts)

    def _score_embedding(self, step: int, rollouts: pl.DataFrame) -> StepMetrics:
        result = self._score(step, rollouts, self._embedding)
        return replace(result, values={**result.values, EMBEDDING_STEP: float(step)})


def merge(results: Sequence[StepMetrics]) -> dict[str, float]:
    """One flat dict: each key's mean over the results that have it."""
    keys = dict.fromkeys(key for result in results for key in result.values)
    return {key: statistics.fmean(r.values[key] for r in results if key in r.values) for key in keys}


# ---------------------------------------------------------------- background worker


@dataclass(frozen=True)
class _Failure:
    step: int
    error: Exception


class _Worker:
    """One thread scoring queued steps in order; results (or failures) come back in that order."""

    def __init__(self, fn, max_pending: int):
        self._fn = fn
        self._jobs: queue.Queue = queue.Queue(maxsize=max_pending)
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="diversity-monitor", daemon=True)
        self._thread.start()

    def submit(self, step: int, rollouts: pl.DataFrame) -> None:
        self._jobs.put((step, rollouts))

    def finished(self, wait: bool = False) -> list:
        if wait:
            self._jobs.join()
        out = []
        while not self._done.empty():  # the training thread is the only reader
            out.append(self._done.get())
        return out

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        _lower_priority()
        while (job := self._jobs.get()) is not None:
            try:
                self._done.put(self._fn(*job))
            except Exception as error:  # handed to the training thread, raised there
                self._done.put(_Failure(job[0], error))
            finally:
                self._jobs.task_done()
        self._jobs.task_done()


def _lower_priority() -> None:
    """Give the calling thread the lowest CPU priority, so on a busy CPU the background scoring takes
    the cycles the training step leaves (Linux, where each thread has its own nice value; threads the
    model starts from here inherit it). Measured in benchmarks/bench_callback.py."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError as error:  # a sandbox may forbid it: run at normal priority
            log.debug("background scoring keeps its priority (%s)", error)


# ---------------------------------------------------------------- alerts


class _AlertBook:
    """The alerts, each metric's first value (for relative lines), and which alerts are firing."""

    def __init__(self, alerts: Sequence[Alert], metrics: list[str]):
        for alert in alerts:
            if not isinstance(alert, Alert):
                raise OptionError(f"alerts must be diversity.monitor.Alert objects, not {alert!r}")
            if alert.metric not in metrics:
                raise OptionError(f"Alert({alert.metric!r}): the monitor computes {', '.join(metrics)}")
        self.alerts = tuple(alerts)
        self.first: dict[str, float] = {}
        self.firing: set[Alert] = set()

    def check(self, result: StepMetrics) -> None:
        for alert in self.alerts:
            value = result.values.get(PREFIX + alert.metric)
            if value is None:
                continue
            self.first.setdefault(alert.metric, value)
            line = alert.above if alert.above is not None else alert.below
            if alert.relative:
                line *= self.first[alert.metric]
            crossed = value > line if alert.above is not None else value < line
            if crossed and alert not in self.firing:
                log.warning("%s", _alert_message(alert, result, value, line, self.first[alert.metric]))
            (self.firing.add if crossed else self.firing.discard)(alert)


def _alert_message(alert: Alert, result: StepMetrics, value: float, line: float, first: float) -> str:
    sign = ">" if alert.above is not None else "<"
    relative = f" ({alert.above if alert.above is not None else alert.below} x its first value {first:.4g})" \
        if alert.relative else ""
    groups = result.scores.groups.drop_nulls(alert.metric)
    worst = groups.sort(alert.metric, descending=alert.above is not None).row(0, named=True)
    answers = result.rollouts.filter(pl.col("group_id") == worst["group_id"])["response"].to_list()
    counts = Counter(answers).most_common()
    shown = ", ".join(f"{_excerpt(text)} x{n}" for text, n in counts[:_EXCERPT_ANSWERS])
    more = f", and {len(counts) - _EXCERPT_ANSWERS} more distinct" if len(counts) > _EXCERPT_ANSWERS else ""
    return (f"diversity alert at step {result.step}: {alert.metric} {value:.4g} {sign} {line:.4g}{relative}, "
            f"mean over {groups.height} groups. Example group {worst['group_id']} "
            f"({alert.metric} {worst[alert.metric]:.4g}), prompt {_excerpt(worst['prompt'])}: "
            f"{len(answers)} answers, {len(counts)} distinct: {shown}{more}")


def _excerpt(text: str) -> str:
    """Truncated, then escaped (repr escapes newlines, control and bidi characters)."""
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS - 3] + "..."
    return repr(text)


# ---------------------------------------------------------------- input checks


def _strings(values: Sequence[str], name: str) -> list[str]:
    values = list(values)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise OptionError(f"{name}[{i}] is {type(value).__name__} {value!r:.40}, not a string")
    return values


def _group_prompts(prompts: list[str], groups: int, group_size: int) -> list[str]:
    """One prompt per group, from one per group or one per response (then each block must agree)."""
    if len(prompts) == groups:
        return prompts
    if len(prompts) != groups * group_size:
        raise OptionError(f"{len(prompts)} prompts for {groups} groups of {group_size}; "
                          "give one per group or one per response")
    per_group = prompts[::group_size]
    for i, prompt in enumerate(prompts):
        if prompt != per_group[i // group_size]:
            raise OptionError(f"prompts[{i}] differs from the first prompt of its group ({i // group_size}): "
                              f"check group_size={group_size} against the trainer's answers per prompt")
    return per_group


def _finite(value) -> float | None:
    """A reward as a float, or None when missing or NaN (the canonical log holds no NaN)."""
    return None if value is None or not math.isfinite(value := float(value)) else value
