"""Evaluation of federated weights on a site, the centralized comparisons, and FedAvg simulated in one process.

Every figure is computed on a site's held-out people (its ``test`` part), with a subject-level bootstrap CI (whole
people resampled with replacement, drawn as :func:`attunexr.models.bootstrap_ci` draws them). What a site reports is aggregate
only: AUROC, its CI, the numbers of people and windows, the mean log-loss.

:func:`centralized_comparison` gives the references the issue asks for on the same people: the *pooled* model (the
same logistic learner on the union of every site's training part, each site standardized with its own statistics as
in federation), each site's *local* model, and *leave-site-out pooled* (trained on the other sites' training parts,
tested on the held-out site's test part). :func:`simulate_fedavg` runs FedAvg (McMahan et al., AISTATS 2017), FedProx
via ``proximal_mu``, and optionally Flower-style server-side fixed clipping with Gaussian noise, all in process: the
reference numbers for the Flower deployment and for the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError
from attunexr.federated._model import DEFAULT_L2, class_weights, train_logistic
from attunexr.federated._scores import auroc, evaluate_arrays, subject_bootstrap_auroc
from attunexr.federated._site import Site

__all__ = [
    "FedAvgResult",
    "auroc",
    "centralized_comparison",
    "evaluate_arrays",
    "fedavg_aggregate",
    "simulate_fedavg",
    "subject_bootstrap_auroc",
    "train_pooled",
]

Weights = list[NDArray[np.float64]]


def _value_ci(ev: dict[str, float]) -> dict[str, Any]:
    def num(v: float) -> float | None:
        return None if math.isnan(v) else round(v, 4)

    return {"value": num(ev["auroc"]), "ci": [num(ev["auroc_ci_low"]), num(ev["auroc_ci_high"])]}


def _initial(n: int) -> Weights:
    return [np.zeros(n, dtype=np.float64), np.zeros(1, dtype=np.float64)]


def train_pooled(
    sites: list[Site], *, epochs: int, lr: float = 0.1, l2: float = DEFAULT_L2
) -> Weights:
    """The centralized reference: the same learner on the union of the sites' (locally standardized) training
    parts, ``epochs`` full-batch steps from zero, class-balanced over the union."""
    if not sites:
        raise ConfigurationError("pooled training needs at least one site")
    parts = [s.arrays("train") for s in sites]
    X = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w, _ = train_logistic(X, y, _initial(X.shape[1]), epochs=epochs, lr=lr, l2=l2, sample_weight=class_weights(y))
    return w


def centralized_comparison(
    sites: list[Site], *, epochs_equiv: int, seed: int = 0, lr: float = 0.1, n_boot: int = 500
) -> dict[str, Any]:
    """Pooled, local and leave-site-out pooled references, each on every site's held-out people.

    ``epochs_equiv`` = rounds x local epochs of the federated run, so every model takes as many gradient steps.
    ``seed`` seeds the subject bootstrap. Returns ``{"per_site": {site: {"pooled": {"value", "ci"}, "local":
    {"value", "ci"}}},
    "leave_site_out_pooled": {site: {"value", "ci"}}, "epochs_equiv": ..., "lr": ...}``.
    """
    if len({s.name for s in sites}) != len(sites):
        raise ConfigurationError(f"site names must differ, got {[s.name for s in sites]}")

    def on_test(site: Site, w: Weights) -> dict[str, Any]:
        X, y, g = site.arrays("test")
        return _value_ci(evaluate_arrays(w, X, y, g, n_boot=n_boot, seed=seed))

    pooled = train_pooled(sites, epochs=epochs_equiv, lr=lr)
    per_site: dict[str, Any] = {}
    for s in sites:
        local = train_pooled([s], epochs=epochs_equiv, lr=lr)
        per_site[s.name] = {"pooled": on_test(s, pooled), "local": on_test(s, local)}
    lso: dict[str, Any] = {}
    if len(sites) >= 2:
        for s in sites:
            lso[s.name] = on_test(s, train_pooled([o for o in sites if o is not s], epochs=epochs_equiv, lr=lr))
    return {"per_site": per_site, "leave_site_out_pooled": lso, "epochs_equiv": int(epochs_equiv), "lr": lr,
            "seed": seed}


def fedavg_aggregate(results: list[tuple[Weights, int]]) -> Weights:
    """Average of the weights weighted by each site's number of training windows (FedAvg)."""
    total = sum(n for _, n in results)
    if total <= 0:
        raise ConfigurationError("FedAvg needs at least one site with training windows")
    return [
        np.asarray(sum(w[i] * (n / total) for w, n in results), dtype=np.float64)
        for i in range(len(results[0][0]))
    ]


@dataclass
class FedAvgResult:
    """Outcome of :func:`simulate_fedavg`: final weights, per-round weighted training loss, per-site evaluation."""

    weights: Weights
    train_loss: list[float]
    per_site: dict[str, dict[str, float]] = field(default_factory=dict)


def simulate_fedavg(
    sites: list[Site],
    rounds: int,
    epochs: int = 5,
    proximal_mu: float = 0.0,
    *,
    lr: float = 0.1,
    holdout: str | None = None,
    clip_norm: float | None = None,
    noise_multiplier: float = 0.0,
    seed: int = 0,
    n_boot: int = 500,
) -> FedAvgResult:
    """FedAvg (FedProx with ``proximal_mu`` > 0) over ``sites`` in one process, then every site evaluates.

    ``holdout`` names a site that trains nothing (leave-site-out) but is evaluated. With ``clip_norm``, each site's
    update (new minus global weights) is clipped to that L2 norm and Gaussian noise of standard deviation
    ``noise_multiplier * clip_norm / n_sites`` is added to the weighted average, as Flower's
    ``DifferentialPrivacyServerSideFixedClipping`` does (noise drawn from ``seed``).
    """
    from attunexr.federated._privacy import add_gaussian_noise, clip_update

    if rounds < 1:
        raise ConfigurationError(f"rounds must be >= 1, not {rounds}")
    names = [s.name for s in sites]
    if holdout is not None and holdout not in names:
        raise ConfigurationError(f"holdout {holdout!r} is not one of the sites {names}")
    training = [s for s in sites if s.name != holdout]
    if not training:
        raise ConfigurationError("FedAvg needs at least one training site")
    rng = np.random.default_rng(seed)
    w = _initial(len(sites[0].feature_names))
    losses: list[float] = []
    for _ in range(rounds):
        results: list[tuple[Weights, int]] = []
        loss_sum = 0.0
        for s in training:
            new, n, info = s.fit(w, epochs=epochs, lr=lr, proximal_mu=proximal_mu)
            if clip_norm is not None:
                new = [g + d for g, d in zip(w, clip_update([a - g for a, g in zip(new, w, strict=True)],
                                                             clip_norm), strict=True)]
            results.append((new, n))
            loss_sum += info["train_loss"] * n
        w = fedavg_aggregate(results)
        if clip_norm is not None and noise_multiplier > 0:
            w = add_gaussian_noise(w, noise_multiplier=noise_multiplier, clip_norm=clip_norm,
                                   n_sites=len(training), rng=rng)
        losses.append(loss_sum / sum(n for _, n in results))
    per_site = {s.name: s.evaluate(w, n_boot=n_boot) for s in sites}
    return FedAvgResult(weights=w, train_loss=losses, per_site=per_site)
