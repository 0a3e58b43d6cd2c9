"""Evaluation protocols (leave-one-subject-out, external) and the JSON result they produce.

Every fitted quantity (normalization references are per person and label-free except for the baseline rest;
calibration, threshold, conformal gate, model) is learned inside the training subjects of a fold: the held-out
subject's rows are passed to ``fit`` never, and to prediction only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError, ModelError
from attunexr.models._detector import TIME_IN_VR, _Detector
from attunexr.models._metrics import (
    METRIC_NAMES,
    auroc,
    bootstrap_ci,
    calibration_slope_intercept,
    decision_curve,
    expected_calibration_error,
    paired_auroc_difference,
    per_subject_metrics,
)

__all__ = [
    "compare_predictions",
    "external_predictions",
    "loso_predictions",
    "metadata_subgroups",
    "provenance",
    "selection_block",
    "summarize",
]

logger = logging.getLogger(__name__)

ABSTENTION_METHOD = (
    "quality gate ('poor_signal_quality': with quality_mode 'groups' only when no core signal group (cardiac, EDA) "
    "has quality >= 0.5, a poor group's features are blanked instead; with 'row' whenever quality_ok is false) and "
    "cross-conformal prediction sets "
    "(nonconformity 1 - p(true class), scores from subject-grouped out-of-fold predictions inside the training "
    "data, miscoverage alpha); abstain when the set is not exactly one class"
)
SELECTION_METHOD = (
    "nested: inside each outer training set, candidates are compared by their out-of-fold AUROC on "
    "subject-grouped inner folds of the training subjects only; the best one answers for the held-out subject"
)
THRESHOLD_METHOD = "Youden's J on calibrated out-of-fold predictions of the training subjects of each fold"


def _subjects(table: pd.DataFrame) -> np.ndarray:
    if "subject" not in table.columns:
        raise ConfigurationError(
            "the feature table has no 'subject' column; subject-wise evaluation needs it"
        )
    return np.asarray(table["subject"].astype(str).to_numpy())


def _collect(table: pd.DataFrame, y: np.ndarray, det: _Detector, fold: str) -> pd.DataFrame:
    out = det.assess(table)
    keep = ~np.isnan(y)
    res = pd.DataFrame(
        {
            "subject": table["subject"].astype(str).to_numpy()[keep],
            "t_end": table["t_end"].to_numpy(dtype=float)[keep],
            "label": table["label"].astype(str).to_numpy()[keep] if "label" in table else "",
            "y": y[keep].astype(int),
            "fold": fold,
        }
    )
    for col in ("probability", "lower", "upper", "decision", "abstained", "reason"):
        res[col] = out[col].to_numpy()[keep]
    for col in out.columns:
        if col.startswith(("p_", "d_")):  # per-head outputs of model="auto" (fixed configurations)
            res[col] = out[col].to_numpy()[keep]
    head = getattr(det, "head_", None)
    if head is not None:
        res["selected"] = head
    if TIME_IN_VR in table.columns:
        res[TIME_IN_VR] = table[TIME_IN_VR].to_numpy(dtype=float)[keep]
    return res


def loso_predictions(
    table: pd.DataFrame,
    y: np.ndarray,
    make_detector: Callable[[], _Detector],
    on_fold: Callable[[str], None] | None = None,
    fit_hook: Callable[[pd.DataFrame], None] | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Leave-one-subject-out predictions for every labelled row.

    Parameters
    ----------
    table
        Feature rows of all subjects (all windows, labelled or not: unlabelled ones give context only).
    y
        Target per row: 1, 0 or NaN.
    make_detector
        Returns a fresh, unfitted detector for each fold.
    fit_hook
        Called with each fold's training table just before ``fit`` (used by the no-leakage test).
    n_jobs
        Folds run in this many worker processes (joblib); ``1`` runs them here, in order.
    """
    y = np.asarray(y, dtype=float)
    subj = _subjects(table)
    uniq = [s for s in pd.unique(subj) if np.any(~np.isnan(y[subj == s]))]
    if len(uniq) < 3:
        raise ModelError(
            f"leave-one-subject-out needs at least 3 subjects with labelled windows, got {len(uniq)}"
        )

    def one(s: str) -> pd.DataFrame:
        train = subj != s
        test = ~train
        tr_table = table.loc[train]
        if fit_hook is not None:
            fit_hook(tr_table)
        det = make_detector().fit(tr_table, y[train])
        return _collect(table.loc[test], y[test], det, fold=str(s))

    parts = []
    if n_jobs == 1:
        for s in uniq:
            parts.append(one(s))
            if on_fold is not None:
                on_fold(str(s))
    else:
        from joblib import Parallel, delayed

        for part in Parallel(n_jobs=n_jobs, return_as="generator")(delayed(one)(s) for s in uniq):
            parts.append(part)
            if on_fold is not None:
                on_fold(str(part["fold"].iloc[0]) if len(part) else "")
    return pd.concat(parts, ignore_index=True)


