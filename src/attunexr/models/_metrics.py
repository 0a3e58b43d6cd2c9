"""Classification metrics with subject-level bootstrap confidence intervals.

Metrics follow their usual definitions (scikit-learn's): AUROC (Mann-Whitney statistic), balanced accuracy,
macro-F1, sensitivity, specificity, Brier score and expected calibration error (ECE; Naeini et al., AAAI 2015,
equal-width bins). Confidence intervals resample *subjects* with replacement (cluster bootstrap; Field & Welsh,
JRSS-B 2007), because windows of one person are not independent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "auroc",
    "balanced_accuracy",
    "binary_metrics",
    "bootstrap_ci",
    "calibration_slope_intercept",
    "decision_curve",
    "net_benefit",
    "paired_auroc_difference",
    "brier",
    "expected_calibration_error",
    "f1_macro",
    "METRIC_NAMES",
    "per_subject_metrics",
    "reliability_curve",
    "sensitivity",
    "specificity",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int_]

#: Metrics reported in ``metrics`` of an evaluation, in order.
METRIC_NAMES = ("auroc", "balanced_accuracy", "f1", "sensitivity", "specificity", "brier", "ece")


def auroc(y: IntArray, p: FloatArray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half); NaN with one class or NaN.

    Counts, for each group of tied scores in sorted order, the negatives below it: one sort and a few linear passes
    (about twice as fast as ranking, which matters inside the bootstraps).
    """
    y = np.asarray(y)
    pos = y == 1
    n1 = int(np.count_nonzero(pos))
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    p = np.asarray(p, dtype=float)
    if not np.isfinite(p).all():
        return float("nan")
    order = np.argsort(p)
    ps = p[order]
    starts = np.empty(ps.size, dtype=bool)
    starts[0] = True
    np.not_equal(ps[1:], ps[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    pos_in = np.bincount(group, weights=pos[order], minlength=int(group[-1]) + 1)
    neg_in = np.bincount(group, minlength=int(group[-1]) + 1) - pos_in
    neg_below = np.cumsum(neg_in) - neg_in
    return float(np.sum(pos_in * (neg_below + 0.5 * neg_in)) / (n1 * n0))


def sensitivity(y: IntArray, yhat: IntArray) -> float:
    """True-positive rate; NaN without positives."""
    pos = np.asarray(y) == 1
    return float(np.mean(np.asarray(yhat)[pos] == 1)) if pos.any() else float("nan")


def specificity(y: IntArray, yhat: IntArray) -> float:
    """True-negative rate; NaN without negatives."""
    neg = np.asarray(y) == 0
    return float(np.mean(np.asarray(yhat)[neg] == 0)) if neg.any() else float("nan")


def balanced_accuracy(y: IntArray, yhat: IntArray) -> float:
    """Mean of sensitivity and specificity (of the classes present)."""
    vals = [v for v in (sensitivity(y, yhat), specificity(y, yhat)) if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def f1_macro(y: IntArray, yhat: IntArray) -> float:
    """Unweighted mean of the F1 scores of the two classes (classes present in ``y`` or ``yhat``)."""
    y = np.asarray(y)
    yhat = np.asarray(yhat)
    scores = []
    for c in (0, 1):
        tp = np.sum((y == c) & (yhat == c))
        fp = np.sum((y != c) & (yhat == c))
        fn = np.sum((y == c) & (yhat != c))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else float("nan")


def brier(y: IntArray, p: FloatArray) -> float:
    """Mean squared difference between the probability and the outcome (Brier, 1950)."""
    return float(np.mean((np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) ** 2))


def expected_calibration_error(y: IntArray, p: FloatArray, n_bins: int = 10) -> float:
    """ECE: bin-size-weighted mean |observed frequency - mean probability| over equal-width bins."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.size == 0:
        return float("nan")
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    nz = counts > 0
    return float(np.sum(np.abs(sum_y[nz] - sum_p[nz])) / y.size)


def reliability_curve(
    y: IntArray, p: FloatArray, n_bins: int = 10
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Mean predicted probability, observed frequency and count per non-empty equal-width bin."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    idx = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    nz = counts > 0
    mean_p = np.bincount(idx, weights=p, minlength=n_bins)[nz] / counts[nz]
    freq = np.bincount(idx, weights=y, minlength=n_bins)[nz] / counts[nz]
    return mean_p, freq, counts[nz]


def binary_metrics(y: IntArray, p: FloatArray, yhat: IntArray) -> dict[str, float]:
    """All metrics of :data:`METRIC_NAMES` for probabilities ``p`` and decisions ``yhat``."""
    return {
        "auroc": auroc(y, p),
        "balanced_accuracy": balanced_accuracy(y, yhat),
        "f1": f1_macro(y, yhat),
        "sensitivity": sensitivity(y, yhat),
        "specificity": specificity(y, yhat),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p),
    }


def bootstrap_ci(
    y: IntArray,
    p: FloatArray,
    yhat: IntArray,
    groups: NDArray[np.object_],
    n_boot: int = 500,
    level: float = 0.95,
    random_state: int = 0,
    metric_fn: Callable[[IntArray, FloatArray, IntArray], dict[str, float]] = binary_metrics,
) -> dict[str, dict[str, object]]:
    """Point estimates and percentile CIs from a subject-level (cluster) bootstrap.

    Returns ``{metric: {"value": x, "ci": [lo, hi]}}``. Replicates where a metric is undefined (e.g. AUROC of a
    resample holding one class only) are dropped for that metric.
    """
    y = np.asarray(y)
    p = np.asarray(p, dtype=float)
    yhat = np.asarray(yhat)
    groups = np.asarray(groups)
    point = metric_fn(y, p, yhat)
    reps: dict[str, list[float]] = {k: [] for k in point}
    for rows in _cluster_resamples(groups, n_boot, random_state):
        vals = metric_fn(y[rows], p[rows], yhat[rows])
        for k, v in vals.items():
            if np.isfinite(v):
                reps[k].append(v)
    alpha = (1.0 - level) / 2.0
    out: dict[str, dict[str, object]] = {}
    for k, v in point.items():
        r = np.asarray(reps[k])
        ci = [float(np.quantile(r, alpha)), float(np.quantile(r, 1 - alpha))] if r.size else [None, None]
        out[k] = {"value": None if not np.isfinite(v) else float(v), "ci": ci}
    return out


def calibration_slope_intercept(y: IntArray, p: FloatArray) -> dict[str, float]:
    """Calibration slope and calibration-in-the-large of predicted probabilities (Van Calster et al., 2019).

    ``slope``: the coefficient of a logistic regression of the outcome on the predictions' log-odds (1 is ideal;
    below 1, predictions are too extreme, the usual sign of overfitting). ``intercept``: the intercept of that
    regression with the log-odds as an offset (0 is ideal; positive when the model predicts too few positives).
    NaN when undefined (one class only).
    """
    from scipy.optimize import brentq
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y).astype(int)
    if y.min() == y.max():
        return {"slope": float("nan"), "intercept": float("nan")}
    q = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    z = np.log(q / (1 - q))
    slope = float(LogisticRegression(C=np.inf, solver="newton-cg").fit(z[:, None], y).coef_[0, 0])

    def score(a: float) -> float:
        return float(np.sum(y - 1.0 / (1.0 + np.exp(-(a + z)))))

    intercept = float(brentq(score, -30.0, 30.0))
    return {"slope": slope, "intercept": intercept}


def net_benefit(y: IntArray, p: FloatArray, thresholds: FloatArray) -> FloatArray:
    """Net benefit of acting when ``p >= t``, for each threshold probability ``t`` (Vickers & Elkin 2006).

    ``NB(t) = TP/n - FP/n * t / (1 - t)``: true positives gained, minus false positives weighted by the odds at
    which a clinician is indifferent between acting and not. Acting on everyone gives
    ``prevalence - (1 - prevalence) * t / (1 - t)``; acting on no one gives 0.
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    if np.any((t <= 0) | (t >= 1)):
        raise ValueError("threshold probabilities must lie strictly between 0 and 1")
    act = p[None, :] >= t[:, None]
    n = y.size
    tp = (act & y[None, :]).sum(axis=1) / n
    fp = (act & ~y[None, :]).sum(axis=1) / n
    return np.asarray(tp - fp * t / (1.0 - t), dtype=float)


def decision_curve(
    y: IntArray, p: FloatArray, thresholds: FloatArray | None = None
) -> dict[str, list[float]]:
    """Net benefit of the model, of acting on every window and of acting on none, over threshold probabilities."""
    t = (
        np.round(np.arange(0.05, 0.951, 0.05), 2)
        if thresholds is None
        else np.asarray(thresholds, dtype=float)
    )
    y = np.asarray(y).astype(bool)
    prev = float(y.mean())
    return {
        "thresholds": [float(v) for v in t],
        "model": [float(v) for v in net_benefit(y, p, t)],
        "act_on_all": [float(prev - (1.0 - prev) * v / (1.0 - v)) for v in t],
        "act_on_none": [0.0] * len(t),
    }


def _cluster_resamples(
    groups: NDArray[np.object_], n_boot: int, random_state: int
) -> Iterator[NDArray[np.intp]]:
    """Row indices of ``n_boot`` resamples that draw whole groups (subjects) with replacement."""
    uniq, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=uniq.size))])
    members = [order[bounds[g] : bounds[g + 1]] for g in range(uniq.size)]
    rng = np.random.default_rng(random_state)
    for _ in range(n_boot):
        pick = rng.integers(0, uniq.size, uniq.size)
        yield np.concatenate([members[g] for g in pick])


