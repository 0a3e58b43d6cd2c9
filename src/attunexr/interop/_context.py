"""What every resource of one export needs to know: references, clock and FHIR release."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExportContext"]


@dataclass(frozen=True)
class ExportContext:
    """References and clock shared by the resources of one bundle.

    Parameters
    ----------
    patient
        ``fullUrl`` of the Patient entry.
    procedure
        ``fullUrl`` of the Procedure entry that stands for the VR exposure session.
    start_time
        Unix time (UTC) of recording clock zero, or ``None`` when unknown.
    version
        ``"R4B"`` or ``"R5"``.
    """

    patient: str
    procedure: str
    start_time: float | None
    version: str

    @property
    def subject(self) -> dict[str, str]:
        return {"reference": self.patient}

    @property
    def part_of(self) -> list[dict[str, str]]:
        return [{"reference": self.procedure}]
