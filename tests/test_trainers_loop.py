"""The loop's update on a tiny policy and a hand-made batch, and one training step of every method."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rollout_common.run_directory import RunRecord
from trainers.config import ControlConfig, PolicyConfig, RLConfig, RunConfig, TrainConfig
from trainers.loop import noisy_rewards, open_session, train_step, update, zero_std_fraction
from trainers.methods import METHODS, make_method
from trainers.policy import GPTConfig, TinyGPT
from trainers.rollouts import Rollouts, token_logprobs_and_entropy
from trainers.rundir import rollout_rows
from trainers.tasks import TASKS

pytestmark = pytest.mark.usefixtures("one_thread")

G = 2  # responses per group


def tiny_policy() -> TinyGPT:
    torch.manual_seed(0)
    return TinyGPT(GPTConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2, n_embd=16))


def hand_batch(policy, rewards: list[list[float]], lengths: list[int], width: int = 4) -> Rollouts:
    """Groups of G responses to a 3-token prompt; response i has ``lengths[i]`` tokens (the rest padding)."""
    n = len(lengths)
    prompt_ids = torch.tensor([[3, 4, 5]] * n)
    response_ids = torch.tensor([[6 + (i + t) % 5 for t in range(width)] for i in range(n)])
    response_mask = torch.tensor([[1.0] * k + [0.0] * (width - k) for k in lengths])
    prompts = [TASKS["A"].prompts("train")[0]] * (n // G)
    batch = Rollouts(prompts, G, prompt_ids, torch.ones_like(prompt_ids), response_ids, response_mask, [""] * n,
                     torch.tensor(rewards).flatten())
    return token_logprobs_and_entropy(policy, batch, temperature=1.0, chunk_size=64)


def config(method: str = "grpo", minibatches: int = 1) -> TrainConfig:
    return TrainConfig(run=RunConfig(out="unused", method=method),
                       rl=RLConfig(minibatches=minibatches, max_new_tokens=4, lr=1e-2)).resolved()


def test_one_on_policy_update_by_hand() -> None:
    policy = tiny_policy()
    batch = hand_batch(policy, [[1.0, 0.0]], lengths=[3, 1])
    before = [p.detach().clone() for p in policy.parameters()]
    c = config()
    stats = update(policy, torch.optim.Adam(policy.parameters(), lr=c.rl.lr), make_method(c), batch, c, None)
    # r = 1 on the sampling policy: loss = -(A_0 * 3 + A_1 * 1) / 4 tokens, A = +-0.5 / (std 0.7071 + 1e-4).
    assert stats["loss"] == pytest.approx(-(0.5 * 3 - 0.5) / (4 * (math.sqrt(0.5) + 1e-4)), rel=1e-5)
    assert stats["approx_kl"] == pytest.approx(0.0, abs=1e-6)
    assert stats["clip_low"] == stats["clip_high"] == 0.0
    assert stats["groups_kept"] == 1
    assert set(stats) == {"loss", "approx_kl", "groups_kept", *METHODS["grpo"].statistics}
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters())), "no parameter changed"


def test_padding_columns_past_every_response_change_no_update() -> None:
    """The update trims columns after the longest response; extra padding there changes nothing."""
    c = config()
    results = []
    for width in (3, 8):
        policy = tiny_policy()
        batch = hand_batch(policy, [[1.0, 0.0], [0.5, 0.0]], lengths=[3, 1, 2, 3], width=width)
        stats = update(policy, torch.optim.Adam(policy.parameters(), lr=c.rl.lr), make_method(c), batch, c, None)
        results.append((stats["loss"], [p.detach().clone() for p in policy.parameters()]))
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(results[0][1], results[1][1]))


class Recording(METHODS["kl_cov"]):
    """KL-Cov, noting the rows of each minibatch it sees."""

    def __init__(self, config):
        super().__init__(config)
        self.rows: list[int] = []

    def token_loss(self, t):
        self.rows.append(t.mask.shape[0])
        return super().token_loss(t)


def test_minibatches_split_the_groups_and_reduce_statistics_by_their_kind() -> None:
    policy = tiny_policy()
    batch = hand_batch(policy, [[1.0, 0.0], [0.0, 0.5], [0.25, 1.0]], lengths=[4, 2, 3, 1, 4, 4])
    c = config("kl_cov", minibatches=2)
    method = Recording(c)
    optimizer = torch.optim.Adam(policy.parameters(), lr=c.rl.lr)
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(1))
    stats = update(policy, optimizer, method, batch, c, None)
    assert method.rows == [2 * G, 1 * G] and len(steps) == 2  # groups [0, 2) then [2, 3)
    assert stats["cov_tokens"] == 2.0  # a count, summed over the step: one top-covariance token per minibatch
    assert all(0.0 <= stats[k] <= 1.0 for k in ("clip_low", "clip_high"))  # means, averaged over minibatches
    assert math.isfinite(stats["loss"]) and stats["groups_kept"] == 3


def test_a_step_whose_groups_were_all_dropped_changes_nothing() -> None:
    policy = tiny_policy()
    empty = hand_batch(policy, [[1.0, 0.0]], lengths=[3, 1]).select(torch.tensor([False]))
    before = [p.detach().clone() for p in policy.parameters()]
    c = config("dapo")
    stats = update(policy, torch.optim.Adam(policy.parameters()), make_method(c), empty, c, None)
    assert math.isnan(stats["loss"]) and stats["groups_kept"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters()))


LOOP_COLUMNS = {"step", "phase", "lineage", "task", "method", "reward_mean", "reward_std", "reward_zero_std", "entropy",
                "target_entropy", "loss", "approx_kl", "groups_kept", "response_tokens", "time_s"}


@pytest.mark.parametrize("name", list(METHODS))
def test_a_step_logs_the_loop_s_columns_and_the_method_s_declared_statistics(tmp_path: Path, name: str) -> None:
    train = TrainConfig(
        run=RunConfig(out=str(tmp_path / name), method=name, task="B", seed=1),
        policy=PolicyConfig(n_layer=1, n_head=2, n_embd=16),
        rl=RLConfig(prompts_per_step=4, group_size=4, max_new_tokens=8),
        control=ControlConfig(max_gen_batches=8),  # dapo: enough draws that some groups differ in reward
    )
    session = open_session(train, resume=False, force=False)
    row, logged = train_step(session, 1)
    assert row["groups_kept"] > 0, "every group was dropped; the step logged no method statistics"
    cls = METHODS[name]
    assert set(row) == LOOP_COLUMNS | set(cls.statistics) | set(cls.controls)
    assert len(logged.rewards) == 4 * 4


def test_the_noisy_grader_flips_each_check_with_its_chance_and_zero_std_counts_dead_groups() -> None:
    task = TASKS["A"]
    prompt = task.prompts("train")[0]  # list 4 fruit: 5 checks
    n = 2000
    batch = Rollouts([prompt] * (n // G), G, torch.zeros(n, 1), torch.ones(n, 1), torch.zeros(n, 1),
                     torch.ones(n, 1), ["apple"] * n, torch.zeros(n))
    true = task.grade(prompt, "apple")  # one slot met of K = 4, the length wrong
    assert torch.equal(noisy_rewards(task, batch, 1e-12, torch.Generator().manual_seed(0)), torch.full((n,), true))
    noisy = noisy_rewards(task, batch, 0.25, torch.Generator().manual_seed(0))
    checks = prompt.k + 1
    # E[noisy] = true (1 - p) + (1 - true) p
    assert float(noisy.mean()) == pytest.approx(true * 0.75 + (1 - true) * 0.25, abs=0.01)
    assert torch.allclose(noisy * checks, (noisy * checks).round(), atol=1e-5)
    batch.rewards = torch.tensor([1.0, 1.0, 0.0, 1.0] + [0.5] * (n - 4))
    assert zero_std_fraction(batch) == pytest.approx((n // G - 1) / (n // G))


def test_group_ids_keep_seeds_apart() -> None:
    """Runs of two seeds of one lineage share lineage, phase, step and split: the seed in the id keeps
    their groups of G apart when loaded together."""
    batch = hand_batch(tiny_policy(), [[1.0, 0.0]], lengths=[3, 1])
    record = RunRecord(lineage="grpo", phase="1", start_step=0)
    ids = [{row["group_id"] for row in rollout_rows(batch, record, step=1, split="eval", task="A", seed=seed)}
           for seed in (0, 1)]
    assert len(ids[0]) == len(ids[1]) == 1 and not ids[0] & ids[1]


def test_the_speed_benchmark_runs_without_trl(tmp_path: Path) -> None:
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trainer.py"
    done = subprocess.run([sys.executable, bench, "--no-trl", "--steps", "1", "--threads", "1"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "s/step (generate" in done.stdout
