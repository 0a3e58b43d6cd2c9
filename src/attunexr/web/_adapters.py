"""Adapters from the project's real components to the parts of a clinician session
(:class:`~attunexr.web._live_bridge.SessionSetup`).

- :class:`DetectorAnalyzer`: the detector (``attunexr.models``) and feature driver a session's
  :class:`attunexr.session.LiveSession` runs, and the dashboard's estimate format;
- :class:`ControllerAdapter`: :class:`attunexr.exposure.ExposureController` with a policy and clinician bounds;
- :class:`SupervisorAdapter`: :class:`attunexr.safety.SafetySupervisor` with the default monitors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from attunexr.recording import Chunk
from attunexr.session import Vitals

if TYPE_CHECKING:
    from attunexr.exposure import Decision

__all__ = ["AlertView", "ControllerAdapter", "DetectorAnalyzer", "EstimateView", "ProposalView", "SupervisorAdapter"]

logger = logging.getLogger(__name__)

_REASON_TEXT = {
    "arousal_below_window": "estimated arousal below the therapeutic window",
    "arousal_above_window": "estimated arousal above the therapeutic window",
    "habituation": "arousal falling within the level (habituation)",
    "suds_low": "low SUDS at this level",
    "suds_overload": "SUDS at overload",
    "schedule": "scheduled step",
}


#: Why an escalation or an approval was refused, in a clinician's words (controller bound codes).
BOUND_TEXT = {
    "max_level": "above the highest level allowed for this session",
    "max_step": "more levels at once than allowed",
    "min_dwell": "too soon after the last change (minimum time at a level)",
    "session_ended": "the planned session length is over",
    "safety_block": "a safety monitor blocks escalation for now",
    "paused": "the session is paused",
    "stopped": "the session is stopped",
    "level_changed": "the level changed since the proposal was made",
    "signal_quality_poor": "the signals are poor, so the AI's proposal no longer rests on good data",
    "estimate_missing_or_stale": "the AI has no recent estimate for its proposal",
    "model_abstained": "the AI is no longer confident about its proposal",
    "arousal_ceiling": "estimated arousal is at or above the session's ceiling",
    "suds_ceiling": "the last SUDS is at or above the session's ceiling",
    "timeout": "the proposal expired before it was approved",
}
#: What the AI cannot see when a clinician changes the level without a usable estimate.
UNSEEN_TEXT = {
    "estimate_missing_or_stale": "the AI has no estimate yet, so it cannot see how the patient responds",
    "model_abstained": "the AI abstains (still collecting the resting baseline or unsure), so it cannot judge the "
                       "response",
    "signal_quality_poor": "the signals are poor, so the AI cannot see how the patient responds",
}


_MODE_WORDS = {"propose": "the AI proposes, the clinician approves", "auto": "the AI changes levels within the "
               "clinician's bounds", "manual": "the clinician sets every level"}
_POLICY_WORDS = {"arousal": "adapts to estimated arousal", "suds": "follows SUDS answers",
                 "fixed": "fixed schedule"}
_WAIT_WORDS = {"poor_signal_quality": "waiting for good signals", "uncertain": "not confident for this window",
               "atypical_input": "signals unlike what the model was trained on"}


def _words(camel: str) -> str:
    """``SignalLoss`` -> ``signal loss``."""
    return "".join(" " + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(camel))


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class EstimateView:
    """A detector estimate as the clinician sees it (dashboard, timeline, report), and what the controller and the
    safety monitors read from it.

    ``probability``/``lower``/``upper`` are ``None`` when not finite; ``waiting`` says in words what the AI waits
    for when it abstains (``"resting baseline, 1:10 left"``); ``window_quality`` holds the window's quality indices.
    """

    t_end: float
    probability: float | None
    lower: float | None
    upper: float | None
    abstained: bool
    reason: str
    model: str
    waiting: str = ""
    contributions: dict[str, float] = field(default_factory=dict)
    window_quality: dict[str, float | None] = field(default_factory=dict)
    quality_ok: bool = True

    def to_message(self) -> dict[str, Any]:
        """The dashboard's JSON object."""
        return {"t_end": self.t_end, "waiting": self.waiting, "probability": self.probability, "lower": self.lower,
                "upper": self.upper, "abstained": self.abstained, "reason": self.reason, "model": self.model,
                "contributions": dict(self.contributions), "window_quality": dict(self.window_quality),
                "quality_ok": self.quality_ok}


