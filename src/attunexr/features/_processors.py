"""Per-stream processing stages: causal, stateful, identical whether fed whole or chunk by chunk."""

from __future__ import annotations

import logging

import numpy as np

from attunexr.errors import SignalError
from attunexr.features._buffers import SampleBuffer
from attunexr.signals import (
    ECG_PARAMS,
    PPG_PARAMS,
    BlockPeakDetector,
    CausalFilter,
    EdaDecomposer,
    FloatArray,
    butter_sos,
)

__all__ = ["NEEDS_RATE", "StreamProcessor", "make_processor"]

logger = logging.getLogger(__name__)

#: kinds whose processing needs a nominal sampling rate
NEEDS_RATE = frozenset({"ecg", "ppg", "eda", "resp"})
#: kinds whose NaN samples are information (invalid eye-tracker or pose samples), kept as NaN
KEEP_NAN = frozenset({"pupil", "gaze", "head_pose", "head_imu"})


class StreamProcessor:
    """Base stage: keep the raw samples (first column for 1-channel kinds) in a :class:`SampleBuffer`.

    Parameters
    ----------
    name, kind
        Stream name and kind.
    rate
        Nominal rate in Hz, or ``None`` for irregular streams.
    """

    lookahead = 0.0  # seconds of data after a window's end needed before its features are final
    columns: tuple[str, ...] = ("x",)

    def __init__(self, name: str, kind: str, rate: float | None) -> None:
        self.name = name
        self.kind = kind
        self.rate = rate
        self.buffer = SampleBuffer(self.columns)
        self.n_seen = 0
        self.first_t = float("nan")
        self.last_t = float("-inf")

    def final_until(self) -> float:
        """Window ends up to which this stage's output is final (its look-ahead of data has arrived)."""
        return self.last_t - self.lookahead

    @property
    def end_t(self) -> float:
        """Time just after the last sample."""
        return self.last_t + (1.0 / self.rate if self.rate else 0.0)

    def update(self, t: FloatArray, values: FloatArray) -> None:
        """Process the next samples (timestamps increasing)."""
        if t.size == 0:
            return
        if self.kind not in KEEP_NAN:
            fin = np.isfinite(values) if values.ndim == 1 else np.all(np.isfinite(values), axis=1)
            if not fin.all():
                t, values = t[fin], values[fin]
            if t.size == 0:
                return
        if self.n_seen == 0:
            self.first_t = float(t[0])
        self.n_seen += int(t.size)
        self.last_t = float(t[-1])
        self._process(t, values)

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        v = values if values.ndim == 1 else values[:, 0]
        self.buffer.append(t, {"x": v})

    def trim_before(self, t: float) -> None:
        self.buffer.trim_before(t)


class BeatWaveProcessor(StreamProcessor):
    """ECG or PPG: raw samples for quality plus a streaming beat detector."""

    def __init__(self, name: str, kind: str, rate: float | None) -> None:
        super().__init__(name, kind, rate)
        assert rate is not None
        self.detector = BlockPeakDetector(rate, ECG_PARAMS if kind == "ecg" else PPG_PARAMS)
        self.lookahead = self.detector.lookahead

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        v = values if values.ndim == 1 else values[:, 0]
        self.buffer.append(t, {"x": v})
        self.detector.update(t, v)

    def final_until(self) -> float:
        """Time of the sample the look-ahead's number of samples before the last one.

        The beat detector's look-ahead is a number of samples; after a gap, the time since the gap says nothing
        about how many samples have arrived, so this counts samples (on gap-free data it equals
        ``last_t - lookahead``).
        """
        assert self.rate is not None
        n_ahead = int(round(self.lookahead * self.rate))
        t = self.buffer.t
        if t.size <= n_ahead:
            return -np.inf if t.size else self.last_t - self.lookahead
        return float(t[-1 - n_ahead]) + 1e-9

    def trim_before(self, t: float) -> None:
        super().trim_before(t)
        self.detector.discard_peaks_before(t)


