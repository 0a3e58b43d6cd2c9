"""Each safety monitor: situations that must trigger it and situations that must not."""

from __future__ import annotations

from attunexr.clinical import score_gad7, score_phq9
from attunexr.exposure import ArousalAdaptive, ExposureController, load_hierarchy
from attunexr.safety import (
    CybersicknessMonitor,
    DissociationMonitor,
    OverloadMonitor,
    SafetyAction,
    SafetyObservation,
    SafetySupervisor,
    SignalLossMonitor,
    SuicidalityMonitor,
    SymptomWorseningMonitor,
)


def _run(monitor: object, observations: list[SafetyObservation]) -> list:
    out = []
    for o in observations:
        out += monitor.update(o)  # type: ignore[attr-defined]
    return out


def test_overload_sustained_arousal_triggers_brief_spike_does_not() -> None:
    sustained = [SafetyObservation(t=t, arousal=0.95, arousal_lower=0.92) for t in range(0, 50, 5)]
    alerts = _run(OverloadMonitor(duration_s=30), sustained)
    assert len(alerts) == 1 and alerts[0].action == SafetyAction.DE_ESCALATE and alerts[0].t == 30
    spike = [SafetyObservation(t=t, arousal=0.95, arousal_lower=0.92 if t < 20 else 0.5) for t in range(0, 60, 5)]
    assert _run(OverloadMonitor(duration_s=30), spike) == []
    # poor signal or an abstaining model must not raise an arousal overload
    assert _run(OverloadMonitor(), [SafetyObservation(t=t, arousal_lower=0.95, quality_ok=False)
                                    for t in range(0, 60, 5)]) == []


def test_overload_suds_and_heart_rate() -> None:
    m = OverloadMonitor(suds_ceiling=85)
    assert m.update(SafetyObservation(t=10, suds=90, suds_t=10))[0].evidence == {"suds": 90}
    assert m.update(SafetyObservation(t=20, suds=90, suds_t=10)) == []  # same answer, no repeat
    assert m.update(SafetyObservation(t=30, suds=70, suds_t=30)) == []
    hr = [SafetyObservation(t=t, hr=125, hr_baseline=75) for t in range(0, 40, 5)]
    assert len(_run(OverloadMonitor(hr_delta_bpm=40, duration_s=30), hr)) == 1
    calm = [SafetyObservation(t=t, hr=100, hr_baseline=75) for t in range(0, 40, 5)]
    assert _run(OverloadMonitor(hr_delta_bpm=40, duration_s=30), calm) == []


def test_cybersickness_fms_ladder_and_physiology() -> None:
    m = CybersicknessMonitor()
    assert m.update(SafetyObservation(t=60, fms=2, fms_t=60)) == []
    assert m.update(SafetyObservation(t=120, fms=6, fms_t=120))[0].action == SafetyAction.BLOCK_ESCALATION
    assert m.update(SafetyObservation(t=180, fms=11, fms_t=180))[0].action == SafetyAction.PAUSE
    assert m.update(SafetyObservation(t=240, fms=16, fms_t=240))[0].action == SafetyAction.END
    assert m.update(SafetyObservation(t=250, ssq_total=56.1))[0].action == SafetyAction.ALERT
    sick = [SafetyObservation(t=t, sickness_probability=0.9, head_motion=3, head_motion_baseline=20)
            for t in range(0, 70, 10)]
    a = _run(CybersicknessMonitor(duration_s=60), sick)
    assert len(a) == 1 and a[0].action == SafetyAction.PAUSE
    moving = [SafetyObservation(t=t, sickness_probability=0.9, head_motion=20, head_motion_baseline=20)
              for t in range(0, 70, 10)]
    assert _run(CybersicknessMonitor(duration_s=60), moving)[0].action == SafetyAction.BLOCK_ESCALATION
    fine = [SafetyObservation(t=t, sickness_probability=0.3, fms=1, fms_t=t) for t in range(0, 300, 60)]
    assert _run(CybersicknessMonitor(), fine) == []


