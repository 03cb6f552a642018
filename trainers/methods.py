"""The entropy-control family as small differences on one GRPO method (SPEC.md §3).

Each class overrides one hook of :class:`GRPO`:

- ``advantages(rewards)``      group advantages, (P, G) -> (P, G)
- ``keep(rewards)``            which groups train, (P, G) -> (P,) bool
- ``token_loss(tokens)``       per-token loss (N, R) and per-token statistics to log
- ``after_step(entropy)``      a controller's update, once per step after the update
- ``control()``                the method's control variables, for the logs
- ``summary(rows)``            what ``summary.json`` says of the method, from its metrics rows

and says what it is: ``name`` (the ``--method`` value), ``description`` (for
``--help``), ``rl_defaults`` (the RLConfig defaults it changes), and what it
logs, ``statistics`` and ``controls``. :data:`METHODS` is the registry;
adding a method is one class here and one entry there.
``make_method(config)`` builds the method ``--method`` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from trainers import losses
from trainers.controllers import AlphaController, Controller, EpsHighController, ZetaController

if TYPE_CHECKING:
    from trainers.config import TrainConfig

# How a step reduces a per-token statistic: its mean over valid tokens (averaged over the step's
# minibatches), or the number of valid tokens where it holds (summed over the step).
MEAN, COUNT = "mean", "count"


@dataclass
class Tokens:
    """One minibatch's per-token tensors, all (N, R)."""

    logp: torch.Tensor  # log pi_theta(o_t), with gradient
    old_logp: torch.Tensor  # log pi_old(o_t), the sampling policy
    entropy: torch.Tensor  # H_t of pi_theta (with gradient only when the method needs it)
    adv: torch.Tensor  # the response's advantage, broadcast over its tokens
    mask: torch.Tensor  # 1.0 on response tokens
    ref_logp: torch.Tensor | None = None  # log pi_start(o_t), for the KL method


class GRPO:
    """GRPO: group-normalised advantage and the clipped surrogate (TRL ``GRPOTrainer``; verl ``core_algos``)."""

    name = "grpo"
    description = "group-normalised advantage, clipped surrogate"
    rl_defaults: dict[str, Any] = {}  # RLConfig fields this method sets unless given (else token-mean, eps_low)
    statistics: dict[str, str] = {"clip_low": MEAN, "clip_high": MEAN}  # token_loss's, with their reduction
    controls: tuple[str, ...] = ()  # control()'s
    scale_advantages = True
    needs_reference = False
    needs_entropy_grad = False
    uses_target = False

    def __init__(self, config: TrainConfig, generator: torch.Generator | None = None):
        self.config = config
        self.eps_low = config.rl.eps_low
        self.eps_high = config.rl.eps_high
        self.generator = generator
        self.controller: Controller | None = None
        self.target: float | None = None  # H*, set by the loop: a number, the parent's, or H_init

    def advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        return losses.group_advantages(rewards, scale=self.scale_advantages)

    def keep(self, rewards: torch.Tensor) -> torch.Tensor:
        return torch.ones(rewards.shape[0], dtype=torch.bool, device=rewards.device)

    def token_loss(self, t: Tokens) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, low, high = losses.clipped_surrogate(t.logp, t.old_logp, t.adv, self.eps_low, self.eps_high)
        return loss, {"clip_low": low, "clip_high": high}

    def after_step(self, entropy: float) -> None:
        if self.controller is not None:
            self.controller.update(entropy, self.target)

    def control(self) -> dict[str, float]:
        return {}

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, float | None]:
        return {}

    def state_dict(self) -> dict:
        return {"target": self.target, "controller": self.controller.state_dict() if self.controller else None}

    def load_state_dict(self, state: dict) -> None:
        self.target = state["target"]
        if self.controller is not None:
            self.controller.load_state_dict(state["controller"])


class DrGRPO(GRPO):
    """Dr. GRPO (Liu et al. 2025): advantages without the std division; constant aggregation by default."""

    name = "dr_grpo"
    description = "Dr. GRPO: advantages without the std division"
    rl_defaults = {"aggregation": "constant"}
    scale_advantages = False


class DAPO(GRPO):
    """DAPO (verl ``docs/algo/dapo.md``): clip-higher via eps_high = 0.28, and dynamic sampling,
    which drops groups whose rewards are all equal (they carry no gradient) and refills the batch."""

    name = "dapo"
    description = "DAPO: clip-higher, and dynamic sampling (up to --max-gen-batches draws)"
    rl_defaults = {"eps_high": 0.28}

    def keep(self, rewards: torch.Tensor) -> torch.Tensor:
        return rewards.max(dim=1).values > rewards.min(dim=1).values


class EntropyBonus(GRPO):
    """loss -= alpha * H_t, aggregated like the policy loss (a fixed alpha)."""

    name = "entropy_bonus"
    description = "loss -= alpha * entropy, fixed alpha"
    controls = ("alpha",)
    needs_entropy_grad = True

    def __init__(self, config: TrainConfig, generator=None):
        super().__init__(config, generator)
        self.alpha = config.control.alpha

    def token_loss(self, t: Tokens):
        loss, stats = super().token_loss(t)
        return loss - self.current_alpha() * t.entropy, stats

    def current_alpha(self) -> float:
        return self.alpha

    def control(self) -> dict[str, float]:
        return {"alpha": self.current_alpha()}


