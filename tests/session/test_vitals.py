"""The session's one vitals and signal-quality tracker, on a real recording, inside a LiveSession."""

from __future__ import annotations

import math

import numpy as np

from attunexr.recording import Chunk, Recording
from attunexr.sensors import ReplaySource
from attunexr.session import LiveSession, VitalsTracker
from attunexr.signals import ppg_peaks


def test_tracker_reads_hr_eda_and_quality_from_a_real_recording(s02_short: Recording) -> None:
    tr = VitalsTracker()
    rec = s02_short.crop(s02_short.t_start, s02_short.t_start + 40.0)
    for c in rec.iter_chunks(1.0):
        tr.push(c)
    vit = tr.read(tr.clock)
    hr = rec.streams["hr"]
    assert vit.hr == float(np.nanmean(hr.values[hr.timestamps >= math.floor(hr.timestamps[-1])]))
    eda = rec.streams["eda"]
    assert vit.eda is not None and vit.eda == float(np.nanmean(eda.values[-4:]))
    assert vit.quality["hr"] == "good" and vit.quality["eda"] in ("good", "poor")
    assert set(vit.quality) >= {"hr", "eda", "ppg", "acc", "temp"}
    # four seconds without samples: every signal is lost, and no value is shown
    later = tr.read(tr.clock + 3.5)
    assert set(later.quality.values()) == {"lost"} and later.hr is None and later.eda is None and not later.signals_ok
    assert later.last_sample_t["eda"] == eda.timestamps[-1]


def test_heart_rate_from_ppg_beats_when_there_is_no_hr_stream(s02_short: Recording) -> None:
    ppg = s02_short.streams["bvp"]  # E4 blood volume pulse: a PPG
    t0 = ppg.timestamps[0] + 60.0
    sel = (ppg.timestamps >= t0) & (ppg.timestamps < t0 + 8.0)
    tr = VitalsTracker()
    tr.push(Chunk("ppg", "ppg", ppg.timestamps[sel], ppg.values[sel], ppg.rate))
    vit = tr.read(tr.clock)
    peaks = ppg_peaks(np.asarray(ppg.values[sel], dtype=float), float(ppg.rate))
    rr = np.diff(peaks) / ppg.rate
    rr = rr[(rr > 0.27) & (rr < 2.0)]
    assert vit.hr == float(60.0 / np.median(rr))
    tr.push(Chunk("eda", "eda", [t0 + 8.0], [0.001], 4.0))  # below the E4 contact-loss floor
    assert tr.read(tr.clock).quality["eda"] == "poor"


async def test_live_session_feeds_its_tracker_and_reports_progress(s02_short: Recording) -> None:
    rec = s02_short.crop(s02_short.t_start, s02_short.t_start + 20.0)
    async with LiveSession("vitals", detector=None) as session:
        task = session.attach(ReplaySource(rec, speed=math.inf, clock_zero=rec.t_start))
        while session.vitals.clock < 15.0:
            await session.wait_progress(5.0)
        await task
        while session.backlog:
            await session.wait_progress(1.0)
    assert session.vitals.clock == max(s.timestamps[-1] for s in rec.streams.values() if s.n_samples) - rec.t_start
    assert session.vitals.read(session.vitals.clock).quality["hr"] == "good"
