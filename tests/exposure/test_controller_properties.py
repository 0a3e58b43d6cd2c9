"""Property-based tests: over random streams of estimates, SUDS, quality flags, alerts, approvals, clinician
actions, pauses and stops, the controller never breaks a bound, never escalates blind, and obeys pause and stop.

The test keeps its own record of what the controller was told (an oracle independent of the controller's state)
and checks every decision the controller emits against it at the moment it is emitted.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event

from attunexr.errors import SafetyError
from attunexr.exposure import (
    ArousalAdaptive,
    ControllerBounds,
    Decision,
    ExposureController,
    FixedSchedule,
    SudsLadder,
    load_hierarchy,
)
from attunexr.safety import Alert, SafetyAction


@dataclass
class Est:
    t_end: float
    probability: float
    lower: float
    upper: float
    abstained: bool
    reason: str = ""
    contributions: dict[str, float] = field(default_factory=dict)
    model: str = "prop"


@dataclass
class Oracle:
    bounds: ControllerBounds
    block_s: float
    est: tuple[float, bool, bool, float] | None = None  # t, quality_ok, abstained, probability
    suds: tuple[float, float] | None = None
    last_change: float = 0.0
    paused: bool = False
    stopped: bool = False
    block_until: float = -1e18
    level: int = 0
    violations: list[str] = field(default_factory=list)

    def check(self, d: Decision) -> None:
        b = self.bounds
        if d.status != "applied":
            return
        if self.stopped and d.kind != "stop" and d.status == "applied" and d.kind != "resume":
            self.violations.append(f"{d.kind} after stop")
        if d.kind == "resume":
            if not self.stopped:
                self.paused = False
                self.last_change = d.t
            return
        if d.kind == "pause":
            self.paused = True
            return
        if d.kind == "stop":
            self.stopped = True
            return
        if d.from_level != self.level:
            self.violations.append(f"level jumped {self.level}->{d.from_level} without a decision")
        if d.to_level > b.max_level:
            self.violations.append(f"level {d.to_level} above max_level {b.max_level}")
        if d.to_level > d.from_level:
            why = []
            if d.to_level - d.from_level > b.max_step:
                why.append("max_step")
            if d.t - self.last_change < b.min_dwell_s:
                why.append("min_dwell")
            if d.t >= b.session_length_s:
                why.append("after session end")
            if self.paused:
                why.append("paused")
            if d.t < self.block_until:
                why.append("safety block")
            # the AI never escalates blind; a clinician may (the record names what the AI could not see)
            by_ai = not d.decided_by.startswith("clinician:")
            if self.est is None or d.t - self.est[0] > b.estimate_max_age_s:
                if by_ai:
                    why.append("estimate missing/stale")
                elif "unseen:estimate_missing_or_stale" not in d.reasons:
                    why.append("blind clinician escalation not flagged")
            elif not self.est[1]:
                if by_ai:
                    why.append("poor quality")
                elif "unseen:signal_quality_poor" not in d.reasons:
                    why.append("blind clinician escalation not flagged")
            elif self.est[2]:
                if by_ai:
                    why.append("abstained")
                elif "unseen:model_abstained" not in d.reasons:
                    why.append("blind clinician escalation not flagged")
            elif self.est[3] >= b.arousal_ceiling:
                why.append("arousal ceiling")
            if self.suds is not None and d.t - self.suds[0] <= b.suds_max_age_s and self.suds[1] >= b.suds_ceiling:
                why.append("suds ceiling")
            if why:
                self.violations.append(f"escalation {d.from_level}->{d.to_level} at {d.t}: {why}")
        if d.to_level != d.from_level:
            self.last_change = d.t
        self.level = d.to_level


_KINDS = ("estimate", "tick", "suds", "approve", "reject", "pause", "resume", "set_level", "alert")
_WEIGHTS = (30, 25, 10, 8, 3, 1, 3, 4, 2)


def _stream(rnd: random.Random, n: int) -> list[tuple[float, tuple[Any, ...]]]:
    """A random session: mostly usable estimates and ticks, sometimes poor quality, abstentions, SUDS, approvals,
    rejections, pauses, resumes, clinician level changes and safety alerts of every kind."""
    out: list[tuple[float, tuple[Any, ...]]] = []
    for _ in range(n):
        kind = rnd.choices(_KINDS, _WEIGHTS)[0]
        dt = rnd.uniform(0.5, 8.0)
        if kind == "estimate":
            p = rnd.random()
            ev: tuple[Any, ...] = (kind, p, rnd.uniform(0, 0.6), rnd.random() < 0.2, rnd.random() < 0.8)
        elif kind == "suds":
            ev = (kind, int(rnd.triangular(0, 100, 30)))  # mostly moderate, sometimes above the ceiling
        elif kind == "set_level":
            ev = (kind, rnd.randint(0, 7))
        elif kind == "alert":
            ev = (kind, rnd.choice(list(SafetyAction)))
        else:
            ev = (kind,)
        out.append((dt, ev))
    return out


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_events=st.integers(80, 200),
    mode=st.sampled_from(["auto", "propose", "manual"]),
    policy=st.sampled_from(["fixed", "suds", "arousal"]),
    max_level=st.integers(1, 7),
    max_step=st.integers(1, 3),
    min_dwell=st.floats(0, 40),
    session=st.floats(120, 900),
    stop_at=st.one_of(st.none(), st.integers(0, 199)),
)
def test_controller_invariants(seed: int, n_events: int, mode: str, policy: str,
                               max_level: int, max_step: int, min_dwell: float, session: float,
                               stop_at: int | None) -> None:
    bounds = ControllerBounds(max_level=max_level, max_step=max_step, min_dwell_s=min_dwell,
                              session_length_s=session, estimate_max_age_s=20.0)
    pol = {"fixed": FixedSchedule(step_every_s=20.0), "suds": SudsLadder(),
           "arousal": ArousalAdaptive(settle_s=10.0, min_habituation_s=10.0)}[policy]
    oracle = Oracle(bounds, 90.0)
    c = ExposureController(load_hierarchy("heights"), pol, mode=mode, bounds=bounds,  # type: ignore[arg-type]
                           proposal_ttl_s=30.0, safety_block_s=90.0, on_decision=oracle.check)
    events = _stream(random.Random(seed), n_events)  # a failing case prints its seed
    t = 0.0
    for i, (dt, ev) in enumerate(events):
        t += dt
        kind = "stop" if i == stop_at else ev[0]
        if kind == "estimate":
            p, width, abst, q = ev[1], ev[2], ev[3], ev[4]
            oracle.est = (t, q, abst, p)
            c.observe_estimate(Est(t, p, max(0.0, p - width), min(1.0, p + width), abst), quality_ok=q)
        elif kind == "suds":
            oracle.suds = (t, float(ev[1]))
            c.observe_suds(t, ev[1])
        elif kind == "tick":
            c.tick(t)
        elif kind in ("approve", "reject") and c.pending is not None:
            if kind == "approve":
                c.approve(c.pending.id, by="dr", t=t)
            else:
                c.reject(c.pending.id, by="dr", t=t)
        elif kind == "pause":
            c.pause(by="dr", t=t)
            assert c.paused or c.stopped
        elif kind == "resume":
            was_stopped = c.stopped
            c.resume(by="dr", t=t)
            assert c.stopped == was_stopped
        elif kind == "stop":
            c.stop(by="dr", t=t)
            assert c.stopped
        elif kind == "set_level":
            with contextlib.suppress(SafetyError):  # refused escalations are the point
                c.clinician_set_level(ev[1], by="dr", t=t)
        elif kind == "alert":
            action = ev[1]
            if action in (SafetyAction.BLOCK_ESCALATION, SafetyAction.DE_ESCALATE, SafetyAction.PAUSE):
                oracle.block_until = max(oracle.block_until, t + 90.0)
            level_before = c.level
            c.observe_alert(Alert("prop", t, action, "warning", "property test"))
            if action == SafetyAction.END:
                assert c.stopped
            if action == SafetyAction.PAUSE:
                assert c.paused or c.stopped
            if action == SafetyAction.DE_ESCALATE and not c.stopped:
                assert c.level == max(0, level_before - 1)
        assert 0 <= c.level <= bounds.max_level or c.level == 0
        assert not oracle.violations, oracle.violations
    n_up = sum(d.kind == "step_up" and d.status == "applied" for d in c.log)
    note_event("escalations applied: " + ("none" if n_up == 0 else "some"))
    # every logged decision carries reasons and evidence
    assert all(d.reasons and isinstance(d.evidence, dict) for d in c.log)
    if mode == "manual":
        assert not [d for d in c.log if d.decided_by == "ai" and d.kind in ("step_up", "step_down")]
