"""One virtual patient in closed loop with the real parts: waveforms -> FeatureStream -> detector -> safety
monitors -> ExposureController -> level -> the patient's fear -> waveforms.

This is the slow, faithful path (a few virtual sessions, e.g. for demos and for checking the fast path). The policy
and controller see only what a live session sees: live feature rows turned into :class:`attunexr.models.Estimate`
objects by the detector, SUDS and FMS answers, sample arrival times.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError
from attunexr.exposure import ControllerBounds, Decision, ExposureController, ExposurePolicy, load_hierarchy
from attunexr.recording import Chunk
from attunexr.safety import OverloadMonitor, SafetyObservation, SafetySupervisor, SignalLossMonitor
from attunexr.simulation._calibration import Calibration, load_calibration
from attunexr.simulation._dynamics import latent_step
from attunexr.simulation._physiology import PhysiologyState, physiology_step
from attunexr.simulation._population import Population, draw_population
from attunexr.simulation._waveforms import PhysiologyTrace, synthesize_recording

__all__ = ["ClosedLoopResult", "run_closed_loop_session"]

logger = logging.getLogger(__name__)


@dataclass
class ClosedLoopResult:
    """What happened in a closed-loop virtual session."""

    decisions: list[Decision]
    estimates: list[Any]
    rows: pd.DataFrame
    fear: np.ndarray
    level: np.ndarray
    valid: np.ndarray
    escalations_during_signal_loss: int
    alerts: list[Any] = field(default_factory=list)


def run_closed_loop_session(
    policy: ExposurePolicy,
    detector: Any,
    *,
    patient: int = 0,
    population: Population | None = None,
    calibration: Calibration | None = None,
    baseline_s: int = 180,
    session_s: int = 600,
    start_level: int = 1,
    loss: Sequence[tuple[int, int]] = (),
    prompt_every_s: int = 120,
    seed: int = 0,
    bounds: ControllerBounds | None = None,
    hierarchy: str = "heights",
) -> ClosedLoopResult:
    """Run one session of one virtual patient through the real feature pipeline, detector and controller.

    Parameters
    ----------
    policy
        The exposure policy (the controller runs in ``auto`` mode within ``bounds``).
    detector
        A fitted detector with ``estimate(rows) -> list[Estimate]`` (e.g. ``attunexr.models.load_model("stress")``).
    patient, population
        Which virtual patient (default: patient 0 of a population drawn with ``seed``).
    baseline_s
        Resting baseline recorded before exposure (the detector takes the person's reference from it).
    session_s
        Exposure time after the baseline.
    loss
        Signal-loss episodes ``(start_s, duration_s)`` on the session clock (after the baseline).
    """
    from attunexr.features import FeatureStream

    hop, window = 10, 60
    if session_s % hop or baseline_s % hop or baseline_s < window:
        raise ConfigurationError("session_s and baseline_s must be multiples of 10 s, baseline_s >= 60 s")
    cal = calibration or load_calibration()
    pop = (population or draw_population(patient + 1, seed, cal)).subset(np.array([patient]))
    h = load_hierarchy(hierarchy)
    b = bounds or ControllerBounds(max_level=h.max_index, min_dwell_s=30.0, max_step=2,
                                   session_length_s=float(session_s))
    controller = ExposureController(h, policy, mode="auto", bounds=b, start_level=start_level, t0=float(baseline_s))
    supervisor = SafetySupervisor([OverloadMonitor(), SignalLossMonitor(streams=("ecg", "eda"), max_gap_s=2.0)],
                                  listeners=[controller.observe_alert])
    total = baseline_s + session_s
    valid = np.ones(total, dtype=bool)
    for start, dur in loss:
        valid[baseline_s + start: baseline_s + start + dur] = False
    rng = np.random.default_rng([seed, patient, 99])
    phys = PhysiologyState.at_rest(pop, (1,))
    fear, hab, sick = np.zeros(1), np.zeros(1), np.zeros(1)
    keys = ("hr", "lscl", "rmssd", "resp", "scr_rate", "head")
    per_s: dict[str, list[float]] = {k: [] for k in keys}
    fear_log, level_log = [], []
    stream = FeatureStream(window=float(window), hop=float(hop))
    rows: list[dict[str, Any]] = []
    estimates: list[Any] = []
    sent_until = 0.0
    last_sample: dict[str, float] = {}
    esc_loss = 0
    for s in range(total):
        t = float(s + 1)
        exposing = s >= baseline_s
        intensity = np.array([controller.level / h.max_index if exposing and not controller.paused else 0.0])
        fear, hab, sick = latent_step(fear, hab, sick, intensity, np.array([not exposing]), pop.threshold, pop,
                                      rng.standard_normal(1))
        sig = physiology_step(phys, fear, pop, cal, 1.0, rng.standard_normal(1), rng.standard_normal(1))
        for k in keys:
            per_s[k].append(float(sig[k][0]))
        fear_log.append(float(fear[0]))
        level_log.append(controller.level)
        if int(t) % hop:
            continue
        # the sensors deliver everything up to one second ago (later samples may still change: next beat)
        arr = {k: np.asarray(per_s[k], dtype=np.float64) for k in keys}
        trace = PhysiologyTrace(arr["hr"], arr["lscl"], arr["rmssd"], arr["resp"], arr["scr_rate"], arr["head"],
                                valid[: s + 1])
        rec = synthesize_recording(trace, seed=seed * 1000 + patient)
        upto = t - 1.0
        for st in rec.streams.values():
            i0, i1 = np.searchsorted(st.timestamps, [sent_until, upto], side="left")
            if i1 > i0:
                last_sample[st.name] = float(st.timestamps[i1 - 1])
                for row in stream.push(Chunk(st.name, st.kind, st.timestamps[i0:i1], st.values[i0:i1], st.rate)):
                    row.update({"dataset": "attunexr-sim", "subject": f"sim{patient:04d}", "session": "1"})
                    rows.append(row)
                    frame = pd.DataFrame([row])
                    # the detector takes the person's reference from the rows labelled as the baseline rest
                    frame["label"] = "baseline" if float(frame["t_end"].iat[0]) <= baseline_s else "exposure"
                    est = detector.estimate(frame)[0]
                    estimates.append(est)
                    controller.observe_estimate(est, quality_ok=bool(row.get("quality_ok", False)), t=t)
        sent_until = upto
        latest = estimates[-1] if estimates else None
        obs = SafetyObservation(
            t=t, arousal=None if latest is None or latest.abstained else latest.probability,
            arousal_lower=None if latest is None or latest.abstained else latest.lower,
            abstained=True if latest is None else bool(latest.abstained),
            quality_ok=bool(rows[-1].get("quality_ok", False)) if rows else False, last_sample_t=dict(last_sample))
        if exposing and (s + 1 - baseline_s) % prompt_every_s == 0:
            suds = float(np.clip(round((100 * fear[0] + pop.suds_bias[0] + rng.normal(0, pop.suds_noise[0])) / 5) * 5,
                                 0, 100))
            controller.observe_suds(t, suds)
            obs.suds, obs.suds_t = suds, t
        if not exposing:
            continue
        supervisor.update(obs)
        for d in controller.tick(t):
            if d.kind == "step_up" and d.status == "applied" and not valid[s]:
                esc_loss += 1
        if controller.stopped:
            break
    return ClosedLoopResult(
        decisions=list(controller.log), estimates=estimates, rows=pd.DataFrame(rows),
        fear=np.asarray(fear_log), level=np.asarray(level_log), valid=valid[: len(fear_log)],
        escalations_during_signal_loss=esc_loss, alerts=list(supervisor.alerts),
    )
