"""The exposure controller: modes, approvals, expiry, clinician overrides, safety actions, decision log."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from attunexr.errors import ConfigurationError, SafetyError
from attunexr.exposure import (
    ArousalAdaptive,
    ControllerBounds,
    ExposureController,
    FixedSchedule,
    load_hierarchy,
)
from attunexr.safety import Alert, SafetyAction


@dataclass
class Est:
    t_end: float
    probability: float
    lower: float
    upper: float
    abstained: bool = False
    reason: str = ""
    contributions: dict[str, float] = field(default_factory=lambda: {"hr_mean": 0.4, "scl_mean": -0.1})
    model: str = "test"


LOW = dict(probability=0.2, lower=0.15, upper=0.25)
BOUNDS = ControllerBounds(max_level=5, min_dwell_s=30, max_step=1, session_length_s=600, estimate_max_age_s=20)


def _controller(mode: str = "auto", policy: object | None = None, **kw: object) -> ExposureController:
    return ExposureController(load_hierarchy("spiders"), policy or ArousalAdaptive(settle_s=30), mode=mode,  # type: ignore[arg-type]
                              bounds=BOUNDS, **kw)  # type: ignore[arg-type]


def _feed(c: ExposureController, t0: float, t1: float, quality: bool = True, **est: float) -> list:
    out = []
    t = t0
    while t <= t1:
        c.observe_estimate(Est(t, **{**LOW, **est}), quality_ok=quality)  # type: ignore[arg-type]
        out += c.tick(t)
        t += 10
    return out


def test_auto_mode_escalates_within_bounds_and_logs_evidence() -> None:
    seen = []
    c = _controller(on_decision=seen.append)
    decisions = [d for d in _feed(c, 0, 300) if d.kind == "step_up"]
    assert decisions and all(d.to_level - d.from_level == 1 for d in decisions)
    times = [d.t for d in decisions]
    assert all(b - a >= BOUNDS.min_dwell_s for a, b in zip(times, times[1:], strict=False))
    assert c.level <= BOUNDS.max_level
    d = decisions[0]
    assert d.status == "applied" and d.decided_by == "ai" and "arousal_below_window" in d.reasons
    assert d.evidence["estimate"]["probability"] == pytest.approx(0.2)
    assert d.evidence["contributions"] == {"hr_mean": 0.4, "scl_mean": -0.1}
    assert seen[: len(c.log)] == c.log[: len(seen)]


def test_no_escalation_on_poor_quality_abstention_or_stale_estimate() -> None:
    c = _controller(policy=FixedSchedule(step_every_s=30))
    assert not [d for d in _feed(c, 0, 200, quality=False) if d.kind == "step_up"]
    held = [d for d in c.log if d.kind == "hold"]
    assert held and "escalation_blocked:signal_quality_poor" in held[0].reasons
    c2 = _controller(policy=FixedSchedule(step_every_s=30))
    for t in range(0, 200, 10):
        c2.observe_estimate(Est(t, 0.2, 0.1, 0.3, abstained=True))
        c2.tick(t)
    assert c2.level == 0
    c3 = _controller(policy=FixedSchedule(step_every_s=30))
    c3.observe_estimate(Est(0, **LOW))
    assert not [d for d in c3.tick(100) if d.kind == "step_up"]  # estimate 100 s old
    assert c3.escalation_allowed(100)[1] == "estimate_missing_or_stale"


def test_propose_mode_needs_approval_and_proposals_expire() -> None:
    c = _controller(mode="propose", proposal_ttl_s=40)
    props = [d for d in _feed(c, 0, 30) if d.status == "proposed"]
    assert len(props) == 1 and c.level == 0
    applied = c.approve(props[0].id, by="dr_a", t=35)
    assert applied.status == "applied" and applied.decided_by == "clinician:dr_a" and c.level == 1
    assert props[0].status == "approved"
    # the next proposal is left alone and expires
    nxt = [d for d in _feed(c, 70, 80) if d.status == "proposed"]
    assert nxt
    _feed(c, 90, 130)
    assert nxt[0].status == "expired" and nxt[0].resolved_by == "timeout"
    with pytest.raises(SafetyError, match="expired"):
        c.approve(nxt[0].id, by="dr_a")
    # reject
    p3 = c.pending or [d for d in _feed(c, 140, 150) if d.status == "proposed"][0]
    c.reject(p3.id, by="dr_b", reason="patient asked to wait")
    assert p3.status == "rejected" and c.level == 1


def test_approval_is_rechecked_against_the_bounds() -> None:
    c = _controller(mode="propose", proposal_ttl_s=60)
    prop = [d for d in _feed(c, 0, 30) if d.status == "proposed"][0]
    c.observe_estimate(Est(40, **LOW), quality_ok=False)  # the sensor fails before the clinician approves
    out = c.approve(prop.id, by="dr_a", t=41)
    assert out.status == "rejected" and out.resolved_by == "safety" and c.level == 0
    assert any("signal_quality_poor" in r for r in out.reasons)


def test_manual_mode_only_clinician_changes_levels() -> None:
    c = _controller(mode="manual")
    assert not [d for d in _feed(c, 0, 200) if d.kind in ("step_up", "step_down")]
    d = c.clinician_set_level(1, by="dr_a", t=210)
    assert d.decided_by == "clinician:dr_a" and c.level == 1
    with pytest.raises(SafetyError, match="max_step"):
        c.clinician_set_level(3, by="dr_a", t=300)
    c.observe_estimate(Est(305, **LOW), quality_ok=False)
    # the AI's silence does not block the clinician's own change within bounds; the record says what it cannot see
    d = c.clinician_set_level(2, by="dr_a", t=306)
    assert c.level == 2 and "unseen:signal_quality_poor" in d.reasons
    assert c.clinician_set_level(0, by="dr_a", t=307).kind == "step_down"  # lowering always allowed


def test_clinician_escalates_during_the_baseline_but_not_past_the_bounds() -> None:
    c = _controller(mode="propose")
    c.observe_estimate(Est(65, 0.2, 0.1, 0.3, abstained=True))  # the model is still collecting its baseline
    assert c.escalation_allowed(70.0) == (False, "model_abstained")  # the AI may not escalate
    d = c.clinician_set_level(1, by="dr_a", t=70)
    assert c.level == 1 and d.decided_by == "clinician:dr_a" and "unseen:model_abstained" in d.reasons
    with pytest.raises(SafetyError, match="min_dwell"):  # the clinician's own bounds still hold
        c.clinician_set_level(2, by="dr_a", t=80)
    fresh = _controller(mode="propose")
    d = fresh.clinician_set_level(1, by="dr_a", t=70)  # no estimate at all yet
    assert "unseen:estimate_missing_or_stale" in d.reasons


def test_pause_resume_stop_from_any_state() -> None:
    c = _controller(mode="propose")
    _feed(c, 0, 30)
    assert c.pending is not None
    d = c.pause(by="dr_a", t=31)
    assert c.paused and d.kind == "pause" and c.pending is None
    assert not [x for x in _feed(c, 40, 200) if x.kind == "step_up" or x.status == "proposed"]
    c.resume(by="dr_a", t=201)
    assert not c.paused
    s = c.stop(by="dr_a", t=202)
    assert s.kind == "stop" and c.stopped
    assert c.resume(by="dr_a", t=203).status == "rejected" and c.stopped
    assert _feed(c, 210, 300) == []
    with pytest.raises(SafetyError, match="stopped"):
        c.clinician_set_level(0, by="dr_a")


def test_safety_actions_are_obeyed() -> None:
    c = _controller()
    _feed(c, 0, 120)
    level = c.level
    assert level >= 1
    out = c.observe_alert(Alert("overload", 125, SafetyAction.DE_ESCALATE, "warning", "SUDS 90"))
    assert out[0].kind == "step_down" and out[0].decided_by == "safety" and c.level == level - 1
    assert not [d for d in _feed(c, 130, 240) if d.kind == "step_up"]  # blocked for safety_block_s
    c.observe_alert(Alert("cybersickness", 250, SafetyAction.PAUSE, "warning", "FMS 12"))
    assert c.paused
    c.observe_alert(Alert("suicidality", 260, SafetyAction.END, "critical", "PHQ-9 item 9"))
    assert c.stopped and c.log[-1].kind == "stop" and c.log[-1].decided_by == "safety"


def test_session_end_stops_and_config_errors() -> None:
    c = _controller()
    _feed(c, 0, 600)
    assert c.stopped and c.log[-1].reasons == ("session_end",)
    with pytest.raises(ConfigurationError):
        ExposureController(load_hierarchy("heights"), None, mode="auto")
    with pytest.raises(ConfigurationError):
        ExposureController(load_hierarchy("heights"), FixedSchedule(), mode="sometimes")  # type: ignore[arg-type]
    # bounds beyond the hierarchy are cut to it
    c2 = ExposureController(load_hierarchy("heights"), FixedSchedule(), bounds=ControllerBounds(max_level=99))
    assert c2.bounds.max_level == 7
    assert c2.status()["level_name"] == "ground floor, garden"


def test_accepts_the_models_estimate_type() -> None:
    from attunexr.models import Estimate

    c = _controller()
    for t in range(0, 100, 10):
        c.observe_estimate(Estimate(float(t), 0.2, 0.15, 0.25, False, "", {"hr_mean": 0.3, "bias": -1.0}, "stress"),
                           quality_ok=True)
        c.tick(float(t))
    assert c.level >= 1
    up = next(d for d in c.log if d.kind == "step_up")
    assert up.evidence["contributions"]["hr_mean"] == 0.3
    c.observe_estimate(Estimate(100.0, 0.2, 0.1, 0.3, True, "poor_signal_quality", {}, "stress"))
    assert c.escalation_allowed(100.0)[1] == "model_abstained"


def test_bounds_lowered_mid_session_refuse_a_pending_approval_and_name_the_bound() -> None:
    c = _controller(mode="propose", proposal_ttl_s=60)
    prop = [d for d in _feed(c, 0, 30) if d.status == "proposed"][0]
    assert prop.to_level == 1
    c.set_bounds(by="dr_a", t=31, max_level=0)
    out = c.approve(prop.id, by="dr_a", t=32)
    assert out.status == "rejected" and out.resolved_by == "safety" and c.level == 0
    assert "rejected_on_approval:max_level" in out.reasons
    with pytest.raises(ConfigurationError, match="unknown bounds"):
        c.set_bounds(by="dr_a", t=33, max_levle=3)
    with pytest.raises(ConfigurationError, match="max_step"):
        c.set_bounds(by="dr_a", t=33, max_step=0)
