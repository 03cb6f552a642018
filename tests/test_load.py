"""Loaders: each real format into the canonical schema, groups formed as each trainer defines them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest

import diversity
from diversity import schema
from diversity.load import LoadOptions
from diversity.load.formats import FORMATS, Format, detect
from diversity.streaming import score_logs
from rollout_common.errors import InputError, OptionError
from tests.conftest import canonical_rows, write_jsonl


def group_sizes(frame: pl.DataFrame) -> list[int]:
    return sorted(frame.group_by(schema.GROUP_KEYS).len()["len"].to_list())


def test_canonical_columns_come_first_with_types(canonical_file: Path) -> None:
    frame = diversity.load_rollouts(canonical_file)
    assert frame.columns[: len(schema.COLUMNS)] == list(schema.COLUMNS)
    assert dict(zip(frame.columns, frame.dtypes)) == schema.COLUMNS
    assert frame.height == 12
    assert group_sizes(frame) == [3, 3, 3, 3]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_schema_round_trip_through_each_file_type(tmp_path: Path, canonical_file: Path, suffix: str) -> None:
    original = diversity.load_rollouts(canonical_file).with_columns(pl.lit("kept").alias("my_note"))
    path = tmp_path / f"copy{suffix}"
    if suffix == ".jsonl":
        original.write_ndjson(path)
    elif suffix == ".parquet":
        original.write_parquet(path)
    else:
        original.write_csv(path)
    again = diversity.load_rollouts(path)
    assert again.equals(original)


def test_unknown_columns_are_kept_and_missing_optional_fields_are_null(tmp_path: Path) -> None:
    rows = [{"step": 1, "group_id": "g", "prompt": "p", "response": "r", "seed": 3}]
    frame = diversity.load_rollouts(write_jsonl(tmp_path / "run" / "x.jsonl", rows))
    row = frame.row(0, named=True)
    assert row["seed"] == 3
    assert row["reward"] is None and row["entropy"] is None and row["task"] is None
    assert row["split"] == "train" and row["phase"] == "1" and row["lineage"] == "run"


def test_a_column_of_other_types_in_other_files_or_pieces_is_kept_as_json_text(tmp_path: Path) -> None:
    """Within one file a column of mixed types is its JSON text; across files (or streamed pieces of one) too,
    where before the join of the files raised polars' cast error."""
    rows = canonical_rows(steps=(0,))
    write_jsonl(tmp_path / "logs" / "a.jsonl", [{**r, "extra": "x"} for r in rows])
    write_jsonl(tmp_path / "logs" / "b.jsonl", [{**r, "step": 1, "extra": [1, 2]} for r in rows])
    frame = diversity.load_rollouts(tmp_path / "logs")
    assert sorted(set(frame["extra"].to_list())) == ['"x"', "[1, 2]"]
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{**r, "extra": "x" if i < 3 else [1, 2]} for i, r in enumerate(rows)])
    written = score_logs(mixed, tmp_path / "scores.parquet", chunk_rows=3, metrics=["distinct_n"], progress=False)
    assert written.rollouts == len(rows)


def test_lineage_and_phase_arguments_override_the_file(canonical_file: Path) -> None:
    frame = diversity.load_rollouts(canonical_file, lineage="mine", phase="2")
    assert frame["lineage"].unique().to_list() == ["mine"]
    assert frame["phase"].unique().to_list() == ["2"]


def test_trl_groups_are_consecutive_blocks_and_reward_is_the_sum(trl_dir: Path) -> None:
    frame = diversity.load_rollouts(trl_dir, group_size=4)
    assert frame.height == 24
    assert group_sizes(frame) == [4] * 6
    first = frame.filter((pl.col("step") == 5) & (pl.col("group_id") == "00000"))
    assert first["prompt"].unique().to_list() == ["q0"]
    assert first["response"].to_list() == ["c0-0", "c0-1", "c0-2", "c0-3"]
    assert first["reward"].to_list() == [0.25, 1.25, 0.25, 1.25]
    assert {"accuracy", "format", "advantage"} <= set(frame.columns)
    assert frame["lineage"].unique().to_list() == ["my-trl-run"]


def test_trl_without_group_size_is_a_clear_error(trl_dir: Path) -> None:
    with pytest.raises(InputError, match="group_size.*num_generations"):
        diversity.load_rollouts(trl_dir)


def test_trl_rows_not_divisible_by_group_size(trl_dir: Path) -> None:
    with pytest.raises(InputError, match="12 rows do not divide into groups of 5"):
        diversity.load_rollouts(trl_dir, group_size=5)


def test_verl_groups_by_step_and_input_despite_reordering(verl_dir: Path) -> None:
    frame = diversity.load_rollouts(verl_dir)
    assert group_sizes(frame) == [3, 3]
    for prompt, group in frame.group_by("group_id"):
        assert group["prompt"].n_unique() == 1
    assert frame["step"].unique().to_list() == [7]
    assert sorted(frame["reward"].to_list()) == [0, 0, 0, 0, 1, 1]
    assert "gts" in frame.columns and "acc" in frame.columns


