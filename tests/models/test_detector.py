"""The detectors on real Stress-Predict features: estimator contract, calibration, abstention, explanations, live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from attunexr.errors import ConfigurationError, ModelError
from attunexr.models import ArousalDetector, CybersicknessDetector, Estimate
from attunexr.models._design import recording_keys
from attunexr.models._detector import pure_rows


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


@pytest.mark.parametrize(
    ("model", "quality_mode", "long"),
    [("logistic", "row", 0), ("auto", "groups", 30), ("lightgbm", "row", 5)],
)
def test_live_estimates_equal_offline(
    stress_small: pd.DataFrame, stress_y: np.ndarray, model: str, quality_mode: str, long: int
) -> None:
    subjects = stress_small["subject"].unique()
    train = stress_small["subject"] != subjects[0]
    det = ArousalDetector(
        model=model, running=True, quality_mode=quality_mode, long=long, train_purity=3 if long else 0
    ).fit(stress_small[train], stress_y[train.to_numpy()])
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


@pytest.mark.parametrize("quality_mode", ["groups", "row"])
def test_estimate_records_equals_estimate_on_a_table(
    stress_small: pd.DataFrame, stress_y: np.ndarray, quality_mode: str
) -> None:
    """A live session's rows as mappings (no table built) give exactly the estimates of the same rows as a table:
    missing values, text quality, failed quality flags and gaps included."""
    det = ArousalDetector(model="lightgbm", quality_mode=quality_mode).fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == stress_small["subject"].iloc[-1]].sort_values("t_end")
    rows = sub.drop(columns=["label"]).reset_index(drop=True)
    records = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in rows.to_dict("records")
    ]
    records[3]["quality_ok"] = False
    records[4]["q_eda"] = "n/a"  # unreadable text: poor
    records[5]["q_cardiac"] = "0.1"  # a number as text
    records[6]["gap_fraction"] = 0.5
    records[7]["quality_ok"] = None
    records[8]["rmssd"] = None  # a missing value
    for i in (9, 10):  # no usable core signal (both modes abstain), the second window mostly lost to gaps
        records[i].update(q_cardiac=0.0, q_eda=0.0, quality_ok=False)
    records[10]["gap_fraction"] = 0.6
    table = pd.DataFrame.from_records(records)
    by_table: list[Estimate] = []
    by_records: list[Estimate] = []
    state_t, state_r = det.new_state(), det.new_state()
    for i in range(len(records)):  # one row per call, as live
        by_table.extend(det.estimate(table.iloc[[i]], state=state_t))
        by_records.extend(det.estimate_records([records[i]], state=state_r))
    assert [e.reason for e in by_records] == [e.reason for e in by_table]
    assert {"collecting_baseline", "poor_signal_quality", "signal_gaps"} <= {e.reason for e in by_table}
    for a, b in zip(by_records, by_table, strict=True):
        np.testing.assert_array_equal(
            [a.t_end, a.probability, a.lower, a.upper], [b.t_end, b.probability, b.lower, b.upper]
        )
        assert a.contributions == b.contributions
    # a whole recording at once is the same as well
    whole = det.estimate_records(records, state=det.new_state())
    assert [e.probability for e in whole] == [
        e.probability for e in det.estimate(table, state=det.new_state())
    ]
    with pytest.raises(ModelError, match="hr_mean"):
        det.estimate_records([{k: v for k, v in records[0].items() if k != "hr_mean"}])


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
    # quality that arrives as text (CSV, JSON) or as nullable floats is read the same; unreadable text is poor
    for cast in (lambda s: s.astype(str), lambda s: s.astype("Float64")):
        other = sub.copy()
        other["q_cardiac"], other["q_eda"] = cast(other["q_cardiac"]), cast(other["q_eda"])
        pd.testing.assert_series_equal(det.assess(other)["reason"], out["reason"])
    unreadable = sub.copy()
    unreadable["q_eda"] = unreadable["q_eda"].astype(object)
    unreadable.iloc[5:15, unreadable.columns.get_loc("q_eda")] = "n/a"
    assert (det.assess(unreadable)["reason"].iloc[5:15] == "poor_signal_quality").all()
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


def test_pure_rows_keep_windows_wholly_inside_one_label() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, np.nan, 0, 0, 0], dtype=object)
    keys = np.array(["a"] * 10 + ["b"] * 3, dtype=object)
    t = np.arange(13.0)
    pure = pure_rows(y, keys, t, 1)
    # a change of label, an unlabelled row or a recording edge within one row makes a row impure
    assert pure.tolist() == [
        False,
        True,
        True,
        False,
        False,
        True,
        True,
        True,
        False,
        False,
        False,
        True,
        False,
    ]
    # rows are ordered by time within a recording, whatever the table order
    rev = np.arange(13)[::-1]
    assert pure_rows(y[rev], keys[rev], t[rev], 1).tolist() == pure[rev].tolist()


def test_long_horizon_features_follow_the_recent_peak_and_trough(
    stress_small: pd.DataFrame, stress_y: np.ndarray
) -> None:
    kw = {"model": "logistic", "context": 3, "long": 6, "features": ["hr_mean"], "log_transform": False}
    with pytest.raises(ConfigurationError, match="person reference"):
        ArousalDetector(normalize="none", **kw).fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == "S05"].sort_values("t_end")
    smooth = sub["hr_mean"].rolling(3, min_periods=1).mean()
    early = np.arange(len(sub)) < 5
    for normalize, rows in (("baseline", sub["label"] == "baseline"), ("recording", sub["label"].notna())):
        det = ArousalDetector(normalize=normalize, **kw).fit(stress_small, stress_y)
        assert det.design_names_[-2:] == ["hr_mean:dmax", "hr_mean:dmin"]
        Z = det._design(sub, ["hr_mean"])
        # before `long` windows have passed, the missing history sits at the person's reference level, so the
        # features do not start at 0 merely because the session has just begun
        ref = float(sub.loc[rows, "hr_mean"].median())
        hi = np.where(early, np.fmax(smooth.rolling(6, min_periods=1).max(), ref), smooth.rolling(6).max())
        lo = np.where(early, np.fmin(smooth.rolling(6, min_periods=1).min(), ref), smooth.rolling(6).min())
        np.testing.assert_allclose(Z[:, -2], smooth - hi, equal_nan=True)
        np.testing.assert_allclose(Z[:, -1], smooth - lo, equal_nan=True)
        assert np.nanmax(Z[:, -2]) <= 0.0 <= np.nanmin(Z[:, -1])
        assert Z[0, -2] != 0.0 or Z[0, -1] != 0.0


def test_train_purity_fits_on_pure_windows_but_calibrates_on_all(
    stress_small: pd.DataFrame, stress_y: np.ndarray
) -> None:
    plain = ArousalDetector(model="logistic").fit(stress_small, stress_y)
    pure = ArousalDetector(model="logistic", train_purity=3).fit(stress_small, stress_y)
    n_pure = int(pure_rows(stress_y, recording_keys(stress_small), stress_small["t_end"].to_numpy(), 3).sum())
    assert pure.n_train_windows_ == n_pure < plain.n_train_windows_
    # every labelled window of the training subjects feeds the out-of-fold calibration, as at prediction time
    assert pure.n_calibration_windows_ == plain.n_calibration_windows_ == int(np.isfinite(stress_y).sum())
    with pytest.raises(ConfigurationError, match="train_purity"):
        ArousalDetector(train_purity=-1).fit(stress_small, stress_y)


def test_recording_without_labelled_baseline_uses_its_first_windows_as_live(
    stress_small: pd.DataFrame, stress_y: np.ndarray
) -> None:
    det = ArousalDetector(
        model="logistic", context=0, features=["hr_mean"], log_transform=False, baseline_windows=4
    ).fit(stress_small, stress_y)
    sub = stress_small[stress_small["subject"] == "S05"].sort_values("t_end").copy()
    sub["label"] = sub["label"].astype(str).replace("baseline", "rest")  # no labelled rest before exposure
    Z = det._design(sub, ["hr_mean"])
    ref = float(sub["hr_mean"].iloc[:4].median())
    np.testing.assert_allclose(Z[:, 1], sub["hr_mean"].to_numpy() - ref)
    # live: without baseline rows the first `baseline_windows` windows form the reference, and the later
    # estimates equal the offline ones
    offline = det.assess(sub)
    det.reset()
    live = det.estimate(sub.drop(columns=["label"]))
    assert [e.reason for e in live[:4]] == ["collecting_baseline"] * 4
    np.testing.assert_allclose(
        [e.probability for e in live[4:]], offline["probability"].to_numpy()[4:], atol=1e-9
    )


def test_live_state_is_an_object_the_caller_owns(stress_small: pd.DataFrame, stress_y: np.ndarray) -> None:
    """A session's DetectorState holds the history and baseline; the fitted detector keeps none of it, not even
    when pickled, and two states fed the same rows give the same answers independently."""
    import pickle

    from attunexr.models import DetectorState

    subjects = stress_small["subject"].unique()
    train = stress_small["subject"] != subjects[0]
    det = ArousalDetector(model="logistic").fit(stress_small[train], stress_y[train.to_numpy()])
    held = stress_small[~train].sort_values("t_end")
    rows = held.drop(columns=["label"])
    offline = det.assess(held)
    session_a, session_b = det.new_state(), det.new_state()
    assert isinstance(session_a, DetectorState) and len(session_a) == 0
    det.set_baseline(held[held["label"] == "baseline"], state=session_a)
    det.set_baseline(held[held["label"] == "baseline"], state=session_b)
    live_a: list[Estimate] = []
    for i in range(len(rows)):  # interleaved: a, b, a, b ... on the same recording key
        live_a.extend(det.estimate(rows.iloc[[i]], state=session_a))
        det.estimate(rows.iloc[[i]], state=session_b)
    np.testing.assert_allclose([e.probability for e in live_a], offline["probability"].to_numpy(), atol=1e-9)
    assert len(session_a) == len(session_b) == 1
    # the detector's own offline state was not touched: a whole-recording call starts fresh
    fresh = det.estimate(rows)
    assert [e.reason for e in fresh] != [
        e.reason for e in live_a
    ]  # no set_baseline here: it collects its own
    clone = pickle.loads(pickle.dumps(det))
    assert not hasattr(clone, "online_") and getattr(clone, "_own_state", None) is None
    assert [e.probability for e in clone.estimate(rows)] == [e.probability for e in fresh]
    session_a.clear()
    assert len(session_a) == 0
