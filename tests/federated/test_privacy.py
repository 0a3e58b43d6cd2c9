"""The RDP accountant of the Gaussian mechanism and the clip/noise mechanics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.federated import add_gaussian_noise, clip_update, gaussian_epsilon
from attunexr.federated._privacy import RDP_ORDERS, gaussian_rdp


def _closed_form(sigma: float, rounds: int, delta: float) -> float:
    """min over real a > 1 of rounds * a / (2 sigma^2) + log(1/delta) / (a - 1), solved analytically."""
    c, L = rounds / (2 * sigma**2), math.log(1 / delta)
    return c + 2 * math.sqrt(c * L)


@pytest.mark.parametrize(("sigma", "rounds"), [(1.0, 1), (0.5, 5), (1.0, 20), (2.0, 100)])
def test_epsilon_matches_the_analytic_optimum_over_orders(sigma: float, rounds: int) -> None:
    eps = gaussian_epsilon(sigma, rounds, 1e-5)
    exact = _closed_form(sigma, rounds, 1e-5)
    assert exact <= eps <= exact * 1.05  # the grid of orders can only be slightly worse


def test_known_value() -> None:
    # sigma = 1, one round, delta = 1e-5: min_a a/2 + ln(1e5)/(a-1) = 0.5 + sqrt(2 ln 1e5) = 5.2985...
    assert _closed_form(1.0, 1, 1e-5) == pytest.approx(5.29858, abs=1e-4)
    assert gaussian_epsilon(1.0, 1, 1e-5) == pytest.approx(5.30, abs=0.02)


def test_epsilon_is_monotone() -> None:
    by_sigma = [gaussian_epsilon(s, 10, 1e-5) for s in (0.5, 0.8, 1.0, 2.0, 4.0)]
    assert by_sigma == sorted(by_sigma, reverse=True)
    by_rounds = [gaussian_epsilon(1.0, r, 1e-5) for r in (1, 5, 20, 100)]
    assert by_rounds == sorted(by_rounds)
    by_delta = [gaussian_epsilon(1.0, 10, d) for d in (1e-3, 1e-5, 1e-7)]
    assert by_delta == sorted(by_delta)
    by_rate = [gaussian_epsilon(1.0, 10, 1e-5, sampling_rate=q) for q in (0.1, 0.5, 1.0)]
    assert by_rate == sorted(by_rate)


def test_subsampled_rdp_at_full_participation_is_the_gaussian_one() -> None:
    for a in (2, 3, 8, 32):
        expansion = gaussian_rdp(1.3, a, sampling_rate=1.0 - 1e-12)
        assert expansion == pytest.approx(a / (2 * 1.3**2), rel=1e-6)
    assert 2.0 in RDP_ORDERS and all(o > 1 for o in RDP_ORDERS)


def test_bad_privacy_parameters_are_refused() -> None:
    for args in ((0.0, 1, 1e-5), (1.0, 0, 1e-5), (1.0, 1, 0.0), (1.0, 1, 1.0)):
        with pytest.raises(ConfigurationError):
            gaussian_epsilon(*args)
    with pytest.raises(ConfigurationError, match="sampling_rate"):
        gaussian_epsilon(1.0, 1, 1e-5, sampling_rate=1.5)


def test_clipping_bounds_the_norm_and_keeps_small_updates() -> None:
    big = [np.full(4, 3.0), np.array([4.0])]
    clipped = clip_update(big, 1.0)
    assert math.sqrt(sum(float(np.sum(u**2)) for u in clipped)) == pytest.approx(1.0)
    np.testing.assert_allclose(clipped[0] / clipped[0][0], 1.0)  # direction kept
    small = [np.array([0.1, 0.0]), np.array([0.0])]
    np.testing.assert_array_equal(clip_update(small, 1.0)[0], small[0])


def test_noise_has_the_documented_spread() -> None:
    w = [np.zeros(20000), np.zeros(1)]
    noisy = add_gaussian_noise(w, noise_multiplier=1.0, clip_norm=0.5, n_sites=2, rng=np.random.default_rng(0))
    assert float(np.std(noisy[0])) == pytest.approx(0.25, rel=0.03)
