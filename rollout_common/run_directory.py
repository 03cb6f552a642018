"""The run directory: the one home of the layout a trainer run writes and every reader reads.

::

    RUN/config.json              the resolved TrainConfig by section, plus ``derived`` (a :class:`RunRecord`)
    RUN/metrics.jsonl            one row per optimizer step
    RUN/eval.jsonl               one row per (evaluation step, task)
    RUN/summary.json             written when the run completes
    RUN/rollouts/train_FIRST_LAST.parquet   training groups of steps FIRST..LAST (canonical schema)
    RUN/rollouts/eval_STEP.parquet          evaluation groups of every task at STEP
    RUN/checkpoints/latest.pt    everything --resume needs
    RUN/checkpoints/previous.pt  the latest.pt before it: --resume falls back on it when latest.pt is unreadable
    RUN/checkpoints/final.pt     written when the run completes (a :class:`CheckpointRecord` plus weights);
                                 what --init-from reads
    RUN/checkpoints/start.pt     the start policy, for methods that need a reference (kl)

The writer is ``trainers.rundir`` (atomic files, checkpoints through torch);
readers are ``diversity.load`` (rollouts), ``diversity.analysis`` (config and
metrics), the experiment and the benchmarks. This module is torch-free and
imports nothing from either package.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from rollout_common.errors import InputError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
EVAL = "eval.jsonl"
SUMMARY = "summary.json"
ROLLOUTS = "rollouts"
CHECKPOINTS = "checkpoints"
RUN_FILES = (CONFIG, METRICS, EVAL, SUMMARY, ROLLOUTS, CHECKPOINTS)

LATEST = "latest.pt"
PREVIOUS = "previous.pt"
FINAL = "final.pt"
START = "start.pt"
CHECKPOINT_FORMAT = "rollout-diversity-trainer/1"

ROLLOUT_FILE = re.compile(r"^(train|eval)_(\d+)(?:_(\d+))?\.parquet$")


def train_rollouts_name(first: int, last: int) -> str:
    return f"train_{first:06d}_{last:06d}.parquet"


def eval_rollouts_name(step: int) -> str:
    return f"eval_{step:06d}.parquet"


def rollout_file_step(name: str) -> int | None:
    """The first step a rollout file holds, or None when ``name`` is not a rollout file."""
    match = ROLLOUT_FILE.match(name)
    return None if match is None else int(match.group(2))


class RunPaths:
    """The paths of one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config = self.root / CONFIG
        self.metrics = self.root / METRICS
        self.eval = self.root / EVAL
        self.summary = self.root / SUMMARY
        self.rollouts = self.root / ROLLOUTS
        self.checkpoints = self.root / CHECKPOINTS

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / name


def is_run_directory(path: str | Path) -> bool:
    """A trainer run: ``config.json`` beside a ``rollouts/`` folder."""
    paths = RunPaths(path)
    return paths.config.is_file() and paths.rollouts.is_dir()


def is_finished(path: str | Path) -> bool:
    """The run completed: its final checkpoint exists."""
    return RunPaths(path).checkpoint(FINAL).is_file()


@dataclass(frozen=True)
class RunRecord:
    """A run's place in its lineage tree, as ``config.json`` records it under ``derived``.

    Written by the trainer once it has settled the defaults that depend on the
    parent run; read by every report, so a fork is drawn from its parent."""

    lineage: str | None = None
    """the lineage name its rollouts carry"""
    phase: str | None = None
    """the phase of continued training ('0' for a warm-up base)"""
    start_step: int = 0
    """the global step the run starts from (the parent's last)"""
    parent: str | None = None
    """the --init-from run directory, as given"""
    parent_lineage: str | None = None
    """the parent's lineage"""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunRecord":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class RunConfig:
    """What readers need of a run's ``config.json``: its record, and the run section's seed, method and task."""

    name: str
    """the run directory's name"""
    record: RunRecord
    seed: int | None
    method: str | None
    task: str | None
    raw: dict[str, Any]
    """the whole file, for provenance"""

    @property
    def lineage(self) -> str:
        """The recorded lineage, else the run section's, else the folder name."""
        return str(self.record.lineage or self.raw.get("run", {}).get("lineage") or self.name)

    @property
    def phase(self) -> str:
        return str(self.record.phase or self.raw.get("run", {}).get("phase") or "1")

    @property
    def parent(self) -> str | None:
        """The run directory it was forked from (--init-from): the record's, else the run section's
        ``init_from`` (configs written before the trainer recorded it)."""
        run = self.raw.get("run")
        return self.record.parent or (run.get("init_from") if isinstance(run, dict) else None) or None

    @property
    def parent_lineage(self) -> str | None:
        """The parent's lineage as the record has it; None when not recorded (a reader may look the parent up)."""
        return self.record.parent_lineage


def config_record(sections: dict[str, dict[str, Any]], record: RunRecord) -> dict[str, Any]:
    """The content of ``config.json``: the config's sections, then ``derived``."""
    return {**sections, "derived": record.to_dict()}


def read_config(path: str | Path) -> RunConfig:
    """Read ``RUN/config.json``; an unreadable file is an InputError naming it."""
    paths = RunPaths(path)
    try:
        raw = json.loads(paths.config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(paths.config, f"cannot read the run config ({error})") from None
    if not isinstance(raw, dict):
        raise InputError(paths.config, "the run config is not a JSON object; re-create it with the trainer")
    run = raw.get("run") if isinstance(raw.get("run"), dict) else {}
    derived = raw.get("derived") if isinstance(raw.get("derived"), dict) else {}
    return RunConfig(paths.root.name, RunRecord.from_dict(derived), run.get("seed"), run.get("method"),
                     run.get("task"), raw)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's JSONL log (``metrics.jsonl``, ``eval.jsonl``); [] when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise InputError(path, f"not JSON ({error.msg})", line=number) from None
    return rows


@dataclass(frozen=True)
class CheckpointRecord:
    """What ``final.pt`` says about the policy beside its weights (``model``): what --init-from reads."""

    kind: str
    """'train' or 'warmup'"""
    step: int
    """the global step it was saved at"""
    phase: str
    lineage: str
    task: str | None
    method: str
    target_entropy: float | None
    """the entropy target the run ended with, for --target-entropy parent"""
    policy: dict[str, Any]
    """the policy's architecture (PolicyConfig fields)"""
    vocab: list[str] | None
    """the tokenizer's vocabulary, so a child refuses a mismatched parent (None for a Hugging Face tokenizer)"""

    def to_dict(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, **asdict(self)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "CheckpointRecord":
        return cls(**{f.name: state.get(f.name) for f in fields(cls)})
