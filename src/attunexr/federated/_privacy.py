"""Site-level differential privacy of the federated rounds: the Gaussian mechanism's budget and its mechanics.

Each round, every site's update is clipped to L2 norm ``C`` and the server adds Gaussian noise of standard
deviation ``noise_multiplier * C`` to the sum (``noise_multiplier * C / m`` to the mean of ``m`` sites), which is
what Flower's ``DifferentialPrivacyServerSideFixedClipping`` does. One site's whole data changes the sum by at most
``C``, so a round is the Gaussian mechanism with sensitivity ``C`` and noise ``sigma = noise_multiplier``
(McMahan et al., "Learning Differentially Private Recurrent Language Models", ICLR 2018). Caveats: the guarantee is
per *site* (a whole clinic's data), not per person; Flower averages the clipped updates weighted by each site's
number of windows, so a site's share of the mean is ``n_i / N`` rather than ``1 / m`` (for the two stress sites,
8156 and 7799 training windows, 0.511 instead of 0.5: the stated epsilon is about 2 % optimistic there).

Privacy accounting follows Rényi differential privacy (Mironov, "Rényi Differential Privacy", CSF 2017): the Gaussian
mechanism is ``(alpha, alpha / (2 sigma^2))``-RDP for every order ``alpha > 1``; RDP composes additively over rounds;
and ``(alpha, r)``-RDP implies ``(r + log(1/delta) / (alpha - 1), delta)``-DP (Mironov 2017, Proposition 3), the
best order being taken over a grid. With Poisson sampling of sites at rate ``q < 1`` the per-round RDP of the
sampled Gaussian mechanism is computed at integer orders with the binomial expansion of Mironov, Talwar and Zhang
("Rényi Differential Privacy of the Sampled Gaussian Mechanism", 2019, Section 3.3).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError

__all__ = ["RDP_ORDERS", "add_gaussian_noise", "clip_update", "gaussian_epsilon", "gaussian_rdp"]

Weights = list[NDArray[np.float64]]

#: Rényi orders searched for the best (eps, delta) conversion (fractional ones only without subsampling).
RDP_ORDERS: tuple[float, ...] = (
    1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0,
    28.0, 32.0, 48.0, 64.0, 128.0, 256.0, 512.0,
)


def _log_add(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))


def gaussian_rdp(noise_multiplier: float, order: float, sampling_rate: float = 1.0) -> float:
    """RDP at ``order`` of one round of the (Poisson-subsampled) Gaussian mechanism with this noise multiplier.

    ``sampling_rate < 1`` needs an integer order (the binomial expansion is exact there).
    """
    if not noise_multiplier > 0:
        raise ConfigurationError(f"noise_multiplier must be > 0, not {noise_multiplier}")
    if not order > 1:
        raise ConfigurationError(f"the Rényi order must be > 1, not {order}")
    q = float(sampling_rate)
    if not 0 < q <= 1:
        raise ConfigurationError(f"sampling_rate must lie in (0, 1], not {sampling_rate}")
    s2 = noise_multiplier**2
    if q == 1.0:
        return order / (2.0 * s2)
    if order != int(order):
        raise ConfigurationError(f"with sampling_rate < 1 the order must be an integer, not {order}")
    a = int(order)
    log_sum = -math.inf
    for k in range(a + 1):
        log_term = (
            math.lgamma(a + 1) - math.lgamma(k + 1) - math.lgamma(a - k + 1)
            + k * math.log(q) + (a - k) * math.log1p(-q) + (k * k - k) / (2.0 * s2)
        )
        log_sum = _log_add(log_sum, log_term)
    return log_sum / (a - 1)


def gaussian_epsilon(noise_multiplier: float, rounds: int, delta: float, sampling_rate: float = 1.0) -> float:
    """The ``epsilon`` of ``(epsilon, delta)``-DP after ``rounds`` rounds (site-level DP, see the module doc).

    ``epsilon = min over orders a of rounds * RDP(a) + log(1/delta) / (a - 1)``. ``sampling_rate = 1`` means every
    site takes part in every round; below 1, Poisson sampling of sites at that rate (integer orders only).
    """
    if rounds < 1:
        raise ConfigurationError(f"rounds must be >= 1, not {rounds}")
    if not 0 < delta < 1:
        raise ConfigurationError(f"delta must lie in (0, 1), not {delta}")
    orders = RDP_ORDERS if sampling_rate >= 1.0 else tuple(o for o in RDP_ORDERS if o == int(o))
    best = math.inf
    for a in orders:
        eps = rounds * gaussian_rdp(noise_multiplier, a, sampling_rate) + math.log(1.0 / delta) / (a - 1.0)
        best = min(best, eps)
    return best


def clip_update(update: Weights, clip_norm: float) -> Weights:
    """``update`` scaled down so that its global L2 norm (over all arrays) is at most ``clip_norm``."""
    if not clip_norm > 0:
        raise ConfigurationError(f"clip_norm must be > 0, not {clip_norm}")
    norm = math.sqrt(sum(float(np.sum(np.square(u))) for u in update))
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return [np.asarray(u * scale, dtype=np.float64) for u in update]


def add_gaussian_noise(
    weights: Weights, *, noise_multiplier: float, clip_norm: float, n_sites: int, rng: np.random.Generator
) -> Weights:
    """``weights`` plus Gaussian noise of standard deviation ``noise_multiplier * clip_norm / n_sites`` per entry
    (the noise of the summed mechanism, carried to the mean of ``n_sites`` updates)."""
    if n_sites < 1:
        raise ConfigurationError(f"n_sites must be >= 1, not {n_sites}")
    std = noise_multiplier * clip_norm / n_sites
    return [np.asarray(w + rng.normal(0.0, std, size=w.shape), dtype=np.float64) for w in weights]
