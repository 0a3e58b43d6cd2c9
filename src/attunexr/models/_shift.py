"""How far new data lies from a detector's training data (dataset shift), measured on what the model sees.

A fitted detector keeps a small sample of its training design rows (:func:`reference_sample`: up to
:data:`ROWS_PER_RECORDING` evenly spaced windows per training recording, person-relative and context columns
included; the people are numbered, nothing identifies them). :func:`feature_shift` compares new windows with it:

- a *domain classifier* (LightGBM gradient-boosted trees, which accept missing values) learns to tell training windows from
  new ones; its AUROC is cross-validated with whole people held out (GroupKFold over training people and new
  people alike), so it measures how different the new *people's* data look, not how well it recognizes a person;
  0.5 means indistinguishable, 1.0 completely separate (Rabanser et al., "Failing loudly", NeurIPS 2019, use
  domain classifiers the same way);
- the standardized mean difference of every design column (new minus training, in pooled standard deviations),
  the largest first;
- a level: ``small`` (AUROC < 0.65), ``moderate`` (0.65 to < 0.80) or ``large`` (>= 0.80).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.models._metrics import auroc

__all__ = ["SHIFT_LEVELS", "feature_shift", "reference_sample", "shift_level"]

#: training windows kept per training recording
ROWS_PER_RECORDING = 30
#: (upper AUROC bound, level): the first bound above the AUROC names the level
SHIFT_LEVELS: tuple[tuple[float, str], ...] = ((0.65, "small"), (0.80, "moderate"), (float("inf"), "large"))
#: new windows compared at most (evenly spaced per person)
MAX_NEW_ROWS = 3000
N_TOP = 8


def shift_level(domain_auroc: float) -> str:
    """``small`` / ``moderate`` / ``large`` for a domain-classifier AUROC (see :data:`SHIFT_LEVELS`)."""
    for bound, name in SHIFT_LEVELS:
        if domain_auroc < bound:
            return name
    return SHIFT_LEVELS[-1][1]


def _even_rows(groups: NDArray[Any], per_group: int) -> NDArray[np.intp]:
    """Indices of up to ``per_group`` evenly spaced rows of each group (in row order)."""
    out: list[NDArray[np.intp]] = []
    for g in dict.fromkeys(groups.tolist()):
        idx = np.flatnonzero(groups == g)
        if idx.size > per_group:
            idx = idx[np.linspace(0, idx.size - 1, per_group).round().astype(np.intp)]
        out.append(idx)
    return np.concatenate(out) if out else np.empty(0, dtype=np.intp)


def reference_sample(
    Z: NDArray[np.float64], keys: NDArray[Any], columns: list[str], per_recording: int = ROWS_PER_RECORDING
) -> dict[str, Any]:
    """A small sample of training design rows for :func:`feature_shift` (people numbered, no identifiers)."""
    keys = np.asarray(keys).astype(str)
    rows = _even_rows(keys, per_recording)
    codes = np.unique(keys[rows], return_inverse=True)[1]
    return {
        "values": np.asarray(Z[rows], dtype=np.float32),
        "groups": np.asarray(codes, dtype=np.int32),
        "columns": list(columns),
        "n_recordings": int(codes.max() + 1) if codes.size else 0,
    }


def _smd(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Standardized mean difference of each column (``b`` minus ``a``, pooled standard deviation)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        ma, mb = np.nanmean(a, axis=0), np.nanmean(b, axis=0)
        va, vb = np.nanvar(a, axis=0, ddof=1), np.nanvar(b, axis=0, ddof=1)
        pooled = np.sqrt((va + vb) / 2.0)
        d = (mb - ma) / pooled
    return np.where(np.isfinite(d), d, np.nan)


def feature_shift(
    reference: dict[str, Any] | None,
    Z_new: NDArray[np.float64],
    groups_new: NDArray[Any],
    *,
    n_splits: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``shift`` block: domain-classifier AUROC (person-grouped CV), largest feature differences, level.

    Parameters
    ----------
    reference
        :func:`reference_sample` of the training data (``None``: the model has none; the block says so).
    Z_new
        Design rows of the new windows, columns as in ``reference["columns"]``.
    groups_new
        Person (or recording) of each new row, for the grouped cross-validation.
    """
    base: dict[str, Any] = {
        "method": "domain classifier (gradient-boosted trees) telling training windows from these windows, "
        f"AUROC by {n_splits}-fold cross-validation with whole people held out; standardized mean differences "
        "(new minus training, pooled SD) of the model's design columns",
        "cutoffs": {
            "small": f"AUROC < {SHIFT_LEVELS[0][0]}",
            "moderate": f"{SHIFT_LEVELS[0][0]} <= AUROC < {SHIFT_LEVELS[1][0]}",
            "large": f"AUROC >= {SHIFT_LEVELS[1][0]}",
        },
    }
    if reference is None or len(reference.get("values", ())) == 0:
        return {
            **base,
            "level": None,
            "domain_auroc": None,
            "note": "the model keeps no sample of its training data (trained by an older attunexr); retrain it "
            "to measure shift",
        }
    import lightgbm as lgb
    from sklearn.model_selection import GroupKFold
    from threadpoolctl import threadpool_limits

    A = np.asarray(reference["values"], dtype=np.float64)
    ga = np.asarray(reference["groups"]).astype(str)
    gb_all = np.asarray(groups_new).astype(str)
    keep = _even_rows(gb_all, max(1, MAX_NEW_ROWS // max(1, np.unique(gb_all).size)))
    B = np.asarray(Z_new, dtype=np.float64)[keep]
    gb = gb_all[keep]
    X = np.vstack([A, B])
    y = np.r_[np.zeros(len(A), dtype=int), np.ones(len(B), dtype=int)]
    groups = np.r_[np.char.add("train:", ga), np.char.add("new:", gb)]
    n_people_new = int(np.unique(gb).size)
    k = min(n_splits, int(np.unique(np.char.add("train:", ga)).size), n_people_new)
    d = _smd(A, B)
    order = np.argsort(-np.nan_to_num(np.abs(d), nan=-1.0))
    top = [
        {"feature": str(reference["columns"][i]), "standardized_difference": round(float(d[i]), 3)}
        for i in order[:N_TOP]
        if np.isfinite(d[i])
    ]
    out: dict[str, Any] = {
        **base,
        "n_training_windows": len(A),
        "n_training_people": int(reference.get("n_recordings", np.unique(ga).size)),
        "n_new_windows": len(B),
        "n_new_people": n_people_new,
        "top_features": top,
    }
    if k < 2:
        out.update(
            level=None,
            domain_auroc=None,
            note="needs at least two new people for person-grouped cross-validation; only the standardized "
            "differences are given",
        )
        return out
    oof = np.full(len(y), np.nan)
    # one thread: on a shared machine, OpenMP threads that wait for each other make this 10x slower
    with threadpool_limits(limits=1):
        for tr, va in GroupKFold(n_splits=k).split(X, y, groups):
            if np.unique(y[tr]).size < 2:
                continue
            clf = lgb.LGBMClassifier(
                n_estimators=100,
                learning_rate=0.1,
                num_leaves=15,
                min_child_samples=20,
                colsample_bytree=0.5,
                random_state=seed,
                n_jobs=1,
                verbose=-1,
            )
            clf.fit(X[tr], y[tr])
            oof[va] = np.asarray(clf.predict_proba(X[va]), dtype=float)[:, 1]
    ok = np.isfinite(oof)
    value = float(auroc(y[ok], oof[ok])) if ok.any() and np.unique(y[ok]).size == 2 else float("nan")
    out["domain_auroc"] = round(value, 4) if np.isfinite(value) else None
    out["level"] = shift_level(value) if np.isfinite(value) else None
    out["large"] = out["level"] == "large"
    return out
