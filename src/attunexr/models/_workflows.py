"""Training and evaluation workflows behind ``attunexr train`` / ``attunexr evaluate`` and the registry build."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError, ModelError
from attunexr.models._card import build_card, render_card_html
from attunexr.models._data import extract_table, feature_table
from attunexr.models._design import NORMALIZATIONS, recording_keys
from attunexr.models._detector import ArousalDetector, CybersicknessDetector, _Detector, base_feature_columns
from attunexr.models._evaluation import (
    compare_predictions,
    external_predictions,
    label_balance,
    loso_predictions,
    provenance,
    summarize,
)
from attunexr.models._registry import list_models, load_card, load_model, model_dir, save_model
from attunexr.models._signals import (
    SIGNAL_GROUPS,
    available_features,
    describe,
    group_columns,
    group_of,
    missing_groups,
)
from attunexr.models._tasks import TaskSpec, get_task, targets

__all__ = [
    "DEFAULTS",
    "VARIANTS",
    "EvaluationRun",
    "choose_variant",
    "evaluate_bids",
    "evaluate_external",
    "evaluate_leave_site_out",
    "evaluate_loso",
    "make_detector",
    "multi_site_table",
    "reference_source",
    "select_features",
    "site_decision",
    "train_model",
]

logger = logging.getLogger(__name__)

#: Detector settings per task. ``model="auto"`` selects the classifier family (LightGBM, L2 logistic regression or
#: their average) inside ``fit`` by inner subject-grouped out-of-fold AUROC on the training data only (nested
#: selection; per-fold choices and each fixed family's outer result are reported under ``selection``).
#: ``quality_mode="groups"`` blanks the features of a signal group with poor quality (e.g. wrist PPG) instead of
#: abstaining on the whole window. ``train_stride=6`` fits on non-overlapping windows (60 s windows, 10 s hop). The
#: other values (context length, running reference) were
#: fixed during development on Stress-Predict (see docs/models.md, "How the settings were chosen").
DEFAULTS: dict[str, dict[str, Any]] = {
    "stress": {
        "normalize": "baseline",
        "model": "auto",
        "context": 12,
        "running": True,
        "long": 120,
        "train_stride": 6,
        "train_purity": 3,
        "calibration": "sigmoid",
        "quality_mode": "groups",
        "device_robust": True,
    },
    "cybersickness": {
        "normalize": "none",
        "model": "auto",
        "context": 3,
        "calibration": "sigmoid",
        "quality_mode": "groups",
        # measured: with device_robust=True LOSO AUROC fell from 0.867 to 0.828 (cardiac+EDA 0.842 to 0.827)
        # without a person reference to compare with; kept off for cybersickness (see docs/models.md)
        "device_robust": False,
    },
}

#: Features of a heart-rate-only input (a chest strap or watch reporting HR at about 1 Hz, no waveform): the
#: device-HR features without the beat-interval ones.
HR_ONLY_EXCLUDE = ("ibi_hr", "ibi_coverage")

#: Registered models: name -> (task, overrides, signal groups or None for all). ``overrides`` may hold detector
#: settings and ``exclude`` (features left out). ``--model stress`` / ``--model cybersickness`` pick, among the
#: variants of the task, the one with the best validated AUROC that the data's signals allow (see
#: :func:`choose_variant`). The kits they cover:
VARIANTS: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {
    # E4-like wrist: PPG, EDA, skin temperature, accelerometer, the device's own HR/IBI
    "stress": ("stress", {}, None),
    # ECG or PPG + EDA + respiration (a belt, or the breathing rhythm in the heart rate when there is none)
    "stress-cardiac-eda-resp": ("stress", {}, ("cardiac", "eda", "resp")),
    # ECG or PPG + EDA
    "stress-cardiac-eda": ("stress", {}, ("cardiac", "eda")),
    # heart rate only (about 1 Hz, chest strap or watch) + EDA
    "stress-hr-eda": ("stress", {"exclude": HR_ONLY_EXCLUDE}, ("device_hr", "eda")),
    # ECG or PPG only
    "stress-cardiac": ("stress", {}, ("cardiac",)),
    # EDA only
    "stress-eda": ("stress", {}, ("eda",)),
    # every wrist signal, no person reference (when no rest can be recorded)
    "stress-none": ("stress", {"normalize": "none"}, None),
    "cybersickness": ("cybersickness", {}, None),
    "cybersickness-cardiac-eda": ("cybersickness", {}, ("cardiac", "eda")),
}


#: Labels left out of a task's primary binarization and scored as positives in a secondary one (nurse-stress's
#: survey answer "medium": primary high vs none, secondary medium + high vs none).
SECONDARY_POSITIVE = ("medium_stress",)


def secondary_binarization(task: TaskSpec, labels: pd.Series) -> tuple[tuple[str, ...], str] | None:
    """(positive labels, name) of the secondary binarization when the data holds a :data:`SECONDARY_POSITIVE`
    label outside the task's classes, else ``None``."""
    present = set(labels.astype(str))
    extra = tuple(x for x in SECONDARY_POSITIVE if x in present and x not in task.positive + task.negative)
    if not extra:
        return None
    return task.positive + extra, "+".join(extra) + " counted as positive"


@dataclass
class EvaluationRun:
    """An evaluation's JSON result and its per-window predictions."""

    result: dict[str, Any]
    predictions: pd.DataFrame
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)


def _detector_class(task: TaskSpec) -> type[_Detector]:
    return CybersicknessDetector if task.name == "cybersickness" else ArousalDetector


