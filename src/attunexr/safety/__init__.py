"""Safety monitors (overload, cybersickness, dissociation, signal loss, symptom worsening, PHQ-9 item 9) and the
adverse-event registry."""

from attunexr.safety._adverse import ADVERSE_EVENT_TYPES, AdverseEvent, AdverseEventRegistry
from attunexr.safety._alert import Alert, SafetyAction, SafetyObservation
from attunexr.safety._monitors import (
    CybersicknessMonitor,
    DissociationMonitor,
    OverloadMonitor,
    SafetySupervisor,
    SignalLossMonitor,
    SuicidalityMonitor,
    SymptomWorseningMonitor,
    default_monitors,
)
from attunexr.safety._session import SessionSafety

__all__ = [
    "ADVERSE_EVENT_TYPES",
    "AdverseEvent",
    "AdverseEventRegistry",
    "Alert",
    "CybersicknessMonitor",
    "DissociationMonitor",
    "OverloadMonitor",
    "SafetyAction",
    "SafetyObservation",
    "SafetySupervisor",
    "SessionSafety",
    "SignalLossMonitor",
    "SuicidalityMonitor",
    "SymptomWorseningMonitor",
    "default_monitors",
]
