"""The detectors on real Stress-Predict features: estimator contract, calibration, abstention, explanations, live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from attunexr.errors import ModelError
from attunexr.models import ArousalDetector, CybersicknessDetector, Estimate


def test_sklearn_estimator_contract() -> None:
    expected = {
        "check_classifiers_train": "predict() applies the Youden threshold chosen on training folds, so it is not "
        "argmax(predict_proba); decision_function() is consistent with predict()",
    }
    results = check_estimator(
        ArousalDetector(normalize="none", context=0, n_inner_folds=2),
        on_fail=None,
        expected_failed_checks=expected,
    )
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == [], failed
    assert sum(r["status"] == "passed" for r in results) > 40


def test_init_only_stores_parameters(stress_small: pd.DataFrame, stress_y: np.ndarray) -> None:
    det = ArousalDetector(normalize="baseline", model="logistic", context=4, C=0.3)
    assert det.get_params()["C"] == 0.3
    assert not [k for k in vars(det) if k.endswith("_")]
    det.fit(stress_small, stress_y)
    fitted = [k for k in vars(det) if k.endswith("_") and not k.startswith("_")]
    assert {"model_", "calibrator_", "threshold_", "conformal_", "classes_", "feature_names_base_"} <= set(
        fitted
    )
    assert "t_end" not in det.feature_names_base_ and "t_start" not in det.feature_names_base_
    copy = clone(det)
    assert not hasattr(copy, "model_") and copy.get_params() == det.get_params()


@pytest.mark.parametrize("model", ["logistic", "lightgbm", "ensemble", "auto"])
def test_probabilities_threshold_and_explanations(
    stress_small: pd.DataFrame, stress_y: np.ndarray, model: str
) -> None:
    det = ArousalDetector(model=model, running=True).fit(stress_small, stress_y)
    proba = det.predict_proba(stress_small)
    assert proba.shape == (len(stress_small), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert 0.0 < det.threshold_ < 1.0
    pred = det.predict(stress_small)
    np.testing.assert_array_equal(pred, (proba[:, 1] > det.threshold_).astype(float))
    assert np.all((det.decision_function(stress_small) > 0) == (pred == 1))
    # explanations: additive contributions (+ bias) sum to the model's log-odds (TreeSHAP / exact linear)
    contrib = det.explain(stress_small)
    np.testing.assert_allclose(
        contrib.sum(axis=1).to_numpy(), det.raw_logit(stress_small), rtol=1e-6, atol=1e-6
    )
    assert "bias" in contrib.columns and "hr_mean:rel" in contrib.columns
    # calibrated on out-of-fold predictions of the training subjects: well calibrated there, better than raw
    assert det.oof_ece_ < 0.05
    assert det.oof_ece_ < det.oof_ece_uncalibrated_


@pytest.mark.parametrize(("model", "quality_mode"), [("logistic", "row"), ("auto", "groups")])
def test_live_estimates_equal_offline(
    stress_small: pd.DataFrame, stress_y: np.ndarray, model: str, quality_mode: str
) -> None:
    subjects = stress_small["subject"].unique()
    train = stress_small["subject"] != subjects[0]
    det = ArousalDetector(model=model, running=True, quality_mode=quality_mode).fit(
        stress_small[train], stress_y[train.to_numpy()]
    )
    held = stress_small[~train].sort_values("t_end")
    offline = det.assess(held)
    det.reset()
    det.set_baseline(held[held["label"] == "baseline"])
    rows = held.drop(columns=["label"])
    live: list[Estimate] = []
    for i in range(len(rows)):
        live.extend(det.estimate(rows.iloc[[i]]))
    assert len(live) == len(held)
    np.testing.assert_allclose([e.probability for e in live], offline["probability"].to_numpy(), atol=1e-9)
    assert [e.abstained for e in live] == offline["abstained"].tolist()
    e = live[len(live) // 2]
    assert e.lower <= e.probability <= e.upper
    assert e.model == "stress"


def test_contributions_sum_to_logit_live(stress_small: pd.DataFrame, stress_y: np.ndarray) -> None:
    det = ArousalDetector(model="lightgbm").fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == stress_small["subject"].iloc[0]].sort_values("t_end")
    det.set_baseline(sub[sub["label"] == "baseline"])
    ests = det.estimate(sub)
    logits = det.raw_logit(sub)
    for e, z in zip(ests, logits, strict=True):
        assert sum(e.contributions.values()) == pytest.approx(float(z), abs=1e-6)


def test_abstains_on_poor_quality(stress_small: pd.DataFrame, stress_y: np.ndarray) -> None:
    det = ArousalDetector().fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == stress_small["subject"].iloc[-1]].copy()
    sub["quality_ok"] = True
    sub.iloc[5:15, sub.columns.get_loc("quality_ok")] = False
    out = det.assess(sub)
    assert (out["reason"].iloc[5:15] == "poor_signal_quality").all()
    assert out["abstained"].iloc[5:15].all()
    assert not (out["reason"].iloc[15:] == "poor_signal_quality").any()
    ungated = clone(det).set_params(quality_gate=False).fit(stress_small, stress_y).assess(sub)
    assert not (ungated["reason"] == "poor_signal_quality").any()
    # uncertain windows: the conformal set holds both classes exactly when p lies in the ambiguous band
    q = det.conformal_.qhat_
    amb = (out["probability"] >= 1 - q) & (out["probability"] <= q)
    assert ((out["reason"] == "uncertain") == (amb & sub["quality_ok"].to_numpy())).all()


def test_group_quality_blanks_poor_signals_instead_of_abstaining(
    stress_small: pd.DataFrame, stress_y: np.ndarray
) -> None:
    det = ArousalDetector(quality_mode="groups", model="lightgbm").fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == stress_small["subject"].iloc[-1]].copy()
    sub["q_cardiac"], sub["q_eda"] = 0.9, 1.0
    sub.iloc[5:15, sub.columns.get_loc("q_cardiac")] = 0.1  # poor wrist PPG, good EDA
    sub.iloc[20:25, sub.columns.get_loc("q_cardiac")] = 0.1
    sub.iloc[20:25, sub.columns.get_loc("q_eda")] = 0.0  # no usable core signal at all
    out = det.assess(sub)
    assert not (out["reason"].iloc[5:15] == "poor_signal_quality").any()
    assert (out["reason"].iloc[20:25] == "poor_signal_quality").all()
    assert not (out["reason"].drop(out.index[20:25]) == "poor_signal_quality").any()
    # the poor group's values are not used: garbage in the cardiac features of those windows changes nothing
    garbage = sub.copy()
    garbage.iloc[5:15, garbage.columns.get_loc("hr_mean")] = 250.0
    garbage.iloc[5:15, garbage.columns.get_loc("rmssd")] = 900.0
    np.testing.assert_allclose(det.assess(garbage)["probability"], out["probability"], atol=1e-12)
    # while with good quality the same garbage changes the estimates
    garbage["q_cardiac"] = 0.9
    sub["q_cardiac"] = 0.9
    assert not np.allclose(det.assess(garbage)["probability"], det.assess(sub)["probability"])
    # "row" mode abstains on every window whose quality_ok is false
    row = clone(det).set_params(quality_mode="row").fit(stress_small, stress_y)
    bad = ~sub["quality_ok"].to_numpy(dtype=bool)
    assert (row.assess(sub)["reason"].to_numpy()[bad] == "poor_signal_quality").all()


def test_live_collects_a_baseline_first(stress_small: pd.DataFrame, stress_y: np.ndarray) -> None:
    det = ArousalDetector(baseline_windows=6).fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == "S05"].sort_values("t_end").drop(columns=["label"])
    ests = det.estimate(sub.iloc[:10])
    assert [e.reason for e in ests[:6]] == ["collecting_baseline"] * 6
    assert all(e.abstained for e in ests[:6])
    assert all(e.reason != "collecting_baseline" for e in ests[6:])


def test_missing_inputs_are_named(stress_small: pd.DataFrame, stress_y: np.ndarray) -> None:
    det = ArousalDetector().fit(stress_small, stress_y)
    with pytest.raises(ModelError, match="temp_mean"):
        det.predict_proba(stress_small.drop(columns=["temp_mean"]))
    with pytest.raises(ModelError, match="time_in_vr"):
        CybersicknessDetector().fit(stress_small.drop(columns=["time_in_vr"]), stress_y)
