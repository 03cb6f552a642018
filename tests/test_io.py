"""Outputs are atomic: a killed writer leaves the previous file whole; overwrites need force."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollout_common.errors import OptionError
from rollout_common.files import atomic_path, check_output_path, write_text_atomic


def test_write_replaces_only_at_the_end(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_sigkill_during_a_write_leaves_the_previous_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "scores.bin"
    write_text_atomic(target, "previous version")
    writer = (
        "import sys, time\n"
        "from rollout_common.files import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    with open(tmp, 'wb') as handle:\n"
        "        for _ in range(10_000):\n"
        "            handle.write(b'x' * 65536); handle.flush()\n"
        "            print('writing', flush=True)\n"
        "            time.sleep(0.01)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"  # the write is under way
    time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert target.read_text() == "previous version"


def test_check_output_path_refuses_overwrite_and_inputs(tmp_path: Path) -> None:
    existing = tmp_path / "r.html"
    existing.write_text("x")
    with pytest.raises(OptionError, match="exists; pass --force"):
        check_output_path(existing, force=False)
    assert check_output_path(existing, force=True) == existing
    with pytest.raises(OptionError, match="is also an input"):
        check_output_path(existing, force=True, inputs=[str(existing)])
    with pytest.raises(OptionError, match="is a directory"):
        check_output_path(tmp_path, force=True)
