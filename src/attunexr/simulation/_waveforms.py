"""Waveforms from the per-second physiology: ECG, PPG, EDA, respiration and head pose as a :class:`Recording`.

The recording runs through the real feature pipeline (:func:`attunexr.features.extract` or a live
:class:`attunexr.features.FeatureStream` fed with :meth:`Recording.iter_chunks`) and the real models, exactly like a
recording from sensors.

* Beats: RR intervals ``60 / HR(t)`` plus independent beat-to-beat jitter with SD ``RMSSD / sqrt(2)`` (so the
  RMSSD of the series equals the target); ECG as a sum of Gaussian P, Q, R, S, T waves per beat (McSharry et al.
  2003 style morphology), PPG as a systolic and a dicrotic Gaussian pulse 0.2 s after each R peak.
* EDA: tonic level from the log skin-conductance trace plus SCRs at Poisson times, each a bi-exponential
  (rise 0.75 s, decay 2 s; Benedek & Kaernbach 2010 shape), amplitudes log-normal around 0.3 uS (above the pipeline's 0.1 uS detection threshold).
* Respiration: a sinusoid whose instantaneous frequency is the breathing rate.
* Head pose: yaw turning at the generated angular speed, direction changing at random (avoidance = faster turning,
  freezing = near stillness).
* Wrist temperature and accelerometer (E4-like), so wrist-trained models get every input.
* Signal loss: samples inside loss seconds are dropped, as when a sensor stops delivering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attunexr.recording import Recording, RecordingMeta, Stream
from attunexr.simulation._calibration import SCL_OFFSET

__all__ = ["PhysiologyTrace", "synthesize_recording"]

FloatArray = NDArray[np.float64]

_ECG_WAVES = ((-0.2, 0.15, 0.025), (-0.03, -0.12, 0.010), (0.0, 1.0, 0.012), (0.03, -0.25, 0.012), (0.25, 0.3, 0.05))


@dataclass
class PhysiologyTrace:
    """Per-second physiology of one virtual session (all arrays of equal length, one value per second).

    ``lscl`` is ``log(SCL + 0.05)`` (uS), ``valid`` marks seconds in which the sensors deliver.
    """

    hr: FloatArray
    lscl: FloatArray
    rmssd: FloatArray
    resp: FloatArray
    scr_rate: FloatArray
    head: FloatArray
    valid: NDArray[np.bool_]

    @property
    def seconds(self) -> int:
        return int(self.hr.shape[0])


def _beats(trace: PhysiologyTrace, rng: np.random.Generator) -> FloatArray:
    dur = float(trace.seconds)
    sec = np.arange(trace.seconds) + 0.5
    out = []
    t = 0.3
    while t < dur:
        hr = float(np.interp(t, sec, trace.hr))
        rmssd = float(np.interp(t, sec, trace.rmssd)) / 1000.0
        t += max(60.0 / hr + rng.normal(0.0, rmssd / np.sqrt(2.0)), 0.3)
        out.append(t)
    return np.asarray(out[:-1])


def _stamp(n: int, rate: float, events: FloatArray, offsets: FloatArray, kernel: FloatArray) -> FloatArray:
    """Sum ``kernel`` (sampled at ``offsets`` seconds around each event) into an array of ``n`` samples."""
    out = np.zeros(n)
    idx = np.rint((events[:, None] + offsets[None, :]) * rate).astype(np.int64)
    k = np.broadcast_to(kernel, idx.shape)
    ok = (idx >= 0) & (idx < n)
    np.add.at(out, idx[ok], k[ok])
    return out


def _keep(ts: FloatArray, valid: NDArray[np.bool_]) -> NDArray[np.bool_]:
    sec = np.clip(ts.astype(np.int64), 0, valid.size - 1)
    return valid[sec]


def synthesize_recording(trace: PhysiologyTrace, seed: int = 0, subject: str = "sim0000", session: str = "1",
                         ecg_rate: float = 130.0, ppg_rate: float = 64.0, eda_rate: float = 4.0,
                         resp_rate: float = 25.0, head_rate: float = 30.0) -> Recording:
    """Generate the waveforms of one virtual session (clock zero = start of the trace).

    Each component draws from its own random stream in time order, so a longer trace with the same ``seed``
    reproduces every earlier sample (up to one second before the end, where the next beat's P wave may add):
    the closed-loop simulator re-synthesises the growing trace and sends only the new samples as live chunks.
    """
    g = [np.random.default_rng([seed, k]) for k in range(8)]
    dur = float(trace.seconds)
    sec = np.arange(trace.seconds) + 0.5
    beats = _beats(trace, g[0])

    n = int(dur * ecg_rate)
    ecg = np.zeros(n)
    for centre, amp, width in _ECG_WAVES:
        offs = np.arange(-4 * width, 4 * width, 1.0 / ecg_rate)
        ecg += _stamp(n, ecg_rate, beats + centre, offs, amp * np.exp(-0.5 * (offs / width) ** 2))
    t_ecg = np.arange(n) / ecg_rate
    ecg = 1000.0 * ecg + g[1].normal(0.0, 15.0, n) + 50.0 * np.sin(2 * np.pi * 0.25 * t_ecg)

    m = int(dur * ppg_rate)
    offs = np.arange(-0.4, 0.6, 1.0 / ppg_rate)
    pulse = np.exp(-0.5 * ((offs - 0.0) / 0.09) ** 2) + 0.35 * np.exp(-0.5 * ((offs - 0.28) / 0.1) ** 2)
    ppg = 80.0 * _stamp(m, ppg_rate, beats + 0.2, offs, pulse)
    t_ppg = np.arange(m) / ppg_rate
    ppg += g[2].normal(0.0, 1.5, m) + 5.0 * np.sin(2 * np.pi * 0.2 * t_ppg)

    k = int(dur * eda_rate)
    t_eda = np.arange(k) / eda_rate
    tonic = np.exp(np.interp(t_eda, sec, trace.lscl)) - SCL_OFFSET
    lam = np.interp(np.arange(trace.seconds), sec, trace.scr_rate) / 60.0
    occurs = g[3].random(trace.seconds) < lam
    offsets = g[4].random(trace.seconds)
    amp_z = g[5].normal(0.0, 1.0, trace.seconds)
    scr_t = np.flatnonzero(occurs).astype(np.float64) + offsets[occurs]
    amps = np.exp(np.log(0.3) + 0.3 * amp_z[occurs])
    offs = np.arange(0.0, 15.0, 1.0 / eda_rate)
    shape = (1.0 - np.exp(-offs / 0.75)) * np.exp(-offs / 2.0)
    shape /= shape.max()
    phasic = np.zeros(k)
    for a, ts in zip(amps, scr_t, strict=True):
        phasic += _stamp(k, eda_rate, np.array([ts]), offs, a * shape)
    eda = np.maximum(tonic + phasic + g[6].normal(0.0, 0.002, k), 0.0)

    r = int(dur * resp_rate)
    t_resp = np.arange(r) / resp_rate
    phase = 2 * np.pi * np.cumsum(np.interp(t_resp, sec, trace.resp) / 60.0) / resp_rate
    resp = np.sin(phase) + g[7].normal(0.0, 0.05, r)

    h = int(dur * head_rate)
    t_head = np.arange(h) / head_rate
    speed = np.interp(t_head, sec, trace.head)
    flips = np.cumsum(np.random.default_rng([seed, 8]).random(h) < 0.8 / head_rate) % 2
    yaw = np.radians(np.cumsum(np.where(flips == 0, 1.0, -1.0) * speed) / head_rate)
    quat = np.column_stack([np.zeros(h), np.sin(yaw / 2), np.zeros(h), np.cos(yaw / 2)])
    pos = np.column_stack([np.zeros(h), np.full(h, 1.6), np.zeros(h)])
    head = np.column_stack([pos, quat])

    # wrist skin temperature (4 Hz, slow drift) and wrist accelerometer (32 Hz, gravity plus small movement), as
    # an Empatica E4 delivers them, so models trained on wrist data get every input they expect
    t_temp = np.arange(int(dur * 4.0)) / 4.0
    temp = 33.0 + 0.3 * np.sin(2 * np.pi * t_temp / 900.0) + np.random.default_rng([seed, 9]).normal(0, 0.01, t_temp.size)
    a = int(dur * 32.0)
    t_acc = np.arange(a) / 32.0
    acc_noise = np.random.default_rng([seed, 10]).normal(0.0, 0.02, (a, 3))
    acc = acc_noise + np.array([0.0, 0.0, 1.0])

    def stream(name: str, kind: str, ts: FloatArray, vals: FloatArray, rate: float, **kw: object) -> Stream:
        keep = _keep(ts, trace.valid)
        return Stream(name=name, kind=kind, values=vals[keep], timestamps=ts[keep], rate=rate,
                      device="attunexr simulator", **kw)  # type: ignore[arg-type]

    rec = Recording(RecordingMeta(subject=subject, dataset="attunexr-sim", session=session, device="simulator"))
    rec.add_stream(stream("ecg", "ecg", t_ecg, ecg, ecg_rate))
    rec.add_stream(stream("ppg", "ppg", t_ppg, ppg, ppg_rate))
    rec.add_stream(stream("eda", "eda", t_eda, eda, eda_rate))
    rec.add_stream(stream("resp", "resp", t_resp, resp, resp_rate))
    rec.add_stream(stream("temp", "temp", t_temp, temp, 4.0))
    rec.add_stream(stream("acc", "acc", t_acc, acc, 32.0, channels=("x", "y", "z")))
    rec.add_stream(stream("head_pose", "head_pose", t_head, head, head_rate,
                          channels=("x", "y", "z", "qx", "qy", "qz", "qw")))
    return rec
