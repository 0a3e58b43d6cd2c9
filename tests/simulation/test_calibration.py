"""The simulator's physiology is calibrated on real Stress-Predict data, and generated data match it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from attunexr.simulation import (
    FEAR_AT_LAB_STRESS,
    calibrate_from_stress_predict,
    draw_population,
    fast_window_features,
    load_calibration,
)
from attunexr.simulation._calibration import SCL_OFFSET, _fit_tau
from attunexr.simulation._physiology import traces_from_fear


@pytest.fixture(scope="module")
def fresh(stress_predict_dir: Path):  # type: ignore[no-untyped-def]
    return calibrate_from_stress_predict(stress_predict_dir.parent, n_boot=20)


def test_shipped_calibration_is_what_the_real_data_give(fresh) -> None:  # type: ignore[no-untyped-def]
    shipped = load_calibration()
    assert fresh.n_subjects == shipped.n_subjects >= 30
    for name in ("hr_rest_mean", "hr_rest_sd", "dhr_task_mean", "dhr_task_sd", "log_scl_rest_mean",
                 "dlog_scl_task_mean", "dlog_scl_task_sd", "tau_hr_s", "tau_scl_s"):
        assert getattr(fresh, name) == pytest.approx(getattr(shipped, name), rel=1e-6), name
    assert fresh.estimator_coef == pytest.approx(shipped.estimator_coef, rel=1e-6)
    # real responses: heart rate and skin conductance rise during the lab stressors
    assert fresh.dhr_task_mean > 0 and fresh.dlog_scl_task_mean > 0
    assert 0.6 < fresh.estimator_loso_auroc < 0.9


def test_generated_rest_and_stress_match_real_distributions() -> None:
    cal = load_calibration()
    n = 300
    pop = draw_population(n, seed=11, calibration=cal)
    rest_s, task_s = 300, 300
    fear = np.zeros((rest_s + task_s, n))
    fear[rest_s:] = FEAR_AT_LAB_STRESS  # the fear level the lab stressors stand for
    tr = traces_from_fear(fear, pop, cal, seed=3)
    valid = np.ones((60, n), dtype=bool)
    rng = np.random.default_rng(0)

    def windows(a: int, b: int) -> dict[str, np.ndarray]:
        feats = [fast_window_features({k: tr[k][e - 60:e] for k in ("hr", "lscl", "scr_rate")}, valid, rng)
                 for e in range(a + 60, b + 1, 10)]
        return {k: np.mean([f[k] for f in feats], axis=0) for k in ("hr_mean", "scl_mean")}

    rest = windows(60, rest_s)
    task = windows(rest_s + 60, rest_s + task_s)  # after the response has risen (tau ~ 20-40 s)
    gen_dhr = task["hr_mean"] - rest["hr_mean"]
    gen_dlscl = np.log(task["scl_mean"] + SCL_OFFSET) - np.log(rest["scl_mean"] + SCL_OFFSET)
    real = cal.per_subject.values()
    real_dhr = np.array([r["dhr_task"] for r in real])
    real_dlscl = np.array([r["dlog_scl_task"] for r in real])
    real_hr = np.array([r["hr_rest"] for r in real])
    # same distributions (two-sample Kolmogorov-Smirnov) and effect sizes within a quarter SD
    assert ks_2samp(gen_dhr, real_dhr).pvalue > 0.05
    assert ks_2samp(gen_dlscl, real_dlscl).pvalue > 0.05
    assert ks_2samp(rest["hr_mean"], real_hr).pvalue > 0.05
    assert abs(gen_dhr.mean() - real_dhr.mean()) < 0.25 * real_dhr.std()
    assert abs(gen_dlscl.mean() - real_dlscl.mean()) < 0.25 * real_dlscl.std()
    # timing: the onset-locked rise of generated heart rate has the calibrated time constant
    t = np.arange(-60.0, 180.0)
    curve = tr["hr"][rest_s - 60: rest_s + 180].mean(axis=1)
    curve = curve - curve[:60].mean()
    assert _fit_tau(curve, t) == pytest.approx(cal.tau_hr_s, rel=0.35)
