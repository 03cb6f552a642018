"""The corpus in tests/data/bad/: each file gets its one-line error (exit 2) or a documented lenient handling."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

import diversity
from rollout_cli import main
from rollout_common.errors import InputError
from tests.conftest import canonical_rows, write_jsonl

BAD = Path(__file__).parent / "data" / "bad"

# file → what the one-line error must say (file:line or row, field, problem).
EXPECTED_ERRORS = {
    "cut_mid_line.jsonl": r"cut_mid_line\.jsonl:3: line is cut off",
    "malformed.jsonl": r"malformed\.jsonl:2: malformed JSON",
    "missing_prompt.jsonl": r"missing_prompt\.jsonl:2: field 'prompt': missing",
    "step_not_integer.jsonl": r"step_not_integer\.jsonl:3: field 'step': expected an integer, found str 'three'",
    "nan_reward.jsonl": r"nan_reward\.jsonl:2: field 'reward': nan is not a finite number",
    "infinite_entropy.jsonl": r"infinite_entropy\.jsonl:3: field 'entropy': inf is not a finite number",
    "bad_split.jsonl": r"bad_split\.jsonl:2: field 'split': 'test' is neither 'train' nor 'eval'",
    "not_an_object.jsonl": r"not_an_object\.jsonl:2: expected a JSON object, found list",
    "deeply_nested.jsonl": r"deeply_nested\.jsonl:2: JSON value nested too deeply",
    "non_utf8.jsonl": r"non_utf8\.jsonl:2: bytes are not UTF-8",
    "empty.jsonl": r"empty\.jsonl: the file is empty",
    "only_blank_lines.jsonl": r"only_blank_lines\.jsonl: the file holds no records",
    "not_rollouts.jsonl": r"not_rollouts\.jsonl: columns \['loss', 'step'\] match no known rollout format",
    "truncated.parquet": r"truncated\.parquet: cannot read Parquet",
    "null_response.parquet": r"null_response\.parquet: row 8: field 'response': missing",
    "reward_is_text.csv": r"reward_is_text\.csv:3: field 'reward': expected a number, found string 'high'",
}


def test_the_corpus_is_fully_covered() -> None:
    listed = set(EXPECTED_ERRORS) | {"lenient_shapes.jsonl"}
    assert {p.name for p in BAD.iterdir()} == listed


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_cli_gives_one_line_and_exit_2(name: str, capsys) -> None:
    code = main(["-q", "inspect", str(BAD / name)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(EXPECTED_ERRORS[name], err), err


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_library_raises_the_same_input_error(name: str) -> None:
    with pytest.raises(InputError) as caught:
        diversity.load_rollouts(BAD / name)
    assert re.search(EXPECTED_ERRORS[name], str(caught.value))


def test_lenient_shapes_load_unchanged() -> None:
    frame = diversity.load_rollouts(BAD / "lenient_shapes.jsonl")
    sizes = dict(frame.group_by("group_id").len().iter_rows())
    assert sizes == {"single": 1, "empty": 3, "mixed": 5, "dupes": 4}
    assert frame.filter(pl.col("group_id") == "empty")["response"].to_list() == ["", "", ""]


def test_duplicate_rows_are_kept_since_collapsed_policies_repeat_answers(tmp_path: Path) -> None:
    row = canonical_rows()[0]
    frame = diversity.load_rollouts(write_jsonl(tmp_path / "d.jsonl", [row, row, row]))
    assert frame.height == 3


def test_a_five_megabyte_response_loads_whole(tmp_path: Path) -> None:
    row = dict(canonical_rows()[0], response="x" * 5_000_000)
    frame = diversity.load_rollouts(write_jsonl(tmp_path / "big.jsonl", [row]))
    assert len(frame["response"][0]) == 5_000_000


def test_mixed_formats_in_one_call_are_each_detected(trl_dir, verl_dir, canonical_file) -> None:
    result = diversity.read_rollouts([canonical_file, verl_dir, trl_dir], group_size=4)
    assert [f.format for f in result.files] == ["canonical", "verl", "trl", "trl"]
    assert set(result.frame["lineage"].unique().to_list()) == {"grpo", "verl_rollouts", "my-trl-run"}


def test_skip_mode_over_the_corpus_counts_every_bad_row(capsys) -> None:
    names = ["missing_prompt.jsonl", "nan_reward.jsonl", "bad_split.jsonl", "step_not_integer.jsonl"]
    code = main(["inspect", "--on-bad-row", "skip", *(str(BAD / n) for n in names)])
    out = capsys.readouterr().out
    assert code == 0
    assert "8 rows, 4 skipped" in out
    for name in names:
        assert f"{name}: canonical, 2 rows, 1 skipped" in out
