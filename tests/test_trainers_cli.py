"""The trainer through the real command line, on a tiny budget: every method, phases and
forks, resuming (also after a SIGKILL), the Hugging Face path, and bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import torch

import diversity
from rollout_cli import main
from rollout_common.run_directory import FINAL, SUMMARY, RunPaths, read_config
from tests.conftest import REPO, TINY, assert_same_run, cli, metrics, weights, write_tiny_hf_model
from trainers.methods import METHODS


def train(capsys, out: Path, *args) -> Path:
    code, err = cli(capsys, "train", "--out", out, *TINY, *args)
    assert code == 0, err
    return out


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A briefly warmed-up 1-layer base policy, shared by the tests below."""
    out = tmp_path_factory.mktemp("runs") / "base"
    code = main(["-q", "warmup", "--out", str(out), "--steps", "40", "--batch-size", "16", "--n-layer", "1",
                 "--n-embd", "32", "--n-head", "2", "--eval-groups", "1"])
    assert code == 0
    return out


def test_warmup_writes_a_base_with_its_evaluation(base: Path) -> None:
    summary = json.loads((base / SUMMARY).read_text())
    assert set(summary["eval"]) == {"A", "B", "C"}
    for task in summary["eval"].values():
        assert 0.0 <= task["reward"] <= 1.0
        assert 0.0 < task["entropy"] < summary["log_vocab"]
    checkpoint = torch.load(RunPaths(base).checkpoint(FINAL), weights_only=True)
    assert checkpoint["kind"] == "warmup" and checkpoint["phase"] == "0" and checkpoint["step"] == 0
    frame = diversity.load_rollouts(base)
    assert set(frame["split"]) == {"eval"} and set(frame["task"]) == {"A", "B", "C"}


CONTROL = {"repo_r": "zeta", "adapo": "eps_high", "entropy_bonus": "alpha", "adaptive_entropy": "alpha",
           "clip_cov": "cov_tokens", "kl_cov": "cov_tokens", "kl": "kl_ref"}


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_and_logs_loadable_rollouts(capsys, tmp_path: Path, base: Path, method: str) -> None:
    run = train(capsys, tmp_path / method, "--method", method, "--task", "A", "--steps", "2", "--init-from", base)
    after, before = weights(run), weights(base)
    assert any(not torch.equal(after[k], before[k]) for k in before), "no parameter changed"

    rows = metrics(run)
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("entropy", "reward_mean", "reward_std", "loss", "clip_low", "clip_high", "approx_kl"):
        assert all(math.isfinite(r[key]) for r in rows), key
    if method in CONTROL:
        assert all(CONTROL[method] in r for r in rows)

    frame = diversity.load_rollouts(run)
    train_rows = frame.filter(pl.col("split") == "train")
    assert set(frame["lineage"]) == {method} and set(frame["phase"]) == {"1"}
    assert sorted(set(train_rows["step"])) == [1, 2]
    assert train_rows.group_by("step", "group_id").len()["len"].to_list() == [4] * 8
    assert train_rows["entropy"].is_not_null().all() and train_rows["reward"].is_between(0, 1).all()
    assert sorted(set(frame.filter(pl.col("split") == "eval")["step"])) == [0, 2]
    assert read_config(run).method == method


