"""Adverse events of the :mod:`attunexr.safety` registry -> FHIR ``AdverseEvent``.

R4B and R5 differ here: R4B has ``event``, ``date``, ``severity`` and one ``outcome``; R5 has ``status``, ``code``,
``occurrenceDateTime``, a list of outcomes, no severity element (attunexr sends it as an extension) and a single
causality per suspected entity. The suspected entity is always the VR exposure session (the bundle's Procedure).
"""

from __future__ import annotations

from typing import Any

from attunexr.errors import ConfigurationError
from attunexr.interop import _codes as C
from attunexr.interop._context import ExportContext
from attunexr.interop._time import fhir_datetime
from attunexr.safety import AdverseEvent

__all__ = ["adverse_event_resource"]


def _severity(ev: AdverseEvent) -> dict[str, Any]:
    return C.concept(C.Code(C.AE_SEVERITY, ev.severity, ev.severity.capitalize()))


def _seriousness(ev: AdverseEvent) -> dict[str, Any]:
    code = (
        C.Code(C.AE_SERIOUSNESS, "serious", "Serious")
        if ev.serious
        else C.Code(C.AE_SERIOUSNESS, "non-serious", "Non-serious")
    )
    return C.concept(code)


def _causality(ev: AdverseEvent) -> dict[str, Any]:
    code = C.AE_CAUSALITY_CODES[ev.relatedness]
    return C.concept(code) if code is not None else {"text": ev.relatedness.capitalize()}


def adverse_event_resource(ev: AdverseEvent, ctx: ExportContext) -> dict[str, Any]:
    """One FHIR AdverseEvent (R4B or R5 following ``ctx.version``).

    Parameters
    ----------
    ev
        A registry event; it is validated first.
    ctx
        Export context; the event's subject must be the exported patient (checked by the caller).
    """
    ev.validate()
    when = fhir_datetime(float(ev.t), ctx.start_time, f"adverse event {ev.id} onset")
    event_code = C.concept(C.AE_TYPES[ev.type])
    if ev.description:
        event_code["text"] = f"{C.AE_TYPES[ev.type].display}: {ev.description}"
    res: dict[str, Any] = {
        "resourceType": "AdverseEvent",
        "actuality": "actual",
        "subject": ctx.subject,
        "seriousness": _seriousness(ev),
    }
    identifier = {"system": "urn:attunexr:adverse-event", "value": ev.id}  # R4B: one identifier, R5: a list
    entity: dict[str, Any]
    outcome = C.concept(C.AE_OUTCOMES[ev.outcome])
    notes = [f"action taken: {ev.action_taken.replace('_', ' ')}"]
    notes.append(
        f"confirmed by clinician {ev.confirmed_by}"
        if ev.confirmed_by
        else f"not yet confirmed by a clinician (reported by {ev.source or 'unknown source'})"
    )
    if ctx.version == "R4B":
        res.update(
            {
                "identifier": identifier,
                "event": event_code,
                "date": when,
                "severity": _severity(ev),
                "outcome": outcome,
            }
        )
        entity = {"instance": {"reference": ctx.procedure}, "causality": [{"assessment": _causality(ev)}]}
        res["category"] = [C.concept(C.Code(C.AE_CATEGORY, "AE", "Adverse Event"))]
        # R4B AdverseEvent has no note element: the action taken and confirmation travel as the event text.
        event_code["text"] = f"{event_code['text']} ({'; '.join(notes)})"
    elif ctx.version == "R5":
        res.update(
            {
                "identifier": [identifier],
                "status": "completed",
                "code": event_code,
                "occurrenceDateTime": when,
                "outcome": [outcome],
                "extension": [{"url": C.AE_SEVERITY_EXTENSION, "valueCodeableConcept": _severity(ev)}],
                "note": [{"text": n} for n in notes],
            }
        )
        entity = {
            "instanceReference": {"reference": ctx.procedure},
            "causality": {"entityRelatedness": _causality(ev)},
        }
    else:
        raise ConfigurationError(f"FHIR version {ctx.version!r} is not one of ['R4B', 'R5']")
    res["suspectEntity"] = [entity]
    return res
