"""Window-level physiology and model estimates -> FHIR ``Observation`` summaries, one per feature per period.

Feature rows (:func:`attunexr.features.extract`) overlap (60-s windows every 10 s). To keep bundles small they are
summarized per period of ``every`` seconds: the rows whose window ends in ``(k * every, (k + 1) * every]`` on the
recording clock are averaged (NaN rows, i.e. windows where the feature was not measurable, are left out), and the
Observation's ``effectivePeriod`` spans the union of those windows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError
from attunexr.interop import _codes as C
from attunexr.interop._context import ExportContext
from attunexr.interop._time import fhir_datetime

if TYPE_CHECKING:
    from attunexr.models import Estimate

__all__ = [
    "PHYSIOLOGY_EXPORTS",
    "PhysiologyExport",
    "estimate_observations",
    "period_index",
    "physiology_observations",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhysiologyExport:
    """How one feature column becomes an Observation."""

    column: str
    quality: str
    code: C.Code
    unit: str
    unit_display: str
    vital_sign: bool


#: Feature columns exported, with code, UCUM unit and the quality column of their signal group.
PHYSIOLOGY_EXPORTS: tuple[PhysiologyExport, ...] = (
    PhysiologyExport("hr_mean", "q_cardiac", C.HEART_RATE, "/min", "beats/minute", True),
    PhysiologyExport("resp_rate", "q_resp", C.RESPIRATORY_RATE, "/min", "breaths/minute", True),
    PhysiologyExport("scl_mean", "q_eda", C.SKIN_CONDUCTANCE, "uS", "microsiemens", False),
)


def period_index(t_end: float | np.ndarray, every: float) -> np.ndarray:
    """Index ``k`` of the period ``(k * every, (k + 1) * every]`` holding each window end."""
    return np.ceil(np.asarray(t_end, dtype=float) / every - 1e-9).astype(int) - 1


def _check_every(every: float) -> float:
    if not (isinstance(every, int | float) and math.isfinite(every) and every > 0):
        raise ConfigurationError(f"summary period {every!r} must be a positive number of seconds")
    return float(every)


def _component(code: C.Code, value: dict[str, Any]) -> dict[str, Any]:
    return {"code": C.concept(code), **value}


def physiology_observations(
    features: pd.DataFrame, ctx: ExportContext, every: float = 60.0
) -> list[tuple[str, dict[str, Any]]]:
    """Summarize feature rows as Observations.

    Parameters
    ----------
    features
        Rows from :func:`attunexr.features.extract` (needs ``t_start``, ``t_end`` and any of the exported columns).
    ctx
        Export context (patient, procedure, clock).
    every
        Summary period in seconds.

    Returns
    -------
    list of (key, resource)
        ``key`` is unique and stable within the export (used to derive the entry's UUID).
    """
    every = _check_every(every)
    missing = [c for c in ("t_start", "t_end") if c not in features.columns]
    if missing:
        raise ConfigurationError(
            f"feature table lacks columns {missing}; pass rows from attunexr.features.extract"
        )
    if features.empty:
        return []
    periods = period_index(features["t_end"].to_numpy(dtype=float), every)
    out: list[tuple[str, dict[str, Any]]] = []
    for spec in PHYSIOLOGY_EXPORTS:
        if spec.column not in features.columns:
            continue
        values = features[spec.column].to_numpy(dtype=float)
        quality = (
            features[spec.quality].to_numpy(dtype=float)
            if spec.quality in features.columns
            else np.full(len(values), np.nan)
        )
        for k in np.unique(periods):
            rows = (periods == k) & np.isfinite(values)
            if not rows.any():
                continue
            sub = features.loc[rows]
            n = int(rows.sum())
            categories = [C.concept(C.VITAL_SIGNS)] if spec.vital_sign else []
            components = [_component(C.WINDOW_COUNT, {"valueInteger": n})]
            q = quality[rows]
            if np.isfinite(q).any():
                components.insert(
                    0, _component(C.SIGNAL_QUALITY, {"valueQuantity": C.quantity(np.nanmean(q), "1")})
                )
            window = float((sub["t_end"] - sub["t_start"]).iloc[0])
            obs = {
                "resourceType": "Observation",
                "status": "final",
                "category": [*categories, C.concept(C.PHYSIOLOGY_CATEGORY)],
                "code": C.concept(spec.code),
                "subject": ctx.subject,
                "partOf": ctx.part_of,
                "effectivePeriod": {
                    "start": fhir_datetime(float(sub["t_start"].min()), ctx.start_time, "window start"),
                    "end": fhir_datetime(float(sub["t_end"].max()), ctx.start_time, "window end"),
                },
                "valueQuantity": C.quantity(float(np.mean(values[rows])), spec.unit, spec.unit_display),
                "method": {"text": f"mean of {n} feature window(s) of {window:g} s (attunexr.features)"},
                "component": components,
            }
            out.append((f"obs:{spec.column}:{int(k)}", obs))
    logger.info("summarized %d feature rows into %d observations", len(features), len(out))
    return out


def estimate_observations(
    estimates: Iterable[Estimate], ctx: ExportContext, every: float = 60.0, window: float = 60.0
) -> list[tuple[str, dict[str, Any]]]:
    """Summarize arousal estimates as Observations with probability and band components.

    Per period, the probability and the band (``lower``, ``upper``) are means over the windows where the model did
    not abstain. A period where it abstained throughout carries no probability but a ``dataAbsentReason`` naming
    why, so a reader sees that the model declined rather than that nothing was recorded.

    Parameters
    ----------
    estimates
        :class:`attunexr.models.Estimate` objects (``t_end`` on the recording clock).
    ctx
        Export context.
    every
        Summary period in seconds.
    window
        Length of the feature windows the estimates were made from (seconds).
    """
    every = _check_every(every)
    ests: Sequence[Estimate] = list(estimates)
    for e in ests:
        for name in ("t_end", "probability", "lower", "upper"):
            v = getattr(e, name)
            if not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigurationError(
                    f"estimate at t_end={e.t_end!r}: {name} {v!r} is not a finite number"
                )
        if not (0.0 <= e.probability <= 1.0 and 0.0 <= e.lower <= e.upper <= 1.0):
            raise ConfigurationError(
                f"estimate at t_end={e.t_end:g}: expected probability in 0..1 and 0 <= lower <= upper <= 1, "
                f"got {e.probability:g}, {e.lower:g}, {e.upper:g}"
            )
    if not ests:
        return []
    periods = period_index(np.array([e.t_end for e in ests]), every)
    out: list[tuple[str, dict[str, Any]]] = []
    for k in np.unique(periods):
        group = [e for e, p in zip(ests, periods, strict=True) if p == k]
        usable = [e for e in group if not e.abstained]
        models = sorted({e.model for e in group if e.model})
        components: list[dict[str, Any]] = []
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [C.concept(C.PHYSIOLOGY_CATEGORY)],
            "code": C.concept(C.AROUSAL),
            "subject": ctx.subject,
            "partOf": ctx.part_of,
            "effectivePeriod": {
                "start": fhir_datetime(min(e.t_end for e in group) - window, ctx.start_time, "window start"),
                "end": fhir_datetime(max(e.t_end for e in group), ctx.start_time, "window end"),
            },
            "method": {
                "text": f"{', '.join(models) or 'attunexr model'}: mean over windows where it did not abstain"
            },
        }
        if usable:
            for code, name in (
                (C.AROUSAL_PROBABILITY, "probability"),
                (C.AROUSAL_LOWER, "lower"),
                (C.AROUSAL_UPPER, "upper"),
            ):
                mean = float(np.mean([getattr(e, name) for e in usable]))
                components.append(_component(code, {"valueQuantity": C.quantity(mean, "1")}))
        else:
            reasons = sorted({e.reason or "abstained" for e in group})
            obs["dataAbsentReason"] = {
                "coding": [{"system": C.DATA_ABSENT, "code": "as-text", "display": "As Text"}],
                "text": f"model abstained in all {len(group)} window(s): {', '.join(reasons)}",
            }
        components.append(_component(C.WINDOW_COUNT, {"valueInteger": len(group)}))
        components.append(_component(C.ABSTAINED_COUNT, {"valueInteger": len(group) - len(usable)}))
        obs["component"] = components
        out.append((f"obs:arousal:{int(k)}", obs))
    return out
