"""Typed run configuration: one dataclass per concern, a help text per field,
validated once (:meth:`TrainConfig.resolved`) and written to ``RUN/config.json``.

This module imports no torch, so the command line can build its parser from it
cheaply; every field ``some_name`` is the option ``--some-name``. The
registries a config is checked against live beside what they list: tasks in
``trainers/tasks.py``, methods (with the defaults each sets) in
``trainers/methods.py``, aggregations and KL estimators in
``trainers/losses.py``; the last two need torch, so they are imported when a
config is resolved, not before.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from rollout_common.errors import OptionError
from trainers.tasks import TASKS, DemoNoise

DTYPES = ("float32", "bfloat16")


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class RunConfig:
    """What to train, where to write it, and where it starts from."""

    out: str = _opt("", "run directory to create (or to continue with --resume)")
    task: str = _opt("A", "task to train on (listed below)")
    method: str = _opt("grpo", "entropy-control method (listed below, with the defaults each sets)")
    steps: int = _opt(150, "optimizer steps in this run; the global step continues from --init-from's")
    seed: int = _opt(0, "seed for initialisation, prompt choice and sampling")
    train_prompts: int | None = _opt(None, "train on only this many of the task's train prompts, taking each "
                                           "category or letter in turn (a small data set); default all")
    grader_noise: float = _opt(0.0, "chance that the training grader misjudges each check (a flip); "
                                    "evaluation always uses the true grader")
    init_from: str | None = _opt(None, "run directory whose final checkpoint this run starts from "
                                       "(a warm-up base or an earlier phase)")
    lineage: str | None = _opt(None, "lineage name in the logs (default: the parent's with --init-from of a trained run, "
                                     "else the --out folder's name)")
    phase: str | None = _opt(None, "phase label in the logs (default: the parent's phase + 1 with --init-from, else 1)")
    eval_every: int = _opt(25, "evaluate every task's eval prompts every this many steps (and at the start and end)")
    eval_groups: int = _opt(4, "groups sampled per eval prompt at each evaluation (more groups, less noise)")
    save_every: int = _opt(25, "write a checkpoint and flush the logs every this many steps (and at the end)")
    device: str = _opt("auto", "cpu, cuda, cuda:N, or auto (CUDA when present)")


@dataclass(frozen=True)
class PolicyConfig:
    """The policy network. Unset fields come from the --init-from checkpoint, else the defaults named."""

    model: str | None = _opt(None, "'tiny' (the built-in word-level GPT; default) or a local Hugging Face causal LM "
                                   "directory")
    n_layer: int | None = _opt(None, "tiny GPT: transformer blocks (default 2)")
    n_head: int | None = _opt(None, "tiny GPT: attention heads (default 4)")
    n_embd: int | None = _opt(None, "tiny GPT: width (default 128)")
    dtype: str | None = _opt(None, "parameters' dtype: float32 (default) or bfloat16; logits are float32 always")


POLICY_DEFAULTS = {"model": "tiny", "n_layer": 2, "n_head": 4, "n_embd": 128, "dtype": "float32"}


@dataclass(frozen=True)
class RLConfig:
    """Sampling and the policy-gradient update shared by every method."""

    prompts_per_step: int = _opt(32, "prompts sampled per step (each gets a group of --group-size responses)")
    group_size: int = _opt(8, "responses per prompt, G")
    max_new_tokens: int = _opt(12, "longest response, in tokens")
    temperature: float = _opt(1.0, "sampling temperature; log-probabilities and entropy use the same one")
    lr: float = _opt(3e-4, "Adam learning rate")
    minibatches: int = _opt(2, "optimizer updates per step, each on one slice of the step's groups "
                               "(later ones are off-policy, so clipping acts)")
    grad_clip: float = _opt(1.0, "gradient-norm clip (0 disables)")
    aggregation: str | None = _opt(None, "how the per-token loss becomes one number (listed below; default: the method's, "
                                         "else token-mean)")
    eps_low: float = _opt(0.2, "lower clip range, ratio >= 1 - eps_low")
    eps_high: float | None = _opt(None, "upper clip range, ratio <= 1 + eps_high (default: the method's, else eps_low)")
    entropy_chunk: int = _opt(4096, "rows of logits per chunk when computing entropy (memory stays flat)")


@dataclass(frozen=True)
class ControlConfig:
    """Each method's own knobs (SPEC.md §3); a method ignores the others'."""

    target_entropy: str = _opt("init", "entropy target H* of the methods that have one (marked below): 'init' (the "
                                       "policy's token-mean entropy on its first batch, before any update), 'parent' "
                                       "(the --init-from run's target), or a number in (0, log vocab)")
    zeta_init: float = _opt(1e-3, "repo_r: starting zeta")
    zeta_min: float = _opt(1e-3, "repo_r: smallest |zeta| once the controller has moved it (the paper: 1e-4)")
    zeta_max: float = _opt(0.2, "repo_r: largest |zeta|; the paper's 0.05 is too weak here "
                                "(benchmarks/zeta_bounds.py; README, Trainer)")
    alpha: float = _opt(0.01, "entropy_bonus: fixed coefficient of the entropy bonus")
    alpha_delta: float = _opt(1e-4, "adaptive_entropy: step of alpha per optimizer step (Skywork-OR1)")
    alpha_max: float = _opt(0.005, "adaptive_entropy: largest alpha (Skywork-OR1)")
    kl_coef: float = _opt(0.04, "kl: coefficient beta of the KL to the start policy")
    kl_estimator: str = _opt("k3", "kl: estimator of the KL to the start policy (listed below)")
    cov_ratio: float = _opt(2e-4, "clip_cov / kl_cov: fraction of valid tokens selected (at least one)")
    clip_cov_lower: float = _opt(1.0, "clip_cov: lower bound of the covariance band")
    clip_cov_upper: float = _opt(5.0, "clip_cov: upper bound of the covariance band")
    kl_cov_coef: float = _opt(1.0, "kl_cov: coefficient lambda of |logp - old logp|")
    eps_max: float = _opt(0.8, "adapo: largest eps_high")
    max_gen_batches: int = _opt(3, "dapo: generation rounds per step to refill groups whose rewards were all equal")


SECTIONS = {"run": RunConfig, "policy": PolicyConfig, "rl": RLConfig, "control": ControlConfig}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; ``config.json`` holds its resolved form."""

    run: RunConfig = field(default_factory=RunConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    control: ControlConfig = field(default_factory=ControlConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, Any]]) -> "TrainConfig":
        parts = {}
        for name, section in SECTIONS.items():
            known = {f.name for f in fields(section)}
            values = data.get(name, {})
            unknown = set(values) - known
            if unknown:
                raise OptionError(f"config section '{name}' has unknown fields {sorted(unknown)}; "
                                  "was it written by another version?")
            parts[name] = section(**values)
        return cls(**parts)

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from option names (``steps``, ``zeta_max``, ...); None keeps a field's default."""
        return cls(**sections_from_flat(SECTIONS, values))

    def resolved(self) -> "TrainConfig":
        """Fill method-dependent defaults and check every value; raises OptionError naming the option."""
        from trainers.methods import METHODS

        run, rl, control = self.run, self.rl, self.control
        if run.method not in METHODS:
            raise OptionError(f"--method {run.method!r} is not a method; choose one of {', '.join(METHODS)}")
        rl = replace(rl, **{k: v for k, v in METHODS[run.method].rl_defaults.items() if getattr(rl, k) is None})
        rl = replace(rl, aggregation=rl.aggregation or "token-mean", eps_high=rl.eps_low if rl.eps_high is None else rl.eps_high)
        _check_run(run)
        _check_rl(rl)
        _check_control(control)
        return replace(self, rl=rl)


