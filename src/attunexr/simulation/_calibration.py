"""Calibration of the virtual patients' physiology against real data (Stress-Predict, Iqbal et al. 2022).

From each subject's E4 recording we take the resting baseline interval and the psychological stress tasks (Stroop,
interview; hyperventilation is a physiological stressor and is left out) and measure:

* resting heart rate and skin-conductance level (between-person distribution);
* the task-minus-baseline response of heart rate (bpm) and of log skin conductance (per-person distribution);
* the timing of the response: a first-order rise ``A (1 - exp(-t / tau))`` fitted to the task-onset-locked average.

We also fit the window-level arousal estimator used on the simulator's fast path (:class:`WindowArousalEstimator`):
a logistic regression of task vs baseline/rest on the two baseline-normalised window features, with a subject-level
bootstrap for coefficient uncertainty, and report its leave-one-subject-out AUROC.

The result ships as ``calibration.json`` beside this module; ``python -m attunexr.simulation._calibration`` rebuilds
it from the data (a test checks the shipped file against a fresh computation).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import DataFormatError
from attunexr.recording import Recording

__all__ = ["Calibration", "calibrate_from_stress_predict", "load_calibration", "window_features_stress_predict"]

logger = logging.getLogger(__name__)

_TASKS = ("stroop", "interview")
_REST = ("baseline", "rest")
#: added to skin conductance before taking logs (uS): keeps near-zero E4 readings finite
SCL_OFFSET = 0.05


@dataclass
class Calibration:
    """Physiological response sizes and timing measured on Stress-Predict, plus the fitted window estimator."""

    source: str
    n_subjects: int
    hr_rest_mean: float
    hr_rest_sd: float
    log_scl_rest_mean: float
    log_scl_rest_sd: float
    dhr_task_mean: float
    dhr_task_sd: float
    dlog_scl_task_mean: float
    dlog_scl_task_sd: float
    tau_hr_s: float
    tau_scl_s: float
    estimator_features: tuple[str, ...]
    estimator_coef: list[float]  # intercept first
    estimator_cov: list[list[float]]
    estimator_loso_auroc: float
    per_subject: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> str:
        d = asdict(self)
        d["estimator_features"] = list(self.estimator_features)
        return json.dumps(d, indent=1)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        d = dict(d)
        d["estimator_features"] = tuple(d["estimator_features"])
        return cls(**d)


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The shipped calibration (or one saved at ``path``)."""
    try:
        text = (Path(path).read_text() if path is not None
                else resources.files("attunexr.simulation").joinpath("calibration.json").read_text())
        return Calibration.from_dict(json.loads(text))
    except (OSError, json.JSONDecodeError, TypeError, KeyError) as err:
        where = path or "attunexr/simulation/calibration.json"
        raise DataFormatError(where, f"cannot read the simulator calibration ({err}); rebuild it with "
                                     "`python -m attunexr.simulation._calibration`") from err


def _per_second(rec: Any, name: str, grid: NDArray[np.float64]) -> NDArray[np.float64]:
    s = rec.streams[name]
    v = s.values if s.values.ndim == 1 else s.values[:, 0]
    return np.asarray(np.interp(grid, s.timestamps, v, left=np.nan, right=np.nan), dtype=np.float64)


def _labels(rec: Any, grid: NDArray[np.float64]) -> NDArray[np.object_]:
    return np.asarray(rec.label_at(grid), dtype=object)


def _fit_tau(curve: NDArray[np.float64], t: NDArray[np.float64]) -> float:
    """Least-squares time constant of ``A (1 - exp(-t / tau))`` for ``t >= 0``."""
    pos = t >= 0
    best = (np.inf, 30.0)
    for tau in np.arange(2.0, 240.0, 1.0):
        basis = 1.0 - np.exp(-t[pos] / tau)
        a = float(basis @ curve[pos] / (basis @ basis))
        err = float(np.sum((curve[pos] - a * basis) ** 2))
        if err < best[0]:
            best = (err, float(tau))
    return best[1]


def window_features_stress_predict(rec: Recording, window: float = 60.0, hop: float = 10.0) -> dict[str, NDArray[Any]]:
    """Baseline-normalised window features of one Stress-Predict recording (E4 HR and EDA).

    Returns arrays ``hr_delta`` (bpm above the resting baseline), ``log_scl_ratio`` (log of skin conductance over its
    baseline), ``label`` (1 task, 0 baseline/rest, -1 other) and the subject's baseline values.
    """
    grid = np.arange(np.ceil(rec.t_start), np.floor(rec.t_end), dtype=np.float64)
    hr = _per_second(rec, "hr", grid)
    scl = _per_second(rec, "eda", grid)
    lab = _labels(rec, grid)
    base = np.array([x == "baseline" for x in lab]) & (grid >= grid[0] + 60)
    hr_b = float(np.nanmean(hr[base]))
    scl_b = float(np.nanmean(scl[base]))
    ends = np.arange(grid[0] + window, grid[-1], hop)
    n = int(window)
    idx = np.searchsorted(grid, ends)
    hr_w = np.array([np.nanmean(hr[i - n:i]) for i in idx])
    scl_w = np.array([np.nanmean(scl[i - n:i]) for i in idx])
    labels = []
    for e in ends:
        w = rec.window_label(e - window, e, 0.8)
        labels.append(1 if w in _TASKS else 0 if w in _REST else -1)
    return {
        "hr_delta": hr_w - hr_b,
        "log_scl_ratio": np.log((scl_w + SCL_OFFSET) / (scl_b + SCL_OFFSET)),
        "label": np.array(labels),
        "hr_base": np.array(hr_b),
        "scl_base": np.array(scl_b),
    }


