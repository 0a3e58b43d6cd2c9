"""Tolerance estimate shown on a session plan before the first ride (isolated add-on of the planning form)."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import HTTPException

from attunexr.errors import AttunexrError

__all__ = ["tolerance_for_plan"]

logger = logging.getLogger(__name__)


def _number(value: str, name: str) -> float | None:
    if not value.strip():
        return None
    try:
        x = float(value)
    except ValueError:
        raise HTTPException(422, f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0:
        raise HTTPException(422, f"{name} must be a non-negative number, got {value!r}")
    return x


def tolerance_for_plan(mssq: str, age: str = "", gender: str = "") -> dict[str, Any]:
    """The pre-ride tolerance estimate for a plan (JSON-ready), or why there is none."""
    m = _number(mssq, "MSSQ")
    if m is None:
        raise HTTPException(422, "MSSQ is needed for a tolerance estimate")
    a = _number(age, "age")
    g = gender.strip().lower() or None
    if g not in (None, "f", "m"):
        raise HTTPException(422, f"gender must be f, m or empty, got {gender!r}")
    inputs = {"mssq": m, "age": a, "gender": g}
    try:
        from attunexr.models import ToleranceModel, load_motion_model

        model = load_motion_model("tolerance")
        if not isinstance(model, ToleranceModel):
            raise AttributeError(f"the registered 'tolerance' model is a {type(model).__name__}")
        est = model.estimate(m, a, g)
    except (AttunexrError, AttributeError) as err:
        logger.warning("no tolerance estimate: %s", err)
        return {"available": False, "inputs": inputs, "message": str(err)}
    return {"available": True, "inputs": inputs, **{k: v for k, v in est.items() if k != "evaluation"}}
