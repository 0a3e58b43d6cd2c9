"""Tasks: which interval labels are positive, negative and baseline, and the window grid each task uses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError

__all__ = ["TASKS", "TaskSpec", "get_task", "targets"]


@dataclass(frozen=True)
class TaskSpec:
    """A binary detection task on a dataset's labelled intervals."""

    name: str
    dataset: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    baseline: str | None
    window: float
    hop: float
    description: str


TASKS: dict[str, TaskSpec] = {
    "stress": TaskSpec(
        name="stress",
        dataset="stress-predict",
        positive=("stroop", "interview", "hyperventilation", "high_stress"),
        negative=("baseline", "rest", "no_stress"),
        baseline="baseline",
        window=60.0,
        hop=10.0,
        description="stress/arousal during Stroop, interview (TSST-like) or hyperventilation vs. rest; on "
        "nurse-stress, survey intervals rated high stress vs no stress (medium left out)",
    ),
    "cybersickness": TaskSpec(
        name="cybersickness",
        dataset="vr-cybersickness",
        positive=("sick",),
        negative=("not_sick",),
        baseline=None,
        window=20.0,
        hop=5.0,
        description="self-reported cybersickness ('I feel sick' button) vs. not sick during a VR roller coaster",
    ),
}


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name``."""
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigurationError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None


def targets(labels: pd.Series, positive: tuple[str, ...], negative: tuple[str, ...]) -> NDArray[np.float64]:
    """1.0 for positive labels, 0.0 for negative ones, NaN for anything else (context-only rows)."""
    overlap = set(positive) & set(negative)
    if overlap:
        raise ConfigurationError(f"labels {sorted(overlap)} are both positive and negative")
    lab = labels.astype(str)
    y = np.full(len(lab), np.nan)
    y[lab.isin(positive).to_numpy()] = 1.0
    y[lab.isin(negative).to_numpy()] = 0.0
    return y
