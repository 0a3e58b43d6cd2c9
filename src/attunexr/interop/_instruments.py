"""Administered instruments -> FHIR ``QuestionnaireResponse`` (the answers) + ``Observation`` (the score).

Scoring is done by :mod:`attunexr.clinical` (its scorers validate the answers); this module only maps the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attunexr import clinical
from attunexr.errors import ConfigurationError
from attunexr.interop import _codes as C
from attunexr.interop._context import ExportContext
from attunexr.interop._time import fhir_datetime

__all__ = ["INSTRUMENTS", "InstrumentAdministration", "instrument_resources"]

_SCORERS: dict[str, Callable[[Any], Any]] = {
    "gad7": clinical.score_gad7,
    "phq9": clinical.score_phq9,
    "pcl5": clinical.score_pcl5,
    "ssq": clinical.score_ssq,
    "suds": clinical.score_suds,
    "fms": clinical.score_fms,
}
#: Instruments attunexr exports.
INSTRUMENTS: tuple[str, ...] = tuple(_SCORERS)


@dataclass(frozen=True)
class InstrumentAdministration:
    """One completed instrument.

    Parameters
    ----------
    instrument
        One of :data:`INSTRUMENTS` (``"gad7"``, ``"phq9"``, ``"pcl5"``, ``"ssq"``, ``"suds"``, ``"fms"``).
    answers
        Item answers in questionnaire order (SSQ also accepts a mapping item name -> rating, see
        :data:`attunexr.clinical.SSQ_ITEMS`); a single number for SUDS and FMS.
    t
        When it was completed: seconds on the recording clock, or a Unix time.
    """

    instrument: str
    answers: Sequence[int] | Mapping[str, int] | float
    t: float

    def score(self) -> Any:
        """Score with :mod:`attunexr.clinical` (raises ConfigurationError on invalid answers)."""
        scorer = _SCORERS.get(self.instrument)
        if scorer is None:
            raise ConfigurationError(f"instrument {self.instrument!r} is not one of {list(INSTRUMENTS)}")
        return scorer(self.answers)


def _score_quantity(value: float) -> dict[str, Any]:
    return C.quantity(value, "{score}", "score")


def _items(adm: InstrumentAdministration, scored: Any) -> list[dict[str, Any]]:
    if isinstance(scored, clinical.InstrumentResult):
        return [
            {"linkId": str(i), "answer": [{"valueInteger": v}]} for i, v in enumerate(scored.items, start=1)
        ]
    if isinstance(scored, clinical.SSQScore):
        return [
            {"linkId": name, "text": name.replace("_", " "), "answer": [{"valueInteger": v}]}
            for name, v in scored.raw.items()
        ]
    return [
        {
            "linkId": "1",
            "text": C.INSTRUMENT_TITLES[adm.instrument],
            "answer": [{"valueDecimal": float(scored)}],
        }
    ]


def instrument_resources(
    adm: InstrumentAdministration, ctx: ExportContext, key: str, response_url: str
) -> list[tuple[str, dict[str, Any]]]:
    """The QuestionnaireResponse and total-score Observation of one administration.

    Parameters
    ----------
    adm
        The administration.
    ctx
        Export context.
    key
        Unique key of this administration within the export.
    response_url
        ``fullUrl`` the QuestionnaireResponse will get (the Observation's ``derivedFrom`` points at it).
    """
    scored = adm.score()
    when = fhir_datetime(float(adm.t), ctx.start_time, f"{adm.instrument} time")
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": C.QUESTIONNAIRE_PREFIX + adm.instrument,
        "status": "completed",
        "subject": ctx.subject,
        "authored": when,
        "item": _items(adm, scored),
    }
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [C.concept(C.SURVEY)],
        "code": C.concept(C.INSTRUMENT_TOTALS[adm.instrument]),
        "subject": ctx.subject,
        "partOf": ctx.part_of,
        "effectiveDateTime": when,
        "derivedFrom": [{"reference": response_url}],
    }
    if isinstance(scored, clinical.InstrumentResult):
        obs["valueQuantity"] = _score_quantity(scored.total)
        obs["interpretation"] = [{"text": scored.severity}]
        if scored.flags:
            obs["note"] = [{"text": f"flag {f}: clinician review required"} for f in scored.flags]
    elif isinstance(scored, clinical.SSQScore):
        obs["valueQuantity"] = _score_quantity(scored.total)
        obs["component"] = [
            {"code": C.concept(code), "valueQuantity": _score_quantity(getattr(scored, name))}
            for name, code in C.SSQ_SUBSCALES.items()
        ]
    else:
        obs["valueQuantity"] = _score_quantity(float(scored))
    return [(f"{key}:response", response), (f"{key}:score", obs)]
