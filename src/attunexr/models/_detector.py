"""`ArousalDetector` and `CybersicknessDetector`: calibrated, abstaining, explained window classifiers.

Fit procedure (everything on the training data given to ``fit``; nothing from evaluation subjects):

1. Build the design (:mod:`attunexr.models._design`): raw features, person-relative deltas (``normalize``) and
   causal context over the preceding windows.
2. Cross-fit ``n_inner_folds`` models on subject-grouped folds of the training data to get out-of-fold log-odds.
3. Fit the calibrator (Platt or isotonic) on the out-of-fold log-odds, choose the decision threshold by Youden's J
   on the calibrated out-of-fold probabilities, and fit the conformal gate on them (cross-conformal).
4. Fit the final model on all training rows.

The classifier is an L2 logistic regression on median-imputed, standardized features (exact linear
contributions) or LightGBM (Ke et al., NeurIPS 2017; TreeSHAP contributions, Lundberg et al., Nat. Mach. Intell.
2020). Rows whose ``y`` is NaN (windows without a class, e.g. transitions) feed the context features only.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import skew
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y
from threadpoolctl import threadpool_limits

from attunexr.errors import ConfigurationError, ModelError
from attunexr.models._calibration import Calibrator, ConformalGate, youden_threshold
from attunexr.models._columns import Columns, FrameColumns, RecordColumns, as_columns
from attunexr.models._design import NORMALIZATIONS, OnlineDesign, design_names, offline_design, recording_keys
from attunexr.models._estimate import (
    REASON_ATYPICAL,
    REASON_BASELINE,
    REASON_GAPS,
    REASON_OK,
    REASON_POOR_QUALITY,
    REASON_UNCERTAIN,
    Estimate,
)
from attunexr.models._metrics import auroc, expected_calibration_error
from attunexr.models._shift import feature_shift, reference_sample

__all__ = ["ArousalDetector", "CybersicknessDetector", "DetectorState", "NON_FEATURE_COLUMNS", "TIME_IN_VR"]

logger = logging.getLogger(__name__)

#: Column holding seconds since the VR ride started (cybersickness only).
TIME_IN_VR = "time_in_vr"
#: Columns of a feature table that are never model inputs (ids, labels, times, quality flags).
NON_FEATURE_COLUMNS = frozenset(
    {"dataset", "subject", "session", "site", "device", "t_start", "t_end", "label"}
)
MODELS = ("logistic", "lightgbm", "ensemble", "auto")
#: heads of ``model="auto"``: chosen by inner subject-grouped out-of-fold AUROC inside ``fit`` (nested selection)
HEADS = ("lightgbm", "logistic", "ensemble")
#: Quality modes: "row" abstains when the row's ``quality_ok`` is false; "groups" blanks (NaN) the features of each
#: signal group whose quality ``q_<group>`` is below :data:`GROUP_QUALITY_MIN` and abstains only when no core group
#: (:data:`CORE_GROUPS`) is usable.
QUALITY_MODES = ("row", "groups")
GROUP_QUALITY_MIN = 0.5
CORE_GROUPS = ("cardiac", "eda")
#: groups whose features are blanked when their quality is poor ("groups" mode)
MASKED_GROUPS = ("cardiac", "eda", "temp")
#: an abstention of the quality gate is reported as ``"signal_gaps"`` when gaps took at least this share of the
#: window (column ``gap_fraction`` of the feature table)
GAP_REASON_MIN = 0.25
#: EDA level feature and the EDA features whose scale is the device's gain (µS per unit): with ``device_robust`` the
#: level enters as its logarithm (so a gain becomes an offset that the person reference removes) without its raw
#: value, and the others are divided by the window's own skin-conductance level (dimensionless ratios).
EDA_LEVEL = "scl_mean"
EDA_SCALED = ("scl_slope", "scr_amp_mean", "eda_phasic_area", "eda_phasic_max", "eda_dmax", "eda_range")
#: skin-conductance level (µS) below which the electrodes lost contact; ratios use at least this level
EDA_LEVEL_FLOOR = 0.05


def pure_rows(y: Any, keys: NDArray[np.object_], t: NDArray[np.float64], k: int) -> NDArray[np.bool_]:
    """Rows whose target equals the targets of the ``k`` rows before and after them in the same recording.

    With overlapping windows on a regular grid (rows ordered by ``t`` within each recording), ``k`` rows either side
    span the window's own extent, so a pure row lies wholly inside one labelled interval; windows straddling a task
    change carry a mixed state. Used only to choose *training* rows: every labelled window is still predicted and
    evaluated.
    """
    codes = pd.factorize(pd.Series(list(np.asarray(y, dtype=object))), use_na_sentinel=True)[0]
    out = np.zeros(codes.size, dtype=bool)
    for idx in pd.Series(np.arange(codes.size)).groupby(pd.Series(keys), sort=False).indices.values():
        idx = np.asarray(idx)[np.argsort(t[idx], kind="stable")]
        c = codes[idx]
        if c.size > 2 * k:
            mid = c[k : c.size - k]
            out[idx[k : c.size - k]] = (mid >= 0) & (c[: c.size - 2 * k] == mid) & (c[2 * k :] == mid)
    return out


def first_windows_if_unlabelled(
    is_base: NDArray[np.bool_], keys: NDArray[np.object_], t: NDArray[np.float64], n: int
) -> NDArray[np.bool_]:
    """``is_base``, with the first ``n`` windows (by ``t``) marked for each recording that has no baseline row."""
    out = is_base.copy()
    for idx in pd.Series(np.arange(t.size)).groupby(pd.Series(keys), sort=False).indices.values():
        idx = np.asarray(idx)
        if not out[idx].any():
            out[idx[np.argsort(t[idx], kind="stable")[:n]]] = True
    return out


def _is_quality(col: str) -> bool:
    return col in ("quality_ok", "gap_fraction") or col.startswith("q_")


def base_feature_columns(df: pd.DataFrame) -> list[str]:
    """Numeric model-input columns of a feature table (no ids, times, labels, quality columns or time in VR)."""
    return [
        c
        for c in df.columns
        if c not in NON_FEATURE_COLUMNS
        and not _is_quality(str(c))
        and c != TIME_IN_VR
        and (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))
    ]


def g_has_features(det: Any, qcol: str) -> bool:
    """Whether the fitted detector uses any feature of the signal group behind quality column ``qcol``."""
    groups = getattr(det, "masked_groups_", None)
    if groups is None:
        return True
    return qcol[2:] in groups


class DetectorState:
    """The live state of a detector for one session: per recording, the window history and the person's baseline.

    A fitted detector is immutable and shared (by every session of a clinic, by the benchmark's hundreds of
    sessions); what changes as windows arrive lives here. A live session asks the detector for one
    (:meth:`ArousalDetector.new_state`), passes it to every ``estimate(rows, state=...)`` call and drops it when it
    stops, so sessions never see each other's history and a closed session leaves nothing behind.
    """

    __slots__ = ("recordings",)

    def __init__(self) -> None:
        #: per recording key (``dataset/subject/session``): the online design (history, baseline, reference)
        self.recordings: dict[str, OnlineDesign] = {}

    def __len__(self) -> int:
        return len(self.recordings)

    def clear(self) -> None:
        """Forget every recording's history and baseline."""
        self.recordings.clear()

    def __repr__(self) -> str:
        return f"<DetectorState recordings={sorted(self.recordings)}>"