def select_features(
    table: pd.DataFrame, signals: tuple[str, ...] | None, exclude: tuple[str, ...] = ()
) -> list[str]:
    """Base features for training: those of ``signals`` (all groups if ``None``) available in ``table``."""
    cols = [c for c in base_feature_columns(table) if c not in exclude]
    if signals is not None:
        allowed = {c for g in signals for c in group_columns(g)}
        cols = [c for c in cols if c in allowed]
    cols = available_features(table, cols)
    if not cols:
        raise ModelError(f"no usable features for signals {signals or 'all'} in the feature table")
    return cols


def make_detector(
    task: TaskSpec,
    table: pd.DataFrame,
    signals: tuple[str, ...] | None = None,
    name: str = "",
    **overrides: Any,
) -> _Detector:
    """An unfitted detector with the task's fixed defaults, ``overrides`` and the features of ``signals``.

    ``overrides`` may also hold ``exclude``: features left out of those of ``signals``.
    """
    exclude = tuple(overrides.pop("exclude", None) or ())
    params = {**DEFAULTS[task.name], **{k: v for k, v in overrides.items() if v is not None}}
    if params["normalize"] not in NORMALIZATIONS:
        raise ConfigurationError(
            f"normalize must be one of {', '.join(NORMALIZATIONS)}, not {params['normalize']!r}"
        )
    if params["normalize"] == "none" and "long" not in overrides:
        # long-horizon features need a person reference for the start of a session (see ArousalDetector)
        params["long"] = 0
    if task.baseline is not None:
        params.setdefault("baseline_label", task.baseline)
    return _detector_class(task)(
        features=select_features(table, signals, exclude), name=name or task.name, **params
    )


def _load_task_table(
    task: TaskSpec,
    dataset: str | None,
    data_dir: str | Path | None,
    cache: bool,
    on_recording: Callable[[str], None] | None,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, bool, float]:
    t0 = time.perf_counter()
    table, cached = feature_table(
        dataset or task.dataset,
        task.window,
        task.hop,
        data_dir=data_dir,
        cache=cache,
        on_recording=on_recording,
        n_jobs=n_jobs,
    )
    y = targets(table["label"], task.positive, task.negative)
    if not (np.any(y == 1.0) and np.any(y == 0.0)):
        found = sorted({str(v) for v in table["label"].dropna()})
        raise ConfigurationError(
            f"task {task.name!r} needs windows labelled {', '.join(task.positive)} (positive) and "
            f"{', '.join(task.negative)} (negative); dataset {dataset or task.dataset!r} has "
            f"{', '.join(found) or 'no labelled windows'}; the task's own dataset is {task.dataset!r}"
        )
    return table, cached, time.perf_counter() - t0


def dataset_metadata(
    dataset: str, data_dir: str | Path | None = None
) -> tuple[dict[str, str], dict[str, dict[str, Any]]] | None:
    """(variable descriptions, values by subject) of a registered dataset's pre-session metadata, else ``None``."""
    from attunexr.io.datasets import get_dataset

    try:
        ds = get_dataset(dataset)
    except ConfigurationError:
        return None  # not a registered dataset (e.g. a table passed in)
    if not ds.metadata_variables or not ds.available(data_dir):
        return None
    values = ds.subject_metadata(data_dir)
    return (dict(ds.metadata_variables), values) if values else None


