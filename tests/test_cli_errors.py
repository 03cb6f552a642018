"""Every bad input gets one line naming the file, line or row, and field, and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import canonical_rows, run_cli


def good_lines(n: int = 3) -> list[str]:
    return [json.dumps(r) for r in canonical_rows()[:n]]


def bad_case(tmp_path: Path, case: str) -> Path:
    """Write one broken log; returns its path."""
    path = tmp_path / f"{case}.jsonl"
    lines = good_lines()
    if case == "empty":
        path.write_bytes(b"")
    elif case == "malformed":
        lines[1] = '{"step": 1, "prompt": '
        path.write_text("\n".join(lines) + "\n")
    elif case == "missing_field":
        row = json.loads(lines[2])
        del row["response"]
        lines[2] = json.dumps(row)
        path.write_text("\n".join(lines) + "\n")
    elif case == "wrong_type":
        row = json.loads(lines[1])
        row["reward"] = [1, 2]
        lines[1] = json.dumps(row)
        path.write_text("\n".join(lines) + "\n")
    elif case == "non_utf8":
        path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"prompt": "caf\xe9"}\n')
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty", r"empty\.jsonl: the file is empty"),
        ("malformed", r"malformed\.jsonl:2: line is cut off"),
        ("missing_field", r"missing_field\.jsonl:3: field 'response': missing"),
        ("wrong_type", r"wrong_type\.jsonl:2: field 'reward': expected a number, found list"),
        ("non_utf8", r"non_utf8\.jsonl:4: bytes are not UTF-8"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, case: str, expected: str) -> None:
    code, out, err = run_cli(capsys, "inspect", bad_case(tmp_path, case))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("rollout-diversity inspect: error: ")
    import re

    assert re.search(expected, err), err


def test_missing_file(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "inspect", tmp_path / "nope.jsonl")
    assert code == 2 and "nope.jsonl: no such file or directory" in err


def test_glob_matching_nothing_and_directory_without_logs(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "inspect", str(tmp_path / "*.parquet"))
    assert code == 2 and "the pattern matches no file" in err
    (tmp_path / "empty_dir").mkdir()
    code, _, err = run_cli(capsys, "inspect", tmp_path / "empty_dir")
    assert code == 2 and "no rollout files found" in err


def test_trl_row_count_not_divisible(trl_dir: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "inspect", trl_dir, "--group-size", "5")
    assert code == 2
    assert "completions_00005.parquet: field 'group_size': 12 rows do not divide into groups of 5" in err


def test_truncated_parquet(tmp_path: Path, capsys) -> None:
    path = tmp_path / "cut.parquet"
    pl.DataFrame(canonical_rows()).write_parquet(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == 2 and "cut.parquet: cannot read Parquet" in err


def test_wrong_type_in_csv_names_the_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "r.csv"
    frame = pl.DataFrame(canonical_rows()).with_columns(pl.col("step").cast(pl.String))
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("x")).otherwise("step").alias("step"))
    frame.write_csv(path)
    code, _, err = run_cli(capsys, "inspect", path)
    assert code == 2 and "r.csv:5: field 'step': expected an integer, found str 'x'" in err


def test_skip_mode_reports_count_and_locations(tmp_path: Path, capsys) -> None:
    path = bad_case(tmp_path, "wrong_type")
    code, out, _ = run_cli(capsys, "inspect", path, "--on-bad-row", "skip")
    assert code == 0
    assert "2 rows, 1 skipped" in out
    assert "skipped " + str(path) + ":line 2 (reward: expected a number" in out


def test_inspect_prints_the_detected_format_and_groups(trl_dir: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", trl_dir, "--group-size", "4")
    assert code == 0
    assert "completions_00005.parquet: trl, 12 rows, 0 skipped" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("my-trl-run"))
    assert line.split()[:7] == ["my-trl-run", "1", "train", "2", "5-10", "6", "24"]


def test_every_subcommand_has_help() -> None:
    from rollout_cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert "inspect" in commands
    for name, sub in commands.items():
        assert sub.format_help().strip(), name


def test_console_script_runs_as_a_process(canonical_file: Path) -> None:
    exe = Path(sys.executable).with_name("rollout-diversity")
    done = subprocess.run([exe, "inspect", canonical_file], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "canonical, 12 rows" in done.stdout
    done = subprocess.run([exe, "inspect", "/no/such/file.jsonl"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
