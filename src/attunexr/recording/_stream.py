"""`Stream`: one signal (or multi-channel signal) with timestamps on the recording clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import SignalError

__all__ = ["STREAM_KINDS", "Stream"]

#: Known stream kinds and their canonical units. Features and readers agree on these names.
STREAM_KINDS: dict[str, str] = {
    "ecg": "uV",  # electrocardiogram
    "ppg": "a.u.",  # photoplethysmogram (Empatica BVP)
    "eda": "uS",  # electrodermal activity (skin conductance)
    "temp": "degC",  # skin temperature
    "acc": "g",  # accelerometer, channels x, y, z
    "hr": "bpm",  # heart rate as reported by a device
    "ibi": "s",  # inter-beat intervals (irregular), value = interval ending at timestamp
    "resp": "a.u.",  # respiration
    "gaze": "unit",  # gaze direction x, y, z
    "pupil": "mm",  # pupil diameter
    "head_pose": "m|quat",  # head position x, y, z and orientation qx, qy, qz, qw
    "head_imu": "m/s2|rad/s",  # headset linear acceleration x, y, z (gravity-free) and angular velocity x, y, z
    "marker": "",  # event markers
}


@dataclass(eq=False)
class Stream:
    """A signal with one timestamp per sample.

    Parameters
    ----------
    name
        Unique name within a recording (e.g. ``"bvp"``, ``"polar_ecg"``).
    kind
        One of :data:`STREAM_KINDS` (``"ecg"``, ``"ppg"``, ``"eda"`` ...).
    values
        Samples, shape ``(n,)`` or ``(n, n_channels)``.
    timestamps
        Seconds on the recording clock, shape ``(n,)``, non-decreasing.
    rate
        Nominal sampling rate in Hz, or ``None`` for irregular streams (IBI, events).
    unit
        Physical unit; defaults to the canonical unit of ``kind``.
    channels
        Channel names for multi-channel streams (e.g. ``("x", "y", "z")``).
    device
        Free text naming the device (``"Empatica E4"``, ``"Polar H10"``).
    """

    name: str
    kind: str
    values: NDArray[np.float64]
    timestamps: NDArray[np.float64]
    rate: float | None = None
    unit: str = ""
    channels: tuple[str, ...] = ()
    device: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in STREAM_KINDS:
            raise SignalError(f"stream {self.name!r}: unknown kind {self.kind!r}; use one of {sorted(STREAM_KINDS)}")
        self.values = np.asarray(self.values, dtype=np.float64)
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        if self.timestamps.ndim != 1:
            raise SignalError(f"stream {self.name!r}: timestamps must be one-dimensional")
        if self.values.shape[0] != self.timestamps.shape[0]:
            raise SignalError(
                f"stream {self.name!r}: {self.values.shape[0]} values but {self.timestamps.shape[0]} timestamps"
            )
        if self.timestamps.size > 1 and np.any(np.diff(self.timestamps) < 0):
            raise SignalError(f"stream {self.name!r}: timestamps must be non-decreasing")
        if self.rate is not None and not (self.rate > 0 and np.isfinite(self.rate)):
            raise SignalError(f"stream {self.name!r}: rate must be a positive number of Hz, got {self.rate!r}")
        if not self.unit:
            self.unit = STREAM_KINDS[self.kind]
        if self.values.ndim == 2 and not self.channels:
            self.channels = tuple(f"ch{i}" for i in range(self.values.shape[1]))

    @classmethod
    def regular(
        cls,
        name: str,
        kind: str,
        values: NDArray[np.float64] | list[float],
        rate: float,
        t0: float = 0.0,
        **kwargs: object,
    ) -> Stream:
        """Build a regularly sampled stream whose timestamps are ``t0 + i / rate``."""
        arr = np.asarray(values, dtype=np.float64)
        ts = t0 + np.arange(arr.shape[0], dtype=np.float64) / rate
        return cls(name=name, kind=kind, values=arr, timestamps=ts, rate=rate, **kwargs)  # type: ignore[arg-type]

    @property
    def n_samples(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def n_channels(self) -> int:
        return 1 if self.values.ndim == 1 else int(self.values.shape[1])

    @property
    def t_start(self) -> float:
        return float(self.timestamps[0]) if self.n_samples else float("nan")

    @property
    def t_end(self) -> float:
        """Time just after the last sample (last timestamp + one sample period for regular streams)."""
        if not self.n_samples:
            return float("nan")
        last = float(self.timestamps[-1])
        return last + (1.0 / self.rate if self.rate else 0.0)

    @property
    def duration(self) -> float:
        return self.t_end - self.t_start if self.n_samples else 0.0

    def crop(self, tmin: float, tmax: float) -> Stream:
        """Return the samples with ``tmin <= t < tmax`` as a new stream (values are views, not copies)."""
        i0, i1 = np.searchsorted(self.timestamps, [tmin, tmax], side="left")
        return Stream(
            name=self.name,
            kind=self.kind,
            values=self.values[i0:i1],
            timestamps=self.timestamps[i0:i1],
            rate=self.rate,
            unit=self.unit,
            channels=self.channels,
            device=self.device,
            extra=dict(self.extra),
        )

    def shifted(self, offset: float) -> Stream:
        """Return a copy whose timestamps are moved by ``offset`` seconds."""
        return Stream(
            name=self.name,
            kind=self.kind,
            values=self.values,
            timestamps=self.timestamps + offset,
            rate=self.rate,
            unit=self.unit,
            channels=self.channels,
            device=self.device,
            extra=dict(self.extra),
        )

    def __repr__(self) -> str:
        rate = f"{self.rate:g} Hz" if self.rate else "irregular"
        return f"<Stream {self.name!r} {self.kind} {rate} n={self.n_samples} {self.duration:.1f}s>"
