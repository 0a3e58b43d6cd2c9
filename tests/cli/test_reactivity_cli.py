"""``attunexr reactivity`` end to end: a BIDS dataset with groups, real Stress-Predict task onsets, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attunexr.cli._app import app
from attunexr.io import write_bids
from attunexr.simulation import CueStudyTruth, simulate_cue_study

runner = CliRunner()


def _bids_with_groups(root: Path) -> CueStudyTruth:
    truth = CueStudyTruth()
    recs, parts = simulate_cue_study(30, 6, truth=truth, seed=21)
    for rec in recs:
        write_bids(rec, root, subject=rec.meta.subject, task="cues", dataset_name="virtual cue study")
    lines = ["participant_id\tgroup"] + [f"sub-{p}\t{g}" for p, g in zip(parts.participant_id, parts.group, strict=True)]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    return truth


def test_bids_with_group_by_writes_json_and_report(tmp_path: Path) -> None:
    truth = _bids_with_groups(tmp_path / "bids")
    out = tmp_path / "react.json"
    res = runner.invoke(app, ["reactivity", "--bids", str(tmp_path / "bids"), "--cues", "trauma,neutral",
                              "--group-by", "group", "--json", str(out), "--report", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    grp = doc["comparisons"]["scr_amplitude"]["group_difference"]["patient - control"]["trauma"]
    assert grp["ci"][0] <= truth.group_effect <= grp["ci"][1] and grp["ci"][0] > 0
    assert doc["counts"]["cues"] == 30 * 12 and doc["group_by"] == "group"
    assert "patient - control for trauma cues" in res.output  # short human summary, not a JSON dump
    assert len(res.output) < 2000
    assert "fell by" in (tmp_path / "rep" / "report.html").read_text()


def test_stress_predict_task_onsets(tmp_path: Path, stress_predict_dir: Path) -> None:
    out = tmp_path / "sp.json"
    res = runner.invoke(app, ["reactivity", "--dataset", "stress-predict", "--data-dir", str(stress_predict_dir.parent),
                              "--subjects", "S02,S03", "--subjects", "S05", "--cues",
                              "stroop,interview,hyperventilation,rest", "--pre", "60", "--post", "60",
                              "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["counts"]["participants"] == 3
    assert doc["counts"]["by_category"] == {"hyperventilation": 3, "interview": 3, "rest": 9, "stroop": 3}
    assert doc["counts"]["scorable_share"]["sc_change"] == 1.0
    # each task occurs once per session: no within-session habituation is claimed for it
    assert doc["habituation"]["sc_change"]["slope_by_category"]["stroop"] is None


def test_clear_errors(tmp_path: Path) -> None:
    _bids_with_groups(tmp_path / "bids")
    res = runner.invoke(app, ["reactivity", "--bids", str(tmp_path / "bids"), "--cues", "trauma",
                              "--group-by", "diagnosis"])
    assert res.exit_code == 2 and "no such column in participants.tsv (columns: group)" in res.output
    res = runner.invoke(app, ["reactivity", "--cues", "trauma"])
    assert res.exit_code == 2 and "exactly one source" in res.output
