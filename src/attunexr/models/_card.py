"""Model cards (JSON + HTML) with the items of TRIPOD+AI (Collins et al., BMJ 2024) that apply to a detector.

Card sections follow Mitchell et al. (FAT* 2019) for the model-card frame, and TRIPOD+AI for the reporting items:
source of data, participants, outcome, predictors, sample size, missing data, analysis (model type, tuning,
calibration), evaluation protocol, performance with CIs, calibration, subgroups/fairness, limitations.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import attunexr
from attunexr.models._detector import _Detector
from attunexr.models._tasks import TaskSpec
from attunexr.words import describe, label, sentence_case, timestamp_text, words_in

__all__ = ["build_card", "evidence_claims", "render_card_html"]

_INTENDED_USE = {
    "stress": (
        "Estimate, window by window (60 s windows every 10 s), the probability that a person wearing a wrist or "
        "chest sensor is in a state of physiological stress/arousal rather than calm, relative to their own "
        "pre-exposure rest, to support a clinician supervising VR exposure therapy or a researcher."
    ),
    "cybersickness": (
        "Estimate, window by window during a VR session, the probability that the user currently feels "
        "cybersick, to support a supervisor in pausing or easing the VR content."
    ),
}
_OUT_OF_SCOPE = [
    "Diagnosis of any mental-health condition; the outputs are not a diagnosis or a symptom score.",
    "Autonomous decisions: exposure changes always need a clinician's approval.",
    "Use on children, clinical populations, or devices and sites not represented in the training data without "
    "local validation.",
    "Use on estimates that abstain (poor signal quality, uncertain, atypical input, baseline not yet recorded).",
]
_FAILURE_MODES = {
    "stress": [
        "Physical activity, posture changes, caffeine or room temperature change heart rate, skin conductance and "
        "temperature like stress does; motion features only partly guard against this.",
        "Without a clean personal baseline rest, person-relative features are wrong; the live detector abstains "
        "until its baseline is collected.",
        "Hyperventilation is a physiological, not psychological, stressor; detections do not distinguish causes.",
        "Positive windows come from a fixed task order in the training study; the model has no time input, but "
        "slow drifts (e.g. skin temperature) correlate with protocol time.",
        "Calibration was learned on healthy volunteers; base rates in a clinic differ, so probabilities may be "
        "miscalibrated there.",
        "Hyperventilation windows are detected much less well than Stroop or interview windows (see subgroups).",
        "Rest soon after a stressor can still look aroused (recovery); the long-horizon features (distance from "
        "the recent peak) reduce but do not remove these false alarms, and a second stressor weaker than an "
        "earlier one in the last 20 minutes is harder to detect.",
        "When wrist PPG quality is poor the estimate is made without cardiac features (EDA, temperature, motion "
        "only) and is less certain; it abstains only when neither cardiac nor EDA signal is usable.",
    ],
    "cybersickness": [
        "Sickness grows with time in VR; the model uses time in VR, so it expects sickness late in a ride even when "
        "a person feels well.",
        "Labels are button presses while sick: a person who stops pressing, or does not press, looks not sick.",
        "Trained on one roller-coaster scenario and one headset; other content may elicit different physiology.",
        "Very few people (under 20) and short rides: estimates are uncertain.",
    ],
}


def _subgroups_note(ev: dict[str, Any]) -> str:
    base = "No age, sex or clinical metadata are available in the training data: fairness across these groups is unassessed."
    variables = ev.get("subgroup_variables") or {}
    if not variables:
        return base
    return (
        f"{base} Results by what was recorded before the session ({', '.join(variables)}) are listed under "
        "subgroups; each group holds few people, so its confidence interval is wide."
    )


def _baseline_failures(ev: dict[str, Any]) -> list[str]:
    """A failure mode for every reference baseline the model was not shown to beat (paired CI includes 0)."""
    out = []
    for name, b in (ev.get("baselines") or {}).items():
        gain = b.get("model_minus_baseline") or {}
        lo, hi = (gain.get("ci") or [None, None])[:2]
        if gain.get("value") is None or lo is None or lo > 0:
            continue
        out.append(
            f"Not shown to add to the {name.replace('_', ' ')} baseline (AUROC {b['auroc']:.3f}): the AUROC difference "
            f"is {gain['value']:+.3f} (paired 95 % CI {lo:+.3f} to {hi:+.3f}). Treat its output as mostly driven by "
            "that baseline until validated on more data."
        )
    return out


def build_card(
    det: _Detector,
    task: TaskSpec,
    *,
    name: str,
    training: dict[str, Any],
    evaluation: dict[str, Any] | None,
    sites: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card as a JSON-ready dict.

    ``sites`` is a leave-site-out result (:func:`~attunexr.models.evaluate_leave_site_out`); the card then shows
    the candidate sites, the decision which to train on, and each held-out site's figures.
    """
    ev = evaluation or {}
    card = {
        "schema": "attunexr-model-card/1 (TRIPOD+AI items where applicable)",
        "model": {
            "name": name,
            "version": attunexr.__version__,
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "class": type(det).__name__,
            "type": {
                "logistic": "L2-regularized logistic regression",
                "lightgbm": "LightGBM gradient-boosted trees",
                "ensemble": "mean log-odds of LightGBM and L2-regularized logistic regression",
            }[det._kind()],
            "family_selection": (
                f"chosen inside fit among {sorted(det.head_scores_)} by subject-grouped inner out-of-fold AUROC"
                if getattr(det, "head_", None)
                else "fixed"
            ),
            "parameters": {k: v for k, v in det.get_params().items() if k != "features"},
        },
        "intended_use": _INTENDED_USE.get(task.name, task.description),
        "intended_users": ["clinicians supervising VR sessions", "clinical and ML researchers"],
        "out_of_scope_uses": _OUT_OF_SCOPE,
        "outcome": {
            "definition": task.description,
            "positive_labels": list(task.positive),
            "negative_labels": list(task.negative),
            "time_horizon": f"current state over the {task.window:g} s window ending at the estimate time",
        },
        "source_of_data": training,
        "predictors": {
            "base_features": list(det.feature_names_base_),
            "design": list(det.design_names_),
            "uses_time_in_vr": bool(det._uses_time),
            "uses_time_since_protocol_start": False,
            "window_s": task.window,
            "hop_s": task.hop,
        },
        "preprocessing": {
            "normalize": det.normalize,
            "normalize_description": {
                "baseline": "each feature minus its median over the person's own baseline-rest windows "
                "(deployable: recorded before exposure)",
                "recording": "each feature minus its median over the whole recording (label-free, not deployable "
                "live)",
                "none": "absolute feature values",
            }[det.normalize],
            "context": f"mean over the last {det.context} windows and change over {det.context} windows (causal)",
            "running_reference": (
                "each feature minus its median over all preceding windows of the session (causal, label-free)"
                if det.running
                else "not used"
            ),
            "long_horizon": (
                f"mean over the last {max(det.context, 1)} windows minus its maximum and minimum over the last "
                f"{det.long} windows (distance from the recent peak and trough; before {det.long} windows have "
                "passed the missing history counts as the person's reference level, so it does not encode time "
                "since the start)"
                if getattr(det, "long", 0)
                else "not used"
            ),
            "training_windows": (
                f"fitted on windows whose label equals the labels {det.train_purity} windows before and after "
                "(wholly inside one task or rest); calibrated and evaluated on every labelled window"
                if getattr(det, "train_purity", 0)
                else "every labelled window"
            ),
            "missing_data": "features NaN when not measurable; median-imputed (training medians) for logistic "
            "regression, handled natively by LightGBM",
        },
        "analysis": {
            "tuning": (
                f"classifier family chosen inside fit by subject-grouped inner out-of-fold AUROC among "
                f"{sorted(getattr(det, 'head_scores_', {}) or {})}: {getattr(det, 'head_', None)} "
                f"(inner AUROC { ({k: round(v, 4) for k, v in (getattr(det, 'head_scores_', {}) or {}).items()}) })"
                if getattr(det, "head_", None)
                else "none: fixed hyper-parameters (no search)"
            )
            + "; calibration, threshold and conformal gate fitted on subject-grouped out-of-fold predictions "
            "inside the training data",
            "quality_mode": getattr(det, "quality_mode", "row"),
            "calibration": {"method": det.calibration, "fitted_on": "out-of-fold training predictions"},
            "threshold": {
                "value": float(det.threshold_),
                "method": "Youden's J on out-of-fold training predictions",
            },
            "abstention": {
                "method": "quality gate + cross-conformal prediction sets",
                "alpha": det.alpha,
                "qhat": float(det.conformal_.qhat_),
            },
            "explanations": "exact linear contributions (logistic) or TreeSHAP (LightGBM) on the log-odds scale",
            "sample_size": {
                "windows": det.n_train_windows_,
                "recordings": det.n_train_recordings_,
                "positive_rate": round(det.train_positive_rate_, 4),
            },
            "inner_out_of_fold_auroc": round(float(det.oof_auroc_), 4),
        },
        "evaluation": {
            "protocol": ev.get("protocol"),
            "dataset": ev.get("dataset"),
            "n_subjects": ev.get("n_subjects"),
            "n_windows": ev.get("n_windows"),
            "metrics": ev.get("metrics"),
            "metrics_denominator": ev.get("metrics_denominator"),
            "abstained_fraction": ev.get("abstained_fraction"),
            "abstained_by_reason": (ev.get("abstention") or {}).get("fraction_by_reason"),
            "metrics_answered": ev.get("metrics_answered"),
            "selection": {
                k: (ev.get("selection") or {}).get(k) for k in ("method", "times_selected", "nested", "fixed")
            }
            if ev.get("selection")
            else None,
            "metrics_excluding_reference_windows": ev.get("metrics_excluding_reference_windows"),
            "baselines": ev.get("baselines"),
            "provenance": ev.get("provenance"),
            "decision_curve": ev.get("decision_curve"),
            "other_normalizations": {
                k: {
                    "auroc": v["metrics"]["auroc"],
                    "ece": v["metrics"]["ece"],
                    "primary_minus_this": v.get("primary_minus_this"),
                }
                for k, v in (ev.get("other_normalizations") or {}).items()
            },
        },
        "calibration": {
            "ece": (ev.get("metrics") or {}).get("ece"),
            **{
                k: v
                for k, v in (ev.get("calibration") or {}).items()
                if k in ("slope", "intercept", "description")
            },
        },
        "subgroups": ev.get("subgroups") or {},
        "subgroup_variables": ev.get("subgroup_variables") or {},
        "subgroups_note": _subgroups_note(ev),
        "known_failure_modes": _FAILURE_MODES.get(task.name, []) + _baseline_failures(ev),
        "claims": evidence_claims(ev, task.name),
        "limitations": [
            "Small single-site study of healthy volunteers; no external validation on clinical populations yet.",
            "Evaluation is subject-independent (leave-one-subject-out) within one dataset; transfer to other devices "
            "and stressors has not been shown.",
        ],
        "ethical_considerations": "Physiological data are sensitive health data; estimates support, never replace, "
        "clinical judgement.",
    }
    if sites:
        card["sites"] = {
            **_sites_section(sites),
            "trained_on": str(training.get("dataset", "")).split(","),
        }
        multi = len(str(training.get("dataset", "")).split(",")) > 1
        card["limitations"] = [
            *card["limitations"],
            "Trained on "
            + ("several sites" if multi else "one site")
            + f" ({training.get('dataset')}); on a site never trained on (leave-site-out) the AUROC was "
            + ", ".join(
                f"{site} {((b.get('auroc') or {}).get('value') or float('nan')):.3f}"
                for site, b in (sites.get("per_site") or {}).items()
            )
            + " (see 'sites').",
            "The nurse-stress labels are selective (surveys answered when the wristband's detector fired): its "
            "figures say how well 'high' and 'no stress' answers are told apart, not how often stress is missed.",
        ]
    return card


