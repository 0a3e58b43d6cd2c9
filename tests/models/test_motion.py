"""Head-motion cybersickness tasks: causal history, targets, participant-grouped folds and the result contract."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.models import MotionHistory, evaluate_motion, motion_table
from attunexr.models._motion import _targets
from attunexr.safety import CybersicknessMonitor, SafetyAction, SafetyObservation

SUBJECTS = ("PA1", "PA2", "PA3", "PA4", "PA5", "PA6", "PA7", "PA8", "PA9", "PA10", "PA11", "PA12")


def test_history_is_causal() -> None:
    h = MotionHistory()
    for t, v in ((1.0, 2.0), (10.0, 6.0), (30.0, 12.0)):
        h.add_fms(t, v)
    a = h.update({"t_end": 20.0, "head_ang_speed_mean": 1.0, "head_acc_mean": math.nan})
    b = h.update({"t_end": 25.0, "head_ang_speed_mean": 3.0, "head_acc_mean": 2.0})
    assert a["fms_now"] == 6.0 and b["fms_now"] == 6.0  # the answer at 30 s is not seen at 25 s
    assert a["fms_change_30s"] != a["fms_change_30s"]  # NaN: nothing answered 30 s before 20 s
    assert b["hist_head_ang_speed_mean"] == 2.0 and b["hist_head_acc_mean"] == 2.0


def test_targets() -> None:
    t = pd.DataFrame({"fms_now": [3.0, 12.0, 9.0], "fms_max_next_60s": [11.0, 15.0, np.nan], "fms_30s": [4, 13, 10]})
    assert np.array_equal(_targets(t, "now", 10.0), [0.0, 1.0, 0.0])
    cross = _targets(t, "cross_60s", 10.0)
    assert cross[0] == 1.0 and np.isnan(cross[1]) and np.isnan(cross[2])  # already sick / horizon past the ride


@pytest.fixture(scope="module")
def small_table(vr_fms_motion_dir: Path) -> pd.DataFrame:
    from attunexr.io.datasets import get_dataset

    ds = get_dataset("vr-fms-motion")
    root = vr_fms_motion_dir.parent
    return motion_table(root, [s for p in SUBJECTS for s in ds.sessions(root, p)])  # type: ignore[attr-defined]


def test_detection_contract_and_grouped_folds(small_table: pd.DataFrame, vr_fms_motion_dir: Path) -> None:
    run = evaluate_motion(
        "cybersickness-motion", table=small_table, n_boot=30, n_folds=3, data_dir=vr_fms_motion_dir.parent
    )
    r, pred = run.result, run.predictions
    # a participant's rides are never split between folds
    assert (pred.groupby("subject")["fold"].nunique() == 1).all()
    assert r["n_subjects"] == len(SUBJECTS)
    for key in ("elapsed_time", "mssq", "time_mssq", "motion_only"):
        assert r["baselines"][key]["ci"][0] <= r["baselines"][key]["auroc"] <= r["baselines"][key]["ci"][1]
    assert "last_fms" not in r["baselines"]  # the carried-forward answer is the label itself here
    pdiff = r["paired_difference"]
    assert pdiff["vs"] == "elapsed_time" and pdiff["ci"][0] <= pdiff["value"] <= pdiff["ci"][1]
    auc = r["metrics"]["auroc"]["value"]
    assert pdiff["value"] == pytest.approx(auc - r["baselines"]["elapsed_time"]["auroc"], abs=1e-9)
    assert set(r["threshold_sensitivity"]) == {"fms>=5", "fms>=15"}
    assert {"by_condition", "by_mssq", "by_gender", "by_age"} <= set(r["subgroups"])
    assert r["threshold"]["fms"] == 10.0


def test_forecast_has_carried_forward_baseline(small_table: pd.DataFrame) -> None:
    r = evaluate_motion("cybersickness-forecast", table=small_table, n_boot=20, n_folds=3).result
    assert "last_fms" in r["baselines"] and set(r["horizons"]) == {"fms>=10_in_30s", "fms>=10_in_60s"}
    # rows already at or above the threshold are not forecast targets
    assert r["n_windows"] < len(small_table)


def test_forecast_alert_only_on_good_signal_and_sustained() -> None:
    mon = CybersicknessMonitor(forecast_ceiling=0.7, forecast_duration_s=10.0)
    assert mon.update(SafetyObservation(t=0.0, sickness_forecast=0.9, quality_ok=False)) == []
    assert mon.update(SafetyObservation(t=5.0, sickness_forecast=0.9)) == []
    alerts = mon.update(SafetyObservation(t=15.0, sickness_forecast=0.9))
    assert len(alerts) == 1 and alerts[0].action == SafetyAction.BLOCK_ESCALATION
    assert mon.update(SafetyObservation(t=20.0, sickness_forecast=0.9)) == []  # once per episode


def test_cli_rejects_a_motion_task_on_another_dataset() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from attunexr.cli import main; main()", "evaluate", "--dataset", "stress-predict", "--task", "tolerance"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "vr-fms-motion" in out.stderr and "Traceback" not in out.stderr
