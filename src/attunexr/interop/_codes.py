"""Code systems, codes and units used in attunexr FHIR exports.

LOINC codes for what LOINC names (heart rate 8867-4, respiratory rate 9279-1, GAD-7 total 70274-6, PHQ-9 total
44261-6); everything else uses the project CodeSystem :data:`CODE_SYSTEM`. Units are UCUM
(https://ucum.org): ``/min``, ``uS`` (microsiemens), ``1`` (dimensionless) and ``{score}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attunexr.safety import ADVERSE_EVENT_TYPES

__all__ = [
    "CODE_SYSTEM",
    "LOINC",
    "OBSERVATION_CATEGORY",
    "PSEUDONYM_SYSTEM",
    "QUESTIONNAIRE_PREFIX",
    "UCUM",
    "Code",
    "coding",
    "concept",
    "quantity",
]

#: Identifier system of patient pseudonyms. attunexr never exports names or other direct identifiers.
PSEUDONYM_SYSTEM = "urn:attunexr:pseudonym"
#: The project CodeSystem for concepts without a LOINC code.
CODE_SYSTEM = "urn:attunexr:codes"
#: Canonical prefix of attunexr questionnaires (``urn:attunexr:questionnaire:gad7`` ...).
QUESTIONNAIRE_PREFIX = "urn:attunexr:questionnaire:"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
AE_SEVERITY = "http://terminology.hl7.org/CodeSystem/adverse-event-severity"
AE_SERIOUSNESS = "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
AE_OUTCOME = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome"
AE_CAUSALITY = "http://terminology.hl7.org/CodeSystem/adverse-event-causality-assess"
AE_CATEGORY = "http://terminology.hl7.org/CodeSystem/adverse-event-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


@dataclass(frozen=True)
class Code:
    """One code: its system, code and display text."""

    system: str
    code: str
    display: str


def coding(code: Code) -> dict[str, Any]:
    """A FHIR ``Coding`` as a dict."""
    return {"system": code.system, "code": code.code, "display": code.display}


def concept(code: Code) -> dict[str, Any]:
    """A FHIR ``CodeableConcept`` with one coding and the display as text."""
    return {"coding": [coding(code)], "text": code.display}


def quantity(value: float, unit: str, display_unit: str | None = None) -> dict[str, Any]:
    """A UCUM ``Quantity``; ``value`` is rounded to 6 decimals (far below any sensor's resolution)."""
    return {"value": round(float(value), 6), "unit": display_unit or unit, "system": UCUM, "code": unit}


# --- physiology ------------------------------------------------------------------------------------------------
HEART_RATE = Code(LOINC, "8867-4", "Heart rate")
RESPIRATORY_RATE = Code(LOINC, "9279-1", "Respiratory rate")
SKIN_CONDUCTANCE = Code(CODE_SYSTEM, "skin-conductance", "Skin conductance level (tonic)")
AROUSAL = Code(CODE_SYSTEM, "arousal-estimate", "Model estimate of physiological arousal")
AROUSAL_PROBABILITY = Code(CODE_SYSTEM, "arousal-probability", "Calibrated probability of arousal")
AROUSAL_LOWER = Code(CODE_SYSTEM, "arousal-probability-lower", "Lower bound of the arousal probability")
AROUSAL_UPPER = Code(CODE_SYSTEM, "arousal-probability-upper", "Upper bound of the arousal probability")
WINDOW_COUNT = Code(CODE_SYSTEM, "window-count", "Number of feature windows summarized")
ABSTAINED_COUNT = Code(CODE_SYSTEM, "abstained-window-count", "Number of windows where the model abstained")
SIGNAL_QUALITY = Code(CODE_SYSTEM, "signal-quality", "Mean signal-quality index (0 absent .. 1 perfect)")
PHYSIOLOGY_CATEGORY = Code(CODE_SYSTEM, "physiology", "Wearable physiology summary")
VITAL_SIGNS = Code(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")
SURVEY = Code(OBSERVATION_CATEGORY, "survey", "Survey")
VR_SESSION = Code(CODE_SYSTEM, "vr-exposure-session", "attunexr monitored VR exposure session")

# --- instruments: (total code, unit, questionnaire title) --------------------------------------------------------
INSTRUMENT_TOTALS: dict[str, Code] = {
    "gad7": Code(LOINC, "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
    "phq9": Code(LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "pcl5": Code(CODE_SYSTEM, "pcl5-total", "PTSD Checklist for DSM-5 (PCL-5) total score"),
    "ssq": Code(CODE_SYSTEM, "ssq-total", "Simulator Sickness Questionnaire (SSQ) total score"),
    "suds": Code(CODE_SYSTEM, "suds", "Subjective Units of Distress (SUDS, 0-100)"),
    "fms": Code(CODE_SYSTEM, "fms", "Fast Motion Sickness scale (FMS, 0-20)"),
}
SSQ_SUBSCALES: dict[str, Code] = {
    "nausea": Code(CODE_SYSTEM, "ssq-nausea", "SSQ nausea subscale score"),
    "oculomotor": Code(CODE_SYSTEM, "ssq-oculomotor", "SSQ oculomotor subscale score"),
    "disorientation": Code(CODE_SYSTEM, "ssq-disorientation", "SSQ disorientation subscale score"),
}
INSTRUMENT_TITLES: dict[str, str] = {
    "gad7": "GAD-7",
    "phq9": "PHQ-9",
    "pcl5": "PCL-5",
    "ssq": "SSQ",
    "suds": "SUDS",
    "fms": "FMS",
}

# --- adverse events -------------------------------------------------------------------------------------------
#: attunexr outcome -> HL7 adverse-event-outcome code.
AE_OUTCOMES: dict[str, Code] = {
    "resolved": Code(AE_OUTCOME, "resolved", "Resolved"),
    "resolving": Code(AE_OUTCOME, "recovering", "Recovering"),
    "not_resolved": Code(AE_OUTCOME, "ongoing", "Ongoing"),
    "resolved_with_sequelae": Code(AE_OUTCOME, "resolvedWithSequelae", "Resolved with Sequelae"),
    "fatal": Code(AE_OUTCOME, "fatal", "Fatal"),
    "unknown": Code(AE_OUTCOME, "unknown", "Unknown"),
}
#: attunexr relatedness -> WHO-UMC causality code (``unrelated`` has none and is sent as text).
AE_CAUSALITY_CODES: dict[str, Code | None] = {
    "definite": Code(AE_CAUSALITY, "Certain", "Certain"),
    "probable": Code(AE_CAUSALITY, "Probably-Likely", "Probably/Likely"),
    "possible": Code(AE_CAUSALITY, "Possible", "Possible"),
    "unlikely": Code(AE_CAUSALITY, "Unlikely", "Unlikely"),
    "unrelated": None,
}
AE_TYPES: dict[str, Code] = {
    t: Code(CODE_SYSTEM, f"ae-{t.replace('_', '-')}", t.replace("_", " ").capitalize())
    for t in ADVERSE_EVENT_TYPES
}
AE_SEVERITY_EXTENSION = "urn:attunexr:fhir:adverse-event-severity"
