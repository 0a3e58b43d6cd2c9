"""Probability calibration, threshold choice and conformal abstention, all fitted on training data only.

- Platt scaling (Platt, 1999): a one-feature logistic regression on the model's log-odds.
- Isotonic regression (Zadrozny & Elkan, KDD 2002).
- Youden's J (Youden, Cancer 1950): the threshold maximizing sensitivity + specificity - 1.
- Split-conformal classification (Vovk et al. 2005; Angelopoulos & Bates 2021) with the nonconformity score
  ``1 - p(true class)``; here the calibration scores are out-of-fold predictions on training subjects
  (cross-conformal, Vovk 2015), so every training subject is used once for calibration and never for the model
  that scored it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from sklearn.isotonic import IsotonicRegression

from attunexr.errors import ConfigurationError

__all__ = ["Calibrator", "ConformalGate", "youden_threshold"]

FloatArray = NDArray[np.float64]


def _sigmoid(z: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class Calibrator:
    """Map model log-odds to calibrated probabilities (``method`` = ``"sigmoid"`` | ``"isotonic"``)."""

    def __init__(self, method: str = "sigmoid") -> None:
        if method not in ("sigmoid", "isotonic"):
            raise ConfigurationError(f"calibration must be 'sigmoid' or 'isotonic', not {method!r}")
        self.method = method
        self.a_ = 1.0
        self.b_ = 0.0
        self.iso_: IsotonicRegression | None = None

    def fit(self, logit: FloatArray, y: NDArray[np.int_]) -> Calibrator:
        logit = np.asarray(logit, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.method == "isotonic":
            self.iso_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(logit, y)
            return self
        # Platt scaling with Platt's smoothed targets, fitted by Newton's method (two parameters).
        n1 = y.sum()
        n0 = y.size - n1
        t = np.where(y > 0.5, (n1 + 1.0) / (n1 + 2.0), 1.0 / (n0 + 2.0))

        def loss(a: float, b: float) -> float:
            z = a * logit + b
            # cross-entropy with soft targets, written stably: log(1 + e^z) - t z
            return float(np.sum(np.logaddexp(0.0, z) - t * z))

        a, b = 1.0, 0.0
        current = loss(a, b)
        for _ in range(100):
            p = _sigmoid(a * logit + b)
            w = np.maximum(p * (1 - p), 1e-12)
            g = np.array([np.sum((p - t) * logit), np.sum(p - t)])
            h = np.array(
                [[np.sum(w * logit * logit) + 1e-9, np.sum(w * logit)], [np.sum(w * logit), np.sum(w) + 1e-9]]
            )
            step = np.linalg.solve(h, g)
            scale = 1.0
            while scale > 1e-6:  # backtracking line search keeps Newton from overshooting
                cand = loss(a - scale * step[0], b - scale * step[1])
                if cand <= current:
                    break
                scale /= 2.0
            else:
                break
            a, b = a - scale * step[0], b - scale * step[1]
            improvement = current - cand
            current = cand
            if np.max(np.abs(scale * step)) < 1e-9 or improvement < 1e-12:
                break
        self.a_, self.b_ = float(a), float(b)
        return self

    def transform(self, logit: FloatArray) -> FloatArray:
        logit = np.asarray(logit, dtype=float)
        if self.method == "isotonic":
            assert self.iso_ is not None
            return np.asarray(self.iso_.predict(logit), dtype=float)
        return _sigmoid(self.a_ * logit + self.b_)

    def transform_one(self, logit: float) -> float:
        """Fast path for one value (live use)."""
        if self.method == "isotonic":
            assert self.iso_ is not None
            return float(np.interp(logit, self.iso_.X_thresholds_, self.iso_.y_thresholds_))
        z = max(-40.0, min(40.0, self.a_ * logit + self.b_))
        return 1.0 / (1.0 + math.exp(-z))


def youden_threshold(y: NDArray[np.int_], p: FloatArray) -> float:
    """Probability threshold maximizing Youden's J on ``(y, p)``; predictions are ``p > threshold``.

    The threshold lies midway between the optimal cut value and the next lower observed probability, so no
    training probability sits exactly on it.
    """
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    cands = np.unique(p)
    if cands.size > 512:
        cands = np.unique(np.quantile(p, np.linspace(0, 1, 513)))
    n1 = max(int(np.sum(y == 1)), 1)
    n0 = max(int(np.sum(y == 0)), 1)
    best_t, best_j = 0.5, -np.inf
    for t in cands:
        yhat = p >= t
        j = np.sum(yhat & (y == 1)) / n1 + np.sum(~yhat & (y == 0)) / n0 - 1
        if j > best_j:
            best_t, best_j = float(t), float(j)
    below = p[p < best_t]
    return float((best_t + below.max()) / 2.0) if below.size else float(best_t / 2.0)


class ConformalGate:
    """Split-conformal prediction sets for a binary classifier; abstain unless the set holds exactly one class.

    Parameters
    ----------
    alpha
        Miscoverage level: prediction sets contain the true class with probability >= 1 - alpha (marginally, under
        exchangeability of the calibration and test windows).
    """

    def __init__(self, alpha: float = 0.1) -> None:
        if not 0.0 < alpha < 1.0:
            raise ConfigurationError(f"conformal alpha must lie in (0, 1), not {alpha!r}")
        self.alpha = alpha
        self.qhat_ = 1.0

    def fit(self, p: FloatArray, y: NDArray[np.int_]) -> ConformalGate:
        p = np.asarray(p, dtype=float)
        y = np.asarray(y)
        scores = np.where(y == 1, 1.0 - p, p)
        n = scores.size
        level = min(1.0, math.ceil((n + 1) * (1 - self.alpha)) / n)
        self.qhat_ = float(np.quantile(scores, level, method="higher"))
        return self

    def set_size(self, p: FloatArray) -> NDArray[np.int_]:
        """Size of the prediction set (0, 1 or 2) for each probability of the positive class."""
        p = np.asarray(p, dtype=float)
        return np.asarray(((1.0 - p) <= self.qhat_).astype(int) + (p <= self.qhat_).astype(int))