@dataclass(frozen=True)
class WarmupRunConfig:
    """The supervised warm-up that produces the shared base policy."""

    out: str = _opt("", "run directory for the base policy, e.g. runs/base")
    steps: int = _opt(1500, "supervised steps on fresh noisy demonstrations of both tasks' train prompts")
    batch_size: int = _opt(64, "demonstrations per step")
    lr: float = _opt(3e-3, "AdamW learning rate, decayed along a cosine to a tenth")
    seed: int = _opt(0, "seed for initialisation and demonstrations")
    eval_groups: int = _opt(4, "groups sampled per eval prompt when measuring the base")
    device: str = _opt("auto", "cpu, cuda, cuda:N, or auto (CUDA when present)")


WARMUP_SECTIONS = {"warmup": WarmupRunConfig, "policy": PolicyConfig, "noise": DemoNoise}


@dataclass(frozen=True)
class WarmupConfig:
    """Everything the warm-up needs; its run directory's config.json holds it."""

    warmup: WarmupRunConfig = field(default_factory=WarmupRunConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    noise: DemoNoise = field(default_factory=DemoNoise)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> "WarmupConfig":
        return cls(**sections_from_flat(WARMUP_SECTIONS, values))

    def resolved(self) -> "WarmupConfig":
        w, noise = self.warmup, self.noise
        if not w.out:
            raise OptionError("--out is required: the directory for the base policy, e.g. --out runs/base")
        for name in ("steps", "batch_size", "eval_groups"):
            _positive(name, getattr(w, name), integer=True)
        _positive("lr", w.lr)
        for name in ("slot_error", "length_error", "rare_hint"):
            if not 0 <= getattr(noise, name) <= 1:
                raise OptionError(f"--{name.replace('_', '-')} must lie in [0, 1], got {getattr(noise, name)}")
        if noise.zipf < 0:
            raise OptionError(f"--zipf must be >= 0, got {noise.zipf}")
        policy = resolve_policy(self.policy, None, None)
        if policy.model != "tiny":
            raise OptionError(f"--model {policy.model}: the warm-up trains the built-in tiny GPT only; "
                              "a Hugging Face model is already pretrained, pass it to train --model")
        return replace(self, policy=policy)


def sections_from_flat(sections: dict[str, type], values: dict[str, Any]) -> dict[str, Any]:
    """Each section dataclass built from the flat option values it names; None keeps a default."""
    return {name: section(**{f.name: values[f.name] for f in fields(section) if values.get(f.name) is not None})
            for name, section in sections.items()}


def _positive(name: str, value: float, integer: bool = False) -> None:
    if not value > 0 or (integer and int(value) != value):
        kind = "a positive integer" if integer else "positive"
        raise OptionError(f"--{name.replace('_', '-')} must be {kind}, got {value!r}")


def _choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise OptionError(f"--{name.replace('_', '-')} {value!r} is not one of {', '.join(choices)}")


def _check_run(run: RunConfig) -> None:
    if not run.out:
        raise OptionError("--out is required: the run directory to write, e.g. --out runs/grpo_p1")
    if run.task not in TASKS:
        raise OptionError(f"--task {run.task!r} is not a task; choose one of {', '.join(TASKS)}")
    for name in ("steps", "eval_every", "eval_groups", "save_every"):
        _positive(name, getattr(run, name), integer=True)
    if run.phase is not None and not run.phase.strip():
        raise OptionError("--phase must not be empty")
    available = len(TASKS[run.task].prompts("train"))
    if run.train_prompts is not None and not 0 < run.train_prompts <= available:
        raise OptionError(f"--train-prompts {run.train_prompts}: task {run.task} has {available} train prompts; "
                          f"use 1 to {available}")
    if not 0 <= run.grader_noise < 0.5:
        raise OptionError(f"--grader-noise {run.grader_noise} must lie in [0, 0.5): the chance of a flip")


def _check_rl(rl: RLConfig) -> None:
    from trainers.losses import AGGREGATIONS

    for name in ("prompts_per_step", "group_size", "max_new_tokens", "minibatches", "entropy_chunk"):
        _positive(name, getattr(rl, name), integer=True)
    for name in ("temperature", "lr", "eps_low", "eps_high"):
        _positive(name, getattr(rl, name))
    if rl.grad_clip < 0:
        raise OptionError(f"--grad-clip must be >= 0 (0 disables), got {rl.grad_clip}")
    if rl.minibatches > rl.prompts_per_step:
        raise OptionError(f"--minibatches {rl.minibatches} exceeds --prompts-per-step {rl.prompts_per_step}; "
                          "each minibatch needs a group")
    _choice("aggregation", rl.aggregation, AGGREGATIONS)


def _check_control(c: ControlConfig) -> None:
    from trainers.losses import KL_ESTIMATORS

    target_number(c.target_entropy, vocab_size=None)
    if not 0 < c.zeta_min <= c.zeta_max:
        raise OptionError(f"--zeta-min {c.zeta_min} and --zeta-max {c.zeta_max} must satisfy 0 < zeta-min <= zeta-max")
    if not c.zeta_min <= abs(c.zeta_init) <= c.zeta_max and c.zeta_init != 0:
        raise OptionError(f"--zeta-init {c.zeta_init} must be 0 or have |zeta| in [--zeta-min, --zeta-max]")
    for name in ("alpha_delta", "alpha_max", "cov_ratio", "eps_max", "max_gen_batches"):
        _positive(name, getattr(c, name), integer=name == "max_gen_batches")
    for name in ("alpha", "kl_coef", "kl_cov_coef"):
        if getattr(c, name) < 0:
            raise OptionError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(c, name)}")
    if c.clip_cov_lower >= c.clip_cov_upper:
        raise OptionError(f"--clip-cov-lower {c.clip_cov_lower} must be below --clip-cov-upper {c.clip_cov_upper}")
    _choice("kl_estimator", c.kl_estimator, KL_ESTIMATORS)


