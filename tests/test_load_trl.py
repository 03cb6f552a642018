"""TRL GRPOTrainer completion logs, read from files TRL 1.16 wrote (tests/data/real/trl), through the
library and the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

import diversity
from rollout_common.errors import InputError
from tests.conftest import REAL, run_cli

TRL = REAL / "trl"


def logged_reward_means(run: str) -> dict[int, float]:
    """TRL's own per-step mean of its total reward, from the run's trainer_state.json."""
    history = json.loads((TRL / run / "trainer_state.json").read_text())["log_history"]
    return {entry["step"]: entry["reward"] for entry in history if "reward" in entry}


def reward_means(frame: pl.DataFrame) -> dict[int, float]:
    return dict(frame.group_by("step").agg(pl.col("reward").mean()).iter_rows())


# ---------------------------------------------------------------- conversational data sets


def test_conversational_prompts_and_completions_are_read_as_their_messages_text() -> None:
    frame = diversity.load_rollouts(TRL / "conversational", group_size=4)
    assert frame.height == 16 and frame.schema["prompt"] == pl.String and frame.schema["response"] == pl.String
    with_system = frame.filter(pl.col("prompt_roles").list.len() == 2).row(0, named=True)
    assert with_system["prompt_roles"] == ["system", "user"]
    assert with_system["prompt"] == "be brief\n\nthe sky is"
    assert frame["response_roles"].to_list() == [["assistant"]] * 16
    first = frame.row(0, named=True)
    assert (first["prompt"], first["response"]) == ("add two and one", "blue")
    assert frame.group_by("step", "group_id").agg(pl.col("prompt").n_unique())["prompt"].to_list() == [1] * 4


def test_conversational_logs_through_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", TRL / "conversational", "--group-size", "4")
    assert code == 0
    assert "completions_00001.parquet: trl, 8 rows, 0 skipped" in out
    assert "prompt_roles" in out and "response_roles" in out


# ---------------------------------------------------------------- rewards: nulls, weights


def test_null_rewards_follow_trls_nansum_whatever_the_first_row_holds() -> None:
    result = diversity.read_rollouts(TRL / "none_rewards", group_size=4)
    frame = result.frame
    first = frame.filter(pl.col("step") == 1).row(0, named=True)
    assert first["text_reward"] is None and first["reward"] == first["math_reward"]  # the null drops no column
    unscorable = pl.col("math_reward").is_null() & pl.col("text_reward").is_null()
    scored = frame.filter(~unscorable)
    assert scored["reward"].to_list() == pytest.approx(
        scored.select(pl.sum_horizontal("math_reward", "text_reward")).to_series().to_list())
    assert frame.filter(unscorable)["reward"].null_count() == 4
    assert reward_means(frame) == pytest.approx(logged_reward_means("none_rewards"), rel=1e-6)  # TRL's own mean
    assert result.counts == {"rows_without_reward": 4}
    assert "n_words" not in result.files[0].reward  # an integer log_extra column is not a reward


def test_a_rows_reward_does_not_depend_on_the_order_of_the_rows(tmp_path: Path) -> None:
    source = TRL / "none_rewards" / "completions" / "completions_00003.parquet"
    table = pl.read_parquet(source)
    blocks = [table.slice(start, 4) for start in range(0, table.height, 4)]
    out = tmp_path / "run" / "completions"
    out.mkdir(parents=True)
    pl.concat(blocks[::-1]).write_parquet(out / source.name)  # the all-null prompt's rows now come first

    def by_answer(path):
        frame = diversity.load_rollouts(path, group_size=4)
        return dict(zip(zip(frame["prompt"], frame["response"]), frame["reward"]))
    assert by_answer(out) == by_answer(source)


def test_rows_without_any_reward_are_counted_on_the_command_line(capsys, caplog) -> None:
    code, out, _ = run_cli(capsys, "inspect", TRL / "none_rewards", "--group-size", "4")
    assert code == 0
    assert "reward = math_reward + text_reward, nulls skipped (TRL's nansum" in out
    assert "4 row(s) have no reward" in out and "rows without reward: 4" in out
    assert any("4 row(s) have no reward" in r.message for r in caplog.records if r.levelname == "WARNING")


def test_reward_weights_give_trls_weighted_total() -> None:
    result = diversity.read_rollouts(TRL / "reward_weights", group_size=4, reward_weights=[1.0, 0.5])
    frame = result.frame
    assert frame["reward"].to_list() == pytest.approx(
        (frame["length_reward"] + 0.5 * frame["contains_answer"]).to_list())
    assert reward_means(frame) == pytest.approx(logged_reward_means("reward_weights"), rel=1e-6)
    unweighted = diversity.load_rollouts(TRL / "reward_weights", group_size=4)
    assert reward_means(unweighted) != pytest.approx(logged_reward_means("reward_weights"), rel=1e-6)
    assert result.files[0].reward.startswith("1·length_reward + 0.5·contains_answer")
    assert diversity.LoadOptions(reward_weights="1.0, 0.5").reward_weights == (1.0, 0.5)


def test_reward_weights_must_match_the_reward_columns() -> None:
    with pytest.raises(InputError, match=r"3 reward weight\(s\) given for 2 reward column\(s\) "
                                         r"\(length_reward, contains_answer\)"):
        diversity.load_rollouts(TRL / "reward_weights", group_size=4, reward_weights=[1, 1, 1])


def test_reward_weights_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", TRL / "reward_weights", "--group-size", "4", "--reward-weights", "1.0,0.5")
    assert code == 0
    assert "reward = 1·length_reward + 0.5·contains_answer, nulls skipped (TRL's nansum; weights from " \
           "--reward-weights)" in out
    code, _, err = run_cli(capsys, "inspect", TRL / "reward_weights", "--group-size", "4", "--reward-weights", "1")
    assert code == 2 and "1 reward weight(s) given for 2 reward column(s)" in err


# ---------------------------------------------------------------- re-logged batches


def test_a_batch_relogged_at_later_steps_is_kept_once_at_its_first_step() -> None:
    result = diversity.read_rollouts(TRL / "steps_per_generation", group_size=4)
    assert sorted(result.frame["step"].unique()) == [1, 3]
    assert result.frame.height == 16
    assert [f.rows for f in result.files] == [8, 0, 8, 0]
    assert result.counts == {"relogged_rows_dropped": 16}
    assert "first logged at step 1" in result.files[1].notes[0]


def test_new_batches_at_every_step_are_all_kept() -> None:
    result = diversity.read_rollouts(TRL / "gradient_accumulation", group_size=4)
    assert sorted(result.frame["step"].unique()) == [1, 2] and result.frame.height == 16
    assert result.counts == {}


def test_relogged_batches_on_the_command_line(capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", TRL / "steps_per_generation", "--group-size", "4")
    assert code == 0
    assert "completions_00002.parquet: trl, 0 rows, 0 skipped" in out
    assert "relogged rows dropped: 16" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("steps_per_generation"))
    assert line.split()[3:7] == ["2", "1-3", "4", "16"]  # steps, range, groups, rows


# ---------------------------------------------------------------- groups


def test_a_group_size_that_mixes_prompts_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match=r"rows 1-8 \(one group of --group-size 8\) hold 2 different prompts.*"
                                         r"pass --group-size 4"):
        diversity.load_rollouts(TRL / "plain_two_rewards", group_size=8)


def test_two_data_set_items_with_one_prompt_are_two_groups() -> None:
    frame = diversity.load_rollouts(TRL / "duplicate_prompts", group_size=4)
    sizes = frame.group_by("group_id").agg(pl.len(), pl.col("prompt").first())
    assert sorted(sizes["len"].to_list()) == [4, 4] and sizes["prompt"].unique().to_list() == ["say hello"]


def test_a_wrong_group_size_on_the_command_line(capsys) -> None:
    code, _, err = run_cli(capsys, "inspect", TRL / "plain_two_rewards", "--group-size", "8")
    assert code == 2
    assert "hold 2 different prompts" in err and "pass --group-size 4" in err and "Traceback" not in err


# ---------------------------------------------------------------- the run's output_dir


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """A TRL output_dir as a finished run leaves it: checkpoints, README, trainer_state.json, completions/."""
    out = tmp_path / "grpo-run"
    shutil.copytree(TRL / "plain_two_rewards", out)
    checkpoint = out / "checkpoint-2"
    checkpoint.mkdir()
    for name in ("trainer_state.json", "config.json", "tokenizer.json", "generation_config.json"):
        (checkpoint / name).write_text("{}")
    (checkpoint / "model.safetensors").write_bytes(b"\0" * 64)
    (checkpoint / "training_args.bin").write_bytes(b"\0" * 16)
    (out / "README.md").write_text("---\nlibrary_name: transformers\n---\n# model card\n")
    (out / "runs").mkdir()
    (out / "runs" / "events.out.tfevents.1.host").write_bytes(b"\0" * 8)
    pl.DataFrame({"prompt": ["a data set the user saved"], "answer": ["x"]}).write_csv(out / "train_sample.csv")
    return out


def test_pointing_at_the_output_dir_reads_its_completions(output_dir: Path) -> None:
    result = diversity.read_rollouts(output_dir, group_size=4)
    assert [Path(f.path).name for f in result.files] == ["completions_00001.parquet", "completions_00002.parquet"]
    assert result.ignored == []
    assert result.frame["lineage"].unique().to_list() == ["grpo-run"]
    assert reward_means(result.frame) == pytest.approx(logged_reward_means("plain_two_rewards"), rel=1e-6)


def test_the_output_dir_on_the_command_line(output_dir: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "inspect", output_dir, "--group-size", "4")
    assert code == 0
    assert "0 files ignored" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("grpo-run"))
    assert line.split()[:7] == ["grpo-run", "1", "train", "2", "1-2", "4", "16"]
