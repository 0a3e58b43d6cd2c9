"""Three sites on one TLS deployment (two participant-disjoint halves of nurse-stress and stress-predict):
SecAgg+ gives the FedAvg aggregate; a site killed mid-training drops out, the round finishes without it and the
result says which; restarted, the site takes part again.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from attunexr.federated import load_site
from attunexr.federated._deploy import Deployment, make_certs
from attunexr.federated._run import RunSettings

pytestmark = pytest.mark.slow

SITES = ["nurse-stress@1/2", "nurse-stress@2/2", "stress-predict"]
VICTIM = "nurse-stress@2/2"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("cache")
    for s in SITES:  # the sites' feature cache, as `attunexr federated site` fills it before starting
        load_site(s, data_dir=data_dir, cache_dir=folder)
    return folder


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, stress_predict_dir: Path,
               nurse_stress_dir: Path, cache: Path) -> Iterator[Deployment]:
    run_dir = tmp_path_factory.mktemp("three")
    with Deployment(run_dir, certs=make_certs(run_dir / "certs"), data_dir=data_dir, cache_dir=cache) as dep:
        dep.start_superlink()
        for s in SITES:
            dep.start_site(s)
        yield dep
    for proc in dep.processes():
        assert not proc.alive()


def _settings(*, rounds: int, secagg: bool = False, min_nodes: int | None = None) -> RunSettings:
    return RunSettings(sites=SITES, rounds=rounds, secagg=secagg, min_nodes=min_nodes)


def test_secagg_gives_the_fedavg_aggregate(deployment: Deployment, data_dir: Path, cache: Path) -> None:
    settings = _settings(rounds=1, secagg=True)
    sites = [load_site(s, data_dir=data_dir, cache_dir=cache) for s in SITES]
    n_features = len(sites[0].feature_names)
    out = deployment.submit(settings.run_config(n_features=n_features), name="secagg")
    assert out.finished, (out.status, out.log)
    assert out.result is not None and out.result["strategy"] == "FedAvg+SecAgg+"
    # the same round without a network: each site's update from the zero start, averaged by training windows
    from attunexr.federated import initial_weights

    updates = [s.fit(initial_weights(n_features), epochs=settings.epochs, lr=settings.lr) for s in sites]
    total = sum(n for _, n, _ in updates)
    expected = [sum(w[i] * n for w, n, _ in updates) / total for i in range(2)]
    got = [np.asarray(w) for w in out.result["weights"]]
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, atol=2e-3)
    assert not np.allclose(got[0], 0.0)
    final = out.result["evaluated"][str(settings.rounds)]
    # every site evaluated the aggregate on its own held-out people (the halves of nurse-stress hold two or three
    # people each: their AUROC after one round says little, so only its range is checked)
    assert set(final) == set(SITES) and all(0.0 <= v["auroc"] <= 1.0 for v in final.values())
    assert all(v["n_subjects"] >= 2 for v in final.values())


def test_killed_site_drops_out_and_rejoins(deployment: Deployment) -> None:
    n_features = 0  # the ServerApp takes the feature count of the site loader
    settings = _settings(rounds=3, min_nodes=2)
    killed = threading.Event()

    def on_line(line: str) -> None:
        # kill the site when round 2's training messages go out: it dies holding its work
        if "[ROUND 2/" in line and not killed.is_set():
            killed.set()
            deployment.stop_site(VICTIM, sig=signal.SIGKILL)

    out = deployment.submit(settings.run_config(n_features=n_features), name="dropout", on_line=on_line)
    assert killed.is_set()
    assert out.finished, (out.status, out.log)
    assert out.result is not None
    trained = out.result["trained"]
    assert set(trained["1"]) == set(SITES)
    assert set(trained["2"]) == set(SITES) - {VICTIM}  # the round finished with the remaining two
    assert set(trained["3"]) == set(SITES) - {VICTIM}
    assert out.result["dropped"] == {VICTIM: [2, 3]}
    assert any("round 2 trained on" in line and VICTIM not in line for line in out.lines)
    assert not deployment.sites[VICTIM].alive()

    deployment.start_site(VICTIM)  # restarted: it registers again and the next run includes it
    again = deployment.submit(_settings(rounds=1).run_config(n_features=n_features), name="rejoined")
    assert again.finished, (again.status, again.log)
    assert again.result is not None and set(again.result["trained"]["1"]) == set(SITES)
    assert again.result["dropped"] == {}
    assert os.path.getsize(deployment.site_dir(VICTIM) / "messages-sent.jsonl") > 0


def test_server_side_clipping_bounds_the_update(deployment: Deployment, data_dir: Path, cache: Path) -> None:
    """Flower's DP wrapper is in the path: with clipping only (no noise) the round's update is the weighted
    average of the sites' updates each clipped to norm C, exactly as computed here without a network."""
    from attunexr.federated import initial_weights

    clip = 0.05
    config = {**_settings(rounds=1).run_config(n_features=0), "dp-clip": clip, "dp-noise": 0.0}
    out = deployment.submit(config, name="clipped")
    assert out.finished, (out.status, out.log)
    assert out.result is not None and "DP" in out.result["strategy"]
    sites = [load_site(s, data_dir=data_dir, cache_dir=cache) for s in SITES]
    start = initial_weights(len(sites[0].feature_names))
    clipped, weights = [], []
    for site in sites:
        new, n, _ = site.fit(start, epochs=5, lr=0.1)
        delta = [w - s for w, s in zip(new, start, strict=True)]
        norm = float(np.sqrt(sum(float(np.sum(d**2)) for d in delta)))
        clipped.append([d * min(1.0, clip / norm) for d in delta])
        weights.append(n)
    expected = [sum(c[i] * n for c, n in zip(clipped, weights, strict=True)) / sum(weights) for i in range(2)]
    got = [np.asarray(w) for w in out.result["weights"]]
    got_norm = float(np.sqrt(sum(float(np.sum(g**2)) for g in got)))
    assert got_norm <= clip + 1e-9
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-9)


def test_privacy_section_reports_the_budget() -> None:
    from attunexr.federated import gaussian_epsilon
    from attunexr.federated._run import DP_DELTA, _privacy

    p = _privacy(RunSettings(sites=SITES, rounds=5, dp_noise=1.2, dp_clip=0.5))
    assert p is not None
    assert p["noise_multiplier"] == 1.2 and p["clipping_norm"] == 0.5 and p["delta"] == DP_DELTA
    assert p["epsilon"] == round(gaussian_epsilon(1.2, 5, DP_DELTA), 4) > 0
    assert _privacy(RunSettings(sites=SITES)) is None
