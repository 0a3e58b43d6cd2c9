"""Safety monitors. Each watches one kind of harm, says why in its docstring, and is configured by parameters.

Monitors flag situations for the clinician; none of them diagnoses anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from attunexr.clinical import reliable_change
from attunexr.errors import ConfigurationError
from attunexr.safety._alert import Alert, SafetyAction, SafetyObservation

__all__ = [
    "CybersicknessMonitor",
    "DissociationMonitor",
    "OverloadMonitor",
    "SafetySupervisor",
    "SignalLossMonitor",
    "SuicidalityMonitor",
    "SymptomWorseningMonitor",
    "default_monitors",
]

logger = logging.getLogger(__name__)


class _Sustained:
    """Tracks how long a condition has held and fires once per episode (re-armed when it clears)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.fired = False

    def update(self, t: float, cond: bool, duration: float) -> bool:
        if not cond:
            self.since, self.fired = None, False
            return False
        if self.since is None:
            self.since = t
        if not self.fired and t - self.since >= duration:
            self.fired = True
            return True
        return False


@dataclass
class OverloadMonitor:
    """Emotional overload: distress far above what exposure therapy needs.

    Rationale: exposure works through activation that the person can tolerate and process (Foa & Kozak 1986);
    sustained extreme distress (flooding without processing) raises dropout and can sensitize. Triggers:
    estimated arousal at or above ``arousal_ceiling`` (lower bound, on good signal) for ``duration_s``; a SUDS
    answer at or above ``suds_ceiling`` (immediate: self-report is direct); heart rate ``hr_delta_bpm`` above the
    person's resting baseline for ``duration_s``. Action: ``action`` (default de-escalate one level).
    """

    arousal_ceiling: float = 0.9
    suds_ceiling: float = 85.0
    hr_delta_bpm: float = 40.0
    duration_s: float = 30.0
    action: SafetyAction = SafetyAction.DE_ESCALATE
    name: str = "overload"
    _ar: _Sustained = field(default_factory=_Sustained, repr=False)
    _hr: _Sustained = field(default_factory=_Sustained, repr=False)
    _last_suds_t: float | None = field(default=None, repr=False)

    def update(self, obs: SafetyObservation) -> list[Alert]:
        out: list[Alert] = []
        ar_high = (obs.arousal_lower is not None and obs.quality_ok and not obs.abstained
                   and obs.arousal_lower >= self.arousal_ceiling)
        if self._ar.update(obs.t, ar_high, self.duration_s):
            out.append(Alert(self.name, obs.t, self.action, "warning",
                             f"estimated arousal above {self.arousal_ceiling:.2f} for {self.duration_s:.0f} s",
                             {"arousal_lower": obs.arousal_lower}))
        if obs.suds is not None and obs.suds_t is not None and obs.suds_t != self._last_suds_t:
            self._last_suds_t = obs.suds_t
            if obs.suds >= self.suds_ceiling:
                out.append(Alert(self.name, obs.t, self.action, "warning",
                                 f"SUDS {obs.suds:.0f} at or above {self.suds_ceiling:.0f}", {"suds": obs.suds}))
        hr_high = (obs.hr is not None and obs.hr_baseline is not None and obs.quality_ok
                   and obs.hr - obs.hr_baseline >= self.hr_delta_bpm)
        if self._hr.update(obs.t, hr_high, self.duration_s):
            out.append(Alert(self.name, obs.t, self.action, "warning",
                             f"heart rate {obs.hr:.0f} bpm, {self.hr_delta_bpm:.0f}+ above baseline "
                             f"for {self.duration_s:.0f} s", {"hr": obs.hr, "hr_baseline": obs.hr_baseline}))
        return out


