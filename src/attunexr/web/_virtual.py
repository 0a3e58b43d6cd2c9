"""A live virtual patient for demos and load tests, built from :mod:`attunexr.simulation`.

One person is drawn from the simulated population (:func:`attunexr.simulation.draw_population`); each second the
latent fear moves toward ``gain × (intensity − threshold) × (1 − habituation)`` with the person's time constant and
habituates within the session (the dynamics of :func:`attunexr.simulation.run_study`); the physiology follows
through :func:`attunexr.simulation.physiology_step` with the shipped calibration, and waveforms (ECG, PPG, EDA,
respiration, head pose) come from the simulator's waveform generator in blocks of ``block_s`` seconds, so that the
real feature pipeline and detector see sensor-like data. Exposure intensity is the current level over the highest
level; a pause drops it to zero. The latent state is never shown to the controller: only the signals are. In-silico
data: not clinical evidence.
"""

from __future__ import annotations

import logging

import numpy as np

from attunexr.recording import Chunk

__all__ = ["VirtualPatientSource"]

logger = logging.getLogger(__name__)


class VirtualPatientSource:
    """Signals of one virtual patient, one second at a time, responding to the exposure level.

    Parameters
    ----------
    n_levels
        Levels of the hierarchy (intensity = level / (n_levels − 1)).
    seed
        Draw of the person and of the noise.
    block_s
        Seconds of waveform generated at once (a level change acts on the physiology from the next block).
    """

    def __init__(self, n_levels: int, seed: int = 0, block_s: int = 10) -> None:
        from attunexr.simulation import PhysiologyState, draw_population, load_calibration

        self.cal = load_calibration()
        self.pop = draw_population(1, seed=seed, calibration=self.cal)
        self.rng = np.random.default_rng(seed + 1)
        self.seed = seed
        self.max_idx = max(1, n_levels - 1)
        self.block_s = int(block_s)
        self.state = PhysiologyState.at_rest(self.pop, (1,))
        self.fear = np.zeros(1)
        self.hab = np.zeros(1)
        self._block: dict[str, tuple[np.ndarray, np.ndarray, float | None, str]] = {}
        self._block_start = 0.0
        self._block_end = 0.0
        self._n_blocks = 0
        self.info = {"source": f"virtual patient (attunexr.simulation, seed {seed})", "source_kind": "virtual",
                     "source_words": "signals: a simulated virtual patient (demonstration, not a person)"}

    def _generate(self, t0: float, level: int, paused: bool) -> None:
        from attunexr.simulation import physiology_step
        from attunexr.simulation._waveforms import PhysiologyTrace, synthesize_recording

        intensity = 0.0 if paused else level / self.max_idx
        pop = self.pop
        cols: dict[str, list[float]] = {k: [] for k in ("hr", "lscl", "rmssd", "resp", "scr_rate", "head")}
        for _ in range(self.block_s):
            target = np.clip(pop.gain * np.maximum(intensity - pop.threshold, 0.0) * (1.0 - self.hab) + 0.03, 0, 1)
            self.fear = np.clip(self.fear + (target - self.fear) / pop.tau_fear_s
                                + 0.01 * self.rng.standard_normal(1), 0.0, 1.0)
            self.hab = self.hab + self.fear * (pop.hab_max - self.hab) / pop.hab_tau_s
            z = self.rng.standard_normal((2, 1))
            sig = physiology_step(self.state, self.fear, pop, self.cal, 1.0, z[0], z[1])
            for k in cols:
                cols[k].append(float(np.asarray(sig[k]).reshape(-1)[0]))
        trace = PhysiologyTrace(**{k: np.asarray(v) for k, v in cols.items()},
                                valid=np.ones(self.block_s, dtype=bool))
        rec = synthesize_recording(trace, seed=self.seed * 100_003 + self._n_blocks, subject=f"sim{self.seed:04d}")
        self._n_blocks += 1
        self._block = {name: (s.timestamps + t0, s.values, s.rate, s.kind) for name, s in rec.streams.items()}
        self._block_start, self._block_end = t0, t0 + self.block_s

    def next_second(self, t: float, level: int, paused: bool) -> list[Chunk] | None:
        if t >= self._block_end or t < self._block_start:
            self._generate(t, level, paused)
        out = []
        for name, (ts, vals, rate, kind) in self._block.items():
            i0, i1 = np.searchsorted(ts, [t, t + 1.0], side="left")
            if i1 > i0:
                out.append(Chunk(name, kind, ts[i0:i1], vals[i0:i1], rate))
        return out

    def answer_suds(self, t: float) -> float | None:
        """The patient's SUDS answer now (latent fear with the person's reporting bias and noise), or ``None`` when
        the prompt goes unanswered."""
        pop = self.pop
        if self.rng.random() < float(pop.unanswered_p[0]):
            return None
        raw = 100.0 * float(self.fear[0]) + float(pop.suds_bias[0]) + float(pop.suds_noise[0]) * (
            2.0 * self.rng.random() - 1.0) * 1.7
        return float(np.clip(round(raw / 5.0) * 5.0, 0.0, 100.0))

    def head_pose(self, t: float, values: list[float]) -> None:
        return None
