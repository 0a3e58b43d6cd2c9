"""Build a :class:`~attunexr.web._engine.SessionEngine` from a session plan, wiring the project's real components.

Which parts are used (each is recorded in ``engine.info`` and in the session report):

- source: ``client`` → samples sent by the VR client or a sensor bridge over the VR-client protocol;
  ``lsl:NAME[,NAME]`` → LSL streams (:class:`attunexr.sensors.LSLSource`) received by the server itself;
  ``ble:ADDRESS[/ecg]`` → a Bluetooth heart-rate chest strap (:class:`attunexr.sensors.BleHeartRateSource`:
  heart rate and RR intervals, and a Polar H10's raw ECG with ``/ecg``) connected to the server;
  ``virtual`` → a virtual patient from :mod:`attunexr.simulation` whose fear responds to the exposure
  level; ``replay:DATASET:SUBJECT`` → a real recording through :func:`attunexr.io.datasets.get_dataset`
  replayed second by second;
- analyzer: the plan's model by name (``stress`` by default) from the registry or the operator's models folder
  (:func:`attunexr.models.load_named_model`; a plan never names a path), run with
  :class:`attunexr.features.FeatureStream` by the session's :class:`attunexr.session.LiveSession`;
- controller: :class:`attunexr.exposure.ExposureController` (its bounds gate every escalation);
- safety: the :mod:`attunexr.safety` monitors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from attunexr.errors import ConfigurationError
from attunexr.exposure import load_hierarchy
from attunexr.io.datasets import get_dataset
from attunexr.models import load_named_model
from attunexr.recording import Recording
from attunexr.web._adapters import ControllerAdapter, DetectorAnalyzer, SupervisorAdapter
from attunexr.web._engine import ClientSource, ReplaySource, SensorSource, SessionEngine

__all__ = ["build_engine", "load_replay_recording", "scenario_levels"]

logger = logging.getLogger(__name__)


def load_replay_recording(spec: str, data_dir: Path | None = None) -> Recording:
    """Load ``DATASET:SUBJECT`` (e.g. ``stress-predict:S02``) as a :class:`Recording`."""
    try:
        dataset, subject = spec.split(":", 1)
    except ValueError as err:
        raise ConfigurationError(f"replay source {spec!r} must look like DATASET:SUBJECT, e.g. stress-predict:S02") from err
    return get_dataset(dataset).load(subject, data_dir=data_dir)


def _analyzer(plan: dict[str, Any], models_dir: Path | None = None) -> DetectorAnalyzer:
    """The plan's model by name (``stress`` by default) from the registry or ``models_dir``; a missing model is an
    error, never a silent stand-in."""
    name = plan.get("model", "stress")
    return DetectorAnalyzer(load_named_model(name, models_dir), model_name=name)


def _controller(plan: dict[str, Any], n_levels: int) -> ControllerAdapter:
    ctl = plan.get("controller", {})
    saf = plan.get("safety", {})
    max_level = min(int(ctl.get("max_level", n_levels - 1)), n_levels - 1)
    window = tuple(ctl.get("window", (0.35, 0.7)))
    bounds = {"max_level": max_level, "min_dwell_s": float(ctl.get("min_dwell_s", 60.0)),
              "max_step": int(ctl.get("max_step", 1)),
              "session_length_s": float(ctl.get("session_length_s") or 1e9),
              "arousal_ceiling": float(saf.get("arousal_ceiling", 0.9)),
              "suds_ceiling": float(saf.get("suds_ceiling", 85.0))}
    policy = ctl.get("policy", "arousal")
    params = {"low": float(window[0]), "high": float(window[1])} if policy == "arousal" else {}
    return ControllerAdapter(levels=n_levels, scenario=plan["scenario"], mode=ctl.get("mode", "propose"),
                             policy=policy, bounds=bounds, start_level=int(plan.get("start_level", 0)),
                             proposal_ttl_s=float(ctl.get("proposal_expiry_s", 120.0)), policy_params=params)


def _safety(plan: dict[str, Any]) -> SupervisorAdapter:
    return SupervisorAdapter(plan.get("safety", {}))


def scenario_levels(scenario: str) -> list[dict[str, Any]]:
    """The scenario's hierarchy from :mod:`attunexr.exposure` (the one level catalogue), as the VR client gets it."""
    return load_hierarchy(scenario).client_levels()


def build_engine(plan: dict[str, Any], *, data_dir: Path | None = None,
                 models_dir: Path | None = None) -> SessionEngine:
    """Assemble the engine for one session from its plan (see :class:`attunexr.web._schemas.SessionPlanIn`)."""
    scenario = plan["scenario"]
    custom = plan.get("levels")
    levels = custom or scenario_levels(scenario)
    ctl = plan.get("controller", {})
    source_spec = plan.get("source", "virtual")
    source: Any
    if source_spec == "virtual":
        from attunexr.simulation import VirtualPatientSource

        source = VirtualPatientSource(len(levels), seed=int(plan.get("seed", 0)))
    elif source_spec == "client":
        source = ClientSource()
    elif source_spec.startswith("replay:"):
        source = ReplaySource(load_replay_recording(source_spec[len("replay:"):], data_dir),
                                   offset_s=float(plan.get("replay_offset_s", 0.0)))
    elif source_spec.startswith("lsl:"):
        from attunexr.sensors import LSLSource, lsl_clock

        names = [n.strip() for n in source_spec[len("lsl:"):].split(",") if n.strip()]
        if not names:
            raise ConfigurationError("lsl: needs at least one LSL stream name, e.g. lsl:BVP,EDA")
        sources = [LSLSource(name=n, resolve_timeout=float(plan.get("resolve_timeout_s", 5.0))) for n in names]
        source = SensorSource(sources, "LSL " + ", ".join(names), clock=lsl_clock)
    elif source_spec.startswith("ble:"):
        import time

        from attunexr.sensors import BleHeartRateSource

        address, _, option = source_spec[len("ble:"):].partition("/")
        if option not in ("", "ecg"):
            raise ConfigurationError(f"ble source {source_spec!r}: the only option is /ecg (Polar H10 raw ECG)")
        source = SensorSource([BleHeartRateSource(address=address, ecg=option == "ecg", name=f"ble:{address}")],
                              f"Bluetooth chest strap {address}" + (" with ECG" if option else ""),
                              clock=time.time)
    else:
        raise ConfigurationError(
            f"unknown session source {source_spec!r}; use virtual, client, lsl:STREAM[,STREAM], "
            "ble:ADDRESS[/ecg] or replay:DATASET:SUBJECT")
    controller = _controller(plan, len(levels))
    return SessionEngine(
        scenario=scenario, levels=levels, source=source, analyzer=_analyzer(plan, models_dir), controller=controller,
        safety=_safety(plan), start_level=int(plan.get("start_level", 0)),
        max_level=int(ctl.get("max_level", len(levels) - 1)),
        session_length_s=ctl.get("session_length_s"), suds_every_s=plan.get("suds_every_s", 120.0),
    )