class AdaptiveEntropy(EntropyBonus):
    """Skywork-OR1's adaptive entropy coefficient: alpha steps by delta toward the entropy target."""

    name = "adaptive_entropy"
    description = "Skywork-OR1: alpha moves by delta toward the entropy target"
    uses_target = True

    def __init__(self, config: TrainConfig, generator=None):
        super().__init__(config, generator)
        c = config.control
        self.controller = AlphaController(alpha=0.0, delta=c.alpha_delta, alpha_max=c.alpha_max)

    def current_alpha(self) -> float:
        return self.controller.alpha


class KL(GRPO):
    """loss += beta * KL(pi || pi_start) per token, k1 or k3 (verl ``kl_penalty``; TRL ``beta``)."""

    name = "kl"
    description = "beta * KL(pi || start policy), k1 or k3"
    statistics = {**GRPO.statistics, "kl_ref": MEAN}
    needs_reference = True

    def token_loss(self, t: Tokens):
        loss, stats = super().token_loss(t)
        kl = losses.kl_estimate(t.logp, t.ref_logp, self.config.control.kl_estimator)
        return loss + self.config.control.kl_coef * kl, {**stats, "kl_ref": kl.detach()}


class ClipCov(GRPO):
    """Clip-Cov (Cui et al. 2025, arXiv 2505.22617): zero the loss of a few random tokens
    whose advantage-logp covariance lies in (lower, upper)."""

    name = "clip_cov"
    description = "Clip-Cov: drop the gradient of a few high-covariance tokens"
    statistics = {**GRPO.statistics, "cov_tokens": COUNT}

    def token_loss(self, t: Tokens):
        loss, stats = super().token_loss(t)
        c = self.config.control
        cov = losses.token_covariance(t.adv, t.logp, t.mask)
        selected = losses.clip_cov_select(cov, t.mask, c.clip_cov_lower, c.clip_cov_upper, c.cov_ratio, self.generator)
        return loss * (~selected), {**stats, "cov_tokens": selected}


class KLCov(GRPO):
    """KL-Cov (same paper): unclipped policy gradient, plus lambda * |logp - old logp| on the
    top-covariance tokens."""

    name = "kl_cov"
    description = "KL-Cov: |logp - old logp| penalty on the top-covariance tokens"
    statistics = {**GRPO.statistics, "cov_tokens": COUNT}

    def token_loss(self, t: Tokens):
        c = self.config.control
        ratio = torch.exp(t.logp - t.old_logp)
        selected = losses.kl_cov_select(losses.token_covariance(t.adv, t.logp, t.mask), t.mask, c.cov_ratio)
        penalty = c.kl_cov_coef * (t.logp - t.old_logp).abs() * selected
        none = torch.zeros_like(selected)
        return -ratio * t.adv + penalty, {"clip_low": none, "clip_high": none, "cov_tokens": selected}


class RepoR(GRPO):
    """REPO-R (arXiv 2603.11682): rescale advantages by the centred log-probability with a
    zeta that a doubling/halving controller steers toward the entropy target."""

    name = "repo_r"
    description = "REPO-R: centred log-prob advantage rescaling, zeta controller"
    controls = ("zeta", "zeta_at_bound")
    uses_target = True

    def __init__(self, config: TrainConfig, generator=None):
        super().__init__(config, generator)
        c = config.control
        self.controller = ZetaController(zeta=c.zeta_init, zeta_min=c.zeta_min, zeta_max=c.zeta_max)

    def token_loss(self, t: Tokens):
        adv = losses.repo_r_rescale(t.adv, t.logp, t.entropy, self.controller.zeta)
        return super().token_loss(Tokens(t.logp, t.old_logp, t.entropy, adv, t.mask, t.ref_logp))

    def control(self) -> dict[str, float]:
        return {"zeta": self.controller.zeta, "zeta_at_bound": float(self.controller.at_bound)}

    def summary(self, rows):
        bound = [r["zeta_at_bound"] for r in rows]
        return {"zeta_at_bound_fraction": sum(bound) / len(bound) if bound else None}


class ADAPO(GRPO):
    """ADAPO-style adaptive clip-higher [ours]: eps_high doubles while entropy is under target,
    halves (not below eps_low) while over it."""

    name = "adapo"
    description = "ADAPO-style [ours]: eps_high doubles/halves toward the entropy target"
    rl_defaults = {"eps_high": 0.28}
    controls = ("eps_high",)
    uses_target = True

    def __init__(self, config: TrainConfig, generator=None):
        super().__init__(config, generator)
        c = config.control
        self.controller = EpsHighController(eps_high=self.eps_high, eps_low=self.eps_low, eps_max=c.eps_max)

    def token_loss(self, t: Tokens):
        self.eps_high = self.controller.eps_high
        return super().token_loss(t)

    def control(self) -> dict[str, float]:
        return {"eps_high": self.controller.eps_high}


METHODS: dict[str, type[GRPO]] = {
    method.name: method for method in (GRPO, DrGRPO, DAPO, EntropyBonus, AdaptiveEntropy, KL, ClipCov, KLCov, RepoR, ADAPO)
}


def make_method(config: TrainConfig, generator: torch.Generator | None = None) -> GRPO:
    return METHODS[config.run.method](config, generator)