@dataclass
class CybersicknessMonitor:
    """Cybersickness: nausea, disorientation and oculomotor strain from the VR itself.

    Rationale: sickness accumulates with time in VR and is a main reason for dropout from VR therapy; the Fast
    Motion Sickness scale (0-20, Keshavarz & Hecht 2011) tracks it minute by minute, the SSQ (Kennedy et al. 1993)
    before and after. People who feel sick also move their head less (Chang et al. 2020). Triggers: FMS at or
    above ``fms_pause`` pauses, at or above ``fms_end`` ends, at or above ``fms_alert`` blocks escalation; SSQ total
    at or above ``ssq_alert`` alerts; a cybersickness detector probability at or above ``probability_ceiling`` for
    ``duration_s`` blocks escalation, and with head motion below ``head_motion_fraction`` of baseline it pauses;
    a forecast (head-motion model: FMS reaching 10 within 60 s) at or above ``forecast_ceiling`` for
    ``forecast_duration_s`` blocks escalation and asks the clinician to check in. The models only ever hold the
    exposure level or ask; they never raise it, and they stay silent on poor signal.
    """

    fms_alert: float = 5.0
    fms_pause: float = 10.0
    fms_end: float = 15.0
    ssq_alert: float = 40.0
    probability_ceiling: float = 0.8
    head_motion_fraction: float = 0.3
    duration_s: float = 60.0
    forecast_ceiling: float = 0.7
    forecast_duration_s: float = 10.0
    name: str = "cybersickness"
    _p: _Sustained = field(default_factory=_Sustained, repr=False)
    _f: _Sustained = field(default_factory=_Sustained, repr=False)
    _last_fms_t: float | None = field(default=None, repr=False)
    _ssq_done: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.fms_alert <= self.fms_pause <= self.fms_end:
            raise ConfigurationError("CybersicknessMonitor needs fms_alert <= fms_pause <= fms_end")

    def update(self, obs: SafetyObservation) -> list[Alert]:
        out: list[Alert] = []
        if obs.fms is not None and obs.fms_t is not None and obs.fms_t != self._last_fms_t:
            self._last_fms_t = obs.fms_t
            ev = {"fms": obs.fms}
            if obs.fms >= self.fms_end:
                out.append(Alert(self.name, obs.t, SafetyAction.END, "critical", f"FMS {obs.fms:.0f}: end the session", ev, True))
            elif obs.fms >= self.fms_pause:
                out.append(Alert(self.name, obs.t, SafetyAction.PAUSE, "warning", f"FMS {obs.fms:.0f}: pause", ev, True))
            elif obs.fms >= self.fms_alert:
                out.append(Alert(self.name, obs.t, SafetyAction.BLOCK_ESCALATION, "info",
                                 f"FMS {obs.fms:.0f}: mild sickness, no escalation", ev))
        if obs.ssq_total is not None and obs.ssq_total >= self.ssq_alert and not self._ssq_done:
            self._ssq_done = True
            out.append(Alert(self.name, obs.t, SafetyAction.ALERT, "warning",
                             f"SSQ total {obs.ssq_total:.1f} at or above {self.ssq_alert:.0f}", {"ssq_total": obs.ssq_total}, True))
        p_high = obs.sickness_probability is not None and obs.quality_ok and obs.sickness_probability >= self.probability_ceiling
        if self._p.update(obs.t, p_high, self.duration_s):
            still = (obs.head_motion is not None and obs.head_motion_baseline is not None
                     and obs.head_motion < self.head_motion_fraction * obs.head_motion_baseline)
            ev2 = {"sickness_probability": obs.sickness_probability, "head_motion": obs.head_motion,
                   "head_motion_baseline": obs.head_motion_baseline}
            if still:
                out.append(Alert(self.name, obs.t, SafetyAction.PAUSE, "warning",
                                 "cybersickness signs with reduced head movement: pause and ask", ev2, True))
            else:
                out.append(Alert(self.name, obs.t, SafetyAction.BLOCK_ESCALATION, "info",
                                 "physiological cybersickness signs: no escalation", ev2))
        f_high = (obs.sickness_forecast is not None and obs.quality_ok
                  and obs.sickness_forecast >= self.forecast_ceiling)
        if self._f.update(obs.t, f_high, self.forecast_duration_s):
            out.append(Alert(self.name, obs.t, SafetyAction.BLOCK_ESCALATION, "info",
                             f"sickness forecast: FMS 10 likely within 60 s (p {obs.sickness_forecast:.2f}); "
                             "no escalation, check in", {"sickness_forecast": obs.sickness_forecast}, True))
        return out


