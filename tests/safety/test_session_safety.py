"""SessionSafety: the per-session state of the safety monitors (resting heart rate, last SUDS answer) lives in the
safety package and drives the overload rules as the live session runs them once per second."""

from __future__ import annotations

from attunexr.safety import SessionSafety


def _second(s: SessionSafety, t: float, hr: float, **kw: object) -> list[str]:
    alerts = s.check(t, hr=hr, last_sample_t={"bvp": t}, **kw)  # type: ignore[arg-type]
    return [a.message for a in alerts if a.monitor == "overload"]


def test_heart_rate_rule_waits_for_a_resting_baseline_then_fires_after_the_duration() -> None:
    s = SessionSafety(hr_above_baseline_bpm=30.0, overload_s=10.0)
    fired: list[str] = []
    for t in range(29):  # fewer than 30 readings: no baseline, even at an extreme heart rate
        fired += _second(s, float(t), 70.0 if t < 28 else 160.0)
    assert s.hr_baseline is None and fired == []
    for t in range(29, 60):
        fired += _second(s, float(t), 70.0)
    assert s.hr_baseline is not None and abs(s.hr_baseline - (70.0 * 59 + 160.0) / 60) < 1e-9  # the first minute only
    for t in range(60, 90):  # after the first minute the baseline is fixed; 40 bpm above it for 10 s fires once
        fired += _second(s, float(t), 115.0)
    assert len(fired) == 1 and "heart rate 115 bpm" in fired[0]


def test_a_suds_answer_above_the_ceiling_alerts_once_and_is_remembered() -> None:
    s = SessionSafety(suds_ceiling=80.0)
    assert _second(s, 1.0, 70.0, suds=90.0) == ["SUDS 90 at or above 80"]
    assert _second(s, 2.0, 70.0) == []  # the same answer is not alerted twice
    assert _second(s, 3.0, 70.0, suds=50.0) == []


def test_poor_windows_are_counted_once_per_feature_window_not_per_second() -> None:
    s = SessionSafety()
    poor: list[tuple[float, str]] = []
    for t in range(0, 20):  # ten seconds of window 0, then ten of window 10, all poor quality
        alerts = s.check(float(t), hr=70.0, last_sample_t={"bvp": float(t)}, quality_ok=False,
                         window_t_end=float(t // 10 * 10))
        poor += [(a.t, a.message) for a in alerts if "poor-quality windows" in a.message]
    # two consecutive poor windows are needed: counted per second, the first window alone would have fired
    assert poor == [(10.0, "signal loss: 2 poor-quality windows")]