def evaluate_loso(
    task_name: str,
    dataset: str | None = None,
    *,
    normalize: str | None = None,
    model: str | None = None,
    signals: tuple[str, ...] | None = None,
    data_dir: str | Path | None = None,
    other_normalizations: bool = False,
    n_boot: int = 500,
    cache: bool = True,
    table: pd.DataFrame | None = None,
    subjects: list[str] | None = None,
    n_jobs: int = 1,
    on_fold: Callable[[str], None] | None = None,
    on_recording: Callable[[str], None] | None = None,
    exclude: tuple[str, ...] = (),
) -> EvaluationRun:
    """Leave-one-subject-out evaluation of a task on a dataset (optionally with the other normalizations beside it).

    ``other_normalizations`` adds the secondary normalizations (same detector settings, same folds, 200 bootstrap
    resamples at most). ``subjects`` restricts the evaluation to these subjects (features of the whole dataset are still cached).
    """
    task = get_task(task_name)
    t_start = time.perf_counter()
    cached, t_feat = None, 0.0
    if table is None:
        table, cached, t_feat = _load_task_table(task, dataset, data_dir, cache, on_recording, n_jobs)
    if subjects:
        unknown = sorted(set(subjects) - set(table["subject"].astype(str)))
        if unknown:
            raise ConfigurationError(
                f"unknown subjects {unknown}; known: {', '.join(sorted(set(table['subject'])))}"
            )
        table = table[table["subject"].astype(str).isin(subjects)].reset_index(drop=True)
    y = targets(table["label"], task.positive, task.negative)
    norm = normalize or DEFAULTS[task.name]["normalize"]
    metadata = dataset_metadata(dataset or task.dataset, data_dir)
    if len(table) < 3000:
        n_jobs = 1  # worker start-up costs more than small folds

    def run(norm_: str, boot: int) -> tuple[dict[str, Any], pd.DataFrame]:
        def factory() -> _Detector:
            return make_detector(task, table, signals, normalize=norm_, model=model, exclude=exclude)

        pred = loso_predictions(table, y, factory, on_fold=on_fold, n_jobs=n_jobs)
        res = summarize(
            pred,
            task=task.name,
            protocol="loso",
            dataset=dataset or task.dataset,
            normalize=norm_,
            n_boot=boot,
            elapsed_time_baseline=task.name == "cybersickness",
            metadata=metadata,
        )
        return res, pred

    result, pred = run(norm, n_boot)
    if task.baseline is not None and norm == "baseline":
        keep = (pred["label"] != task.baseline).to_numpy()
        if keep.any() and not keep.all() and pred.loc[keep, "y"].nunique() == 2:
            sub = summarize(
                pred[keep].reset_index(drop=True),
                task=task.name,
                protocol="loso",
                dataset=dataset or task.dataset,
                normalize=norm,
                n_boot=n_boot,
            )
            result["metrics_excluding_reference_windows"] = {
                "description": f"the '{task.baseline}' windows that define each person's reference are left out "
                "of scoring (they are scored as negatives in 'metrics')",
                "n_windows": int(keep.sum()),
                "auroc": sub["metrics"]["auroc"],
                "ece": sub["metrics"]["ece"],
            }
    extras: dict[str, pd.DataFrame] = {}
    second = secondary_binarization(task, table["label"])
    if second is not None:
        y2 = targets(table["label"], second[0], task.negative)

        def factory2() -> _Detector:  # the same detector as the primary evaluation, on the other labels
            return make_detector(task, table, signals, normalize=norm, model=model, exclude=exclude)

        pred2 = loso_predictions(table, y2, factory2, on_fold=on_fold, n_jobs=n_jobs)
        res2 = summarize(
            pred2,
            task=task.name,
            protocol="loso",
            dataset=dataset or task.dataset,
            normalize=norm,
            n_boot=n_boot,
        )
        result["other_binarization"] = {
            "positive": list(second[0]),
            "negative": list(task.negative),
            "description": f"secondary binarization ({second[1]}): trained and scored with it, same folds",
            "metrics": res2["metrics"],
            "calibration": res2["calibration"],
            "n_subjects": res2["n_subjects"],
            "n_windows": res2["n_windows"],
            "label_balance": label_balance(pred2),
        }
        extras["other_binarization"] = pred2
    if other_normalizations:
        others: dict[str, Any] = {}
        for other in NORMALIZATIONS:
            if other == norm:
                continue
            res_o, pred_o = run(other, min(n_boot, 200))
            others[other] = {
                "metrics": res_o["metrics"],
                "metrics_answered": res_o["metrics_answered"],
                "abstained_fraction": res_o["abstained_fraction"],
                "deployable_live": other != "recording",
                "ci_method": res_o["ci_method"],
                "primary_minus_this": compare_predictions(
                    pred, pred_o, n_boot=min(n_boot, 200), names=(norm, other)
                )["difference"],
            }
            if "selection" in res_o:
                others[other]["selection"] = {
                    k: res_o["selection"][k] for k in ("times_selected", "nested", "fixed")
                }
            extras[other] = pred_o
        result["other_normalizations"] = others
    else:
        result["other_normalizations_note"] = (
            "secondary normalizations not computed in this run (they double the run time); add "
            "--other-normalizations (CLI) or other_normalizations=True; the model card lists them"
        )
    det = make_detector(task, table, signals, normalize=norm, model=model, exclude=exclude)
    result["model"] = {
        "class": type(det).__name__,
        "model": det.model,
        "features": list(det.features or []),
        "parameters": {k: v for k, v in det.get_params().items() if k != "features"},
    }
    result["timing"] = {
        "total_s": round(time.perf_counter() - t_start, 2),
        "n_jobs": n_jobs,
        "feature_extraction_s": round(t_feat, 2),
        "features_from_cache": cached,
    }
    result["feature_cache"] = (
        "features read from the on-disk cache (extraction not included)"
        if cached
        else "features extracted in this run (included in total_s)"
        if cached is False
        else "features passed in"
    )
    result["notes"] = _notes(task, dataset or task.dataset)
    result["label_balance"] = label_balance(pred)
    result["provenance"] = provenance(table)
    return EvaluationRun(result, pred, extras)


def _notes(task: TaskSpec, dataset: str = "") -> list[str]:
    notes = [
        "Small single-site study of healthy volunteers: external validation on other data is what counts.",
        "All fitting (model, calibration, threshold, conformal gate) used the training subjects of each fold only.",
    ]
    if "," in dataset:
        notes[0] = (
            f"Pooled over several sites ({dataset}); see --protocol leave-site-out for how a model does on a site it "
            "never saw."
        )
        return notes
    if dataset.startswith("nurse-stress"):
        notes[0] = (
            "Nurses in real hospital shifts, one site. Labels are selective: surveys answered when the wristband's "
            "own detector fired ('high' dominates, 'no stress' is a reply to an alarm, not rest); binarization "
            "high_stress vs no_stress, medium left out; unlabelled time is never a negative. See label_balance."
        )
        notes.append(
            "No labelled rest: the person reference (normalize='baseline') is each segment's first windows, which "
            "precede the rated interval."
        )
        return notes
    if task.name == "stress":
        notes.append(
            "Baseline normalization uses each person's own 'baseline' rest windows (recorded before any task); "
            "those windows are also scored as negatives, which makes them easier than the later rests."
        )
        notes.append("No feature encodes time since the start of the protocol.")
    else:
        notes.append("Cybersickness uses time in VR as an input; compare with the elapsed-time baseline.")
    return notes