def _sites_section(res: dict[str, Any]) -> dict[str, Any]:
    """Card section of a leave-site-out result: candidates, the decision, held-out-site figures, recalibration."""

    def fig(b: dict[str, Any]) -> dict[str, Any]:
        return {
            "auroc": b.get("auroc"),
            "ece": b.get("ece"),
            "calibration_slope": (b.get("calibration") or {}).get("slope"),
            "calibration_intercept": (b.get("calibration") or {}).get("intercept"),
            "n_subjects": b.get("n_subjects"),
            "n_windows": b.get("n_windows"),
        }

    decision = res.get("site_decision") or {}
    return {
        "candidates": res.get("sites"),
        "kept_by_decision": decision.get("train_on"),
        "rule": "the task's own dataset always stays; another site is added when the decision keeps it",
        "decision_method": decision.get("method"),
        "decision": {
            site: {
                "include": v["include"],
                "effect_on_other_sites": {
                    a: {
                        "auroc_with": c["auroc_with"],
                        "auroc_without": c["auroc_without"],
                        "difference": c["value"],
                        "ci": c["ci"],
                    }
                    for a, c in v["effect_on_other_sites"].items()
                },
            }
            for site, v in (decision.get("sites") or {}).items()
        },
        "leave_site_out": {
            site: {**fig(b), "trained_on": b.get("trained_on")}
            for site, b in (res.get("per_site") or {}).items()
        },
        "pooled_loso": fig(res.get("pooled_loso") or {}),
        "recalibration_people_needed": {
            site: r.get("people_needed") for site, r in (res.get("recalibration_summary") or {}).items()
        },
        "ci_method": res.get("ci_method"),
    }