def external_predictions(det: _Detector, table: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Predictions of an already fitted detector on another source (no tuning on it)."""
    return _collect(table, np.asarray(y, dtype=float), det, fold="external")


def _metric_block(pred: pd.DataFrame, n_boot: int, seed: int) -> dict[str, Any]:
    return bootstrap_ci(
        pred["y"].to_numpy(),
        pred["probability"].to_numpy(dtype=float),
        pred["decision"].to_numpy(),
        pred["subject"].to_numpy(),
        n_boot=n_boot,
        random_state=seed,
    )


def _auroc_ci(y: np.ndarray, score: np.ndarray, groups: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
        return {"auroc": auroc(yy, pp)}

    return bootstrap_ci(y, score, np.zeros_like(y), groups, n_boot=n_boot, random_state=seed, metric_fn=fn)[
        "auroc"
    ]


def _fixed_figures(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, n_boot: int, seed: int
) -> dict[str, Any]:
    def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
        return {"auroc": auroc(yy, pp), "ece": expected_calibration_error(yy, pp)}

    out = bootstrap_ci(y, p, np.zeros_like(y), groups, n_boot=n_boot, random_state=seed, metric_fn=fn)
    return {"auroc": out["auroc"], "ece": out["ece"]}


def selection_block(pred: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> dict[str, Any]:
    """Nested-selection summary: per-fold choices and the outer result of every fixed candidate.

    Uses the per-head columns ``p_<head>`` of ``model="auto"`` detectors; empty when the predictions come from one
    fixed configuration.
    """
    if "selected" not in pred.columns:
        return {}
    y = pred["y"].to_numpy()
    groups = pred["subject"].to_numpy()
    fixed: dict[str, Any] = {}
    heads = [c[2:] for c in pred.columns if c.startswith("p_")]
    for h in heads:
        fixed[h] = _fixed_figures(y, pred[f"p_{h}"].to_numpy(dtype=float), groups, n_boot, seed)
    per_fold = pred.groupby("fold")["selected"].first()
    nested = _fixed_figures(y, pred["probability"].to_numpy(dtype=float), groups, n_boot, seed)
    return {
        "method": SELECTION_METHOD,
        "candidates": sorted(fixed),
        "times_selected": {str(k): int(v) for k, v in per_fold.value_counts().items()},
        "per_fold": {str(k): str(v) for k, v in per_fold.items()},
        "nested": {
            **nested,
            "description": "outer LOSO result of the whole procedure (select inside, then fit)",
        },
        "fixed": {
            **fixed,
            "description": "outer LOSO result of each candidate used in every fold (no selection); picking the "
            "best of these after the fact would be optimistic",
        },
        "ci_method": f"percentile, {n_boot} subject-level bootstrap resamples, 95 %",
    }


#: Packages whose versions can change an evaluation's figures.
PROVENANCE_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "lightgbm")


def table_fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 of a feature table's values and column names (row order included): same table, same fingerprint."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, table.columns)).encode())
    h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return h.hexdigest()


def provenance(table: pd.DataFrame | None = None) -> dict[str, Any]:
    """What produced a result: attunexr, Python and package versions, the time, and the feature table's fingerprint.

    Two results with the same fingerprint and versions were computed from the same windows with the same code, so
    their figures are comparable (and, with the fixed seeds, reproducible).
    """
    import platform
    from importlib import metadata

    import attunexr

    packages: dict[str, str | None] = {}
    for name in PROVENANCE_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    out: dict[str, Any] = {
        "attunexr": attunexr.__version__,
        "python": platform.python_version(),
        "packages": packages,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if table is not None:
        out["feature_table"] = {
            "sha256": table_fingerprint(table),
            "rows": int(len(table)),
            "columns": int(table.shape[1]),
        }
    return out


#: Columns that identify one held-out window in a prediction table.
WINDOW_KEYS = ("subject", "t_end")


def compare_predictions(
    a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 500, seed: int = 0, names: tuple[str, str] = ("a", "b")
) -> dict[str, Any]:
    """Paired comparison of two prediction tables on the windows they share: AUROC of ``a`` minus AUROC of ``b``.

    Windows are matched by subject and window end; both tables must label every shared window the same way (else
    they answer different questions and :class:`ModelError` says so). The CI comes from one subject-level bootstrap
    applied to both (:func:`paired_auroc_difference`).
    """
    keys = list(WINDOW_KEYS)
    for name, df in zip(names, (a, b), strict=True):
        missing = [c for c in (*keys, "y", "probability") if c not in df.columns]
        if missing:
            raise ModelError(
                f"predictions {name!r} lack the columns {missing} (use a predictions.csv from --report)"
            )
        dup = df.duplicated(keys)
        if dup.any():
            raise ModelError(
                f"predictions {name!r}: {int(dup.sum())} windows repeat a (subject, t_end) pair, so they cannot be "
                "matched to the other table"
            )
    left = a[[*keys, "y", "probability"]].assign(subject=a["subject"].astype(str))
    right = b[[*keys, "y", "probability"]].assign(subject=b["subject"].astype(str))
    both = left.merge(right, on=keys, suffixes=("_a", "_b"))
    if both.empty:
        raise ModelError(f"predictions {names[0]!r} and {names[1]!r} share no window (subject, t_end)")
    differ = both["y_a"] != both["y_b"]
    if differ.any():
        raise ModelError(
            f"predictions {names[0]!r} and {names[1]!r} label {int(differ.sum())} shared windows differently: "
            "they come from different tasks or label rules"
        )
    y = both["y_a"].to_numpy(dtype=int)
    if len(set(y.tolist())) < 2:
        raise ModelError("the shared windows hold one class only: AUROC is undefined")
    pa, pb = both["probability_a"].to_numpy(dtype=float), both["probability_b"].to_numpy(dtype=float)
    groups = both["subject"].to_numpy()
    return {
        "names": list(names),
        "n_windows": int(len(both)),
        "n_subjects": int(both["subject"].nunique()),
        "n_only_in": {names[0]: int(len(a) - len(both)), names[1]: int(len(b) - len(both))},
        "auroc": {names[0]: auroc(y, pa), names[1]: auroc(y, pb)},
        "difference": {
            **paired_auroc_difference(y, pa, pb, groups, n_boot=n_boot, random_state=seed),
            "description": f"AUROC of {names[0]!r} minus AUROC of {names[1]!r} on the shared windows; paired "
            f"subject-level bootstrap, {n_boot} resamples, 95 %",
        },
    }


#: Metadata subgroups with fewer subjects than this are flagged ``too_few_subjects``: their CIs mean little.
SUBGROUP_MIN_SUBJECTS = 5

#: Bootstrap resamples for each metadata subgroup (at most; fewer when the evaluation itself uses fewer).
SUBGROUP_BOOT = 200


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))


def metadata_subgroups(
    pred: pd.DataFrame,
    variables: dict[str, str],
    values: dict[str, dict[str, Any]],
    n_boot: int = SUBGROUP_BOOT,
    seed: int = 0,
    elapsed_time_baseline: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Results by subject metadata recorded before the session: ``(subgroups, variable descriptions)``.

    A numeric variable is split at the median of the evaluated subjects' values (below / at or above; no labels are
    used); a text variable is grouped by answer. Each group gets AUROC and ECE with subject-bootstrap CIs (when it
    holds both classes), its window and subject counts, and for cybersickness the time-only AUROC on the same rows.
    Subjects without a value are left out of that variable's groups (``n_subjects_missing``). Groups of fewer than
    :data:`SUBGROUP_MIN_SUBJECTS` people are flagged ``too_few_subjects``: a subject bootstrap over 2-4 people says
    little.
    """
    subj = pred["subject"].astype(str).to_numpy()
    present = sorted(set(subj))
    groups_out: dict[str, Any] = {}
    described: dict[str, Any] = {}
    for var, description in variables.items():
        known: dict[str, Any] = {}
        for s_ in present:
            v = values.get(s_, {}).get(var)
            if v is not None and (not isinstance(v, float) or math.isfinite(v)):
                known[s_] = v
        if len(known) < 2:
            continue
        if all(_is_number(v) for v in known.values()):
            thr = float(np.median([float(v) for v in known.values()]))
            name_of = {
                s: f"below median (< {thr:g})" if float(v) < thr else f"at or above median (>= {thr:g})"
                for s, v in known.items()
            }
            split = f"median of the {len(known)} evaluated subjects with a value ({thr:g})"
        else:
            name_of = {s: str(v) for s, v in known.items()}
            split = "by answer"
        if len(set(name_of.values())) < 2:
            continue
        block: dict[str, Any] = {}
        for group in sorted(set(name_of.values())):
            members = [s for s, g in name_of.items() if g == group]
            rows = pred[np.isin(subj, members)]
            entry: dict[str, Any] = {
                "n": int(len(rows)),
                "n_subjects": len(members),
                "too_few_subjects": len(members) < SUBGROUP_MIN_SUBJECTS,
            }
            if rows["y"].nunique() == 2:
                entry.update(
                    _fixed_figures(
                        rows["y"].to_numpy(),
                        rows["probability"].to_numpy(dtype=float),
                        rows["subject"].to_numpy(),
                        n_boot,
                        seed,
                    )
                )
                if elapsed_time_baseline and TIME_IN_VR in rows.columns:
                    entry["elapsed_time_auroc"] = auroc(
                        rows["y"].to_numpy(), rows[TIME_IN_VR].to_numpy(dtype=float)
                    )
            else:
                entry["auroc"] = {"value": None, "ci": [None, None]}
            block[group] = entry
        groups_out[f"by_{var}"] = block
        described[var] = {
            "description": description,
            "split": split,
            "n_subjects_missing": len(present) - len(known),
        }
    return groups_out, described


def _calibration_block(pred: pd.DataFrame, n_boot: int, seed: int) -> dict[str, Any]:
    def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
        return calibration_slope_intercept(yy, pp)

    y = pred["y"].to_numpy()
    out: dict[str, Any] = bootstrap_ci(
        y,
        pred["probability"].to_numpy(dtype=float),
        np.zeros_like(y),
        pred["subject"].to_numpy(),
        n_boot=n_boot,
        random_state=seed,
        metric_fn=fn,
    )
    out["ece"] = expected_calibration_error(y, pred["probability"].to_numpy(dtype=float))
    out["description"] = (
        "calibration slope (ideal 1; below 1 = predictions too extreme) and calibration-in-the-large intercept "
        f"(ideal 0), over all labelled windows; CIs from {n_boot} subject-level bootstrap resamples; ece repeats "
        "metrics.ece"
    )
    return out


def summarize(
    pred: pd.DataFrame,
    *,
    task: str,
    protocol: str,
    dataset: str,
    normalize: str,
    n_boot: int = 500,
    seed: int = 0,
    elapsed_time_baseline: bool = False,
    extra: dict[str, Any] | None = None,
    selection_boot: int | None = None,
    metadata: tuple[dict[str, str], dict[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The output-contract object for one set of predictions (see ``docs/models.md``).

    ``metadata`` = (variable descriptions, values by subject) adds subgroup results by those variables
    (:func:`metadata_subgroups`).
    """
    if pred.empty:
        raise ModelError("no labelled windows to evaluate")
    t0 = time.perf_counter()
    metrics = _metric_block(pred, n_boot, seed)
    y = pred["y"].to_numpy()
    accepted = ~pred["abstained"].to_numpy(dtype=bool)
    answered = pred[accepted]
    acc_metrics = (
        {k: v for k, v in _metric_block(answered, n_boot, seed).items() if k in METRIC_NAMES}
        if accepted.any() and answered["y"].nunique() == 2
        else {}
    )
    reasons = pred.loc[~accepted, "reason"].value_counts().to_dict()
    baselines: dict[str, Any] = {}
    if elapsed_time_baseline:
        if TIME_IN_VR not in pred.columns:
            raise ModelError("the elapsed-time baseline needs a 'time_in_vr' column")
        tv = pred[TIME_IN_VR].to_numpy(dtype=float)
        ok = np.isfinite(tv)
        subj = pred["subject"].to_numpy()[ok]
        ci = _auroc_ci(y[ok], tv[ok], subj, n_boot, seed)
        gain = paired_auroc_difference(
            y[ok],
            pred["probability"].to_numpy(dtype=float)[ok],
            tv[ok],
            subj,
            n_boot=n_boot,
            random_state=seed,
        )
        baselines["elapsed_time"] = {
            "auroc": ci["value"],
            "ci": ci["ci"],
            "description": "time in VR alone as the score (no fitting; AUROC is invariant to monotone calibration)",
            "model_minus_baseline": {
                **gain,
                "description": (
                    "the detector's AUROC minus the time-only AUROC on the same windows; CI from the same paired "
                    "subject-level bootstrap; p_not_better = fraction of resamples where the detector is not better"
                ),
            },
        }
    subgroups: dict[str, Any] = {}
    labels = pred["label"].astype(str)
    pos_labels = sorted(set(labels[pred["y"] == 1]))
    if len(pos_labels) > 1:
        neg = pred["y"].to_numpy() == 0
        by = {}
        for lab in pos_labels:
            m = neg | (labels == lab).to_numpy()
            sub = pred[m]
            by[lab] = {
                **{
                    k: v for k, v in _metric_block(sub, n_boot, seed).items() if k in ("auroc", "sensitivity")
                },
                "n": int((labels == lab).sum()),
            }
        subgroups["positive_condition_vs_all_negatives"] = by
    subgroup_variables: dict[str, Any] = {}
    if metadata is not None:
        more, subgroup_variables = metadata_subgroups(
            pred, metadata[0], metadata[1], min(n_boot, SUBGROUP_BOOT), seed, elapsed_time_baseline
        )
        subgroups.update(more)
    result: dict[str, Any] = {
        "task": task,
        "protocol": protocol,
        "dataset": dataset,
        "n_subjects": int(pred["subject"].nunique()),
        "n_windows": int(len(pred)),
        "n_positive": int(pred["y"].sum()),
        "normalize": normalize,
        "metrics": {k: metrics[k] for k in METRIC_NAMES},
        "metrics_denominator": (
            f"all {len(pred)} labelled held-out windows; the detector gives a probability for every one of them, "
            "including the windows on which it abstains (abstained_fraction); see metrics_answered for the "
            "answered windows only"
        ),
        "metrics_answered": {
            **acc_metrics,
            "n_windows": int(accepted.sum()),
            "description": "the same metrics on the windows where the detector did not abstain",
        },
        "ci_method": f"percentile, {n_boot} subject-level (cluster) bootstrap resamples, 95 %",
        "threshold_method": THRESHOLD_METHOD,
        "per_subject": per_subject_metrics(
            y,
            pred["probability"].to_numpy(dtype=float),
            pred["decision"].to_numpy(),
            pred["subject"].to_numpy(),
        ),
        "abstained_fraction": float(1.0 - accepted.mean()),
        "abstention": {
            "method": ABSTENTION_METHOD,
            "by_reason": {str(k): int(v) for k, v in reasons.items()},
            "fraction_by_reason": {str(k): round(int(v) / len(pred), 4) for k, v in reasons.items()},
            "n_accepted": int(accepted.sum()),
        },
        "baselines": baselines,
        "subgroups": subgroups,
        "calibration": _calibration_block(pred, min(n_boot, SUBGROUP_BOOT), seed),
        "decision_curve": {
            **decision_curve(y, pred["probability"].to_numpy(dtype=float)),
            "description": "net benefit (Vickers & Elkin 2006) of acting when the probability reaches each "
            "threshold, over all labelled windows, against acting on every window or on none; a model is useful "
            "at the thresholds where its curve lies above both",
        },
    }
    if subgroup_variables:
        result["subgroup_variables"] = subgroup_variables
    sel = selection_block(pred, n_boot=selection_boot if selection_boot is not None else n_boot, seed=seed)
    if sel:
        result["selection"] = sel
    if extra:
        result.update(extra)
    logger.info("summarized %d windows in %.2f s", len(pred), time.perf_counter() - t0)
    return result
