"""No leakage: in leave-one-subject-out, nothing about the held-out subject's labels reaches any fitted quantity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from attunexr.models import ArousalDetector, _detector, get_task, loso_predictions, targets

SUBJECTS = ["S02", "S03", "S05", "S07", "S09"]


class SpyDetector(ArousalDetector):
    """Records which subjects every ``fit`` call receives."""

    calls: list[set[str]] = []

    def fit(self, X: Any, y: Any) -> SpyDetector:
        SpyDetector.calls.append(set(X["subject"].astype(str)))
        super().fit(X, y)
        return self


def _factory() -> ArousalDetector:
    # the shipped settings: nested choice of the classifier family ("auto"), group-wise quality masking
    return SpyDetector(
        model="auto", quality_mode="groups", running=True, context=12, train_stride=6, n_inner_folds=3
    )


def _perturbed(table: pd.DataFrame, subject: str) -> pd.DataFrame:
    """The held-out subject's task labels scrambled (the 'baseline' rest, known before exposure, is kept)."""
    out = table.copy()
    m = (out["subject"] == subject) & (out["label"] != "baseline")
    swap = {"rest": "interview", "stroop": "rest", "interview": "rest", "hyperventilation": "rest"}
    out.loc[m, "label"] = out.loc[m, "label"].map(lambda v: swap.get(v, v))
    return out


def test_loso_held_out_labels_never_matter(stress_small: pd.DataFrame) -> None:
    task = get_task("stress")
    table = stress_small[stress_small["subject"].isin(SUBJECTS)].reset_index(drop=True)
    y = targets(table["label"], task.positive, task.negative)
    SpyDetector.calls = []
    ref = loso_predictions(table, y, _factory)
    # the held-out subject never reaches fit (outer folds hold 4 subjects; inner folds happen inside fit)
    assert len(SpyDetector.calls) == len(SUBJECTS)
    for held, seen in zip(SUBJECTS, SpyDetector.calls, strict=True):
        assert held not in seen and len(seen) == len(SUBJECTS) - 1

    victim = "S05"
    table2 = _perturbed(table, victim)
    y2 = targets(table2["label"], task.positive, task.negative)
    assert (y2 != y).sum() > 50  # the perturbation really changes the victim's targets
    new = loso_predictions(table2, y2, _factory)
    a = ref[ref["subject"] == victim].sort_values("t_end")
    b = new[new["subject"] == victim].sort_values("t_end")
    # held-out predictions, decisions (threshold) and abstentions (conformal) are unchanged
    np.testing.assert_array_equal(a["probability"].to_numpy(), b["probability"].to_numpy())
    np.testing.assert_array_equal(a["decision"].to_numpy(), b["decision"].to_numpy())
    np.testing.assert_array_equal(a["reason"].to_numpy(), b["reason"].to_numpy())
    # ...and so is the family chosen by the nested selection for the victim's fold
    assert a["selected"].iloc[0] == b["selected"].iloc[0]
    # ...while the other subjects' predictions change, because the victim is in their training data
    others_a = ref[ref["subject"] != victim]["probability"].to_numpy()
    others_b = new[new["subject"] != victim]["probability"].to_numpy()
    assert not np.allclose(others_a, others_b)


def test_nested_selection_never_sees_the_held_out_subject(
    stress_small: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on the inner cross-validation that scores the candidates: only training subjects reach it."""
    task = get_task("stress")
    table = stress_small[stress_small["subject"].isin(SUBJECTS)].reset_index(drop=True)
    y = targets(table["label"], task.positive, task.negative)
    seen: list[set[str]] = []

    class SpyGroupKFold(_detector.GroupKFold):  # type: ignore[misc]
        def split(self, X: Any, y: Any = None, groups: Any = None) -> Any:
            seen.append({str(g).split("/")[1] for g in np.asarray(groups)})
            return super().split(X, y, groups)

    monkeypatch.setattr(_detector, "GroupKFold", SpyGroupKFold)
    pred = loso_predictions(table, y, _factory)
    assert len(seen) == len(SUBJECTS)  # one inner CV per outer fold, inside fit
    for held, groups in zip(SUBJECTS, seen, strict=True):
        assert held not in groups and groups == set(SUBJECTS) - {held}
    # every outer fold made its own choice among the candidates, recorded per held-out window
    chosen = pred.groupby("subject")["selected"].nunique()
    assert (chosen == 1).all() and set(pred["selected"]) <= {"lightgbm", "logistic", "ensemble"}