def train_model(
    task_name: str,
    dataset: str | list[str] | None = None,
    *,
    name: str | None = None,
    normalize: str | None = None,
    model: str | None = None,
    signals: tuple[str, ...] | None = None,
    data_dir: str | Path | None = None,
    evaluate: bool = True,
    n_boot: int = 500,
    cache: bool = True,
    out: str | Path | None = None,
    n_jobs: int = 1,
    on_fold: Callable[[str], None] | None = None,
    other_normalizations: bool = False,
    exclude: tuple[str, ...] = (),
    sites: dict[str, Any] | None = None,
) -> tuple[_Detector, dict[str, Any]]:
    """Fit a detector on a whole dataset (after a LOSO evaluation for its card); save it when ``out`` is given.

    ``dataset`` may list several datasets (sites): the detector is fitted on all of them and its card's LOSO is the
    pooled multi-site LOSO. ``sites`` (a leave-site-out result) adds the card's ``sites`` section.
    """
    task = get_task(task_name)
    names = [dataset] if isinstance(dataset, str) or dataset is None else list(dataset)
    if len(names) > 1:
        table, _ = multi_site_table([str(n) for n in names], task, data_dir, cache, n_jobs)
        dataset_name: str | None = ",".join(str(n) for n in names)
    else:
        dataset_name = names[0]
        table, _, _ = _load_task_table(task, dataset_name, data_dir, cache, None)
    y = targets(table["label"], task.positive, task.negative)
    evaluation = None
    if evaluate:
        run = evaluate_loso(
            task.name,
            dataset_name,
            normalize=normalize,
            model=model,
            signals=signals,
            table=table,
            other_normalizations=other_normalizations,
            n_boot=n_boot,
            n_jobs=n_jobs,
            on_fold=on_fold,
            exclude=exclude,
        )
        evaluation = run.result
    det = make_detector(
        task, table, signals, name=name or task.name, normalize=normalize, model=model, exclude=exclude
    )
    det.fit(table, y)
    labelled = ~np.isnan(y)
    training = {
        "dataset": dataset_name or task.dataset,
        "n_subjects": int(table.loc[labelled, "subject"].nunique()),
        "n_windows": int(labelled.sum()),
        "label_counts": {str(k): int(v) for k, v in table.loc[labelled, "label"].value_counts().items()},
        "signals": sorted({describe(g) for g in (signals or ())}) or "all available",
        "population": _population(dataset_name or task.dataset),
        "window_s": task.window,
        "hop_s": task.hop,
    }
    card = build_card(det, task, name=det.model_name, training=training, evaluation=evaluation, sites=sites)
    det.info_ = {
        "task": task.name,
        "window": task.window,
        "hop": task.hop,
        "positive": list(task.positive),
        "negative": list(task.negative),
        "baseline": task.baseline,
        "signals": list(signals) if signals else None,
        "trained_on": training["dataset"],
    }
    if out is not None:
        save_model(det, out, card, render_card_html(card))
    return det, card


#: a variant fits the data when no signal group it needs is absent and at most this share of its features is
#: missing (and imputed)
MAX_IMPUTED = 0.25


def _validated_auroc(card: dict[str, Any]) -> tuple[float | None, list[float] | None]:
    auc = ((card.get("evaluation") or {}).get("metrics") or {}).get("auroc") or {}
    value = auc.get("value")
    return (float(value) if value is not None else None), auc.get("ci")


def _variant_fit(det: _Detector, table: pd.DataFrame) -> dict[str, Any]:
    """Whether the data can feed a model: absent signal groups and missing (imputed) features."""
    needed = list(det.feature_names_base_)
    gone, partial = missing_groups(table, needed)
    missing = needed_missing(table, needed)
    fits = not gone and len(missing) <= MAX_IMPUTED * len(needed)
    groups = sorted({group_of(f) for f in needed}, key=list(SIGNAL_GROUPS).index)
    return {
        "fits": fits,
        "signals": [describe(g) for g in groups],
        "absent_signals": [describe(g) for g in gone],
        "missing_features": missing,
        "imputed_features": partial if fits else [],
    }


