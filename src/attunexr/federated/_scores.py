"""What a site reports of a model on its own people: AUROC with a subject-level bootstrap CI, counts and log-loss.

Aggregate numbers only. The AUROC and the bootstrap repeat :func:`attunexr.models.auroc` and
:func:`attunexr.models.bootstrap_ci` (a test holds them equal) so that a site process does not import the models
package: Flower starts a fresh process for every message.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.federated._model import logistic_loss, predict_logit

__all__ = ["auroc", "evaluate_arrays", "subject_bootstrap_auroc"]

Weights = list[NDArray[np.float64]]


def auroc(t: NDArray[np.int_], score: NDArray[np.float64]) -> float:
    """AUROC by the Mann-Whitney statistic (ties count one half); NaN with one class or non-finite scores.

    The same computation as :func:`attunexr.models.auroc` (a test holds them equal); repeated here because
    importing :mod:`attunexr.models` costs seconds and Flower evaluates in a fresh process for every message.
    """
    t = np.asarray(t)
    pos = t == 1
    n1 = int(np.count_nonzero(pos))
    n0 = t.size - n1
    score = np.asarray(score, dtype=np.float64)
    if n1 == 0 or n0 == 0 or not np.isfinite(score).all():
        return math.nan
    order = np.argsort(score)
    ps = score[order]
    starts = np.empty(ps.size, dtype=bool)
    starts[0] = True
    np.not_equal(ps[1:], ps[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    pos_in = np.bincount(group, weights=pos[order], minlength=int(group[-1]) + 1)
    neg_in = np.bincount(group, minlength=int(group[-1]) + 1) - pos_in
    neg_below = np.cumsum(neg_in) - neg_in
    return float(np.sum(pos_in * (neg_below + 0.5 * neg_in)) / (n1 * n0))


def subject_bootstrap_auroc(
    t: NDArray[np.int_],
    score: NDArray[np.float64],
    groups: NDArray[Any],
    n_boot: int,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of the AUROC over ``n_boot`` resamples of whole subjects with replacement.

    Draws exactly as :func:`attunexr.models.bootstrap_ci` (same generator, same order), so the CI equals the
    project's for the same seed (a test holds them equal); resamples holding one class only are dropped.
    """
    uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=uniq.size))])
    members = [order[bounds[g] : bounds[g + 1]] for g in range(uniq.size)]
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        pick = rng.integers(0, uniq.size, uniq.size)
        rows = np.concatenate([members[g] for g in pick])
        v = auroc(t[rows], score[rows])
        if np.isfinite(v):
            reps.append(v)
    if not reps:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    r = np.asarray(reps)
    return float(np.quantile(r, alpha)), float(np.quantile(r, 1 - alpha))


def evaluate_arrays(
    weights: Weights,
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    groups: NDArray[Any],
    *,
    n_boot: int = 500,
    seed: int = 0,
) -> dict[str, float]:
    """``{"auroc", "auroc_ci_low", "auroc_ci_high", "n_subjects", "n_windows", "loss"}`` of ``weights`` on
    standardized rows (numbers only; NaN where undefined, e.g. the CI with ``n_boot=0``). ``loss`` is the plain
    (unweighted) mean log-loss."""
    z = predict_logit(weights, X)
    t = (np.asarray(y) == 1.0).astype(int)
    ci_low, ci_high = subject_bootstrap_auroc(t, z, groups, n_boot, seed) if n_boot > 0 else (math.nan, math.nan)
    point = auroc(t, z)
    return {
        "auroc": float(point),
        "auroc_ci_low": ci_low,
        "auroc_ci_high": ci_high,
        "n_subjects": float(np.unique(np.asarray(groups)).size),
        "n_windows": float(y.size),
        "loss": logistic_loss(weights, X, y),
    }