def _fmt_ci(block: dict[str, Any]) -> str:
    lo, hi = (block.get("ci") or [None, None])[:2]
    v = block.get("value", block.get("auroc"))
    if v is None or lo is None or hi is None:
        return "n/a"
    return f"{float(v):.3f} (95 % CI {float(lo):.3f} to {float(hi):.3f})"


def evidence_claims(ev: dict[str, Any], task: str = "") -> dict[str, Any]:
    """Which claims the evaluation supports and which it does not, read from its CIs (no new numbers).

    A claim is supported when its 95 % CI excludes the null (AUROC 0.5; a difference of 0).
    """
    supported: list[str] = []
    not_supported: list[str] = []
    a = (ev.get("metrics") or {}).get("auroc") or {}
    lo = (a.get("ci") or [None, None])[0]
    n = ev.get("n_subjects")
    if lo is not None:
        text = f"separates the classes better than chance in new people: AUROC {_fmt_ci(a)}, {n} subjects"
        (supported if lo > 0.5 else not_supported).append(text)
    for name, b in (ev.get("baselines") or {}).items():
        gain = b.get("model_minus_baseline") if isinstance(b, dict) else None
        if not gain or gain.get("value") is None:
            continue
        glo, ghi = gain["ci"]
        text = (
            f"adds to the {name.replace('_', ' ')} baseline (AUROC {b.get('auroc', float('nan')):.3f}): paired "
            f"difference {gain['value']:+.3f} (95 % CI {glo:+.3f} to {ghi:+.3f})"
        )
        (supported if glo is not None and glo > 0 else not_supported).append(text)
    if task == "cybersickness":
        not_supported.append(
            "works in clinical populations, other headsets or other VR content (19 healthy volunteers on one "
            "roller coaster; no external validation)"
        )
    return {
        "supported": supported,
        "not_supported": not_supported,
        "rule": "a claim is supported when its 95 % subject-bootstrap CI excludes the null (AUROC 0.5, difference 0)",
    }


