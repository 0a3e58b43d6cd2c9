"""The window function: every feature of one window ``[t0, t1)`` from the processed samples of each stream.

Both drivers (:func:`attunexr.features.extract` and :class:`attunexr.features.FeatureStream`) call
:func:`compute_features` with the same processed samples, so they produce the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.signal import sosfiltfilt

from attunexr.features._columns import FEATURE_COLUMNS, QUALITY_COLUMNS
from attunexr.features._processors import BeatWaveProcessor, StreamProcessor
from attunexr.features._spectral import FREQS, lomb_psd
from attunexr.signals import (
    SCR_AMPLITUDE_MIN,
    BoolArray,
    FloatArray,
    butter_sos,
    clean_intervals,
    flatline_fraction,
    missing_fraction,
    scr_detect,
    signal_quality,
)

__all__ = ["compute_features"]

NAN = float("nan")
_DF = float(FREQS[1] - FREQS[0])
_LF = (FREQS >= 0.04) & (FREQS < 0.15)
_HF = (FREQS >= 0.15) & (FREQS < 0.4)
_RESP = (FREQS >= 0.1 - 1e-9) & (FREQS <= 0.5 + 1e-9)
_RESP_F = FREQS[_RESP]

#: cardiac source is used when at least this fraction of its expected samples is present
MIN_COVERAGE = 0.5
#: EDA below this (uS) means the electrodes lost contact with the skin
EDA_CONTACT_MIN = 0.05
#: plausible skin temperature range (degC)
TEMP_RANGE = (20.0, 43.0)
#: head "freezing": angular speed below this (deg/s) and translation speed below HEAD_FREEZE_SPEED (m/s)
HEAD_FREEZE_ANGULAR = 5.0
HEAD_FREEZE_SPEED = 0.02
#: minimum group quality for a row to be ``quality_ok``
QUALITY_OK_MIN = 0.5
#: plausible device-reported heart rate (bpm)
DEVICE_HR_RANGE = (30.0, 220.0)
#: minimum plausible device heart-rate samples in a window for ``device_hr_*``
DEVICE_HR_MIN_SAMPLES = 20
#: minimum device inter-beat intervals in a window for ``ibi_hr``
IBI_MIN_INTERVALS = 10
#: high-pass cut-off (Hz) of the accelerometer magnitude for ``acc_hf``, and the samples it needs
ACC_HF_CUTOFF = 1.0
ACC_HF_MIN_SAMPLES = 100


def _slope(x: FloatArray, y: FloatArray) -> float:
    """Least-squares slope of ``y`` on ``x`` (per unit of ``x``)."""
    n = x.size
    if n < 2:
        return NAN
    xc = x - float(x.sum()) / n
    den = float(xc @ xc)
    return float(xc @ y) / den if den > 0 else NAN


def _std1(x: FloatArray) -> float:
    """Sample standard deviation (ddof 1)."""
    d = x - float(x.sum()) / x.size
    return math.sqrt(float(d @ d) / (x.size - 1))


def _coverage_irregular(t: FloatArray, t0: float, t1: float, max_gap: float = 0.5) -> float:
    """Fraction of ``[t0, t1)`` covered by samples no more than ``max_gap`` apart."""
    if t.size < 2:
        return 0.0
    return float(min(1.0, np.minimum(np.diff(t), max_gap).sum() / (t1 - t0)))


# --- cardiac -------------------------------------------------------------------------------------------
def beat_features(
    beat_t: FloatArray, rr: FloatArray, adjacent: BoolArray, window: float
) -> tuple[dict[str, float], float, float, float]:
    """Cardiac features from intervals ``rr`` (s) ending at ``beat_t``.

    ``adjacent[i]`` says interval ``i`` directly follows interval ``i - 1`` (no missing beat in between).
    Returns ``(features, implausible_fraction, resp_rate, resp_concentration)``.
    """
    out = dict.fromkeys(("hr_mean", "hr_std", "hr_slope", "rmssd", "sdnn", "pnn50", "lf", "hf", "lf_hf"), NAN)
    if rr.size == 0:
        return out, 1.0, NAN, 0.0
    ok = clean_intervals(rr)
    n_ok = int(np.count_nonzero(ok))
    implausible = 1.0 - n_ok / rr.size
    if n_ok < 3:
        return out, implausible, NAN, 0.0
    nn = rr[ok]
    tn = beat_t[ok]
    hr = 60.0 / nn
    nn_sum = float(nn.sum())
    out["hr_mean"] = 60.0 * n_ok / nn_sum
    out["hr_std"] = _std1(hr)
    out["hr_slope"] = _slope(tn, hr) * 60.0
    out["sdnn"] = _std1(nn) * 1000.0
    pairs = ok[1:] & ok[:-1] & adjacent[1:]
    sd = (rr[1:] - rr[:-1])[pairs]
    if sd.size >= 2:
        out["rmssd"] = math.sqrt(float(sd @ sd) / sd.size) * 1000.0
        out["pnn50"] = 100.0 * int(np.count_nonzero(np.abs(sd) > 0.05)) / sd.size
    resp_rate, conc = NAN, 0.0
    if window >= 60.0 and n_ok >= 20 and nn_sum >= 0.5 * window:
        psd = lomb_psd(tn, nn * 1000.0)
        lf = float(psd[_LF].sum()) * _DF
        hf = float(psd[_HF].sum()) * _DF
        out["lf"], out["hf"] = lf, hf
        out["lf_hf"] = lf / hf if hf > 0 else NAN
        band = psd[_RESP]
        total = float(band.sum())
        if total > 0:
            k = int(band.argmax())
            f_peak = float(_RESP_F[k])
            near = np.abs(_RESP_F - f_peak) <= 0.03 + 1e-9
            resp_rate = 60.0 * f_peak
            conc = float(band[near].sum() / total)
    return out, implausible, resp_rate, conc


def _acc_slice(procs: Mapping[str, StreamProcessor], t0: float, t1: float) -> FloatArray | None:
    acc = procs.get("acc")
    if acc is None:
        return None
    i0, i1 = acc.buffer.bounds(t0, t1)
    return acc.buffer.cols["x"][i0:i1]


def _cardiac(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    for kind in ("ecg", "ppg"):
        p = procs.get(kind)
        if not isinstance(p, BeatWaveProcessor) or p.rate is None:
            continue
        i0, i1 = p.buffer.bounds(t0, t1)
        if (i1 - i0) < MIN_COVERAGE * window * p.rate:
            continue
        peaks = p.detector.peak_times
        k0, k1 = np.searchsorted(peaks, [t0, t1], side="left")
        bt = peaks[k0:k1]
        rr = np.diff(bt)
        feats, implausible, resp, conc = beat_features(bt[1:], rr, np.ones(rr.size, dtype=bool), window)
        acc = _acc_slice(procs, t0, t1) if kind == "ppg" else None
        q = signal_quality(
            p.buffer.cols["x"][i0:i1],
            p.rate,
            window,
            implausible,
            acc,
            motion_weight=0.5 if kind == "ppg" else 0.0,
        )
        row.update(feats)
        row["q_cardiac"] = q.score
        row["resp_rate"] = resp
        row["q_resp"] = q.score * conc if math.isfinite(resp) else 0.0
        return
    ibi = procs.get("ibi")
    if ibi is not None:
        i0, i1 = ibi.buffer.bounds(t0, t1)
        if i1 - i0 >= 3:
            bt = ibi.buffer.t[i0:i1]
            rr = ibi.buffer.cols["x"][i0:i1]
            adjacent = np.zeros(rr.size, dtype=bool)
            adjacent[1:] = np.abs(np.diff(bt) - rr[1:]) < 0.05 + 0.1 * rr[1:]
            feats, implausible, resp, conc = beat_features(bt, rr, adjacent, window)
            covered = min(1.0, float(rr[np.isfinite(rr)].sum()) / window)
            q_ibi = covered * (1.0 - implausible)
            row.update(feats)
            row["q_cardiac"] = q_ibi
            row["resp_rate"] = resp
            row["q_resp"] = q_ibi * conc if math.isfinite(resp) else 0.0
            return
    hr = procs.get("hr")
    if hr is not None:
        i0, i1 = hr.buffer.bounds(t0, t1)
        t = hr.buffer.t[i0:i1]
        cover = (
            (1.0 - missing_fraction(i1 - i0, window, hr.rate))
            if hr.rate
            else _coverage_irregular(t, t0, t1, 2.0)
        )
        if cover >= MIN_COVERAGE and i1 - i0 >= 3:
            v = hr.buffer.cols["x"][i0:i1]
            ok = (v >= 30.0) & (v <= 220.0)
            if ok.sum() >= 3:
                row["hr_mean"] = float(v[ok].mean())
                row["hr_std"] = float(v[ok].std(ddof=1))
                row["hr_slope"] = _slope(t[ok], v[ok]) * 60.0
                row["q_cardiac"] = cover * float(ok.mean())


def _device_hr(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    """Heart rate as the device reports it (``hr`` and ``ibi`` streams), independent of any waveform.

    ``device_hr_*`` use the plausible (30-220 bpm) ``hr`` samples in the window (at least
    :data:`DEVICE_HR_MIN_SAMPLES`); ``ibi_hr`` is 60 / median of the intervals whose beat times fall in the window
    (at least :data:`IBI_MIN_INTERVALS`); ``ibi_coverage`` is their sum over the window length (0 when the IBI
    stream has started but reports no beat in the window).
    """
    hr = procs.get("hr")
    if hr is not None:
        i0, i1 = hr.buffer.bounds(t0, t1)
        v = hr.buffer.cols["x"][i0:i1]
        ok = (v >= DEVICE_HR_RANGE[0]) & (v <= DEVICE_HR_RANGE[1])
        if int(np.count_nonzero(ok)) >= DEVICE_HR_MIN_SAMPLES:
            vo = v[ok]
            row["device_hr_mean"] = float(vo.mean())
            row["device_hr_std"] = _std1(vo)
            row["device_hr_slope"] = _slope(hr.buffer.t[i0:i1][ok], vo) * 60.0
    ibi = procs.get("ibi")
    if ibi is not None and ibi.first_t < t1:
        i0, i1 = ibi.buffer.bounds(t0, t1)
        rr = ibi.buffer.cols["x"][i0:i1]
        row["ibi_coverage"] = float(rr.sum()) / window
        if rr.size >= IBI_MIN_INTERVALS:
            row["ibi_hr"] = 60.0 / float(np.median(rr))


def _resp_stream(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    p = procs.get("resp")
    if p is None or p.rate is None:
        return
    i0, i1 = p.buffer.bounds(t0, t1)
    x = p.buffer.cols["x"][i0:i1]
    miss = missing_fraction(x.size, window, p.rate)
    if miss > 0.5 or x.size < 4:
        return
    t = p.buffer.t[i0:i1]
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    if up.size < 2:
        return
    breaths = np.diff(t[up])
    row["resp_rate"] = 60.0 / float(breaths.mean())
    cv = float(breaths.std() / breaths.mean()) if breaths.size > 1 else 1.0
    row["q_resp"] = (1.0 - miss) * max(0.0, 1.0 - cv)


# --- electrodermal -----------------------------------------------------------------------------------
def _eda(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    p = procs.get("eda")
    if p is None or p.rate is None:
        return
    i0, i1 = p.buffer.bounds(t0, t1)
    n = i1 - i0
    miss = missing_fraction(n, window, p.rate)
    if miss > 0.5 or n < 4:
        return
    raw = p.buffer.cols["x"][i0:i1]
    tonic = p.buffer.cols["tonic"][i0:i1]
    phasic = p.buffer.cols["phasic"][i0:i1]
    t = p.buffer.t[i0:i1]
    contact = float(np.mean(raw >= EDA_CONTACT_MIN))
    flat = flatline_fraction(raw, p.rate, min_duration=10.0)
    row["q_eda"] = (1.0 - miss) * (1.0 - flat) * contact
    row["scl_mean"] = float(tonic.mean())
    row["scl_slope"] = _slope(t, tonic) * 60.0
    scr = scr_detect(phasic, p.rate, SCR_AMPLITUDE_MIN)
    minutes = n / p.rate / 60.0
    row["scr_rate"] = len(scr) / minutes
    row["scr_amp_mean"] = float(scr.amplitudes.mean()) if len(scr) else NAN
    row["eda_phasic_area"] = float(np.maximum(phasic, 0.0).mean())
    row["eda_phasic_max"] = float(phasic.max())
    row["eda_dmax"] = float(np.diff(raw).max()) * p.rate
    row["eda_range"] = float(raw.max() - raw.min())


# --- temperature -------------------------------------------------------------------------------------
def _temp(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    p = procs.get("temp")
    if p is None:
        return
    i0, i1 = p.buffer.bounds(t0, t1)
    n = i1 - i0
    if n < 2:
        return
    t = p.buffer.t[i0:i1]
    x = p.buffer.cols["x"][i0:i1]
    cover = 1.0 - missing_fraction(n, window, p.rate) if p.rate else _coverage_irregular(t, t0, t1, 5.0)
    if cover < 0.5:
        return
    plausible = float(np.mean((x >= TEMP_RANGE[0]) & (x <= TEMP_RANGE[1])))
    row["q_temp"] = cover * plausible
    row["temp_mean"] = float(x.mean())
    row["temp_slope"] = _slope(t, x) * 60.0
    row["temp_range"] = float(x.max() - x.min())


# --- motion ------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _highpass_sos(rate: float) -> FloatArray:
    """2nd-order Butterworth high-pass at :data:`ACC_HF_CUTOFF` for a sampling rate (cached per rate)."""
    return butter_sos("highpass", ACC_HF_CUTOFF, rate, 2)


def _acc_hf(mag: FloatArray, rate: float | None) -> float:
    """Mean absolute value of the accelerometer magnitude high-passed at 1 Hz (zero phase), in g.

    Only the window's own samples are filtered (:func:`scipy.signal.sosfiltfilt`), so the value does not depend on
    data outside the window. NaN without a nominal rate above 2 Hz or with fewer than
    :data:`ACC_HF_MIN_SAMPLES` samples.
    """
    if rate is None or rate <= 2.0 * ACC_HF_CUTOFF or mag.size < ACC_HF_MIN_SAMPLES:
        return NAN
    hp = sosfiltfilt(_highpass_sos(float(rate)), mag)
    return float(np.abs(hp).mean())


def _motion(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    qs: list[float] = []
    acc = procs.get("acc")
    if acc is not None:
        i0, i1 = acc.buffer.bounds(t0, t1)
        n = i1 - i0
        cover = (
            (1.0 - missing_fraction(n, window, acc.rate))
            if acc.rate
            else _coverage_irregular(acc.buffer.t[i0:i1], t0, t1)
        )
        if n >= 2 and cover >= 0.5:
            mag = acc.buffer.cols["x"][i0:i1]
            row["acc_mag_mean"] = float(mag.mean())
            row["acc_mag_std"] = float(mag.std())
            row["acc_activity"] = float(np.maximum(mag - 1.0, 0.0).mean())
            row["acc_hf"] = _acc_hf(mag, acc.rate)
            qs.append(cover)
    pose = _window_pose(procs, t0, t1)
    if pose is not None:
        cover = _coverage_irregular(pose.t, t0, t1)
        if pose.t.size >= 3 and cover >= 0.5:
            good, dt = pose.good, pose.dt
            ang = np.degrees(pose.arc)[good] / dt[good]
            lin = np.linalg.norm(pose.step, axis=1)[good] / dt[good]
            if ang.size:
                row["head_angular_speed"] = float(ang.mean())
                row["head_translation_speed"] = float(lin.mean())
                row["head_freezing"] = float(np.mean((ang < HEAD_FREEZE_ANGULAR) & (lin < HEAD_FREEZE_SPEED)))
                qs.append(cover)
    head_cover = _head_motion(procs, t0, t1, row, pose)
    if head_cover is not None:
        qs.append(head_cover)
    if qs:
        row["q_motion"] = float(np.mean(qs))


# --- head motion (IMU or pose) -----------------------------------------------------------------------
#: stillness: angular speed below this (rad/s; = HEAD_FREEZE_ANGULAR deg/s)
HEAD_STILL_RAD_S = math.radians(HEAD_FREEZE_ANGULAR)
#: consecutive head samples further apart than this (s) are not differenced (jerk) and count as a gap (coverage)
HEAD_MAX_GAP = 1.0
#: minimum head samples in a window for head-motion features
HEAD_MIN_SAMPLES = 8
#: spectral bands of the angular speed (Hz): slow 0.05-0.25, fast 0.25-0.95 (below the ~1 Hz Nyquist of a 2 Hz IMU)
HEAD_SLOW_BAND = (0.05, 0.25)
HEAD_FAST_BAND = (0.25, 0.95)
_HEAD_FREQS = np.round(0.05 * np.arange(1, 20, dtype=np.float64), 10)
_HEAD_DF = 0.05


def _band_powers(t: FloatArray, x: FloatArray) -> tuple[float, float]:
    """Power of ``x`` (units^2) in :data:`HEAD_SLOW_BAND` and :data:`HEAD_FAST_BAND` from a periodogram by direct
    Fourier sums over the (irregular) sample times; the fast band is capped below the Nyquist rate of the samples."""
    n = x.size
    span = float(t[-1] - t[0])
    if n < HEAD_MIN_SAMPLES or span <= 0:
        return NAN, NAN
    fs = (n - 1) / span
    y = x - float(x.sum()) / n
    # the frequencies are multiples of _HEAD_DF, so exp(-2πi·k·df·t) = step^k: one exponential per sample, then
    # a running product, instead of one per sample and frequency (the live path computes this every hop)
    step = np.exp(-2j * np.pi * _HEAD_DF * (t - t[0]))
    term = y.astype(np.complex128)
    sums = np.empty(_HEAD_FREQS.size, dtype=np.complex128)
    for k in range(_HEAD_FREQS.size):
        term *= step
        sums[k] = term.sum()
    psd = 2.0 * np.abs(sums) ** 2 / (n * fs)
    slow = (HEAD_SLOW_BAND[0] - 1e-9 <= _HEAD_FREQS) & (HEAD_SLOW_BAND[1] - 1e-9 > _HEAD_FREQS)
    fast = (HEAD_FAST_BAND[0] - 1e-9 <= _HEAD_FREQS) & (min(HEAD_FAST_BAND[1], 0.5 * fs) + 1e-9 >= _HEAD_FREQS)
    p_slow = float(psd[slow].sum()) * _HEAD_DF if span >= 0.75 / HEAD_SLOW_BAND[0] else NAN
    p_fast = float(psd[fast].sum()) * _HEAD_DF if fast.any() else NAN
    return p_slow, p_fast


@dataclass(frozen=True)
class _Pose:
    """A window's finite head-pose samples as steps between consecutive ones (computed once per window)."""

    t: FloatArray
    #: per step between consecutive samples: position change (m), time, whether the time is positive, and the
    #: rotation angle (rad)
    step: FloatArray
    dt: FloatArray
    good: NDArray[np.bool_]
    arc: FloatArray