def test_verl_step_from_file_name_when_missing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "42.jsonl", [{"input": "q", "output": "o", "score": 1}])
    assert diversity.load_rollouts(path)["step"].to_list() == [42]


def test_noveltybench_one_line_is_one_group(noveltybench_file: Path) -> None:
    frame = diversity.load_rollouts(noveltybench_file)
    assert group_sizes(frame) == [2, 3]
    assert frame.filter(pl.col("group_id") == "b")["response"].to_list() == ["red", "red"]
    assert frame["split"].unique().to_list() == ["eval"]
    assert frame["model"].unique().to_list() == ["m"]


def test_auto_detection_reports_the_format(trl_dir, verl_dir, noveltybench_file, canonical_file) -> None:
    result = diversity.read_rollouts([trl_dir, verl_dir, noveltybench_file, canonical_file], group_size=4)
    assert [f.format for f in result.files] == ["trl", "trl", "verl", "noveltybench", "canonical"]
    assert result.frame.height == 24 + 6 + 5 + 12


def test_globs_and_directories(tmp_path: Path) -> None:
    for step in (1, 2):
        write_jsonl(tmp_path / "logs" / f"s{step}.jsonl", canonical_rows(steps=(step,)))
    assert diversity.load_rollouts(str(tmp_path / "logs" / "*.jsonl")).height == 12
    assert diversity.load_rollouts(tmp_path / "logs").height == 12


def test_a_trainer_run_directory_is_read_from_its_rollouts_folder(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "grpo"
    write_jsonl(run / "rollouts" / "train.jsonl", canonical_rows())
    write_jsonl(run / "metrics.jsonl", [{"step": 0, "entropy": 1.0}])
    (run / "config.json").write_text("{}")
    result = diversity.read_rollouts(run)
    assert result.frame.height == 12 and result.ignored == []


def test_files_in_a_directory_that_are_not_rollouts_are_listed_as_ignored(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "rollouts.jsonl", canonical_rows())
    write_jsonl(tmp_path / "d" / "metrics.jsonl", [{"step": 0, "loss": 1.0}])
    result = diversity.read_rollouts(tmp_path / "d")
    assert result.ignored == [str(tmp_path / "d" / "metrics.jsonl")]
    assert result.frame.height == 12


def test_a_named_file_that_is_not_a_rollout_log_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "metrics.jsonl", [{"step": 0, "loss": 1.0}])
    with pytest.raises(InputError, match="match no known rollout format"):
        diversity.load_rollouts(path)


def test_skip_mode_counts_and_locates_bad_rows(tmp_path: Path) -> None:
    rows = canonical_rows()
    rows[1]["step"] = "soon"
    rows[4]["reward"] = float("nan")
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = diversity.read_rollouts(path, on_bad_row="skip")
    assert result.frame.height == 10
    assert result.skipped == 2
    assert result.skipped_at[0].endswith("line 2 (step: expected an integer, found str 'soon')")
    assert "line 5 (reward: nan is not a finite number)" in result.skipped_at[1]


def test_bad_options_are_option_errors(canonical_file: Path) -> None:
    with pytest.raises(OptionError, match="unknown format 'csvv'"):
        diversity.load_rollouts(canonical_file, format="csvv")
    with pytest.raises(OptionError, match="on_bad_row"):
        diversity.load_rollouts(canonical_file, on_bad_row="ignore")
    with pytest.raises(OptionError, match="group_size"):
        diversity.load_rollouts(canonical_file, group_size=0)


# ---------------------------------------------------------------- LoadOptions


@pytest.mark.parametrize(
    "values, message",
    [
        ({"format": "csvv"}, "unknown format 'csvv'; choose auto or one of canonical, trl, verl, noveltybench, skyrl, "
                             "slime, lm_eval, batch, verifiers, table"),
        ({"on_bad_row": "ignore"}, "on_bad_row must be 'error' or 'skip', not 'ignore'"),
        ({"group_size": 0}, "group_size must be a positive integer, not 0"),
        ({"group_size": True}, "group_size must be a positive integer, not True"),
        ({"group_size": 2.5}, "group_size must be a positive integer, not 2.5"),
        ({"group_size": "4"}, "group_size must be a positive integer, not '4'"),
        ({"lineage": 3}, "lineage must be a string, not 3; write lineage='3'"),
        ({"phase": 2}, "phase must be a string, not 2; write phase='2'"),
        ({"columns": {"question": "prompt"}}, "columns: 'question' is not a canonical field; map one of lineage, "
                                               "phase, step, group_id, prompt, response, reward, entropy, n_tokens, "
                                               "split, task"),
        ({"columns": "prompt:question"}, "column mapping 'prompt:question' has no '='; write e.g. "
                                         "prompt=question,response=answer,group_id=uid"),
        ({"columns": {"prompt": ""}}, "columns: the column for 'prompt' must be a non-empty name, not ''; write e.g. "
                                      "prompt=question,response=answer,group_id=uid"),
        ({"columns": "prompt=a,prompt=b"}, "columns: 'prompt' is mapped twice ('a' and 'b')"),
        ({"columns": ""}, "columns is empty; write e.g. prompt=question,response=answer,group_id=uid, or leave it unset"),
    ],
)
def test_load_options_refuse_bad_values_when_made(values: dict, message: str) -> None:
    with pytest.raises(OptionError) as caught:
        LoadOptions(**values)
    assert str(caught.value) == message


