"""Virtual patients who react to cues: skin-conductance and heart-rate responses with known parameters.

Ground truth for the cue-reactivity analysis (:mod:`attunexr.models` ``analyse_reactivity``). Each person sees
``n_cues`` cues of every category per session, in shuffled order, 20 +/- 3 s apart. The skin-conductance response
to presentation ``k`` (0-based, counted within its category) of category ``c`` in session ``s`` is a Bateman-shaped
rise (rise 0.75 s, decay 2 s; Alexander et al. 2005) starting ``latency`` seconds after the cue, with amplitude::

    base[c] + group_effect * patient * (c == target) + person_offset + slope * k + between_slope * s + noise

so ``group_effect`` is the true patients-minus-controls difference in response to the target category, ``slope``
the true within-session habituation per presentation and ``between_slope`` the true change of the response from
one session to the next. Heart rate (1 Hz device stream) accelerates by ``hr_amplitude`` bpm for 4 s after target
cues of patients. Skin conductance is sampled at 4 Hz as a wrist sensor would (Empatica E4) with white noise.

These are assumptions chosen to test the analysis, not a model of any disorder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from attunexr.recording import Event, Recording, RecordingMeta, Stream

__all__ = ["CueStudyTruth", "simulate_cue_study"]

_RISE, _DECAY = 0.75, 2.0


@dataclass(frozen=True)
class CueStudyTruth:
    """The parameters the simulated responses were drawn with (microsiemens, seconds, presentations)."""

    target: str = "trauma"
    categories: tuple[str, ...] = ("trauma", "neutral")
    base: dict[str, float] = field(default_factory=lambda: {"trauma": 0.40, "neutral": 0.35})
    group_effect: float = 0.15
    slope: float = -0.015
    between_slope: float = -0.03
    latency: float = 1.8
    person_sd: float = 0.06
    noise_sd: float = 0.04
    hr_amplitude: float = 4.0
    sample_noise: float = 0.003


def _bateman(t: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.where(t > 0, np.exp(-t / _DECAY) - np.exp(-t / _RISE), 0.0)
    t_peak = np.log(_DECAY / _RISE) * _RISE * _DECAY / (_DECAY - _RISE)
    peak = np.exp(-t_peak / _DECAY) - np.exp(-t_peak / _RISE)
    return np.asarray(x / peak, dtype=np.float64)


def simulate_cue_study(
    n_people: int = 100,
    n_cues: int = 8,
    n_sessions: int = 1,
    truth: CueStudyTruth | None = None,
    seed: int = 0,
    eda_rate: float = 4.0,
) -> tuple[list[Recording], pd.DataFrame]:
    """Simulate a two-group cue-reactivity study.

    Returns the recordings (one per person and session, cues as events labelled by category, ``meta.session`` the
    1-based session number) and a participants table (``participant_id``, ``group`` = ``patient``/``control``,
    half each).
    """
    truth = truth or CueStudyTruth()
    rng = np.random.default_rng(seed)
    recordings: list[Recording] = []
    rows = []
    for i in range(n_people):
        pid = f"v{i:03d}"
        patient = i % 2 == 1
        rows.append({"participant_id": pid, "group": "patient" if patient else "control"})
        offset = rng.normal(0.0, truth.person_sd)
        latency = float(np.clip(rng.normal(truth.latency, 0.2), 1.2, 2.6))
        for s in range(n_sessions):
            cats = np.repeat(np.array(truth.categories), n_cues)
            rng.shuffle(cats)
            onsets = 30.0 + np.cumsum(rng.uniform(17.0, 23.0, cats.size))
            duration = float(onsets[-1] + 30.0)
            t = np.arange(0.0, duration, 1.0 / eda_rate)
            sc = 2.0 + 0.002 * t / 60.0 + rng.normal(0.0, truth.sample_noise, t.size)
            hr_t = np.arange(0.0, duration, 1.0)
            hr = 70.0 + 10 * offset + rng.normal(0.0, 0.8, hr_t.size)
            counts: dict[str, int] = {}
            events = []
            for onset, cat in zip(onsets, cats, strict=True):
                k = counts.get(str(cat), 0)
                counts[str(cat)] = k + 1
                amp = (
                    truth.base[str(cat)]
                    + truth.group_effect * (patient and cat == truth.target)
                    + offset
                    + truth.slope * k
                    + truth.between_slope * s
                    + rng.normal(0.0, truth.noise_sd)
                )
                sc += max(float(amp), 0.0) * _bateman(t - onset - latency)
                if patient and cat == truth.target:
                    hr[(hr_t >= onset + 1) & (hr_t < onset + 5)] += truth.hr_amplitude
                events.append(Event(float(onset), str(cat)))
            meta = RecordingMeta(subject=pid, dataset="virtual-cues", session=str(s + 1), device="simulated")
            recordings.append(
                Recording(
                    meta=meta,
                    streams={
                        "eda": Stream.regular("eda", "eda", sc, eda_rate, device="simulated"),
                        "hr": Stream.regular("hr", "hr", hr, 1.0, device="simulated"),
                    },
                    events=events,
                )
            )
    return recordings, pd.DataFrame(rows)
