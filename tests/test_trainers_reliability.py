"""The trainer killed with SIGKILL at chosen points, and resumed from damaged checkpoints: every
resumed run must equal a straight run with the same seed (weights, metrics.jsonl, train rollouts)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rollout_cli import main
from tests.conftest import REPO, TINY, assert_same_run, cli, metrics

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS, SAVE_EVERY = 30, 3
# A fresh 1-layer tiny GPT (no warm-up needed for equivalence), evaluated at the start and end only.
COMMON = [*TINY[:-2], "--save-every", str(SAVE_EVERY), "--n-layer", "1", "--n-embd", "32", "--n-head", "2",
          "--method", "clip_cov", "--task", "B", "--lineage", "x"]


def train_args(out: Path, steps: int = STEPS) -> list[str]:
    return ["-q", "train", "--out", str(out), *COMMON, "--steps", str(steps)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main(train_args(out)) == 0
    return out


def checkpoint_step(path: Path) -> int | None:
    return torch.load(path, weights_only=True)["step"] if path.exists() else None


def kill_at(out: Path, watched: str, nth: int) -> None:
    """Run the trainer in a subprocess and SIGKILL it as soon as ``out/watched`` has been (re)written
    for the ``nth`` time. Every write is a rename of a new file, so each one changes the inode."""
    process = subprocess.Popen([sys.executable, "-m", "rollout_cli", *train_args(out)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    path, seen, last = out / watched, 0, None
    deadline = time.monotonic() + 120
    while seen < nth and process.poll() is None and time.monotonic() < deadline:
        try:
            stat = path.stat()
            ident = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            ident = None
        if ident is not None and ident != last:
            seen, last = seen + 1, ident
        time.sleep(0.001)
    os.kill(process.pid, signal.SIGKILL)
    _, err = process.communicate()
    assert process.returncode == -signal.SIGKILL, err.decode()
    assert seen == nth and not (out / "checkpoints" / "final.pt").exists(), "the run ended before the kill point"


# (file watched, its nth write) -> the checkpoint steps possible at that instant: the kill lands just after
# that write, before the next step ends (steps are milliseconds apart, checkpoints three steps apart).
KILL_POINTS = {
    ("metrics.jsonl", 1): {None, 3},  # first logs flushed; the first checkpoint usually not yet written
    ("checkpoints/latest.pt", 1): {3},  # first checkpoint, no previous.pt yet
    ("checkpoints/latest.pt", 2): {6},  # previous.pt now holds step 3
    ("checkpoints/latest.pt", 3): {9},
    ("metrics.jsonl", 5): {12, 15},  # logs of step 15 on disk, usually ahead of the checkpoint (step 12)
}


@pytest.mark.parametrize("watched, nth", list(KILL_POINTS), ids=[f"{w.split('/')[-1]}#{n}" for w, n in KILL_POINTS])
def test_a_run_killed_at_this_point_resumes_to_the_straight_result(capsys, tmp_path: Path, straight: Path,
                                                                   watched: str, nth: int) -> None:
    killed = tmp_path / "killed"
    kill_at(killed, watched, nth)
    assert checkpoint_step(killed / "checkpoints" / "latest.pt") in KILL_POINTS[watched, nth]
    if watched == "metrics.jsonl":
        assert metrics(killed)[-1]["step"] == nth * SAVE_EVERY
    code, err = cli(capsys, "train", "--out", killed, "--resume")
    assert code == 0, err
    assert_same_run(straight, killed)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def foreign(path: Path) -> None:
    torch.save({"step": 6, "model": {}}, path)  # a torch file, but not this trainer's format


@pytest.mark.parametrize("damage", [truncate, foreign, Path.unlink])
def test_a_damaged_latest_checkpoint_falls_back_on_the_previous_one(capsys, caplog, tmp_path: Path, straight: Path,
                                                                    damage) -> None:
    run = tmp_path / "run"
    assert main(train_args(run, steps=2 * SAVE_EVERY)) == 0  # latest.pt at step 6, previous.pt at step 3
    latest, previous = run / "checkpoints" / "latest.pt", run / "checkpoints" / "previous.pt"
    assert checkpoint_step(latest) == 6 and checkpoint_step(previous) == 3
    damage(latest)
    with caplog.at_level(logging.WARNING, logger="diversity"):
        code, err = cli(capsys, "train", "--out", run, "--resume", "--steps", STEPS)
    assert code == 0, err
    warning, = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "\n" not in warning and str(latest) in warning and f"resuming from {previous} (step 3)" in warning
    assert_same_run(straight, run)
    assert checkpoint_step(previous) == STEPS - SAVE_EVERY  # the damaged file was not rotated into previous.pt


@pytest.mark.parametrize("steps, message", [
    (2 * SAVE_EVERY, "latest.pt is not a readable checkpoint (UnpicklingError), and "),
    (SAVE_EVERY, "latest.pt is not a readable checkpoint (UnpicklingError), and no checkpoint at "),
])
def test_no_readable_checkpoint_is_a_one_line_error(capsys, tmp_path: Path, steps: int, message: str) -> None:
    run = tmp_path / "run"
    assert main(train_args(run, steps=steps)) == 0  # steps 3: latest.pt only; steps 6: latest.pt and previous.pt
    for name in ("latest.pt", "previous.pt"):
        if (run / "checkpoints" / name).exists():
            (run / "checkpoints" / name).write_bytes(b"garbage")
    code, err = cli(capsys, "train", "--out", run, "--resume", "--steps", STEPS)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"rollout-diversity train: error: --resume {run}: ") and message in err, err
    assert "previous.pt" in err and "re-create" not in err and err.strip().endswith("start the run over with --force"), err
