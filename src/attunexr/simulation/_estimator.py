"""A window-level arousal estimator for the fast path: a real model, fitted on Stress-Predict, with uncertainty.

Logistic regression of stress task vs baseline/rest on two baseline-normalised features (heart rate above the
personal resting baseline, log skin conductance over its baseline), fitted in :mod:`._calibration` with a
subject-level bootstrap. The uncertainty interval combines the coefficient covariance with the features'
measurement noise (delta method on the log-odds); the estimator abstains on poor signal, without a baseline, or when
the interval is wider than ``max_width``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attunexr.simulation._calibration import SCL_OFFSET, Calibration
from attunexr.simulation._physiology import FAST_NOISE

__all__ = ["WindowArousalEstimator", "WindowEstimates"]

FloatArray = NDArray[np.float64]


@dataclass
class WindowEstimates:
    """Estimates for many windows at once (arrays), mirroring :class:`attunexr.models.Estimate`."""

    probability: FloatArray
    lower: FloatArray
    upper: FloatArray
    abstained: NDArray[np.bool_]
    contributions: dict[str, FloatArray]


class WindowArousalEstimator:
    """Arousal probability from ``hr_mean`` and ``scl_mean`` relative to a personal resting baseline.

    Parameters
    ----------
    calibration
        Holds the fitted coefficients (intercept first) and their bootstrap covariance.
    z
        Normal quantile of the interval (1.645: a 90 % interval).
    max_width
        Abstain when ``upper - lower`` exceeds this.
    """

    name = "stress-predict-window-logistic"

    def __init__(self, calibration: Calibration, z: float = 1.645, max_width: float = 0.5) -> None:
        self.beta = np.asarray(calibration.estimator_coef, dtype=np.float64)
        self.cov = np.asarray(calibration.estimator_cov, dtype=np.float64)
        self.z = z
        self.max_width = max_width
        # measurement noise of the two normalised features (window noise of the feature and of the baseline)
        self.feature_var = np.array([2 * FAST_NOISE["hr_mean"] ** 2 + 1.0, 2 * FAST_NOISE["scl_mean_log"] ** 2 + 0.01])

    def estimate(self, hr_mean: FloatArray, scl_mean: FloatArray, hr_base: FloatArray, scl_base: FloatArray,
                 quality_ok: NDArray[np.bool_]) -> WindowEstimates:
        """Vectorised estimates; NaN inputs or ``quality_ok == False`` give abstentions."""
        x1 = hr_mean - hr_base
        x2 = np.log((scl_mean + SCL_OFFSET) / (scl_base + SCL_OFFSET))
        b = self.beta
        logit = b[0] + b[1] * x1 + b[2] * x2
        c = self.cov
        var = (c[0, 0] + x1 * x1 * c[1, 1] + x2 * x2 * c[2, 2] + 2 * x1 * c[0, 1] + 2 * x2 * c[0, 2]
               + 2 * x1 * x2 * c[1, 2] + b[1] ** 2 * self.feature_var[0] + b[2] ** 2 * self.feature_var[1])
        se = np.sqrt(np.maximum(var, 0.0))
        p = 1.0 / (1.0 + np.exp(-logit))
        lo = 1.0 / (1.0 + np.exp(-(logit - self.z * se)))
        hi = 1.0 / (1.0 + np.exp(-(logit + self.z * se)))
        finite = np.isfinite(logit) & np.isfinite(hr_base) & np.isfinite(scl_base)
        abst = ~finite | ~quality_ok | ((hi - lo) > self.max_width)
        nan = np.full(p.shape, np.nan)
        return WindowEstimates(
            probability=np.where(finite, p, nan), lower=np.where(finite, lo, nan), upper=np.where(finite, hi, nan),
            abstained=abst, contributions={"hr_delta": b[1] * x1, "log_scl_ratio": b[2] * x2},
        )