def _card_value(value: Any) -> str:
    """One card value as HTML in a reviewer's words (labels for keys, no ``None``, reprs or JSON)."""
    if isinstance(value, dict):
        if "value" in value and isinstance(value.get("ci"), list | tuple) and len(value["ci"]) == 2:
            est = describe(value["value"])
            lo, hi = (describe(v) for v in value["ci"])
            rest = {k: v for k, v in value.items() if k not in ("value", "ci")}
            extra = f"; {html.escape(describe(rest))}" if rest else ""
            return f"{html.escape(est)} (95 % CI {html.escape(lo)} to {html.escape(hi)}){extra}"
        return (
            "<table>"
            + "".join(
                f"<tr><th>{html.escape(label(str(k)))}</th><td>{_card_value(v)}</td></tr>" for k, v in value.items()
            )
            + "</table>"
        )
    if isinstance(value, list):
        if not value:
            return "none"
        if all(not isinstance(v, dict | list) for v in value) and len(value) > 8:
            return html.escape(", ".join(describe(v) for v in value))
        return "<ul>" + "".join(f"<li>{_card_value(v)}</li>" for v in value) + "</ul>"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}" if value == value else "n/a")
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+Z?", value):
        try:
            return html.escape(timestamp_text(dt.datetime.fromisoformat(value.replace("Z", "+00:00"))))
        except ValueError:
            pass
    return html.escape(describe(value))


def render_card_html(card: dict[str, Any], standalone: bool = True) -> str:
    """The card as HTML a reviewer reads: sections with labels, values in words (:mod:`attunexr.words`).

    ``standalone`` gives a self-contained page; otherwise only the card's body (for the web app's own layout).
    """
    name = str(card["model"]["name"])
    sections = "".join(
        f"<h2>{html.escape(sentence_case(label(k)))}</h2>{_card_value(v)}" for k, v in card.items() if k != "schema"
    )
    body = (f"<h1>Model card: {html.escape(name)}</h1><p>{html.escape(words_in(str(card.get('schema', ''))))}</p>"
            f"{sections}")
    if not standalone:
        return body
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Model card: {html.escape(name)}</title><style>body{{font-family:system-ui,sans-serif;"
        "max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse}th,td{border:1px solid #ccc;"
        "padding:3px 6px;text-align:left;vertical-align:top}th{background:#f0f3f7;font-weight:600}</style></head>"
        f"<body>{body}</body></html>"
    )
