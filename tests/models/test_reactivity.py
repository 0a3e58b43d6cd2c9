"""Cue-reactivity analysis: recovery of known truth on virtual patients, counts, clear errors, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attunexr.errors import ConfigurationError
from attunexr.models import analyse_reactivity, reactivity_sentence, write_reactivity_report
from attunexr.simulation import CueStudyTruth, simulate_cue_study


@pytest.fixture(scope="module")
def study() -> tuple:
    truth = CueStudyTruth()
    recs, parts = simulate_cue_study(60, 8, n_sessions=2, truth=truth, seed=11)
    res = analyse_reactivity(recs, ["trauma", "neutral"], participants=parts, group_by="group",
                             measures=("scr_amplitude", "hr_change_mean"))
    return truth, res


def _within(c: dict, true: float, k: float = 3.0) -> bool:
    return abs(c["value"] - true) <= k * c["se"]


def test_recovers_group_difference_habituation_and_between_session_change(study: tuple) -> None:
    truth, res = study
    grp = res.comparisons["scr_amplitude"]["group_difference"]["patient - control"]
    assert _within(grp["trauma"], truth.group_effect)
    assert _within(grp["neutral"], 0.0)  # no true difference for neutral cues
    assert grp["trauma"]["ci"][0] > 0 and grp["trauma"]["d"] > 0
    assert _within(res.habituation["scr_amplitude"]["slope"], truth.slope)
    assert _within(res.between_sessions["scr_amplitude"]["slope"], truth.between_slope)
    hr = res.comparisons["hr_change_mean"]["group_difference"]["patient - control"]
    assert hr["trauma"]["ci"][0] > 0 and abs(hr["neutral"]["value"]) < hr["trauma"]["value"] / 4


def test_counts_reliability_and_fear_activation(study: tuple) -> None:
    _, res = study
    assert res.counts["cues"] == 60 * 2 * 16 and res.counts["participants"] == 60
    assert res.counts["scorable_share"]["scr_amplitude"] == 1.0
    rel = res.reliability["scr_amplitude"]
    assert rel["n_participants"] == 60 and 0.5 < rel["spearman_brown"] <= 1.0
    assert rel["ci"][0] <= rel["spearman_brown"] <= rel["ci"][1]
    fa = res.fear_activation["scr_amplitude"]
    assert fa["decline_percent"] > 0 and fa["decline_percent_ci"][0] > 0  # responses fell across the session
    assert "fell by" in (reactivity_sentence(res) or "")


def test_json_and_report(study: tuple, tmp_path: Path) -> None:
    _, res = study
    page = write_reactivity_report(res, tmp_path / "rep")
    text = page.read_text()
    assert "data-testid='reactivity-sentence'" in text and "Event-locked averages" in text
    assert "patient - control" in text and "data:image/png;base64" in text
    doc = json.loads((tmp_path / "rep" / "result.json").read_text())
    assert set(doc) >= {"counts", "habituation", "comparisons", "reliability", "per_person", "assumptions"}
    assert doc["comparisons"]["scr_amplitude"]["group_difference"]["patient - control"]["trauma"]["ci"][0] > 0
    assert (tmp_path / "rep" / "responses.csv").read_text().count("\n") == res.counts["cues"] + 1


def test_unscorable_cues_are_counted_with_their_reason() -> None:
    recs, parts = simulate_cue_study(6, 4, seed=2)
    rec = recs[0]
    rec.streams.pop("eda")
    res = analyse_reactivity(recs, ["trauma", "neutral"], measures=("scr_amplitude", "hr_change_mean"))
    assert res.counts["scored"]["scr_amplitude"] == res.counts["cues"] - 8
    assert res.counts["scored"]["hr_change_mean"] == res.counts["cues"]
    assert len(res.responses) == res.counts["cues"]
    mine = res.responses[res.responses["participant"] == rec.meta.subject]
    assert mine["scr_amplitude"].isna().all() and len(mine) == 8
    assert (mine["quality"] == "eda: no skin-conductance stream").all()
    assert res.counts["unscored_reasons"] == {"eda: no skin-conductance stream": 8}


def test_clear_errors() -> None:
    recs, parts = simulate_cue_study(4, 2, seed=1)
    with pytest.raises(ConfigurationError, match="none of the cue categories"):
        analyse_reactivity(recs, ["combat"])
    with pytest.raises(ConfigurationError, match="no such column.*group"):
        analyse_reactivity(recs, ["trauma"], participants=parts, group_by="diagnosis")
    with pytest.raises(ConfigurationError, match="unknown response measure"):
        analyse_reactivity(recs, ["trauma"], measures=("skin",))