@dataclass(frozen=True)
class AlertView:
    """A safety monitor's alert as the dashboard shows it; ``raw`` is the monitor's own
    :class:`attunexr.safety.SafetyAlert` (the exposure controller observes it)."""

    monitor: str
    severity: str
    action: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    requires_clinician: bool = False
    raw: Any = field(default=None, compare=False, repr=False)

    def to_message(self) -> dict[str, Any]:
        """The dashboard's JSON object."""
        return {"monitor": self.monitor, "severity": self.severity, "action": self.action, "message": self.message,
                "evidence": dict(self.evidence), "requires_clinician": self.requires_clinician}


class _WithoutKinds:
    """A feature driver that leaves some stream kinds out (the VR client's head pose is telemetry, not physiology)."""

    def __init__(self, features: Any, skip: frozenset[str]) -> None:
        self.features, self.skip = features, skip
        self.window, self.hop = features.window, features.hop

    def push(self, chunk: Chunk) -> list[dict[str, Any]]:
        return [] if chunk.kind in self.skip else self.features.push(chunk)


class DetectorAnalyzer:
    """The detector side of a web session, run by the session's :class:`attunexr.session.LiveSession`.

    The live session buffers the chunks, drives :class:`attunexr.features.FeatureStream` (:meth:`feature_stream`)
    and calls :meth:`estimate` on each completed window; :meth:`to_dashboard` turns its estimates into the
    dashboard's format (top contributions, the window's quality).
    """

    skip_kinds = frozenset({"head_pose"})

    def __init__(self, detector: Any, *, model_name: str, window: float = 60.0, hop: float = 10.0) -> None:
        self.detector = detector
        self.window, self.hop = float(window), float(hop)
        version = str(getattr(detector, "version", "") or "")
        try:
            from attunexr.models import load_card

            card_model = load_card(model_name).get("model", {})
            version = f"{card_model.get('version', version)} ({card_model.get('created', '')})".strip()
        except Exception:  # noqa: BLE001 - a model folder without a card still runs; the report says "no card"
            pass
        self.info = {"model": getattr(detector, "name", model_name) or model_name,
                     "model_version": version, "model_card": model_name,
                     "features": f"attunexr.features.FeatureStream(window={window:g}, hop={hop:g})",
                     "model_words": f"AI: {model_name} detector, one estimate every {hop:g} s over the last "
                                    f"{window:g} s"}
        self.baseline_windows = int(getattr(detector, "baseline_windows", 0) or 0)
        self._baseline_seen = 0

    def feature_stream(self, subject: str, session: str) -> Any:
        """The feature driver for one session (head pose left out)."""
        from attunexr.features import FeatureStream

        fs = FeatureStream(window=self.window, hop=self.hop, subject=subject, session=session)
        return _WithoutKinds(fs, self.skip_kinds)

    def new_state(self) -> Any:
        """A fresh live state for one session (the detector's ``new_state()``), owned and dropped by the session;
        ``None`` for a detector that keeps no live state."""
        make = getattr(self.detector, "new_state", None)
        return make() if callable(make) else None

    def estimate(self, rows: pd.DataFrame, state: Any = None) -> list[Any]:
        """Run the detector on feature rows (the session clock starts when the patient enters VR), with the calling
        session's live ``state`` (see :meth:`new_state`)."""
        if "time_in_vr" not in rows.columns and "t_end" in rows.columns:
            rows = rows.assign(time_in_vr=rows["t_end"])
        if state is None:
            return list(self.detector.estimate(rows))
        return list(self.detector.estimate(rows, state=state))

    def to_dashboard(self, est: Any, row: dict[str, Any]) -> EstimateView:
        """A :class:`attunexr.session.StateEstimate` and its feature row as the dashboard shows them."""
        quality = {k: _finite(row.get(k)) for k in ("q_cardiac", "q_eda", "q_resp", "q_motion", "quality_ok")}
        waiting = ""
        if est.abstained and est.reason == "collecting_baseline":
            self._baseline_seen += 1
            left = max(0, self.baseline_windows - self._baseline_seen) * self.hop
            waiting = f"resting baseline, {int(left) // 60}:{int(left) % 60:02d} left"
        elif est.abstained:
            waiting = _WAIT_WORDS.get(est.reason, est.reason.replace("_", " "))
        return EstimateView(
            t_end=float(est.t_end), waiting=waiting, probability=_finite(est.probability), lower=_finite(est.lower),
            upper=_finite(est.upper), abstained=bool(est.abstained), reason=str(est.reason),
            model=str(est.model or self.info["model"]),
            contributions={k: float(v) for k, v in sorted(
                ((k, v) for k, v in est.contributions.items() if k != "bias"),
                key=lambda kv: -abs(kv[1]))[:8] if math.isfinite(v)},
            window_quality=quality, quality_ok=bool(row.get("quality_ok", True)))


