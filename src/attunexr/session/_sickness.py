"""Live cybersickness from head motion: the shipped head-motion model inside a session, and its safety monitor.

:class:`HeadMotionSickness` is both the session's detector (``estimate(rows)``) and a session hook. It owns the
per-session state (the ride's running means and FMS answers, :class:`attunexr.models.MotionHistory`); the fitted
model stays immutable. Rows come from the session's feature stream, the same code as offline, so on the same ride
the estimates equal :meth:`attunexr.models.MotionSicknessModel.assess` on :func:`attunexr.models.ride_rows`.

On each estimate it feeds the :class:`attunexr.safety.CybersicknessMonitor` with the detection probability and
the 60 s forecast; the monitor only blocks escalation, asks for a check-in or pauses on FMS answers. Nothing is
done on poor signal (no head-motion features in the window).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd

from attunexr.models import Estimate, MotionHistory, MotionSicknessModel
from attunexr.safety import Alert, CybersicknessMonitor, SafetyObservation
from attunexr.session._messages import HookContext, SessionUpdate

__all__ = ["HeadMotionSickness"]

logger = logging.getLogger(__name__)

#: event label of an FMS answer sent by the VR client
FMS_LABEL = "fms"
#: window inputs that must be present for an estimate (else it abstains)
_REQUIRED = ("head_ang_speed_mean", "head_acc_mean")


class HeadMotionSickness:
    """Per-session detector + hook for the head-motion cybersickness model.

    Parameters
    ----------
    model
        The fitted :class:`~attunexr.models.MotionSicknessModel` (e.g. ``load_motion_model()``).
    mssq
        The person's MSSQ score answered before the session (``None``: unknown; the model then imputes it).
    ride_start
        Session time (s) at which the person entered VR; time in VR counts from here.
    monitor
        The cybersickness safety monitor (default thresholds when omitted).
    """

    def __init__(
        self,
        model: MotionSicknessModel,
        mssq: float | None = None,
        ride_start: float = 0.0,
        monitor: CybersicknessMonitor | None = None,
    ) -> None:
        self.model = model
        self.mssq = float("nan") if mssq is None else float(mssq)
        self.ride_start = float(ride_start)
        self.monitor = monitor or CybersicknessMonitor()
        self.history = MotionHistory()
        self.rows: list[dict[str, Any]] = []
        self.outputs: list[dict[str, Any]] = []
        self.alerts: list[Alert] = []
        self._fms: tuple[float, float] | None = None

    # --- detector -----------------------------------------------------------------------------------------
    def estimate(self, rows: pd.DataFrame) -> list[Estimate]:
        """Estimates for new window rows (in time order): probability = FMS >= 10 now; forecast in contributions."""
        out: list[Estimate] = []
        for rec in rows.to_dict("records"):
            row = {**rec, **self.history.update(rec)}
            row["time_in_vr"] = float(rec["t_end"]) - self.ride_start
            row["mssq"] = self.mssq
            self.rows.append(row)
            res = self.model.assess(pd.DataFrame([row])).iloc[0]
            p, f = float(res["p_sick_now"]), float(res["p_cross_60s"])
            ok = all(math.isfinite(float(row.get(c, math.nan))) for c in _REQUIRED)
            self.outputs.append({"t_end": float(rec["t_end"]), "p_sick_now": p, "p_cross_60s": f, "ok": ok})
            out.append(
                Estimate(
                    float(rec["t_end"]),
                    p,
                    p,
                    p,
                    not ok,
                    "" if ok else "poor_signal_quality",
                    {"p_cross_60s": f},
                    self.model.name,
                )
            )
        return out

    # --- hook -----------------------------------------------------------------------------------------------
    def __call__(self, update: SessionUpdate) -> None:
        if update.kind == "event" and update.event is not None and update.event.label == FMS_LABEL:
            v = update.event.value
            if v is not None and math.isfinite(v):
                self.history.add_fms(update.event.onset, float(v))
                self._fms = (update.event.onset, float(v))
                self._observe(update.t, update.context)
        elif update.kind == "estimate" and update.estimate is not None:
            self._observe(update.t, update.context)

    def _observe(self, t: float, context: HookContext) -> None:
        last = self.outputs[-1] if self.outputs else None
        ok = bool(last and last["ok"])
        obs = SafetyObservation(
            t=t,
            quality_ok=ok,
            sickness_probability=last["p_sick_now"] if last and ok else None,
            sickness_forecast=last["p_cross_60s"] if last and ok else None,
            fms=self._fms[1] if self._fms else None,
            fms_t=self._fms[0] if self._fms else None,
        )
        alerts = self.monitor.update(obs)
        self.alerts.extend(alerts)
        for a in alerts:
            context.record(
                "alert", {"monitor": a.monitor, "message": a.message, "action": str(a.action)}, t=t
            )
            logger.info("session %s: %s", context.session_id, a.message)

    def latest(self) -> dict[str, Any] | None:
        """The last estimate and forecast (``None`` before the first window)."""
        return self.outputs[-1] if self.outputs else None