def test_phases_and_forks_continue_the_global_step(capsys, tmp_path: Path, base: Path) -> None:
    p1 = train(capsys, tmp_path / "repo_r_p1", "--method", "repo_r", "--task", "A", "--steps", "2",
               "--init-from", base, "--lineage", "repo_r")
    p2 = train(capsys, tmp_path / "repo_r_p2", "--method", "repo_r", "--task", "B", "--steps", "2", "--init-from", p1)
    fork = train(capsys, tmp_path / "raised_p2", "--method", "repo_r", "--task", "B", "--steps", "2",
                 "--init-from", p1, "--lineage", "repo_r_raised", "--target-entropy", "2.5")
    carried = train(capsys, tmp_path / "carried_p2", "--method", "repo_r", "--task", "B", "--steps", "1",
                    "--init-from", p1, "--lineage", "carried", "--target-entropy", "parent")

    frame = diversity.load_rollouts([p1, p2, fork]).filter(pl.col("split") == "train")
    steps = {k: sorted(set(g["step"])) for k, g in frame.group_by("lineage", "phase")}
    assert steps == {("repo_r", "1"): [1, 2], ("repo_r", "2"): [3, 4], ("repo_r_raised", "2"): [3, 4]}
    assert read_config(p2).record.parent == str(p1)
    assert set(frame.filter(pl.col("phase") == "2")["task"]) == {"B"}
    assert all(r["target_entropy"] == 2.5 for r in metrics(fork))
    # H_init is measured again in phase 2 (on task B); 'parent' carries phase 1's target instead.
    p1_target = metrics(p1)[0]["target_entropy"]
    assert metrics(p1)[0]["target_entropy"] == pytest.approx(metrics(p1)[0]["entropy"])
    assert metrics(p2)[0]["target_entropy"] == pytest.approx(metrics(p2)[0]["entropy"])
    assert metrics(carried)[0]["target_entropy"] == pytest.approx(p1_target)


def test_stop_and_resume_equals_a_straight_run(capsys, tmp_path: Path, base: Path) -> None:
    common = ["--method", "repo_r", "--task", "A", "--init-from", base, "--save-every", "2", "--lineage", "x"]
    straight = train(capsys, tmp_path / "straight", *common, "--steps", "4")
    split = train(capsys, tmp_path / "split", *common, "--steps", "2")
    code, err = cli(capsys, "train", "--out", split, "--resume", "--steps", "4")
    assert code == 0, err
    assert_same_run(straight, split)


def test_a_killed_run_resumes_to_the_same_result(capsys, tmp_path: Path, base: Path) -> None:
    common = ["--method", "clip_cov", "--task", "B", "--init-from", str(base), "--steps", "30", "--save-every", "3",
              "--lineage", "x", *TINY[:-4], "--eval-every", "100"]
    straight = train(capsys, tmp_path / "straight", *common)
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "rollout_cli", "-q", "train", "--out", str(killed), *common],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    latest = killed / "checkpoints" / "latest.pt"
    deadline = time.monotonic() + 120
    while not latest.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "checkpoints" / "final.pt").exists(), "the run finished before it could be killed"
    code, err = cli(capsys, "train", "--out", killed, "--resume")
    assert code == 0, err
    assert_same_run(straight, killed)


