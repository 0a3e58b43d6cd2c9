"""BITalino recordings in the OpenSignals (r)evolution text format.

Layout::

    # OpenSignals Text File Format
    # {"<MAC>": {"sensor": ["ECG", "EDA"], "label": ["A2", "A3"], "column": ["nSeq", "I1", "I2", "O1", "O2",
    #            "A2", "A3"], "sampling rate": 1000, "resolution": [4, 1, 1, 1, 1, 10, 10], "date": "2017-11-21",
    #            "time": "10:39:35.375", "device": "bitalino_rev", ...}}
    # EndOfHeader
    0	0	0	0	0	512	340
    ...

Raw ADC values are converted to physical units with the transfer functions of the PLUX/BITalino sensor datasheets
(``n`` = channel resolution in bits, VCC = 3.3 V):

- ECG (µV): ``(ADC / 2^n - 1/2) * VCC / 1100 * 1e6`` (gain 1100).
- EDA (µS): ``(ADC / 2^n) * VCC / 0.132``.
- TEMP/TMP (°C): ``((ADC / 2^n) * VCC - 0.5) * 100``.
- PZT/RESP respiration (% of range): ``(ADC / 2^n - 1/2) * 100``.
- PPG/BVP: raw ADC (arbitrary units).
- ACC (g): ``2 * (ADC - Cmin) / (Cmax - Cmin) - 1``; needs the sensor's calibration values ``Cmin``/``Cmax``.

``nSeq`` counts samples modulo 16; a jump means samples were lost on the Bluetooth link.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np

from attunexr.errors import DataFormatError
from attunexr.recording import Recording, RecordingMeta, Stream

__all__ = ["read_bitalino"]

logger = logging.getLogger(__name__)

_VCC = 3.3
_SENSOR_KIND = {
    "ECG": "ecg",
    "EDA": "eda",
    "TEMP": "temp",
    "TMP": "temp",
    "PZT": "resp",
    "RESP": "resp",
    "RESPBIT": "resp",
    "PPG": "ppg",
    "BVP": "ppg",
    "ACC": "acc",
    "XYZ": "acc",
    "ACCBITREV": "acc",
}


def _convert(
    kind: str, adc: np.ndarray, bits: int, acc_calibration: tuple[float, float] | None
) -> np.ndarray:
    full = float(2**bits)
    if kind == "ecg":
        return (adc / full - 0.5) * _VCC / 1100.0 * 1e6
    if kind == "eda":
        return (adc / full) * _VCC / 0.132
    if kind == "temp":
        return ((adc / full) * _VCC - 0.5) * 100.0
    if kind == "resp":
        return (adc / full - 0.5) * 100.0
    if kind == "acc":
        assert acc_calibration is not None
        cmin, cmax = acc_calibration
        return 2.0 * (adc - cmin) / (cmax - cmin) - 1.0
    return adc.astype(np.float64)


def _header(path: Path, lines: list[str]) -> tuple[dict[str, Any], int]:
    if not lines or not lines[0].startswith("# OpenSignals"):
        raise DataFormatError(path, "wrong header: the first line must be '# OpenSignals Text File Format'")
    try:
        end = next(i for i, line in enumerate(lines) if line.strip() == "# EndOfHeader")
    except StopIteration:
        raise DataFormatError(
            path, "wrong header: no '# EndOfHeader' line (is the file truncated?)"
        ) from None
    json_lines = [
        ln[1:].strip() for ln in lines[1:end] if ln.startswith("#") and ln[1:].strip().startswith("{")
    ]
    if len(json_lines) != 1:
        raise DataFormatError(path, "wrong header: expected one '# {...}' JSON line describing the device")
    try:
        header = json.loads(json_lines[0])
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"wrong header: the JSON line is not valid JSON ({err.msg})") from err
    except (ValueError, RecursionError) as err:  # e.g. an integer of more digits than Python converts
        raise DataFormatError(path, f"wrong header: the JSON line cannot be read ({err})") from err
    if not isinstance(header, dict) or len(header) != 1:
        raise DataFormatError(path, f"wrong header: expected exactly one device, found {len(header)}")
    device = next(iter(header.values()))
    for key in ("column", "sampling rate", "resolution", "sensor", "label"):
        if key not in device:
            raise DataFormatError(path, f"wrong header: the device description has no {key!r}")
    return device, end + 1


def read_bitalino(
    path: str | Path,
    subject: str | None = None,
    dataset: str = "",
    *,
    tz: tzinfo | None = None,
    acc_calibration: tuple[float, float] | None = None,
    allow_gaps: bool = False,
) -> Recording:
    """Read a BITalino OpenSignals text file into a :class:`Recording` (one stream per recognised sensor).

    Parameters
    ----------
    path
        The ``.txt`` file written by OpenSignals.
    subject, dataset
        Metadata (default subject: the file stem).
    tz
        Time zone of the header's ``date``/``time`` (OpenSignals writes local time); default UTC.
    acc_calibration
        ``(Cmin, Cmax)`` of the accelerometer; without it ACC channels are skipped (their scale is unknown).
    allow_gaps
        Accept lost samples (jumps of the ``nSeq`` counter) and place the following samples later in time;
        otherwise a jump is an error.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataFormatError(path, "does not exist") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "is not a text file; expected an OpenSignals text export") from err
    dev, first = _header(path, lines)
    for key in ("column", "resolution", "sensor", "label"):
        if not isinstance(dev[key], list):
            raise DataFormatError(path, f"wrong header: {key!r} must be a list, got {type(dev[key]).__name__}")
    columns: list[str] = list(dev["column"])
    if not all(isinstance(c, str) for c in columns):
        raise DataFormatError(path, "wrong header: 'column' must list column names")
    rate = dev["sampling rate"]
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1e6:
        raise DataFormatError(path, f"wrong header: sampling rate {str(rate)[:40]} is not a positive number")
    resolution = list(dev["resolution"])
    if len(resolution) != len(columns):
        raise DataFormatError(path, f"wrong header: {len(resolution)} resolutions for {len(columns)} columns")
    if not all(type(r) is int and 1 <= r <= 32 for r in resolution):  # BITalino channels have 1 to 16 bits
        raise DataFormatError(path, "wrong header: 'resolution' must hold bit counts between 1 and 32")
    if len(dev["sensor"]) != len(dev["label"]):
        raise DataFormatError(path, "wrong header: 'sensor' and 'label' lists differ in length")
    body = [ln for ln in lines[first:] if ln.strip()]
    line_no = [first + 1 + i for i, ln in enumerate(lines[first:]) if ln.strip()]
    if not body:
        raise DataFormatError(path, "has a header but no samples")
    n_cols = len(columns)
    rows = np.empty((len(body), n_cols), dtype=np.float64)
    for i, line in enumerate(body):
        fields = line.split()
        if len(fields) != n_cols:
            hint = " (the file looks truncated)" if i == len(body) - 1 else ""
            raise DataFormatError(
                path,
                f"line {line_no[i]} has {len(fields)} values but the header lists {n_cols} columns{hint}",
            )
        try:
            rows[i] = [float(f) for f in fields]
        except ValueError:
            raise DataFormatError(path, f"line {line_no[i]}: non-numeric value in {line.strip()!r}") from None
    if np.isinf(rows).any():
        i = int(np.argmax(np.isinf(rows).any(axis=1)))
        raise DataFormatError(path, f"line {line_no[i]}: infinite value")
    # NaN samples are gaps: features skip them and the quality layer decides

    if "nSeq" in columns:
        seq = rows[:, columns.index("nSeq")].astype(np.int64)
        step = np.diff(seq) % 16
        lost = np.nonzero(step != 1)[0]
        if lost.size and not allow_gaps:
            i = int(lost[0]) + 1
            raise DataFormatError(
                path,
                f"line {line_no[i]}: nSeq jumps from {seq[i - 1]} to {seq[i]}, so samples were lost; "
                "pass allow_gaps=True to read the recording with the gap",
            )
        step[step == 0] = 16
        index = np.concatenate([[0], np.cumsum(step)])
    else:
        index = np.arange(len(body))
    timestamps = index / float(rate)

    start_time = None
    if dev.get("date") and dev.get("time"):
        try:
            when = datetime.fromisoformat(f"{dev['date']}T{dev['time']}")
            start_time = when.replace(tzinfo=tz or UTC).timestamp()
        except (ValueError, OverflowError):
            raise DataFormatError(
                path, f"wrong header: date/time {dev['date']!r} {dev['time']!r} unreadable"
            ) from None
    device_name = str(dev.get("device", "bitalino"))
    rec = Recording(
        RecordingMeta(
            subject=subject or path.stem, dataset=dataset, device=device_name, start_time=start_time
        )
    )
    acc_channels: list[tuple[str, np.ndarray]] = []
    for sensor, label in zip(dev["sensor"], dev["label"], strict=True):
        kind = _SENSOR_KIND.get(str(sensor).upper())
        if label not in columns:
            raise DataFormatError(path, f"wrong header: channel label {label!r} is not among the columns")
        if kind is None:
            logger.warning("%s: sensor %r on %s is not a signal attunexr knows; skipped", path, sensor, label)
            continue
        if kind == "acc" and acc_calibration is None:
            logger.warning("%s: accelerometer on %s skipped: pass acc_calibration=(Cmin, Cmax)", path, label)
            continue
        j = columns.index(label)
        values = _convert(kind, rows[:, j], int(resolution[j]), acc_calibration)
        if kind == "acc":
            acc_channels.append((label, values))
            continue
        name = kind if kind not in rec.streams else f"{kind}_{label}"
        rec.add_stream(Stream(name, kind, values, timestamps, rate=float(rate), device=device_name))
    if acc_channels:
        rec.add_stream(
            Stream(
                "acc",
                "acc",
                np.column_stack([v for _, v in acc_channels]),
                timestamps,
                rate=float(rate),
                channels=tuple(lab for lab, _ in acc_channels),
                device=device_name,
            )
        )
    if not rec.streams:
        raise DataFormatError(path, f"none of the sensors {dev['sensor']!r} is a signal attunexr reads")
    return rec
