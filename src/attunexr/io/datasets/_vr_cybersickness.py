"""VR roller-coaster cybersickness dataset (Yalcin et al., Frontiers in Virtual Reality 2024).

20 session folders (``data/train/1..16``, ``data/test/17..20``) but 19 people: ``train/16`` is a byte-identical copy
of ``train/13`` (its SSQ answers differ, so the copy replaced participant 16's own recording) and is left out.

Clocks: E4 and Polar timestamps are UTC, eye tracking and the button are local time (CET = UTC+1). In one folder
(``train/2``) E4/Polar are already local. The adapter picks, per folder, the physiology offset (0 or +1 h) that
makes the physiology overlap the ride best and records it in ``meta.extra["physio_clock"]``. In ``train/1`` and
``train/14`` the physiology does not overlap the ride under any offset: ``meta.extra["label_usable"]`` is False
and they get no ``sick``/``not_sick`` intervals.

Labels (:data:`SICK_BEFORE_S`, :data:`SICK_AFTER_S`): a press of the "I feel sick" button is a run of samples
~13 ms apart. ``sick`` covers each press from 5 s before its onset (the feeling precedes the decision to press)
to 10 s after its release (symptoms outlast the press), merged where they touch and clipped to the ride;
``not_sick`` is the rest of the ride; ``vr`` is the whole ride (eye-tracking span). Sickness grows with time on
the ride, so time in VR alone predicts these labels well: always report that baseline.
"""

from __future__ import annotations

import csv
import functools
import logging
from pathlib import Path
from typing import Any, ClassVar, cast

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.io._vr import read_vr_session
from attunexr.io.datasets._registry import Dataset, DatasetCard
from attunexr.recording import Interval, Recording

__all__ = ["SSQ_SCALE", "VRCybersickness", "sick_intervals"]

logger = logging.getLogger(__name__)

#: Seconds before a press onset and after its release that count as ``sick``.
SICK_BEFORE_S = 5.0
SICK_AFTER_S = 10.0
#: Verbal SSQ scale of ``ssq_results_final.csv``.
SSQ_SCALE: dict[str, int] = {
    "None": 0,
    "Rather not applicable": 1,
    "Rather applicable": 2,
    "Often or a lot": 3,
}
#: Folders left out and why.
DUPLICATES: dict[str, str] = {"train-16": "train-13"}
_LOCAL_OFFSET_S = 3600.0
#: Fraction of the ride the physiology must cover for the labels to be usable.
_MIN_OVERLAP = 0.5


def sick_intervals(
    presses: list[tuple[float, float]],
    ride: tuple[float, float],
    before: float = SICK_BEFORE_S,
    after: float = SICK_AFTER_S,
) -> list[Interval]:
    """``sick`` / ``not_sick`` intervals covering ``ride`` from (onset, release) presses (module docstring)."""
    r0, r1 = ride
    spans = sorted((max(r0, a - before), min(r1, b + after)) for a, b in presses)
    merged: list[list[float]] = []
    for a, b in spans:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[Interval] = []
    cursor = r0
    for a, b in merged:
        if a > cursor:
            out.append(Interval(cursor, a - cursor, "not_sick"))
        out.append(Interval(a, b - a, "sick"))
        cursor = b
    if r1 > cursor:
        out.append(Interval(cursor, r1 - cursor, "not_sick"))
    return out


