"""The NeuroKit2 equivalent of attunexr's cardiac and electrodermal features, for benchmarks and parity tests.

Per recording: ``ppg_clean`` + ``ppg_peaks`` (or ``ecg_clean`` + ``ecg_peaks``) over the whole signal,
``eda_process`` over the whole EDA, then ``hrv_time`` + ``hrv_frequency`` per window, and per-window heart rate
(mean of NeuroKit's interpolated rate) and SCR rate (SCR peaks per minute). NeuroKit2 is a test/benchmark
dependency only.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attunexr.recording import Stream
from attunexr.signals import clean_intervals


@dataclass
class ReferenceWindows:
    """Per-window NeuroKit results: heart rate (bpm), RMSSD (ms), whether NeuroKit's beats look clean, SCR/min."""

    hr: np.ndarray
    rmssd: np.ndarray
    clean: np.ndarray
    scr_rate: np.ndarray


def _nk():  # imported lazily: `import neurokit2` alone takes about two seconds
    import neurokit2 as nk

    return nk


def cardiac_peaks(stream: Stream) -> np.ndarray:
    """NeuroKit2 peak indices of an ECG or PPG stream over the whole recording."""
    nk = _nk()
    rate = float(stream.rate or 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if stream.kind == "ecg":
            clean = nk.ecg_clean(stream.values, sampling_rate=rate)
            _, info = nk.ecg_peaks(clean, sampling_rate=rate)
            return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        clean = nk.ppg_clean(stream.values, sampling_rate=rate)
        _, info = nk.ppg_peaks(clean, sampling_rate=rate)
        return np.asarray(info["PPG_Peaks"], dtype=np.int64)


def scr_peaks(stream: Stream) -> np.ndarray:
    """NeuroKit2 ``eda_process`` SCR peak indices over the whole recording."""
    nk = _nk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals, _ = nk.eda_process(stream.values, sampling_rate=float(stream.rate or 0))
    return np.flatnonzero(signals["SCR_Peaks"].to_numpy() == 1)


def reference_windows(
    cardiac: Stream | None, eda: Stream | None, t_start: np.ndarray, t_end: np.ndarray, frequency: bool = True
) -> ReferenceWindows:
    """NeuroKit2 per-window values on the given window grid."""
    nk = _nk()
    n = len(t_start)
    hr = np.full(n, np.nan)
    rmssd = np.full(n, np.nan)
    clean = np.zeros(n, dtype=bool)
    scr = np.full(n, np.nan)
    if cardiac is not None and cardiac.n_samples:
        rate = float(cardiac.rate or 0)
        peaks = cardiac_peaks(cardiac)
        inst = nk.signal_rate(peaks, sampling_rate=rate, desired_length=cardiac.n_samples)
        ts = cardiac.timestamps
        for w in range(n):
            i0, i1 = np.searchsorted(ts, [t_start[w], t_end[w]])
            if i1 - i0 < 0.5 * (t_end[w] - t_start[w]) * rate:
                continue
            pk = peaks[(peaks >= i0) & (peaks < i1)]
            hr[w] = float(np.mean(inst[i0:i1]))
            if pk.size < 4:
                continue
            rr = np.diff(pk) / rate
            clean[w] = bool(clean_intervals(rr).all())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rel = pk - i0
                time_idx = nk.hrv_time(rel, sampling_rate=rate)
                if frequency:
                    # NeuroKit may fail to compute a spectrum for a window; its time is still counted
                    with contextlib.suppress(ValueError, IndexError, ZeroDivisionError):
                        nk.hrv_frequency(rel, sampling_rate=rate)
            rmssd[w] = float(time_idx["HRV_RMSSD"].iloc[0])
    if eda is not None and eda.n_samples:
        rate = float(eda.rate or 0)
        sp = scr_peaks(eda)
        ts = eda.timestamps
        for w in range(n):
            i0, i1 = np.searchsorted(ts, [t_start[w], t_end[w]])
            if i1 - i0 < 0.5 * (t_end[w] - t_start[w]) * rate:
                continue
            scr[w] = float(np.sum((sp >= i0) & (sp < i1))) / ((i1 - i0) / rate / 60.0)
    return ReferenceWindows(hr, rmssd, clean, scr)


def parity(ours: pd.DataFrame, ref: ReferenceWindows, ours_clean_min: float = 0.8) -> dict[str, float]:
    """Parity figures.

    HR mean absolute difference and RMSSD median relative difference on windows both call clean (attunexr:
    ``q_cardiac >= ours_clean_min``; NeuroKit: every one of its beat intervals passes the physiological-range and
    20 %-local-median rules), HR difference on all windows for information, and the median absolute difference of
    the per-window SCR rate.
    """
    hr_all = np.isfinite(ours["hr_mean"].to_numpy()) & np.isfinite(ref.hr)
    both = (
        ref.clean
        & (ours["q_cardiac"].to_numpy() >= ours_clean_min)
        & np.isfinite(ours["rmssd"].to_numpy())
        & np.isfinite(ref.rmssd)
    )
    hr_diff = np.abs(ours["hr_mean"].to_numpy() - ref.hr)
    rel = np.abs(ours["rmssd"].to_numpy()[both] - ref.rmssd[both]) / ref.rmssd[both]
    scr_ok = np.isfinite(ours["scr_rate"].to_numpy()) & np.isfinite(ref.scr_rate)
    scr = np.abs(ours["scr_rate"].to_numpy()[scr_ok] - ref.scr_rate[scr_ok])
    return {
        "hr_mae_bpm": float(np.mean(hr_diff[both])) if both.any() else np.nan,
        "hr_mae_bpm_all_windows": float(np.mean(hr_diff[hr_all])) if hr_all.any() else np.nan,
        "rmssd_median_rel_diff": float(np.median(rel)) if rel.size else np.nan,
        "scr_per_min_median_abs_diff": float(np.median(scr)) if scr.size else np.nan,
        "n_hr_windows_all": int(hr_all.sum()),
        "n_rmssd_windows": int(both.sum()),
        "n_scr_windows": int(scr_ok.sum()),
    }