def test_dissociation_flag_on_unanswered_prompts_and_shutdown_pattern() -> None:
    m = DissociationMonitor(max_unanswered=2)
    assert m.update(SafetyObservation(t=100, unanswered_prompts=1)) == []
    a = m.update(SafetyObservation(t=220, unanswered_prompts=2))
    assert a[0].action == SafetyAction.PAUSE and a[0].requires_clinician and "not a diagnosis" in a[0].message
    # sharp fall of arousal and movement while SUDS stays high
    obs = [SafetyObservation(t=t, arousal=0.8, suds=80, suds_t=0, head_motion=20, head_motion_baseline=20)
           for t in range(0, 40, 10)]
    obs += [SafetyObservation(t=40, arousal=0.4, suds=80, suds_t=0, head_motion=2, head_motion_baseline=20)]
    assert len(_run(DissociationMonitor(), obs)) == 1
    # the same fall with low distress (relief, habituation) is not flagged
    relief = [SafetyObservation(t=t, arousal=0.8, suds=30, suds_t=0, head_motion=20, head_motion_baseline=20)
              for t in range(0, 40, 10)]
    relief += [SafetyObservation(t=40, arousal=0.4, suds=30, suds_t=0, head_motion=2, head_motion_baseline=20)]
    assert _run(DissociationMonitor(), relief) == []
    # distress with a fall in arousal but normal movement is not flagged either
    moving = obs[:-1] + [SafetyObservation(t=40, arousal=0.4, suds=80, suds_t=0, head_motion=18,
                                           head_motion_baseline=20)]
    assert _run(DissociationMonitor(), moving) == []


def test_signal_loss_blocks_then_pauses() -> None:
    m = SignalLossMonitor(streams=("ecg", "eda"), max_gap_s=2.0, pause_after_s=120)
    ok = SafetyObservation(t=10, last_sample_t={"ecg": 9.9, "eda": 9.8})
    assert m.update(ok) == [] and m.signal_ok(ok)
    lost = [SafetyObservation(t=t, last_sample_t={"ecg": t - 0.1, "eda": 20.0}) for t in range(25, 160, 5)]
    alerts = _run(m, lost)
    assert [a.action for a in alerts] == [SafetyAction.BLOCK_ESCALATION, SafetyAction.PAUSE]
    assert alerts[0].evidence["lost_streams"] == ["eda"]
    poor = [SafetyObservation(t=t, quality_ok=False, last_sample_t={"ecg": t, "eda": t}) for t in (200, 210)]
    m2 = SignalLossMonitor(streams=("ecg", "eda"))
    assert len(_run(m2, poor)) == 1
    assert _run(SignalLossMonitor(streams=("ecg",)), [SafetyObservation(t=t, last_sample_t={"ecg": t - 1})
                                                      for t in range(0, 100, 5)]) == []


def test_symptom_worsening_by_reliable_change() -> None:
    m = SymptomWorseningMonitor()
    assert m.update(SafetyObservation(t=0, questionnaire=score_gad7([1, 1, 1, 1, 1, 1, 2]))) == []  # baseline 8
    assert m.update(SafetyObservation(t=1, questionnaire=score_gad7([1, 2, 1, 1, 1, 1, 2]))) == []  # 9: noise
    a = m.update(SafetyObservation(t=2, questionnaire=score_gad7([2, 2, 2, 2, 2, 1, 2])))  # 13: reliable
    assert a and a[0].action == SafetyAction.BLOCK_ESCALATION and a[0].evidence["rci"] > 1.96
    assert m.update(SafetyObservation(t=3, questionnaire=score_gad7([0] * 7))) == []  # improvement


def test_suicidality_any_item9_escalates_immediately() -> None:
    m = SuicidalityMonitor()
    assert m.update(SafetyObservation(t=0, questionnaire=score_phq9([3, 3, 3, 3, 3, 3, 3, 3, 0]))) == []
    a = m.update(SafetyObservation(t=5, questionnaire=score_phq9([0, 0, 0, 0, 0, 0, 0, 0, 1])))
    assert a[0].severity == "critical" and a[0].requires_clinician and a[0].action == SafetyAction.PAUSE
    assert m.update(SafetyObservation(t=6, questionnaire=score_gad7([3] * 7))) == []


def test_supervisor_forwards_to_controller_which_obeys() -> None:
    c = ExposureController(load_hierarchy("heights"), ArousalAdaptive(), mode="auto")
    c.clinician_set_level(0, by="dr", t=0)
    sup = SafetySupervisor(listeners=[c.observe_alert])
    alerts = sup.update(SafetyObservation(t=10, questionnaire=score_phq9([0] * 8 + [2])))
    assert alerts and c.paused
    sup.update(SafetyObservation(t=20, fms=17, fms_t=20))
    assert c.stopped and sup.alerts[-1].action == SafetyAction.END