ProposalStatus = Literal["pending", "approved", "rejected", "refused", "expired", "superseded"]


@dataclass(frozen=True)
class ProposalView:
    """A proposal of the exposure controller as the dashboard, the timeline and the report show it.

    A view only: the proposal's state lives in :class:`attunexr.exposure.ExposureController` (its one proposal
    state machine); ``status`` says it in the dashboard's words: ``pending``; ``approved`` (and applied);
    ``refused`` (approved by a clinician, refused by the bound ``bound``); ``rejected`` (by a clinician);
    ``expired`` (not decided within its time); ``superseded`` (withdrawn because the level changed, the session
    paused or stopped).
    """

    id: str
    from_level: int
    to_level: int
    reason_code: str
    reason: str
    evidence: dict[str, Any]
    created_t: float
    expires_after_s: float
    status: ProposalStatus
    decided_by: str | None = None
    bound: str | None = None
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_message(self) -> dict[str, Any]:
        """The dashboard's JSON object (``refused_by``/``refusal`` name the bound and say it in words)."""
        msg: dict[str, Any] = {
            "id": self.id, "from_level": self.from_level, "to_level": self.to_level,
            "reason_code": self.reason_code, "reason": self.reason, "evidence": self.evidence,
            "created_t": self.created_t, "expires_after_s": self.expires_after_s, "status": self.status}
        if self.decided_by is not None:
            msg["decided_by"] = self.decided_by
        if self.status == "refused":
            msg["refused_by"] = self.bound
            msg["refusal"] = self.message
        return msg


def _is_proposal(d: Decision) -> bool:
    """An AI proposal (awaiting a clinician or resolved), not an applied step, hold or clinician decision."""
    return d.decided_by == "ai" and d.status != "applied"


