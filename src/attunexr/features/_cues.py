"""Event-locked responses to cues: skin conductance, heart rate, respiration and pupil around each cue onset.

A *cue* is a named onset on the recording clock (a trauma-relevant scene, a spider appearing, a task start). For
every cue the signals in ``[onset - pre, onset + post)`` are scored against the pre-cue baseline:

Skin conductance (trough-to-peak, Boucsein et al. 2012; Dawson, Schell & Filion 2007)
    The *trough* is the lowest skin conductance in the latency window ``scr_latency`` after the cue (default
    1-3 s); the *peak* is the highest value within ``scr_rise`` seconds after that trough (default 5 s). The
    amplitude is peak minus trough. A rise below ``scr_min_amplitude`` (default 0.01 uS, the usual minimum for
    laboratory electrodes) is a non-response: amplitude 0 (so means are *magnitudes*, which include zeros, as the
    recommendations ask to state) and latency undefined. The response *onset* is the last sample before the peak
    that is still within 10 % of the rise above the trough (on a flat, noisy baseline the lowest sample is not
    where the rise starts); latency is onset minus cue time, and a rise whose onset falls after the latency
    window is not counted as a response to the cue.
    ``sc_change`` is the mean level in the response window minus the mean of the baseline window (a sustained,
    tonic response, the measure used for block cues such as a task or a scene that lasts minutes).
Heart rate (second-by-second, Bradley, Codispoti, Cuthbert & Lang 2001)
    Beat-to-beat heart rate from beats detected in the ``ecg`` or ``ppg`` waveform within the epoch, else a
    device's beat intervals (``ibi``), else a device ``hr`` stream (the first that covers the epoch), as a step
    function sampled once a second. ``hr_change_mean`` is the mean
    of the post-cue seconds minus the baseline mean; ``hr_change_peak`` the largest increase (acceleration peak)
    over the post-cue seconds.
Respiration
    Breathing rate from the respiration waveform's breath peaks in each window; the change in breaths/min.
Pupil
    Mean pupil diameter after the cue minus the baseline mean (mm).

Each response is computed from the samples of its own epoch only, so a live session that scores a cue once the
epoch has been received gives the same numbers as the offline analysis of the recording (live = offline).
A response that cannot be scored (too little signal in a window, the epoch runs past the recording, a flat or
missing signal) is returned with ``NaN`` and a reason in ``quality``; it is never dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.signal import find_peaks

from attunexr.errors import SignalError
from attunexr.recording import Chunk, Recording, RecordingMeta, Stream
from attunexr.signals import clean_intervals, ecg_peaks, ppg_peaks

__all__ = [
    "CUE_RESPONSE_MEASURES",
    "Cue",
    "CueResponse",
    "CueRules",
    "LiveCueScorer",
    "cues_from_recording",
    "score_cue",
    "score_cues",
]

FloatArray = NDArray[np.float64]

#: the response measures of :class:`CueResponse`, in report order, with their units
CUE_RESPONSE_MEASURES: dict[str, str] = {
    "scr_amplitude": "uS",
    "scr_latency": "s",
    "sc_change": "uS",
    "hr_change_mean": "bpm",
    "hr_change_peak": "bpm",
    "resp_rate_change": "breaths/min",
    "pupil_change": "mm",
}


@dataclass(frozen=True)
class Cue:
    """A cue onset on the recording clock: its category (``trauma``, ``neutral``, ``stroop`` ...) and an id."""

    onset: float
    category: str
    cue_id: str = ""


@dataclass(frozen=True)
class CueRules:
    """Scoring windows and thresholds (seconds and microsiemens). Defaults suit discrete cues of a few seconds.

    For block cues (a task or a scene of minutes) use longer windows, e.g. ``pre=60, post=60``.
    """

    pre: float = 5.0
    post: float = 10.0
    scr_latency: tuple[float, float] = (1.0, 3.0)
    scr_rise: float = 5.0
    scr_min_amplitude: float = 0.01
    min_coverage: float = 0.8
    trace_step: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.scr_latency
        if not (self.pre > 0 and self.post > 0):
            raise SignalError(f"cue windows must be positive; got pre={self.pre}, post={self.post}")
        if not (0 <= lo < hi <= self.post):
            raise SignalError(f"scr_latency {self.scr_latency} must lie within the response window (0, {self.post}]")
        if self.scr_rise <= 0 or self.scr_min_amplitude < 0:
            raise SignalError("scr_rise must be positive and scr_min_amplitude non-negative")
        if not 0 < self.min_coverage <= 1:
            raise SignalError(f"min_coverage must be in (0, 1]; got {self.min_coverage}")


@dataclass
class CueResponse:
    """The scored response to one cue. ``NaN`` marks a measure that could not be scored; ``quality`` says why."""

    cue: Cue
    index: int  # presentation index of this cue within its category (0 = first)
    scr_amplitude: float = math.nan
    scr_latency: float = math.nan
    sc_change: float = math.nan
    hr_change_mean: float = math.nan
    hr_change_peak: float = math.nan
    resp_rate_change: float = math.nan
    pupil_change: float = math.nan
    quality: dict[str, str] = field(default_factory=dict)
    traces: dict[str, FloatArray] = field(default_factory=dict)

    @property
    def scorable(self) -> bool:
        """True when at least one measure was scored."""
        return any(math.isfinite(getattr(self, m)) for m in CUE_RESPONSE_MEASURES)

    def measures(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in CUE_RESPONSE_MEASURES}


# --- cue lists ----------------------------------------------------------------------------------------------
def cues_from_recording(recording: Recording, categories: Iterable[str] | None = None) -> list[Cue]:
    """Cues of a recording: the onsets of its labelled intervals and its events, in time order.

    ``categories`` keeps only those labels (case-insensitive); ``None`` keeps all. A run of adjacent intervals
    with the same label (one task split in pieces) is one cue at its first onset.
    """
    keep = None if categories is None else {c.strip().lower() for c in categories}
    found: list[tuple[float, str]] = []
    for iv in sorted(recording.intervals, key=lambda i: i.onset):
        if found and found[-1][1] == iv.label and _adjacent(recording, iv.onset, iv.label):
            continue
        found.append((iv.onset, iv.label))
    found += [(ev.onset, ev.label) for ev in recording.events]
    out = [
        Cue(onset=float(t), category=label, cue_id=f"{label}-{k}")
        for k, (t, label) in enumerate(sorted(found, key=lambda x: x[0]))
        if keep is None or label.lower() in keep
    ]
    return out


def _adjacent(recording: Recording, onset: float, label: str) -> bool:
    return any(abs(iv.end - onset) < 1e-6 and iv.label == label for iv in recording.intervals)


# --- scoring ------------------------------------------------------------------------------------------------
def score_cues(recording: Recording, cues: Sequence[Cue], rules: CueRules | None = None) -> list[CueResponse]:
    """Score every cue of a recording (see the module docstring for the rules). Order follows ``cues``."""
    rules = rules or CueRules()
    counts: dict[str, int] = {}
    out = []
    for cue in sorted(cues, key=lambda c: c.onset):
        k = counts.get(cue.category, 0)
        counts[cue.category] = k + 1
        out.append(score_cue(recording, cue, k, rules))
    return out


def score_cue(recording: Recording, cue: Cue, index: int = 0, rules: CueRules | None = None) -> CueResponse:
    """Score one cue from the samples in ``[onset - pre, onset + post)`` of each stream."""
    rules = rules or CueRules()
    if not math.isfinite(cue.onset):
        raise SignalError(f"cue {cue.cue_id or cue.category!r} has a non-finite onset {cue.onset!r}")
    resp = CueResponse(cue=cue, index=index)
    t0, t1 = cue.onset - rules.pre, cue.onset + rules.post
    eda = recording.pick("eda")
    if eda is not None:
        _score_eda(resp, _epoch(eda, t0, t1), cue.onset, rules)
    else:
        resp.quality["eda"] = "no skin-conductance stream"
    cardiac_sources = _heart_rate_sources(recording)
    for cardiac in cardiac_sources:
        _score_hr(resp, cardiac, cue.onset, rules)
        if math.isfinite(resp.hr_change_mean):
            resp.quality.pop("hr", None)
            break
    if not cardiac_sources:
        resp.quality["hr"] = "no cardiac stream (ECG, PPG, beat intervals or heart rate)"
    resp_stream = recording.pick("resp")
    if resp_stream is not None:
        _score_resp(resp, _epoch(resp_stream, t0, t1), cue.onset, rules)
    pupil = recording.pick("pupil")
    if pupil is not None:
        _score_level(resp, "pupil_change", "pupil", _epoch(pupil, t0, t1), cue.onset, rules)
    if not resp.scorable and set(resp.quality) <= {"eda", "hr"} and all(
        v.startswith("no ") for v in resp.quality.values()
    ):
        resp.quality["all"] = "no eda, cardiac, respiration or pupil stream"
    return resp


def _epoch(stream: Stream, t0: float, t1: float) -> tuple[FloatArray, FloatArray, float | None]:
    part = stream.crop(t0, t1)
    v = part.values if part.values.ndim == 1 else np.nanmean(part.values, axis=1)
    v = np.asarray(v, dtype=np.float64)
    ok = np.isfinite(v)
    return part.timestamps[ok], v[ok], stream.rate


def _coverage(t: FloatArray, a: float, b: float, rate: float | None) -> float:
    """Share of ``[a, b)`` that has samples (regular streams: samples over expected samples)."""
    if b <= a:
        return 0.0
    n = int(np.count_nonzero((t >= a) & (t < b)))
    if rate:
        return min(1.0, n / max(1.0, (b - a) * rate))
    return 1.0 if n else 0.0


def _grid(rules: CueRules) -> FloatArray:
    return np.arange(-rules.pre, rules.post + 1e-9, rules.trace_step)


def _trace(t: FloatArray, v: FloatArray, onset: float, baseline: float, rules: CueRules) -> FloatArray:
    g = _grid(rules)
    if t.size < 2:
        return np.full(g.shape, np.nan)
    rel = t - onset
    out = np.interp(g, rel, v - baseline, left=np.nan, right=np.nan)
    return np.asarray(out, dtype=np.float64)


def _smooth_eda(t: FloatArray, v: FloatArray, rate: float | None) -> tuple[FloatArray, FloatArray]:
    """Block means to about 8 Hz for fast EDA (1000 Hz lab amplifiers), so peaks are not noise spikes."""
    if not rate or rate <= 16 or v.size < 4:
        return t, v
    k = int(rate // 8)
    n = (v.size // k) * k
    return t[:n].reshape(-1, k).mean(axis=1), v[:n].reshape(-1, k).mean(axis=1)


def _score_eda(resp: CueResponse, ep: tuple[FloatArray, FloatArray, float | None], onset: float, rules: CueRules) -> None:
    t, v, rate = ep
    pre_ok = _coverage(t, onset - rules.pre, onset, rate) >= rules.min_coverage
    post_ok = _coverage(t, onset, onset + rules.post, rate) >= rules.min_coverage
    if not (pre_ok and post_ok):
        resp.quality["eda"] = "too little skin-conductance signal in the baseline or response window"
        return
    t, v = _smooth_eda(t, v, rate)
    base = float(np.mean(v[t < onset]))
    post = v[t >= onset]
    if np.ptp(v) == 0.0:
        resp.quality["eda"] = "flat skin-conductance signal (no contact?)"
        return
    resp.sc_change = float(np.mean(post) - base)
    lo, hi = onset + rules.scr_latency[0], onset + rules.scr_latency[1]
    win = (t >= lo) & (t <= hi)
    if not np.any(win):
        resp.quality["eda"] = "no sample in the SCR latency window"
        return
    i_trough = int(np.flatnonzero(win)[np.argmin(v[win])])
    rise = (t >= t[i_trough]) & (t <= t[i_trough] + rules.scr_rise)
    i_peak = int(np.flatnonzero(rise)[np.argmax(v[rise])])
    amp = float(v[i_peak] - v[i_trough])
    if amp >= rules.scr_min_amplitude and i_peak > i_trough:
        # onset: the last sample before the peak still within 10 % of the rise (a flat, noisy baseline has many
        # tiny minima; the lowest one is not where the response starts)
        below = np.flatnonzero(v[i_trough:i_peak] <= v[i_trough] + 0.1 * amp)
        i_onset = i_trough + int(below[-1])
        if t[i_onset] <= hi:
            resp.scr_amplitude = amp
            resp.scr_latency = float(t[i_onset] - onset)
        else:
            resp.scr_amplitude = 0.0
    else:
        resp.scr_amplitude = 0.0
    resp.traces["sc"] = _trace(t, v, onset, base, rules)


def _heart_rate_sources(recording: Recording) -> list[Stream]:
    """Cardiac streams in order of preference: beats detected in a waveform, device beat intervals, device HR."""
    out = []
    for kind in ("ecg", "ppg", "ibi", "hr"):
        s = recording.pick(kind)
        if s is not None and s.n_samples:
            out.append(s)
    return out


def _beat_series(stream: Stream, t0: float, t1: float) -> tuple[FloatArray, FloatArray]:
    """Beat times and the interval (s) ending at each beat, within ``[t0, t1)``."""
    if stream.kind == "ibi":
        part = stream.crop(t0, t1)
        ibi = np.asarray(part.values, dtype=np.float64).reshape(-1)
        ok = np.isfinite(ibi) & (ibi > 0.25) & (ibi < 2.0)
        return part.timestamps[ok], ibi[ok]
    part = stream.crop(t0 - 2.0, t1)  # a little lead so the first beat in the window has an interval
    if part.n_samples < 4:
        return np.empty(0), np.empty(0)
    x = np.asarray(part.values, dtype=np.float64).reshape(part.n_samples, -1)[:, 0]
    rate = stream.rate or 0.0
    if x.size < 4 or rate <= 0 or not np.all(np.isfinite(x)):
        return np.empty(0), np.empty(0)
    peaks = ecg_peaks(x, rate) if stream.kind == "ecg" else ppg_peaks(x, rate)
    times = part.timestamps[peaks]
    ibi = np.diff(times)
    times = times[1:]
    ok = clean_intervals(ibi) & (times >= t0)
    return times[ok], ibi[ok]


def _hr_seconds(stream: Stream, t0: float, t1: float) -> tuple[FloatArray, FloatArray]:
    """Heart rate once a second on ``[t0, t1)``: the beat interval in force at each second (step function)."""
    secs = np.arange(t0, t1, 1.0) + 0.5
    if stream.kind == "hr":
        part = stream.crop(t0, t1)
        v = np.asarray(part.values, dtype=np.float64).reshape(-1)
        ok = np.isfinite(v) & (v > 25) & (v < 240)
        if np.count_nonzero(ok) < 2:
            return secs, np.full(secs.shape, np.nan)
        hr = np.interp(secs, part.timestamps[ok], v[ok], left=np.nan, right=np.nan)
        return secs, np.asarray(hr, dtype=np.float64)
    times, ibi = _beat_series(stream, t0, t1 + 2.0)
    hr = np.full(secs.shape, np.nan)
    if times.size < 2:
        return secs, hr
    # the interval in force at second s is the one ending at the first beat at or after s
    j = np.searchsorted(times, secs, side="left")
    inside = j < times.size
    hr[inside] = 60.0 / ibi[j[inside]]
    # a second more than 2 s before the next beat has no beat in force: a gap
    gap = inside.copy()
    gap[inside] = (times[j[inside]] - secs[inside]) > 2.0
    hr[gap] = np.nan
    return secs, hr


def _score_hr(resp: CueResponse, stream: Stream, onset: float, rules: CueRules) -> None:
    secs, hr = _hr_seconds(stream, onset - rules.pre, onset + rules.post)
    pre, post = hr[secs < onset], hr[secs >= onset]
    if np.mean(np.isfinite(pre)) < rules.min_coverage or np.mean(np.isfinite(post)) < rules.min_coverage:
        resp.quality["hr"] = "too few heart beats in the baseline or response window"
        return
    base = float(np.nanmean(pre))
    resp.hr_change_mean = float(np.nanmean(post) - base)
    resp.hr_change_peak = float(np.nanmax(post) - base)
    resp.traces["hr"] = _trace(secs[np.isfinite(hr)] - 0.5, hr[np.isfinite(hr)], onset, base, rules)


def _breath_rate(t: FloatArray, v: FloatArray) -> float:
    if t.size < 8:
        return math.nan
    rate = (t.size - 1) / max(t[-1] - t[0], 1e-9)
    x = v - np.mean(v)
    peaks, _ = find_peaks(x, distance=max(1, int(1.5 * rate)), prominence=0.3 * float(np.std(x)) if np.std(x) else None)
    if peaks.size < 2:
        return math.nan
    return float(60.0 / np.mean(np.diff(t[peaks])))


def _score_resp(resp: CueResponse, ep: tuple[FloatArray, FloatArray, float | None], onset: float, rules: CueRules) -> None:
    t, v, rate = ep
    if (
        _coverage(t, onset - rules.pre, onset, rate) < rules.min_coverage
        or _coverage(t, onset, onset + rules.post, rate) < rules.min_coverage
    ):
        resp.quality["resp"] = "too little respiration signal in the baseline or response window"
        return
    before, after = _breath_rate(t[t < onset], v[t < onset]), _breath_rate(t[t >= onset], v[t >= onset])
    if not (math.isfinite(before) and math.isfinite(after)):
        resp.quality["resp"] = "fewer than two breaths in a window (windows too short for respiration?)"
        return
    resp.resp_rate_change = after - before


def _score_level(
    resp: CueResponse, measure: str, name: str, ep: tuple[FloatArray, FloatArray, float | None], onset: float,
    rules: CueRules,
) -> None:
    t, v, rate = ep
    if (
        _coverage(t, onset - rules.pre, onset, rate) < rules.min_coverage
        or _coverage(t, onset, onset + rules.post, rate) < rules.min_coverage
    ):
        resp.quality[name] = f"too little {name} signal in the baseline or response window"
        return
    base = float(np.mean(v[t < onset]))
    setattr(resp, measure, float(np.mean(v[t >= onset]) - base))
    resp.traces[name] = _trace(t, v, onset, base, rules)


# --- live ---------------------------------------------------------------------------------------------------
#: seconds of signal after the response window that scoring reads (beat detection needs the next beat)
_LOOKAHEAD = 2.0


class LiveCueScorer:
    """Scores cues during a live session with the offline rules, once each cue's epoch has been received.

    Keeps the last ``pre + post + lookahead`` seconds of every stream (plus the epochs of pending cues).
    :meth:`push` takes a chunk and returns the cues whose epoch is now complete; :meth:`flush` scores the rest at
    the end of a session. Each response is computed by :func:`score_cue` from the same samples the offline
    analysis reads, so live and offline responses are equal.
    """

    def __init__(self, rules: CueRules | None = None, categories: Iterable[str] | None = None) -> None:
        self.rules = rules or CueRules()
        self.categories = None if categories is None else {c.lower() for c in categories}
        self._chunks: dict[str, list[Chunk]] = {}
        self._pending: list[Cue] = []
        self._counts: dict[str, int] = {}
        self._latest = -math.inf

    def add_cue(self, cue: Cue) -> None:
        """Register a cue onset (the VR client's ``cue`` message, a level change, a SUDS prompt)."""
        if not math.isfinite(cue.onset):
            raise SignalError(f"cue {cue.cue_id or cue.category!r} has a non-finite onset")
        if self.categories is None or cue.category.lower() in self.categories:
            self._pending.append(cue)
            self._pending.sort(key=lambda c: c.onset)

    def push(self, chunk: Chunk) -> list[CueResponse]:
        """Add a chunk of samples; returns the responses of cues whose epoch is now complete."""
        if len(chunk):
            self._chunks.setdefault(chunk.stream, []).append(chunk)
            self._latest = max(self._latest, float(chunk.timestamps[-1]))
        ready = [c for c in self._pending if self._complete(c)]
        out = [self._score(c) for c in ready]
        if ready:
            self._pending = [c for c in self._pending if c not in ready]
        self._trim()
        return out

    def flush(self) -> list[CueResponse]:
        """Score every pending cue with what has arrived (end of session)."""
        out = [self._score(c) for c in self._pending]
        self._pending = []
        return out

    def _complete(self, cue: Cue) -> bool:
        """Every regularly sampled stream has passed the epoch's end (irregular ones, such as beat intervals,
        may pause for seconds and do not hold scoring back)."""
        end = cue.onset + self.rules.post + _LOOKAHEAD
        regular = [cs for cs in self._chunks.values() if cs[0].rate]
        return bool(regular) and all(cs[-1].t_last >= end for cs in regular)

    def _recording(self) -> Recording:
        rec = Recording(RecordingMeta(subject="live"))
        for name, cs in self._chunks.items():
            ts = np.concatenate([c.timestamps for c in cs])
            vals = np.concatenate([c.values for c in cs])
            rec.add_stream(Stream(name, cs[0].kind, vals, ts, rate=cs[0].rate))
        return rec

    def _score(self, cue: Cue) -> CueResponse:
        k = self._counts.get(cue.category, 0)
        self._counts[cue.category] = k + 1
        return score_cue(self._recording(), cue, k, self.rules)

    def _trim(self) -> None:
        keep_from = self._latest - (self.rules.pre + self.rules.post + 2 * _LOOKAHEAD)
        if self._pending:
            keep_from = min(keep_from, self._pending[0].onset - self.rules.pre - _LOOKAHEAD)
        for name, cs in self._chunks.items():
            while len(cs) > 1 and cs[0].t_last < keep_from:
                cs.pop(0)
            self._chunks[name] = cs
