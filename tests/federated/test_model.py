"""The local learner: loss goes down, FedProx stays near the global weights, evaluation reports numbers only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.federated import Site, initial_weights
from attunexr.federated._model import logistic_loss, train_logistic


def test_fit_reduces_the_training_loss_and_is_deterministic(stress_sites: list[Site]) -> None:
    site = stress_sites[0]
    w0 = initial_weights(len(site.feature_names))
    w1, n, info = site.fit(w0, epochs=5)
    assert n == site.n_train
    assert info["train_loss"] < info["train_loss_start"] == pytest.approx(math.log(2))
    w2, _, info2 = site.fit(w1, epochs=5)
    assert info2["train_loss"] < info["train_loss"]
    again, _, _ = site.fit(w0, epochs=5)
    for a, b in zip(w1, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [w.shape for w in w1] == [(len(site.feature_names),), (1,)]
    assert all(w.dtype == np.float64 for w in w1)


def test_fedprox_keeps_the_weights_closer_to_the_global_ones(stress_sites: list[Site]) -> None:
    site = stress_sites[1]
    glob, _, _ = stress_sites[0].fit(initial_weights(len(site.feature_names)), epochs=10)

    def dist(w: list[np.ndarray]) -> float:
        return float(np.sqrt(sum(np.sum((a - g) ** 2) for a, g in zip(w, glob, strict=True))))

    plain, _, _ = site.fit(glob, epochs=20, proximal_mu=0.0)
    prox, _, _ = site.fit(glob, epochs=20, proximal_mu=1.0)
    assert dist(prox) < 0.8 * dist(plain)


def test_balanced_weights_do_not_follow_the_base_rate() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    y = (rng.random(400) < 0.9).astype(float)  # 90 % positive, no signal
    w, _ = train_logistic(X, y, initial_weights(2), epochs=300, lr=0.5)
    assert abs(float(w[1][0])) < 0.3  # an unweighted fit would move the intercept towards log(9) = 2.2
    w_unbal, _ = train_logistic(X, y, initial_weights(2), epochs=300, lr=0.5, sample_weight=np.ones(400))
    assert float(w_unbal[1][0]) > 1.5
    assert logistic_loss(w_unbal, X, y) < logistic_loss(w, X, y)


def test_wrong_weights_are_refused(stress_sites: list[Site]) -> None:
    with pytest.raises(ConfigurationError, match="coefficients"):
        stress_sites[0].fit(initial_weights(3))
    with pytest.raises(ConfigurationError, match="NaN"):
        stress_sites[0].fit([np.full(len(stress_sites[0].feature_names), np.nan), np.zeros(1)])


def test_evaluate_returns_aggregate_numbers_only(stress_sites: list[Site]) -> None:
    site = stress_sites[0]
    w, _, _ = site.fit(initial_weights(len(site.feature_names)), epochs=5)
    ev = site.evaluate(w, n_boot=100)
    assert set(ev) == {"auroc", "auroc_ci_low", "auroc_ci_high", "n_subjects", "n_windows", "loss"}
    assert all(type(v) is float for v in ev.values())
    assert ev["n_subjects"] == site.n_test_subjects and ev["n_windows"] == site.n_test
    assert 0.5 < ev["auroc"] < 1.0
    assert ev["auroc_ci_low"] <= ev["auroc"] <= ev["auroc_ci_high"]
    assert site.evaluate(w, part="train", n_boot=0)["n_subjects"] == site.n_train_subjects
    assert math.isnan(site.evaluate(w, n_boot=0)["auroc_ci_low"])


def test_the_site_auroc_and_bootstrap_are_the_projects(stress_sites: list[Site]) -> None:
    """Sites compute AUROC and its subject bootstrap without importing attunexr.models (seconds per Flower
    message); the numbers must be the project's helpers' to the last digit."""
    from attunexr.federated._evaluate import auroc as site_auroc
    from attunexr.federated._evaluate import subject_bootstrap_auroc
    from attunexr.federated._model import predict_logit
    from attunexr.models import auroc, bootstrap_ci

    site = stress_sites[1]
    w, _, _ = site.fit(initial_weights(len(site.feature_names)), epochs=3)
    X, y, g = site.arrays("test")
    t = (y == 1).astype(int)
    z = predict_logit(w, X)
    assert site_auroc(t, z) == auroc(t, z)
    ref = bootstrap_ci(t, z, t, g.astype(object), n_boot=60, random_state=4,
                       metric_fn=lambda a, b, c: {"auroc": auroc(a, b)})["auroc"]
    assert list(subject_bootstrap_auroc(t, z, g, 60, seed=4)) == ref["ci"]
    ties = np.array([0.1, 0.1, 0.2, 0.2, 0.3])
    assert site_auroc(np.array([0, 1, 0, 1, 1]), ties) == auroc(np.array([0, 1, 0, 1, 1]), ties)
