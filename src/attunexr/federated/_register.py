"""Register the federated global model as a model folder the registry loads like any other.

The folder (``model.joblib``, ``card.json``, ``card.html``, written by :func:`attunexr.models.save_model`) holds a
:class:`~attunexr.federated._detector.FederatedArousalDetector`. What the federation produced: the weights. What the
*deploying* site adds locally, as in federation: the imputation values and the standardization (its own training
part's means and standard deviations), the Platt calibration, the decision threshold (Youden's J) and the conformal
gate, all fitted on its own training people. These never left that site; the card says which site they come from.
A clinic that deploys the model elsewhere re-registers it with its own site (``standardize_from``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError

if TYPE_CHECKING:
    from attunexr.federated._detector import FederatedArousalDetector
    from attunexr.federated._site import Site

__all__ = ["build_detector", "register_global_model"]

Weights = list[NDArray[np.float64]]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEFAULT_NAME = "stress-federated"


def build_detector(weights: Weights, site: Site, *, name: str = DEFAULT_NAME) -> FederatedArousalDetector:
    """A fitted :class:`FederatedArousalDetector` with ``weights``, standardized and calibrated by ``site``."""
    import warnings

    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    import attunexr
    from attunexr.federated._detector import FederatedArousalDetector
    from attunexr.federated._model import predict_logit
    from attunexr.federated._site import LOG_FEATURES
    from attunexr.models import Calibrator, ConformalGate, auroc, expected_calibration_error, youden_threshold

    coef = np.asarray(weights[0], dtype=np.float64).reshape(-1)
    b = float(np.asarray(weights[1], dtype=np.float64).reshape(-1)[0])
    names = list(site.feature_names)
    if coef.size != len(names):
        raise ConfigurationError(f"weights have {coef.size} coefficients; the site has {len(names)} features")
    det = FederatedArousalDetector(
        normalize="none", model="logistic", features=names, context=0, keep_raw=True, log_transform=True,
        running=False, long=0, calibration="sigmoid", quality_gate=True, quality_mode="row", name=name,
    )
    raw, y = site.raw_rows("train")
    t = (y == 1.0).astype(int)
    X = site.standardize(raw)
    # the sklearn objects get their fitted structure from a fit on the site's own rows; every learned number is
    # then replaced: imputation and scaling by the site's statistics, coefficients by the federated weights
    model = Pipeline([("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
                      ("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=50))])
    logs = np.array([f in LOG_FEATURES for f in names])
    values = raw.copy()
    values[:, logs] = np.log1p(np.clip(values[:, logs], 0.0, None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(values, t)
    imp, sc, clf = (model.named_steps[k] for k in ("impute", "scale", "clf"))
    imp.statistics_ = site.fill_.copy()
    sc.mean_ = site.mean_.copy()
    sc.scale_ = site.scale_.copy()
    sc.var_ = site.scale_**2
    clf.coef_ = coef[None, :].copy()
    clf.intercept_ = np.array([b])
    logit = predict_logit(weights, X)
    cal = Calibrator("sigmoid").fit(logit, t)
    p = cal.transform(logit)
    det.classes_ = np.array([0.0, 1.0])
    det.n_features_in_ = len(names)
    det.feature_names_base_ = names
    det.masked_groups_ = {}
    det.raw_mask_ = [True] * len(names)
    det.log_mask_ = logs
    det.design_names_ = names
    det.head_ = None
    det.head_scores_ = {}
    det.head_calibration_ = {}
    det.fold_models_ = [model]
    det.model_ = model
    det.calibrator_ = cal
    det.n_calibration_windows_ = int(t.size)
    det.threshold_ = youden_threshold(t, p)
    det.conformal_ = ConformalGate(det.alpha).fit(p, t)
    det.oof_auroc_ = auroc(t, p)  # in-sample on the deploying site's training part (no inner folds here)
    det.oof_ece_ = expected_calibration_error(t, p)
    det.oof_ece_uncalibrated_ = expected_calibration_error(t, 1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40))))
    det.n_train_windows_ = int(t.size)
    det.n_train_recordings_ = site.n_train_subjects
    det.train_positive_rate_ = float(t.mean())
    det.reset()
    det._fast = None
    det.info_ = {"task": "stress", "window": 60.0, "hop": 10.0,
                 "positive": ["stroop", "interview", "hyperventilation", "high_stress"],
                 "negative": ["baseline", "rest", "no_stress"], "baseline": None, "signals": None,
                 "trained_on": "federated", "attunexr_version": getattr(attunexr, "__version__", "")}
    return det


def _clean(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN to ``None``."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def register_global_model(
    weights: Weights,
    sites: list[Site],
    *,
    out_dir: Path,
    rounds: int,
    strategy: str,
    privacy: dict[str, Any] | None,
    per_site: dict[str, Any],
    standardize_from: str | None = None,
    name: str | None = None,
) -> Path:
    """Write the global model into the model folder ``out_dir`` and return it.

    Parameters
    ----------
    weights
        The federated ``[coef, intercept]``.
    sites
        The federation's sites, as loaded here (only names and aggregate counts go into the card).
    out_dir
        The model folder (``load_model(out_dir)``; put it inside a ``--models-dir`` to offer it by name).
    rounds, strategy, privacy, per_site
        What the card states: rounds, strategy (e.g. ``"FedAvg"``, ``"FedProx(mu=0.1)"``), privacy settings
        (``None`` = none; e.g. ``{"noise_multiplier", "clip_norm", "epsilon", "delta", "secagg"}``) and per-site
        results (e.g. ``{site: {"auroc": {"value", "ci"}, "n_subjects"}}``).
    standardize_from
        Name of the site whose own statistics and calibration the deployed model uses (default: the first).
    name
        Model name (default: ``out_dir``'s name when it is a valid model name, else ``"stress-federated"``).
    """
    from attunexr.federated._site import FEATURES
    from attunexr.models import save_model

    if not sites:
        raise ConfigurationError("register_global_model needs the sites (at least the deploying one)")
    out_dir = Path(out_dir)
    by_name = {s.name: s for s in sites}
    deploy = by_name.get(standardize_from) if standardize_from is not None else sites[0]
    if deploy is None:
        raise ConfigurationError(f"standardize_from {standardize_from!r} is not one of the sites {list(by_name)}")
    model_name = name or (out_dir.name if _NAME.match(out_dir.name) else DEFAULT_NAME)
    if not _NAME.match(model_name):
        raise ConfigurationError(f"model name {model_name!r}: use letters, digits, '_' and '-' only (at most 64)")
    det = build_detector(weights, deploy, name=model_name)
    import attunexr

    card = _clean({
        "schema": "attunexr-model-card/1 (TRIPOD+AI items where applicable)",
        "model": {
            "name": model_name,
            "version": getattr(attunexr, "__version__", ""),
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "class": type(det).__name__,
            "type": "L2-regularized logistic regression on locally standardized features, trained federated",
            "family_selection": "fixed",
        },
        "intended_use": "research on federated training of the stress/arousal detector across clinics; estimates "
                        "of stress/arousal during sessions supervised by a clinician",
        "out_of_scope_uses": ["Diagnosis of any mental-health condition.",
                              "Autonomous decisions: exposure changes always need a clinician's approval."],
        "outcome": {"positive_labels": det.info_["positive"], "negative_labels": det.info_["negative"],
                    "time_horizon": "current state over the 60 s window ending at the estimate time"},
        "federated": {
            "sites": [{"name": s.name, "n_train_subjects": s.n_train_subjects, "n_train_windows": s.n_train,
                       "n_test_subjects": s.n_test_subjects} for s in sites],
            "rounds": int(rounds),
            "strategy": strategy,
            "privacy": privacy if privacy is not None else {"differential_privacy": None},
            "per_site": per_site,
            "what_left_each_site": "weights, the number of training windows and aggregate evaluation numbers",
        },
        "predictors": {"base_features": list(FEATURES), "log1p": [f for f in FEATURES if det.log_mask_[
            list(FEATURES).index(f)]], "design": list(det.design_names_)},
        "standardization": {
            "site": deploy.name,
            "description": f"missing values filled with, and features standardized by, the training-part means and "
                           f"standard deviations of site {deploy.name!r} (the deploying site's own statistics, as "
                           "each site standardized its own data during federated training; no pooled statistics "
                           "were exchanged). Deploying elsewhere: register again with that site's data.",
        },
        "calibration": {
            "method": "Platt scaling",
            "fitted_on": f"training part of site {deploy.name!r} (in-sample; monotone, so AUROC is unchanged)",
            "threshold": det.threshold_,
            "conformal_alpha": det.alpha,
            "note": "the probability band (lower/upper) is a point: there are no cross-fitted fold models",
        },
        "abstention": f"windows missing more than {det.max_missing:.0%} of the features, poor signal quality "
                      "(quality_ok false) or a conformal prediction set that is not a single class",
    })
    return save_model(det, out_dir, card, _card_html(card))


def _card_html(card: dict[str, Any]) -> str:
    """A self-contained HTML page of the card (every section as escaped, indented JSON)."""
    title = html.escape(str(card["model"]["name"]))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>",
             f"<h1>Model card: {title}</h1>"]
    for key, value in card.items():
        parts.append(f"<h2>{html.escape(key.replace('_', ' '))}</h2>")
        parts.append(f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
