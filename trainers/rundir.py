"""Writing a run directory: every file atomically (temporary file + rename), checkpoints through torch.

``rollout_common.run_directory`` names every file and record of the layout
(and holds the readers); this module is its writer. Logs are flushed only
together with ``latest.pt``, so after a kill the files and the checkpoint
agree, and a resumed run rewrites exactly what an uninterrupted one would have
written. Writing a new ``latest.pt`` first hard-links the old one to
``previous.pt`` (atomically), so at every instant both names hold whole
checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import torch

from diversity import schema
from rollout_common.errors import OptionError
from rollout_common.files import atomic_path, write_text_atomic
from rollout_common.run_directory import (
    CHECKPOINT_FORMAT,
    FINAL,
    LATEST,
    PREVIOUS,
    RUN_FILES,
    CheckpointRecord,
    RunPaths,
    RunRecord,
    eval_rollouts_name,
    read_config,
    read_jsonl,
    rollout_file_step,
    train_rollouts_name,
)
from trainers.rollouts import Rollouts

log = logging.getLogger("diversity")


def read_checkpoint(path: Path, option: str) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; problems become an OptionError naming ``option``."""
    state, problem = _load_checkpoint(path)
    if problem is not None:
        raise OptionError(f"{option}: {problem}")
    return state


def _load_checkpoint(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the checkpoint, None), or (None, what is wrong with ``path``)."""
    if not path.is_file():
        return None, f"no checkpoint at {path}"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        return None, f"{path} is not a readable checkpoint ({type(error).__name__}); re-create it"
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        return None, f"{path} was not written by this trainer (format {CHECKPOINT_FORMAT})"
    return state, None


def load_parent(run: str) -> tuple[CheckpointRecord, dict[str, torch.Tensor]]:
    """The final checkpoint of the run directory ``run`` (for --init-from): its record and its weights."""
    if not Path(run).is_dir():
        raise OptionError(f"--init-from {run}: no such run directory")
    final = RunPaths(run).checkpoint(FINAL)
    if not final.is_file():
        raise OptionError(
            f"--init-from {run}: no final checkpoint {final}; finish that run first (rerun its command with --resume)"
        )
    state = read_checkpoint(final, f"--init-from {run}")
    return CheckpointRecord.from_state(state), state["model"]


def json_safe(value: Any) -> Any:
    """NaN and infinities become None, so every log line is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps({k: json_safe(v) for k, v in row.items()}, allow_nan=False) + "\n" for row in rows)
    write_text_atomic(path, text)


class RunDir(RunPaths):
    """Whole-file operations of one run directory."""

    def create(self, config: dict[str, Any], force: bool) -> None:
        """Start a fresh run with ``config`` (from ``config_record``): refuse to overwrite a run unless ``force``."""
        existing = [n for n in RUN_FILES if (self.root / n).exists()]
        if existing and not force:
            raise OptionError(
                f"--out {self.root} already holds a run ({', '.join(existing)}); "
                "pass --resume to continue it or --force to start it over"
            )
        for name in existing:
            path = self.root / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.rollouts.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.write_config(config)

    def saved_config(self) -> dict[str, Any]:
        if not self.config.is_file():
            raise OptionError(f"--resume: {self.root} has no config.json; start the run without --resume")
        return read_config(self.root).raw

    def write_config(self, config: dict[str, Any]) -> None:
        write_text_atomic(self.config, json.dumps(config, indent=2, allow_nan=False) + "\n")

    def save(self, name: str, state: dict[str, Any]) -> None:
        self._write(name, {"format": CHECKPOINT_FORMAT, **state})

    def save_final(self, record: CheckpointRecord, model: dict[str, torch.Tensor]) -> None:
        """final.pt: the record (its format first) and the weights, what --init-from reads."""
        self._write(FINAL, {**record.to_dict(), "model": model})

    def _write(self, name: str, state: dict[str, Any]) -> None:
        with atomic_path(self.checkpoint(name)) as tmp:
            torch.save(state, tmp)

    def load(self, name: str) -> dict[str, Any] | None:
        path = self.checkpoint(name)
        return read_checkpoint(path, f"--resume {self.root}") if path.is_file() else None

    def save_latest(self, state: dict[str, Any]) -> None:
        """Write latest.pt; the checkpoint it replaces stays whole as previous.pt."""
        if self.checkpoint(LATEST).is_file():
            self._link(LATEST, PREVIOUS)
        self.save(LATEST, state)

    def load_latest(self) -> dict[str, Any] | None:
        """What --resume continues from: latest.pt or, when it is missing or unreadable, previous.pt
        (said in one warning line naming the file); None when the run has no checkpoint yet."""
        latest, previous = self.checkpoint(LATEST), self.checkpoint(PREVIOUS)
        if not latest.exists() and not previous.exists():
            return None
        state, problem = _load_checkpoint(latest)
        if problem is None:
            return state
        fallback, fallback_problem = _load_checkpoint(previous)
        problem = problem.removesuffix("; re-create it")  # a resumed run cannot re-create its checkpoints
        if fallback_problem is not None:
            raise OptionError(f"--resume {self.root}: {problem}, and {fallback_problem.removesuffix('; re-create it')}; "
                              "no checkpoint to resume from: start the run over with --force")
        log.warning("--resume %s: %s; resuming from %s (step %d)", self.root, problem, previous, fallback["step"])
        self._link(PREVIOUS, LATEST)  # so the next save does not rotate the bad file into previous.pt
        return fallback

    def _link(self, source: str, target: str) -> None:
        """Make checkpoints/target the same file as checkpoints/source, replacing target atomically."""
        with atomic_path(self.checkpoint(target)) as tmp:
            tmp.unlink()
            try:
                os.link(self.checkpoint(source), tmp)
            except OSError:  # a file system without hard links
                shutil.copyfile(self.checkpoint(source), tmp)


