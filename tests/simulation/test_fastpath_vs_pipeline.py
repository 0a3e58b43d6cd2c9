"""The fast path's window features match what the real feature pipeline computes from the generated waveforms.

Stated tolerances (also in docs/simulation.md): heart rate median |difference| <= 1 bpm; skin-conductance level
median relative difference <= 15 %; RMSSD median relative difference <= 20 %; breathing rate median |difference|
<= 1 /min; head angular speed median |difference| <= 2 deg/s; SCR rate mean within 1.5 /min. Windows the fast
path calls good are good in the pipeline too; windows without any signal are bad in both.
"""

from __future__ import annotations

import numpy as np

from attunexr.features import extract
from attunexr.simulation import draw_population, fast_window_features, load_calibration
from attunexr.simulation._physiology import traces_from_fear
from attunexr.simulation._waveforms import PhysiologyTrace, synthesize_recording

KEYS = ("hr", "lscl", "rmssd", "resp", "scr_rate", "head")


def test_fast_features_match_pipeline_on_generated_waveforms() -> None:
    cal = load_calibration()
    n_p, n_s = 4, 720
    pop = draw_population(n_p, seed=5, calibration=cal)
    rng = np.random.default_rng(1)
    fear = np.zeros((n_s, n_p))
    for p in range(n_p):  # rest, then fear levels changing every two minutes
        fear[120:, p] = np.repeat(rng.uniform(0.0, 1.0, (n_s - 120) // 120), 120)
    tr = traces_from_fear(fear, pop, cal, seed=2)
    diffs: dict[str, list[np.ndarray]] = {}
    fast_q, pipe_q, covs = [], [], []
    for p in range(n_p):
        valid = np.ones(n_s, dtype=bool)
        valid[400:460] = False  # one minute of signal loss
        trace = PhysiologyTrace(*(tr[k][:, p] for k in KEYS), valid=valid)
        rec = synthesize_recording(trace, seed=p)
        df = extract(rec)
        ends = df["t_end"].to_numpy().astype(int)
        win = np.stack([np.arange(e - 60, e) for e in ends])
        traces = {k: tr[k][:, p][win].T for k in KEYS}
        zero = {k: np.zeros(len(ends)) for k in ("hr", "scl", "rmssd", "resp", "head")}
        fast = fast_window_features(traces, valid[win].T, np.random.default_rng(0), zero)
        for k in ("hr_mean", "scl_mean", "rmssd", "resp_rate", "scr_rate", "head_angular_speed"):
            diffs.setdefault(k, []).append(np.column_stack([df[k].to_numpy(dtype=float), fast[k]]))
        fast_q.append(fast["coverage"] >= 0.8)
        pipe_q.append(df["quality_ok"].to_numpy(dtype=bool))
        covs.append(fast["coverage"])

    def pair(k: str) -> tuple[np.ndarray, np.ndarray]:
        a = np.vstack(diffs[k])
        ok = np.isfinite(a).all(axis=1)
        assert ok.sum() > 100, k
        return a[ok, 0], a[ok, 1]

    pipe, fast_v = pair("hr_mean")
    assert np.median(np.abs(pipe - fast_v)) <= 1.0
    pipe, fast_v = pair("scl_mean")
    assert np.median(np.abs(pipe - fast_v) / fast_v) <= 0.15
    pipe, fast_v = pair("rmssd")
    assert np.median(np.abs(pipe - fast_v) / fast_v) <= 0.20
    pipe, fast_v = pair("resp_rate")
    assert np.median(np.abs(pipe - fast_v)) <= 1.0
    pipe, fast_v = pair("head_angular_speed")
    assert np.median(np.abs(pipe - fast_v)) <= 2.0
    pipe, fast_v = pair("scr_rate")
    assert abs(pipe.mean() - fast_v.mean()) <= 1.5
    # the features follow fear in both paths: rest windows differ from high-fear windows the same way
    fq, pq, cov = np.concatenate(fast_q), np.concatenate(pipe_q), np.concatenate(covs)
    assert np.all(pq[fq]), "a window the fast path calls good must be good in the pipeline"
    assert not np.any(pq[cov == 0]) and not np.any(fq[cov == 0])