def paired_auroc_difference(
    y: IntArray,
    score: FloatArray,
    reference: FloatArray,
    groups: NDArray[np.object_],
    n_boot: int = 500,
    level: float = 0.95,
    random_state: int = 0,
) -> dict[str, object]:
    """AUROC of ``score`` minus AUROC of ``reference`` on the same windows, with a paired subject-level bootstrap.

    Both scores are evaluated on every resample, so the CI reflects the *difference* (the two AUROCs are strongly
    correlated when both rank time-locked labels). Returns ``{"value", "ci", "p_not_better"}``, where
    ``p_not_better`` is the fraction of resamples in which ``score`` is not above ``reference`` (a bootstrap
    one-sided p-value for "no improvement").
    """
    y = np.asarray(y)
    score = np.asarray(score, dtype=float)
    reference = np.asarray(reference, dtype=float)
    point = auroc(y, score) - auroc(y, reference)
    reps = []
    for rows in _cluster_resamples(np.asarray(groups), n_boot, random_state):
        d = auroc(y[rows], score[rows]) - auroc(y[rows], reference[rows])
        if np.isfinite(d):
            reps.append(d)
    r = np.asarray(reps)
    alpha = (1.0 - level) / 2.0
    return {
        "value": float(point) if np.isfinite(point) else None,
        "ci": [float(np.quantile(r, alpha)), float(np.quantile(r, 1 - alpha))] if r.size else [None, None],
        "p_not_better": float(np.mean(r <= 0.0)) if r.size else None,
    }


def per_subject_metrics(
    y: IntArray, p: FloatArray, yhat: IntArray, groups: NDArray[np.object_]
) -> list[dict[str, object]]:
    """One row per subject: AUROC (``None`` when the subject has one class), balanced accuracy, n, positives."""
    rows: list[dict[str, object]] = []
    groups = np.asarray(groups)
    for g in sorted(set(groups.tolist()), key=str):
        m = groups == g
        a = auroc(y[m], p[m])
        rows.append(
            {
                "subject": str(g),
                "auroc": None if not np.isfinite(a) else round(a, 4),
                "balanced_accuracy": round(balanced_accuracy(y[m], yhat[m]), 4),
                "n": int(m.sum()),
                "n_positive": int(np.sum(y[m] == 1)),
            }
        )
    return rows