@dataclass
class DissociationMonitor:
    """Possible dissociation / hypo-arousal: a flag for the clinician to check, never a diagnosis.

    Rationale: during trauma-related exposure some people "shut down" (tonic immobility, hypo-arousal; Schauer &
    Elbert 2010): physiological arousal and movement drop sharply while reported distress stays high, or they stop
    answering. Exposure during such states is not thought to help and the clinician should check in. Triggers:
    ``max_unanswered`` consecutive unanswered prompts; or, with a recent SUDS at or above ``suds_high``, estimated
    arousal falling by ``arousal_drop`` within ``window_s`` while head motion is below ``head_motion_fraction`` of
    baseline. Action: pause, clinician to check.
    """

    max_unanswered: int = 2
    suds_high: float = 70.0
    arousal_drop: float = 0.3
    window_s: float = 60.0
    head_motion_fraction: float = 0.3
    suds_max_age_s: float = 180.0
    name: str = "dissociation"
    _history: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _fired_prompts: bool = field(default=False, repr=False)
    _fired_drop_t: float = field(default=-1e18, repr=False)

    def update(self, obs: SafetyObservation) -> list[Alert]:
        out: list[Alert] = []
        if obs.unanswered_prompts >= self.max_unanswered:
            if not self._fired_prompts:
                self._fired_prompts = True
                out.append(Alert(self.name, obs.t, SafetyAction.PAUSE, "warning",
                                 f"{obs.unanswered_prompts} prompts unanswered: check on the patient "
                                 "(possible dissociation; not a diagnosis)", {"unanswered_prompts": obs.unanswered_prompts}, True))
        else:
            self._fired_prompts = False
        if obs.arousal is not None and obs.quality_ok and not obs.abstained:
            self._history.append((obs.t, obs.arousal))
        self._history = [(t, a) for t, a in self._history if obs.t - t <= self.window_s]
        if not self._history or obs.arousal is None or not obs.quality_ok or obs.abstained:
            return out
        peak = max(a for _, a in self._history)
        distressed = (obs.suds is not None and obs.suds_t is not None and obs.suds >= self.suds_high
                      and obs.t - obs.suds_t <= self.suds_max_age_s)
        still = (obs.head_motion is not None and obs.head_motion_baseline is not None
                 and obs.head_motion < self.head_motion_fraction * obs.head_motion_baseline)
        if distressed and still and peak - obs.arousal >= self.arousal_drop and obs.t - self._fired_drop_t > self.window_s:
            self._fired_drop_t = obs.t
            out.append(Alert(self.name, obs.t, SafetyAction.PAUSE, "warning",
                             "arousal and movement fell sharply while reported distress is high: check on the "
                             "patient (possible dissociation; not a diagnosis)",
                             {"arousal_peak": peak, "arousal": obs.arousal, "suds": obs.suds,
                              "head_motion": obs.head_motion}, True))
        return out


@dataclass
class SignalLossMonitor:
    """Signal loss: without signal nobody can see how the patient responds, so no escalation.

    Rationale: the controller must never raise exposure blind. Triggers: a required stream whose last sample is
    older than ``max_gap_s``, or ``max_poor_windows`` consecutive poor-quality windows: block escalation; loss that
    lasts ``pause_after_s``: pause so the clinician can fix the sensor.
    """

    streams: Sequence[str] = ()
    max_gap_s: float = 2.0
    max_poor_windows: int = 2
    pause_after_s: float = 120.0
    name: str = "signal_loss"
    _loss: _Sustained = field(default_factory=_Sustained, repr=False)
    _long: _Sustained = field(default_factory=_Sustained, repr=False)
    _poor: int = field(default=0, repr=False)

    def lost_streams(self, obs: SafetyObservation) -> list[str]:
        names = list(self.streams) or list(obs.last_sample_t)
        return [n for n in names if n not in obs.last_sample_t or obs.t - obs.last_sample_t[n] > self.max_gap_s]

    def update(self, obs: SafetyObservation) -> list[Alert]:
        out: list[Alert] = []
        lost = self.lost_streams(obs)
        self._poor = 0 if obs.quality_ok else self._poor + 1
        bad = bool(lost) or self._poor >= self.max_poor_windows
        if self._loss.update(obs.t, bad, 0.0):
            why = f"no samples from {', '.join(lost)}" if lost else f"{self._poor} poor-quality windows"
            out.append(Alert(self.name, obs.t, SafetyAction.BLOCK_ESCALATION, "info", f"signal loss: {why}",
                             {"lost_streams": lost, "poor_windows": self._poor}))
        if self._long.update(obs.t, bad, self.pause_after_s):
            out.append(Alert(self.name, obs.t, SafetyAction.PAUSE, "warning",
                             f"signal lost for {self.pause_after_s:.0f} s: pause and check the sensors",
                             {"lost_streams": lost}, True))
        return out

    def signal_ok(self, obs: SafetyObservation) -> bool:
        """Whether every required stream delivered within ``max_gap_s`` (what the controller may rely on)."""
        return not self.lost_streams(obs)