def choose_variant(
    model: str | Path, table: pd.DataFrame, normalize: str | None = None
) -> tuple[_Detector, dict[str, Any], list[str]]:
    """The model to apply to ``table`` and why: ``(detector, model_variant block, notes)``.

    A task name (``"stress"``, ``"cybersickness"``) picks, among the registered variants of the task, the one with
    the best validated (leave-one-subject-out) AUROC whose signals the data has: no signal group it needs is
    absent and at most :data:`MAX_IMPUTED` of its features are missing. Another registered name is used as is when
    the data fits it, else the task's best fitting variant replaces it (said in the notes). A model folder is used
    as is. ``normalize`` keeps only variants with that normalization.
    """
    from attunexr.models._tasks import TASKS

    notes: list[str] = []
    requested = str(model)
    registered = requested in list_models()
    det = load_model(model)
    task = getattr(det, "info_", {}).get("task")
    own = _variant_fit(det, table)
    auto = registered and requested in TASKS
    norm_ok = normalize is None or det.normalize == normalize
    if not registered or (not auto and own["fits"] and norm_ok):
        if not own["fits"] or not norm_ok:
            problem = (
                f"the data lacks signals model {det.model_name!r} needs: {', '.join(own['absent_signals'])}"
                if own["absent_signals"]
                else f"the data lacks features model {det.model_name!r} needs: {', '.join(own['missing_features'])}"
                if not own["fits"]
                else f"model {det.model_name!r} was trained with normalize={det.normalize!r}, not {normalize!r}"
            )
            raise ModelError(
                f"{problem}; pass a registered task name (--model {task or 'stress'}) to pick a fitting "
                "variant"
            )
        auc, ci = _validated_auroc(load_card(model)) if registered else (None, None)
        block = {
            "name": det.model_name,
            "requested": requested,
            "signals": own["signals"],
            "validated_auroc": auc,
            "validated_auroc_ci": ci,
            "why": "requested by name and the data has the signals it needs",
            "imputed_features": own["imputed_features"],
        }
        return det, block, notes
    considered: list[dict[str, Any]] = []
    best: tuple[float, int, str] | None = None
    for cand in list_models():
        cdet = load_model(cand)
        if getattr(cdet, "info_", {}).get("task") != task:
            continue
        card = load_card(cand)
        auc, _ = _validated_auroc(card)
        fit = _variant_fit(cdet, table)
        # a named variant that does not fit is replaced only by one with the same normalization
        want_norm = normalize if normalize is not None else (None if auto else det.normalize)
        usable = fit["fits"] and (want_norm is None or cdet.normalize == want_norm)
        reason = (
            "usable"
            if usable
            else f"absent signals: {', '.join(fit['absent_signals'])}"
            if fit["absent_signals"]
            else f"missing features: {', '.join(fit['missing_features'])}"
            if not fit["fits"]
            else f"normalize={cdet.normalize!r}, not {want_norm!r}"
        )
        considered.append({"name": cand, "validated_auroc": auc, "signals": fit["signals"], "status": reason})
        if usable:
            key = (auc if auc is not None else -1.0, len(cdet.feature_names_base_), cand)
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:
        absent = sorted(
            {
                a
                for c in considered
                for a in c["status"].removeprefix("absent signals: ").split(", ")
                if c["status"].startswith("absent signals")
            }
        )
        raise ModelError(
            f"no registered variant of task {task!r} fits the data (signals present: "
            f"{', '.join(_present_signals(table)) or 'none'}; each variant lacks one of: {', '.join(absent)}); "
            f"variants: {', '.join(c['name'] + ' (' + c['status'] + ')' for c in considered)}"
        )
    chosen = best[2]
    det = load_model(chosen)
    fit = _variant_fit(det, table)
    auc, ci = _validated_auroc(load_card(chosen))
    others = [c for c in considered if c["name"] != chosen]
    better_unusable = [
        c["name"] for c in others if c["status"] != "usable" and (c["validated_auroc"] or 0) > (auc or 0)
    ]
    why = f"highest validated AUROC ({auc:.3f}) among the {task} variants whose signals the data has"
    if better_unusable:
        why += f"; better validated variants need signals the data lacks: {', '.join(better_unusable)}"
    if not own["fits"]:
        notes.append(
            f"the data lacks signals model {requested!r} needs: "
            f"{', '.join(own['absent_signals']) or ', '.join(own['missing_features'])}; used registered variant "
            f"{chosen!r} instead"
        )
    block = {
        "name": chosen,
        "requested": requested,
        "signals": fit["signals"],
        "validated_auroc": auc,
        "validated_auroc_ci": ci,
        "why": why,
        "imputed_features": fit["imputed_features"],
        "considered": considered,
    }
    return det, block, notes


def _present_signals(table: pd.DataFrame) -> list[str]:
    out = []
    for g in SIGNAL_GROUPS:
        if available_features(table, list(group_columns(g))):
            out.append(describe(g))
    return out


def _population(datasets: str) -> str:
    """Who the training data come from, from the dataset cards."""
    from attunexr.io.datasets import get_dataset

    out = []
    for name in datasets.split(","):
        try:
            card = get_dataset(name).card
        except ConfigurationError:
            out.append(name)
            continue
        out.append(f"{name}: {card.population or card.title}")
    return (
        "; ".join(out)
        if len(out) > 1 or "nurse" in datasets
        else ("healthy adult volunteers of a single-site study")
    )


def _choose_model(
    model: str | Path, table: pd.DataFrame, normalize: str | None
) -> tuple[_Detector, str, list[str]]:
    """Load ``model`` or, for a registered name, a variant of the same task that the data can feed."""
    det, block, notes = choose_variant(model, table, normalize)
    return det, str(block["name"]), notes


def needed_missing(table: pd.DataFrame, needed: list[str]) -> list[str]:
    have = set(available_features(table, needed))
    return [f for f in needed if f not in have]


def reference_source(
    det: _Detector, table: pd.DataFrame, baseline: str | None, negative: tuple[str, ...]
) -> dict[str, Any]:
    """Where each person's reference comes from for a ``normalize="baseline"`` model, or a clear error.

    In order: the ``--baseline`` event type; the model's own baseline label when the data has it; the first
    ``baseline_windows`` windows of each recording when every one of them is labelled with a negative (rest) type;
    else :class:`ModelError` naming both options.
    """
    have = set(table["label"].dropna().astype(str))
    if baseline is not None:
        if baseline not in have:
            raise ModelError(
                f"--baseline {baseline!r}: the data has no {baseline!r} intervals (labels present: "
                f"{', '.join(sorted(have)) or 'none'})"
            )
        return {"source": "labelled rest", "label": baseline}
    if det.baseline_label in have:
        return {"source": "labelled rest", "label": det.baseline_label}
    n = int(det.baseline_windows)
    not_rest = []
    keys = recording_keys(table)
    t = table["t_end"].to_numpy(dtype=float)
    labels = table["label"].astype(str).where(table["label"].notna(), "").to_numpy()
    for key in dict.fromkeys(keys.tolist()):
        idx = np.flatnonzero(keys == key)
        first = idx[np.argsort(t[idx], kind="stable")[:n]]
        if not all(lab in negative for lab in labels[first]):
            not_rest.append(str(key))
    if not not_rest:
        return {
            "source": "first minutes",
            "label": None,
            "windows": n,
            "description": f"the first {n} windows of each recording, all labelled rest ({', '.join(negative)})",
        }
    shown = ", ".join(not_rest[:5]) + (f" and {len(not_rest) - 5} more" if len(not_rest) > 5 else "")
    raise ModelError(
        f"model {det.model_name!r} compares each person with their own rest, but the data has no "
        f"{det.baseline_label!r} intervals and the first {n} windows of {shown} are not all labelled with a "
        f"negative (rest) type {list(negative)}; pass --baseline TYPE naming the event type of each person's rest, "
        "or start each recording with a rest labelled with one of the --negative types"
    )


