"""A few hundred mutated log files, a few dozen of every format the registry has (benchmarks/fuzz_loaders.py,
fixed seed): each gives a loaded table with every record accounted for, or the one-line error; nothing else,
nothing slow, no code run from a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from diversity.load import read_rollouts
from diversity.load.formats import FORMATS
from rollout_cli import main
from rollout_common.errors import InputError
from tests.conftest import REPO

PER_FORMAT = 40


def test_mutated_files_of_every_format_load_or_give_the_one_line_error() -> None:
    command = [sys.executable, str(REPO / "benchmarks" / "fuzz_loaders.py"), "--per-format", str(PER_FORMAT),
               "--seed", "0", "--timeout", "20"]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "; 0 finding(s)" in done.stdout and "formats without a seed" not in done.stdout
    table = done.stdout.split("\n\n")[0].splitlines()[2:]
    assert [row.strip("|").split("|")[0].strip() for row in table] == list(FORMATS)
    for row in table:
        name, mutations, loaded, errors, other = (cell.strip() for cell in row.strip("|").split("|"))
        assert mutations == str(PER_FORMAT) and other == "0" and int(loaded) > 0 and int(errors) > 0, row


# What the fuzzer found, each kept as a file: before the fix, the loader raised another exception, hung or crashed.
# Now each gives the one-line error (a regex of it), or loads (the rows it gives); read with --group-size 4, and a
# file read as another format than its columns say with --format.
FORMAT_FOR = {"form_feed_in_a_column_name.arrow": "table"}
FOUND = REPO / "tests" / "data" / "fuzz_found"
FINDINGS: dict[str, str | int] = {
    "integer_of_5001_digits.jsonl": r"integer_of_5001_digits\.jsonl:2: unreadable number \(Exceeds the limit \(4300 digits\)",
    "step_past_int64.jsonl": r"step_past_int64\.jsonl:2: field 'step': 9223372036854775808 does not fit in 64 bits",
    "reward_past_float_range.jsonl": r"reward_past_float_range\.jsonl:2: field 'reward': 1000.*\.\.\. is too large for a number",
    "nested_900_levels.jsonl": r"nested_900_levels\.jsonl:2: JSON value nested too deeply \(more than 64 levels\)",
    "polars_panics.parquet": r"polars_panics\.parquet: cannot read Parquet \(OSError: Dictionary page must be before data page",
    "duplicate_columns.parquet": r"duplicate_columns\.parquet: columns \['prompt'\] appear more than once",
    "arrow_offsets_out_of_bounds.arrow": r"arrow_offsets_out_of_bounds\.arrow: cannot read Arrow \(ArrowInvalid: "
                                         r"In column 2: .*Offset invariant failure",
    "one_sample_32768_times.pt": r"one_sample_32768_times\.pt: the file would take [\d.]+ MiB as unpickled, [\d,]+ "
                                 r"times its 6,445 bytes on disk \(at most 64 times\)",
    "lm_eval_metrics_null.jsonl": 3,
    "lone_surrogate.jsonl": r"lone_surrogate\.jsonl:2: field 'response': text holds a lone surrogate \('\\ud800', half "
                            r"of a UTF-16 pair\), which is not a character",
    "lone_surrogate_in_a_sample.pt": r"lone_surrogate_in_a_sample\.pt: row 3: field 'response': text holds a lone "
                                     r"surrogate",
    "a_set_in_a_list.pt": 7,
    "pickle_protocol_7.pt": 7,
    "histogram_size_mismatch.parquet": r"histogram_size_mismatch\.parquet: cannot read Parquet \(OSError: Definition "
                                       r"level histogram size mismatch",
    "form_feed_in_a_column_name.arrow": r"form_feed_in_a_column_name\.arrow: field 'columns': no column 'prompt' "
                                        r"\(columns are id, prom\\x0ct, generations",
    "rollout_id_past_int64.pt": r"rollout_id_past_int64\.pt: field 'rollout_id': no rollout id: 'rollout_id' is "
                                r"18446744073709551616 .*\(an id of at most 64 bits\)",
}
BEFORE = {
    "integer_of_5001_digits.jsonl": "ValueError from json.loads",
    "step_past_int64.jsonl": "TypeError from polars building the step column",
    "reward_past_float_range.jsonl": "OverflowError from float()",
    "nested_900_levels.jsonl": "over 20 s in polars inferring the nested type",
    "polars_panics.parquet": "a Rust panic in polars (PanicException, a BaseException)",
    "duplicate_columns.parquet": "one of the two columns dropped without a word",
    "arrow_offsets_out_of_bounds.arrow": "a segmentation fault in pyarrow's to_pylist (IPC buffers are not checked)",
    "one_sample_32768_times.pt": "6 KB read as 254 MiB of rows: 5 s and 600 MB for 7 rows",
    "lm_eval_metrics_null.jsonl": "TypeError: 'metrics': null on a document's first line",
    "lone_surrogate.jsonl": "UnicodeEncodeError from polars: JSON may escape half a UTF-16 pair (\\ud800)",
    "lone_surrogate_in_a_sample.pt": "UnicodeEncodeError from polars: a pickled string may hold half a UTF-16 pair",
    "rollout_id_past_int64.pt": "TypeError from polars building the step column",
    "pickle_protocol_7.pt": "torch's UserWarning (two lines) on stderr beside the load's own lines",
    "a_set_in_a_list.pt": "polars panicked building the column (PanicException, a BaseException; the worker died)",
    "histogram_size_mismatch.parquet": "the process aborted (SIGABRT) in pyarrow reading a column chunk's metadata",
    "form_feed_in_a_column_name.arrow": "two lines on stderr: the message quoted the name, form feed and all",
}


def test_every_finding_is_kept_and_explained() -> None:
    assert {p.name for p in FOUND.iterdir()} == set(FINDINGS) == set(BEFORE)


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_what_the_fuzzer_found_is_now_the_one_line_error_or_a_table(name, capsys) -> None:
    started = time.monotonic()
    expected = FINDINGS[name]
    options = {"group_size": 4, "format": FORMAT_FOR.get(name, "auto")}
    code = main(["-q", "inspect", str(FOUND / name), "--group-size", "4", "--format", options["format"]])
    out, err = capsys.readouterr()
    if isinstance(expected, int):
        assert code == 0 and f"{expected} rows, 0 skipped" in out
        assert not any(word in err for word in ("error", "Traceback", "Warning")), err
        assert read_rollouts(FOUND / name, **options).frame.height == expected
    else:
        assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(expected, err), err
        with pytest.raises(InputError, match=expected):
            read_rollouts(FOUND / name, **options)
    assert time.monotonic() - started < 10
