"""Alerts raised by safety monitors, the actions they ask for, and what monitors observe."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Alert", "SafetyAction", "SafetyObservation"]


class SafetyAction(StrEnum):
    """What a monitor asks the session to do, from mildest to strongest."""

    ALERT = "alert"  #: tell the clinician
    BLOCK_ESCALATION = "block_escalation"  #: no step up for a while
    DE_ESCALATE = "de_escalate"  #: one level down now
    PAUSE = "pause"  #: pause in the safe scene
    END = "end"  #: end the session

    @property
    def rank(self) -> int:
        return list(SafetyAction).index(self)


@dataclass(frozen=True)
class Alert:
    """A safety monitor's finding.

    Parameters
    ----------
    monitor
        Name of the monitor (``"overload"``, ``"suicidality"`` ...).
    t
        Session time in seconds.
    action
        The action the session must take (the controller obeys it).
    severity
        ``"info"``, ``"warning"`` or ``"critical"``.
    message
        One sentence for the clinician.
    evidence
        The values that triggered it.
    requires_clinician
        The clinician must look now (and confirm or dismiss).
    """

    monitor: str
    t: float
    action: SafetyAction
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    requires_clinician: bool = False


@dataclass
class SafetyObservation:
    """What the session knows at time ``t``; monitors read the fields they need (``None`` = not available).

    Parameters
    ----------
    t
        Session time in seconds.
    arousal, arousal_lower, abstained, quality_ok
        Latest arousal estimate, its lower bound, whether the model abstained, signal quality.
    suds, suds_t
        Latest SUDS answer and when it was given.
    hr, hr_baseline
        Current heart rate and the person's resting baseline (bpm).
    fms, fms_t
        Latest Fast Motion Sickness answer (0-20) and when it was given.
    ssq_total
        Simulator Sickness Questionnaire total (after exposure).
    sickness_probability
        Cybersickness detector output.
    sickness_forecast
        Probability that FMS reaches the sickness threshold within the next 60 s (head-motion forecaster).
    head_motion, head_motion_baseline
        Head angular speed (deg/s) now and in the person's baseline.
    unanswered_prompts
        Consecutive prompts (SUDS/FMS) left unanswered.
    last_sample_t
        Time of the last sample received per stream.
    questionnaire
        A questionnaire scored now (:class:`attunexr.clinical.InstrumentResult`).
    """

    t: float
    arousal: float | None = None
    arousal_lower: float | None = None
    abstained: bool = False
    quality_ok: bool = True
    suds: float | None = None
    suds_t: float | None = None
    hr: float | None = None
    hr_baseline: float | None = None
    fms: float | None = None
    fms_t: float | None = None
    ssq_total: float | None = None
    sickness_probability: float | None = None
    sickness_forecast: float | None = None
    head_motion: float | None = None
    head_motion_baseline: float | None = None
    unanswered_prompts: int = 0
    last_sample_t: dict[str, float] = field(default_factory=dict)
    questionnaire: Any = None
