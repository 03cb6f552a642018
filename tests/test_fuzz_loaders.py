"""A few hundred mutated log files of every format (benchmarks/fuzz_loaders.py, fixed seed): each gives a
loaded table with every record accounted for, or the one-line error; nothing else, nothing slow."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_mutated_files_of_every_format_load_or_give_the_one_line_error() -> None:
    command = [sys.executable, str(REPO / "benchmarks" / "fuzz_loaders.py"), "--per-format", "75", "--seed", "0",
               "--timeout", "20"]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "; 0 finding(s)" in done.stdout and "formats without a seed" not in done.stdout
    table = done.stdout.split("\n\n")[0].splitlines()[2:]
    assert len(table) >= 4  # canonical, trl, verl, noveltybench at least
    for row in table:
        name, mutations, loaded, errors, other = (cell.strip() for cell in row.strip("|").split("|"))
        assert mutations == "75" and other == "0" and int(loaded) > 0 and int(errors) > 0, row