def _window_pose(procs: Mapping[str, StreamProcessor], t0: float, t1: float) -> _Pose | None:
    """The ``head_pose`` samples of the window with all seven values finite (only the window's own samples: live
    buffers keep nothing before an open window); ``None`` without a head-pose stream."""
    head = procs.get("head_pose")
    if head is None:
        return None
    i0, i1 = head.buffer.bounds(t0, t1)
    cols = head.buffer.cols
    pos = np.stack([cols[f"c{i}"][i0:i1] for i in range(3)], axis=1)
    quat = np.stack([cols[f"c{i}"][i0:i1] for i in range(3, 7)], axis=1)
    t = head.buffer.t[i0:i1]
    valid = np.all(np.isfinite(pos), axis=1) & np.all(np.isfinite(quat), axis=1)
    pos, quat, t = pos[valid], quat[valid], t[valid]
    dt = np.diff(t)
    qn = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    dot = np.abs(np.einsum("ij,ij->i", qn[1:], qn[:-1]))
    return _Pose(t, np.diff(pos, axis=0), dt, dt > 0, 2.0 * np.arccos(np.clip(dot, 0.0, 1.0)))


def _pose_to_imu(pose: _Pose) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-sample (times, acceleration vectors m/s^2, angular speed rad/s) derived from head poses.

    Angular speed from the rotation between consecutive unit quaternions over their time step; acceleration from
    the second difference of positions. Row ``i`` describes the step ending at sample ``i + 1`` (acceleration needs
    three samples, so its first row is NaN).
    """
    t, dt, good = pose.t, pose.dt, pose.good
    ang = np.where(good, pose.arc / np.where(good, dt, 1.0), np.nan)
    vel = np.where(good[:, None], pose.step / np.where(good, dt, 1.0)[:, None], np.nan)
    acc = np.full_like(vel, np.nan)
    if vel.shape[0] > 1:
        dtv = 0.5 * (dt[1:] + dt[:-1])
        acc[1:] = np.diff(vel, axis=0) / np.where(dtv > 0, dtv, np.nan)[:, None]
    return t[1:], acc, ang


def _head_motion(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, row: dict[str, float | bool], pose: _Pose | None
) -> float | None:
    """Head-motion features from the headset IMU (``head_imu``) or, without one, derived from ``head_pose``
    (``pose``: :func:`_window_pose`).

    Returns the coverage used as quality, or ``None`` when the window has too few samples.
    """
    imu = procs.get("head_imu")
    if imu is not None:
        i0, i1 = imu.buffer.bounds(t0, t1)
        cols = imu.buffer.cols
        t = imu.buffer.t[i0:i1]
        acc = np.stack([cols[f"c{i}"][i0:i1] for i in range(3)], axis=1)
        gyro = np.stack([cols[f"c{i}"][i0:i1] for i in range(3, 6)], axis=1)
        ang = np.sqrt(np.sum(gyro * gyro, axis=1))
    else:
        if pose is None or pose.t.size < 3:
            return None
        t, acc, ang = _pose_to_imu(pose)
    fin_w = np.isfinite(ang)
    fin_a = np.all(np.isfinite(acc), axis=1)
    any_ok = fin_w | fin_a
    cover = _coverage_irregular(t[any_ok], t0, t1, HEAD_MAX_GAP)
    if int(any_ok.sum()) < HEAD_MIN_SAMPLES or cover < 0.5:
        return None
    if int(fin_w.sum()) >= HEAD_MIN_SAMPLES:
        w = ang[fin_w]
        tw = t[fin_w]
        row["head_ang_speed_mean"] = float(w.mean())
        row["head_ang_speed_p90"] = float(np.percentile(w, 90))
        row["head_stillness"] = float(np.mean(w < HEAD_STILL_RAD_S))
        row["head_ang_power_slow"], row["head_ang_power_fast"] = _band_powers(tw, w)
    if int(fin_a.sum()) >= HEAD_MIN_SAMPLES:
        a = acc[fin_a]
        ta = t[fin_a]
        mag = np.sqrt(np.sum(a * a, axis=1))
        row["head_acc_mean"] = float(mag.mean())
        row["head_acc_std"] = float(mag.std())
        dt = np.diff(ta)
        near = (dt > 0) & (dt <= HEAD_MAX_GAP)
        if near.any():
            jerk = np.sqrt(np.sum(np.diff(a, axis=0) ** 2, axis=1))[near] / dt[near]
            row["head_jerk_mean"] = float(jerk.mean())
    return cover


# --- gaze / pupil ------------------------------------------------------------------------------------
def _gaze(
    procs: Mapping[str, StreamProcessor], t0: float, t1: float, window: float, row: dict[str, float | bool]
) -> None:
    qs: list[float] = []
    pupil = procs.get("pupil")
    if pupil is not None:
        i0, i1 = pupil.buffer.bounds(t0, t1)
        x = pupil.buffer.cols["x"][i0:i1]
        t = pupil.buffer.t[i0:i1]
        cover = (
            (1.0 - missing_fraction(x.size, window, pupil.rate))
            if pupil.rate
            else _coverage_irregular(t, t0, t1)
        )
        valid = np.isfinite(x)
        if x.size:
            invalid = 1.0 - float(valid.mean())
            row["gaze_invalid"] = invalid
            if valid.sum() >= 2 and cover >= 0.5:
                row["pupil_mean"] = float(x[valid].mean())
                row["pupil_std"] = float(x[valid].std())
                qs.append(cover * (1.0 - invalid))
    gaze = procs.get("gaze")
    if gaze is not None:
        i0, i1 = gaze.buffer.bounds(t0, t1)
        v = np.stack([gaze.buffer.cols[f"c{i}"][i0:i1] for i in range(3)], axis=1)
        t = gaze.buffer.t[i0:i1]
        norm = np.linalg.norm(v, axis=1)
        valid = np.isfinite(norm) & (norm > 0)
        cover = (
            (1.0 - missing_fraction(t.size, window, gaze.rate))
            if gaze.rate
            else _coverage_irregular(t, t0, t1)
        )
        if t.size:
            invalid = 1.0 - float(valid.mean())
            row["gaze_invalid"] = invalid
            if valid.sum() >= 3 and cover >= 0.5:
                u = v[valid] / norm[valid, None]
                m = u.mean(axis=0)
                m /= np.linalg.norm(m)
                ang = np.degrees(np.arccos(np.clip(u @ m, -1.0, 1.0)))
                row["gaze_dispersion"] = float(np.sqrt(np.mean(ang * ang)))
                tv = t[valid]
                dt = np.diff(tv)
                good = dt > 0
                step = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", u[1:], u[:-1]), -1.0, 1.0)))
                if good.any():
                    row["gaze_velocity"] = float(np.median(step[good] / dt[good]))
                qs.append(cover * (1.0 - invalid))
    if qs:
        row["q_gaze"] = float(np.mean(qs))


#: regular streams whose lost samples (NaN gaps, dropouts) count in ``gap_fraction``
GAP_KINDS = ("ecg", "ppg", "hr", "eda", "resp")


def gap_fraction(procs: Mapping[str, StreamProcessor], t0: float, t1: float) -> float:
    """Largest share of ``[t0, t1)`` lost to gaps in a core regular stream (:data:`GAP_KINDS`), in ``[0, 1]``.

    A gap is any stretch without samples where the nominal rate expects some: samples read as NaN (BIDS ``n/a``)
    are never buffered, so they count here exactly like a device dropout. Time before a stream's first sample
    counts as lost too (the stream had not started).
    """
    worst = 0.0
    for kind in GAP_KINDS:
        p = procs.get(kind)
        if p is None or not p.rate:
            continue
        i0, i1 = p.buffer.bounds(t0, t1)
        worst = max(worst, missing_fraction(i1 - i0, t1 - t0, p.rate))
    return worst


def compute_features(procs: Mapping[str, StreamProcessor], t0: float, t1: float) -> dict[str, float | bool]:
    """Every feature and quality column for the window ``[t0, t1)``.

    Parameters
    ----------
    procs
        One processing stage per stream kind (the first stream of each kind).
    t0, t1
        Window start and end in seconds on the recording clock.
    """
    window = t1 - t0
    row: dict[str, float | bool] = dict.fromkeys(FEATURE_COLUMNS, NAN)
    for q in QUALITY_COLUMNS[:-1]:
        row[q] = 0.0
    _cardiac(procs, t0, t1, window, row)
    _device_hr(procs, t0, t1, window, row)
    _resp_stream(procs, t0, t1, window, row)
    _eda(procs, t0, t1, window, row)
    _temp(procs, t0, t1, window, row)
    _motion(procs, t0, t1, window, row)
    _gaze(procs, t0, t1, window, row)
    row["gap_fraction"] = gap_fraction(procs, t0, t1)
    ok = float(row["q_cardiac"]) >= QUALITY_OK_MIN
    if "eda" in procs:
        ok = ok and float(row["q_eda"]) >= QUALITY_OK_MIN
    row["quality_ok"] = bool(ok)
    return row
