"""Nurse stress (Hosseini et al., Scientific Data 9:255, 2022): Empatica E4 during real hospital shifts.

The folder keeps the original E4 CSV files (gzipped, data lines byte for byte) cut around the survey intervals
that nurses rated when the wristband's own detector flagged possible stress: 0 = no stress, 1 = medium, 2 = high.
Each cut (a *segment*, ``<ID>/<ID>_<start unix>``) becomes one :class:`~attunexr.recording.Recording` (one
session); a nurse has several segments, on different days.

Labels are taken as they are:

* ``no_stress`` / ``medium_stress`` / ``high_stress`` intervals from ``labels.csv`` (``start_unix``, ``end_unix``:
  the survey's local time read as ``America/Chicago``, 1-minute resolution, converted once by the dataset's
  curators; :func:`check_local_times` re-derives them from the local ISO times);
* the context minutes around an interval are **unlabelled**, never "no stress".

``partial/`` holds 98 more intervals whose session lacks BVP (and often ACC) in the public copy; the adapter
``nurse-stress-all`` adds them (15 nurses), so the features of the signals present there (EDA, temperature, E4 heart
rate, beat intervals) can use them; ``nurse-stress`` is the main set with all six signals (12 nurses).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.io._empatica import read_empatica
from attunexr.io.datasets._registry import Dataset, DatasetCard
from attunexr.recording import Interval, Recording

__all__ = ["LEVEL_LABELS", "NurseStress", "check_local_times"]

logger = logging.getLogger(__name__)

#: Survey stress level -> interval label.
LEVEL_LABELS: dict[int, str] = {0: "no_stress", 1: "medium_stress", 2: "high_stress"}
#: The hospital's time zone (the survey times are local wall-clock times there).
LOCAL_TZ = "America/Chicago"
_LABEL_COLUMNS = (
    "subject",
    "segment",
    "source_session",
    "survey_row",
    "start_unix",
    "end_unix",
    "stress_level",
)
_E4_MAIN = ("ACC.csv", "BVP.csv", "EDA.csv", "HR.csv", "IBI.csv", "TEMP.csv")

_CITATION = (
    "S. Hosseini, R. Gottumukkala, S. Katragadda, R. T. Bhupatiraju, Z. Ashkar, C. W. Borst, K. Cochran. A "
    "multimodal sensor dataset for continuous stress detection of nurses in a hospital. Scientific Data 9, 255 "
    "(2022). Data: Dryad doi:10.5061/dryad.5hqbzkh6f"
)
_SIGNALS = {
    "bvp": "PPG (BVP) 64 Hz (main set only)",
    "eda": "EDA 4 Hz, uS",
    "temp": "skin temperature 4 Hz, degC",
    "acc": "accelerometer 32 Hz, 3 axes, g (main set; 20 of 85 partial segments)",
    "hr": "E4 heart rate 1 Hz, bpm",
    "ibi": "E4 inter-beat intervals, irregular, s",
}
_LABELS = {
    "no_stress": "survey answer 0: no stress during the interval",
    "medium_stress": "survey answer 1: medium stress",
    "high_stress": "survey answer 2: high stress",
}
_CAVEATS = (
    "Selective labels: a survey was offered when the wristband's own stress detector fired and answered by "
    "choice; 'high' dominates (85 of 112 main-set intervals) and 'no stress' answers are replies to an alarm, not "
    "rest periods. Time outside the survey intervals is unlabelled, never a negative.",
    "Binarization used by the 'stress' task: high_stress (positive) vs no_stress (negative); medium_stress (7 "
    "main-set intervals) is left out of training and reported separately (medium+high vs none).",
    "Only some nurses answered both 'no stress' and 'high stress': a per-person AUROC exists for those only; "
    "pooled AUROC over held-out people is the headline figure.",
    "Survey times are self-reported local times (US Central, 1-minute resolution): a boundary can be off by a "
    "minute or more.",
    "One hospital, COVID-19 period, 12 nurses in the main set (15 with partial/): no pre-session descriptors "
    "(age, sex) are published, so no subgroup results.",
    "Segments are cut from the original sessions (20 min before to 5 min after each survey); the public copy lacks "
    "BVP/ACC files of 4 MiB or more, which is why partial/ exists.",
)


@functools.lru_cache(maxsize=8)
def _read_labels(path: Path, mtime: float) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"subject": str, "segment": str, "source_session": str})
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot be read as CSV: {err}") from err
    missing = [c for c in (*_LABEL_COLUMNS, "start_local", "end_local") if c not in df.columns]
    if missing:
        raise DataFormatError(path, f"wrong header: columns {missing} are missing")
    level = pd.to_numeric(df["stress_level"], errors="coerce")
    bad = ~level.isin(list(LEVEL_LABELS))
    if bad.any():
        row = int(bad.to_numpy().argmax()) + 2
        raise DataFormatError(
            path, f"line {row}: stress_level {df['stress_level'].iloc[row - 2]!r} is not 0, 1 or 2"
        )
    df["stress_level"] = level.astype(int)
    if (df["end_unix"] <= df["start_unix"]).any():
        row = int((df["end_unix"] <= df["start_unix"]).to_numpy().argmax()) + 2
        raise DataFormatError(path, f"line {row}: the interval ends before it starts")
    if "flags" not in df.columns:
        df["flags"] = ""
    df["flags"] = df["flags"].astype(object).fillna("").astype(str)
    return df


def check_local_times(labels: pd.DataFrame) -> int:
    """Rows whose ``start_unix``/``end_unix`` differ from ``start_local``/``end_local`` read as US Central time.

    The local columns carry their UTC offset; this also re-reads the wall-clock part in :data:`LOCAL_TZ` (so a
    wrong offset, e.g. CDT after the switch to CST, would be counted). Returns the number of disagreeing rows.
    """
    tz = ZoneInfo(LOCAL_TZ)
    bad = 0
    for col_l, col_u in (("start_local", "start_unix"), ("end_local", "end_unix")):
        for text, unix in zip(labels[col_l], labels[col_u], strict=True):
            stamp = dt.datetime.fromisoformat(str(text))
            wall = stamp.replace(tzinfo=None).replace(tzinfo=tz)
            if abs(stamp.timestamp() - float(unix)) > 0.5 or abs(wall.timestamp() - float(unix)) > 0.5:
                bad += 1
    return bad


class NurseStress(Dataset):
    """Nurses in real hospital shifts (Empatica E4), one recording per cut segment, survey stress intervals.

    Parameters
    ----------
    include_partial
        Add the ``partial/`` segments (no BVP, often no ACC): dataset ``nurse-stress-all`` (15 nurses) instead of
        ``nurse-stress`` (main set, all six signals, 12 nurses).
    """

    def __init__(self, include_partial: bool = False) -> None:
        self.include_partial = include_partial
        self.card = DatasetCard(
            name="nurse-stress-all" if include_partial else "nurse-stress",
            title="Nurse stress in a hospital (Empatica E4, survey intervals"
            + (", main set + partial/ without BVP)" if include_partial else ", main set)"),
            folder="nurse-stress",
            origin="https://doi.org/10.5061/dryad.5hqbzkh6f (copied from github.com/ElvisHan2022/"
            "nurse-stress-analysis, commit 1f4ca0e, cut around the labelled intervals)",
            git_url="https://github.com/ElvisHan2022/nurse-stress-analysis.git",
            licence="CC0 1.0 (Dryad)",
            citation=_CITATION,
            n_subjects=15 if include_partial else 12,
            signals=dict(_SIGNALS),
            labels=dict(_LABELS),
            caveats=_CAVEATS,
            site="Lafayette, Louisiana (hospital)",
            population=("15 nurses" if include_partial else "12 nurses")
            + " during real shifts, April-December 2020 (COVID-19 period)",
            extra={"intervals": "210 (main 112 + partial 98)" if include_partial else "112 (20 / 7 / 85)"},
        )

    def how_to_get(self) -> str:
        return (
            "The attunexr copy is a cut of the Dryad archive doi:10.5061/dryad.5hqbzkh6f (CC0): the original E4 "
            "files gzipped and cut around each labelled survey interval, with labels.csv and segments.csv (see its "
            "README.md). Put that folder under --data-dir DIR or ATTUNEXR_DATA=DIR as 'nurse-stress'."
        )

    def download(self, dest: str | Path, timeout: float = 300.0) -> Path:
        raise ConfigurationError(
            f"dataset {self.name!r} cannot be downloaded by attunexr: the public mirror holds the uncut archive "
            f"without labels aligned to it. {self.how_to_get()}"
        )

    # --- tables --------------------------------------------------------------------------------------
    def labels(self, data_dir: str | Path | None = None) -> pd.DataFrame:
        """Every kept survey answer: ``labels.csv`` (and ``partial/labels.csv``) with ``part`` and ``label``.

        ``segment`` is relative to the dataset folder (``partial/`` prefixed for the partial set).
        """
        root = self.root(data_dir)
        parts = [("main", root / "labels.csv", "")]
        if self.include_partial:
            parts.append(("partial", root / "partial" / "labels.csv", "partial/"))
        frames = []
        for part, path, prefix in parts:
            if not path.is_file():
                raise DataFormatError(path, "missing: the survey labels of the nurse-stress dataset")
            df = _read_labels(path, path.stat().st_mtime).copy()
            df["segment"] = prefix + df["segment"]
            df["part"] = part
            frames.append(df)
        out = pd.concat(frames, ignore_index=True)
        out["label"] = out["stress_level"].map(LEVEL_LABELS)
        return out

    def subjects(self, data_dir: str | Path | None = None) -> list[str]:
        return sorted(set(self.labels(data_dir)["subject"]))

    def segments(self, subject: str, data_dir: str | Path | None = None) -> list[str]:
        """The subject's segment folders (relative to the dataset folder), in time order."""
        self._check_subject(subject, data_dir)
        lab = self.labels(data_dir)
        segs = sorted(set(lab.loc[lab["subject"] == subject, "segment"]), key=lambda s: (s.split("_")[-1], s))
        return segs

    # --- loading -------------------------------------------------------------------------------------
    def load(self, subject: str, data_dir: str | Path | None = None, segment: str | None = None) -> Recording:
        """One segment of one nurse as a :class:`Recording` (default: the nurse's first segment in time).

        Use :meth:`load_sessions` (or :func:`~attunexr.io.datasets.load_recordings`) for all of them.
        """
        segs = self.segments(subject, data_dir)
        if segment is None:
            segment = segs[0]
        elif segment not in segs:
            raise ConfigurationError(
                f"nurse {subject!r} has no segment {segment!r}; segments: {', '.join(segs)}"
            )
        return self._load_segment(subject, segment, data_dir)

    def load_sessions(self, subject: str, data_dir: str | Path | None = None) -> list[Recording]:
        """Every segment of one nurse, one recording each, in time order."""
        return [self._load_segment(subject, s, data_dir) for s in self.segments(subject, data_dir)]

    def _load_segment(self, subject: str, segment: str, data_dir: str | Path | None) -> Recording:
        root = self.root(data_dir)
        folder = root / segment
        partial = segment.startswith("partial/")
        rec = read_empatica(
            folder,
            subject=subject,
            dataset=self.name,
            require=("EDA.csv", "HR.csv") if partial else _E4_MAIN,
            drop_duplicate_beats=True,  # one original IBI file lists every beat twice (see README)
        )
        rec.meta.site = self.card.site
        rec.meta.device = "Empatica E4"
        rec.meta.session = Path(segment).name
        t0 = float(rec.meta.start_time or 0.0)
        lab = self.labels(data_dir)
        rows = lab[lab["segment"] == segment]
        for r in rows.itertuples(index=False):
            rec.intervals.append(
                Interval(float(r.start_unix) - t0, float(r.end_unix - r.start_unix), str(r.label))
            )
        rec.meta.extra.update(
            {
                "segment": segment,
                "part": "partial" if partial else "main",
                "survey_rows": [int(v) for v in rows["survey_row"]],
                "label_flags": {
                    int(k): str(v) for k, v in zip(rows["survey_row"], rows["flags"], strict=True) if v
                },
                "local_time_zone": LOCAL_TZ,
            }
        )
        return rec

    # --- description ---------------------------------------------------------------------------------
    def class_balance(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        """Per-nurse interval counts and hours by level, and which nurses answered both 'none' and 'high'."""
        lab = self.labels(data_dir)
        lab = lab.assign(hours=(lab["end_unix"] - lab["start_unix"]) / 3600.0)
        per: dict[str, Any] = {}
        for subject, grp in lab.groupby("subject", sort=True):
            counts = {name: int((grp["label"] == name).sum()) for name in LEVEL_LABELS.values()}
            hours = {
                name: round(float(grp.loc[grp["label"] == name, "hours"].sum()), 2)
                for name in LEVEL_LABELS.values()
            }
            per[str(subject)] = {
                "intervals": counts,
                "hours": hours,
                "both_none_and_high": counts["no_stress"] > 0 and counts["high_stress"] > 0,
                "both_none_and_any_stress": counts["no_stress"] > 0
                and counts["high_stress"] + counts["medium_stress"] > 0,
            }
        both = [s for s, v in per.items() if v["both_none_and_high"]]
        both_any = [s for s, v in per.items() if v["both_none_and_any_stress"]]
        return {
            "per_subject": per,
            "totals": {name: int((lab["label"] == name).sum()) for name in LEVEL_LABELS.values()},
            "subjects_with_none_and_high": both,
            "subjects_with_none_and_medium_or_high": both_any,
            "what_it_allows": (
                f"{len(both)} of {len(per)} nurses answered both 'no stress' and 'high stress': a per-person AUROC "
                "(high vs none) exists for them only; the other nurses' windows still count in the AUROC pooled "
                "over held-out people, which is the headline figure"
            ),
        }

    def info(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        out = super().info(data_dir)
        lab = self.labels(data_dir)
        out["n_intervals"] = int(len(lab))
        out["n_segments"] = int(lab["segment"].nunique())
        out["label_counts"] = {name: int((lab["label"] == name).sum()) for name in LEVEL_LABELS.values()}
        out["label_seconds"] = {
            name: float(
                (
                    lab.loc[lab["label"] == name, "end_unix"] - lab.loc[lab["label"] == name, "start_unix"]
                ).sum()
            )
            for name in LEVEL_LABELS.values()
        }
        out["by_part"] = {str(k): int(v) for k, v in lab["part"].value_counts().items()}
        out["class_balance"] = self.class_balance(data_dir)
        out["binarization"] = {
            "primary": "high_stress (positive) vs no_stress (negative); medium_stress excluded",
            "secondary": "medium_stress + high_stress (positive) vs no_stress (negative)",
            "unlabelled": "time outside the survey intervals is context only, never a negative",
        }
        out["time_alignment"] = (
            f"survey date + time read as {LOCAL_TZ} (CDT UTC-5 until 2020-11-01, CST UTC-6 after), 1-minute "
            f"resolution; rows disagreeing with that rule: {check_local_times(lab)}"
        )
        return out