class ControllerAdapter:
    """Drive :class:`attunexr.exposure.ExposureController` from the web runner and translate its decisions."""

    def __init__(self, *, levels: int, scenario: str, mode: str, policy: str, bounds: dict[str, Any],
                 start_level: int, proposal_ttl_s: float, policy_params: dict[str, float] | None = None) -> None:
        from attunexr.exposure import ControllerBounds, ExposureController, load_hierarchy, make_policy

        hierarchy = load_hierarchy(scenario)
        #: called with every proposal the controller makes or resolves (the runner renders it)
        self.listener: Callable[[Decision], None] | None = None
        self.controller = ExposureController(
            hierarchy, make_policy(policy, **(policy_params or {})) if mode != "manual" else None, mode,  # type: ignore[arg-type]
            ControllerBounds(**bounds), proposal_ttl_s=proposal_ttl_s, start_level=start_level,
            on_decision=self._emitted)
        self.ttl = proposal_ttl_s
        self._last_est_t: float | None = None
        self._last_suds_t: float | None = None
        self.info = {"controller": f"attunexr.exposure.ExposureController, mode {mode}, policy {policy}",
                     "controller_words": f"{_MODE_WORDS.get(mode, mode)} ({_POLICY_WORDS.get(policy, policy)})"}

    def control(self, t: float, level: int, level_since: float, estimate: EstimateView | None,
                signals_ok: bool, suds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give the controller the newest estimate (its window's quality and the session's signal quality, the
        same reading the dashboard shows) and advance it to ``t``; returns its proposals and automatic steps."""
        c = self.controller
        if estimate is not None and estimate.t_end != self._last_est_t:
            self._last_est_t = estimate.t_end
            p = estimate.probability
            c.observe_estimate(SimpleNamespace(
                t_end=t, probability=p if p is not None else math.nan,
                lower=estimate.lower if estimate.lower is not None else math.nan,
                upper=estimate.upper if estimate.upper is not None else math.nan,
                abstained=estimate.abstained or p is None,
                contributions=dict(estimate.contributions), reason=estimate.reason),
                quality_ok=estimate.quality_ok and signals_ok, t=t)
        out = []
        for d in c.tick(t):
            out.extend(self._translate(d))
        return out

    def _emitted(self, d: Decision) -> None:
        if self.listener is not None and _is_proposal(d):
            self.listener(d)

    @staticmethod
    def _policy_reasons(d: Decision) -> list[str]:
        return [r for r in d.reasons if not r.startswith(("rejected_on_approval:", "clinician:", "approved:"))]

    @staticmethod
    def _evidence(d: Decision) -> dict[str, Any]:
        ev = dict(d.evidence or {})
        est = ev.get("estimate") or {}
        return {"estimate": {k: est.get(k) for k in ("probability", "lower", "upper", "abstained")},
                "contributions": ev.get("contributions", {}), "dwell_s": ev.get("time_at_level_s"),
                "trend_per_min": ev.get("trend_per_min"), "quality_ok": ev.get("quality_ok"),
                "last_suds": (ev.get("suds") or {}).get("value"), "alerts": ev.get("alerts", [])}

    def view(self, d: Decision, approver: str | None = None) -> ProposalView:
        """How a proposal stands now, in the dashboard's words (``approver``: who approved it, for a refusal)."""
        codes = self._policy_reasons(d)
        reason = "; ".join(_REASON_TEXT.get(r, r.replace("_", " ")) for r in codes)
        status: ProposalStatus
        bound: str | None = None
        message = ""
        if d.status == "proposed":
            status = "pending"
        elif d.status == "approved":
            status = "approved"
        elif d.status == "rejected":
            bound = next((r.split(":", 1)[1] for r in d.reasons if r.startswith("rejected_on_approval:")), None)
            status = "refused" if bound is not None else "rejected"
            if bound is not None:
                message = (f"approval by {approver or 'the clinician'} refused: "
                           f"{BOUND_TEXT.get(bound, bound.replace('_', ' '))}")
        elif d.resolved_by == "timeout":
            status, bound, message = "expired", "timeout", BOUND_TEXT["timeout"]
        else:
            status, message = "superseded", f"withdrawn: {str(d.resolved_by or '').replace('_', ' ')}"
        decided_by = approver or d.resolved_by
        return ProposalView(id=d.id, from_level=d.from_level, to_level=d.to_level, reason_code=",".join(codes),
                            reason=reason, evidence=self._evidence(d), created_t=d.t, expires_after_s=self.ttl,
                            status=status, decided_by=decided_by, bound=bound, message=message)

    def find(self, proposal_id: str) -> Decision | None:
        """The controller's proposal with this id (pending or resolved), or ``None``."""
        return next((d for d in reversed(self.controller.log) if d.id == proposal_id and _is_proposal(d)), None)

    @property
    def pending(self) -> Decision | None:
        """The proposal awaiting a clinician, if any."""
        return self.controller.pending

    def _translate(self, d: Decision) -> list[dict[str, Any]]:
        reason = "; ".join(_REASON_TEXT.get(r, r.replace("_", " ")) for r in d.reasons)
        base = {"id": d.id, "from_level": d.from_level, "to_level": d.to_level, "reason_code": ",".join(d.reasons),
                "reason": reason, "evidence": self._evidence(d)}
        if d.status == "proposed":
            return []  # proposals reach the runner through the listener, like every change of their status
        if d.kind in ("step_up", "step_down") and d.status == "applied" and d.decided_by == "ai":
            return [{"type": "auto", **base}]
        if d.kind == "hold":
            return [{"type": "hold", **base}]
        if d.kind == "stop" and d.decided_by == "safety":
            return [{"type": "stop", **base}]
        return []

    def approve(self, proposal_id: str, actor: str, t: float) -> Decision:
        """The clinician approves: the controller checks the bounds again now and decides (applied, or refused
        with the bound that refused it). Returns the controller's decision as it is."""
        return self.controller.approve(proposal_id, by=actor, t=t)

    def reject(self, proposal_id: str, actor: str, t: float, reason: str = "") -> Decision:
        """The clinician rejects the pending proposal; the level stays."""
        return self.controller.reject(proposal_id, by=actor, t=t, reason=reason)

    def on_level(self, level: int, t: float, actor: str = "clinician") -> list[str]:
        """A clinician's (or a safety monitor's) level change; returns what the AI cannot see, in words."""
        if self.controller.level != level and not self.controller.stopped:
            d = self.controller.clinician_set_level(level, by=actor if actor != "safety" else "safety", t=t,
                                                    reason="set outside the controller")
            return [UNSEEN_TEXT.get(r[7:], r[7:]) for r in d.reasons if r.startswith("unseen:")]
        return []

    def set_bounds(self, changes: dict[str, Any], actor: str, t: float) -> dict[str, Any]:
        """Change the session's bounds now; returns the bounds in force."""
        self.controller.set_bounds(by=actor, t=t, **changes)
        b = self.controller.bounds
        return {k: getattr(b, k) for k in ("max_level", "max_step", "min_dwell_s", "arousal_ceiling", "suds_ceiling")}

    def on_suds(self, t: float, value: float) -> None:
        self.controller.observe_suds(t, value)

    def on_alert(self, alert: Any) -> None:
        self.controller.observe_alert(alert)

    def on_pause(self, t: float, actor: str) -> None:
        if not self.controller.paused and not self.controller.stopped:
            self.controller.pause(by=actor, t=t)

    def on_resume(self, t: float, actor: str) -> None:
        if self.controller.paused and not self.controller.stopped:
            self.controller.resume(by=actor, t=t)

    def on_stop(self, t: float, actor: str) -> None:
        if not self.controller.stopped:
            self.controller.stop(by=actor, t=t)


class SupervisorAdapter:
    """Run :class:`attunexr.safety.SafetySupervisor` (default monitors, the plan's thresholds) every second."""

    def __init__(self, safety: dict[str, Any]) -> None:
        from attunexr.safety import SessionSafety

        self.session_safety = SessionSafety(
            arousal_ceiling=float(safety.get("arousal_ceiling", 0.9)),
            suds_ceiling=float(safety.get("suds_ceiling", 85.0)),
            hr_above_baseline_bpm=float(safety.get("hr_above_baseline_bpm", 40.0)),
            overload_s=float(safety.get("overload_s", 30.0)), signal_loss_s=float(safety.get("signal_loss_s", 10.0)))
        monitors = self.session_safety.monitors
        self.info = {"safety": "attunexr.safety.SafetySupervisor (" +
                     ", ".join(type(m).__name__ for m in monitors) + ")",
                     "safety_words": "safety monitors: " + ", ".join(
                         _words(type(m).__name__.removesuffix("Monitor")) for m in monitors)}
        self.raw_alerts: list[Any] = []

    def check(self, t: float, vitals: Vitals, estimate: EstimateView | None, suds: float | None
              ) -> list[AlertView]:
        """One second: the monitors see the session's vitals (the dashboard's reading), the newest estimate and
        a new SUDS answer; returns their alerts as the dashboard shows them."""
        alerts = self.session_safety.check(
            t, hr=vitals.hr, last_sample_t=vitals.last_sample_t,
            arousal=estimate.probability if estimate is not None else None,
            arousal_lower=estimate.lower if estimate is not None else None,
            abstained=estimate.abstained if estimate is not None else True,
            quality_ok=estimate.quality_ok if estimate is not None else True,
            window_t_end=estimate.t_end if estimate is not None else None, suds=suds)
        self.raw_alerts.extend(alerts)
        return [AlertView(monitor=a.monitor, severity="high" if a.severity == "critical" else a.severity,
                          action=str(getattr(a.action, "value", a.action)), message=a.message,
                          evidence={k: _finite(v) if isinstance(v, int | float) else v for k, v in a.evidence.items()},
                          requires_clinician=a.requires_clinician, raw=a) for a in alerts]
