"""Clinician-facing words: one vocabulary for every report, card and dashboard.

The program speaks in codes (``arousal_below_window``, ``max_level``, ``head_pose``, ``balanced_accuracy``); a
clinician or reviewer reads sentences and labels. This module holds that translation in one place so that the session
report (HTML and PDF), the evaluation report, the simulation report and the model card say the same thing the same
way. It imports nothing from attunexr, so every package may use it (like :mod:`attunexr.errors`).

Rules kept here:

- every reason code has a sentence (:func:`reason_sentence`), every key a label (:func:`label`); an unknown code or
  key gets a readable fallback (underscores become spaces), never the raw code alone;
- times into a session are ``m:ss`` (``h:mm:ss`` past an hour), clock times ``HH:MM:SS``, dates are dates
  (``6 December 2026``): no microseconds anywhere;
- values are shown as text a person reads (:func:`describe`): no Python ``None``, reprs, dicts or JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime

__all__ = [
    "LABELS",
    "REASONS",
    "clock_time",
    "date_text",
    "describe",
    "label",
    "reason_sentence",
    "sentence_case",
    "session_time",
    "timestamp_text",
    "words_in",
]

#: A sentence per reason code (controller policies and bounds, detector abstention, safety monitors and actions,
#: decisions). The codes come from :mod:`attunexr.exposure`, :mod:`attunexr.models` and :mod:`attunexr.safety`.
REASONS: dict[str, str] = {
    # why the controller proposed or made a change (policies)
    "arousal_below_window": "Estimated arousal is below the therapeutic window, so a step up may help.",
    "arousal_above_window": "Estimated arousal is above the therapeutic window, so a step down may help.",
    "arousal_in_window": "Estimated arousal is inside the therapeutic window; the level stays.",
    "estimate_unavailable": "The AI has no usable estimate; the level stays.",
    "estimate_uncertain": "The AI's estimate is too uncertain to act on; the level stays.",
    "habituation": "Arousal is falling at this level (habituation), so a step up may help.",
    "schedule": "A scheduled step of the session plan.",
    "no_recent_suds": "No recent SUDS answer; the level stays.",
    "suds_below_window": "The last SUDS is below the target range, so a step up may help.",
    "suds_in_window": "The last SUDS is inside the target range; the level stays.",
    "suds_habituated": "SUDS fell at this level (habituation), so a step up may help.",
    "suds_high": "The last SUDS is high; the level stays.",
    "suds_low": "The last SUDS is low at this level.",
    "suds_overload": "The last SUDS is at overload, so a step down is needed.",
    "step_up": "One level up.",
    "step_down": "One level down.",
    "de_escalate": "A step down to a lower level.",
    "clinician_override": "The clinician set the level.",
    # why an escalation or an approval was refused (controller bounds)
    "max_level": "Refused: above the highest level allowed for this session.",
    "max_step": "Refused: more levels at once than allowed.",
    "min_dwell": "Refused: too soon after the last change (minimum time at a level).",
    "session_ended": "Refused: the planned session length is over.",
    "safety_block": "Refused: a safety monitor blocks escalation for now.",
    "paused": "Refused: the session is paused.",
    "stopped": "Refused: the session is stopped.",
    "level_changed": "Refused: the level changed since the proposal was made.",
    "signal_quality_poor": "The signals are poor, so the AI's estimate does not rest on good data.",
    "estimate_missing_or_stale": "The AI has no recent estimate.",
    "model_abstained": "The AI abstains (still collecting the resting baseline, or unsure).",
    "arousal_ceiling": "Refused: estimated arousal is at or above the session's ceiling.",
    "suds_ceiling": "Refused: the last SUDS is at or above the session's ceiling.",
    "gate_step": "Refused by the escalation gate.",
    "timeout": "The proposal expired before it was approved.",
    # why the detector abstained
    "collecting_baseline": "The AI is still collecting the resting baseline.",
    "poor_signal_quality": "The signals are too poor for an estimate.",
    "signal_gaps": "The signals have gaps, so no estimate was made.",
    "uncertain": "The estimate is too uncertain (its prediction set is not exactly one class).",
    "atypical_input": "The signals look unlike the training data, so no estimate was made.",
    # safety monitors and actions
    "overload": "Overload: arousal or distress too high for too long.",
    "cybersickness": "Cybersickness: signs of simulator sickness.",
    "dissociation": "Dissociation: responses flattened or unanswered prompts.",
    "signal_loss": "Signal loss: the sensors stopped delivering data.",
    "symptom_worsening": "Symptom worsening since the session began.",
    "suicidality": "Suicidality: answer that needs the clinician's immediate attention.",
    "block_escalation": "Escalation blocked until the monitor clears.",
    "pause": "The session was paused.",
    "end_session": "The session was ended.",
    "notify": "The clinician was notified.",
    # decisions on proposals
    "approved": "Approved and applied.",
    "rejected": "Rejected by the clinician.",
    "refused": "Approved by the clinician but refused by a bound of the session.",
    "expired": "Expired before anyone decided.",
    "pending": "Not decided before the session ended.",
    "superseded": "Replaced by a newer proposal.",
}

#: A label per key (signals, metrics, evaluation and simulation fields) as a column header or table row reads it.
LABELS: dict[str, str] = {
    # signals and their quality
    "acc": "movement (accelerometer)",
    "ecg": "ECG",
    "eda": "skin conductance (EDA)",
    "head_pose": "head tracking",
    "hr": "heart rate",
    "ibi": "inter-beat intervals",
    "ppg": "pulse (PPG)",
    "resp": "breathing",
    "temp": "skin temperature",
    "pupil": "pupil size",
    "pupil_mm": "pupil size (mm)",
    "q_cardiac": "heart signal quality",
    "q_eda": "skin-conductance quality",
    "q_motion": "movement quality",
    "q_resp": "breathing quality",
    "quality_ok": "signal quality acceptable",
    # metrics
    "auroc": "AUROC",
    "balanced_accuracy": "balanced accuracy",
    "f1": "macro-F1",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "brier": "Brier score (lower is better)",
    "ece": "expected calibration error (lower is better)",
    "elapsed_time": "time in VR alone",
    "elapsed_time_auroc": "time in VR alone (AUROC)",
    # evaluation summary
    "task": "task",
    "protocol": "validation protocol",
    "dataset": "dataset",
    "n_subjects": "people",
    "n_windows": "windows",
    "n_positive": "windows labelled positive",
    "normalize": "normalization",
    "model": "model",
    "abstained_fraction": "share of windows without an estimate",
    "threshold_method": "how the decision threshold was chosen",
    "ci_method": "how confidence intervals were computed",
    "feature_cache": "feature table",
    "loso": "leave one person out",
    "logo": "leave one group out",
    # simulation metrics
    "time_in_window": "time in the therapeutic window",
    "overloads": "overload events",
    "overload_rate": "overload events per session",
    "dropout": "dropout",
    "dropouts": "patients who dropped out",
    "active": "patients still in treatment",
    "escalations": "escalations",
    "escalations_during_signal_loss": "escalations during signal loss (must be 0)",
    "sessions_to_goal": "sessions to reach the top level",
    "final_level": "level reached",
    "fear_reduction": "reduction in fear",
    "cybersickness": "cybersickness",
    "overload_per_session": "overload events per session",
    "sickness_per_session": "cybersickness events per session",
    "max_level_mean": "mean highest level reached",
    "dropout_rate": "dropout rate",
    "sessions_delivered": "sessions delivered",
    "escalation_requests_during_signal_loss": "escalation requests during signal loss (all blocked)",
    "escalations_blocked_by_quality_or_abstention": "escalations blocked (poor signals or the AI abstained)",
    "sessions_ended_by_cybersickness": "sessions ended by cybersickness",
    "safety_de_escalations": "step-downs by a safety rule",
    "time_below_window": "time below the therapeutic window",
    "time_above_window": "time above the therapeutic window",
    "time_below_window_at_max_level": "time below the window at the highest level",
    "therapeutic_window": "therapeutic window",
    "session_length_s": "session length (s)",
    # session fields
    "max_level": "highest level allowed",
    "max_step": "largest step",
    "min_dwell_s": "minimum time at a level",
    "arousal_ceiling": "arousal ceiling",
    "suds_ceiling": "SUDS ceiling",
    "window": "therapeutic window",
    "mode": "control mode",
    "policy": "policy",
    "propose": "the AI proposes, the clinician approves",
    "auto": "the AI changes levels within the bounds",
    "manual": "the clinician sets every level",
    "virtual": "simulated virtual patient",
    "replay": "replayed recording",
    "client": "VR headset client",
    "lsl": "Lab Streaming Layer streams",
    "ble": "Bluetooth chest strap",
    "itt": "intention to treat",
    "per_protocol": "per protocol",
    "multiple_imputation": "multiple imputation",
    "primary": "primary (intention to treat)",
    "emotional_overload": "emotional overload",
    "fall_or_injury": "fall or injury",
    "pre": "before",
    "post": "after",
    # questionnaires (clinical instrument ids)
    "aq_anxiety": "Acrophobia Questionnaire, anxiety (AQ)",
    "aq_avoidance": "Acrophobia Questionnaire, avoidance",
    "fsq": "Fear of Spiders Questionnaire (FSQ)",
    "phq9": "PHQ-9",
    "phqa": "PHQ-A",
    "gad7": "GAD-7",
    "pcl5": "PCL-5",
    "ssq": "Simulator Sickness Questionnaire (SSQ)",
    "vrsq": "VR Sickness Questionnaire (VRSQ)",
    "ipq": "presence (IPQ)",
    "suds": "SUDS",
    "fms": "Fast Motion Sickness scale (FMS)",
}

_SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: Class names of the program (``ArousalDetector``, ``OverloadMonitor``): shown as words (``arousal detector``).
_CLASS = re.compile(r"\b(?:[A-Z][a-z0-9]+)+(?:Controller|Monitor|Supervisor|Stream|Source|Detector|Estimator"
                    r"|Classifier|Regression|Pipeline|Engine|Tracker)\b")
#: A Python list of strings as ``repr`` writes it: ``['a', 'b']``.
_LIST_REPR = re.compile(r"\[('[^'\]]*'(?:,\s*'[^'\]]*')*)\]")
#: A Python dict of simple values as ``repr`` writes it: ``{'lightgbm': 0.86, 'logistic': 0.82}``.
_DICT_REPR = re.compile(r"\{('[^']*':\s*[^,{}]+(?:,\s*'[^']*':\s*[^,{}]+)*)\}")


_UNITS = {"s": "s", "ms": "ms", "m": "m", "cm": "cm", "mm": "mm", "hz": "Hz", "bpm": "bpm", "us": "µS"}


def _humanize(code: str) -> str:
    """``arousal_below_window`` -> ``arousal below window``, ``min_dwell_s`` -> ``min dwell (s)``, ``n_levels`` ->
    ``number of levels``: readable when no label exists."""
    parts = [p for p in re.split(r"[_\s]+", code) if p]
    unit = ""
    if len(parts) > 1 and parts[-1] in _UNITS:
        unit = f" ({_UNITS[parts.pop()]})"
    if len(parts) > 1 and parts[0] == "n":
        parts[0] = "number of"
    return " ".join(parts) + unit


def reason_sentence(code: str | None) -> str:
    """The sentence for a reason code; an unknown code becomes a readable sentence, never the raw code alone.

    A value that is already a sentence (has spaces and no underscores) is returned as it is, so callers may pass
    either the code or a text that some component already wrote in words.
    """
    if code is None or not str(code).strip():
        return ""
    code = str(code).strip()
    if code in REASONS:
        return REASONS[code]
    if " " in code and "_" not in code:
        return code
    text = _humanize(code)
    return text[:1].upper() + text[1:] + "."


def sentence_case(text: str) -> str:
    """First letter upper case, the rest as it is (``str.capitalize`` would turn ``AI`` into ``ai``)."""
    return text[:1].upper() + text[1:]


def label(key: str | None) -> str:
    """The label for a key (signal, metric, field); unknown keys are humanized (underscores become spaces)."""
    if key is None:
        return ""
    key = str(key)
    if key in LABELS:
        return LABELS[key]
    return _humanize(key)


def words_in(text: str) -> str:
    """A free text with its codes in words: snake_case codes become labels, class names words
    (``ArousalDetector`` -> ``arousal detector``), Python lists of strings plain lists, and ``None`` ``n/a``."""
    text = _LIST_REPR.sub(lambda m: ", ".join(v.strip().strip("'") for v in m.group(1).split(",")), text)
    text = _DICT_REPR.sub(lambda m: ", ".join(f"{k.strip().strip(chr(39))} {v.strip().strip(chr(39))}"
                                              for k, v in (item.split(":", 1) for item in m.group(1).split(","))),
                          text)
    text = _CLASS.sub(lambda m: re.sub(r"(?<!^)(?=[A-Z])", " ", m.group(0)).lower(), text)
    text = re.sub(r"\bNone\b", "n/a", text)
    return _SNAKE.sub(lambda m: LABELS.get(m.group(0), _humanize(m.group(0))), text)


def session_time(seconds: float | None) -> str:
    """Seconds into a session as ``m:ss`` (``h:mm:ss`` from one hour); empty for ``None`` or a negative time.

    Events recorded outside the running session (a questionnaire before it began) carry a negative time: they have
    no place on the session clock and are shown without one.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def clock_time(when: datetime | None) -> str:
    """A clock time as ``HH:MM:SS`` (no microseconds); empty for ``None``."""
    return when.strftime("%H:%M:%S") if when is not None else ""


def date_text(when: date | datetime | None) -> str:
    """A date as a person writes it, ``6 December 2026``; empty for ``None``."""
    if when is None:
        return ""
    return f"{when.day} {when.strftime('%B %Y')}"


def timestamp_text(when: datetime | None) -> str:
    """Date and clock time, ``6 December 2026, 07:14:50 UTC`` (time zone named when known)."""
    if when is None:
        return ""
    zone = when.tzname() or ""
    return f"{date_text(when)}, {clock_time(when)}" + (f" {zone}" if zone else "")


def describe(value: object, digits: int = 3) -> str:
    """Any value as text a person reads: no ``None``, no reprs, no dicts or JSON.

    ``None`` and NaN become ``n/a``; booleans ``yes``/``no``; floats get ``digits`` decimals; mappings become
    ``label: value; label: value``; sequences are joined with commas; strings have their snake_case codes labelled.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isinf(value):
            return "no limit" if value > 0 else "no lower limit"
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return timestamp_text(value)
    if isinstance(value, date):
        return date_text(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{label(str(k))}: {describe(v, digits)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(describe(v, digits) for v in value)
    return words_in(str(value))