def evaluate_external(
    model: str | Path,
    table: pd.DataFrame,
    *,
    positive: tuple[str, ...],
    negative: tuple[str, ...],
    baseline: str | None,
    normalize: str | None,
    dataset: str,
    n_boot: int = 500,
    metadata: tuple[dict[str, str], dict[str, dict[str, Any]]] | None = None,
) -> EvaluationRun:
    """Evaluate a trained model unchanged on another source (no fitting or tuning on it).

    ``metadata`` = (variable descriptions, values by subject) adds subgroup results by those variables.
    """
    det, variant, notes = choose_variant(model, table, normalize)
    used = str(variant["name"])
    reference = None
    if det.normalize == "baseline":
        reference = reference_source(det, table, baseline, negative)
        if reference["label"] is not None:
            det.set_params(baseline_label=reference["label"])
    y = targets(table["label"], positive, negative)
    if np.nansum(y) == 0 or np.nansum(1 - y) == 0:
        raise ModelError(
            f"the data needs windows of both classes: positive {list(positive)}, negative {list(negative)}; "
            f"labels present: {', '.join(sorted(set(table['label'].astype(str))))}"
        )
    pred = external_predictions(det, table, y)
    info = getattr(det, "info_", {})
    res = summarize(
        pred,
        task=str(info.get("task", "")),
        protocol="external",
        dataset=dataset,
        normalize=det.normalize,
        n_boot=n_boot,
        elapsed_time_baseline=info.get("task") == "cybersickness"
        and "time_in_vr" in pred
        and bool(np.isfinite(pred["time_in_vr"]).any()),
        metadata=metadata,
    )
    res["model"] = {
        "name": used,
        "requested": str(model),
        "trained_on": info.get("trained_on"),
        "features": list(det.feature_names_base_),
    }
    res["positive"] = list(positive)
    res["negative"] = list(negative)
    res["baseline_label"] = det.baseline_label if reference is not None and reference["label"] else None
    res["reference"] = reference or {"source": "none", "note": f"model {used!r} uses no person reference"}
    res["model_variant"] = variant
    res["shift"] = det.shift(table)
    res["notes"] = [
        *notes,
        "External evaluation: the model was applied unchanged (no fitting on these data).",
    ]
    res["provenance"] = provenance(table)
    trained_on = info.get("trained_on")
    sources = set(table["dataset"].astype(str)) if "dataset" in table.columns else set()
    trained_sites = set(str(trained_on).split(",")) if trained_on else set()  # several sites: "a,b"
    res["in_sample"] = bool(trained_sites & ({dataset} | sources))
    if res["in_sample"]:
        res["notes"].insert(
            0,
            f"NOT an external validation: model {used!r} was trained on {trained_on!r}, the data evaluated here; "
            "these figures are in-sample and overstate performance on new people. Use --protocol loso for an "
            "honest figure on this dataset.",
        )
        logger.warning(
            "model %r was trained on %r: this evaluation is in-sample, not external", used, trained_on
        )
    return EvaluationRun(res, pred)


def evaluate_bids(
    bids_dir: str | Path,
    model: str | Path,
    *,
    positive: tuple[str, ...],
    negative: tuple[str, ...],
    baseline: str | None = None,
    normalize: str | None = None,
    n_boot: int = 500,
) -> EvaluationRun:
    """Evaluate a trained model on a BIDS physio dataset whose events mark positive and negative intervals."""
    from attunexr.io import read_bids, read_participants

    det = load_model(model)
    info = getattr(det, "info_", {})
    window, hop = float(info.get("window", 60.0)), float(info.get("hop", 10.0))
    recs = read_bids(bids_dir)
    recordings = [recs] if not isinstance(recs, list | tuple) and hasattr(recs, "streams") else list(recs)
    if not recordings:
        raise ModelError(f"{bids_dir}: no recordings found in the BIDS dataset")
    table = extract_table(recordings, window, hop)
    described, values = read_participants(bids_dir)
    run = evaluate_external(
        model,
        table,
        positive=positive,
        negative=negative,
        baseline=baseline,
        normalize=normalize,
        dataset=f"bids:{Path(bids_dir).name}",
        n_boot=n_boot,
        metadata=(described, values) if values else None,
    )
    run.result["bids_dir"] = str(bids_dir)
    return run


def registry_dir_for(name: str) -> Path:
    """Folder a registered model is written to."""
    from attunexr.models._registry import REGISTRY_DIR

    return REGISTRY_DIR / name


def model_folder(name_or_path: str | Path) -> Path:
    return model_dir(name_or_path)


# --- several sites -------------------------------------------------------------------------------------
#: Leave-site-out may say a site makes things worse only when its AUROC difference is below this (point estimate).
SITE_TOLERANCE = 0.01
SITE_DECISION_METHOD = (
    "nested, subject-held-out: site B is kept in the training data when, for every other site A, the AUROC on A's "
    "people held out one at a time is not lower with B in the training data than without it (pooled LOSO over "
    "all sites vs LOSO over the sites other than B, restricted to A's people; paired subject bootstrap; 'lower' = "
    f"point estimate below -{SITE_TOLERANCE}). With two sites, 'without B' is A's own LOSO. No person's figures "
    "are used to fit the model that predicts them; the leave-site-out figures of a held-out site never enter the "
    "decision about including it"
)