def target_number(target: str, vocab_size: int | None) -> float | None:
    """The numeric entropy target, or None for 'init' / 'parent'; checks 0 < H* < log(vocab)."""
    if target in ("init", "parent"):
        return None
    try:
        value = float(target)
    except ValueError:
        raise OptionError(f"--target-entropy {target!r} is neither 'init', 'parent' nor a number of nats") from None
    upper = math.log(vocab_size) if vocab_size else math.inf
    if not 0 < value < upper:
        bound = f"log(vocab) = {upper:.3f}" if vocab_size else "infinity"
        raise OptionError(f"--target-entropy {value} must lie in (0, {bound}) nats; "
                          "the uniform policy's entropy is the ceiling")
    return value


def resolve_policy(policy: PolicyConfig, parent: dict[str, Any] | None, parent_path: str | None) -> PolicyConfig:
    """Unset fields from the parent checkpoint (else the defaults); a set field must agree with the parent."""
    values = {}
    for f in fields(PolicyConfig):
        given = getattr(policy, f.name)
        if parent is not None and given is not None and given != parent[f.name]:
            raise OptionError(
                f"--{f.name.replace('_', '-')} {given} is incompatible with --init-from {parent_path}, "
                f"whose checkpoint has {f.name} = {parent[f.name]}; drop --{f.name.replace('_', '-')}"
            )
        values[f.name] = given if given is not None else (parent or POLICY_DEFAULTS)[f.name]
    if values["dtype"] not in DTYPES:
        raise OptionError(f"--dtype {values['dtype']!r} is not one of {', '.join(DTYPES)}")
    for name in ("n_layer", "n_head", "n_embd"):
        _positive(name, values[name], integer=True)
    if values["n_embd"] % values["n_head"]:
        raise OptionError(f"--n-embd {values['n_embd']} must be a multiple of --n-head {values['n_head']}")
    return PolicyConfig(**values)
