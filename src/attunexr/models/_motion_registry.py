"""Shipped head-motion models: loading, model cards and the registry build (``build_registry``).

The models themselves (:class:`~attunexr.models.MotionSicknessModel`, :class:`~attunexr.models.ToleranceModel`)
and their evaluation live in :mod:`attunexr.models._motion`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from attunexr.errors import ConfigurationError, ModelError
from attunexr.models._motion import (
    DATASET,
    DETECTION_INPUTS,
    EARLY_INPUTS,
    FMS_THRESHOLD,
    FORECAST_INPUTS,
    HOP,
    MOTION_TASKS,
    PRE_INPUTS,
    WINDOW,
    MotionSicknessModel,
    ToleranceModel,
    evaluate_motion,
    fit_motion_model,
    fit_tolerance_model,
    motion_table,
)

__all__ = ["MOTION_FILE", "MOTION_MODELS", "build_motion_models", "load_motion_model", "motion_card"]

logger = logging.getLogger(__name__)


#: shipped head-motion models (registry folder names)
MOTION_MODELS = ("cybersickness-motion", "tolerance")
MOTION_FILE = "motion.joblib"


def load_motion_model(
    name_or_path: str | Path = "cybersickness-motion",
) -> MotionSicknessModel | ToleranceModel:
    """A shipped head-motion model (``cybersickness-motion`` or ``tolerance``) or one saved in a folder."""
    import joblib

    from attunexr.models._registry import REGISTRY_DIR

    path = Path(name_or_path)
    folder = path if (path / MOTION_FILE).is_file() else REGISTRY_DIR / str(name_or_path)
    file = folder / MOTION_FILE
    if not file.is_file():
        raise ModelError(
            f"no head-motion model {str(name_or_path)!r} ({file} missing); build it with "
            "`python -m attunexr.models.build_registry cybersickness-motion tolerance`"
        )
    obj = joblib.load(file)
    if not isinstance(obj, MotionSicknessModel | ToleranceModel):
        raise ModelError(f"{file}: holds a {type(obj).__name__}, not a head-motion model")
    return obj


def _claims_and_failures(evs: dict[str, dict[str, Any]]) -> tuple[dict[str, list[str]], list[str]]:
    """Supported / unsupported claims and failure modes read from the evaluations' CIs (no new numbers)."""
    from attunexr.models._card import evidence_claims

    supported: list[str] = []
    not_supported: list[str] = []
    failures: list[str] = []

    def read(label: str, ev: dict[str, Any]) -> None:
        c = evidence_claims(ev)
        supported.extend(f"{label}: {x}" for x in c["supported"])
        not_supported.extend(f"{label}: {x}" for x in c["not_supported"])
        a = ((ev.get("metrics") or {}).get("auroc") or ev.get("auroc") or {}).get("value")
        if a is not None and a < 0.85:
            failures.append(f"{label}: AUROC {a:.3f} is below the 0.85 goal")
        for name, b in (ev.get("baselines") or {}).items():
            gain = b.get("model_minus_baseline") if isinstance(b, dict) else None
            if gain and gain.get("ci") and gain["ci"][0] is not None and gain["ci"][0] <= 0:
                failures.append(
                    f"{label}: does not beat the {name} baseline (paired difference {gain['value']:+.3f}, "
                    f"CI {gain['ci'][0]:+.3f} to {gain['ci'][1]:+.3f})"
                )
            alone = b.get("motion_only_minus_elapsed_time") if isinstance(b, dict) else None
            if alone and alone.get("ci"):
                text = (
                    f"{label}: head motion alone beats time in VR alone (difference {alone['value']:+.3f}, "
                    f"CI {alone['ci'][0]:+.3f} to {alone['ci'][1]:+.3f})"
                )
                (supported if alone["ci"][0] > 0 else not_supported).append(text)

    for task, ev in evs.items():
        read(task, ev)
        for sub in ("before_ride", "next_ride"):
            if isinstance(ev.get(sub), dict):
                block = ev[sub]
                read(f"{task} ({sub.replace('_', ' ')})", {"metrics": {"auroc": block["auroc"]}, **block})
    return {"supported": supported, "not_supported": not_supported}, failures