ROLLOUT_COLUMNS = {**schema.COLUMNS, "seed": pl.Int64()}


def rollout_rows(batch: Rollouts, record: RunRecord, *, step: int, split: str, task: str, seed: int) -> list[dict]:
    """One canonical-schema row per response, in ``record``'s lineage and phase; a group is one prompt's
    G responses at this step. The group id names the seed: runs of one lineage with different seeds
    are different runs, and scoring their logs together must not pool their groups."""
    entropy = batch.response_entropy().tolist()
    n_tokens = batch.response_mask.sum(1).long().tolist()
    rewards = batch.rewards.tolist()
    rows = []
    for i, text in enumerate(batch.texts):
        group = i // batch.group_size
        rows.append({
            "lineage": record.lineage, "phase": record.phase, "step": step, "group_id": f"{split}-{task}-s{seed}-{group:04d}",
            "prompt": batch.prompts[group].text, "response": text, "reward": rewards[i],
            "entropy": entropy[i], "n_tokens": n_tokens[i], "split": split, "task": task,
            "seed": seed,  # beyond the canonical columns: lets reports show the spread across seeds
        })
    return rows


class RunLog:
    """Buffers a run's metrics, evaluations and rollouts; :meth:`flush` writes them."""

    def __init__(self, run: RunDir, metrics: list[dict] | None = None, evals: list[dict] | None = None):
        self.run = run
        self.metrics = metrics or []
        self.evals = evals or []
        self.train_rows: list[dict] = []
        self.eval_rows: dict[int, list[dict]] = {}

    @classmethod
    def restore(cls, run: RunDir, step: int) -> "RunLog":
        """The logs as they were at checkpoint ``step``; later rollout files are removed."""
        for path in run.rollouts.glob("*"):
            first = rollout_file_step(path.name)
            if first is None or first > step:
                path.unlink()
        keep = lambda rows: [r for r in rows if r["step"] <= step]
        return cls(run, keep(read_jsonl(run.metrics)), keep(read_jsonl(run.eval)))

    def add_step(self, metrics: dict[str, Any], rows: list[dict]) -> None:
        self.metrics.append(metrics)
        self.train_rows.extend(rows)

    def add_eval(self, step: int, results: list[dict[str, Any]], rows: list[dict]) -> None:
        self.evals.extend(results)
        self.eval_rows.setdefault(step, []).extend(rows)

    def flush(self) -> None:
        if self.train_rows:
            first, last = self.train_rows[0]["step"], self.train_rows[-1]["step"]
            self._parquet(self.run.rollouts / train_rollouts_name(first, last), self.train_rows)
        for step, rows in self.eval_rows.items():
            self._parquet(self.run.rollouts / eval_rollouts_name(step), rows)
        write_jsonl(self.run.metrics, self.metrics)
        write_jsonl(self.run.eval, self.evals)
        self.train_rows, self.eval_rows = [], {}

    @staticmethod
    def _parquet(path: Path, rows: list[dict]) -> None:
        with atomic_path(path) as tmp:
            pl.DataFrame(rows, schema=ROLLOUT_COLUMNS).write_parquet(tmp)
