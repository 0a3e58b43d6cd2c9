"""A live virtual patient: one simulated person as a sensor source whose fear follows the exposure level.

The model is the simulator's own, nothing copied: the latent fear, habituation and cybersickness move with
:func:`attunexr.simulation.latent_step` (the in-silico studies' dynamics), the per-second physiology with
:func:`attunexr.simulation.physiology_step` and the shipped calibration, and the waveforms (ECG, PPG, EDA,
respiration, head pose, wrist temperature and motion) come from :func:`attunexr.simulation.synthesize_recording` in
blocks of ``block_s`` seconds, so the real feature pipeline and detector see sensor-like data. SUDS answers come
from :func:`attunexr.simulation.suds_report`. Exposure intensity is the current level over the highest level; a
pause drops it to zero. The latent state is never shown to a controller: only the signals and the SUDS answers are.

It is a :class:`attunexr.sensors.Source` (``start``, ``stop``, ``chunks()``) that a
:class:`attunexr.session.LiveSession` attaches like any sensor; the session tells it the exposure level and pause
state (:meth:`VirtualPatientSource.set_level`, :meth:`VirtualPatientSource.set_paused`) and asks it SUDS prompts
(:meth:`VirtualPatientSource.answer_suds`), or simply forwards it the VR-client commands it sends
(:meth:`VirtualPatientSource.handle_command`). A runner that pulls one second at a time uses
:meth:`VirtualPatientSource.next_second`. In-silico data for demonstrations and load tests: not clinical evidence.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk
from attunexr.sensors import ChunkSource
from attunexr.simulation._calibration import Calibration, load_calibration
from attunexr.simulation._dynamics import latent_step, suds_report
from attunexr.simulation._physiology import PhysiologyState, physiology_step
from attunexr.simulation._population import Population, draw_population
from attunexr.simulation._waveforms import PhysiologyTrace, synthesize_recording

__all__ = ["VirtualPatientSource"]

logger = logging.getLogger(__name__)

_TRACE_KEYS = ("hr", "lscl", "rmssd", "resp", "scr_rate", "head")


class VirtualPatientSource(ChunkSource):
    """Signals of one virtual patient on the session clock, responding to the exposure level.

    Parameters
    ----------
    n_levels
        Levels of the hierarchy (intensity = level / (n_levels − 1)).
    seed
        Draw of the person (patient 0 of :func:`attunexr.simulation.draw_population` with this seed) and of the
        noise; the same seed and the same levels give the same signals.
    block_s
        Seconds of waveform generated at once; a level change acts on the physiology from the next block.
    speed
        For :meth:`chunks`: session seconds per wall-clock second (1 = real time, 4 = the demo's clock,
        ``math.inf`` = as fast as the session takes them).
    duration_s
        For :meth:`chunks`: seconds to deliver (``None``: until :meth:`stop`).
    level, paused
        Exposure level and pause state at the start.
    calibration
        Physiology calibration (default: the shipped one).
    """

    def __init__(self, n_levels: int, seed: int = 0, block_s: int = 10, *, speed: float = math.inf,
                 duration_s: float | None = None, level: int = 0, paused: bool = False,
                 calibration: Calibration | None = None, name: str = "virtual-patient") -> None:
        super().__init__()
        if n_levels < 1:
            raise ConfigurationError(f"a virtual patient needs a hierarchy of at least one level, got {n_levels}")
        if int(block_s) < 1:
            raise ConfigurationError(f"block_s must be at least 1 second, got {block_s}")
        if not speed > 0:
            raise ConfigurationError(f"speed must be positive (session seconds per wall-clock second), got {speed}")
        self.name = name
        self.n_levels = int(n_levels)
        self.seed = int(seed)
        self.block_s = int(block_s)
        self.speed = float(speed)
        self.duration_s = duration_s
        self.cal = calibration or load_calibration()
        self.pop: Population = draw_population(1, seed=seed, calibration=self.cal)
        self.rng = np.random.default_rng(seed + 1)
        self.max_idx = max(1, self.n_levels - 1)
        self.level = 0
        self.set_level(level)
        self.paused = bool(paused)
        self.state = PhysiologyState.at_rest(self.pop, (1,))
        self._fear: NDArray[np.float64] = np.zeros(1)
        self._hab: NDArray[np.float64] = np.zeros(1)
        self._sick: NDArray[np.float64] = np.zeros(1)
        self._block: dict[str, tuple[NDArray[np.float64], NDArray[np.float64], float | None, str]] = {}
        self._block_start = 0.0
        self._block_end = 0.0
        self._n_blocks = 0
        self.info = {"source": f"virtual patient (attunexr.simulation, seed {seed})", "source_kind": "virtual",
                     "source_words": "signals: a simulated virtual patient (demonstration, not a person)"}

    # --- what the session tells the patient ---------------------------------------------------------------
    def set_level(self, level: int) -> None:
        """The exposure level the patient is now in (acts on the physiology from the next block)."""
        if not 0 <= int(level) < self.n_levels:
            raise ConfigurationError(f"level {level} is outside the hierarchy's levels 0..{self.n_levels - 1}")
        self.level = int(level)

    def set_paused(self, paused: bool) -> None:
        """Pause (the scene goes neutral: no exposure) or resume."""
        self.paused = bool(paused)

    def answer_suds(self, t: float | None = None) -> float | None:
        """The patient's SUDS answer now (0-100 in steps of 5), or ``None`` when the prompt goes unanswered.

        Latent fear with the person's reporting bias and noise (:func:`attunexr.simulation.suds_report`); ``t`` is
        the prompt's time on the session clock (kept for the record; the answer reflects the current state).
        """
        u_answer = self.rng.random()
        if u_answer < float(self.pop.unanswered_p[0]):
            return None
        _, suds = suds_report(self._fear, self.pop, u_answer, self.rng.random())
        return float(suds[0])

    def handle_command(self, message: Mapping[str, Any]) -> float | None:
        """Act on a VR-client command as a patient in the headset would (``Command.to_message()`` format).

        ``set_level`` moves to the level, ``pause`` / ``resume`` pause or resume the scene, ``prompt_suds`` returns
        the SUDS answer (``None``: unanswered); ``end`` and unknown commands change nothing.
        """
        command = message.get("command")
        if command == "set_level" and message.get("level") is not None:
            self.set_level(int(message["level"]))
        elif command in ("pause", "resume"):
            self.set_paused(command == "pause")
        elif command == "prompt_suds":
            return self.answer_suds()
        return None

    @property
    def fear(self) -> float:
        """The latent fear (0-1): for in-silico checks only, never shown to a controller."""
        return float(self._fear[0])

    # --- signals -------------------------------------------------------------------------------------------
    def _generate(self, t0: float, level: int, paused: bool) -> None:
        intensity = np.array([0.0 if paused else level / self.max_idx])
        pause = np.array([paused])
        cols: dict[str, list[float]] = {k: [] for k in _TRACE_KEYS}
        for _ in range(self.block_s):
            self._fear, self._hab, self._sick = latent_step(
                self._fear, self._hab, self._sick, intensity, pause, self.pop.threshold, self.pop,
                self.rng.standard_normal(1))
            z = self.rng.standard_normal((2, 1))
            sig = physiology_step(self.state, self._fear, self.pop, self.cal, 1.0, z[0], z[1])
            for k in cols:
                cols[k].append(float(np.asarray(sig[k]).reshape(-1)[0]))
        arr = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
        trace = PhysiologyTrace(arr["hr"], arr["lscl"], arr["rmssd"], arr["resp"], arr["scr_rate"], arr["head"],
                                np.ones(self.block_s, dtype=bool))
        rec = synthesize_recording(trace, seed=self.seed * 100_003 + self._n_blocks, subject=f"sim{self.seed:04d}")
        self._n_blocks += 1
        self._block = {n: (s.timestamps + t0, s.values, s.rate, s.kind) for n, s in rec.streams.items()}
        self._block_start, self._block_end = t0, t0 + self.block_s

    def next_second(self, t: float, level: int | None = None, paused: bool | None = None) -> list[Chunk]:
        """The signals of session second ``[t, t + 1)``.

        ``level`` and ``paused`` (when given) update the exposure first, as :meth:`set_level` and
        :meth:`set_paused` do; a runner that pulls one second at a time passes them here.
        """
        if level is not None:
            self.set_level(level)
        if paused is not None:
            self.set_paused(paused)
        if t >= self._block_end or t < self._block_start:
            self._generate(t, self.level, self.paused)
        out = []
        for name, (ts, vals, rate, kind) in self._block.items():
            i0, i1 = np.searchsorted(ts, [t, t + 1.0], side="left")
            if i1 > i0:
                out.append(Chunk(name, kind, ts[i0:i1], vals[i0:i1], rate))
        return out

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Second after second from session time 0, each delivered once its second is over at ``speed``.

        The level and pause state are read at each block boundary, so :meth:`set_level` / :meth:`set_paused`
        act as they would on a person: from the next block on.
        """
        if not self._started:
            await self.start()
        wall0 = time.perf_counter()
        second = 0
        while not self.stopped and (self.duration_s is None or second < self.duration_s):
            if math.isfinite(self.speed):
                delay = wall0 + (second + 1) / self.speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            if self.stopped:
                return
            now = time.perf_counter()
            for chunk in self.next_second(float(second)):
                chunk.received_at = now
                yield chunk
            second += 1

    def head_pose(self, t: float, values: list[float]) -> None:
        """Head pose sent by a VR client is not used: the virtual patient generates its own."""
        return None

    def __repr__(self) -> str:
        return f"<VirtualPatientSource seed={self.seed} level={self.level} paused={self.paused}>"
