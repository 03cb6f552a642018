"""Outputs are atomic: a killed writer leaves the previous file whole; overwrites need force."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollout_common.errors import OptionError, OutputError
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


def test_new_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        fresh = tmp_path / "report.html"
        write_text_atomic(fresh, "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # readable by a team or a web server
        os.umask(0o077)
        write_text_atomic(tmp_path / "private.html", "x")
        assert stat.S_IMODE((tmp_path / "private.html").stat().st_mode) == 0o600
        fresh.chmod(0o640)
        write_text_atomic(fresh, "y")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640 and fresh.read_text() == "y"
    finally:
        os.umask(previous)


def _tiny_tmpfs(tmp_path: Path) -> Path:
    """A 64 KiB tmpfs, where the machine lets us mount one (root in a sandbox); else skip."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return folder


def test_a_full_disk_is_one_error_and_the_previous_output_stays(tmp_path: Path) -> None:
    folder = _tiny_tmpfs(tmp_path)
    try:
        target = folder / "scores.txt"
        write_text_atomic(target, "previous version")
        with pytest.raises(OutputError, match=r"cannot write .*scores.txt: no space left on the device; free some space"):
            write_text_atomic(target, "x" * 200_000)
        assert target.read_text() == "previous version"
        assert [p.name for p in folder.iterdir()] == ["scores.txt"]  # no temporary left behind
        import polars as pl  # polars quotes the errno in its own exception type

        with pytest.raises(OutputError, match="no space left"):
            with atomic_path(folder / "big.parquet") as tmp:
                pl.DataFrame({"a": list(range(100_000))}).write_parquet(tmp)
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("problem", ["read-only", "file-as-folder", "injected-enospc"])
def test_unwritable_outputs_name_the_path_and_the_fix(tmp_path: Path, problem: str, monkeypatch) -> None:
    if problem == "read-only":
        folder = tmp_path / "ro"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        target, expected = folder / "r.html", "the file system is read-only; write to another folder"
    elif problem == "file-as-folder":
        (tmp_path / "reports").write_text("a file, not a folder")
        target, expected = tmp_path / "reports" / "r.html", "a part of the path is a file, not a folder"
    else:
        target, expected = tmp_path / "r.html", "no space left on the device"
        write_text_atomic(target, "previous version")

        def full(_fd):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
    try:
        with pytest.raises(OutputError, match=expected):
            write_text_atomic(target, "new")
    finally:
        if problem == "read-only":
            subprocess.run(["umount", str(target.parent)], check=False)
    if problem == "injected-enospc":
        monkeypatch.undo()
        assert target.read_text() == "previous version"


def test_permission_denied_names_the_path(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() == 0:  # root may write anywhere: inject the error the kernel gives anyone else

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("tempfile.mkstemp", denied)
    else:
        folder.chmod(0o500)
    with pytest.raises(OutputError, match=r"locked/r.html: permission denied; write to a folder you may write to"):
        write_text_atomic(folder / "r.html", "x")


def test_two_processes_writing_one_output_leave_one_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    writer = (
        "import sys\n"
        "from rollout_common.files import atomic_path\n"
        "letter = sys.argv[1]\n"
        "for _ in range(30):\n"
        f"    with atomic_path({str(target)!r}) as tmp:\n"
        "        with open(tmp, 'w') as handle:\n"
        "            for _ in range(64):\n"
        "                handle.write(letter * 4096)\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, letter]) for letter in "ab"]
    for process in processes:
        assert process.wait(timeout=120) == 0
    text = target.read_text()
    assert len(text) == 64 * 4096 and len(set(text)) == 1  # all of one writer's file, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["shared.txt"]
