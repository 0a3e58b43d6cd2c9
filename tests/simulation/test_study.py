"""Paired in-silico comparisons on the fast path, and what policies may see."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.exposure import ArousalAdaptive, FixedSchedule, PolicyObservation
from attunexr.simulation import METRICS, StudyConfig, WindowArousalEstimator, load_calibration, run_study


@pytest.fixture(scope="module")
def study():  # type: ignore[no-untyped-def]
    return run_study(300, 3, ("fixed", "suds", "arousal"), seed=7)


def test_output_shape_and_figures(study) -> None:  # type: ignore[no-untyped-def]
    out = study.to_json_dict()
    assert set(out) == {"patients", "sessions", "wall_s", "policies"}
    assert (out["patients"], out["sessions"]) == (300, 3)
    assert list(out["policies"]) == ["fixed", "suds", "arousal"]
    for figs in out["policies"].values():
        assert tuple(figs) == METRICS
        assert 0 <= figs["time_in_window"] <= 1 and 0 <= figs["dropout_rate"] <= 1
        assert 0 <= figs["max_level_mean"] <= 7
    # signal loss was simulated and policies asked to escalate during it; the gate refused every time
    for name in out["policies"]:
        assert out["policies"][name]["escalations_during_signal_loss"] == 0
    assert study.details["fixed"]["escalation_requests_during_signal_loss"] > 0
    # adaptive policies cause fewer overloads than the fixed schedule
    pol = out["policies"]
    assert pol["arousal"]["overload_per_session"] <= 0.5 * pol["fixed"]["overload_per_session"]
    assert pol["suds"]["overload_per_session"] < pol["fixed"]["overload_per_session"]


def test_paired_and_reproducible() -> None:
    a = run_study(80, 2, ("fixed", "arousal"), seed=3)
    b = run_study(80, 2, ("arousal", "fixed"), seed=3)
    c = run_study(80, 2, ("arousal",), seed=3)
    assert a.policies["arousal"] == b.policies["arousal"] == c.policies["arousal"]
    assert a.policies["fixed"] == b.policies["fixed"]
    assert run_study(80, 2, ("fixed",), seed=4).policies["fixed"] != a.policies["fixed"]


def test_policies_see_only_live_observations() -> None:
    seen: list[PolicyObservation] = []

    @dataclasses.dataclass
    class Spy:
        name: str = "spy"

        def decide(self, obs: PolicyObservation):  # type: ignore[no-untyped-def]
            seen.append(obs)
            return ArousalAdaptive().decide(obs)

    run_study(20, 1, {"spy": Spy()}, seed=1)
    assert seen
    fields = {f.name for f in dataclasses.fields(PolicyObservation)}
    assert fields == {"t", "elapsed", "time_at_level", "level", "max_level", "probability", "lower", "upper",
                      "estimate_ok", "trend", "suds", "suds_age", "suds_peak"}
    assert all(type(o) is PolicyObservation for o in seen)
    # unusable estimates reach the policy as NaN, never as a number
    for o in seen:
        assert np.all(np.isnan(o.probability[~o.estimate_ok]))


def test_fast_estimator_abstains_and_widens() -> None:
    est = WindowArousalEstimator(load_calibration())
    e = est.estimate(np.array([70.0, 90.0, 90.0, np.nan]), np.array([1.0, 3.0, 3.0, 1.0]),
                     np.array([70.0, 70.0, 70.0, 70.0]), np.array([1.0, 1.0, 1.0, 1.0]),
                     np.array([True, True, False, True]))
    assert e.probability[1] > e.probability[0]
    assert e.abstained.tolist() == [False, False, True, True]
    assert np.all(e.lower[:3] <= e.probability[:3]) and np.all(e.probability[:3] <= e.upper[:3])
    assert (e.upper[1] - e.lower[1]) > (e.upper[0] - e.lower[0])  # further from the data: wider
    assert set(e.contributions) == {"hr_delta", "log_scl_ratio"}


def test_bad_configuration() -> None:
    with pytest.raises(ConfigurationError):
        run_study(10, 0)
    with pytest.raises(ConfigurationError):
        run_study(10, 1, ("fixed", "psychic"))
    with pytest.raises(ConfigurationError):
        StudyConfig(session_length_s=1205)
    assert run_study(5, 1, {"f": FixedSchedule(60.0)}).policies["f"]["escalations_during_signal_loss"] == 0
