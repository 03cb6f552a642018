"""Each method's hooks, as they differ from GRPO's, on hand-made tensors; the registry and its defaults."""

from __future__ import annotations

import math

import pytest
import torch

from trainers import losses
from trainers.config import RLConfig, RunConfig, TrainConfig
from trainers.methods import GRPO, METHODS, Tokens, make_method


def method(name: str, **rl) -> GRPO:
    config = TrainConfig(run=RunConfig(out="unused", method=name), rl=RLConfig(**rl)).resolved()
    return make_method(config, torch.Generator().manual_seed(0))


def tokens(logp, old_logp, adv, entropy=None, mask=None, ref_logp=None) -> Tokens:
    logp = torch.tensor(logp)
    as_tensor = lambda value, fill: torch.full_like(logp, fill) if value is None else torch.tensor(value)
    return Tokens(logp, torch.tensor(old_logp), as_tensor(entropy, 1.0), torch.tensor(adv), as_tensor(mask, 1.0),
                  None if ref_logp is None else torch.tensor(ref_logp))


# Token 0: r = 1.5, A = +1 (clipped at 1 + eps_high); token 1: r = 0.5, A = -1 (clipped at 1 - eps_low).
CLIPPED = dict(logp=[[math.log(1.5), math.log(0.5)]], old_logp=[[0.0, 0.0]], adv=[[1.0, -1.0]])


def test_the_registry_names_each_class_once_and_describes_it() -> None:
    assert list(METHODS) == ["grpo", "dr_grpo", "dapo", "entropy_bonus", "adaptive_entropy", "kl", "clip_cov", "kl_cov",
                             "repo_r", "adapo"]
    for name, cls in METHODS.items():
        assert cls.name == name and cls.description and type(method(name)) is cls
        assert set(cls.statistics) >= {"clip_low", "clip_high"} and set(cls.statistics.values()) <= {"mean", "count"}
    assert {n for n, cls in METHODS.items() if cls.uses_target} == {"repo_r", "adapo", "adaptive_entropy"}


@pytest.mark.parametrize("name, aggregation, eps_high", [
    ("grpo", "token-mean", 0.2), ("dr_grpo", "constant", 0.2), ("dapo", "token-mean", 0.28),
    ("adapo", "token-mean", 0.28), ("repo_r", "token-mean", 0.2),
])
def test_each_method_sets_its_own_defaults_and_given_options_win(name, aggregation, eps_high) -> None:
    rl = TrainConfig(run=RunConfig(out="unused", method=name)).resolved().rl
    assert (rl.aggregation, rl.eps_high) == (aggregation, eps_high)
    given = TrainConfig(run=RunConfig(out="unused", method=name), rl=RLConfig(aggregation="seq-mean-token-mean",
                                                                              eps_high=0.5)).resolved().rl
    assert (given.aggregation, given.eps_high) == ("seq-mean-token-mean", 0.5)


def test_grpo_is_the_clipped_surrogate_with_its_clip_statistics() -> None:
    loss, stats = method("grpo").token_loss(tokens(**CLIPPED))
    assert torch.allclose(loss, torch.tensor([[-1.2, 0.8]]))
    assert stats["clip_high"].tolist() == [[True, False]] and stats["clip_low"].tolist() == [[False, True]]
    assert set(stats) == set(GRPO.statistics)


def test_dr_grpo_advantages_skip_the_std_division() -> None:
    rewards = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(method("dr_grpo").advantages(rewards), torch.tensor([[0.75, -0.25, -0.25, -0.25]]))
    assert torch.allclose(method("grpo").advantages(rewards), torch.tensor([[0.75, -0.25, -0.25, -0.25]]) / 0.5001)


def test_dapo_keeps_only_groups_whose_rewards_differ_and_clips_higher() -> None:
    rewards = torch.tensor([[1.0, 0.0], [0.5, 0.5], [1.0, 1.0], [0.0, 0.25]])
    assert method("dapo").keep(rewards).tolist() == [True, False, False, True]
    assert method("grpo").keep(rewards).tolist() == [True] * 4
    loss, _ = method("dapo").token_loss(tokens(**CLIPPED))
    assert torch.allclose(loss, torch.tensor([[-1.28, 0.8]]))  # 1.5 clipped at 1.28, not 1.2


def test_entropy_bonus_subtracts_alpha_times_entropy() -> None:
    t = tokens(**CLIPPED, entropy=[[2.0, 3.0]])
    m = method("entropy_bonus")
    loss, _ = m.token_loss(t)
    assert torch.allclose(loss, torch.tensor([[-1.2 - 0.01 * 2.0, 0.8 - 0.01 * 3.0]]))
    assert m.control() == {"alpha": 0.01} and m.needs_entropy_grad


def test_adaptive_entropy_starts_at_zero_and_steps_alpha_toward_the_target() -> None:
    m = method("adaptive_entropy")
    m.target = 1.0
    loss, _ = m.token_loss(tokens(**CLIPPED, entropy=[[2.0, 3.0]]))
    assert torch.allclose(loss, torch.tensor([[-1.2, 0.8]])) and m.control() == {"alpha": 0.0}
    m.after_step(0.5)  # under the target: alpha + delta
    assert m.control() == {"alpha": pytest.approx(1e-4)}
    loss, _ = m.token_loss(tokens(**CLIPPED, entropy=[[2.0, 3.0]]))
    assert torch.allclose(loss, torch.tensor([[-1.2 - 2e-4, 0.8 - 3e-4]]))


