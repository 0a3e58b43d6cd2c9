"""The global model registers like any other model and drives a live session."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.errors import ConfigurationError
from attunexr.federated import FEATURES, Site, gaussian_epsilon, register_global_model, simulate_fedavg
from attunexr.federated._model import predict_logit
from attunexr.models import (
    Estimate,
    auroc,
    available_models,
    feature_table,
    load_card,
    load_model,
    load_named_model,
)
from attunexr.models._detector import _Detector


@pytest.fixture(scope="module")
def registered(stress_sites: list[Site], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    fed = simulate_fedavg(stress_sites, 3, 5, n_boot=0)
    per_site = {n: {"auroc": {"value": v["auroc"], "ci": [v["auroc_ci_low"], v["auroc_ci_high"]]},
                    "n_subjects": v["n_subjects"]} for n, v in fed.per_site.items()}
    privacy = {"noise_multiplier": 1.0, "clip_norm": 0.1, "delta": 1e-5, "epsilon": gaussian_epsilon(1.0, 3, 1e-5)}
    folder = tmp_path_factory.mktemp("models") / "stress-federated"
    out = register_global_model(fed.weights, stress_sites, out_dir=folder, rounds=3, strategy="FedAvg",
                                privacy=privacy, per_site=per_site)
    return out, fed.weights


@pytest.fixture(scope="module")
def s02_rows(data_dir: Path) -> pd.DataFrame:
    """Stress-Predict S02's feature rows from the project's pipeline."""
    table, _ = feature_table("stress-predict", 60.0, 10.0, data_dir=data_dir)
    return table[table["subject"] == "S02"].reset_index(drop=True)


def test_the_registered_model_loads_through_the_public_loaders(registered: tuple[Path, list[np.ndarray]]) -> None:
    folder, _ = registered
    assert {p.name for p in folder.iterdir()} >= {"model.joblib", "card.json", "card.html"}
    det = load_model(folder)
    assert isinstance(det, _Detector) and det.model_name == "stress-federated"
    assert "stress-federated" in available_models(folder.parent)
    assert isinstance(load_named_model("stress-federated", folder.parent), _Detector)
    card = load_card(folder)
    fed = card["federated"]
    assert [s["name"] for s in fed["sites"]] == ["stress-predict", "nurse-stress"]
    assert fed["rounds"] == 3 and fed["strategy"] == "FedAvg"
    assert fed["privacy"]["noise_multiplier"] == 1.0 and fed["privacy"]["epsilon"] > 0
    assert set(fed["per_site"]) == {"stress-predict", "nurse-stress"}
    assert card["standardization"]["site"] == "stress-predict"
    assert card["predictors"]["base_features"] == list(FEATURES)
    assert "stress-federated" in (folder / "card.html").read_text()
    json.dumps(card)  # JSON-ready


def test_estimates_on_a_real_feature_table_are_the_federated_weights(
    registered: tuple[Path, list[np.ndarray]], stress_sites: list[Site], s02_rows: pd.DataFrame
) -> None:
    folder, weights = registered
    det = load_model(folder)
    site = stress_sites[0]
    out = det.estimate(s02_rows)
    assert len(out) == len(s02_rows) and all(isinstance(e, Estimate) for e in out)
    assert all(0.0 <= e.probability <= 1.0 for e in out)
    assert any(not e.abstained for e in out)
    # the model's log-odds are the federated weights on the deploying site's standardization
    expected = predict_logit(weights, site.standardize(s02_rows[list(FEATURES)].to_numpy(dtype=float)))
    got = np.array([sum(e.contributions.values()) for e in out])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    # so the site's held-out AUROC is the one the registry model gives on the same windows
    X, y, _ = site.arrays("test")
    assert auroc((y == 1).astype(int), predict_logit(weights, X)) == pytest.approx(
        site.evaluate(weights, n_boot=0)["auroc"])


def test_windows_missing_features_abstain(registered: tuple[Path, list[np.ndarray]], s02_rows: pd.DataFrame) -> None:
    det = load_model(registered[0])
    rows = s02_rows.head(5).copy()
    rows.loc[rows.index[:2], list(FEATURES[:12])] = np.nan  # half the features lost
    out = det.estimate(rows)
    assert [e.abstained for e in out[:2]] == [True, True]
    assert {e.reason for e in out[:2]} <= {"poor_signal_quality", "signal_gaps"}
    batch = det.assess(rows)
    assert batch["abstained"].iloc[:2].all()
    det.reset()
    no_column = det.estimate(s02_rows.head(3).drop(columns=list(FEATURES[:10])))
    assert all(e.abstained for e in no_column) and all(math.isfinite(e.probability) for e in no_column)


async def test_the_registered_model_drives_a_live_session(
    registered: tuple[Path, list[np.ndarray]], data_dir: Path
) -> None:
    from attunexr.features import extract
    from attunexr.io import read_empatica
    from attunexr.sensors import ReplaySource
    from attunexr.session import LiveSession

    det = load_model(registered[0])
    rec = read_empatica(data_dir / "stress-predict" / "Raw_data" / "S02", dataset="stress-predict")
    rec = rec.crop(rec.t_start, rec.t_start + 600.0)
    session = LiveSession("federated-live", window=60.0, hop=10.0, origin=0.0, detector=det)
    await session.start()
    await session.attach(ReplaySource(rec, speed=math.inf))
    await session.stop()
    live = list(session.estimates)
    offline = load_model(registered[0]).estimate(extract(rec, 60.0, 10.0).drop(columns=["label"]))
    assert len(live) == len(offline) > 40
    assert [(e.t_end, e.reason) for e in live] == [(e.t_end, e.reason) for e in offline]
    np.testing.assert_allclose([e.probability for e in live], [e.probability for e in offline], rtol=1e-9)


def test_registration_errors_are_clear(stress_sites: list[Site], tmp_path: Path) -> None:
    w = [np.zeros(len(FEATURES)), np.zeros(1)]
    with pytest.raises(ConfigurationError, match="standardize_from"):
        register_global_model(w, stress_sites, out_dir=tmp_path / "m", rounds=1, strategy="FedAvg", privacy=None,
                              per_site={}, standardize_from="elsewhere")
    with pytest.raises(ConfigurationError, match="coefficients"):
        register_global_model([np.zeros(3), np.zeros(1)], stress_sites, out_dir=tmp_path / "m", rounds=1,
                              strategy="FedAvg", privacy=None, per_site={})
