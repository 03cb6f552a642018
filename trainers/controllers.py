"""Entropy controllers: each step, move one knob from the step's token-mean entropy H
against a target H* (SPEC.md §3). Plain floats, so checkpoints stay simple.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Controller:
    """Base: ``update(entropy, target)`` once per step, after the policy update."""

    def update(self, entropy: float, target: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, float]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, float]) -> None:
        for name, value in state.items():
            setattr(self, name, value)


@dataclass
class ZetaController(Controller):
    """REPO-R's zeta (arXiv 2603.11682; SkyRL PR #1896 ``repo_r_update_zeta``).

    While H < H*: zeta > 0 doubles up to zeta_max; zeta = 0 becomes zeta_min;
    zeta < 0 halves, flipping to +zeta_min once |zeta| < zeta_min. While
    H > H*: the mirror image. H = H* leaves zeta alone. So |zeta| stays in
    [zeta_min, zeta_max] once it has moved, and its sign follows the side of
    the target the entropy is on, after a few halvings.
    """

    zeta: float = 1e-3
    zeta_min: float = 1e-3
    zeta_max: float = 0.2

    def update(self, entropy: float, target: float) -> None:
        if entropy < target:
            self.zeta = self._toward(+1.0)
        elif entropy > target:
            self.zeta = self._toward(-1.0)

    def _toward(self, sign: float) -> float:
        """Grow zeta if it already has ``sign``, else shrink it and flip once it is tiny."""
        z = sign * self.zeta  # in the frame where the wanted direction is positive
        if z > 0:
            z = min(self.zeta_max, 2.0 * z)
        elif z == 0:
            z = self.zeta_min
        else:
            z = z / 2.0
            if abs(z) < self.zeta_min:
                z = self.zeta_min
        return sign * z

    @property
    def at_bound(self) -> bool:
        """True while |zeta| sits at its cap zeta_max (the controller can push no harder)."""
        return abs(self.zeta) >= self.zeta_max


@dataclass
class AlphaController(Controller):
    """Skywork-OR1's adaptive entropy coefficient (``EntController``).

    alpha <- clip(alpha + delta, alpha_min, alpha_max) while H < H*, else
    clip(alpha - delta, ...). Defaults alpha0 = 0, delta = 1e-4, alpha_max = 0.005.
    """

    alpha: float = 0.0
    delta: float = 1e-4
    alpha_min: float = 0.0
    alpha_max: float = 0.005

    def update(self, entropy: float, target: float) -> None:
        step = self.delta if entropy < target else -self.delta
        self.alpha = min(self.alpha_max, max(self.alpha_min, self.alpha + step))


@dataclass
class EpsHighController(Controller):
    """ADAPO-style adaptive clip-higher **[ours]**: the paper's exact rule is not public.

    eps_high <- min(2 eps_high, eps_max) while H < H*, else max(eps_high / 2, eps_low):
    a wider upper clip lets low-probability rewarded tokens grow (DAPO's reason
    for clip-higher), so entropy rises while it is under target.
    """

    eps_high: float = 0.28
    eps_low: float = 0.2
    eps_max: float = 0.8

    def update(self, entropy: float, target: float) -> None:
        if entropy < target:
            self.eps_high = min(2.0 * self.eps_high, self.eps_max)
        else:
            self.eps_high = max(self.eps_high / 2.0, self.eps_low)
