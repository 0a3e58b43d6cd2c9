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
    "label_balance",
    "loso_predictions",
    "metadata_subgroups",
    "paired_site_difference",
    "provenance",
    "selection_block",
    "site_block",
    "site_recalibration",
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
    if "session" in table.columns and table["session"].astype(str).nunique() > 1:
        # a person's recordings share t_end values
        res["session"] = table["session"].astype(str).to_numpy()[keep]
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
    if "session" in a.columns and "session" in b.columns:
        keys.insert(1, "session")  # several recordings per person (e.g. nurse-stress segments)
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


# --- several sites ---------------------------------------------------------------------------------------
RECALIBRATION_METHOD = (
    "logistic (Platt-style) recalibration of the model's log-odds on the windows of k people of the new site: "
    "p' = sigmoid(a + b * logit(p)) with a, b fitted by maximum likelihood on those people only, and a new "
    "decision threshold chosen by Youden's J on them; the figures are measured on the site's other people (never "
    "used to fit). The k people are drawn at random among those with windows of both classes; intervals are the "
    "2.5th-97.5th percentiles over the draws. AUROC is unchanged by this monotone map."
)
#: ECE must improve in at least this fraction of draws for k local people to count as enough.
RECALIBRATION_SUFFICIENT = 0.95


def label_balance(pred: pd.DataFrame) -> dict[str, Any]:
    """Per-subject window counts by class and how many subjects hold both classes (what a per-person AUROC needs)."""
    per: dict[str, dict[str, int]] = {}
    for s, grp in pred.groupby(pred["subject"].astype(str), sort=True):
        per[str(s)] = {"positive": int((grp["y"] == 1).sum()), "negative": int((grp["y"] == 0).sum())}
    both = sorted(s for s, v in per.items() if v["positive"] and v["negative"])
    only_pos = sorted(s for s, v in per.items() if v["positive"] and not v["negative"])
    only_neg = sorted(s for s, v in per.items() if v["negative"] and not v["positive"])
    return {
        "per_subject": per,
        "n_subjects_both_classes": len(both),
        "subjects_both_classes": both,
        "subjects_positive_only": only_pos,
        "subjects_negative_only": only_neg,
        "auroc_scope": (
            "metrics.auroc pools the windows of all held-out people (each scored by a model that never saw them); "
            f"a per-person AUROC exists only for the {len(both)} subjects with both classes (per_subject)"
        ),
    }


def site_block(pred: pd.DataFrame, trained_on: list[str], n_boot: int = 500, seed: int = 0) -> dict[str, Any]:
    """Figures of one held-out site: AUROC, ECE and the other metrics with subject-bootstrap CIs, calibration."""
    metrics = _metric_block(pred, n_boot, seed)
    per = per_subject_metrics(
        pred["y"].to_numpy(),
        pred["probability"].to_numpy(dtype=float),
        pred["decision"].to_numpy(),
        pred["subject"].to_numpy(),
    )
    person = [float(r["auroc"]) for r in per if r["auroc"] is not None]  # type: ignore[arg-type]
    return {
        "auroc": metrics["auroc"],
        "ece": metrics["ece"],
        "metrics": {k: metrics[k] for k in METRIC_NAMES},
        "calibration": _calibration_block(pred, min(n_boot, SUBGROUP_BOOT), seed),
        "n_subjects": int(pred["subject"].nunique()),
        "n_windows": int(len(pred)),
        "n_positive": int(pred["y"].sum()),
        "trained_on": list(trained_on),
        "abstained_fraction": float(pred["abstained"].to_numpy(dtype=bool).mean()),
        "per_person_auroc": {
            "median": float(np.median(person)) if person else None,
            "n_subjects": len(person),
            "description": "median over the held-out people with both classes of their own AUROC",
        },
        "label_balance": label_balance(pred),
    }


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)), dtype=float)


def _calibration_figures(y: np.ndarray, p: np.ndarray, decision: np.ndarray) -> dict[str, float]:
    from attunexr.models._metrics import brier, sensitivity, specificity

    cal = calibration_slope_intercept(y, p)
    return {
        "ece": expected_calibration_error(y, p),
        "brier": brier(y, p),
        "slope": cal["slope"],
        "intercept": cal["intercept"],
        "sensitivity": sensitivity(y, decision),
        "specificity": specificity(y, decision),
    }


def _interval(values: list[float]) -> dict[str, Any]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if not v.size:
        return {"median": None, "ci": [None, None]}
    return {
        "median": float(np.median(v)),
        "ci": [float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))],
    }


