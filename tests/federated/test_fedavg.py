"""FedAvg in one process: the weighted average, closeness to the pooled model, leave-site-out, the comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.federated import Site, centralized_comparison, fedavg_aggregate, simulate_fedavg

ROUNDS, EPOCHS = 5, 5


def test_fedavg_weights_by_the_number_of_examples() -> None:
    a = [np.array([1.0, 2.0]), np.array([0.0])]
    b = [np.array([3.0, 6.0]), np.array([4.0])]
    avg = fedavg_aggregate([(a, 1), (b, 3)])
    np.testing.assert_allclose(avg[0], [2.5, 5.0])
    np.testing.assert_allclose(avg[1], [3.0])
    with pytest.raises(ConfigurationError):
        fedavg_aggregate([(a, 0)])


def test_federated_auroc_is_within_003_of_the_pooled_model_on_each_site(stress_sites: list[Site]) -> None:
    fed = simulate_fedavg(stress_sites, ROUNDS, EPOCHS, n_boot=0)
    ref = centralized_comparison(stress_sites, epochs_equiv=ROUNDS * EPOCHS, n_boot=50)
    assert fed.train_loss[-1] < fed.train_loss[0]
    for site in stress_sites:
        pooled = ref["per_site"][site.name]["pooled"]["value"]
        assert abs(fed.per_site[site.name]["auroc"] - pooled) <= 0.03, (site.name, fed.per_site, ref)
    block = ref["per_site"]["stress-predict"]
    assert set(block) == {"pooled", "local"}
    for v in (*block.values(), *ref["leave_site_out_pooled"].values()):
        assert set(v) == {"value", "ci"} and len(v["ci"]) == 2
    assert set(ref["leave_site_out_pooled"]) == {"stress-predict", "nurse-stress"}


def test_a_held_out_site_contributes_nothing_to_the_weights(stress_sites: list[Site]) -> None:
    held = simulate_fedavg(stress_sites, 3, EPOCHS, holdout="nurse-stress", n_boot=0)
    alone = simulate_fedavg(stress_sites[:1], 3, EPOCHS, n_boot=0)
    for a, b in zip(held.weights, alone.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(held.per_site) == {"stress-predict", "nurse-stress"}  # the held-out site is still evaluated


def test_fedprox_and_clipping_change_the_run_and_noise_is_seeded(stress_sites: list[Site]) -> None:
    base = simulate_fedavg(stress_sites, 2, EPOCHS, n_boot=0)
    prox = simulate_fedavg(stress_sites, 2, EPOCHS, proximal_mu=0.5, n_boot=0)
    assert not np.allclose(base.weights[0], prox.weights[0])
    dp1 = simulate_fedavg(stress_sites, 2, EPOCHS, clip_norm=0.1, noise_multiplier=1.0, seed=3, n_boot=0)
    dp2 = simulate_fedavg(stress_sites, 2, EPOCHS, clip_norm=0.1, noise_multiplier=1.0, seed=3, n_boot=0)
    dp3 = simulate_fedavg(stress_sites, 2, EPOCHS, clip_norm=0.1, noise_multiplier=1.0, seed=4, n_boot=0)
    np.testing.assert_array_equal(dp1.weights[0], dp2.weights[0])
    assert not np.allclose(dp1.weights[0], dp3.weights[0])
    with pytest.raises(ConfigurationError, match="holdout"):
        simulate_fedavg(stress_sites, 1, holdout="elsewhere")