def multi_site_table(
    datasets: list[str],
    task: TaskSpec,
    data_dir: str | Path | None = None,
    cache: bool = True,
    n_jobs: int = 1,
    on_recording: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, bool]]:
    """The feature tables of several datasets (sites) stacked; subject ids get a ``site:`` prefix when two sites
    share one."""
    if len(set(datasets)) != len(datasets) or len(datasets) < 2:
        raise ConfigurationError(f"give at least two different datasets (sites), got {datasets}")
    parts, cached = [], {}
    for name in datasets:
        table, hit = feature_table(
            name,
            task.window,
            task.hop,
            data_dir=data_dir,
            cache=cache,
            on_recording=on_recording,
            n_jobs=n_jobs,
        )
        parts.append(table.assign(dataset=name))
        cached[name] = hit
    ids = [set(p["subject"].astype(str)) for p in parts]
    clash = any(ids[i] & ids[j] for i in range(len(ids)) for j in range(i + 1, len(ids)))
    if clash:
        parts = [
            p.assign(subject=name + ":" + p["subject"].astype(str))
            for name, p in zip(datasets, parts, strict=True)
        ]
    combined = pd.concat(parts, ignore_index=True)
    y = targets(combined["label"], task.positive, task.negative)
    for name in datasets:
        m = (combined["dataset"] == name).to_numpy()
        if np.nansum(y[m]) == 0 or np.nansum(1 - y[m]) == 0:
            raise ModelError(
                f"dataset {name!r} has no labelled windows of one class for task {task.name!r} (positive "
                f"{list(task.positive)}, negative {list(task.negative)})"
            )
    return combined, cached


def _site_loso(
    table: pd.DataFrame,
    y: np.ndarray,
    factory: Callable[[], _Detector],
    n_jobs: int,
    on_fold: Callable[[str], None] | None,
) -> pd.DataFrame:
    pred = loso_predictions(table, y, factory, on_fold=on_fold, n_jobs=n_jobs if len(table) >= 3000 else 1)
    pred["dataset"] = table["dataset"].astype(str).to_numpy()[~np.isnan(y)]
    return pred


def site_decision(
    pooled: pd.DataFrame, without: dict[str, pd.DataFrame], sites: list[str], n_boot: int = 200
) -> dict[str, Any]:
    """Which sites to train the shipped model on (see :data:`SITE_DECISION_METHOD`).

    ``pooled``: LOSO predictions over all sites; ``without[B]``: LOSO predictions over every site but ``B``.
    """
    from attunexr.models._evaluation import paired_site_difference

    per: dict[str, Any] = {}
    include: list[str] = []
    for b in sites:
        checks: dict[str, Any] = {}
        for a in sites:
            if a == b:
                continue
            w = pooled[pooled["dataset"] == a]
            o = without[b][without[b]["dataset"] == a]
            checks[a] = paired_site_difference(w, o, n_boot=n_boot)
        worse = [a for a, c in checks.items() if c["value"] is not None and c["value"] < -SITE_TOLERANCE]
        per[b] = {
            "include": not worse,
            "effect_on_other_sites": checks,
            "worse_for": worse,
        }
        if not worse:
            include.append(b)
    return {"method": SITE_DECISION_METHOD, "tolerance": SITE_TOLERANCE, "sites": per, "train_on": include}


