"""FHIR R5 ResearchStudy and ResearchSubject resources of a trial (validated with ``fhir.resources``).

Subjects are referenced by study pseudonym only (``Patient/<code>`` placeholders to be mapped by the receiving
system). ``assignedComparisonGroup`` carries the arm and is therefore written only when ``include_arms`` is set
(an unblinded export).
"""

from __future__ import annotations

from typing import Any

from attunexr.trials._data import TrialData

__all__ = ["research_bundle"]

_SYSTEM = "urn:attunexr:trial"


def _fid(text: str) -> str:
    """A FHIR id ([A-Za-z0-9-.]): underscores become hyphens."""
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)[:64]


def research_bundle(data: TrialData, include_arms: bool = False) -> dict[str, Any]:
    """A collection Bundle: one ResearchStudy and one ResearchSubject per randomized participant."""
    from fhir.resources.bundle import Bundle

    prot = data.protocol
    study_id = _fid(f"{prot.id}-v{prot.version}")
    study: dict[str, Any] = {
        "resourceType": "ResearchStudy", "id": study_id, "status": "active",
        "identifier": [{"system": _SYSTEM, "value": prot.id}], "version": str(prot.version),
        "title": prot.title, "description": prot.design,
        "condition": [{"text": prot.condition}],
        "studyDesign": [{"text": prot.design}],
        "comparisonGroup": [{"linkId": _fid(a.id), "name": a.name, "description": a.description} for a in prot.arms],
        "outcomeMeasure": [{"name": o.id, "type": [{"text": o.role}], "description": o.description}
                           for o in prot.outcomes],
        "recruitment": {"targetNumber": prot.target_sample_size, "actualNumber": len(data.participants)},
        "site": [{"display": s.name} for s in prot.sites],
    }
    entries: list[dict[str, Any]] = [{"fullUrl": f"urn:uuid:study-{study_id}", "resource": study}]
    for p in data.participants:
        subj: dict[str, Any] = {
            "resourceType": "ResearchSubject", "id": _fid(p.id),
            "status": "retired" if p.lost else "active",
            "identifier": [{"system": f"{_SYSTEM}:{prot.id}:subject", "value": p.id}],
            "study": {"reference": f"ResearchStudy/{study_id}"},
            "subject": {"reference": f"Patient/{p.id}", "display": p.id},
        }
        if include_arms:
            subj["assignedComparisonGroup"] = _fid(p.arm)
        entries.append({"fullUrl": f"urn:uuid:subject-{p.id}", "resource": subj})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    Bundle.model_validate(bundle)
    return bundle