@functools.lru_cache(maxsize=4)
def _read_ssq(path: Path, mtime: float) -> dict[int, dict[str, Any]]:
    """SSQ answers by participant number: pre/post item scores and the background questions."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataFormatError(path, f"cannot be read as CSV: {err}") from err
    if not rows or "Participant Number" not in rows[0]:
        raise DataFormatError(path, "wrong header: expected a 'Participant Number' column")
    out: dict[int, dict[str, Any]] = {}
    for line, row in enumerate(rows, start=2):
        try:
            pid = int(row["Participant Number"])
        except (TypeError, ValueError) as err:
            raise DataFormatError(
                path, f"line {line}: participant number {row['Participant Number']!r}"
            ) from err
        entry: dict[str, Any] = {"ssq_pre": {}, "ssq_post": {}, "background": {}}
        for col, answer in row.items():
            if col == "Participant Number" or col is None:
                continue
            answer = (answer or "").strip()
            if answer not in SSQ_SCALE:
                raise DataFormatError(
                    path, f"line {line}, column {col!r}: answer {answer!r} not in {list(SSQ_SCALE)}"
                )
            item = col[col.index("[") + 1 : col.rindex("]")] if "[" in col else col
            key = (
                "ssq_pre"
                if col.startswith("Symptoms before")
                else "ssq_post"
                if col.startswith("Symptoms after")
                else "background"
            )
            entry[key][item] = SSQ_SCALE[answer]
        out[pid] = entry
    return out


class VRCybersickness(Dataset):
    """VR roller coaster, 19 people: E4, Polar H10 ECG, eye tracking; "I feel sick" button; SSQ pre/post."""

    card = DatasetCard(
        name="vr-cybersickness",
        title="Automatic cybersickness detection: VR roller coaster with E4, Polar H10 and eye tracking",
        folder="vr-cybersickness",
        origin="https://github.com/m1237/automatic-cybersickness-detection",
        git_url="https://github.com/m1237/automatic-cybersickness-detection.git",
        licence="MIT",
        citation=(
            "M. Yalcin, A. Halbig, M. Fischbach, M.E. Latoschik. Automatic cybersickness detection by deep learning "
            "of augmented physiological data from off-the-shelf consumer-grade sensors. Frontiers in Virtual "
            "Reality 5, 2024. doi:10.3389/frvir.2024.1364207"
        ),
        n_subjects=19,
        signals={
            "ecg": "Polar H10 ECG 130 Hz, uV",
            "bvp": "E4 PPG (BVP) 64 Hz",
            "eda": "E4 EDA 4 Hz, uS",
            "temp": "E4 skin temperature 4 Hz, degC",
            "acc": "E4 accelerometer 32 Hz, g",
            "hr": "E4 heart rate, irregular, bpm (absent in 4 folders)",
            "ibi": "E4 inter-beat intervals, irregular, s (absent in 4 folders)",
            "gaze": "combined gaze direction, irregular (~40 frames/s on a 60 Hz device clock)",
            "pupil": "mean pupil diameter, irregular, mm (NaN when no eye is valid)",
        },
        labels={
            "vr": "the ride (span of the eye-tracking data)",
            "sick": f"from {SICK_BEFORE_S:g} s before a button press to {SICK_AFTER_S:g} s after its release",
            "not_sick": "the rest of the ride",
        },
        caveats=(
            "train/16 is a byte-identical copy of train/13 and is left out (19 distinct people).",
            "E4/Polar clocks are UTC, eye tracking and button local (UTC+1); train/2's physiology is already local.",
            "train/1 and train/14: physiology does not overlap the ride; label_usable=False, no sick/not_sick.",
            "train/15 never pressed the button: the whole ride is not_sick.",
            "Eye-tracking wall-clock timestamps have formatting glitches; eye samples use the device clock.",
            "Sickness grows with time on the ride: time in VR alone predicts the label (AUROC near 0.8). "
            "Report that baseline and what physiology adds beyond it.",
            "The label is cybersickness, not anxiety; 19 healthy volunteers at one site.",
        ),
        site="Wuerzburg",
        population="19 volunteers, University of Wuerzburg HCI group, Jan-Feb 2022",
    )

    def _folders(self, data_dir: str | Path | None) -> dict[str, Path]:
        data = self.root(data_dir) / "data"
        if not data.is_dir():
            raise DataFormatError(data, "missing: the data/ folder of the VR cybersickness dataset")
        out: dict[str, Path] = {}
        for split in ("train", "test"):
            base = data / split
            if base.is_dir():
                for p in base.iterdir():
                    if p.is_dir() and p.name.isdigit():
                        out[f"{split}-{p.name}"] = p
        return dict(sorted(out.items(), key=lambda kv: int(kv[0].split("-")[1])))

    metadata_variables: ClassVar[dict[str, str]] = {
        "car_sickness": "'Do you get sick in the car?' answered before the ride: yes = 'Rather applicable' or "
        "'Often or a lot', no = 'None' or 'Rather not applicable'",
        "vr_experience": "'Do you have any experience with VR?' answered before the ride (yes/no as above)",
        "video_games": "'Do you play video games?' answered before the ride (yes/no as above)",
        "ssq_pre_total": "sum of the 16 SSQ symptom scores (0-3 each) before the ride",
    }

    def subject_metadata(self, data_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
        path = self.root(data_dir) / "data" / "ssq_results_final.csv"
        if not path.is_file():
            return {}
        table = _read_ssq(path, path.stat().st_mtime)
        questions = {
            "car_sickness": "Do you get sick in the car?",
            "vr_experience": "Do you have any experience with VR?",
            "video_games": "Do you play video games?",
        }
        out: dict[str, dict[str, Any]] = {}
        for subject in self.subjects(data_dir):
            entry = table.get(int(subject.split("-")[1]))
            if entry is None:
                continue
            meta: dict[str, Any] = {
                var: ("yes" if entry["background"][q] >= 2 else "no")
                for var, q in questions.items()
                if q in entry["background"]
            }
            if entry["ssq_pre"]:
                meta["ssq_pre_total"] = float(sum(entry["ssq_pre"].values()))
            out[subject] = meta
        return out

    def subjects(self, data_dir: str | Path | None = None) -> list[str]:
        return [s for s in self._folders(data_dir) if s not in DUPLICATES]

    def load(self, subject: str, data_dir: str | Path | None = None) -> Recording:
        if subject in DUPLICATES:
            raise ConfigurationError(
                f"{subject} is a byte-identical copy of {DUPLICATES[subject]} and is left out; load "
                f"{DUPLICATES[subject]} instead"
            )
        self._check_subject(subject, data_dir)
        folder = self._folders(data_dir)[subject]
        rec, clock, overlap = self._read_best_clock(folder, subject)
        rec.meta.site = self.card.site
        rec.meta.device = "Empatica E4 + Polar H10 + Pico Neo 2 Eye"
        rec.meta.session = "1"
        ride = cast("tuple[float, float] | None", rec.meta.extra.get("ride"))
        usable = ride is not None and overlap >= _MIN_OVERLAP
        if ride is not None and usable:
            presses = cast("list[tuple[float, float]]", rec.meta.extra["presses"])
            rec.intervals = (
                sick_intervals(presses, ride) + rec.intervals
            )  # "vr" last: labels win window_label
        rec.meta.extra.update(
            {
                "physio_clock": clock,
                "physio_ride_overlap": overlap,
                "label_usable": usable,
                "label_rule": f"sick = [press onset - {SICK_BEFORE_S:g} s, release + {SICK_AFTER_S:g} s] within the ride",
                "split": subject.split("-")[0],
            }
        )
        if not usable:
            rec.meta.extra["label_unusable_reason"] = (
                "the physiology does not overlap the ride (eye tracking) on any clock offset, so the button "
                "presses cannot be related to the signals"
            )
        rec.meta.extra.update(self._ssq(folder, subject))
        return rec

    def _read_best_clock(self, folder: Path, subject: str) -> tuple[Recording, str, float]:
        """Read with the physiology clock (UTC or local) that best overlaps the ride."""
        best: tuple[Recording, str, float] | None = None
        for clock, offset in (("UTC", 0.0), ("local", _LOCAL_OFFSET_S)):
            rec = read_vr_session(
                folder,
                subject=subject,
                dataset=self.name,
                physio_utc_offset_s=offset,
                local_utc_offset_s=_LOCAL_OFFSET_S,
            )
            overlap = _physio_overlap(rec)
            if best is None or overlap > best[2] + 1e-9:
                best = (rec, clock, overlap)
            if overlap >= 0.9:  # the two candidate clocks are 1 h apart and a ride lasts minutes: done
                break
        assert best is not None
        return best

    def _ssq(self, folder: Path, subject: str) -> dict[str, Any]:
        path = self.root_of(folder) / "data" / "ssq_results_final.csv"
        if not path.is_file():
            return {
                "ssq_pre": None,
                "ssq_post": None,
                "background": None,
                "ssq_note": f"{path} is missing (it is only in an older commit of the origin repository)",
            }
        table = _read_ssq(path, path.stat().st_mtime)
        entry = table.get(int(subject.split("-")[1]))
        if entry is None:
            return {
                "ssq_pre": None,
                "ssq_post": None,
                "background": None,
                "ssq_note": f"participant {subject} has no row in {path.name}",
            }
        return {k: dict(v) for k, v in entry.items()}

    def _after_download(self, target: Path) -> None:
        if not (target / "data" / "ssq_results_final.csv").is_file():
            logger.warning(
                "data/ssq_results_final.csv is not in the newest commit of %s; SSQ answers will be None. It is "
                "in commit 9dca22ba8bf3e40ffdaf12cbd0319750cb21ed97 of that repository.",
                self.card.git_url,
            )

    @staticmethod
    def root_of(folder: Path) -> Path:
        return folder.parents[2]

    def info(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        out = super().info(data_dir)
        out["left_out"] = {k: f"byte-identical copy of {v}" for k, v in DUPLICATES.items()}
        counts: dict[str, int] = {}
        seconds: dict[str, float] = {}
        unusable: list[str] = []
        presses = 0
        rates: dict[str, float] = {}
        for subject in out["subjects"]:
            rec = self.load(subject, data_dir)
            if not rec.meta.extra["label_usable"]:
                unusable.append(subject)
            presses += len(cast("list[tuple[float, float]]", rec.meta.extra["presses"]))
            for iv in rec.intervals:
                counts[iv.label] = counts.get(iv.label, 0) + 1
                seconds[iv.label] = seconds.get(iv.label, 0.0) + iv.duration
            for s in rec.streams.values():
                if s.rate is None and s.n_samples > 1 and s.duration > 0:
                    rates.setdefault(s.name, s.n_samples / s.duration)
        out["label_counts"] = counts
        out["label_seconds"] = {k: round(v, 1) for k, v in seconds.items()}
        out["button_presses"] = presses
        out["label_unusable"] = unusable
        out["irregular_stream_mean_rate_hz"] = {k: round(v, 1) for k, v in rates.items()}
        return out


def _physio_overlap(rec: Recording) -> float:
    """Fraction of the ride covered by the ECG or E4 EDA/BVP, whichever covers most."""
    ride = cast("tuple[float, float] | None", rec.meta.extra.get("ride"))
    if ride is None:
        return 0.0
    r0, r1 = ride
    if r1 <= r0:
        return 0.0
    best = 0.0
    for name in ("ecg", "bvp", "eda"):
        s = rec.streams.get(name)
        if s is not None and s.n_samples:
            best = max(best, max(0.0, min(s.t_end, r1) - max(s.t_start, r0)) / (r1 - r0))
    return best
