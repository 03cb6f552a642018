"""The entropy controllers over scripted entropy sequences (target H* = 1.0)."""

from __future__ import annotations

import pytest

from trainers.controllers import AlphaController, EpsHighController, ZetaController

LOW, HIGH, AT = 0.5, 1.5, 1.0


def drive(controller, entropies, attribute):
    values = []
    for h in entropies:
        controller.update(h, AT)
        values.append(getattr(controller, attribute))
    return values


def test_zeta_doubles_caps_halves_flips_and_holds() -> None:
    zeta = ZetaController(zeta=1e-3, zeta_min=1e-3, zeta_max=0.01)
    script = [LOW] * 5 + [HIGH] * 6 + [AT] + [LOW] * 3
    expected = [
        2e-3, 4e-3, 8e-3, 0.01, 0.01,  # doubling under target, then capped at zeta_max
        5e-3, 2.5e-3, 1.25e-3,  # halving over target, sign kept
        -1e-3,  # 6.25e-4 < zeta_min: flip to -zeta_min
        -2e-3, -4e-3,  # doubling in the negative direction
        -4e-3,  # exactly on target: unchanged
        -2e-3, -1e-3,  # under target again: halve down to -zeta_min (not below it yet) ...
        1e-3,  # ... then -5e-4 < zeta_min flips to +zeta_min
    ]
    assert drive(zeta, script, "zeta") == pytest.approx(expected)


def test_zeta_at_bound_is_the_cap_on_either_side() -> None:
    zeta = ZetaController(zeta=1e-3, zeta_min=1e-3, zeta_max=4e-3)
    flags = []
    for h in [LOW, LOW, LOW, HIGH]:
        zeta.update(h, AT)
        flags.append(zeta.at_bound)
    assert flags == [False, True, True, False]
    negative = ZetaController(zeta=-4e-3, zeta_min=1e-3, zeta_max=4e-3)
    negative.update(HIGH, AT)
    assert negative.zeta == pytest.approx(-4e-3) and negative.at_bound


def test_zeta_from_zero_steps_to_the_smallest_magnitude() -> None:
    up, down = ZetaController(0.0, 1e-3, 0.5), ZetaController(0.0, 1e-3, 0.5)
    up.update(LOW, AT)
    down.update(HIGH, AT)
    assert up.zeta == pytest.approx(1e-3) and down.zeta == pytest.approx(-1e-3)


def test_zeta_magnitude_stays_within_bounds_over_a_long_random_script() -> None:
    import random

    zeta = ZetaController(1e-3, 1e-3, 0.5)
    rng = random.Random(0)
    for _ in range(500):
        zeta.update(rng.choice([LOW, HIGH, AT]), AT)
        assert 1e-3 <= abs(zeta.zeta) <= 0.5


def test_zeta_state_round_trips() -> None:
    zeta = ZetaController(1e-3, 1e-3, 0.5)
    drive(zeta, [LOW] * 4, "zeta")
    copy = ZetaController()
    copy.load_state_dict(zeta.state_dict())
    assert copy == zeta


def test_alpha_steps_by_delta_and_clips() -> None:
    alpha = AlphaController(alpha=0.0, delta=1e-4, alpha_max=3e-4)
    values = drive(alpha, [LOW] * 4 + [HIGH] * 5, "alpha")
    assert values == pytest.approx([1e-4, 2e-4, 3e-4, 3e-4, 2e-4, 1e-4, 0.0, 0.0, 0.0], abs=1e-12)


def test_eps_high_doubles_under_target_and_halves_over_it() -> None:
    eps = EpsHighController(eps_high=0.28, eps_low=0.2, eps_max=0.8)
    values = drive(eps, [LOW] * 3 + [HIGH] * 3, "eps_high")
    assert values == pytest.approx([0.56, 0.8, 0.8, 0.4, 0.2, 0.2])