def motion_card(
    name: str, evaluations: dict[str, dict[str, Any]], training: dict[str, Any]
) -> dict[str, Any]:
    """The model card of a shipped head-motion model, from its evaluations (JSON-ready)."""
    import attunexr

    claims, failures = _claims_and_failures(evaluations)
    uses = {
        "cybersickness-motion": "During a VR session with a headset that streams head pose (and ideally its IMU): "
        f"the probability that the person's FMS is {FMS_THRESHOLD:g} or more now, and that it reaches "
        f"{FMS_THRESHOLD:g} within the next 60 s, for the clinician and the cybersickness safety monitor (which "
        "may only hold the level, ask for a check-in or pause; it never raises exposure).",
        "tolerance": "When planning the first VR session: a rough prior, with its uncertainty, that a four-minute "
        f"ride brings FMS to {FMS_THRESHOLD:g} or more, from MSSQ, age and gender.",
    }
    return {
        "schema": "attunexr-model-card/1 (TRIPOD+AI items where applicable)",
        "model": {
            "name": name,
            "version": attunexr.__version__,
            "type": "calibrated classifiers (family chosen by nested participant-grouped CV among L2 logistic "
            "regression and LightGBM; Platt calibration; Youden threshold)",
        },
        "intended_use": uses.get(name, ""),
        "intended_users": ["clinicians supervising VR sessions", "clinical and ML researchers"],
        "out_of_scope_uses": [
            "diagnosis; deciding alone to continue or stop exposure; people unlike healthy adult volunteers",
            "headsets whose head-motion signal differs from a ~2 Hz IMU without checking the features first",
        ],
        "outcome": {
            "definition": MOTION_TASKS.get(name, ""),
            "threshold": {
                "fms": FMS_THRESHOLD,
                "source": "pre-registered, docs/models.md (Keshavarz & Hecht 2011)",
            },
        },
        "source_of_data": training,
        "predictors": {
            "detection": list(DETECTION_INPUTS),
            "forecast": list(FORECAST_INPUTS),
            "tolerance_pre_ride": list(PRE_INPUTS),
            "tolerance_early": list(EARLY_INPUTS),
            "window_s": WINDOW,
            "hop_s": HOP,
        },
        "evaluation": {
            task: {
                k: ev.get(k)
                for k in (
                    "protocol",
                    "protocol_description",
                    "n_subjects",
                    "n_windows",
                    "metrics",
                    "baselines",
                    "paired_difference",
                    "threshold_sensitivity",
                    "horizons",
                    "first_60s_add_to_mssq",
                    "before_ride",
                    "next_ride",
                    "calibration",
                    "selection",
                    "provenance",
                    "timing",
                )
                if ev.get(k) is not None
            }
            for task, ev in evaluations.items()
        },
        "subgroups": {
            task: {
                k: v
                for k, v in (ev.get("subgroups") or {}).items()
                if k in ("by_condition", "by_gender", "by_mssq", "by_age")
            }
            for task, ev in evaluations.items()
        },
        "claims": claims,
        "known_failure_modes": failures
        + (
            [
                "Time in VR and MSSQ carry most of the signal: the detector adds only a little beyond them "
                "(see claims), so a falling estimate mostly tracks time on the ride.",
            ]
            if name == "cybersickness-motion"
            else [
                "Age and gender add nothing to MSSQ in these data (see before_ride): the estimate is mainly an "
                "MSSQ reading.",
            ]
        )
        + [
            "Features were learned from a ~2 Hz headset IMU; a pose-only client gives pose-derived angular speed and "
            "acceleration at its own rate, which was not validated.",
            "Angular velocity units differed between files (deg/s vs rad/s) and were harmonised by a rule; a client "
            "sending the wrong unit shifts the features.",
        ],
        "limitations": [
            "86 healthy volunteers, one (unstated) site, one ride content in 9 visual conditions; no external "
            "validation; the order of a participant's rides is known by clock time only (no dates).",
        ],
        "ethical_considerations": "Head motion and sickness ratings are health data; estimates support, never "
        "replace, clinical judgement.",
    }


def build_motion_models(
    names: Iterable[str] = MOTION_MODELS,
    out_dir: str | Path | None = None,
    n_boot: int = 500,
    data_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
) -> dict[str, float]:
    """Evaluate, fit and save the shipped head-motion models; returns wall time (s) per model.

    ``results_dir`` holds ``<task>.json`` files written by ``attunexr evaluate --task <task> --json`` (the same
    evaluation); when given, the cards use them instead of evaluating again, and only the final models are fitted.
    """

    def evaluated(task: str) -> dict[str, Any]:
        if results_dir is not None:
            file = Path(results_dir) / f"{task}.json"
            if not file.is_file():
                raise ConfigurationError(f"{file} missing: run attunexr evaluate --task {task} --json {file}")
            result: dict[str, Any] = json.loads(file.read_text())
            if result.get("task") != task or result.get("dataset") != DATASET:
                raise ConfigurationError(f"{file} is not a {task} evaluation on {DATASET}")
            return result
        return evaluate_motion(task, table=table, n_boot=n_boot, data_dir=data_dir).result

    import joblib

    from attunexr.models._card import render_card_html
    from attunexr.models._registry import REGISTRY_DIR

    base = Path(out_dir) if out_dir is not None else REGISTRY_DIR
    t0 = time.perf_counter()
    table = motion_table(data_dir)
    training = {
        "dataset": DATASET,
        "n_subjects": int(table["subject"].nunique()),
        "n_rides": int(table["session"].nunique()),
        "n_windows": int(len(table)),
        "population": "healthy volunteers (age, gender, MSSQ recorded); site not stated",
    }
    times: dict[str, float] = {}
    for name in names:
        t1 = time.perf_counter()
        if name == "cybersickness-motion":
            evs = {t: evaluated(t) for t in ("cybersickness-motion", "cybersickness-forecast")}
            obj: Any = fit_motion_model(table)
        elif name == "tolerance":
            evs = {"tolerance": evaluated("tolerance")}
            obj = fit_tolerance_model(table, evaluation=evs["tolerance"].get("before_ride"))
        else:
            raise ConfigurationError(
                f"unknown head-motion model {name!r}; choose from {', '.join(MOTION_MODELS)}"
            )
        card = motion_card(name, evs, training)
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(obj, folder / MOTION_FILE, compress=3)
        (folder / "card.json").write_text(json.dumps(card, indent=2, default=str))
        (folder / "card.html").write_text(render_card_html(card))
        times[name] = round(time.perf_counter() - t1 + (t1 - t0 if not times else 0.0), 1)
        logger.info("built %s in %.1f s", name, times[name])
    return times
