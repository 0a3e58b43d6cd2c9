"""The exposure controller: policy requests, clinician bounds and approvals, safety actions, a decision log.

The hard invariants live here, not in the policies: the level never exceeds ``bounds.max_level``; an escalation is
never larger than ``bounds.max_step``, never earlier than ``bounds.min_dwell_s`` after the last change, never after
the session's end, never while signal quality is poor, the estimate is missing or stale, or the model abstains, and
never while a safety block or pause is active. De-escalation, pause and stop are always possible.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import numpy as np

from attunexr.errors import ConfigurationError, SafetyError
from attunexr.exposure._bounds import BLOCK_REASONS, ControllerBounds, gate_step
from attunexr.exposure._decision import Decision, DecisionKind
from attunexr.exposure._hierarchy import Hierarchy
from attunexr.exposure._personal import PersonalCalibration
from attunexr.exposure._policies import (
    POLICY_REASONS,
    TREND_TAUS,
    ExposurePolicy,
    PolicyObservation,
    ema_update,
    trend_per_minute,
)

__all__ = ["ControllerMode", "EstimateLike", "ExposureController"]

logger = logging.getLogger(__name__)

ControllerMode = Literal["manual", "propose", "auto"]


class EstimateLike(Protocol):
    """Anything with the attributes of :class:`attunexr.models.Estimate` (``t_end`` or ``t``)."""

    probability: float
    lower: float
    upper: float
    abstained: bool


@dataclass
class _EstimateRecord:
    t: float
    probability: float
    lower: float
    upper: float
    abstained: bool
    quality_ok: bool
    contributions: dict[str, float] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t, "probability": self.probability, "lower": self.lower, "upper": self.upper,
                "abstained": self.abstained, "quality_ok": self.quality_ok, "reason": self.reason}


def _clinician(by: str) -> str:
    return by if by.startswith(("clinician:", "safety")) else f"clinician:{by}"


class ExposureController:
    """Run one exposure session within a clinician's bounds.

    Parameters
    ----------
    hierarchy
        The scenario's levels.
    policy
        A policy (``FixedSchedule``, ``SudsLadder``, ``ArousalAdaptive``); ignored in ``manual`` mode.
    mode
        ``"manual"`` (only the clinician changes levels), ``"propose"`` (each AI change needs approval; proposals
        expire after ``proposal_ttl_s``) or ``"auto"`` (AI changes applied within the bounds).
    bounds
        Clinician bounds; ``max_level`` is cut to the hierarchy's last level.
    proposal_ttl_s
        Seconds a proposal waits for approval before it expires.
    safety_block_s
        How long a ``block_escalation``/``de_escalate`` safety action blocks escalation.
    start_level, t0
        Initial level and session start time.
    on_decision
        Called with every decision or proposal when it is logged or its status changes.
    personal
        Optional :class:`PersonalCalibration`: the policy then sees arousal on the patient's own SUDS-equivalent
        scale, learnt from SUDS answers given while a usable estimate existed (carry it across sessions).
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        policy: ExposurePolicy | None = None,
        mode: ControllerMode = "propose",
        bounds: ControllerBounds | None = None,
        *,
        proposal_ttl_s: float = 60.0,
        safety_block_s: float = 120.0,
        start_level: int = 0,
        t0: float = 0.0,
        on_decision: Callable[[Decision], None] | None = None,
        personal: PersonalCalibration | None = None,
    ) -> None:
        if mode not in ("manual", "propose", "auto"):
            raise ConfigurationError(f"unknown controller mode {mode!r}; use 'manual', 'propose' or 'auto'")
        if mode != "manual" and policy is None:
            raise ConfigurationError(f"mode {mode!r} needs a policy; pass one or use mode='manual'")
        b = bounds or ControllerBounds(max_level=hierarchy.max_index)
        if b.max_level > hierarchy.max_index:
            b = ControllerBounds(**{**b.__dict__, "max_level": hierarchy.max_index})
        if not 0 <= start_level <= b.max_level:
            raise ConfigurationError(f"start_level {start_level} outside 0..{b.max_level}")
        if proposal_ttl_s <= 0:
            raise ConfigurationError("proposal_ttl_s must be positive")
        self.hierarchy = hierarchy
        self.policy = policy
        self.mode: ControllerMode = mode
        self.bounds = b
        self.proposal_ttl_s = float(proposal_ttl_s)
        self.safety_block_s = float(safety_block_s)
        self.on_decision = on_decision
        self.personal = personal
        self.level = start_level
        self.session_start = float(t0)
        self.level_since = float(t0)
        self.paused = False
        self.stopped = False
        self.log: list[Decision] = []
        self.alerts: list[Any] = []
        self._now = float(t0)
        self._n = 0
        self._estimates: deque[_EstimateRecord] = deque(maxlen=12)
        self._fast = np.array([np.nan])
        self._slow = np.array([np.nan])
        self._suds: tuple[float, float] | None = None
        self._suds_peak = float("nan")
        self._block_until = -np.inf
        self._pending: Decision | None = None
        self._last_block_reason = ""

    # ------------------------------------------------------------------ observations
    def _advance(self, t: float | None) -> float:
        if t is not None:
            self._now = max(self._now, float(t))
        return self._now

    def observe_estimate(self, estimate: EstimateLike, quality_ok: bool | None = None, t: float | None = None) -> None:
        """Record a model estimate. ``quality_ok`` defaults to the estimate's own ``quality_ok`` attribute, else True."""
        te = t if t is not None else getattr(estimate, "t_end", getattr(estimate, "t", None))
        if te is None:
            raise ConfigurationError("estimate has no time: give it t_end (or t), or pass t=")
        q = quality_ok if quality_ok is not None else bool(getattr(estimate, "quality_ok", True))
        p = float(estimate.probability)
        rec = _EstimateRecord(
            float(te), p, float(estimate.lower), float(estimate.upper), bool(estimate.abstained), bool(q),
            dict(getattr(estimate, "contributions", {}) or {}), str(getattr(estimate, "reason", "")),
        )
        prev_t = self._estimates[-1].t if self._estimates else rec.t
        self._estimates.append(rec)
        self._advance(rec.t)
        if rec.quality_ok and not rec.abstained and np.isfinite(p):
            dt = max(rec.t - prev_t, 1e-3)
            x = self._scale(p)
            self._fast = ema_update(self._fast, np.array([x]), dt, TREND_TAUS[0])
            self._slow = ema_update(self._slow, np.array([x]), dt, TREND_TAUS[1])

    def _scale(self, p: float) -> float:
        """Arousal on the scale the policy uses (personally calibrated when ``personal`` is set)."""
        if self.personal is None or not np.isfinite(p):
            return p
        return float(self.personal.transform(np.array([p]))[0])

    def observe_suds(self, t: float, value: float) -> None:
        """Record a SUDS answer (0-100)."""
        if not 0 <= value <= 100:
            raise ConfigurationError(f"SUDS {value} outside 0..100")
        self._advance(t)
        est = self._latest()
        if (self.personal is not None and est is not None and est.quality_ok and not est.abstained
                and t - est.t <= self.bounds.estimate_max_age_s):
            self.personal.update(np.array([est.probability]), np.array([float(value)]))
        self._suds = (float(t), float(value))
        self._suds_peak = value if not np.isfinite(self._suds_peak) else max(self._suds_peak, value)

    def observe_alert(self, alert: Any) -> list[Decision]:
        """Obey a safety alert: ``alert`` logs, ``block_escalation`` blocks, ``de_escalate`` steps down one level,
        ``pause`` pauses in the safe scene, ``end`` stops the session. Returns the decisions it caused."""
        t = self._advance(getattr(alert, "t", None))
        self.alerts.append(alert)
        action = str(getattr(alert, "action", "alert"))
        action = getattr(getattr(alert, "action", None), "value", action)
        monitor = str(getattr(alert, "monitor", "safety"))
        reasons = (f"safety:{monitor}", action)
        out: list[Decision] = []
        if action in ("block_escalation", "de_escalate", "pause"):
            self._block_until = max(self._block_until, t + self.safety_block_s)
            self._withdraw_pending(t, "safety_block")
        if action == "de_escalate" and not self.stopped and self.level > 0:
            out.append(self._apply(t, self.level - 1, reasons, "safety"))
        elif action == "pause" and not self.stopped and not self.paused:
            out.append(self.pause(by="safety", t=t, reasons=reasons))
        elif action == "end" and not self.stopped:
            out.append(self.stop(by="safety", t=t, reasons=reasons))
        return out

    # ------------------------------------------------------------------ state
    def _latest(self) -> _EstimateRecord | None:
        return self._estimates[-1] if self._estimates else None

    def _gate_inputs(self, t: float) -> dict[str, Any]:
        est = self._latest()
        fresh = est is not None and (t - est.t) <= self.bounds.estimate_max_age_s
        suds = float("nan")
        if self._suds is not None and t - self._suds[0] <= self.bounds.suds_max_age_s:
            suds = self._suds[1]
        return {
            "level": self.level,
            "time_at_level": t - self.level_since,
            "elapsed": t - self.session_start,
            "quality_ok": bool(est.quality_ok) if est else False,
            "estimate_fresh": fresh,
            "abstained": bool(est.abstained) if est else True,
            "arousal": est.probability if (est and fresh and not est.abstained) else float("nan"),
            "suds": suds,
            "safety_block": t < self._block_until,
        }

    def escalation_allowed(
        self, t: float | None = None, step: int = 1, *, by_clinician: bool = False
    ) -> tuple[bool, str]:
        """Whether a step up of ``step`` levels would pass the bounds now, and the blocking reason if not.

        ``by_clinician``: the clinician's own escalation. The clinician's bounds (max level and step, dwell time,
        ceilings, session end, safety blocks, pause) still apply; the AI's silence (no estimate yet, poor signal,
        an abstaining model) does not block it - :meth:`unseen` says what the AI cannot see then.
        """
        t = self._advance(t)
        if self.stopped:
            return False, "stopped"
        if self.paused:
            return False, "paused"
        bounds = replace(self.bounds, require_signal_for_escalation=False) if by_clinician else self.bounds
        applied, reason = gate_step(step, bounds=bounds, **self._gate_inputs(t))
        if int(reason[0]):
            return False, BLOCK_REASONS[int(reason[0])]
        if int(applied[0]) == step:
            return True, "ok"
        return False, "max_level" if self.level + step > self.bounds.max_level else "max_step"

    def set_bounds(self, by: str, t: float | None = None, **changes: Any) -> Decision:
        """The clinician changes the session's bounds (e.g. a lower ``max_level``) while it runs.

        The new bounds apply to every later escalation and approval, the clinician's own included; a level already
        above a lowered ``max_level`` is not changed by this call (lowering it is the clinician's next action).
        Returns a logged ``hold`` decision whose reasons name the changes."""
        t = self._advance(t)
        who = _clinician(by)
        unknown = sorted(set(changes) - set(ControllerBounds.__dataclass_fields__))
        if unknown:
            raise ConfigurationError(f"unknown bounds {unknown}; known: {sorted(ControllerBounds.__dataclass_fields__)}")
        old = self.bounds
        self.bounds = replace(old, **changes)  # validated by ControllerBounds.__post_init__
        reasons = tuple(f"bounds:{k}={getattr(old, k)}->{v}" for k, v in sorted(changes.items()))
        return self._emit(Decision(self._new_id(), t, "hold", self.level, self.level, reasons or ("bounds",),
                                   self.evidence(t), "applied", who))

    def unseen(self, t: float | None = None) -> list[str]:
        """Why the AI has no usable estimate now (empty when it has one): ``estimate_missing_or_stale``,
        ``signal_quality_poor`` or ``model_abstained``."""
        g = self._gate_inputs(self._now if t is None else t)
        if not g["estimate_fresh"]:
            return ["estimate_missing_or_stale"]
        if not g["quality_ok"]:
            return ["signal_quality_poor"]
        if g["abstained"]:
            return ["model_abstained"]
        return []

    def evidence(self, t: float | None = None) -> dict[str, Any]:
        """What a decision rests on: recent estimates, feature contributions, SUDS, quality and active alerts."""
        t = self._now if t is None else t
        est = self._latest()
        g = self._gate_inputs(t)
        trend = trend_per_minute(self._fast, self._slow)[0]
        return {
            "estimate": est.to_dict() if est else None,
            "recent_estimates": [e.to_dict() for e in list(self._estimates)[-6:]],
            "contributions": dict(est.contributions) if est else {},
            "trend_per_min": None if not np.isfinite(trend) else float(trend),
            "suds": None if self._suds is None else {"t": self._suds[0], "value": self._suds[1]},
            "suds_peak_at_level": None if not np.isfinite(self._suds_peak) else float(self._suds_peak),
            "quality_ok": g["quality_ok"],
            "estimate_fresh": g["estimate_fresh"],
            "safety_block": g["safety_block"],
            "time_at_level_s": g["time_at_level"],
            "alerts": [str(getattr(a, "message", a)) for a in self.alerts[-5:]],
        }

    def observation(self, t: float | None = None) -> PolicyObservation:
        """The policy's view of the session now (never anything the live session does not know)."""
        t = self._advance(t)
        g = self._gate_inputs(t)
        est = self._latest()
        ok = bool(g["estimate_fresh"] and g["quality_ok"] and not g["abstained"])
        return PolicyObservation.single(
            t=t, elapsed=g["elapsed"], time_at_level=g["time_at_level"], level=self.level,
            max_level=self.bounds.max_level,
            probability=self._scale(est.probability) if est and ok else np.nan,
            lower=self._scale(est.lower) if est and ok else np.nan,
            upper=self._scale(est.upper) if est and ok else np.nan,
            estimate_ok=ok, trend=float(trend_per_minute(self._fast, self._slow)[0]),
            suds=self._suds[1] if self._suds else np.nan,
            suds_age=t - self._suds[0] if self._suds else np.nan,
            suds_peak=self._suds_peak,
        )

    # ------------------------------------------------------------------ logging
    def _new_id(self) -> str:
        self._n += 1
        return f"d{self._n:06d}"

    def _emit(self, d: Decision) -> Decision:
        if d not in self.log:
            self.log.append(d)
        logger.info("%s %s %s %d->%d %s by %s", d.id, d.status, d.kind, d.from_level, d.to_level,
                    ",".join(d.reasons), d.decided_by)
        if self.on_decision is not None:
            self.on_decision(d)
        return d

    def _apply(self, t: float, to_level: int, reasons: tuple[str, ...], by: str) -> Decision:
        frm = self.level
        kind: DecisionKind = "step_up" if to_level > frm else "step_down" if to_level < frm else "hold"
        self.level = int(to_level)
        if to_level != frm:
            self.level_since = t
            self._suds_peak = float("nan")
        return self._emit(Decision(self._new_id(), t, kind, frm, self.level, reasons, self.evidence(t),
                                   "applied", by))

    def _withdraw_pending(self, t: float, why: str) -> None:
        if self._pending is not None and self._pending.status == "proposed":
            self._pending.status = "expired"
            self._pending.resolved_t = t
            self._pending.resolved_by = why
            self._emit(self._pending)
        self._pending = None

    # ------------------------------------------------------------------ the loop
    def tick(self, t: float) -> list[Decision]:
        """Advance to time ``t``: expire proposals, end the session at its length, ask the policy (propose/auto)."""
        t = self._advance(t)
        out: list[Decision] = []
        if self.stopped:
            return out
        if self._pending is not None and t - self._pending.t > self.proposal_ttl_s:
            p = self._pending
            self._withdraw_pending(t, "timeout")
            out.append(p)
        if t - self.session_start >= self.bounds.session_length_s:
            out.append(self.stop(by="safety", t=t, reasons=("session_end",)))
            return out
        if self.paused or self.mode == "manual" or self.policy is None:
            return out
        step_arr, reason_arr = self.policy.decide(self.observation(t))
        step = int(step_arr[0])
        reasons = (POLICY_REASONS[int(reason_arr[0])],)
        if step == 0:
            self._last_block_reason = ""
            return out
        applied_arr, block = gate_step(step, bounds=self.bounds, **self._gate_inputs(t))
        applied = int(applied_arr[0])
        if applied == 0 and step < 0:  # already at the lowest level
            return out
        if applied == 0:
            why = BLOCK_REASONS[int(block[0])]
            # log each new blocking reason once, not every tick; waiting out the dwell time is routine
            if why != self._last_block_reason and why != "min_dwell":
                self._last_block_reason = why
                out.append(self._emit(Decision(self._new_id(), t, "hold", self.level, self.level,
                                               (*reasons, f"escalation_blocked:{why}"), self.evidence(t),
                                               "applied", "ai")))
            return out
        self._last_block_reason = ""
        target = self.level + applied
        if self.mode == "auto":
            out.append(self._apply(t, target, reasons, "ai"))
            return out
        # propose mode: one pending proposal at a time; a de-escalation supersedes a pending escalation
        if self._pending is not None:
            if applied < 0 and self._pending.to_level > self.level:
                self._withdraw_pending(t, "superseded")
            else:
                return out
        kind: DecisionKind = "step_up" if applied > 0 else "step_down"
        prop = Decision(self._new_id(), t, kind, self.level, target, reasons, self.evidence(t), "proposed", "ai")
        self._pending = prop
        out.append(self._emit(prop))
        return out

    @property
    def pending(self) -> Decision | None:
        """The proposal awaiting a clinician, if any."""
        return self._pending

    def _find_pending(self, proposal_id: str) -> Decision:
        if self._pending is None or self._pending.id != proposal_id:
            known = next((d for d in self.log if d.id == proposal_id), None)
            state = f"is {known.status}" if known else "does not exist"
            raise SafetyError(f"proposal {proposal_id!r} {state}; only the pending proposal can be resolved")
        return self._pending

    def approve(self, proposal_id: str, by: str, t: float | None = None) -> Decision:
        """Approve the pending proposal. The bounds are checked again now; a proposal that no longer passes them is
        rejected by ``safety`` instead. Returns the applied decision (or the rejected proposal)."""
        t = self._advance(t)
        prop = self._find_pending(proposal_id)
        who = _clinician(by)
        if t - prop.t > self.proposal_ttl_s:
            self._withdraw_pending(t, "timeout")
            return prop
        why = ""
        if self.stopped:
            why = "stopped"
        elif prop.from_level != self.level:
            why = "level_changed"
        elif prop.to_level > self.level:
            ok, reason = self.escalation_allowed(t, prop.to_level - self.level)
            why = "" if ok else reason
        self._pending = None
        prop.resolved_t = t
        if why:
            prop.status = "rejected"
            prop.resolved_by = "safety"
            prop.reasons = (*prop.reasons, f"rejected_on_approval:{why}")
            self._emit(prop)
            return prop
        prop.status = "approved"
        prop.resolved_by = who
        self._emit(prop)
        return self._apply(t, prop.to_level, (*prop.reasons, f"approved:{prop.id}"), who)

    def reject(self, proposal_id: str, by: str, t: float | None = None, reason: str = "") -> Decision:
        """Reject the pending proposal."""
        t = self._advance(t)
        prop = self._find_pending(proposal_id)
        self._pending = None
        prop.status = "rejected"
        prop.resolved_t = t
        prop.resolved_by = _clinician(by)
        if reason:
            prop.reasons = (*prop.reasons, f"clinician:{reason}")
        return self._emit(prop)

    def clinician_set_level(self, level: int, by: str, t: float | None = None, reason: str = "clinician") -> Decision:
        """Set the level by hand (any mode). Lowering is always allowed; raising obeys the clinician's bounds
        (max level and step, dwell, ceilings, session end, safety blocks, pause) and raises
        :class:`~attunexr.errors.SafetyError` naming the bound that blocks it. The AI's silence does not block the
        clinician: an escalation while the AI has no usable estimate is applied, and its reasons carry
        ``unseen:<why>`` so the record shows what the AI could not see."""
        t = self._advance(t)
        who = _clinician(by)
        if self.stopped:
            raise SafetyError("the session is stopped; start a new session to change the level")
        if not 0 <= level <= self.hierarchy.max_index:
            raise SafetyError(f"level {level} is outside the hierarchy 0..{self.hierarchy.max_index}")
        reasons: tuple[str, ...] = (reason,)
        if level > self.level:
            ok, why = self.escalation_allowed(t, level - self.level, by_clinician=True)
            if not ok:
                raise SafetyError(
                    f"escalation to level {level} blocked ({why}); bounds: max_level={self.bounds.max_level}, "
                    f"max_step={self.bounds.max_step}, min_dwell_s={self.bounds.min_dwell_s}"
                )
            reasons += tuple(f"unseen:{u}" for u in self.unseen(t))
        self._withdraw_pending(t, "clinician_override")
        return self._apply(t, level, reasons, who)

    def pause(self, by: str = "clinician", t: float | None = None,
              reasons: tuple[str, ...] = ("pause",)) -> Decision:
        """Pause in the safe scene now (honoured from any state; a no-op decision when already paused/stopped)."""
        t = self._advance(t)
        who = "safety" if by == "safety" else _clinician(by)
        if self.stopped:  # already stopped: nothing left to pause
            return self._emit(Decision(self._new_id(), t, "pause", self.level, self.level, (*reasons, "stopped"),
                                       self.evidence(t), "rejected", who))
        self._withdraw_pending(t, "paused")
        was = self.paused
        self.paused = True
        return self._emit(Decision(self._new_id(), t, "pause", self.level, self.level,
                                   (*reasons, "already_paused") if was else reasons, self.evidence(t), "applied", who))

    def resume(self, by: str = "clinician", t: float | None = None) -> Decision:
        """Resume after a pause (the dwell timer restarts). A stopped session cannot resume: the decision is
        logged as rejected."""
        t = self._advance(t)
        who = _clinician(by)
        if self.stopped:
            return self._emit(Decision(self._new_id(), t, "resume", self.level, self.level, ("stopped",),
                                       self.evidence(t), "rejected", who))
        self.paused = False
        self.level_since = t
        return self._emit(Decision(self._new_id(), t, "resume", self.level, self.level, ("resume",),
                                   self.evidence(t), "applied", who))

    def stop(self, by: str = "clinician", t: float | None = None, reasons: tuple[str, ...] = ("stop",)) -> Decision:
        """Stop the session now (honoured from any state; final)."""
        t = self._advance(t)
        who = "safety" if by == "safety" else _clinician(by)
        self._withdraw_pending(t, "stopped")
        self.stopped = True
        self.paused = False
        return self._emit(Decision(self._new_id(), t, "stop", self.level, self.level, reasons,
                                   self.evidence(t), "applied", who))

    def status(self) -> dict[str, Any]:
        """A summary for dashboards."""
        return {
            "mode": self.mode, "level": self.level, "level_name": self.hierarchy[self.level].name,
            "paused": self.paused, "stopped": self.stopped, "t": self._now,
            "pending": self._pending.to_dict() if self._pending else None,
            "escalation_allowed": self.escalation_allowed()[0] if not self.stopped else False,
        }
