"""Second-by-second physiology generated from the latent fear state, and its window features (the fast path).

The same per-second model drives both paths: the waveform generator (:mod:`._waveforms`) turns it into ECG, PPG,
EDA, respiration and head-pose samples for the real feature pipeline; the fast path (:func:`fast_window_features`)
summarises it into window features directly, with measurement noise sized from the pipeline (see the test that
compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attunexr.simulation._calibration import SCL_OFFSET, Calibration
from attunexr.simulation._population import FEAR_AT_LAB_STRESS, Population

__all__ = ["FAST_NOISE", "PhysiologyState", "fast_window_features", "physiology_step", "traces_from_fear"]

FloatArray = NDArray[np.float64]

#: Window-feature measurement noise (SD) added on the fast path: what the pipeline's estimate of a window feature
#: scatters around the generator's true value. Checked against the real pipeline in tests/simulation.
FAST_NOISE: dict[str, float] = {"hr_mean": 0.5, "scl_mean_log": 0.02, "rmssd_log": 0.15, "resp_rate": 0.7,
                                "head_angular_speed": 1.0}

# ASSUMPTIONS on how fear moves the other signals (direction from the psychophysiology literature: vagal withdrawal,
# faster breathing, more SCRs, avoidance head turns then freezing; Kreibig 2010; sizes are assumptions)
#: mean area (uS x s) of one generated SCR: amplitude E[lognormal(log 0.3, 0.3)] x integral of the unit-peak
#: bi-exponential shape (rise 0.75 s, decay 2 s) -- see :mod:`._waveforms`
SCR_MEAN_AREA_US_S = 0.3 * float(np.exp(0.045)) * 3.254
#: responses closer than this merge into one detected SCR (detector gap 2 s plus rise time)
SCR_DEAD_TIME_S = 3.0
_RMSSD_DROP = 0.8
_RESP_RISE = 6.0
_SCR_RISE = 8.0
_OU_HR = (1.5, 30.0)  # bpm SD, time constant s (spontaneous HR wandering)
_OU_LSCL = (0.05, 120.0)


@dataclass
class PhysiologyState:
    """Lagged physiological levels and slow noise, arrays shaped like the fear state."""

    hr_lag: FloatArray
    lscl_lag: FloatArray
    hr_ou: FloatArray
    lscl_ou: FloatArray

    @classmethod
    def at_rest(cls, pop: Population, shape: tuple[int, ...]) -> PhysiologyState:
        return cls(np.broadcast_to(pop.hr0, shape).copy(), np.broadcast_to(pop.lscl0, shape).copy(),
                   np.zeros(shape), np.zeros(shape))


def physiology_step(state: PhysiologyState, fear: FloatArray, pop: Population, cal: Calibration, dt: float,
                    z_hr: FloatArray, z_lscl: FloatArray) -> dict[str, FloatArray]:
    """Advance one step of ``dt`` seconds and return the per-second signals.

    HR and log skin conductance follow first-order responses with the calibrated time constants toward
    ``rest + response * fear / FEAR_AT_LAB_STRESS``; slow Ornstein-Uhlenbeck noise adds spontaneous wandering.
    ``z_hr`` and ``z_lscl`` are standard-normal draws (shared between policies for paired comparisons).
    """
    k = fear / FEAR_AT_LAB_STRESS
    state.hr_lag += (pop.hr0 + pop.dhr * k - state.hr_lag) * (dt / cal.tau_hr_s)
    state.lscl_lag += (pop.lscl0 + np.maximum(pop.dlscl, 0.0) * k - state.lscl_lag) * (dt / cal.tau_scl_s)
    for attr, (sd, tau), z in (("hr_ou", _OU_HR, z_hr), ("lscl_ou", _OU_LSCL, z_lscl)):
        x = getattr(state, attr)
        x += -x * (dt / tau) + sd * np.sqrt(2.0 * dt / tau) * z
    avoid = np.clip((fear - 0.6) / 0.2, 0.0, 1.0)
    freeze = fear > 0.85
    return {
        "hr": state.hr_lag + state.hr_ou,
        "lscl": state.lscl_lag + state.lscl_ou,
        "rmssd": pop.rmssd0 * np.exp(-_RMSSD_DROP * fear),
        "resp": pop.resp0 + _RESP_RISE * fear,
        "scr_rate": pop.scr0 + _SCR_RISE * fear,
        "head": pop.head0 * (1.0 + 0.8 * avoid) * np.where(freeze, 0.3, 1.0),
    }


def fast_window_features(traces: dict[str, FloatArray], valid: NDArray[np.bool_], rng: np.random.Generator,
                         noise_z: dict[str, FloatArray] | None = None) -> dict[str, FloatArray]:
    """Window features from per-second traces of shape ``(window_s, ...)`` without generating waveforms.

    ``valid`` marks seconds with signal (signal-loss seconds are excluded). Returns ``hr_mean`` (bpm),
    ``scl_mean`` (uS), ``rmssd`` (ms), ``resp_rate`` (/min), ``scr_rate`` (/min), ``head_angular_speed`` (deg/s)
    and ``coverage`` (share of valid seconds); features are NaN when fewer than 10 % of seconds are valid.
    """
    n_valid = valid.sum(axis=0)
    cov = n_valid / valid.shape[0]
    denom = np.maximum(n_valid, 1)
    shape = cov.shape

    def z(name: str) -> FloatArray:
        if noise_z is not None and name in noise_z:
            return np.asarray(noise_z[name], dtype=np.float64)
        return np.asarray(rng.standard_normal(shape), dtype=np.float64)

    def wmean(x: FloatArray) -> FloatArray:
        return np.asarray(np.where(valid, x, 0.0).sum(axis=0) / denom, dtype=np.float64)

    out: dict[str, FloatArray] = {}
    if "hr" in traces:
        out["hr_mean"] = wmean(traces["hr"]) + FAST_NOISE["hr_mean"] * z("hr")
    if "lscl" in traces:
        lscl = wmean(traces["lscl"]) + FAST_NOISE["scl_mean_log"] * z("scl")
        # the measured level also holds the mean of the phasic responses riding on the tonic level
        phasic = wmean(traces["scr_rate"]) / 60.0 * SCR_MEAN_AREA_US_S if "scr_rate" in traces else 0.0
        out["scl_mean"] = np.maximum(np.exp(lscl) - SCL_OFFSET + phasic, 0.01)
    if "rmssd" in traces:
        out["rmssd"] = wmean(traces["rmssd"]) * np.exp(FAST_NOISE["rmssd_log"] * z("rmssd"))
    if "resp" in traces:
        out["resp_rate"] = wmean(traces["resp"]) + FAST_NOISE["resp_rate"] * z("resp")
    if "scr_rate" in traces:
        # overlapping responses merge in any detector: a dead-time (paralysable counter) model of what is detected
        lam = wmean(traces["scr_rate"]) / 60.0
        scr_lambda = lam * np.exp(-lam * SCR_DEAD_TIME_S) * n_valid
        out["scr_rate"] = rng.poisson(np.maximum(scr_lambda, 0.0)) / np.maximum(n_valid / 60.0, 1e-9)
    if "head" in traces:
        out["head_angular_speed"] = wmean(traces["head"]) + FAST_NOISE["head_angular_speed"] * z("head")
    out["coverage"] = cov
    bad = cov < 0.1
    for k in out:
        if k != "coverage":
            out[k] = np.where(bad, np.nan, out[k])
    return out


def traces_from_fear(fear: FloatArray, pop: Population, cal: Calibration, seed: int = 0) -> dict[str, FloatArray]:
    """Per-second physiology for a fear time series ``fear[s, p]`` (one column per patient of ``pop``)."""
    rng = np.random.default_rng(seed)
    n_s, n_p = fear.shape
    state = PhysiologyState.at_rest(pop, (n_p,))
    out: dict[str, list[FloatArray]] = {}
    for s in range(n_s):
        z1 = np.asarray(rng.standard_normal(n_p), dtype=np.float64)
        z2 = np.asarray(rng.standard_normal(n_p), dtype=np.float64)
        sig = physiology_step(state, fear[s], pop, cal, 1.0, z1, z2)
        for k, v in sig.items():
            out.setdefault(k, []).append(np.array(v, dtype=np.float64))
    return {k: np.stack(v) for k, v in out.items()}
