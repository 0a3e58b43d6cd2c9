"""Exchange with clinical systems: FHIR Bundles of a session's physiology, model estimates, instruments and
adverse events (R4B by default, R5 on request), validated by ``fhir.resources``.

The patient appears by pseudonym only (identifier system :data:`PSEUDONYM_SYSTEM`). Codes: LOINC where LOINC has
one (heart rate 8867-4, respiratory rate 9279-1, GAD-7 total 70274-6, PHQ-9 total 44261-6), the project
CodeSystem :data:`CODE_SYSTEM` otherwise; units are UCUM.
"""

from attunexr.interop._bundle import (
    FHIR_VERSIONS,
    bundle_summary,
    read_bundle,
    session_bundle,
    write_bundle,
)
from attunexr.interop._codes import CODE_SYSTEM, LOINC, PSEUDONYM_SYSTEM, UCUM
from attunexr.interop._instruments import INSTRUMENTS, InstrumentAdministration
from attunexr.interop._physiology import PHYSIOLOGY_EXPORTS

__all__ = [
    "CODE_SYSTEM",
    "FHIR_VERSIONS",
    "INSTRUMENTS",
    "LOINC",
    "PHYSIOLOGY_EXPORTS",
    "PSEUDONYM_SYSTEM",
    "UCUM",
    "InstrumentAdministration",
    "bundle_summary",
    "read_bundle",
    "session_bundle",
    "write_bundle",
]
