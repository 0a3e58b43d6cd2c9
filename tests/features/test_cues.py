"""Event-locked responses to cues: scoring rules, unscorable cues kept with a reason, live = offline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attunexr.errors import SignalError
from attunexr.features import Cue, CueRules, LiveCueScorer, cues_from_recording, score_cue, score_cues
from attunexr.recording import Event, Interval, Recording, RecordingMeta, Stream
from attunexr.simulation import simulate_cue_study

from .conftest import random_chunks


def _bateman(t: np.ndarray) -> np.ndarray:
    x = np.where(t > 0, np.exp(-t / 2.0) - np.exp(-t / 0.75), 0.0)
    return x / x.max()


def _sc_recording(amplitude: float, latency: float, onset: float = 30.0, rate: float = 32.0) -> Recording:
    t = np.arange(0.0, 60.0, 1.0 / rate)
    sc = 3.0 + amplitude * _bateman(t - onset - latency)
    return Recording(RecordingMeta("p1"), {"eda": Stream.regular("eda", "eda", sc, rate)}, events=[Event(onset, "cue")])


@pytest.mark.parametrize("amplitude,latency", [(0.5, 1.5), (0.08, 2.5), (1.2, 1.1)])
def test_trough_to_peak_recovers_amplitude_and_latency(amplitude: float, latency: float) -> None:
    rec = _sc_recording(amplitude, latency)
    r = score_cue(rec, Cue(30.0, "cue"))
    assert r.scr_amplitude == pytest.approx(amplitude, rel=0.01)
    # onset = last (8 Hz block-mean) sample within 10 % of the rise: within two blocks of the true start
    assert abs(r.scr_latency - latency) <= 0.25
    assert r.sc_change > 0 and "eda" not in r.quality and r.quality["hr"].startswith("no cardiac")


def test_rise_below_minimum_is_a_non_response_with_zero_magnitude() -> None:
    r = score_cue(_sc_recording(0.005, 1.5), Cue(30.0, "cue"))
    assert r.scr_amplitude == 0.0 and math.isnan(r.scr_latency)


def test_rise_starting_after_the_latency_window_is_not_a_response_to_the_cue() -> None:
    r = score_cue(_sc_recording(0.5, 4.5), Cue(30.0, "cue"))
    assert r.scr_amplitude == 0.0


def test_gap_marks_the_cue_unscorable_and_keeps_it() -> None:
    rec = _sc_recording(0.5, 1.5)
    eda = rec.streams["eda"]
    values = eda.values.copy()
    values[(eda.timestamps > 31) & (eda.timestamps < 38)] = np.nan  # contact lost after the cue
    rec.streams["eda"] = Stream("eda", "eda", values, eda.timestamps, rate=eda.rate)
    [r] = score_cues(rec, cues_from_recording(rec))
    assert math.isnan(r.scr_amplitude) and not r.scorable
    assert "too little skin-conductance" in r.quality["eda"]


def test_heart_rate_change_from_beat_intervals() -> None:
    beats = np.cumsum(np.r_[np.full(40, 1.0), np.full(20, 0.75)])  # 60 bpm, then 80 bpm from t = 40 s
    rec = Recording(RecordingMeta("p1"), {"ibi": Stream("ibi", "ibi", np.diff(np.r_[0.0, beats]), beats)})
    r = score_cue(rec, Cue(40.0, "cue"), rules=CueRules(pre=5, post=10))
    assert r.hr_change_mean == pytest.approx(20.0)
    assert r.hr_change_peak == pytest.approx(20.0)


def test_heart_rate_from_device_hr_stream() -> None:
    hr = np.r_[np.full(30, 70.0), np.full(30, 76.0)]
    rec = Recording(RecordingMeta("p1"), {"hr": Stream.regular("hr", "hr", hr, 1.0)})
    r = score_cue(rec, Cue(30.0, "cue"), rules=CueRules(pre=5, post=10))
    assert r.hr_change_mean == pytest.approx(6.0, abs=0.7)


def test_no_signal_is_reported_not_silent() -> None:
    rec = Recording(RecordingMeta("p1"), {"temp": Stream.regular("temp", "temp", np.ones(100), 4.0)})
    r = score_cue(rec, Cue(10.0, "cue"))
    assert not r.scorable and "no eda" in r.quality["all"]


def test_bad_rules_and_onsets_are_refused() -> None:
    with pytest.raises(SignalError, match="latency"):
        CueRules(post=2.0, scr_latency=(1.0, 3.0))
    with pytest.raises(SignalError, match="non-finite"):
        score_cue(_sc_recording(0.5, 1.5), Cue(float("nan"), "cue"))


def test_cues_from_intervals_and_events_filtered_by_category() -> None:
    rec = Recording(
        RecordingMeta("p1"),
        intervals=[Interval(0, 60, "baseline"), Interval(60, 30, "stroop"), Interval(90, 30, "stroop"),
                   Interval(120, 60, "rest")],
        events=[Event(70.0, "spider")],
    )
    cues = cues_from_recording(rec, ["Stroop", "rest", "spider"])
    assert [(c.onset, c.category) for c in cues] == [(60.0, "stroop"), (70.0, "spider"), (120.0, "rest")]


def _assert_equal(a: list, b: list) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.cue == y.cue and x.index == y.index
        for m, v in x.measures().items():
            w = y.measures()[m]
            assert (math.isnan(v) and math.isnan(w)) or v == pytest.approx(w, rel=1e-9, abs=1e-12), m


def _live(rec: Recording, cues: list[Cue], rules: CueRules, seed: int) -> list:
    scorer = LiveCueScorer(rules)
    pending = sorted(cues, key=lambda c: c.onset)
    out = []
    for chunk in random_chunks(rec, seed):
        while pending and pending[0].onset <= chunk.t_last:  # the cue message arrives with the signal
            scorer.add_cue(pending.pop(0))
        out += scorer.push(chunk)
    for c in pending:
        scorer.add_cue(c)
    return out + scorer.flush()


def test_live_equals_offline_on_simulated_cue_session() -> None:
    recs, _ = simulate_cue_study(2, 6, seed=4)
    rules = CueRules()
    for rec in recs:
        cues = cues_from_recording(rec)
        _assert_equal(score_cues(rec, cues, rules), _live(rec, cues, rules, seed=2))


def test_live_equals_offline_on_real_recording(stress_recording: Recording) -> None:
    """Stress-Predict S05 (E4: PPG beats, EDA at 4 Hz) with cues every 40 s, fed in random chunks."""
    cues = [Cue(float(t), "probe", f"c{k}") for k, t in enumerate(np.arange(40.0, 1100.0, 40.0))]
    rules = CueRules(pre=10.0, post=15.0)
    offline = score_cues(stress_recording, cues, rules)
    assert np.mean([math.isfinite(r.hr_change_mean) for r in offline]) > 0.8
    assert all(math.isfinite(r.sc_change) for r in offline)
    _assert_equal(offline, _live(stress_recording, cues, rules, seed=7))
