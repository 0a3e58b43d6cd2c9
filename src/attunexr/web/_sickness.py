"""Sickness forecast for the clinician dashboard, from the head motion a VR client streams (isolated add-on).

When a VR client joins a session through the published protocol, its head-pose messages (with the optional headset
IMU) go to a :class:`SicknessForecastTracker`: the same feature pipeline and :class:`attunexr.session.
HeadMotionSickness` as a standalone live session, so the numbers equal the offline ones. The dashboard card
(``data-testid="sickness-forecast"``) polls ``GET /api/sessions/{id}/sickness-forecast``. Time in VR counts from the
first head sample the client sent. Nothing here acts on the session: the forecast informs the clinician and the
cybersickness monitor inside :class:`~attunexr.session.HeadMotionSickness` (whose alerts it lists).
"""

from __future__ import annotations

import logging
import math
import weakref
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from attunexr.errors import AttunexrError
from attunexr.models import MotionSicknessModel
from attunexr.recording import Chunk
from attunexr.session import HeadMotionSickness
from attunexr.web._auth import Principal, session_for
from attunexr.web._deps import IdPath, get_db, get_principal, get_services
from attunexr.web._schemas import ERROR_RESPONSES

__all__ = ["SicknessForecastTracker", "router", "tracker_for"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

_TRACKERS: weakref.WeakKeyDictionary[Any, SicknessForecastTracker] = weakref.WeakKeyDictionary()
_NO_MODEL = object()
_MODEL: MotionSicknessModel | object | None = None


def _model() -> MotionSicknessModel | None:
    """The shipped head-motion model, or ``None`` when it is not built (the card then says so)."""
    global _MODEL
    if _MODEL is None:
        from attunexr.models import load_motion_model

        try:
            _MODEL = load_motion_model("cybersickness-motion")
        except AttunexrError as err:
            logger.warning("sickness forecast unavailable: %s", err)
            _MODEL = _NO_MODEL
    return _MODEL if isinstance(_MODEL, MotionSicknessModel) else None


class SicknessForecastTracker:
    """Head-motion features, estimate and 60 s forecast of one web session."""

    def __init__(self, model: MotionSicknessModel, mssq: float | None = None) -> None:
        from attunexr.features import FeatureStream
        from attunexr.models import MOTION_HOP, MOTION_WINDOW
        self.features = FeatureStream(window=MOTION_WINDOW, hop=MOTION_HOP)
        self.live: HeadMotionSickness | None = None
        self.model = model
        self.mssq = mssq

    def push(self, chunk: Chunk) -> None:
        if chunk.kind not in ("head_imu", "head_pose") or len(chunk) == 0:
            return
        if self.live is None:
            self.live = HeadMotionSickness(self.model, mssq=self.mssq, ride_start=float(chunk.timestamps[0]))
        rows = self.features.push(chunk)
        if rows:
            self.live.estimate(pd.DataFrame(rows))

    def on_fms(self, t: float, value: float) -> None:
        if self.live is not None and math.isfinite(value):
            self.live.history.add_fms(t, value)

    def view(self) -> dict[str, Any]:
        live = self.live
        last = live.latest() if live is not None else None
        if live is None or last is None:
            return {"available": False, "message": "waiting for head motion from the VR client"}
        if not last["ok"]:
            return {"available": False, "message": "head-motion signal too sparse in the last 20 s (no forecast)"}
        return {
            "available": True,
            "t": last["t_end"],
            "p_cross_60s": last["p_cross_60s"],
            "p_sick_now": last["p_sick_now"],
            "threshold_fms": live.model.threshold_fms,
            "mssq_known": self.mssq is not None,
            "alerts": [a.message for a in live.alerts[-5:]],
            "rests_on": "head motion, time in VR"
            + (", MSSQ" if self.mssq is not None else " (MSSQ unknown)")
            + " and FMS answers; learned from 86 healthy volunteers (vr-fms-motion)",
        }


def tracker_for(runner: Any, mssq: float | None = None) -> SicknessForecastTracker | None:
    """The runner's tracker (created on first use), or ``None`` when the head-motion model is not built."""
    tracker = _TRACKERS.get(runner)
    if tracker is None:
        model = _model()
        if model is None:
            return None
        tracker = SicknessForecastTracker(model, mssq)
        _TRACKERS[runner] = tracker
    return tracker


@router.get("/sessions/{session_id}/sickness-forecast", tags=["live"])
def sickness_forecast(
    session_id: IdPath,
    p: Principal = Depends(get_principal),
    db: Session = Depends(get_db),
    services: Any = Depends(get_services),
) -> dict[str, Any]:
    """The latest head-motion sickness estimate and 60 s forecast of a running session."""
    session_for(db, p, session_id, "read_live")
    runner = services.live.get(session_id)
    tracker = _TRACKERS.get(runner) if runner is not None else None
    if tracker is None:
        return {
            "available": False,
            "message": "no head motion from a VR client yet"
            if _model() is not None
            else "head-motion model not built",
        }
    return tracker.view()
