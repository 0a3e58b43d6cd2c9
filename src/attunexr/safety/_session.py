"""The safety monitors of one live session, with the per-session state they need.

A live session runs :class:`SessionSafety` once per second of session time. It keeps what the monitors compare
against across seconds: the person's resting heart rate (the mean over the first minute, once 30 readings exist)
and the newest SUDS answer with its time. The signal-loss monitor runs twice: once per second for gaps in the
streams seen so far, and once per feature window for consecutive poor-quality windows.
"""

from __future__ import annotations

from collections.abc import Mapping

from attunexr.safety._alert import Alert, SafetyObservation
from attunexr.safety._monitors import OverloadMonitor, SafetySupervisor, SignalLossMonitor, default_monitors

__all__ = ["SessionSafety"]


class SessionSafety:
    """The default monitors of one session with the clinician's thresholds, and the state they keep.

    ``hr_above_baseline_bpm`` is measured against the mean heart rate of the first ``baseline_s`` seconds (at least
    ``min_baseline_readings`` readings); before that the heart-rate rule has no baseline and stays silent.
    """

    def __init__(self, *, arousal_ceiling: float = 0.9, suds_ceiling: float = 85.0,
                 hr_above_baseline_bpm: float = 40.0, overload_s: float = 30.0, signal_loss_s: float = 10.0,
                 baseline_s: float = 60.0, min_baseline_readings: int = 30) -> None:
        monitors = [m for m in default_monitors() if not isinstance(m, OverloadMonitor | SignalLossMonitor)]
        monitors.insert(0, OverloadMonitor(arousal_ceiling=arousal_ceiling, suds_ceiling=suds_ceiling,
                                           hr_delta_bpm=hr_above_baseline_bpm, duration_s=overload_s))
        monitors.append(SignalLossMonitor(max_gap_s=signal_loss_s, max_poor_windows=1 << 30))
        self.monitors = monitors
        self.supervisor = SafetySupervisor(monitors)
        self.window_supervisor = SafetySupervisor([SignalLossMonitor()])
        self.baseline_s = baseline_s
        self.min_baseline_readings = min_baseline_readings
        self._hr_base: list[float] = []
        self._suds: tuple[float, float] | None = None
        self._last_window: float | None = None

    @property
    def hr_baseline(self) -> float | None:
        """The resting heart rate the overload rule compares against, once enough readings exist."""
        if len(self._hr_base) < self.min_baseline_readings:
            return None
        return sum(self._hr_base) / len(self._hr_base)

    def check(self, t: float, *, hr: float | None, last_sample_t: Mapping[str, float],
              arousal: float | None = None, arousal_lower: float | None = None, abstained: bool = True,
              quality_ok: bool = True, window_t_end: float | None = None, suds: float | None = None) -> list[Alert]:
        """One second of session time: the vitals, the newest estimate (``window_t_end`` names its window) and a new
        SUDS answer, if any; returns the monitors' alerts."""
        if hr is not None and t < self.baseline_s:
            self._hr_base.append(hr)
        if suds is not None:
            self._suds = (t, suds)
        obs = SafetyObservation(
            t=t, arousal=arousal, arousal_lower=arousal_lower, abstained=abstained, quality_ok=quality_ok,
            suds=self._suds[1] if self._suds else None, suds_t=self._suds[0] if self._suds else None,
            hr=hr, hr_baseline=self.hr_baseline, last_sample_t=dict(last_sample_t))
        alerts = self.supervisor.update(obs)
        if window_t_end is not None and window_t_end != self._last_window:
            self._last_window = window_t_end
            alerts += self.window_supervisor.update(SafetyObservation(t=t, quality_ok=quality_ok))
        return alerts