def test_load_options_defaults_and_good_values() -> None:
    default = LoadOptions()
    assert (default.format, default.group_size, default.lineage, default.phase, default.on_bad_row) == (
        "auto", None, None, None, "error")
    assert not default.skip_bad_rows and LoadOptions(on_bad_row="skip").skip_bad_rows
    options = LoadOptions(format="trl", group_size=4, lineage="mine", phase="2")
    assert options.group_size == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.group_size = 5


def test_load_options_or_keywords_but_not_both(canonical_file: Path) -> None:
    by_object = diversity.load_rollouts(canonical_file, LoadOptions(lineage="mine"))
    assert by_object.equals(diversity.load_rollouts(canonical_file, lineage="mine"))
    with pytest.raises(OptionError, match="not both"):
        diversity.load_rollouts(canonical_file, LoadOptions(), lineage="mine")
    with pytest.raises(TypeError, match="unexpected keyword argument.*lineages"):
        diversity.load_rollouts(canonical_file, lineages="mine")
    with pytest.raises(TypeError, match="must be a LoadOptions"):
        diversity.load_rollouts(canonical_file, "trl")


# ---------------------------------------------------------------- the format registry


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_registered_format_is_detected_by_its_own_columns(name: str) -> None:
    assert detect(set(FORMATS[name].columns)) is FORMATS[name]
    assert detect(set(FORMATS[name].columns) | {"step", "seed"}) is FORMATS[name]


def test_canonical_columns_lose_to_a_more_specific_format() -> None:
    assert detect({"prompt", "response", "generations"}).name == "noveltybench"
    assert detect({"prompt", "response", "completion"}).name == "trl"
    assert detect({"step", "loss"}) is None


@pytest.fixture
def shouting_format(monkeypatch):
    """A format registered the way a new module would be: one entry in FORMATS."""
    from diversity.load.rows import each_row, integer, string, to_frame

    def read(records, report, options):
        rows = []
        for _, record, guard in each_row(records, report, options.skip_bad_rows):
            with guard:
                row = {"prompt": string(record, "question"), "response": string(record, "shout").lower(),
                       "step": integer(record, "round"), "group_id": string(record, "question"), "split": "eval"}
            if not guard.failed:
                rows.append(row)
        return to_frame(rows)

    fmt = Format(name="shouting", title="a test's shouting log", columns=("question", "shout"), read=read)
    monkeypatch.setitem(FORMATS, fmt.name, fmt)
    return fmt


def test_a_registered_format_is_detected_read_and_offered_on_the_command_line(tmp_path, shouting_format, capsys) -> None:
    from rollout_cli import build_parser, main

    rows = [{"question": "q1", "shout": "HELLO", "round": 3}, {"question": "q1", "shout": "HI", "round": 3},
            {"question": "q2", "shout": "BYE", "round": "x"}]
    path = write_jsonl(tmp_path / "shouts" / "log.jsonl", rows)
    result = diversity.read_rollouts(path, on_bad_row="skip")
    assert [f.format for f in result.files] == ["shouting"]
    assert result.frame["response"].to_list() == ["hello", "hi"] and result.frame["step"].to_list() == [3, 3]
    assert result.frame["lineage"].unique().to_list() == ["shouts"] and result.skipped == 1
    assert LoadOptions(format="shouting").format == "shouting"

    inspect = build_parser()._subparsers._group_actions[0].choices["inspect"]
    assert "shouting" in next(a for a in inspect._actions if a.dest == "format").choices
    assert main(["-q", "inspect", str(path), "--format", "shouting", "--on-bad-row", "skip"]) == 0
    assert f"{path}: shouting, 2 rows, 1 skipped" in capsys.readouterr().out


def test_a_file_that_matches_no_format_names_every_registered_format(tmp_path, shouting_format) -> None:
    path = write_jsonl(tmp_path / "metrics.jsonl", [{"step": 0, "loss": 1.0}])
    with pytest.raises(InputError, match=r"prompt\+response \(canonical\).* or question\+shout \(shouting\)"):
        diversity.load_rollouts(path)
