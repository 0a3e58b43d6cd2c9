"""The shipped models: found by name, fitted, carded, small, and usable live."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from attunexr.errors import ModelError
from attunexr.models import (
    REGISTRY_DIR,
    ArousalDetector,
    CybersicknessDetector,
    list_models,
    load_card,
    load_model,
)


def test_registry_ships_default_models_and_is_small() -> None:
    names = list_models()
    assert {"stress", "cybersickness", "stress-cardiac-eda"} <= set(names)
    # eleven models, each stress variant with its stored training sample for shift checks (about 1 MB): the whole
    # registry stays under 8 MB and no model folder above 1.5 MB
    size = sum(p.stat().st_size for p in REGISTRY_DIR.rglob("*") if p.is_file())
    assert size < 8 * 1024 * 1024
    for folder in (REGISTRY_DIR / n for n in names):
        assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 1.5 * 1024 * 1024, folder.name
    for name in names:
        folder = REGISTRY_DIR / name
        assert (folder / "card.json").is_file() and (folder / "card.html").is_file()


def test_load_by_name_and_path(stress_table: pd.DataFrame) -> None:
    det = load_model("stress")
    assert isinstance(det, ArousalDetector) and det.normalize == "baseline"
    assert isinstance(load_model("cybersickness"), CybersicknessDetector)
    same = load_model(REGISTRY_DIR / "stress")
    sub = stress_table[stress_table["subject"] == "S10"]
    pd.testing.assert_series_equal(det.assess(sub)["probability"], same.assess(sub)["probability"])
    with pytest.raises(ModelError, match="registered"):
        load_model("no-such-model")
    with pytest.raises(ModelError, match="no model"):
        load_model(Path("/nonexistent/folder"))


def test_shipped_cards_hold_results() -> None:
    for name in ("stress", "cybersickness"):
        card = load_card(name)
        assert card["model"]["name"] == name
        ev = card["evaluation"]
        assert ev["protocol"] == "loso" and ev["n_subjects"] >= 15
        lo, hi = ev["metrics"]["auroc"]["ci"]
        assert lo <= ev["metrics"]["auroc"]["value"] <= hi
        assert card["intended_use"] and card["out_of_scope_uses"] and card["known_failure_modes"]
        html = (REGISTRY_DIR / name / "card.html").read_text()
        assert f"Model card: {name}" in html
    cyber = load_card("cybersickness")
    gain = cyber["evaluation"]["baselines"]["elapsed_time"]["model_minus_baseline"]
    # the card says plainly whether the detector was shown to add to time in VR alone
    says_so = any("Not shown to add to the elapsed time baseline" in m for m in cyber["known_failure_modes"])
    assert says_so == (gain["ci"][0] <= 0)
    stress = load_card("stress")
    ev = stress["evaluation"]
    # subgroups by the questionnaires answered before the session, described on the card
    assert {"by_pss_total_before", "by_stai_total_before"} <= set(stress["subgroups"])
    assert len(ev["provenance"]["feature_table"]["sha256"]) == 64 and ev["provenance"]["packages"]["lightgbm"]
    assert len(ev["decision_curve"]["model"]) == len(ev["decision_curve"]["thresholds"]) > 0
    assert stress["calibration"]["ece"] == ev["metrics"]["ece"] and "value" in stress["calibration"]["slope"]
    for other in ("none", "recording"):  # the secondary normalizations, each compared with the primary one
        block = stress["evaluation"]["other_normalizations"][other]
        gain = block["primary_minus_this"]
        assert gain["value"] == pytest.approx(ev["metrics"]["auroc"]["value"] - block["auroc"]["value"])
    assert (
        "stai_total_before" in stress["subgroup_variables"]
        and "stai_total_before" in stress["subgroups_note"]
    )
    # the card states the denominator, the answered-only metrics, the nested selection and the secondary results
    assert (
        str(ev["n_windows"]) in ev["metrics_denominator"]
        and ev["metrics_answered"]["n_windows"] < ev["n_windows"]
    )
    assert ev["selection"]["nested"]["auroc"]["value"] == ev["metrics"]["auroc"]["value"]
    assert set(ev["selection"]["fixed"]) >= {"lightgbm", "logistic", "ensemble"}
    assert set(ev["other_normalizations"]) == {"none", "recording"}
    assert (
        stress["analysis"]["quality_mode"] == "groups"
        and "inner out-of-fold AUROC" in stress["analysis"]["tuning"]
    )
    pre = stress["preprocessing"]
    assert "recent peak" in pre["long_horizon"] and "wholly inside one task" in pre["training_windows"]
    assert load_card("stress-none")["preprocessing"]["long_horizon"] == "not used"


def test_shipped_stress_model_estimates_live(stress_table: pd.DataFrame) -> None:
    det = load_model("stress")
    sub = stress_table[stress_table["subject"] == "S20"].sort_values("t_end")
    det.set_baseline(sub[sub["label"] == "baseline"])
    ests = det.estimate(sub.drop(columns=["label"]).iloc[:30])
    assert len(ests) == 30 and all(0.0 <= e.probability <= 1.0 for e in ests)
    assert all(e.model == "stress" for e in ests)
    assert {e.reason for e in ests} <= {"", "poor_signal_quality", "uncertain", "atypical_input"}


def test_shipped_model_behind_the_live_feature_stream(stress_predict_dir: Path) -> None:
    from attunexr.features import FeatureStream
    from attunexr.io.datasets import get_dataset

    rec = get_dataset("stress-predict").load("S07", data_dir=stress_predict_dir.parent)
    rec = rec.crop(rec.t_start, rec.t_start + 400)
    stream = FeatureStream(window=60.0, hop=10.0, origin=rec.t_start)
    det = load_model("stress")
    ests = []
    for chunk in rec.iter_chunks(1.0):
        for row in stream.push(chunk):
            ests += det.estimate(pd.DataFrame([row]))
    assert len(ests) >= 30
    # no baseline given and no labels live: the first baseline_windows estimates build the personal reference
    assert [e.reason for e in ests[: det.baseline_windows]] == ["collecting_baseline"] * det.baseline_windows
    assert all(e.reason != "collecting_baseline" for e in ests[det.baseline_windows :])
    assert all(e.t_end > 0 and 0.0 <= e.lower <= e.probability <= e.upper <= 1.0 for e in ests)