class _Ensemble:
    """Mean log-odds of LightGBM and L2 logistic regression fitted on the same rows (contributions average too)."""

    def __init__(self, trees: Any, linear: Any) -> None:
        self.trees = trees
        self.linear = linear

    def fit(self, Z: NDArray[np.float64], t: NDArray[np.int_]) -> _Ensemble:
        self.trees.fit(Z, t)
        self.linear.fit(Z, t)
        return self


class _Detector(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Shared implementation; use :class:`ArousalDetector` or :class:`CybersicknessDetector`."""

    _uses_time = False
    _default_name = "detector"

    def __init__(
        self,
        normalize: str = "baseline",
        model: str = "logistic",
        features: Sequence[str] | None = None,
        context: int = 6,
        keep_raw: bool = True,
        log_transform: bool = True,
        running: bool = False,
        long: int = 0,
        train_stride: int = 1,
        train_purity: int = 0,
        calibration: str = "sigmoid",
        alpha: float = 0.1,
        n_inner_folds: int = 3,
        quality_gate: bool = True,
        quality_mode: str = "row",
        device_robust: bool = False,
        baseline_label: str = "baseline",
        baseline_windows: int = 12,
        C: float = 0.05,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        random_state: int = 0,
        name: str = "",
    ) -> None:
        self.normalize = normalize
        self.model = model
        self.features = features
        self.context = context
        self.keep_raw = keep_raw
        self.log_transform = log_transform
        self.running = running
        self.long = long
        self.train_stride = train_stride
        self.train_purity = train_purity
        self.calibration = calibration
        self.alpha = alpha
        self.n_inner_folds = n_inner_folds
        self.quality_gate = quality_gate
        self.quality_mode = quality_mode
        self.device_robust = device_robust
        self.baseline_label = baseline_label
        self.baseline_windows = baseline_windows
        self.C = C
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.random_state = random_state
        self.name = name

    def __setstate__(self, state: dict[str, Any]) -> None:
        # models saved before quality_mode existed gated on the whole row
        state.setdefault("quality_mode", "row")
        # models saved before the long-horizon features and label-purity training existed
        state.setdefault("long", 0)
        state.setdefault("train_purity", 0)
        # models saved before the device-robust EDA forms existed used the device's own scale
        state.setdefault("device_robust", False)
        # models saved before DetectorState kept their live state inside the estimator
        state.pop("online_", None)
        state.pop("_own_state", None)
        super().__setstate__(state)

    def __getstate__(self) -> dict[str, Any]:
        # the offline convenience state is live data, not part of the fitted model
        state: dict[str, Any] = dict(super().__getstate__())
        state.pop("_own_state", None)
        return state

    # ------------------------------------------------------------------ helpers
    def _as_frame(self, X: Any, fitting: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        arr = check_array(X, accept_sparse=False, ensure_all_finite="allow-nan", dtype=np.float64)
        if not fitting and hasattr(self, "n_features_in_") and arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def _check_params(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ConfigurationError(
                f"normalize must be one of {', '.join(NORMALIZATIONS)}, not {self.normalize!r}"
            )
        if self.model not in MODELS:
            raise ConfigurationError(f"model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if self.quality_mode not in QUALITY_MODES:
            raise ConfigurationError(
                f"quality_mode must be one of {', '.join(QUALITY_MODES)}, not {self.quality_mode!r}"
            )
        if not isinstance(self.context, int | np.integer) or self.context < 0:
            raise ConfigurationError(
                f"context must be a non-negative number of windows, not {self.context!r}"
            )
        for name in ("long", "train_purity"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 0:
                raise ConfigurationError(f"{name} must be a non-negative number of windows, not {v!r}")
        if self.long > 0 and self.normalize == "none":
            raise ConfigurationError(
                "long-horizon features (long > 0) need a person reference (normalize 'baseline' or 'recording'): "
                "without one they start at 0 with every session and so encode the time since its start; "
                "set long=0 for normalize='none'"
            )

    def _base_columns(self, df: pd.DataFrame) -> list[str]:
        cols = list(self.features) if self.features is not None else base_feature_columns(df)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ModelError(f"feature table lacks the model's input columns: {', '.join(missing)}")
        if self._uses_time:
            if TIME_IN_VR not in df.columns:
                raise ModelError(
                    f"{type(self).__name__} needs a {TIME_IN_VR!r} column (seconds since the ride began)"
                )
            cols = [c for c in cols if c != TIME_IN_VR]
        return cols

    def _transform_values(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Apply the fitted log1p transform of skewed non-negative features (no-op when disabled)."""
        mask = getattr(self, "log_mask_", None)
        if mask is None or not mask.any():
            return values
        values = values.copy()
        values[:, mask] = np.log1p(np.clip(values[:, mask], 0.0, None))
        return values

    def _robust(self, values: NDArray[np.float64], base: Sequence[str]) -> NDArray[np.float64]:
        """Device-robust forms of the EDA amplitude features (``device_robust``; see :data:`EDA_SCALED`)."""
        if not getattr(self, "device_robust", False) or EDA_LEVEL not in base:
            return values
        values = values.copy()
        i = list(base).index(EDA_LEVEL)
        with np.errstate(invalid="ignore"):
            level = np.fmax(values[:, i], EDA_LEVEL_FLOOR)  # NaN stays NaN
            for j, f in enumerate(base):
                if f in EDA_SCALED:
                    values[:, j] = values[:, j] / level
            values[:, i] = np.log(level)
        return values

    def _values(self, df: pd.DataFrame | Columns, base: list[str]) -> NDArray[np.float64]:
        """Base feature values, log-transformed where fitted, with poor-quality signal groups blanked ("groups")."""
        cols = as_columns(df)
        values = self._transform_values(self._robust(cols.floats(base), base))
        groups: dict[str, list[int]] = getattr(self, "masked_groups_", {}) or {}
        if getattr(self, "quality_mode", "row") != "groups" or not groups:
            return values
        values = values.copy()
        for g, idx in groups.items():
            q = f"q_{g}"
            if q in cols:
                poor = ~(cols.numeric(q) >= GROUP_QUALITY_MIN)
                if poor.any():
                    values[np.ix_(poor, np.asarray(idx, dtype=np.intp))] = np.nan
        return values

    def poor_quality(self, df: pd.DataFrame | Columns) -> NDArray[np.bool_]:
        """Rows on which the quality gate abstains (see ``quality_mode``); all ``False`` without quality columns."""
        data = as_columns(df)
        n = len(data)
        if not self.quality_gate:
            return np.zeros(n, dtype=bool)
        if getattr(self, "quality_mode", "row") == "groups":
            cols = [f"q_{g}" for g in CORE_GROUPS if f"q_{g}" in data]
            cols = [c for c in cols if g_has_features(self, c)] or cols
            if cols:
                q = np.column_stack([data.numeric(c) for c in cols])
                return np.asarray(~np.any(q >= GROUP_QUALITY_MIN, axis=1), dtype=bool)
        if "quality_ok" in data:
            return np.asarray(~data.flags("quality_ok"), dtype=bool)
        return np.zeros(n, dtype=bool)

    @staticmethod
    def _gappy(df: pd.DataFrame | Columns) -> NDArray[np.bool_]:
        """Rows whose window lost at least :data:`GAP_REASON_MIN` of its core samples to gaps."""
        cols = as_columns(df)
        if "gap_fraction" not in cols:
            return np.zeros(len(cols), dtype=bool)
        return np.asarray(cols.numeric("gap_fraction") >= GAP_REASON_MIN, dtype=bool)

    def _design(self, df: pd.DataFrame, base: list[str]) -> NDArray[np.float64]:
        values = self._values(df, base)
        keys = recording_keys(df)
        t = df["t_end"].to_numpy(dtype=float) if "t_end" in df.columns else np.arange(len(df), dtype=float)
        is_base = (
            (df["label"].astype(str) == self.baseline_label).to_numpy()
            if "label" in df.columns
            else np.zeros(len(df), dtype=bool)
        )
        if self.normalize == "baseline":
            # as live (``estimate``): a recording without a labelled baseline rest uses its first windows
            is_base = first_windows_if_unlabelled(is_base, keys, t, int(self.baseline_windows))
        Z = offline_design(
            values,
            keys,
            t,
            is_base,
            self.normalize,
            int(self.context),
            self.keep_raw,
            self.running,
            int(self.long),
            getattr(self, "raw_mask_", None),
        )
        if self._uses_time:
            Z = np.hstack([Z, df[[TIME_IN_VR]].to_numpy(dtype=float)])
        return Z

    def _kind(self) -> str:
        """The model family that answers: ``model``, or the head chosen inside ``fit`` for ``model="auto"``."""
        return str(getattr(self, "head_", None) or self.model) if self.model == "auto" else str(self.model)

    def _head_logits(self, model: _Ensemble, Z: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        lin = np.asarray(model.linear.decision_function(Z), dtype=float)
        tree = np.asarray(model.trees.booster_.predict(Z, raw_score=True, num_threads=1), dtype=float)
        return {"lightgbm": tree, "logistic": lin, "ensemble": 0.5 * (lin + tree)}

    def _new_model(self) -> Any:
        if self.model in ("ensemble", "auto"):
            return _Ensemble(self._new_single("lightgbm"), self._new_single("logistic"))
        return self._new_single(self.model)

    def _new_single(self, kind: str) -> Any:
        if kind == "logistic":
            return Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler()),
                    ("clf", LogisticRegression(C=self.C, max_iter=2000, class_weight="balanced")),
                ]
            )
        import lightgbm as lgb

        return lgb.LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=40,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            max_bin=63,
            reg_lambda=1.0,
            class_weight="balanced",
            random_state=self.random_state,
            n_jobs=1,
            verbose=-1,
        )

    def _logit(self, model: Any, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        if isinstance(model, _Ensemble):
            kind = self._kind()
            if kind == "logistic":
                return np.asarray(model.linear.decision_function(Z), dtype=float)
            if kind == "lightgbm":
                return np.asarray(model.trees.booster_.predict(Z, raw_score=True, num_threads=1), dtype=float)
            return self._head_logits(model, Z)[kind]
        if self.model == "logistic":
            return np.asarray(model.decision_function(Z), dtype=float)
        return np.asarray(model.booster_.predict(Z, raw_score=True, num_threads=1), dtype=float)

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any) -> _Detector:
        """Learn from feature table ``X`` and targets ``y`` (two classes; NaN marks context-only rows)."""
        # One BLAS thread: on a shared machine oversubscribed threads make the solver ~10x slower.
        with threadpool_limits(limits=1):
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> _Detector:
        self._check_params()
        fitting_array = not isinstance(X, pd.DataFrame)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if fitting_array:
            X, y = check_X_y(
                X, y, accept_sparse=False, ensure_all_finite="allow-nan", dtype=np.float64, y_numeric=False
            )
        df = self._as_frame(X, fitting=True)
        y_arr = np.asarray(y)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected",
                DataConversionWarning,
                stacklevel=2,
            )
            y_arr = y_arr.ravel()
        if y_arr.ndim != 1 or y_arr.shape[0] != len(df):
            raise ValueError(
                f"y must be 1-D with one value per row of X ({len(df)}), got shape {y_arr.shape}"
            )
        if len(df) == 0:
            raise ValueError("cannot fit on 0 samples: the feature table is empty")
        labelled = ~pd.isna(pd.Series(y_arr)).to_numpy()
        y_lab = y_arr[labelled]
        check_classification_targets(y_lab)
        classes = np.unique(y_lab)
        if classes.size > 2:
            raise ValueError(f"Only binary classification is supported; y has {classes.size} classes")
        if classes.size < 2:
            raise ValueError(f"a detector needs two classes in y, got one class: {classes.tolist()}")
        self.classes_ = classes
        base = self._base_columns(df)
        if not base:
            raise ModelError("the feature table has no numeric feature columns")
        if fitting_array:
            self.n_features_in_ = df.shape[1]
        else:
            self.n_features_in_ = len(base) + int(self._uses_time)
        if not np.all(np.isfinite(df[base].to_numpy(dtype=float)) | np.isnan(df[base].to_numpy(dtype=float))):
            raise ValueError("Input X contains infinity or a value too large")
        self.feature_names_base_ = base
        self.masked_groups_: dict[str, list[int]] = {}
        if self.quality_mode == "groups":
            from attunexr.models._signals import group_of

            for i, f in enumerate(base):
                g = group_of(f)
                if g in MASKED_GROUPS:
                    self.masked_groups_.setdefault(g, []).append(i)
        raw = self._robust(df[base].to_numpy(dtype=float), base)
        self.raw_mask_ = [not (self.device_robust and f == EDA_LEVEL) for f in base]
        self.log_mask_ = np.zeros(len(base), dtype=bool)
        if self.log_transform:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mins = np.nanmin(np.where(np.isfinite(raw), raw, np.nan), axis=0)
                sk = skew(raw, axis=0, nan_policy="omit")
            self.log_mask_ = np.asarray((mins >= 0) & (np.asarray(sk, dtype=float) > 1.0), dtype=bool)
            if self.device_robust and EDA_LEVEL in base:
                self.log_mask_[base.index(EDA_LEVEL)] = False  # already a logarithm
        self.design_names_ = design_names(
            base,
            self.normalize,
            int(self.context),
            self.keep_raw,
            self.running,
            int(self.long),
            self.raw_mask_,
        ) + ([TIME_IN_VR] if self._uses_time else [])
        Z_all = self._design(df, base)
        n_phys = len(self.design_names_) - int(self._uses_time)  # time in VR is protocol, not physiology
        self.shift_reference_ = reference_sample(
            Z_all[:, :n_phys], recording_keys(df), self.design_names_[:n_phys]
        )
        fit_all = np.ones(len(df), dtype=bool)
        if self.train_purity > 0:
            t_end = (
                df["t_end"].to_numpy(dtype=float)
                if "t_end" in df.columns
                else np.arange(len(df), dtype=float)
            )
            fit_all = pure_rows(y_arr, recording_keys(df), t_end, int(self.train_purity))
        if self.train_stride > 1:
            # Thin heavily overlapping windows (context features were computed on every window first).
            pos_in_rec = pd.Series(np.arange(len(df))).groupby(recording_keys(df)).cumcount().to_numpy()
            labelled = labelled & (pos_in_rec % int(self.train_stride) == 0)
            y_lab = y_arr[labelled]
        Z = Z_all[labelled]
        t = (y_lab == classes[1]).astype(int)
        # Models are fitted on ``fit_rows`` (pure windows with train_purity); out-of-fold predictions, calibration,
        # threshold and conformal scores use every labelled window, as the model meets them at prediction time.
        fit_rows = fit_all[labelled]
        if np.unique(t[fit_rows]).size < 2:
            raise ModelError(
                f"train_purity={self.train_purity} leaves fewer than two classes to fit on; "
                "the labelled intervals are shorter than the window span it requires"
            )
        groups = recording_keys(df)[labelled]
        n_groups = np.unique(groups).size
        if n_groups >= 2:
            splitter: Any = GroupKFold(n_splits=min(self.n_inner_folds, n_groups))
            splits = list(splitter.split(Z, t, groups))
        else:
            n_min = int(min(np.sum(t == 0), np.sum(t == 1)))
            k = max(2, min(self.n_inner_folds, n_min))
            if n_min < 2:
                splits = [(np.arange(t.size), np.arange(t.size))]
            else:
                splits = list(StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(Z, t))
        oof = np.full(t.size, np.nan)
        self.head_ = None
        heads = {h: np.full(t.size, np.nan) for h in HEADS} if self.model == "auto" else {}
        self.fold_models_ = []
        for tr_all, va in splits:
            tr = tr_all[fit_rows[tr_all]]
            if np.unique(t[tr]).size < 2:
                continue
            m = self._new_model().fit(Z[tr], t[tr])
            if heads:
                for h, v in self._head_logits(m, Z[va]).items():
                    heads[h][va] = v
            else:
                oof[va] = self._logit(m, Z[va])
            self.fold_models_.append(m)
        self.head_scores_: dict[str, float] = {}
        self.head_calibration_: dict[str, tuple[Calibrator, float]] = {}
        if heads:
            okh = np.isfinite(heads[HEADS[0]])
            if not okh.any():
                raise ModelError("could not cross-fit: every inner fold lacked one of the classes")
            for h, v in heads.items():
                self.head_scores_[h] = auroc(t[okh], v[okh])
                cal = Calibrator(self.calibration).fit(v[okh], t[okh])
                self.head_calibration_[h] = (cal, youden_threshold(t[okh], cal.transform(v[okh])))
            # nested selection: the head with the best inner out-of-fold AUROC (ties: first in HEADS)
            self.head_ = max(HEADS, key=lambda h: (self.head_scores_[h], -HEADS.index(h)))
            oof = heads[self.head_]
        ok = np.isfinite(oof)
        if not ok.any():
            raise ModelError("could not cross-fit: every inner fold lacked one of the classes")
        self.calibrator_ = Calibrator(self.calibration).fit(oof[ok], t[ok])
        self.n_calibration_windows_ = int(ok.sum())
        p_oof = self.calibrator_.transform(oof[ok])
        self.threshold_ = youden_threshold(t[ok], p_oof)
        self.conformal_ = ConformalGate(self.alpha).fit(p_oof, t[ok])
        self.oof_auroc_ = auroc(t[ok], p_oof)
        self.oof_ece_ = expected_calibration_error(t[ok], p_oof)
        self.oof_ece_uncalibrated_ = expected_calibration_error(
            t[ok], 1.0 / (1.0 + np.exp(-np.clip(oof[ok], -40, 40)))
        )
        self.model_ = self._new_model().fit(Z[fit_rows], t[fit_rows])
        self.n_train_windows_ = int(fit_rows.sum())
        self.n_train_recordings_ = int(n_groups)
        self.train_positive_rate_ = float(t[fit_rows].mean())
        self._own_state = DetectorState()
        self._fast: list[tuple[Any, ...]] | None = None
        return self

    # ------------------------------------------------------------------ batch prediction
    def _prepare(self, X: Any) -> tuple[pd.DataFrame, NDArray[np.float64]]:
        check_is_fitted(self, "model_")
        df = self._as_frame(X, fitting=False)
        if isinstance(X, pd.DataFrame):
            Z = self._design(df, self._base_columns_for_predict(df))
        else:
            Z = self._design(df, list(df.columns))
        return df, Z

    def _base_columns_for_predict(self, df: pd.DataFrame | Columns) -> list[str]:
        names = as_columns(df)
        missing = [c for c in self.feature_names_base_ if c not in names]
        if self._uses_time and TIME_IN_VR not in names:
            missing.append(TIME_IN_VR)
        if missing:
            raise ModelError(
                f"model {self.model_name!r} needs inputs the data lacks: {', '.join(missing)}; "
                "use a model variant trained on the available signals"
            )
        return list(self.feature_names_base_)

    @property
    def model_name(self) -> str:
        return self.name or self._default_name

    def raw_logit(self, X: Any) -> NDArray[np.float64]:
        """Log-odds of the uncalibrated final model (what :meth:`explain` contributions sum to)."""
        _, Z = self._prepare(X)
        return self._logit(self.model_, Z)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Calibrated class probabilities, shape ``(n, 2)`` in the order of ``classes_``."""
        logit = self.raw_logit(X)
        p = self.calibrator_.transform(logit)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Calibrated log-odds minus the log-odds of the decision threshold (positive = predicted positive)."""
        p = self.predict_proba(X)[:, 1]
        pc = np.clip(p, 1e-300, 1 - 1e-16)
        t = min(max(self.threshold_, 1e-300), 1 - 1e-16)
        d = np.log(pc) - np.log1p(-pc) - (math.log(t) - math.log1p(-t))
        # keep the sign consistent with predict() where clipping flattens extreme probabilities
        d = np.where(p > self.threshold_, np.maximum(d, 1e-12), np.minimum(d, 0.0))
        return np.asarray(d, dtype=float)

    def predict(self, X: Any) -> NDArray[Any]:
        """Class decisions at the threshold chosen on the training data (Youden's J)."""
        p = self.predict_proba(X)[:, 1]
        return np.asarray(np.asarray(self.classes_)[(p > self.threshold_).astype(int)])

    def assess(self, X: pd.DataFrame) -> pd.DataFrame:
        """Vectorized offline outputs: probability, band, decision and abstention for every row of ``X``."""
        df, Z = self._prepare(X)
        logit = self._logit(self.model_, Z)
        p = self.calibrator_.transform(logit)
        folds = np.column_stack(
            [self.calibrator_.transform(self._logit(m, Z)) for m in self.fold_models_] + [p]
        )
        size = self.conformal_.set_size(p)
        reason = np.where(
            size == 2, REASON_UNCERTAIN, np.where(size == 0, REASON_ATYPICAL, REASON_OK)
        ).astype(object)
        reason[self.poor_quality(df)] = REASON_POOR_QUALITY
        reason[(reason == REASON_POOR_QUALITY) & self._gappy(df)] = REASON_GAPS
        extra: dict[str, Any] = {}
        if self.model == "auto" and getattr(self, "head_calibration_", None):
            for h, v in self._head_logits(self.model_, Z).items():
                cal, thr = self.head_calibration_[h]
                ph = cal.transform(v)
                extra[f"p_{h}"] = ph
                extra[f"d_{h}"] = (ph > thr).astype(int)
        return pd.DataFrame(
            {
                **extra,
                "probability": p,
                "lower": folds.min(axis=1),
                "upper": folds.max(axis=1),
                "logit": logit,
                "decision": (p > self.threshold_).astype(int),
                "abstained": reason != REASON_OK,
                "reason": reason,
            },
            index=df.index,
        )

    def shift(self, X: pd.DataFrame) -> dict[str, Any]:
        """How far the windows of ``X`` lie from the training data (see :func:`attunexr.models.feature_shift`).

        People are told apart by the ``subject`` column (else by recording) for the person-grouped
        cross-validation of the domain classifier.
        """
        df, Z = self._prepare(X)
        n_phys = Z.shape[1] - int(self._uses_time)
        groups = df["subject"].astype(str).to_numpy() if "subject" in df.columns else recording_keys(df)
        return feature_shift(getattr(self, "shift_reference_", None), Z[:, :n_phys], groups)

    # ------------------------------------------------------------------ explanations
    @staticmethod
    def _linear(model: Any) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
        """(fill values, scaled weights, offset-free mean, intercept) of a fitted logistic pipeline."""
        imp, sc, clf = (model.named_steps[k] for k in ("impute", "scale", "clf"))
        scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
        return imp.statistics_, clf.coef_[0] / scale, sc.mean_, float(clf.intercept_[0])

    def _linear_cache(self) -> list[tuple[Any, ...]]:
        cache: list[tuple[Any, ...]] | None = getattr(self, "_fast", None)
        if cache is None:
            cache = [
                self._linear(m.linear if isinstance(m, _Ensemble) else m)
                for m in [self.model_, *self.fold_models_]
            ]
            self._fast = cache
        return cache

    def _contrib_matrix(self, Z: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-row additive contributions ``(n, m + 1)`` (last column: bias) summing to the log-odds."""
        kind = self._kind()
        if kind in ("logistic", "ensemble"):
            fill, w, mean, b = self._linear_cache()[0]
            Zf = np.where(np.isnan(Z), fill, Z)
            lin = np.hstack([(Zf - mean) * w, np.full((Z.shape[0], 1), b)])
            if kind == "logistic":
                return lin
        booster = (self.model_.trees if isinstance(self.model_, _Ensemble) else self.model_).booster_
        tree = np.asarray(booster.predict(Z, pred_contrib=True, num_threads=1), dtype=float)
        return tree if kind == "lightgbm" else 0.5 * (lin + tree)

    def _fold_logits_one(self, z: NDArray[np.float64]) -> list[float]:
        if self._kind() == "logistic":
            out = []
            for fill, w, mean, b in self._linear_cache()[1:]:
                zf = np.where(np.isnan(z), fill, z)
                out.append(float((zf - mean) @ w + b))
            return out
        return [float(self._logit(m, z[None, :])[0]) for m in self.fold_models_]

    def explain(self, X: Any) -> pd.DataFrame:
        """Feature contributions on the log-odds scale for each row (columns: design names + ``bias``)."""
        df, Z = self._prepare(X)
        return pd.DataFrame(self._contrib_matrix(Z), columns=[*self.design_names_, "bias"], index=df.index)

    # ------------------------------------------------------------------ live
    def new_state(self) -> DetectorState:
        """A fresh live state for one session (see :class:`DetectorState`); pass it to :meth:`estimate`."""
        return DetectorState()

    def _default_state(self) -> DetectorState:
        own: DetectorState | None = getattr(self, "_own_state", None)
        if own is None:
            own = self._own_state = DetectorState()
        return own

    def set_baseline(self, rows: pd.DataFrame, key: str | None = None, state: DetectorState | None = None) -> None:
        """Set a person's reference from their baseline-rest feature rows (for live ``estimate``).

        ``state`` is the session's :class:`DetectorState`; without one, the detector's own offline state (see
        :meth:`estimate`).
        """
        check_is_fitted(self, "model_")
        k = key if key is not None else str(recording_keys(rows)[0]) if len(rows) else "recording"
        online = self._online(state if state is not None else self._default_state(), k)
        v = self._values(rows, list(self.feature_names_base_))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            online.ref = np.asarray(np.nanmedian(v, axis=0), dtype=float) if len(v) else None
        online.frozen = online.ref is not None

    def reset(self) -> None:
        """Forget the detector's own offline state (history and baselines of every recording).

        Session states (:meth:`new_state`) are not touched: each session owns and drops its own.
        """
        self._own_state = DetectorState()

    def _online(self, state: DetectorState, key: str) -> OnlineDesign:
        st = state.recordings.get(key)
        if st is None:
            st = OnlineDesign(
                len(self.feature_names_base_),
                self.normalize,
                int(self.context),
                self.keep_raw,
                self.running,
                int(self.long),
                getattr(self, "raw_mask_", None),
            )
            state.recordings[key] = st
        return st

    def estimate(self, rows: pd.DataFrame, state: DetectorState | None = None) -> list[Estimate]:
        """Estimates for feature rows arriving live, in time order (state is kept per recording between calls).

        ``state`` is the live state of the calling session (:meth:`new_state`); a live session owns one and
        drops it when it stops. Without ``state`` the detector's own offline state is used: one program estimating
        one recording after another (a replay, an evaluation, a benchmark) gets the same results as with a fresh
        state per recording; :meth:`reset` forgets it.

        For ``normalize="baseline"`` the person's reference comes from :meth:`set_baseline`, else from rows labelled
        ``baseline_label``, else from the first ``baseline_windows`` rows of the recording (the rest a clinic
        records before exposure); until it is complete the estimate abstains with ``"collecting_baseline"``.
        """
        return self._estimate(FrameColumns(rows), state)

    def estimate_records(
        self, rows: Sequence[Mapping[str, object]], state: DetectorState | None = None
    ) -> list[Estimate]:
        """:meth:`estimate` for feature rows given as mappings (a live session's new rows, one per hop).

        The same estimates as ``estimate(pd.DataFrame.from_records(rows), state)``, without building a table.
        """
        return self._estimate(RecordColumns(rows), state)

    def _estimate(self, rows: Columns, state: DetectorState | None) -> list[Estimate]:
        live = state if state is not None else self._default_state()
        check_is_fitted(self, "model_")
        base = self._base_columns_for_predict(rows)
        V = self._values(rows, base)
        keys = rows.keys()
        t_end = rows.floats(["t_end"])[:, 0] if "t_end" in rows else np.full(len(rows), math.nan)
        labels = rows.text("label") if "label" in rows else None
        poor = self.poor_quality(rows)
        gappy = self._gappy(rows)
        tvr = rows.floats([TIME_IN_VR])[:, 0] if self._uses_time else None
        names = [*self.design_names_, "bias"]
        out: list[Estimate] = []
        for i in range(len(rows)):
            st = self._online(live, str(keys[i]))
            reason = REASON_OK
            if self.normalize == "baseline" and not st.frozen:
                is_lab_base = labels is not None and labels[i] == self.baseline_label
                if labels is not None and not is_lab_base and st.collected and st.labelled:
                    st.frozen = True  # the labelled baseline rest is over
                else:
                    st.labelled = st.labelled or is_lab_base
                    st.collected.append(V[i])
                    with np.errstate(all="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        st.ref = np.asarray(np.nanmedian(np.vstack(st.collected), axis=0), dtype=float)
                    reason = REASON_BASELINE
                    if not st.labelled and len(st.collected) >= self.baseline_windows:
                        st.frozen = True
            z = st.push(V[i])
            if tvr is not None:
                z = np.append(z, tvr[i])
            Z = z[None, :]
            contrib = self._contrib_matrix(Z)[0]
            logit = float(contrib.sum())
            p = self.calibrator_.transform_one(logit)
            band = [self.calibrator_.transform_one(v) for v in self._fold_logits_one(z)] + [p]
            if reason == REASON_OK:
                size = int(self.conformal_.set_size(np.array([p]))[0])
                reason = REASON_UNCERTAIN if size == 2 else REASON_ATYPICAL if size == 0 else REASON_OK
            if poor[i]:
                reason = REASON_GAPS if gappy[i] else REASON_POOR_QUALITY
            out.append(
                Estimate(
                    t_end=float(t_end[i]),
                    probability=p,
                    lower=float(min(band)),
                    upper=float(max(band)),
                    abstained=reason != REASON_OK,
                    reason=reason,
                    contributions={n: float(c) for n, c in zip(names, contrib, strict=True)},
                    model=self.model_name,
                )
            )
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags


class ArousalDetector(_Detector):
    """Stress/anxiety/fear arousal versus calm from windowed physiology (no time-since-start input).

    Parameters
    ----------
    normalize
        ``"none"``, ``"baseline"`` (person's own pre-exposure rest; deployable; default) or ``"recording"``.
    model
        ``"logistic"`` (L2 logistic regression; exact linear contributions), ``"lightgbm"`` (TreeSHAP),
        ``"ensemble"`` (mean log-odds of both; contributions average too) or ``"auto"``: all three are cross-fitted
        on the subject-grouped inner folds and the one with the best inner out-of-fold AUROC is kept (``head_``,
        scores in ``head_scores_``), i.e. model selection nested inside the training data.
    features
        Base feature columns to use (default: every numeric feature column of the training table).
    context
        Number of preceding windows (current included) for the causal context/trend features; ``0`` disables them.
    keep_raw
        Keep the absolute feature values beside the person-relative ones.
    log_transform
        Log-transform (``log1p``) non-negative features whose training distribution is right-skewed (skewness > 1),
        so person-relative deltas become log-ratios (skin conductance and HRV powers vary by orders of magnitude).
    running
        Add each feature minus its median over all preceding windows of the session (causal, label-free).
    long
        Add the context mean of each feature minus its maximum and minimum over the last ``long`` windows, current
        included (``0`` disables them): recovery after a stressor sits below the recent peak, a new response above
        the recent trough. Before ``long`` windows have passed, the missing history counts as the person's
        reference level, so the values do not encode time since the start; hence it needs ``normalize`` other than
        ``"none"``.
    train_stride
        Fit on every ``train_stride``-th window of each recording (overlapping windows are nearly duplicates;
        thinning makes training faster without changing what the model sees at prediction time).
    train_purity
        Fit only on windows whose label equals the labels ``train_purity`` windows before and after (windows wholly
        inside one labelled interval; ``0`` fits on every labelled window). Prediction and evaluation still cover
        every labelled window, including those that straddle a change of task.
    calibration
        ``"sigmoid"`` (Platt) or ``"isotonic"``, fitted on out-of-fold predictions inside ``fit``.
    alpha
        Conformal miscoverage level; an estimate abstains when its prediction set is not a single class.
    n_inner_folds
        Subject-grouped folds used inside ``fit`` for calibration, threshold and conformal scores.
    quality_gate
        Abstain with ``"poor_signal_quality"`` on windows of poor signal quality (see ``quality_mode``).
    quality_mode
        ``"row"``: abstain where the row's ``quality_ok`` is false. ``"groups"``: blank the features of each signal
        group (cardiac, EDA, temperature) whose ``q_<group>`` is below 0.5, in training and prediction, and abstain
        only when neither cardiac nor EDA quality reaches 0.5. Abstentions on windows that gaps spoiled (at least a
        quarter of the window lost, ``gap_fraction``) carry the reason ``"signal_gaps"``.
    device_robust
        Make the EDA amplitude features comparable across devices: the skin-conductance level enters as its
        logarithm, relative to the person's reference only (no absolute value), and the other amplitude features
        (:data:`EDA_SCALED`) as ratios to the window's own level, so an amplifier's gain cancels.
    baseline_label
        Interval label of the person's pre-exposure rest.
    baseline_windows
        Live: number of first windows that form the baseline when none is given.
    C, n_estimators, learning_rate, num_leaves
        Fixed (untuned) hyper-parameters of the logistic regression / LightGBM.
    random_state
        Seed for LightGBM and array-input folds.
    name
        Model name reported in estimates and cards.
    """

    _default_name = "stress"


class CybersicknessDetector(_Detector):
    """Cybersickness versus comfort in VR; uses time in VR (column ``time_in_vr``) besides physiology.

    Parameters are those of :class:`ArousalDetector`; the default normalization is ``"none"`` because a VR
    session rarely has a labelled pre-ride rest in the training data.
    """

    _uses_time = True
    _default_name = "cybersickness"

    def __init__(
        self,
        normalize: str = "none",
        model: str = "logistic",
        features: Sequence[str] | None = None,
        context: int = 3,
        keep_raw: bool = True,
        log_transform: bool = True,
        running: bool = False,
        long: int = 0,
        train_stride: int = 1,
        train_purity: int = 0,
        calibration: str = "sigmoid",
        alpha: float = 0.1,
        n_inner_folds: int = 3,
        quality_gate: bool = True,
        quality_mode: str = "row",
        device_robust: bool = False,
        baseline_label: str = "baseline",
        baseline_windows: int = 6,
        C: float = 0.05,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        random_state: int = 0,
        name: str = "",
    ) -> None:
        super().__init__(
            normalize=normalize,
            model=model,
            features=features,
            context=context,
            keep_raw=keep_raw,
            log_transform=log_transform,
            running=running,
            long=long,
            train_stride=train_stride,
            train_purity=train_purity,
            calibration=calibration,
            alpha=alpha,
            n_inner_folds=n_inner_folds,
            quality_gate=quality_gate,
            quality_mode=quality_mode,
            device_robust=device_robust,
            baseline_label=baseline_label,
            baseline_windows=baseline_windows,
            C=C,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            random_state=random_state,
            name=name,
        )