def test_hugging_face_model_trains_through_the_cli(capsys, tmp_path: Path) -> None:
    model = write_tiny_hf_model(tmp_path / "tiny_hf")
    run = train(capsys, tmp_path / "hf_run", "--model", model, "--method", "grpo", "--task", "B", "--steps", "2")
    from transformers import AutoModelForCausalLM

    before = AutoModelForCausalLM.from_pretrained(model).state_dict()
    after = weights(run)
    assert any(not torch.equal(after[f"model.{k}"], v) for k, v in before.items() if f"model.{k}" in after)
    frame = diversity.load_rollouts(run)
    assert len(frame.filter(pl.col("split") == "train")) == 2 * 4 * 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "ppo"], "--method 'ppo' is not a method"),
        (["--task", "D"], "--task 'D' is not a task"),
        (["--train-prompts", "99"], "--train-prompts 99: task A has 24 train prompts"),
        (["--grader-noise", "0.5"], "--grader-noise 0.5 must lie in [0, 0.5)"),
        (["--steps", "0"], "--steps must be a positive integer"),
        (["--steps", "-3"], "--steps must be a positive integer"),
        (["--group-size", "0"], "--group-size must be a positive integer"),
        (["--target-entropy", "0"], "--target-entropy 0.0 must lie in (0,"),
        (["--target-entropy", "-1"], "--target-entropy -1.0 must lie in (0,"),
        (["--target-entropy", "4.7"], "must lie in (0, log(vocab) = 4.615)"),
        (["--target-entropy", "high"], "--target-entropy 'high' is neither"),
        (["--target-entropy", "parent"], "--target-entropy parent needs --init-from a run"),
        (["--zeta-min", "0.5", "--zeta-max", "0.1"], "--zeta-min 0.5 and --zeta-max 0.1"),
        (["--init-from", "/no/such/run"], "--init-from /no/such/run: no such run directory"),
    ],
)
def test_bad_options_give_one_line_naming_the_option(capsys, tmp_path: Path, args, message) -> None:
    code, err = cli(capsys, "train", "--out", tmp_path / "run", "--steps", "1", *TINY, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("rollout-diversity train: error: ") and message in err, err


def test_bad_init_from_checkpoints(capsys, tmp_path: Path, base: Path) -> None:
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints").mkdir(parents=True)
    corrupt = tmp_path / "corrupt"
    (corrupt / "checkpoints").mkdir(parents=True)
    (corrupt / "checkpoints" / "final.pt").write_bytes(b"not a checkpoint")
    other_vocab = tmp_path / "other_vocab"
    (other_vocab / "checkpoints").mkdir(parents=True)
    state = torch.load(base / "checkpoints" / "final.pt", weights_only=True)
    torch.save({**state, "vocab": state["vocab"][:-1] + ["zebra"]}, other_vocab / "checkpoints" / "final.pt")
    cases = [
        ([unfinished], "no final checkpoint"),
        ([corrupt], "is not a readable checkpoint"),
        ([other_vocab], "another vocabulary"),
        ([base, "--n-layer", "3"], "--n-layer 3 is incompatible with --init-from"),
    ]
    for (source, *extra), message in cases:
        code, err = cli(capsys, "train", "--out", tmp_path / "run", "--steps", "1", *TINY, "--init-from", source, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_existing_runs_are_not_overwritten_and_resume_keeps_options(capsys, tmp_path: Path, base: Path) -> None:
    run = train(capsys, tmp_path / "run", "--steps", "1", "--init-from", base)
    code, err = cli(capsys, "train", "--out", run, "--steps", "1", *TINY, "--init-from", base)
    assert code == 2 and "already holds a run" in err and "--resume" in err
    code, err = cli(capsys, "train", "--out", run, "--resume", "--lr", "0.5")
    assert code == 2 and "options differ from its config.json (rl.lr)" in err
    code, err = cli(capsys, "train", "--out", tmp_path / "fresh", "--resume")
    assert code == 2 and "has no config.json" in err
    code, err = cli(capsys, "train", "--out", run, "--steps", "1", *TINY, "--init-from", base, "--force")
    assert code == 0, err


def test_seeds_of_one_lineage_never_pool_their_groups(capsys, tmp_path: Path, base: Path, one_thread) -> None:
    runs = [train(capsys, tmp_path / f"s{seed}", "--method", "grpo", "--task", "A", "--steps", "1", "--seed", str(seed),
                  "--init-from", base, "--lineage", "grpo") for seed in (0, 1)]
    frame = diversity.load_rollouts(runs)
    sizes = frame.group_by("lineage", "phase", "step", "split", "group_id").len()["len"].unique().to_list()
    assert sizes == [4]  # G = 4 per group, never the two seeds' 2 x 4


def test_the_trainer_logs_the_monitors_diversity_keys(capsys, tmp_path: Path, base: Path, one_thread) -> None:
    """One code path with the TRL callback: metrics.jsonl carries diversity/<metric>, the step's group means."""
    run = train(capsys, tmp_path / "monitored", "--method", "grpo", "--task", "A", "--steps", "2", "--init-from", base)
    rows = metrics(run)
    frame = diversity.load_rollouts(run).filter(pl.col("split") == "train")
    scores = diversity.score(frame, metrics=["duplicate_fraction", "distinct_n"], progress=False).groups
    for row in rows:
        groups = scores.filter(pl.col("step") == row["step"])
        assert row["diversity/duplicate_fraction"] == pytest.approx(groups["duplicate_fraction"].mean())
        assert row["diversity/distinct_n"] == pytest.approx(groups["distinct_n"].mean())
