"""Hierarchies as data, the bounds gate and the three policies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.exposure import (
    BLOCK_REASONS,
    BUILTIN_HIERARCHIES,
    POLICY_REASONS,
    ArousalAdaptive,
    ControllerBounds,
    FixedSchedule,
    PersonalCalibration,
    PolicyObservation,
    SudsLadder,
    gate_step,
    load_hierarchy,
)


def test_builtin_hierarchies_have_scenario_parameters() -> None:
    expect = {"heights": {"floor", "height_m", "railing_distance_m", "glass_floor"},
              "spiders": {"distance_m", "size_cm", "movement", "count"},
              "public_speaking": {"audience_size", "attention", "reactions"}}
    for name in BUILTIN_HIERARCHIES:
        h = load_hierarchy(name)
        assert len(h) >= 5
        assert [lv.index for lv in h.levels] == list(range(len(h)))
        assert all(set(lv.parameters) == expect[name] for lv in h.levels)
    heights = load_hierarchy("heights")
    assert heights.levels[-1].parameters["glass_floor"] is True
    assert heights.levels[0].parameters["floor"] < heights.levels[-1].parameters["floor"]
    heights_m = [lv.parameters["height_m"] for lv in heights.levels]
    assert heights_m == sorted(heights_m) and heights_m[0] == 0.0 and heights_m[-1] > 100


def test_client_levels_carry_what_the_vr_client_reads() -> None:
    """The WebXR client (web/static/js/vr.js) builds each scene from these keys; the catalogue is the only source."""
    from importlib import resources

    js = resources.files("attunexr.web").joinpath("static/js/vr.js").read_text()
    reads = {"heights": ("height_m", "railing_distance_m", "glass_floor"),
             "spiders": ("distance_m", "size_cm", "movement", "count"),
             "public_speaking": ("audience_size", "attention", "reactions")}
    for name, keys in reads.items():
        h = load_hierarchy(name)
        levels = h.client_levels()
        assert [lv["name"] for lv in levels] == [lv.name for lv in h.levels]
        for key in keys:
            assert f"p.{key}" in js, f"vr.js no longer reads {key}"
            assert all(key in lv for lv in levels), f"{name}: a level lacks {key}"


def test_hierarchy_from_file_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "h.json"
    p.write_text(json.dumps({"name": "lifts", "levels": [{"name": "open lift"}, {"name": "closed lift"}]}))
    h = load_hierarchy(p)
    assert h.name == "lifts" and h.max_index == 1
    assert load_hierarchy(p).to_dict()["levels"][1]["name"] == "closed lift"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json"):
        load_hierarchy(bad)
    with pytest.raises(ConfigurationError, match="no hierarchy"):
        load_hierarchy("volcanoes")
    nolevels = tmp_path / "n.json"
    nolevels.write_text(json.dumps({"name": "x", "levels": []}))
    with pytest.raises(ConfigurationError, match="no levels"):
        load_hierarchy(nolevels)


def _gate(**kw: object) -> tuple[int, str]:
    args = dict(requested=1, level=2, time_at_level=100.0, elapsed=100.0, quality_ok=True, estimate_fresh=True,
                abstained=False, arousal=0.5, suds=40.0, safety_block=False)
    args.update(kw)
    applied, reason = gate_step(bounds=ControllerBounds(max_level=5, max_step=2, min_dwell_s=60,
                                                        session_length_s=1200), **args)  # type: ignore[arg-type]
    return int(applied[0]), BLOCK_REASONS[int(reason[0])]


def test_gate_blocks_each_unsafe_escalation_and_allows_de_escalation() -> None:
    assert _gate() == (1, "ok")
    assert _gate(requested=5) == (2, "ok")  # cut to max_step
    assert _gate(level=4, requested=2) == (1, "ok")  # cut to max_level
    assert _gate(quality_ok=False) == (0, "signal_quality_poor")
    assert _gate(estimate_fresh=False) == (0, "estimate_missing_or_stale")
    assert _gate(abstained=True) == (0, "model_abstained")
    assert _gate(time_at_level=10.0) == (0, "min_dwell")
    assert _gate(elapsed=1200.0) == (0, "session_ended")
    assert _gate(level=5) == (0, "max_level")
    assert _gate(safety_block=True) == (0, "safety_block")
    assert _gate(arousal=0.95) == (0, "arousal_ceiling")
    assert _gate(suds=90.0) == (0, "suds_ceiling")
    # de-escalation passes whatever the signal, down to level 0
    assert _gate(requested=-1, quality_ok=False, abstained=True, estimate_fresh=False)[0] == -1
    assert _gate(requested=-5, level=2)[0] == -2


def _obs(**kw: float | int | bool) -> PolicyObservation:
    base: dict[str, float | int | bool] = dict(t=300.0, elapsed=300.0, time_at_level=120.0, level=2, max_level=7,
                                               estimate_ok=True)
    base.update(kw)
    return PolicyObservation.single(**base)


def _reason(policy: object, obs: PolicyObservation) -> tuple[int, str]:
    step, reason = policy.decide(obs)  # type: ignore[attr-defined]
    return int(step[0]), POLICY_REASONS[int(reason[0])]


def test_fixed_schedule_steps_on_time_only() -> None:
    pol = FixedSchedule(step_every_s=120)
    assert _reason(pol, _obs(time_at_level=119.0)) == (0, "hold")
    assert _reason(pol, _obs(time_at_level=120.0, probability=0.99, lower=0.95, upper=1.0)) == (1, "schedule")


def test_suds_ladder_rules() -> None:
    pol = SudsLadder(low=35, overload=80, habituation_fraction=0.6)
    assert _reason(pol, _obs(suds=20, suds_age=10, suds_peak=20)) == (1, "suds_below_window")
    assert _reason(pol, _obs(suds=60, suds_age=10, suds_peak=60)) == (0, "suds_in_window")
    assert _reason(pol, _obs(suds=40, suds_age=10, suds_peak=70)) == (1, "suds_habituated")
    assert _reason(pol, _obs(suds=85, suds_age=10, suds_peak=85)) == (-1, "suds_overload")
    # an answer given before the last level change is not about this level
    assert _reason(pol, _obs(suds=20, suds_age=200, time_at_level=100)) == (0, "no_recent_suds")


def test_arousal_adaptive_uses_window_uncertainty_and_suds() -> None:
    pol = ArousalAdaptive(low=0.42, high=0.68, settle_s=75, max_uncertainty=0.5)
    below = dict(probability=0.3, lower=0.25, upper=0.36)
    assert _reason(pol, _obs(**below)) == (1, "arousal_below_window")
    assert _reason(pol, _obs(time_at_level=30, **below))[0] == 0  # settling after the last change
    assert _reason(pol, _obs(probability=0.8, lower=0.72, upper=0.86)) == (-1, "arousal_above_window")
    assert _reason(pol, _obs(probability=0.3, lower=0.0, upper=0.9)) == (0, "estimate_uncertain")
    assert _reason(pol, _obs(estimate_ok=False, **below)) == (0, "estimate_unavailable")
    assert _reason(pol, _obs(estimate_ok=False, suds=90, suds_age=20)) == (-1, "suds_overload")
    assert _reason(pol, _obs(suds=80, suds_age=20, **below)) == (0, "suds_high")
    in_window = dict(probability=0.5, lower=0.45, upper=0.55)
    assert _reason(pol, _obs(**in_window)) == (0, "arousal_in_window")
    assert _reason(pol, _obs(trend=-0.1, **in_window)) == (1, "habituating")
    assert _reason(pol, _obs(suds=20, suds_age=10, **in_window)) == (1, "suds_below_window")
    far = _reason(pol, _obs(probability=0.1, lower=0.05, upper=0.15))
    assert far == (2, "arousal_below_window")


def test_policies_are_vectorised() -> None:
    pol = ArousalAdaptive()
    obs = PolicyObservation(
        t=np.full(3, 100.0), elapsed=np.full(3, 100.0), time_at_level=np.full(3, 100.0), level=np.array([1, 1, 1]),
        max_level=np.full(3, 7), probability=np.array([0.3, 0.55, 0.9]), lower=np.array([0.25, 0.5, 0.85]),
        upper=np.array([0.35, 0.6, 0.95]), estimate_ok=np.array([True, True, True]), trend=np.zeros(3),
        suds=np.full(3, np.nan), suds_age=np.full(3, np.nan), suds_peak=np.full(3, np.nan))
    step, _ = pol.decide(obs)
    assert step.tolist() == [1, 0, -1]


def test_personal_calibration_learns_a_strong_responder() -> None:
    cal = PersonalCalibration(a0=50.0, c0=45.0, shape=(2,))
    p = np.array([0.5, 0.5])
    assert cal.transform(p) == pytest.approx([0.5, 0.5])
    # patient 1 says SUDS 20 whenever the model says 0.5-0.7: the model over-reads them
    for prob in (0.5, 0.6, 0.7, 0.55, 0.65):
        cal.update(np.array([prob, prob]), np.array([100 * (0.5 + 0.45 * np.log(prob / (1 - prob))), 20.0]))
    out = cal.transform(np.array([0.6, 0.6]))
    assert out[0] == pytest.approx(0.5 + 0.45 * np.log(1.5), abs=0.05)
    assert out[1] < 0.35
    assert np.isnan(cal.transform(np.array([np.nan, 0.5]))[0])