def site_recalibration(
    pred: pd.DataFrame, ks: tuple[int, ...] = (1, 3, 5), n_draws: int = 100, seed: int = 0
) -> dict[str, Any]:
    """Recalibrate a model on k people of a new site and measure the change on the site's other people.

    For each ``k`` and each of ``n_draws`` random draws (every combination when there are fewer) of k people with
    both classes, the intercept and slope of the log-odds (and the decision threshold) are fitted on their windows
    only; ECE, Brier, calibration slope/intercept, sensitivity and specificity are measured on every other person
    of the site before (the model as shipped, its own threshold) and after. See :data:`RECALIBRATION_METHOD`.
    """
    import itertools

    from sklearn.linear_model import LogisticRegression

    from attunexr.models._calibration import youden_threshold

    y_all = pred["y"].to_numpy().astype(int)
    p_all = pred["probability"].to_numpy(dtype=float)
    d_all = pred["decision"].to_numpy()
    d_all = np.where(pd.isna(d_all), 0, d_all).astype(int)
    subj = pred["subject"].astype(str).to_numpy()
    people = sorted(set(subj.tolist()))
    eligible = [s for s in people if len(set(y_all[subj == s].tolist())) == 2]
    z_all = _logit(p_all)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for k in ks:
        if k < 1 or k > len(eligible) or len(people) - k < 2:
            out[str(k)] = {
                "skipped": f"{len(eligible)} people with both classes and {len(people)} in all: cannot draw {k} "
                "and keep at least 2 others to test on"
            }
            continue
        combos = list(itertools.combinations(eligible, k)) if math.comb(len(eligible), k) <= n_draws else None
        draws = (
            [list(c) for c in combos]
            if combos is not None
            else [list(rng.choice(eligible, size=k, replace=False)) for _ in range(n_draws)]
        )
        before: dict[str, list[float]] = {}
        after: dict[str, list[float]] = {}
        gain_ece: list[float] = []
        gain_brier: list[float] = []
        coefs: list[tuple[float, float]] = []
        for chosen in draws:
            cal = np.isin(subj, chosen)
            test = ~cal
            if len(set(y_all[test].tolist())) < 2:
                continue
            lr = LogisticRegression(C=1e4, solver="lbfgs").fit(z_all[cal, None], y_all[cal])
            a, b = float(lr.intercept_[0]), float(lr.coef_[0, 0])
            p_new = 1.0 / (1.0 + np.exp(-(a + b * z_all)))
            thr = youden_threshold(y_all[cal], p_new[cal])
            f0 = _calibration_figures(y_all[test], p_all[test], d_all[test])
            f1 = _calibration_figures(y_all[test], p_new[test], (p_new[test] >= thr).astype(int))
            for name, v in f0.items():
                before.setdefault(name, []).append(v)
            for name, v in f1.items():
                after.setdefault(name, []).append(v)
            gain_ece.append(f0["ece"] - f1["ece"])
            gain_brier.append(f0["brier"] - f1["brier"])
            coefs.append((a, b))
        if not gain_ece:
            out[str(k)] = {"skipped": "no draw left both classes among the other people"}
            continue
        improved = float(np.mean(np.asarray(gain_ece) > 0))
        out[str(k)] = {
            "n_draws": len(gain_ece),
            "draws": "all combinations" if combos is not None else f"{len(gain_ece)} random draws",
            "before": {name: _interval(v) for name, v in before.items()},
            "after": {name: _interval(v) for name, v in after.items()},
            "ece_gain": {**_interval(gain_ece), "fraction_improved": improved},
            "brier_gain": {
                **_interval(gain_brier),
                "fraction_improved": float(np.mean(np.asarray(gain_brier) > 0)),
            },
            "fitted_intercept": _interval([c[0] for c in coefs]),
            "fitted_slope": _interval([c[1] for c in coefs]),
        }
    enough = [
        int(k)
        for k, v in out.items()
        if "ece_gain" in v and v["ece_gain"]["fraction_improved"] >= RECALIBRATION_SUFFICIENT
    ]
    out_all: dict[str, Any] = {
        "by_k": out,
        "n_people": len(people),
        "n_people_both_classes": len(eligible),
        "people_needed": min(enough) if enough else None,
        "people_needed_rule": f"smallest k whose recalibration lowers ECE on the other people in at least "
        f"{RECALIBRATION_SUFFICIENT:.0%} of draws (None: no k tried was enough)",
        "method": RECALIBRATION_METHOD,
    }
    return out_all


def paired_site_difference(
    with_site: pd.DataFrame, without_site: pd.DataFrame, n_boot: int = 200, seed: int = 0
) -> dict[str, Any]:
    """AUROC with minus without a site in training, on the same held-out windows (paired subject bootstrap).

    Windows are matched by subject, session and window end (``session`` distinguishes a person's recordings).
    """
    keys = [
        c for c in ("subject", "session", "t_end") if c in with_site.columns and c in without_site.columns
    ]
    a = with_site[[*keys, "y", "probability"]].assign(subject=with_site["subject"].astype(str))
    b = without_site[[*keys, "y", "probability"]].assign(subject=without_site["subject"].astype(str))
    both = a.merge(b, on=keys, suffixes=("_with", "_without"))
    if both.empty or (both["y_with"] != both["y_without"]).any():
        raise ModelError("the two evaluations do not share the same labelled windows")
    y = both["y_with"].to_numpy(dtype=int)
    pw = both["probability_with"].to_numpy(dtype=float)
    po = both["probability_without"].to_numpy(dtype=float)
    return {
        "auroc_with": auroc(y, pw),
        "auroc_without": auroc(y, po),
        "n_windows": int(len(both)),
        **paired_auroc_difference(y, pw, po, both["subject"].to_numpy(), n_boot=n_boot, random_state=seed),
    }