class EdaProcessor(StreamProcessor):
    """EDA: raw, tonic and phasic components (causal split, see :class:`attunexr.signals.EdaDecomposer`)."""

    columns = ("x", "tonic", "phasic")

    def __init__(self, name: str, kind: str, rate: float | None) -> None:
        super().__init__(name, kind, rate)
        assert rate is not None
        self.decomposer = EdaDecomposer(rate)

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        v = values if values.ndim == 1 else values[:, 0]
        _, tonic, phasic = self.decomposer.process(t, v)
        self.buffer.append(t, {"x": v, "tonic": tonic, "phasic": phasic})


class RespProcessor(StreamProcessor):
    """Respiration belt or thermistor: 0.1-1 Hz causal band-pass (6-60 breaths per minute)."""

    def __init__(self, name: str, kind: str, rate: float | None) -> None:
        super().__init__(name, kind, rate)
        assert rate is not None
        self.filter = CausalFilter(butter_sos("bandpass", (0.1, min(1.0, 0.4 * rate)), rate, 2))

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        v = values if values.ndim == 1 else values[:, 0]
        self.buffer.append(t, {"x": self.filter.process(v)})


class AccProcessor(StreamProcessor):
    """Accelerometer: Euclidean magnitude in g."""

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        mag = np.abs(values) if values.ndim == 1 else np.sqrt(np.sum(values * values, axis=1))
        self.buffer.append(t, {"x": mag})


class PupilProcessor(StreamProcessor):
    """Pupil diameter (mm): mean over eyes; invalid samples (NaN, <= 0) stay NaN."""

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        v = np.where(values > 0, values, np.nan)
        if v.ndim == 2:
            n = np.sum(np.isfinite(v), axis=1)
            v = np.where(n > 0, np.nansum(v, axis=1) / np.maximum(n, 1), np.nan)
        self.buffer.append(t, {"x": v})


#: channels of the multi-channel kinds
_N_CHANNELS = {"gaze": 3, "head_pose": 7, "head_imu": 6}


class MultiChannelProcessor(StreamProcessor):
    """Gaze direction (x, y, z), head pose (x, y, z, qx, qy, qz, qw) or head IMU (ax, ay, az, wx, wy, wz).

    Kept per channel; NaN samples stay (a missing gyro reading does not remove the acceleration of that sample).
    """

    def __init__(self, name: str, kind: str, rate: float | None) -> None:
        self.n_channels = _N_CHANNELS[kind]
        self.columns = tuple(f"c{i}" for i in range(self.n_channels))
        super().__init__(name, kind, rate)

    def _process(self, t: FloatArray, values: FloatArray) -> None:
        if values.ndim != 2 or values.shape[1] < self.n_channels:
            raise SignalError(
                f"stream {self.name!r} ({self.kind}) needs at least {self.n_channels} channels, got shape {values.shape}"
            )
        self.buffer.append(t, {c: values[:, i] for i, c in enumerate(self.columns)})


_CLASSES: dict[str, type[StreamProcessor]] = {
    "ecg": BeatWaveProcessor,
    "ppg": BeatWaveProcessor,
    "eda": EdaProcessor,
    "resp": RespProcessor,
    "acc": AccProcessor,
    "pupil": PupilProcessor,
    "gaze": MultiChannelProcessor,
    "head_pose": MultiChannelProcessor,
    "head_imu": MultiChannelProcessor,
    "temp": StreamProcessor,
    "hr": StreamProcessor,
    "ibi": StreamProcessor,
}


def make_processor(name: str, kind: str, rate: float | None) -> StreamProcessor | None:
    """The processing stage for a stream kind, or ``None`` for kinds without features (markers)."""
    cls = _CLASSES.get(kind)
    if cls is None:
        return None
    if kind in NEEDS_RATE and not (rate is not None and rate > 0):
        raise SignalError(
            f"stream {name!r} ({kind}) has no sampling rate; {kind} processing needs the nominal rate in Hz"
        )
    return cls(name, kind, rate)
