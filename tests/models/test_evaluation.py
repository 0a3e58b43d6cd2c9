"""Evaluation results, reports and model cards: the output contract and their key contents."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import attunexr
from attunexr.errors import ModelError
from attunexr.io.datasets import get_dataset
from attunexr.models import (
    ArousalDetector,
    auroc,
    evaluate_loso,
    get_task,
    targets,
    write_report,
)
from attunexr.models._card import build_card, render_card_html
from attunexr.models._evaluation import compare_predictions, metadata_subgroups, table_fingerprint

CONTRACT = {
    "task",
    "protocol",
    "dataset",
    "n_subjects",
    "n_windows",
    "normalize",
    "metrics",
    "per_subject",
    "abstained_fraction",
    "baselines",
}


@pytest.fixture(scope="module")
def stress_run(stress_small: pd.DataFrame):  # type: ignore[no-untyped-def]
    return evaluate_loso("stress", table=stress_small, n_boot=100, other_normalizations=True)


def test_loso_result_contract(stress_run, stress_small: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    res = stress_run.result
    assert set(res) >= CONTRACT
    assert res["task"] == "stress" and res["protocol"] == "loso" and res["normalize"] == "baseline"
    assert res["n_subjects"] == stress_small["subject"].nunique()
    for name in ("auroc", "balanced_accuracy", "f1", "brier", "ece", "sensitivity", "specificity"):
        m = res["metrics"][name]
        assert m["ci"][0] <= m["value"] <= m["ci"][1], name
    pred = stress_run.predictions
    assert res["metrics"]["auroc"]["value"] == pytest.approx(auroc(pred["y"].to_numpy(), pred["probability"]))
    assert res["metrics"]["auroc"]["value"] > 0.6
    assert {r["subject"] for r in res["per_subject"]} == set(stress_small["subject"])
    assert all(r["n"] > 0 for r in res["per_subject"])
    assert 0.0 <= res["abstained_fraction"] <= 1.0
    # metrics are over every labelled window (abstained ones included); metrics_answered over answered ones only
    answered = ~pred["abstained"].to_numpy(dtype=bool)
    assert res["n_windows"] == len(pred) and str(len(pred)) in res["metrics_denominator"]
    assert res["metrics_answered"]["n_windows"] == int(answered.sum()) == res["abstention"]["n_accepted"]
    assert res["abstained_fraction"] == pytest.approx(1.0 - answered.mean())
    assert res["metrics_answered"]["auroc"]["value"] == pytest.approx(
        auroc(pred["y"].to_numpy()[answered], pred["probability"].to_numpy()[answered])
    )
    # nested selection: the per-fold choice and every fixed candidate's outer result are reported
    sel = res["selection"]
    assert set(sel["candidates"]) == {"lightgbm", "logistic", "ensemble"}
    assert sum(sel["times_selected"].values()) == res["n_subjects"]
    assert set(sel["per_fold"]) == set(stress_small["subject"])
    assert sel["nested"]["auroc"]["value"] == pytest.approx(res["metrics"]["auroc"]["value"])
    for head in sel["candidates"]:
        assert sel["fixed"][head]["auroc"]["value"] == pytest.approx(
            auroc(pred["y"].to_numpy(), pred[f"p_{head}"].to_numpy())
        )
    assert set(res["other_normalizations"]) == {"none", "recording"}
    assert res["other_normalizations"]["recording"]["deployable_live"] is False
    # calibration slope and intercept beside ECE
    cal = res["calibration"]
    for k in ("slope", "intercept"):
        assert cal[k]["ci"][0] <= cal[k]["value"] <= cal[k]["ci"][1]
    assert cal["ece"] == pytest.approx(res["metrics"]["ece"]["value"])
    assert 0.5 < cal["slope"]["value"] < 2.0
    # provenance: the software and the exact feature table behind the figures
    prov = res["provenance"]
    assert prov["attunexr"] == attunexr.__version__ and prov["packages"]["lightgbm"] == metadata.version(
        "lightgbm"
    )
    assert prov["feature_table"] == {
        "sha256": table_fingerprint(stress_small),
        "rows": len(stress_small),
        "columns": stress_small.shape[1],
    }
    changed = stress_small.copy()
    changed.loc[changed.index[0], "hr_mean"] = changed["hr_mean"].iloc[0] + 0.001
    assert table_fingerprint(changed) != prov["feature_table"]["sha256"]
    assert table_fingerprint(stress_small.copy()) == prov["feature_table"]["sha256"]
    # each secondary normalization is compared with the primary one on the same windows (paired)
    for other in ("none", "recording"):
        diff = res["other_normalizations"][other]["primary_minus_this"]
        theirs = stress_run.extras[other]
        expected = auroc(pred["y"].to_numpy(), pred["probability"].to_numpy()) - auroc(
            theirs["y"].to_numpy(), theirs["probability"].to_numpy()
        )
        assert diff["value"] == pytest.approx(expected)
        assert diff["ci"][0] <= diff["value"] <= diff["ci"][1]
    assert set(res["subgroups"]["positive_condition_vs_all_negatives"]) == {
        "stroop",
        "interview",
        "hyperventilation",
    }
    json.dumps(res)  # JSON-ready


def test_report_html(stress_run, tmp_path: Path, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = write_report(stress_run.result, stress_run.predictions, tmp_path / "report")
    html = page.read_text()
    # ROC, reliability, decision curve, per-subject: embedded, so the page opens on its own
    assert html.count("data:image/png;base64,") == 4
    assert "data-testid='decision-curve-note'" in html and "alt='decision curve'" in html
    assert f"Calibration slope {stress_run.result['calibration']['slope']['value']:.3f}" in html
    curve = stress_run.result["decision_curve"]
    assert len(curve["thresholds"]) == len(curve["model"]) == len(curve["act_on_all"]) == 19
    for text in (
        "AUROC",
        "Expected calibration error",
        "Per subject",
        "Other normalizations",
        "Abstention",
        "healthy volunteers",
        stress_run.result["provenance"]["feature_table"]["sha256"],
        f"attunexr {stress_run.result['provenance']['attunexr']}",
    ):
        assert text in html
    assert json.loads((tmp_path / "report" / "result.json").read_text())["task"] == "stress"
    assert len(pd.read_csv(tmp_path / "report" / "predictions.csv")) == stress_run.result["n_windows"]
    (artifacts_dir / "models").mkdir(exist_ok=True)
    (artifacts_dir / "models" / "stress_report_small.html").write_text(html)


def test_cybersickness_elapsed_time_baseline(vr_table: pd.DataFrame, tmp_path: Path) -> None:
    run = evaluate_loso("cybersickness", table=vr_table, n_boot=100, other_normalizations=False)
    res = run.result
    base = res["baselines"]["elapsed_time"]
    pred = run.predictions
    assert base["auroc"] == pytest.approx(auroc(pred["y"].to_numpy(), pred["time_in_vr"].to_numpy()))
    assert base["ci"][0] <= base["auroc"] <= base["ci"][1]
    gain = base["model_minus_baseline"]
    model_auroc = auroc(pred["y"].to_numpy(), pred["probability"].to_numpy())
    assert gain["value"] == pytest.approx(model_auroc - base["auroc"])
    assert gain["ci"][0] <= gain["value"] <= gain["ci"][1]
    assert 0.0 <= gain["p_not_better"] <= 1.0
    page = write_report(res, pred, tmp_path / "report").read_text()
    assert "data-testid='baseline-gain'" in page and f"{gain['value']:.3f}" in page
    # subgroups by what each rider answered before the ride, with the time-only AUROC on the same rows
    car = res["subgroups"]["by_car_sickness"]
    assert set(car) == {"yes", "no"} and sum(g["n"] for g in car.values()) == res["n_windows"]
    meta = get_dataset("vr-cybersickness").subject_metadata()
    yes = pred[pred["subject"].map(lambda s: meta[s]["car_sickness"] == "yes")]
    assert car["yes"]["n"] == len(yes) and car["yes"]["n_subjects"] == yes["subject"].nunique()
    assert car["yes"]["auroc"]["value"] == pytest.approx(
        auroc(yes["y"].to_numpy(), yes["probability"].to_numpy())
    )
    assert car["yes"]["elapsed_time_auroc"] == pytest.approx(
        auroc(yes["y"].to_numpy(), yes["time_in_vr"].to_numpy())
    )
    assert "Do you get sick in the car?" in res["subgroup_variables"]["car_sickness"]["description"]
    assert "Do you get sick in the car?" in page and "time in VR alone" in page
    assert car["yes"]["too_few_subjects"] is (car["yes"]["n_subjects"] < 5)
    assert car["no"]["too_few_subjects"] is False and "too few people to judge" in page
    assert res["n_subjects"] >= 14
    assert set(pred["label"]) == {"sick", "not_sick"}


def test_metadata_subgroups_split_and_score() -> None:
    rng = np.random.default_rng(5)
    subjects = [f"P{i}" for i in range(8)]
    rows = []
    for s in subjects:
        y = rng.integers(0, 2, 30)
        rows.append(
            pd.DataFrame(
                {"subject": s, "y": y, "probability": np.clip(0.5 * y + rng.uniform(0, 0.5, 30), 0, 1)}
            )
        )
    pred = pd.concat(rows, ignore_index=True)
    pred["decision"] = (pred["probability"] > 0.5).astype(int)
    values = {
        f"P{i}": {"score": float(i), "group": "a" if i < 3 else "b"} for i in range(7)
    }  # P7 has no values
    values["P0"]["same"] = values["P1"]["same"] = "x"
    groups, described = metadata_subgroups(
        pred, {"score": "a score", "group": "a group", "same": "one answer only"}, values, n_boot=50
    )
    assert set(groups) == {"by_score", "by_group"}  # a variable with a single group is left out
    low, high = groups["by_score"]["below median (< 3)"], groups["by_score"]["at or above median (>= 3)"]
    assert (low["n_subjects"], high["n_subjects"]) == (3, 4)
    assert low["too_few_subjects"] and high["too_few_subjects"]  # fewer than 5 people each
    rows_low = pred[pred["subject"].isin(["P0", "P1", "P2"])]
    assert low["n"] == len(rows_low)
    assert low["auroc"]["value"] == pytest.approx(
        auroc(rows_low["y"].to_numpy(), rows_low["probability"].to_numpy())
    )
    assert low["auroc"]["ci"][0] <= low["auroc"]["value"] <= low["auroc"]["ci"][1]
    assert groups["by_group"]["a"]["n_subjects"] == 3 and groups["by_group"]["b"]["n_subjects"] == 4
    assert described["score"]["n_subjects_missing"] == 1 and "median" in described["score"]["split"]
    assert described["group"]["split"] == "by answer"


def test_stress_subgroups_by_questionnaires(stress_run) -> None:  # type: ignore[no-untyped-def]
    res = stress_run.result
    assert {"by_pss_total_before", "by_stai_total_before"} <= set(res["subgroups"])
    for var in ("pss_total_before", "stai_total_before"):
        block = res["subgroups"][f"by_{var}"]
        assert (
            sum(g["n_subjects"] for g in block.values())
            + res["subgroup_variables"][var]["n_subjects_missing"]
            == (res["n_subjects"])
        )


def test_compare_predictions_matches_windows(stress_run) -> None:  # type: ignore[no-untyped-def]
    a = stress_run.predictions
    b = stress_run.extras["none"].sample(frac=1.0, random_state=0)  # same windows, another order
    res = compare_predictions(a, b, n_boot=100, names=("baseline", "none"))
    assert res["n_windows"] == len(a) and res["n_only_in"] == {"baseline": 0, "none": 0}
    ya, yb = a["y"].to_numpy(), b["y"].to_numpy()
    expected = auroc(ya, a["probability"].to_numpy()) - auroc(yb, b["probability"].to_numpy())
    assert res["difference"]["value"] == pytest.approx(expected)
    assert res["auroc"]["baseline"] - res["auroc"]["none"] == pytest.approx(expected)
    # only shared windows count
    part = compare_predictions(a, b.iloc[: len(b) // 2], n_boot=50)
    assert part["n_windows"] == len(b) // 2 and part["n_only_in"]["a"] == len(a) - len(b) // 2
    with pytest.raises(ModelError, match="label .* shared windows differently"):
        compare_predictions(a, b.assign(y=1 - b["y"]), n_boot=50)
    with pytest.raises(ModelError, match="repeat a"):
        compare_predictions(pd.concat([a, a.iloc[:3]]), b, n_boot=50)
    with pytest.raises(ModelError, match="share no window"):
        compare_predictions(a, b.assign(t_end=b["t_end"] + 0.5), n_boot=50)
    with pytest.raises(ModelError, match="lack the columns"):
        compare_predictions(a.drop(columns=["probability"]), b, n_boot=50)


def test_model_card(stress_small: pd.DataFrame, stress_run) -> None:  # type: ignore[no-untyped-def]
    task = get_task("stress")
    y = targets(stress_small["label"], task.positive, task.negative)
    det = ArousalDetector(model="logistic").fit(stress_small, y)
    card = build_card(
        det, task, name="stress-test", training={"dataset": "stress-predict"}, evaluation=stress_run.result
    )
    for key in (
        "intended_use",
        "intended_users",
        "out_of_scope_uses",
        "source_of_data",
        "outcome",
        "predictors",
        "preprocessing",
        "analysis",
        "evaluation",
        "calibration",
        "subgroups",
        "known_failure_modes",
        "limitations",
    ):
        assert card[key], key
    assert card["predictors"]["uses_time_since_protocol_start"] is False
    assert card["evaluation"]["metrics"]["auroc"]["ci"] == stress_run.result["metrics"]["auroc"]["ci"]
    assert card["analysis"]["threshold"]["value"] == pytest.approx(det.threshold_)
    html = render_card_html(card)
    assert "Model card: stress-test" in html and "Out of scope uses" in html and "Known failure modes" in html
    assert np.isfinite(card["analysis"]["inner_out_of_fold_auroc"])
    # a reference baseline the model was not shown to beat becomes a stated failure mode; a clear gain does not
    for lo, listed in ((-0.02, True), (0.03, False)):
        base = {"auroc": 0.8, "ci": [0.7, 0.9], "model_minus_baseline": {"value": 0.05, "ci": [lo, 0.12]}}
        ev = {**stress_run.result, "baselines": {"elapsed_time": base}}
        modes = build_card(det, task, name="t", training={}, evaluation=ev)["known_failure_modes"]
        assert any("Not shown to add to the elapsed time baseline" in m for m in modes) is listed
