"""Several sites: leave-site-out, pooled LOSO, the site decision and site recalibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attunexr.cli import app
from attunexr.models._evaluation import label_balance, site_recalibration
from attunexr.models._metrics import expected_calibration_error
from attunexr.models._workflows import evaluate_leave_site_out, site_decision

from .conftest import STRESS_SUBJECTS

#: Nurses with both classes plus one with high stress only (7E), for the fold-heavy test.
NURSES = ["6B", "83", "8B", "94", "7E"]


def _predictions(
    n_people: int = 8, n: int = 200, slope: float = 3.0, shift: float = 1.0, seed: int = 0
) -> pd.DataFrame:
    """Windows whose true risk is sigmoid(z) but whose reported probability is sigmoid(slope * z + shift)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_people):
        z = rng.normal(0.0, 1.5, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
        p = 1 / (1 + np.exp(-(slope * z + shift)))
        rows.append(
            pd.DataFrame(
                {
                    "subject": f"P{i}",
                    "t_end": np.arange(n) * 10.0,
                    "y": y,
                    "probability": p,
                    "decision": (p >= 0.5),
                }
            )
        )
    return pd.concat(rows, ignore_index=True).assign(decision=lambda d: d["decision"].astype(int))


def test_recalibration_fixes_a_miscalibrated_model() -> None:
    pred = _predictions()
    before = expected_calibration_error(pred["y"].to_numpy(), pred["probability"].to_numpy())
    assert before > 0.1
    out = site_recalibration(pred, (1, 3, 5), n_draws=30, seed=1)
    assert out["n_people"] == 8 and out["n_people_both_classes"] == 8
    for k in ("1", "3", "5"):
        r = out["by_k"][k]
        assert r["after"]["ece"]["median"] < r["before"]["ece"]["median"]
        assert r["ece_gain"]["ci"][0] <= r["ece_gain"]["median"] <= r["ece_gain"]["ci"][1]
        # the fitted slope undoes the factor 3 on the log-odds
        assert r["fitted_slope"]["median"] == pytest.approx(1 / 3, abs=0.12)
        assert r["after"]["slope"]["median"] == pytest.approx(1.0, abs=0.25)
    assert out["by_k"]["1"]["draws"] == "all combinations" and out["by_k"]["1"]["n_draws"] == 8
    assert out["people_needed"] == 1


def test_recalibration_is_measured_on_the_other_people_only() -> None:
    pred = _predictions(n_people=5)
    out = site_recalibration(pred, (1,), n_draws=50)
    # k = 1 enumerates every person; each draw's "before" ECE is that of the four others, never of all five
    expected = sorted(
        expected_calibration_error(
            pred.loc[pred["subject"] != s, "y"].to_numpy(),
            pred.loc[pred["subject"] != s, "probability"].to_numpy(),
        )
        for s in sorted(set(pred["subject"]))
    )
    assert out["by_k"]["1"]["before"]["ece"]["median"] == pytest.approx(float(np.median(expected)))
    everyone = expected_calibration_error(pred["y"].to_numpy(), pred["probability"].to_numpy())
    assert not np.isclose(out["by_k"]["1"]["before"]["ece"]["median"], everyone)
    # too many people asked for: skipped with a reason, nothing invented
    assert "skipped" in site_recalibration(pred, (4,))["by_k"]["4"]


def test_recalibration_draws_only_people_with_both_classes() -> None:
    pred = _predictions(n_people=6)
    pred.loc[pred["subject"].isin(["P0", "P1"]), "y"] = 1  # two people answered "high" only
    out = site_recalibration(pred, (3,), n_draws=20)
    assert out["n_people_both_classes"] == 4
    assert out["by_k"]["3"]["n_draws"] == 4  # C(4, 3) combinations


def test_label_balance() -> None:
    pred = _predictions(n_people=3)
    pred.loc[pred["subject"] == "P2", "y"] = 1
    bal = label_balance(pred)
    assert bal["n_subjects_both_classes"] == 2
    assert bal["subjects_positive_only"] == ["P2"]
    assert bal["per_subject"]["P2"] == {"positive": 200, "negative": 0}


def _site_preds(site: str, people: list[str], quality: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in people:
        y = rng.integers(0, 2, 100)
        p = 1 / (1 + np.exp(-(quality * (2 * y - 1) + rng.normal(0, 1, 100))))
        rows.append(
            pd.DataFrame({"subject": s, "t_end": np.arange(100.0), "y": y, "probability": p, "dataset": site})
        )
    return pd.concat(rows, ignore_index=True)


def test_site_decision_keeps_a_site_only_when_it_does_not_hurt_the_others() -> None:
    a_people, b_people = [f"A{i}" for i in range(6)], [f"B{i}" for i in range(6)]
    pooled = pd.concat([_site_preds("a", a_people, 1.0, 0), _site_preds("b", b_people, 1.0, 1)])
    # without b, site a's people are predicted better (b hurts a); without a, b's people are predicted worse
    without = {"b": _site_preds("a", a_people, 2.0, 0), "a": _site_preds("b", b_people, 0.3, 1)}
    d = site_decision(pooled, without, ["a", "b"], n_boot=50)
    assert d["train_on"] == ["a"]
    assert d["sites"]["b"]["worse_for"] == ["a"] and d["sites"]["b"]["include"] is False
    eff = d["sites"]["a"]["effect_on_other_sites"]["b"]
    assert eff["auroc_with"] > eff["auroc_without"] and eff["value"] > 0


@pytest.fixture(scope="module")
def two_sites(stress_table: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    from attunexr.models._data import feature_table

    nurse, _ = feature_table("nurse-stress", 60.0, 10.0, data_dir=data_dir)
    sp = stress_table[stress_table["subject"].isin(STRESS_SUBJECTS)]
    return pd.concat([sp, nurse[nurse["subject"].isin(NURSES)]], ignore_index=True)


def test_leave_site_out_on_real_sites(two_sites: pd.DataFrame) -> None:
    run = evaluate_leave_site_out(
        "stress",
        ["stress-predict", "nurse-stress"],
        table=two_sites,
        n_boot=50,
        recalibrate=(1, 3),
        n_draws=10,
    )
    res = run.result
    assert res["protocol"] == "leave-site-out"
    for site, other in (("stress-predict", "nurse-stress"), ("nurse-stress", "stress-predict")):
        b = res["per_site"][site]
        assert b["trained_on"] == [other]
        assert (
            0.0 <= b["auroc"]["value"] <= 1.0
            and b["auroc"]["ci"][0] <= b["auroc"]["value"] <= b["auroc"]["ci"][1]
        )
        assert {"slope", "intercept", "ece"} <= set(b["calibration"]) and "value" in b["ece"]
        held = run.predictions[run.predictions["fold"] == f"site:{site}"]
        assert b["n_windows"] == len(held) and b["n_subjects"] == held["subject"].nunique()
        assert "within_site_loso" in b
    assert res["per_site"]["stress-predict"]["n_subjects"] == len(STRESS_SUBJECTS)
    nurse = res["per_site"]["nurse-stress"]
    assert nurse["n_subjects"] == len(NURSES)
    assert nurse["label_balance"]["subjects_positive_only"] == ["7E"]
    assert nurse["other_binarization"]["n_windows"] > nurse["n_windows"]  # medium windows scored as positives
    pooled = res["pooled_loso"]
    assert pooled["n_subjects"] == len(STRESS_SUBJECTS) + len(NURSES)
    assert set(pooled["by_site"]) == {"stress-predict", "nurse-stress"}
    assert set(run.extras["pooled_loso"]["fold"]) == set(STRESS_SUBJECTS) | set(NURSES)
    assert set(res["site_decision"]["train_on"]) <= {"stress-predict", "nurse-stress"}
    assert set(res["recalibration"]) == {"1", "3"}
    assert "before" in res["recalibration"]["1"]["stress-predict"]
    json.dumps(res)  # JSON-ready


def test_cli_leave_site_out_errors() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", "--protocol", "leave-site-out", "--dataset", "stress-predict"])
    assert r.exit_code != 0 and "at least two datasets" in r.stderr
    r = runner.invoke(app, ["evaluate", "--protocol", "loso", "--recalibrate", "1,3"])
    assert r.exit_code != 0 and "--recalibrate needs --protocol leave-site-out" in r.stderr
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--protocol",
            "leave-site-out",
            "--dataset",
            "stress-predict,nurse-stress",
            "--recalibrate",
            "x",
        ],
    )
    assert r.exit_code != 0 and "whole numbers" in r.stderr


def test_registry_build_decides_sites_and_documents_them(
    two_sites: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_registry on a small subset of both sites: the decision, the training sites and the card agree."""
    import attunexr.models._workflows as wf
    from attunexr.models import build_registry

    def small_table(dataset: str, *args: object, **kwargs: object) -> tuple[pd.DataFrame, bool]:
        return two_sites[two_sites["dataset"] == dataset].reset_index(drop=True), True

    monkeypatch.setattr(wf, "feature_table", small_table)
    monkeypatch.setattr(build_registry, "REGISTRY_DIR", tmp_path)
    monkeypatch.setattr(build_registry, "RECALIBRATE_K", (1,))
    sites, result = build_registry.decide_sites("stress", n_boot=30, n_jobs=1)
    assert result is not None and sites[0] == "stress-predict"
    assert set(sites) == {"stress-predict"} | set(result["site_decision"]["train_on"])
    det, card = wf.train_model(
        "stress",
        sites if len(sites) > 1 else sites[0],
        name="stress",
        n_boot=30,
        sites=result,
        evaluate=False,
    )
    assert det.info_["trained_on"] == ",".join(sites)
    assert card["sites"]["trained_on"] == sites
    assert card["sites"]["kept_by_decision"] == result["site_decision"]["train_on"]
    assert set(card["sites"]["leave_site_out"]) == {"stress-predict", "nurse-stress"}
    lso = card["sites"]["leave_site_out"]["nurse-stress"]
    assert lso["auroc"] == result["per_site"]["nurse-stress"]["auroc"] and lso["trained_on"] == [
        "stress-predict"
    ]
    assert card["sites"]["recalibration_people_needed"].keys() == {"stress-predict", "nurse-stress"}
