"""Cybersickness from head motion on ``vr-fms-motion``: detection, forecasting and tolerance.

Three tasks, each evaluated with participant-grouped folds (a participant's rides never span training and test),
nested model selection inside each training set, subject-bootstrap CIs and paired comparisons with the baselines
(time in VR, MSSQ, time + MSSQ, and the last FMS answer carried forward):

- ``cybersickness-motion``: FMS >= :data:`FMS_THRESHOLD` at the end of a 20 s window, from head motion, time in VR
  and MSSQ;
- ``cybersickness-forecast``: FMS >= threshold 30 s and 60 s ahead, and "crosses the threshold within the next
  60 s" (windows below it now), adding the FMS answers so far;
- ``tolerance``: whether a ride reaches the threshold after its first minute, from MSSQ, age and gender with and
  without the first 60 s; and whether the next ride reaches it, from the first.

The threshold (FMS >= 10), windows and horizons were fixed before any evaluation (docs/models.md).
Rows come from :func:`attunexr.features.extract` (the one feature pipeline); the per-ride running means are
computed by :class:`MotionHistory`, the same object the live session uses.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError, ModelError
from attunexr.models._calibration import youden_threshold
from attunexr.models._evaluation import provenance, summarize
from attunexr.models._metrics import auroc, bootstrap_ci, paired_auroc_difference
from attunexr.recording import Recording

__all__ = [
    "FMS_THRESHOLD",
    "MOTION_FEATURES",
    "MOTION_TASKS",
    "MotionClassifier",
    "MotionHistory",
    "MotionSicknessModel",
    "ToleranceModel",
    "evaluate_motion",
    "fit_motion_model",
    "fit_tolerance_model",
    "motion_table",
    "ride_rows",
]

logger = logging.getLogger(__name__)

DATASET = "vr-fms-motion"
#: FMS at or above this is "sick" (pre-registered, docs/models.md).
FMS_THRESHOLD = 10.0
#: thresholds of the sensitivity analysis
SENSITIVITY_THRESHOLDS = (5.0, 15.0)
#: window length and hop (s) of the head-motion feature rows (public as ``MOTION_WINDOW``/``MOTION_HOP``)
WINDOW, HOP = 20.0, 5.0
HORIZONS = (30.0, 60.0)
#: seconds of a ride that the early tolerance estimate may use
EARLY_S = 60.0
#: participant-grouped outer folds
N_FOLDS = 10
INNER_FOLDS = 5

#: head-motion features of one window (see docs/features.md)
MOTION_FEATURES: tuple[str, ...] = (
    "head_ang_speed_mean",
    "head_ang_speed_p90",
    "head_acc_mean",
    "head_acc_std",
    "head_jerk_mean",
    "head_stillness",
    "head_ang_power_slow",
    "head_ang_power_fast",
)
#: features whose running mean over the ride so far is added (``hist_<name>``)
HISTORY_OF: tuple[str, ...] = ("head_ang_speed_mean", "head_acc_mean", "head_jerk_mean", "head_stillness")
HISTORY_FEATURES = tuple(f"hist_{c}" for c in HISTORY_OF)
DETECTION_INPUTS = (*MOTION_FEATURES, *HISTORY_FEATURES, "time_in_vr", "mssq")
FORECAST_INPUTS = (*DETECTION_INPUTS, "fms_now", "fms_change_30s")

MOTION_TASKS: dict[str, str] = {
    "cybersickness-motion": f"FMS >= {FMS_THRESHOLD:g} now, from head motion, time in VR and MSSQ",
    "cybersickness-forecast": "FMS >= threshold 30 s / 60 s ahead and crossing it within the next 60 s",
    "tolerance": "reaching the threshold during a ride (early in it) and in the next ride",
}


# --------------------------------------------------------------------------------------------- rows
class MotionHistory:
    """Running per-ride state: mean of :data:`HISTORY_OF` over the windows so far and the FMS answers so far.

    Offline (:func:`ride_rows`) and live (the session's cybersickness monitor) feed rows in time order to the same
    object, so both see the same history.
    """

    def __init__(self) -> None:
        self.sums = dict.fromkeys(HISTORY_OF, 0.0)
        self.counts = dict.fromkeys(HISTORY_OF, 0)
        self.fms_t: list[float] = []
        self.fms_v: list[float] = []

    def add_fms(self, t: float, value: float) -> None:
        """An FMS answer at time ``t`` (answers arrive in time order)."""
        if math.isfinite(value):
            self.fms_t.append(float(t))
            self.fms_v.append(float(value))

    def fms_at(self, t: float) -> float:
        """The last FMS answer at or before ``t`` (NaN before the first)."""
        i = int(np.searchsorted(np.asarray(self.fms_t), t, side="right"))
        return self.fms_v[i - 1] if i else float("nan")

    def update(self, row: dict[str, Any]) -> dict[str, float]:
        """History features for a new window row (the row itself included)."""
        out: dict[str, float] = {}
        for c in HISTORY_OF:
            v = float(row.get(c, float("nan")))
            if math.isfinite(v):
                self.sums[c] += v
                self.counts[c] += 1
            out[f"hist_{c}"] = self.sums[c] / self.counts[c] if self.counts[c] else float("nan")
        t = float(row["t_end"])
        now = self.fms_at(t)
        out["fms_now"] = now
        out["fms_change_30s"] = now - self.fms_at(t - 30.0)
        return out


def _meta_number(value: object, what: str) -> float:
    """A number from a recording's metadata (the dataset reader stores numbers; anything else is a data error)."""
    if isinstance(value, int | float | str | np.number):
        return float(value)
    raise ModelError(f"recording metadata {what!r} must be a number, not {value!r}")


def ride_rows(rec: Recording, mssq: float | None = None) -> pd.DataFrame:
    """Window rows of one ride (moving part only): features, history, time in VR, MSSQ and FMS targets."""
    from attunexr.features import extract

    ride_end = _meta_number(rec.meta.extra.get("ride_end", rec.t_end), "ride_end")
    feats = extract(rec, WINDOW, HOP)
    feats = feats[feats["t_end"] <= ride_end + 1e-9].reset_index(drop=True)
    hist = MotionHistory()
    answers = sorted(
        (e.onset, float(e.value)) for e in rec.events if e.label == "fms" and e.value is not None
    )
    for t, v in answers:
        hist.add_fms(t, v)
    extra = [hist.update(r) for r in feats.to_dict("records")]
    out = pd.concat([feats, pd.DataFrame(extra)], axis=1)
    # online, answers only exist up to "now": fms_now above used every answer <= t_end, as live (causal)
    out["time_in_vr"] = out["t_end"].to_numpy(dtype=float)
    m = rec.meta.extra.get("mssq") if mssq is None else mssq
    out["mssq"] = _meta_number(m, "mssq") if m is not None else float("nan")
    t_end = out["t_end"].to_numpy(dtype=float)
    for h in HORIZONS:
        ahead = np.array([hist.fms_at(t + h) if t + h <= ride_end + 1e-9 else np.nan for t in t_end])
        out[f"fms_{int(h)}s"] = ahead
    ta, va = np.array([a[0] for a in answers]), np.array([a[1] for a in answers])
    out["fms_max_next_60s"] = [
        float(va[(ta > t) & (ta <= t + 60.0)].max())
        if t + 60.0 <= ride_end + 1e-9 and ((ta > t) & (ta <= t + 60.0)).any()
        else np.nan
        for t in t_end
    ]
    ride = ta <= ride_end + 1e-9
    out["fms_max_ride"] = float(va[ride].max()) if ride.any() else np.nan
    early = ta <= EARLY_S + 1e-9
    out["fms_max_first_60s"] = float(va[early].max()) if early.any() else np.nan
    out["fms_max_after_60s"] = float(va[ride & ~early].max()) if (ride & ~early).any() else np.nan
    for k in ("condition", "gender", "age", "clock_time_s"):
        out[k] = rec.meta.extra.get(k)
    out["subject"] = str(rec.meta.subject)
    out["session"] = str(rec.meta.session)
    return out


def motion_table(
    data_dir: str | Path | None = None,
    sessions: Iterable[str] | None = None,
    on_session: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Window rows of every ride (or of ``sessions``) of ``vr-fms-motion``."""
    from attunexr.io.datasets import get_dataset

    ds = get_dataset(DATASET)
    chosen = list(sessions) if sessions is not None else ds.sessions(data_dir)  # type: ignore[attr-defined]
    frames = []
    for sid in chosen:
        frames.append(ride_rows(ds.load_session(sid, data_dir)))  # type: ignore[attr-defined]
        if on_session is not None:
            on_session(sid)
    if not frames:
        raise ModelError("no rides to build a motion table from")
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------- classifier
def _candidates() -> dict[str, Any]:
    from lightgbm import LGBMClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic": make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)
        ),
        "lightgbm": LGBMClassifier(
            n_estimators=200,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=40,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=0,
            n_jobs=1,
            verbose=-1,
        ),
    }


def _fit(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.base import clone

    return clone(model).fit(X, y)


def _group_folds(groups: np.ndarray, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold

    n = len(np.unique(groups))
    return list(GroupKFold(n_splits=min(k, n)).split(np.zeros(len(groups), dtype=int), groups=groups))


@dataclass
class MotionClassifier:
    """Binary classifier with nested family selection, Platt calibration and a Youden threshold.

    ``fit`` compares the candidate families (L2 logistic regression, LightGBM; or ``family`` only) by AUROC of
    participant-grouped inner out-of-fold predictions on the training data, fits a logistic calibration on the
    chosen family's inner out-of-fold scores, sets the decision threshold by Youden's J on them, and refits the
    chosen family on all training rows. The fitted object is immutable afterwards.
    """

    features: tuple[str, ...]
    family: str = "auto"
    inner_folds: int = INNER_FOLDS
    family_: str = field(default="", init=False)
    inner_auroc_: dict[str, float] = field(default_factory=dict, init=False)
    model_: Any = field(default=None, init=False)
    calib_: tuple[float, float] = field(default=(1.0, 0.0), init=False)
    threshold_: float = field(default=0.5, init=False)

    def _X(self, table: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.features if c not in table.columns]
        if missing:
            raise ModelError(f"the rows lack the inputs {missing}")
        return np.asarray(table[list(self.features)].to_numpy(dtype=float))

    @staticmethod
    def _score(model: Any, X: np.ndarray) -> np.ndarray:
        p = np.clip(model.predict_proba(X)[:, 1], 1e-6, 1 - 1e-6)
        return np.asarray(np.log(p / (1 - p)), dtype=float)

    def fit(self, table: pd.DataFrame, y: np.ndarray, groups: np.ndarray) -> MotionClassifier:
        X = self._X(table)
        y = np.asarray(y, dtype=int)
        if len(set(y.tolist())) < 2:
            raise ModelError("training rows hold one class only")
        cands = _candidates()
        if self.family != "auto":
            if self.family not in cands:
                raise ConfigurationError(f"family must be auto, {' or '.join(cands)}; got {self.family!r}")
            cands = {self.family: cands[self.family]}
        oof = {name: np.full(len(y), np.nan) for name in cands}
        for tr, te in _group_folds(groups, self.inner_folds):
            if len(set(y[tr].tolist())) < 2:
                continue
            for name, m in cands.items():
                oof[name][te] = self._score(_fit(m, X[tr], y[tr]), X[te])
        scores = {}
        for name, s in oof.items():
            ok = np.isfinite(s)
            scores[name] = auroc(y[ok], s[ok]) if len(set(y[ok].tolist())) == 2 else float("nan")
        self.inner_auroc_ = scores
        self.family_ = max(scores, key=lambda k: -1.0 if math.isnan(scores[k]) else scores[k])
        s = oof[self.family_]
        ok = np.isfinite(s)
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(s[ok, None], y[ok])
        self.calib_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))
        self.threshold_ = float(youden_threshold(y[ok], self._calibrate(s[ok])))
        self.model_ = _fit(cands[self.family_], X, y)
        return self

    def _calibrate(self, score: np.ndarray) -> np.ndarray:
        a, b = self.calib_
        return np.asarray(1.0 / (1.0 + np.exp(-(a * score + b))), dtype=float)

    def predict_proba(self, table: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the positive class per row."""
        if self.model_ is None:
            raise ModelError("the classifier is not fitted")
        return self._calibrate(self._score(self.model_, self._X(table)))


# --------------------------------------------------------------------------------------------- evaluation
def _targets(table: pd.DataFrame, target: str, thr: float) -> np.ndarray:
    """1/0/NaN target per row for ``target`` at threshold ``thr``."""

    def ge(col: str) -> np.ndarray:
        v = table[col].to_numpy(dtype=float)
        return np.where(np.isfinite(v), (v >= thr).astype(float), np.nan)

    if target == "now":
        return ge("fms_now")
    if target in ("30s", "60s"):
        return ge(f"fms_{target}")
    if target == "cross_60s":
        below = table["fms_now"].to_numpy(dtype=float) < thr
        return np.where(below, ge("fms_max_next_60s"), np.nan)
    raise ConfigurationError(f"unknown target {target!r}")


def _outer_predictions(
    table: pd.DataFrame,
    y: np.ndarray,
    features: tuple[str, ...],
    n_folds: int,
    family: str = "auto",
    extra_models: dict[str, tuple[str, ...]] | None = None,
    on_fold: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Held-out predictions for every labelled row, participant-grouped outer folds (model + fitted baselines)."""
    keep = np.isfinite(y)
    tab = table.loc[keep].reset_index(drop=True)
    yy = y[keep].astype(int)
    groups = tab["subject"].astype(str).to_numpy()
    prob = np.full(len(tab), np.nan)
    dec = np.zeros(len(tab), dtype=bool)
    fam = np.empty(len(tab), dtype=object)
    fold = np.empty(len(tab), dtype=object)
    extras = {k: np.full(len(tab), np.nan) for k in (extra_models or {})}
    for i, (tr, te) in enumerate(_group_folds(groups, n_folds)):
        clf = MotionClassifier(features, family=family).fit(tab.iloc[tr], yy[tr], groups[tr])
        p = clf.predict_proba(tab.iloc[te])
        prob[te], dec[te], fam[te], fold[te] = p, p > clf.threshold_, clf.family_, f"fold-{i + 1}"
        for k, feats in (extra_models or {}).items():
            b = MotionClassifier(feats, family="logistic", inner_folds=3).fit(
                tab.iloc[tr], yy[tr], groups[tr]
            )
            extras[k][te] = b.predict_proba(tab.iloc[te])
        if on_fold is not None:
            on_fold(f"fold-{i + 1}")
    pred = pd.DataFrame(
        {
            "subject": groups,
            "session": tab["session"].astype(str).to_numpy(),
            "t_end": tab["t_end"].to_numpy(dtype=float),
            "label": np.where(yy == 1, "sick", "not_sick"),
            "y": yy,
            "fold": fold,
            "probability": prob,
            "decision": dec,
            "abstained": False,
            "reason": "",
            "selected": fam,
            "time_in_vr": tab["time_in_vr"].to_numpy(dtype=float) if "time_in_vr" in tab else np.nan,
            "condition": tab["condition"].astype(str).to_numpy(),
        }
    )
    for c in ("mssq", "fms_now"):
        if c in tab.columns:
            pred[c] = tab[c].to_numpy(dtype=float)
    for k, v in extras.items():
        pred[f"baseline_{k}"] = v
    return pred


def _score_block(pred: pd.DataFrame, score: np.ndarray, n_boot: int, description: str) -> dict[str, Any]:
    """AUROC of a baseline score with its CI and the model-minus-baseline paired difference."""
    y = pred["y"].to_numpy()
    ok = np.isfinite(score)
    g = pred["subject"].to_numpy()[ok]

    def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
        return {"auroc": auroc(yy, pp)}

    ci = bootstrap_ci(
        y[ok], score[ok], np.zeros(int(ok.sum()), dtype=int), g, n_boot=n_boot, random_state=0, metric_fn=fn
    )
    gain = paired_auroc_difference(
        y[ok], pred["probability"].to_numpy(dtype=float)[ok], score[ok], g, n_boot=n_boot, random_state=0
    )
    return {
        "auroc": ci["auroc"]["value"],
        "ci": ci["auroc"]["ci"],
        "n_windows": int(ok.sum()),
        "description": description,
        "model_minus_baseline": {
            **gain,
            "description": "model AUROC minus this baseline's on the same rows; paired subject-level bootstrap",
        },
    }


def _auroc_block(pred: pd.DataFrame, n_boot: int) -> dict[str, Any]:
    """Model AUROC with its subject-bootstrap CI."""

    def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
        return {"auroc": auroc(yy, pp)}

    out: dict[str, Any] = bootstrap_ci(
        pred["y"].to_numpy(),
        pred["probability"].to_numpy(dtype=float),
        np.zeros(len(pred), dtype=int),
        pred["subject"].to_numpy(),
        n_boot=n_boot,
        random_state=0,
        metric_fn=fn,
    )["auroc"]
    return out


def _baselines(
    pred: pd.DataFrame, n_boot: int, ride_level: bool = False, forecast: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not ride_level:
        out["elapsed_time"] = _score_block(
            pred,
            pred["time_in_vr"].to_numpy(dtype=float),
            n_boot,
            "time in VR alone as the score (no fitting)",
        )
    else:
        out["elapsed_time"] = {
            "auroc": None,
            "ci": [None, None],
            "description": "not applicable: every ride is scored at the same moment (before or 60 s into it)",
        }
    out["mssq"] = _score_block(pred, pred["mssq"].to_numpy(dtype=float), n_boot, "MSSQ alone as the score")
    if "baseline_time_mssq" in pred:
        out["time_mssq"] = _score_block(
            pred,
            pred["baseline_time_mssq"].to_numpy(dtype=float),
            n_boot,
            "logistic regression on time in VR and MSSQ, fitted in the same outer training folds",
        )
    for k in [c for c in pred.columns if c.startswith("baseline_") and c != "baseline_time_mssq"]:
        out[k[len("baseline_") :]] = _score_block(
            pred, pred[k].to_numpy(dtype=float), n_boot, "fitted baseline in the same outer folds"
        )
    if forecast and "fms_now" in pred and np.isfinite(pred["fms_now"]).any():
        out["last_fms"] = _score_block(
            pred,
            pred["fms_now"].to_numpy(dtype=float),
            n_boot,
            "the last FMS answer carried forward as the score (no fitting)",
        )
    return out


def _paired(baselines: dict[str, Any], vs: str) -> dict[str, Any]:
    b = baselines[vs]["model_minus_baseline"]
    return {"vs": vs, "value": b["value"], "ci": b["ci"], "p_not_better": b.get("p_not_better")}


def _by_condition(pred: pd.DataFrame, n_boot: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cond, rows in pred.groupby("condition"):
        entry: dict[str, Any] = {"n": int(len(rows)), "n_subjects": int(rows["subject"].nunique())}
        if rows["y"].nunique() == 2:

            def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
                return {"auroc": auroc(yy, pp)}

            ci = bootstrap_ci(
                rows["y"].to_numpy(),
                rows["probability"].to_numpy(dtype=float),
                np.zeros(len(rows), dtype=int),
                rows["subject"].to_numpy(),
                n_boot=n_boot,
                random_state=0,
                metric_fn=fn,
            )
            entry["auroc"] = ci["auroc"]
            if np.isfinite(rows["time_in_vr"]).all():
                entry["elapsed_time_auroc"] = auroc(
                    rows["y"].to_numpy(), rows["time_in_vr"].to_numpy(dtype=float)
                )
        else:
            entry["auroc"] = {"value": None, "ci": [None, None]}
        out[str(cond)] = entry
    return out


def _metadata(data_dir: str | Path | None) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    from attunexr.io.datasets import get_dataset

    ds = get_dataset(DATASET)
    return dict(ds.metadata_variables), ds.subject_metadata(data_dir)


def _summary(
    pred: pd.DataFrame,
    task: str,
    n_boot: int,
    data_dir: str | Path | None,
    ride_level: bool = False,
    vs: str = "elapsed_time",
    forecast: bool = False,
) -> dict[str, Any]:
    res = summarize(
        pred,
        task=task,
        protocol="loso",
        dataset=DATASET,
        normalize="none",
        n_boot=n_boot,
        metadata=_metadata(data_dir),
        selection_boot=min(n_boot, 200),
    )
    res["baselines"] = _baselines(pred, n_boot, ride_level, forecast)
    res["paired_difference"] = _paired(res["baselines"], vs)
    res["subgroups"]["by_condition"] = _by_condition(pred, min(n_boot, 200))
    return res


def _protocol_note(n_folds: int) -> str:
    return (
        f"participant-grouped {n_folds}-fold cross-validation (named 'loso' for the evaluation contract): every "
        "ride of a participant is in the same fold; model family, calibration and threshold are chosen inside each "
        f"training set by {INNER_FOLDS}-fold participant-grouped inner cross-validation"
    )


def _detection(
    table: pd.DataFrame,
    n_boot: int,
    n_folds: int,
    data_dir: str | Path | None,
    on_fold: Callable[[str], None] | None,
) -> dict[str, Any]:
    y = _targets(table, "now", FMS_THRESHOLD)
    pred = _outer_predictions(
        table,
        y,
        DETECTION_INPUTS,
        n_folds,
        extra_models={"time_mssq": ("time_in_vr", "mssq")},
        on_fold=on_fold,
    )
    res = _summary(pred, "cybersickness-motion", n_boot, data_dir)
    # head motion alone (no time, no MSSQ), nested like the model: a reduced model beside the baselines
    motion_only = _outer_predictions(table, y, (*MOTION_FEATURES, *HISTORY_FEATURES), n_folds, family="auto")
    p_motion = motion_only["probability"].to_numpy(dtype=float)
    block = _score_block(
        pred, p_motion, n_boot, "head motion alone (no time in VR, no MSSQ), nested like the model"
    )
    vs_time = paired_auroc_difference(
        pred["y"].to_numpy(),
        p_motion,
        pred["time_in_vr"].to_numpy(dtype=float),
        pred["subject"].to_numpy(),
        n_boot=n_boot,
        random_state=0,
    )
    block["motion_only_minus_elapsed_time"] = {
        **vs_time,
        "description": "head motion alone minus time in VR alone, same rows, paired subject-level bootstrap",
    }
    res["baselines"]["motion_only"] = block
    sens: dict[str, Any] = {}
    for thr in SENSITIVITY_THRESHOLDS:
        ys = _targets(table, "now", thr)
        ps = _outer_predictions(table, ys, DETECTION_INPUTS, n_folds)
        b = _score_block(ps, ps["time_in_vr"].to_numpy(dtype=float), min(n_boot, 200), "time in VR alone")

        def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
            return {"auroc": auroc(yy, pp)}

        ci = bootstrap_ci(
            ps["y"].to_numpy(),
            ps["probability"].to_numpy(dtype=float),
            np.zeros(len(ps), dtype=int),
            ps["subject"].to_numpy(),
            n_boot=min(n_boot, 200),
            random_state=0,
            metric_fn=fn,
        )
        sens[f"fms>={thr:g}"] = {
            "n_windows": int(len(ps)),
            "prevalence": float(ps["y"].mean()),
            "auroc": ci["auroc"],
            "elapsed_time_auroc": {"value": b["auroc"], "ci": b["ci"]},
            "paired_difference_vs_elapsed_time": {
                "value": b["model_minus_baseline"]["value"],
                "ci": b["model_minus_baseline"]["ci"],
            },
        }
    res["threshold_sensitivity"] = sens
    res["_pred"] = pred
    return res


def _forecast(
    table: pd.DataFrame,
    n_boot: int,
    n_folds: int,
    data_dir: str | Path | None,
    on_fold: Callable[[str], None] | None,
) -> dict[str, Any]:
    y = _targets(table, "cross_60s", FMS_THRESHOLD)
    pred = _outer_predictions(
        table,
        y,
        FORECAST_INPUTS,
        n_folds,
        extra_models={"time_mssq": ("time_in_vr", "mssq")},
        on_fold=on_fold,
    )
    res = _summary(pred, "cybersickness-forecast", n_boot, data_dir, forecast=True)
    res["target"] = f"FMS reaches {FMS_THRESHOLD:g} within the next 60 s (rows below it now)"
    horizons: dict[str, Any] = {}
    for h in ("30s", "60s"):
        yh = _targets(table, h, FMS_THRESHOLD)
        ph = _outer_predictions(
            table, yh, FORECAST_INPUTS, n_folds, extra_models={"time_mssq": ("time_in_vr", "mssq")}
        )
        bl = _baselines(ph, min(n_boot, 200), forecast=True)

        def fn(yy: np.ndarray, pp: np.ndarray, _d: np.ndarray) -> dict[str, float]:
            return {"auroc": auroc(yy, pp)}

        ci = bootstrap_ci(
            ph["y"].to_numpy(),
            ph["probability"].to_numpy(dtype=float),
            np.zeros(len(ph), dtype=int),
            ph["subject"].to_numpy(),
            n_boot=min(n_boot, 200),
            random_state=0,
            metric_fn=fn,
        )
        horizons[f"fms>={FMS_THRESHOLD:g}_in_{h}"] = {
            "n_windows": int(len(ph)),
            "prevalence": float(ph["y"].mean()),
            "auroc": ci["auroc"],
            "baselines": {
                k: {kk: v[kk] for kk in ("auroc", "ci", "model_minus_baseline")} for k, v in bl.items()
            },
        }
    res["horizons"] = horizons
    res["_pred"] = pred
    return res


def ride_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per ride: participant variables, first-60 s summaries and whether the threshold is reached."""
    early = table[table["t_end"] <= EARLY_S + 1e-9]
    agg = early.groupby("session")[list(MOTION_FEATURES)].mean().add_prefix("early_")
    first = table.groupby("session").first()
    rides = first[
        [
            "subject",
            "condition",
            "mssq",
            "age",
            "gender",
            "clock_time_s",
            "fms_max_ride",
            "fms_max_first_60s",
            "fms_max_after_60s",
        ]
    ].join(agg)
    rides["gender_f"] = (rides["gender"].astype(str) == "f").astype(float)
    rides["early_fms"] = rides["fms_max_first_60s"]
    return rides.reset_index()


EARLY_INPUTS = ("mssq", "age", "gender_f", "early_fms", *(f"early_{c}" for c in MOTION_FEATURES))
PRE_INPUTS = ("mssq", "age", "gender_f")


def _ride_pred(
    rides: pd.DataFrame, y: np.ndarray, feats: tuple[str, ...], n_folds: int, **kw: Any
) -> pd.DataFrame:
    tab = rides.assign(t_end=0.0, time_in_vr=np.nan)
    return _outer_predictions(tab, y, feats, n_folds, **kw)


def _tolerance(
    table: pd.DataFrame,
    n_boot: int,
    n_folds: int,
    data_dir: str | Path | None,
    on_fold: Callable[[str], None] | None,
) -> dict[str, Any]:
    rides = ride_table(table)
    thr = FMS_THRESHOLD
    not_yet = rides["fms_max_first_60s"].to_numpy(dtype=float) < thr
    after = rides["fms_max_after_60s"].to_numpy(dtype=float)
    y = np.where(not_yet & np.isfinite(after), (after >= thr).astype(float), np.nan)
    pred = _ride_pred(rides, y, EARLY_INPUTS, n_folds, extra_models={"pre_ride": PRE_INPUTS}, on_fold=on_fold)
    res = _summary(pred, "tolerance", n_boot, data_dir, ride_level=True, vs="mssq")
    res["target"] = (
        f"a ride that has not reached FMS {thr:g} in its first {EARLY_S:g} s reaches it later in the ride; inputs: "
        "MSSQ, age, gender and the first 60 s (head-motion means and the highest FMS answer)"
    )
    pre = res["baselines"]["pre_ride"]
    res["first_60s_add_to_mssq"] = {
        "vs_mssq_alone": res["paired_difference"],
        "vs_pre_ride_model": {
            "value": pre["model_minus_baseline"]["value"],
            "ci": pre["model_minus_baseline"]["ci"],
        },
        "answer": "yes"
        if res["paired_difference"]["ci"][0] is not None and res["paired_difference"]["ci"][0] > 0
        else "not shown",
        "description": "paired subject-level bootstrap on the same rides: early model minus MSSQ alone, and minus "
        "the pre-ride model (MSSQ + age + gender, fitted in the same folds)",
    }
    # whole-ride outcome from pre-ride variables only (before the first ride starts)
    y_whole = np.where(
        np.isfinite(rides["fms_max_ride"]), (rides["fms_max_ride"] >= thr).astype(float), np.nan
    )
    pw = _ride_pred(rides, y_whole, PRE_INPUTS, n_folds, family="logistic")
    res["before_ride"] = {
        "target": f"the ride reaches FMS {thr:g}",
        "n_rides": int(len(pw)),
        "prevalence": float(pw["y"].mean()),
        "auroc": _auroc_block(pw, min(n_boot, 200)),
        "baselines": {
            "mssq": _score_block(pw, pw["mssq"].to_numpy(dtype=float), min(n_boot, 200), "MSSQ alone")
        },
    }
    # next ride from the first: each participant's rides in clock order, consecutive pairs
    pairs = []
    for _, g in rides.sort_values(["subject", "clock_time_s"]).groupby("subject"):
        g = g.reset_index(drop=True)
        for i in range(len(g) - 1):
            a, b = g.iloc[i], g.iloc[i + 1]
            pairs.append(
                {
                    "subject": a["subject"],
                    "session": b["session"],
                    "condition": b["condition"],
                    "mssq": a["mssq"],
                    "age": a["age"],
                    "gender_f": a["gender_f"],
                    "prev_fms_max": a["fms_max_ride"],
                    "prev_reached": float(a["fms_max_ride"] >= thr),
                    "next_fms_max": b["fms_max_ride"],
                }
            )
    pr = pd.DataFrame(pairs)
    if len(pr) and pr["subject"].nunique() >= 3:
        yn = np.where(np.isfinite(pr["next_fms_max"]), (pr["next_fms_max"] >= thr).astype(float), np.nan)
        pn = _ride_pred(pr, yn, ("mssq", "age", "gender_f", "prev_fms_max"), n_folds)
        nb = min(n_boot, 200)
        res["next_ride"] = {
            "target": f"the next ride (by clock time; files carry no date) reaches FMS {thr:g}",
            "inputs": "MSSQ, age, gender and the highest FMS of the previous ride",
            "n_pairs": int(len(pn)),
            "n_subjects": int(pn["subject"].nunique()),
            "prevalence": float(pn["y"].mean()),
            "auroc": _auroc_block(pn, nb),
            "baselines": {
                "mssq": _score_block(pn, pn["mssq"].to_numpy(dtype=float), nb, "MSSQ alone"),
                "previous_ride_highest_fms": _score_block(
                    pn,
                    pr.loc[np.isfinite(yn), "prev_fms_max"].to_numpy(dtype=float),
                    nb,
                    "highest FMS of the previous ride as the score (no fitting)",
                ),
            },
        }
    res["_pred"] = pred
    return res


_RUNNERS = {"cybersickness-motion": _detection, "cybersickness-forecast": _forecast, "tolerance": _tolerance}


@dataclass
class MotionEvaluation:
    result: dict[str, Any]
    predictions: pd.DataFrame


def evaluate_motion(
    task: str,
    *,
    data_dir: str | Path | None = None,
    n_boot: int = 500,
    n_folds: int = N_FOLDS,
    subjects: list[str] | None = None,
    table: pd.DataFrame | None = None,
    on_fold: Callable[[str], None] | None = None,
) -> MotionEvaluation:
    """Participant-grouped evaluation of a head-motion task (see the module docstring)."""
    if task not in _RUNNERS:
        raise ConfigurationError(f"unknown motion task {task!r}; choose one of {', '.join(_RUNNERS)}")
    t0 = time.perf_counter()
    if table is None:
        table = motion_table(data_dir)
    t_feat = time.perf_counter() - t0
    if subjects:
        unknown = sorted(set(subjects) - set(table["subject"]))
        if unknown:
            raise ConfigurationError(
                f"unknown subjects {unknown}; known: {', '.join(sorted(set(table['subject'])))}"
            )
        table = table[table["subject"].isin(subjects)].reset_index(drop=True)
    res = _RUNNERS[task](table, n_boot, n_folds, data_dir, on_fold)
    pred = res.pop("_pred")
    res["threshold"] = {
        "fms": FMS_THRESHOLD,
        "source": "pre-registered in docs/models.md: midpoint of the 0-20 Fast Motion Sickness scale "
        "(Keshavarz & Hecht, Human Factors 2011)",
    }
    res["protocol_description"] = _protocol_note(n_folds)
    res["window"] = {"length_s": WINDOW, "hop_s": HOP, "ride": "rows up to 420 (the moving part)"}
    res["timing"] = {"total_s": round(time.perf_counter() - t0, 2), "feature_extraction_s": round(t_feat, 2)}
    res["notes"] = [
        "86 healthy volunteers of one (unstated) site; head IMU at ~2 Hz; external validation is what counts.",
        "All fitting (family, calibration, threshold, fitted baselines) used the training participants of each fold.",
        "Time in VR is an input: compare with the elapsed-time baseline (paired_difference).",
    ]
    res["provenance"] = provenance(table.select_dtypes("number"))
    return MotionEvaluation(res, pred)


# --------------------------------------------------------------------------------------------- shipped model
@dataclass
class MotionSicknessModel:
    """Fitted head-motion cybersickness models for live use: detection now and the 60 s crossing forecast.

    :meth:`assess` takes window rows (features + :class:`MotionHistory` columns + time in VR + MSSQ) and returns
    both probabilities; offline and live rows come from the same code, so the estimates are the same.
    """

    detector: MotionClassifier
    forecaster: MotionClassifier
    threshold_fms: float = FMS_THRESHOLD
    name: str = "cybersickness-motion"
    info: dict[str, Any] = field(default_factory=dict)

    def assess(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``p_sick_now``, ``p_cross_60s`` and the detector's decision per row."""
        p = self.detector.predict_proba(rows)
        f = self.forecaster.predict_proba(rows)
        return pd.DataFrame(
            {"p_sick_now": p, "p_cross_60s": f, "sick_now": p > self.detector.threshold_}, index=rows.index
        )


@dataclass
class ToleranceModel:
    """Before-the-first-ride estimate that a ride reaches FMS >= threshold, from MSSQ, age and gender only.

    ``classifier`` is the shipped logistic model; ``members`` are the same model fitted on participant bootstrap
    resamples, whose spread gives the estimate's uncertainty interval. ``rests_on`` says in plain words what the
    estimate is based on and what it cannot know.
    """

    classifier: MotionClassifier
    members: list[MotionClassifier] = field(default_factory=list)
    threshold_fms: float = FMS_THRESHOLD
    rests_on: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)
    name: str = "tolerance"

    def estimate(self, mssq: float, age: float | None = None, gender: str | None = None) -> dict[str, Any]:
        """Probability that a ride reaches the threshold, with a 95 % bootstrap interval and what it rests on."""
        if not (isinstance(mssq, int | float) and math.isfinite(mssq) and mssq >= 0):
            raise ConfigurationError(f"MSSQ must be a non-negative number, got {mssq!r}")
        row = pd.DataFrame(
            [
                {
                    "mssq": float(mssq),
                    "age": float("nan") if age is None else float(age),
                    "gender_f": float("nan")
                    if gender is None
                    else float(str(gender).lower().startswith("f")),
                }
            ]
        )
        p = float(self.classifier.predict_proba(row)[0])
        boots = (
            np.array([float(m.predict_proba(row)[0]) for m in self.members])
            if self.members
            else np.array([p])
        )
        lo, hi = (float(v) for v in np.percentile(boots, [2.5, 97.5]))
        return {
            "probability": p,
            "interval": [lo, hi],
            "threshold_fms": self.threshold_fms,
            "rests_on": self.rests_on,
            "evaluation": self.evaluation,
            "model": self.name,
        }


def fit_motion_model(table: pd.DataFrame) -> MotionSicknessModel:
    """Fit the shipped detection and forecast models on every ride."""
    groups = table["subject"].astype(str).to_numpy()
    yd = _targets(table, "now", FMS_THRESHOLD)
    kd = np.isfinite(yd)
    det = MotionClassifier(DETECTION_INPUTS).fit(table[kd], yd[kd].astype(int), groups[kd])
    yf = _targets(table, "cross_60s", FMS_THRESHOLD)
    kf = np.isfinite(yf)
    fc = MotionClassifier(FORECAST_INPUTS).fit(table[kf], yf[kf].astype(int), groups[kf])
    return MotionSicknessModel(det, fc)


def fit_tolerance_model(
    table: pd.DataFrame, n_members: int = 50, evaluation: dict[str, Any] | None = None
) -> ToleranceModel:
    """Fit the shipped pre-ride tolerance model (logistic on MSSQ, age, gender) and its bootstrap members."""
    rides = ride_table(table)
    y = np.where(
        np.isfinite(rides["fms_max_ride"]), (rides["fms_max_ride"] >= FMS_THRESHOLD).astype(float), np.nan
    )
    keep = np.isfinite(y)
    rides, y = rides[keep].reset_index(drop=True), y[keep].astype(int)
    groups = rides["subject"].astype(str).to_numpy()
    main = MotionClassifier(PRE_INPUTS, family="logistic").fit(rides, y, groups)
    rng = np.random.default_rng(0)
    people = np.unique(groups)
    members = []
    for _ in range(n_members):
        pick = rng.choice(people, size=len(people), replace=True)
        idx = np.concatenate([np.flatnonzero(groups == s) for s in pick])
        if len(set(y[idx].tolist())) < 2:
            continue
        # fresh group labels per draw so a person drawn twice counts as two people in the inner folds
        g = np.concatenate([[f"{s}#{k}"] * int((groups == s).sum()) for k, s in enumerate(pick)])
        members.append(
            MotionClassifier(PRE_INPUTS, family="logistic", inner_folds=3).fit(rides.iloc[idx], y[idx], g)
        )
    ev = evaluation or {}
    auc = ev.get("auroc") or {}
    mssq_b = (ev.get("baselines") or {}).get("mssq") or {}
    rests_on = (
        f"MSSQ, age and gender only, learned from {len(rides)} four-minute VR rides of {len(people)} healthy "
        f"volunteers (vr-fms-motion, one site); 'sick' means a Fast Motion Sickness rating of {FMS_THRESHOLD:g} or "
        "more during the ride"
        + (
            f"; in new people it ranked rides with AUROC {auc['value']:.2f} (95 % CI {auc['ci'][0]:.2f} to "
            f"{auc['ci'][1]:.2f}), MSSQ alone {mssq_b['auroc']:.2f}"
            if auc.get("value") is not None and mssq_b.get("auroc") is not None
            else ""
        )
        + ". It knows nothing about this person's condition, headset or VR content: a rough prior for planning, "
        "not a prediction to act on alone."
    )
    return ToleranceModel(
        main, members, FMS_THRESHOLD, rests_on, {"auroc": auc, "baselines": {"mssq": mssq_b}}
    )