def evaluate_leave_site_out(
    task_name: str,
    datasets: list[str],
    *,
    normalize: str | None = None,
    model: str | None = None,
    signals: tuple[str, ...] | None = None,
    data_dir: str | Path | None = None,
    n_boot: int = 500,
    cache: bool = True,
    n_jobs: int = 1,
    recalibrate: tuple[int, ...] = (),
    n_draws: int = 100,
    decide_sites: bool = True,
    subjects: list[str] | None = None,
    table: pd.DataFrame | None = None,
    on_fold: Callable[[str], None] | None = None,
    on_recording: Callable[[str], None] | None = None,
) -> EvaluationRun:
    """Leave-site-out evaluation: train on all sites but one, test on the held-out site, for each site.

    Beside it: pooled multi-site LOSO (every person held out once, trained on everyone else of every site), and,
    with ``decide_sites``, the LOSO runs without each site that decide which sites the shipped model trains on
    (:func:`site_decision`). ``recalibrate`` = (1, 3, 5) adds site recalibration on k local people
    (:func:`~attunexr.models._evaluation.site_recalibration`) for each held-out site. ``table`` passes the stacked
    feature table in (its ``dataset`` column names the site of each row) instead of reading the datasets;
    ``subjects`` restricts every site to these people (a quick run).
    """
    from attunexr.models._evaluation import site_block, site_recalibration

    task = get_task(task_name)
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    cached: dict[str, bool] | None = None
    if table is None:
        table, cached = multi_site_table(datasets, task, data_dir, cache, n_jobs, on_recording)
    else:
        missing = sorted(set(datasets) - set(table["dataset"].astype(str)))
        if missing or len(datasets) < 2:
            raise ConfigurationError(f"the table has no rows of sites {missing}; it needs at least two sites")
        table = table[table["dataset"].astype(str).isin(datasets)].reset_index(drop=True)
    if subjects:
        unknown = sorted(set(subjects) - set(table["subject"].astype(str)))
        if unknown:
            raise ConfigurationError(
                f"unknown subjects {unknown}; known: {', '.join(sorted(set(table['subject'].astype(str))))}"
            )
        table = table[table["subject"].astype(str).isin(subjects)].reset_index(drop=True)
    t_feat = time.perf_counter() - t0
    y = targets(table["label"], task.positive, task.negative)
    site_of = table["dataset"].astype(str).to_numpy()
    norm = normalize or DEFAULTS[task.name]["normalize"]

    def factory(tab: pd.DataFrame) -> Callable[[], _Detector]:
        return lambda: make_detector(task, tab, signals, normalize=norm, model=model)

    per_site: dict[str, Any] = {}
    held: dict[str, pd.DataFrame] = {}
    timing: dict[str, float] = {}
    for site in datasets:
        t0 = time.perf_counter()
        train = site_of != site
        det = factory(table)().fit(table.loc[train], y[train])
        test = table.loc[~train]
        pred = external_predictions(det, test, y[~train])
        pred["dataset"] = site
        held[site] = pred
        trained_on = [d for d in datasets if d != site]
        per_site[site] = site_block(pred, trained_on, n_boot=n_boot)
        per_site[site]["selected_head"] = getattr(det, "head_", None)
        second = secondary_binarization(task, test["label"])
        if second is not None:
            pred2 = external_predictions(det, test, targets(test["label"], second[0], task.negative))
            block2 = site_block(pred2, trained_on, n_boot=n_boot)
            per_site[site]["other_binarization"] = {
                "positive": list(second[0]),
                "description": f"the same model scored with the secondary binarization ({second[1]})",
                **{k: block2[k] for k in ("auroc", "ece", "calibration", "n_subjects", "n_windows")},
            }
        timing[f"leave_out_{site}_s"] = round(time.perf_counter() - t0, 2)
        if on_fold is not None:
            on_fold(site)
    t0 = time.perf_counter()
    pooled = _site_loso(table, y, factory(table), n_jobs, on_fold)
    timing["pooled_loso_s"] = round(time.perf_counter() - t0, 2)
    pooled_summary = summarize(
        pooled, task=task.name, protocol="loso", dataset=",".join(datasets), normalize=norm, n_boot=n_boot
    )
    by_site: dict[str, Any] = {}
    for site in datasets:
        part = pooled[pooled["dataset"] == site]
        by_site[site] = {
            k: v
            for k, v in site_block(part, list(datasets), n_boot=n_boot).items()
            if k in ("auroc", "ece", "calibration", "n_subjects", "n_windows", "per_person_auroc")
        }
    result: dict[str, Any] = {
        "task": task.name,
        "protocol": "leave-site-out",
        "dataset": ",".join(datasets),
        "sites": list(datasets),
        "normalize": norm,
        "n_subjects": int(table.loc[~np.isnan(y), "subject"].nunique()),
        "n_windows": int((~np.isnan(y)).sum()),
        "per_site": per_site,
        "pooled_loso": {
            "auroc": pooled_summary["metrics"]["auroc"],
            "ece": pooled_summary["metrics"]["ece"],
            "metrics": pooled_summary["metrics"],
            "calibration": pooled_summary["calibration"],
            "n_subjects": pooled_summary["n_subjects"],
            "n_windows": pooled_summary["n_windows"],
            "by_site": by_site,
            "trained_on": list(datasets),
            "description": "every person of every site held out once; the model of each fold is trained on "
            "everyone else of all sites",
        },
        "label_balance": {site: label_balance(held[site]) for site in datasets},
        "ci_method": f"percentile, {n_boot} subject-level (cluster) bootstrap resamples, 95 %",
        "threshold_method": "Youden's J on calibrated out-of-fold predictions of the training people",
    }
    if decide_sites:
        without: dict[str, pd.DataFrame] = {}
        t0 = time.perf_counter()
        for b in datasets:
            rest = site_of != b
            sub = table.loc[rest].reset_index(drop=True)
            without[b] = _site_loso(sub, y[rest], factory(sub), n_jobs, on_fold)
        timing["loso_without_each_site_s"] = round(time.perf_counter() - t0, 2)
        result["site_decision"] = site_decision(pooled, without, list(datasets), n_boot=min(n_boot, 200))
        for site in datasets:
            # with two sites, LOSO without the other site is this site's own LOSO
            others = [b for b in datasets if b != site]
            if len(others) == 1:
                own = without[others[0]]
                result["per_site"][site]["within_site_loso"] = {
                    k: v
                    for k, v in site_block(own, [site], n_boot=n_boot).items()
                    if k in ("auroc", "ece", "calibration")
                }
    if recalibrate:
        t0 = time.perf_counter()
        rec = {site: site_recalibration(held[site], tuple(recalibrate), n_draws=n_draws) for site in datasets}
        result["recalibration"] = {
            str(k): {site: rec[site]["by_k"][str(k)] for site in datasets} for k in recalibrate
        }
        result["recalibration_summary"] = {
            site: {key: v for key, v in r.items() if key != "by_k"} for site, r in rec.items()
        }
        timing["recalibration_s"] = round(time.perf_counter() - t0, 2)
    result["notes"] = [
        "Leave-site-out: each site is predicted by a model that never saw any of its people; nothing is fitted on "
        "the held-out site (recalibration, when asked, fits on k of its people and is measured on the others).",
        "nurse-stress labels are selective (surveys answered when the wristband's own detector fired; 'high' "
        "dominates): see label_balance for how many people hold both classes.",
        "Sites without a labelled rest use each recording's first windows as the person reference "
        "(normalize='baseline'), as in live use.",
    ]
    result["timing"] = {
        "total_s": round(time.perf_counter() - t_start, 2),
        "feature_tables_s": round(t_feat, 2),
        "features_from_cache": cached,
        **timing,
        "n_jobs": n_jobs,
    }
    result["provenance"] = provenance(table)
    preds = pd.concat([held[s].assign(fold=f"site:{s}") for s in datasets], ignore_index=True)
    return EvaluationRun(result, preds, {"pooled_loso": pooled})
