"""Build a clinician session's parts from its plan, wiring the project's real components.

The runtime is :class:`attunexr.session.LiveSession` (run by :class:`attunexr.web._live.LiveSessionRunner`); this
module only chooses its parts, and records each in :attr:`SessionSetup.info` (shown on the dashboard and in the
session report):

- source, always an :mod:`attunexr.sensors` source that the session attaches: ``client`` → samples sent by the VR
  client or a sensor bridge over the VR-client protocol (:class:`attunexr.sensors.ClientSource`);
  ``lsl:NAME[,NAME]`` → LSL streams (:class:`attunexr.sensors.LSLSource`) received by the server itself;
  ``ble:ADDRESS[/ecg]`` → a Bluetooth heart-rate chest strap (:class:`attunexr.sensors.BleHeartRateSource`:
  heart rate and RR intervals, and a Polar H10's raw ECG with ``/ecg``) connected to the server (several sensors
  form one :class:`attunexr.sensors.SensorGroup`); ``virtual`` → a virtual patient whose fear responds to the
  exposure level (:class:`attunexr.sensors.SteppedSource`); ``replay:DATASET:SUBJECT`` → a real recording through
  :func:`attunexr.io.datasets.get_dataset` (:class:`attunexr.sensors.ReplaySource` on the session clock);
- analyzer: the plan's model by name (``stress`` by default) from the registry or the operator's models folder
  (:func:`attunexr.models.load_named_model`; a plan never names a path), run with
  :class:`attunexr.features.FeatureStream` by the session's :class:`attunexr.session.LiveSession`;
- controller: :class:`attunexr.exposure.ExposureController` (its bounds gate every escalation);
- safety: the :mod:`attunexr.safety` monitors.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from attunexr.errors import ConfigurationError
from attunexr.exposure import load_hierarchy
from attunexr.io.datasets import get_dataset
from attunexr.models import load_named_model
from attunexr.recording import Recording
from attunexr.sensors import (
    BleHeartRateSource,
    ClientSource,
    LSLSource,
    ReplaySource,
    SensorGroup,
    Source,
    SteppedSource,
    lsl_clock,
)
from attunexr.web._adapters import ControllerAdapter, DetectorAnalyzer, SupervisorAdapter

__all__ = ["SessionSetup", "SudsResponder", "build_session", "load_replay_recording", "scenario_levels"]

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


class SudsResponder(Protocol):
    """A simulated patient who answers SUDS prompts (the virtual patient)."""

    def answer_suds(self, t: float) -> float | None: ...


@dataclass
class SessionSetup:
    """The parts of one clinician session, chosen from its plan (no runtime of its own).

    ``source`` is attached to the session's :class:`attunexr.session.LiveSession`; ``patient`` answers SUDS prompts
    when the signals are simulated; ``info`` says in words and names what runs (dashboard header, report).
    """

    scenario: str
    levels: list[dict[str, Any]]
    source: Source
    analyzer: DetectorAnalyzer
    controller: ControllerAdapter
    safety: SupervisorAdapter
    source_info: dict[str, str]
    patient: SudsResponder | None = None
    start_level: int = 0
    max_level: int = 0
    session_length_s: float | None = None
    suds_every_s: float | None = 120.0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.max_level = max(0, min(self.max_level, len(self.levels) - 1))
        self.start_level = max(0, min(self.start_level, self.max_level))
        self.info = {"scenario": self.scenario, **self.source_info, **self.analyzer.info, **self.controller.info,
                     **self.safety.info}
        # what the dashboard shows a clinician (no module or class names)
        self.info["summary"] = [str(part[key]) for part, key in (
            (self.source_info, "source_words"), (self.analyzer.info, "model_words"),
            (self.controller.info, "controller_words"), (self.safety.info, "safety_words")) if key in part]

    def level_name(self, level: int) -> str:
        return str(self.levels[level]["name"])

    def level_params(self, level: int) -> dict[str, Any]:
        return {k: v for k, v in self.levels[level].items() if k != "name"}


def _source(plan: dict[str, Any], n_levels: int, data_dir: Path | None
            ) -> tuple[Source, dict[str, str], SudsResponder | None]:
    """The plan's signal source as an :mod:`attunexr.sensors` source, its description, and a virtual patient."""
    spec = str(plan.get("source", "virtual"))
    speed = float(plan.get("speed") or 1.0)
    start_level = int(plan.get("start_level", 0))
    if spec == "virtual":
        from attunexr.simulation import VirtualPatientSource

        seed = int(plan.get("seed", 0))
        patient = VirtualPatientSource(n_levels, seed=seed)
        return (SteppedSource(patient.next_second, speed=speed, level=start_level, name=f"virtual-{seed}"),
                dict(patient.info), patient)
    if spec == "client":
        return ClientSource(), {"source": "VR client / sensor samples (live)", "source_kind": "client",
                                "source_words": "signals: live from the VR client and sensors"}, None
    if spec.startswith("replay:"):
        rec = load_replay_recording(spec[len("replay:"):], data_dir)
        zero = rec.t_start + float(plan.get("replay_offset_s", 0.0))
        return (ReplaySource(rec, speed=speed, tmin=zero, clock_zero=zero),
                {"source": f"replay {rec.meta.dataset}:{rec.meta.subject}", "source_kind": "replay",
                 "source_words": f"signals: a real recording replayed ({rec.meta.dataset}, {rec.meta.subject})"},
                None)
    group: SensorGroup
    if spec.startswith("lsl:"):
        names = [n.strip() for n in spec[len("lsl:"):].split(",") if n.strip()]
        if not names:
            raise ConfigurationError("lsl: needs at least one LSL stream name, e.g. lsl:BVP,EDA")
        timeout = float(plan.get("resolve_timeout_s", 5.0))
        group = SensorGroup([LSLSource(name=n, resolve_timeout=timeout) for n in names],
                            "LSL " + ", ".join(names), clock=lsl_clock)
    elif spec.startswith("ble:"):
        address, _, option = spec[len("ble:"):].partition("/")
        if option not in ("", "ecg"):
            raise ConfigurationError(f"ble source {spec!r}: the only option is /ecg (Polar H10 raw ECG)")
        group = SensorGroup([BleHeartRateSource(address=address, ecg=option == "ecg", name=f"ble:{address}")],
                            f"Bluetooth chest strap {address}" + (" with ECG" if option else ""), clock=time.time)
    else:
        raise ConfigurationError(
            f"unknown session source {spec!r}; use virtual, client, lsl:STREAM[,STREAM], "
            "ble:ADDRESS[/ecg] or replay:DATASET:SUBJECT")
    return group, {"source": f"sensors ({group.name})", "source_kind": "sensors",
                   "source_words": f"signals: live sensors ({group.name})"}, None


def build_session(plan: dict[str, Any], *, data_dir: Path | None = None,
                  models_dir: Path | None = None) -> SessionSetup:
    """Choose the parts of one session from its plan (see :class:`attunexr.web._schemas.SessionPlanIn`)."""
    scenario = plan["scenario"]
    levels = plan.get("levels") or scenario_levels(scenario)
    ctl = plan.get("controller", {})
    source, source_info, patient = _source(plan, len(levels), data_dir)
    return SessionSetup(
        scenario=scenario, levels=levels, source=source, source_info=source_info, patient=patient,
        analyzer=_analyzer(plan, models_dir), controller=_controller(plan, len(levels)), safety=_safety(plan),
        start_level=int(plan.get("start_level", 0)), max_level=int(ctl.get("max_level", len(levels) - 1)),
        session_length_s=ctl.get("session_length_s"), suds_every_s=plan.get("suds_every_s", 120.0),
    )