def test_kl_adds_beta_times_k3_to_the_start_policy() -> None:
    t = tokens(**CLIPPED, ref_logp=[[0.0, 0.0]])
    loss, stats = method("kl").token_loss(t)
    k3 = torch.tensor([[1 / 1.5 + math.log(1.5) - 1, 1 / 0.5 + math.log(0.5) - 1]])
    assert torch.allclose(loss, torch.tensor([[-1.2, 0.8]]) + 0.04 * k3)
    assert torch.allclose(stats["kl_ref"], k3) and method("kl").needs_reference


# Covariances (A - 0)(logp + 2): [[3, -3], [-4.5, 4.5]]; tokens (0, 0) and (1, 1) lie in Clip-Cov's band (1, 5),
# (1, 1) is KL-Cov's top one. old_logp = logp - 0.1 everywhere, so r = exp(0.1) and nothing is clipped.
COV = dict(logp=[[-1.0, -3.0], [-0.5, -3.5]], old_logp=[[-1.1, -3.1], [-0.6, -3.6]], adv=[[3.0, 3.0], [-3.0, -3.0]])


def test_clip_cov_drops_the_loss_of_one_token_in_the_band() -> None:
    loss, stats = method("clip_cov").token_loss(tokens(**COV))
    grpo, _ = method("grpo").token_loss(tokens(**COV))
    dropped = stats["cov_tokens"]
    assert int(dropped.sum()) == 1 and (dropped[0, 0] or dropped[1, 1])  # max(floor(2e-4 * 4), 1) tokens
    assert torch.equal(loss, grpo * ~dropped)


def test_kl_cov_penalises_the_top_covariance_token_on_an_unclipped_gradient() -> None:
    loss, stats = method("kl_cov").token_loss(tokens(**COV))
    ratio, adv = math.exp(0.1), torch.tensor(COV["adv"])
    assert stats["cov_tokens"].tolist() == [[False, False], [False, True]]
    assert torch.allclose(loss, -ratio * adv + torch.tensor([[0.0, 0.0], [0.0, 1.0 * 0.1]]), atol=1e-6)
    assert not stats["clip_low"].any() and not stats["clip_high"].any()


def test_repo_r_rescales_advantages_and_doubles_zeta_under_the_target() -> None:
    m = method("repo_r")
    m.controller.zeta, m.target = 0.125, 1.0
    # L = logp + H = -2: the rare rewarded token's A = 2 becomes 2 (1 + 0.125 * 2) = 2.5; r = 1, so the loss is -2.5.
    loss, _ = m.token_loss(tokens([[-3.0]], [[-3.0]], [[2.0]], entropy=[[1.0]]))
    assert torch.allclose(loss, torch.tensor([[-2.5]]))
    assert m.control() == {"zeta": 0.125, "zeta_at_bound": 0.0}
    m.after_step(0.5)
    assert m.control() == {"zeta": 0.2, "zeta_at_bound": 1.0}  # doubled, capped at --zeta-max 0.2
    assert m.summary([{"zeta_at_bound": 1.0}, {"zeta_at_bound": 0.0}, {"zeta_at_bound": 1.0}]) == {
        "zeta_at_bound_fraction": pytest.approx(2 / 3)}
    assert method("grpo").summary([{}]) == {}


def test_adapo_widens_eps_high_under_the_target_and_clips_with_it() -> None:
    m = method("adapo")
    m.target = 1.0
    t = tokens([[math.log(1.5)]], [[0.0]], [[1.0]])
    assert float(m.token_loss(t)[0]) == pytest.approx(-1.28)  # eps_high starts at 0.28
    m.after_step(0.5)
    assert m.control() == {"eps_high": 0.56}
    assert float(m.token_loss(t)[0]) == pytest.approx(-1.5)  # 1.5 < 1.56: no longer clipped
    m.after_step(1.5)
    assert m.control() == {"eps_high": 0.28}


def test_method_state_round_trips_through_a_checkpoint() -> None:
    m = method("repo_r")
    m.target = 1.3
    m.after_step(0.5)
    copy = method("repo_r")
    copy.load_state_dict(m.state_dict())
    assert copy.target == 1.3 and copy.controller == m.controller


def test_aggregations_and_kl_estimators_are_the_registries_config_checks() -> None:
    from rollout_common.errors import OptionError

    for name in losses.AGGREGATIONS:
        assert TrainConfig(run=RunConfig(out="x"), rl=RLConfig(aggregation=name)).resolved().rl.aggregation == name
    with pytest.raises(OptionError, match="--aggregation 'sum' is not one of token-mean, seq-mean-token-mean, constant"):
        TrainConfig(run=RunConfig(out="x"), rl=RLConfig(aggregation="sum")).resolved()
    assert list(losses.KL_ESTIMATORS) == ["k1", "k3"]
    with pytest.raises(ValueError, match="k1, k3"):
        losses.kl_estimate(torch.zeros(1), torch.zeros(1), "k2")