@dataclass
class SymptomWorseningMonitor:
    """Symptom worsening between sessions, by reliable change (Jacobson & Truax 1991).

    Rationale: a minority of patients get worse during exposure therapy and this is under-reported. Each scored
    GAD-7, PHQ-9 or PCL-5 is compared with the first (baseline) score of that instrument; a reliable worsening
    (RCI > 1.96, :func:`attunexr.clinical.reliable_change`) raises an alert that blocks escalation until the
    clinician reviews.
    """

    instruments: Sequence[str] = ("gad7", "phq9", "pcl5")
    name: str = "symptom_worsening"
    baselines: dict[str, float] = field(default_factory=dict)

    def update(self, obs: SafetyObservation) -> list[Alert]:
        q = obs.questionnaire
        if q is None or getattr(q, "instrument", None) not in self.instruments:
            return []
        inst, total = str(q.instrument), float(q.total)
        if inst not in self.baselines:
            self.baselines[inst] = total
            return []
        rc = reliable_change(inst, self.baselines[inst], total)
        if not rc.worsened:
            return []
        return [Alert(self.name, obs.t, SafetyAction.BLOCK_ESCALATION, "warning",
                      f"{inst.upper()} worsened reliably from {rc.before:.0f} to {rc.after:.0f} (RCI {rc.rci:.2f})",
                      {"instrument": inst, "before": rc.before, "after": rc.after, "rci": rc.rci,
                       "threshold_points": rc.threshold_points}, True)]


@dataclass
class SuicidalityMonitor:
    """PHQ-9 or PHQ-A item 9 > 0: immediate escalation to the clinician.

    Rationale: item 9 asks about thoughts of being better off dead or of self-harm; any positive answer needs a
    clinician's risk assessment the same day, whatever the total score (Kroenke et al. 2001; Simon et al. 2013).
    Action: pause the session, critical alert, clinician must respond.
    """

    name: str = "suicidality"

    def update(self, obs: SafetyObservation) -> list[Alert]:
        q = obs.questionnaire
        inst = getattr(q, "instrument", None)
        if q is None or inst not in ("phq9", "phqa"):
            return []
        item9 = int(q.items[8] or 0)
        if item9 <= 0:
            return []
        label = "PHQ-9" if inst == "phq9" else "PHQ-A"
        return [Alert(self.name, obs.t, SafetyAction.PAUSE, "critical",
                      f"{label} item 9 answered {item9}: clinician risk assessment needed now",
                      {f"{inst}_item9": item9, f"{inst}_total": int(q.total)}, True)]


def default_monitors() -> list[Any]:
    """One instance of every monitor with its default configuration."""
    return [OverloadMonitor(), CybersicknessMonitor(), DissociationMonitor(), SignalLossMonitor(),
            SymptomWorseningMonitor(), SuicidalityMonitor()]


class SafetySupervisor:
    """Runs a set of monitors on each observation and forwards their alerts to listeners (e.g. the controller).

    Parameters
    ----------
    monitors
        Monitors to run (default: :func:`default_monitors`).
    listeners
        Callables receiving each alert, e.g. ``controller.observe_alert``.
    """

    def __init__(self, monitors: Iterable[Any] | None = None, listeners: Iterable[Any] = ()) -> None:
        self.monitors = list(monitors) if monitors is not None else default_monitors()
        self.listeners = list(listeners)
        self.alerts: list[Alert] = []

    def update(self, obs: SafetyObservation) -> list[Alert]:
        out: list[Alert] = []
        for m in self.monitors:
            out.extend(m.update(obs))
        out.sort(key=lambda a: -a.action.rank)
        for a in out:
            logger.warning("safety alert %s at %.1f s: %s -> %s", a.monitor, a.t, a.message, a.action.value)
            self.alerts.append(a)
            for fn in self.listeners:
                fn(a)
        return out