def calibrate_from_stress_predict(data_dir: str | Path | None = None, n_boot: int = 100, seed: int = 0) -> Calibration:
    """Measure the calibration on the real Stress-Predict recordings (about 15 s on this machine)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from attunexr.io.datasets import get_dataset

    ds = get_dataset("stress-predict")
    per: dict[str, dict[str, float]] = {}
    onset_hr: list[NDArray[np.float64]] = []
    onset_scl: list[NDArray[np.float64]] = []
    lag = np.arange(-60.0, 180.0)
    xs: list[NDArray[np.float64]] = []
    ys: list[NDArray[np.int64]] = []
    gs: list[NDArray[np.int64]] = []
    for subject in ds.subjects(data_dir):
        rec = ds.load(subject, data_dir)
        if "hr" not in rec.streams or "eda" not in rec.streams:
            continue
        grid = np.arange(np.ceil(rec.t_start), np.floor(rec.t_end), dtype=np.float64)
        hr = _per_second(rec, "hr", grid)
        lscl = np.log(_per_second(rec, "eda", grid) + SCL_OFFSET)
        lab = _labels(rec, grid)
        base = np.array([x == "baseline" for x in lab]) & (grid >= grid[0] + 60)
        task = np.array([x in _TASKS for x in lab])
        if base.sum() < 60 or task.sum() < 60:
            continue
        per[subject] = {
            "hr_rest": float(np.nanmean(hr[base])), "log_scl_rest": float(np.nanmean(lscl[base])),
            "dhr_task": float(np.nanmean(hr[task]) - np.nanmean(hr[base])),
            "dlog_scl_task": float(np.nanmean(lscl[task]) - np.nanmean(lscl[base])),
        }
        for iv in rec.intervals:
            if iv.label in _TASKS:
                tt = iv.onset + lag
                h = np.interp(tt, grid, hr, left=np.nan, right=np.nan)
                s = np.interp(tt, grid, lscl, left=np.nan, right=np.nan)
                if np.isfinite(h).all() and np.isfinite(s).all():
                    onset_hr.append(h - h[lag < 0].mean())
                    onset_scl.append(s - s[lag < 0].mean())
        f = window_features_stress_predict(rec)
        keep = (f["label"] >= 0) & np.isfinite(f["hr_delta"]) & np.isfinite(f["log_scl_ratio"])
        xs.append(np.column_stack([f["hr_delta"][keep], f["log_scl_ratio"][keep]]))
        ys.append(f["label"][keep])
        gs.append(np.full(int(keep.sum()), len(gs)))
    if len(per) < 5:
        raise DataFormatError(data_dir, f"only {len(per)} usable Stress-Predict subjects; need at least 5")
    X, y, g = np.vstack(xs), np.concatenate(ys), np.concatenate(gs)
    model = LogisticRegression(C=1.0).fit(X, y)
    coef = [float(model.intercept_[0]), *map(float, model.coef_[0])]
    rng = np.random.default_rng(seed)
    boots = []
    groups = np.unique(g)
    for _ in range(n_boot):
        pick = rng.choice(groups, size=groups.size, replace=True)
        rows = np.concatenate([np.flatnonzero(g == k) for k in pick])
        m = LogisticRegression(C=1.0).fit(X[rows], y[rows])
        boots.append([m.intercept_[0], *m.coef_[0]])
    cov = np.cov(np.array(boots).T)
    # leave-one-subject-out AUROC of the same two-feature model (honest figure for the report)
    scores = np.empty(y.size)
    for k in groups:
        test = g == k
        m = LogisticRegression(C=1.0).fit(X[~test], y[~test])
        scores[test] = m.decision_function(X[test])
    auroc = float(roc_auc_score(y, scores))
    hr_curve = np.mean(onset_hr, axis=0)
    scl_curve = np.mean(onset_scl, axis=0)
    vals = {k: np.array([p[k] for p in per.values()]) for k in ("hr_rest", "log_scl_rest", "dhr_task", "dlog_scl_task")}
    cal = Calibration(
        source="Stress-Predict (Iqbal et al., Sensors 2022), Empatica E4 HR and EDA; baseline interval vs Stroop + "
               "interview",
        n_subjects=len(per),
        hr_rest_mean=float(vals["hr_rest"].mean()), hr_rest_sd=float(vals["hr_rest"].std(ddof=1)),
        log_scl_rest_mean=float(vals["log_scl_rest"].mean()), log_scl_rest_sd=float(vals["log_scl_rest"].std(ddof=1)),
        dhr_task_mean=float(vals["dhr_task"].mean()), dhr_task_sd=float(vals["dhr_task"].std(ddof=1)),
        dlog_scl_task_mean=float(vals["dlog_scl_task"].mean()),
        dlog_scl_task_sd=float(vals["dlog_scl_task"].std(ddof=1)),
        tau_hr_s=_fit_tau(hr_curve, lag), tau_scl_s=_fit_tau(scl_curve, lag),
        estimator_features=("hr_delta", "log_scl_ratio"),
        estimator_coef=coef, estimator_cov=cov.tolist(), estimator_loso_auroc=auroc,
        per_subject=per,
    )
    logger.info("calibrated on %d subjects: dHR %.1f +- %.1f bpm, tau_hr %.0f s, tau_scl %.0f s, LOSO AUROC %.3f",
                cal.n_subjects, cal.dhr_task_mean, cal.dhr_task_sd, cal.tau_hr_s, cal.tau_scl_s, auroc)
    return cal


if __name__ == "__main__":  # rebuild the shipped calibration file
    logging.basicConfig(level=logging.INFO)
    out = Path(__file__).with_name("calibration.json")
    c = calibrate_from_stress_predict()
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(c.to_json())
    tmp.replace(out)
    logger.info("wrote %s", out)
