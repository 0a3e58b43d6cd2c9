"""Metrics agree with scikit-learn; bootstrap CIs, ECE, calibration, Youden and conformal behave as specified."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, brier_score_loss, f1_score, recall_score, roc_auc_score

from attunexr.models import (
    Calibrator,
    ConformalGate,
    auroc,
    binary_metrics,
    bootstrap_ci,
    calibration_slope_intercept,
    decision_curve,
    expected_calibration_error,
    net_benefit,
    paired_auroc_difference,
    youden_threshold,
)


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 1500
    groups = rng.integers(0, 25, n).astype(str)
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(1.3 * (2 * y - 1) + rng.normal(0, 1.2, n))))
    p[:20] = p[20:40]  # ties
    yhat = (p >= 0.45).astype(int)
    return y, p, yhat, groups


def test_metrics_match_sklearn(scored: tuple[np.ndarray, ...]) -> None:
    y, p, yhat, _ = scored
    m = binary_metrics(y, p, yhat)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, yhat))
    assert m["f1"] == pytest.approx(f1_score(y, yhat, average="macro"))
    assert m["sensitivity"] == pytest.approx(recall_score(y, yhat))
    assert m["specificity"] == pytest.approx(recall_score(1 - y, 1 - yhat))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert np.isnan(auroc(np.ones(5, dtype=int), np.linspace(0, 1, 5)))
    assert np.isnan(auroc(np.array([0, 1, 1]), np.array([0.2, np.nan, 0.7])))
    # many ties, few distinct scores: still the Mann-Whitney value
    rng = np.random.default_rng(2)
    yt, pt = rng.integers(0, 2, 3000), rng.integers(0, 4, 3000).astype(float)
    assert auroc(yt, pt) == pytest.approx(roc_auc_score(yt, pt), abs=1e-12)


def test_ece_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.95, 0.85, 0.15])
    # bin 0: p .05 (y 0) -> |0-.05|; bin 1: p .15,.15 y 0,1 -> |1-.30| ; bin 8: .85 y1 -> .15 ; bin 9: .95 y1 -> .05
    expected = (0.05 + 0.70 + 0.15 + 0.05) / 5
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    q = rng.uniform(0, 1, 200_000)
    assert expected_calibration_error(rng.uniform(0, 1, q.size) < q, q) < 0.01


def test_bootstrap_ci_contains_point(scored: tuple[np.ndarray, ...]) -> None:
    y, p, yhat, groups = scored
    ci = bootstrap_ci(y, p, yhat, groups, n_boot=200)
    for name, v in ci.items():
        lo, hi = v["ci"]
        assert lo <= v["value"] <= hi, name
        assert hi - lo > 0, name
    # resampling whole subjects: a CI from one giant subject is narrower than from 25 subjects? no: same data,
    # but a single group cannot vary at all, so its CI collapses to the point.
    one = bootstrap_ci(y, p, yhat, np.zeros(y.size, dtype=int).astype(str), n_boot=50)
    assert one["auroc"]["ci"][0] == pytest.approx(one["auroc"]["value"])


def test_paired_auroc_difference(scored: tuple[np.ndarray, ...]) -> None:
    y, p, _, groups = scored
    same = paired_auroc_difference(y, p, p, groups, n_boot=100)
    assert same["value"] == 0.0 and same["ci"] == [0.0, 0.0] and same["p_not_better"] == 1.0
    rng = np.random.default_rng(3)
    noisy = p + rng.normal(0, 0.15, p.size)  # the same ranking, degraded
    gain = paired_auroc_difference(y, p, noisy, groups, n_boot=200)
    assert gain["value"] == pytest.approx(auroc(y, p) - auroc(y, noisy))
    lo, hi = gain["ci"]
    assert 0.0 < lo <= gain["value"] <= hi
    assert gain["p_not_better"] == 0.0
    # pairing: the CI of the difference is narrower than that of two independent AUROCs (widths added in quadrature)
    sep_p = bootstrap_ci(y, p, y, groups, n_boot=200)["auroc"]["ci"]
    sep_n = bootstrap_ci(y, noisy, y, groups, n_boot=200)["auroc"]["ci"]
    assert hi - lo < 0.75 * float(np.hypot(sep_p[1] - sep_p[0], sep_n[1] - sep_n[0]))
    worse = paired_auroc_difference(y, noisy, p, groups, n_boot=100)
    assert worse["value"] < 0 and worse["p_not_better"] == 1.0


def test_calibration_slope_and_intercept() -> None:
    rng = np.random.default_rng(11)
    z = rng.normal(0, 1.5, 40_000)
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-z))).astype(int)
    good = calibration_slope_intercept(y, 1 / (1 + np.exp(-z)))
    assert good["slope"] == pytest.approx(1.0, abs=0.05) and good["intercept"] == pytest.approx(0.0, abs=0.05)
    too_extreme = calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * z)))  # overfitted-looking predictions
    assert too_extreme["slope"] == pytest.approx(0.5, abs=0.03)
    too_high = calibration_slope_intercept(y, 1 / (1 + np.exp(-(z + 1))))  # predicts too many positives
    assert too_high["intercept"] == pytest.approx(-1.0, abs=0.06) and too_high["slope"] == pytest.approx(
        1.0, abs=0.05
    )
    assert np.isnan(calibration_slope_intercept(np.ones(5, dtype=int), np.full(5, 0.7))["slope"])


def test_net_benefit_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    # t = 0.5: act on 0.9 (TP) and 0.6 (FP): 1/5 - 1/5 * 1 = 0
    # t = 0.3: act on 0.9, 0.4 (TP) and 0.6 (FP): 2/5 - 1/5 * 0.3/0.7
    nb = net_benefit(y, p, np.array([0.5, 0.3]))
    assert nb == pytest.approx([0.0, 2 / 5 - 1 / 5 * 0.3 / 0.7])
    curve = decision_curve(y, p, np.array([0.2, 0.5]))
    assert curve["act_on_all"] == pytest.approx([0.4 - 0.6 * 0.25, 0.4 - 0.6])
    assert curve["act_on_none"] == [0.0, 0.0]
    # a perfect ranking with calibrated extremes earns the whole prevalence at every threshold
    assert decision_curve(y, y.astype(float))["model"] == pytest.approx([0.4] * 19)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        net_benefit(y, p, np.array([0.0, 0.5]))


def test_calibrators_reduce_ece(scored: tuple[np.ndarray, ...]) -> None:
    y, p, _, _ = scored
    logit = 3.0 * np.log(p / (1 - p)) + 1.0  # over-confident, shifted scores
    raw = 1 / (1 + np.exp(-logit))
    for method in ("sigmoid", "isotonic"):
        cal = Calibrator(method).fit(logit, y)
        q = cal.transform(logit)
        assert expected_calibration_error(y, q) < expected_calibration_error(y, raw) / 3
        assert cal.transform_one(float(logit[3])) == pytest.approx(q[3], abs=1e-9)


def test_youden_threshold_is_optimal(scored: tuple[np.ndarray, ...]) -> None:
    y, p, _, _ = scored
    t = youden_threshold(y, p)

    def j(th: float) -> float:
        return float(recall_score(y, p >= th) + recall_score(1 - y, p < th) - 1)

    assert j(t) >= max(j(th) for th in np.linspace(0.01, 0.99, 99)) - 1e-9


def test_conformal_coverage(scored: tuple[np.ndarray, ...]) -> None:
    y, p, _, _ = scored
    gate = ConformalGate(alpha=0.1).fit(p[:700], y[:700])
    p_test, y_test = p[700:], y[700:]
    covers = np.where(y_test == 1, 1 - p_test <= gate.qhat_, p_test <= gate.qhat_)
    assert covers.mean() >= 0.87
    sizes = gate.set_size(p_test)
    assert set(np.unique(sizes)) <= {0, 1, 2}
    assert (sizes == 2).any()  # overlapping classes: some windows must be uncertain
    stricter = ConformalGate(alpha=0.02).fit(p[:700], y[:700])
    assert (stricter.set_size(p_test) == 2).sum() > (sizes == 2).sum()
