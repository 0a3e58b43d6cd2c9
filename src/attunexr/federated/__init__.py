"""Federated training of the stress detector across sites that keep their data.

Each site (a clinic; here a dataset, a participant-disjoint part of one, or a BIDS folder) turns its recordings into
the project's feature windows, standardizes them with its own statistics and trains a logistic regression locally
(:class:`Site`); a server averages the weights (FedAvg, FedProx optional) and never sees a row, a feature value or an
identifier: only weights, the number of training windows and aggregate metrics leave a site. The pure-Python layer
here (sites, learner, evaluation, privacy accounting, registration) runs without Flower; the Flower processes build
on it.
"""

from attunexr.federated._deploy import (
    CertPaths,
    Deployment,
    RunOutcome,
    check_certs,
    install_sigterm_handler,
    keep_alive,
    make_certs,
)
from attunexr.federated._evaluate import (
    FedAvgResult,
    centralized_comparison,
    fedavg_aggregate,
    simulate_fedavg,
)
from attunexr.federated._privacy import add_gaussian_noise, clip_update, gaussian_epsilon
from attunexr.federated._register import register_global_model
from attunexr.federated._run import FederatedRunError, RunSettings, check_settings, parse_sites, run_federated
from attunexr.federated._site import FEATURES, Site, SiteSpec, Weights, initial_weights, load_site, parse_site

__all__ = [
    "FEATURES",
    "CertPaths",
    "Deployment",
    "FedAvgResult",
    "FederatedRunError",
    "RunOutcome",
    "RunSettings",
    "Site",
    "SiteSpec",
    "Weights",
    "add_gaussian_noise",
    "centralized_comparison",
    "check_certs",
    "check_settings",
    "clip_update",
    "fedavg_aggregate",
    "gaussian_epsilon",
    "initial_weights",
    "install_sigterm_handler",
    "keep_alive",
    "load_site",
    "make_certs",
    "parse_site",
    "parse_sites",
    "register_global_model",
    "run_federated",
    "simulate_fedavg",
]
