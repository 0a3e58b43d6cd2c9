"""``attunexr export fhir`` on a real recording."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attunexr.cli._app import app
from attunexr.interop import read_bundle


def test_export_fhir_cli(stress_predict_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "s05.json"
    args = [
        "export",
        "fhir",
        "--dataset",
        "stress-predict",
        "--subject",
        "S05",
        "--out",
        str(out),
        "--data-dir",
        str(stress_predict_dir.parent),
        "--window",
        "120",
        "--pseudonym",
        "clinic-0042",
        "--model",
        "stress",
        "--json",
        "-",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    bundle = read_bundle(out)
    assert summary["entries"] == len(bundle.entry) and summary["resources"]["Patient"] == 1
    assert summary["resources"]["Observation"] > 50
    text = out.read_text()
    assert "clinic-0042" in text and "S05" not in text
    codes = [json.dumps(e["resource"].get("code")) for e in json.loads(text)["entry"]]
    n_arousal, n_hr = sum("arousal-estimate" in c for c in codes), sum("8867-4" in c for c in codes)
    assert n_arousal == n_hr > 20  # --model adds one arousal summary per 120-s period, like heart rate

    bad = CliRunner().invoke(
        app,
        [
            "export",
            "fhir",
            "--dataset",
            "stress-predict",
            "--subject",
            "S05",
            "--out",
            str(tmp_path / "x.json"),
            "--data-dir",
            str(stress_predict_dir.parent),
            "--fhir-version",
            "DSTU2",
        ],
    )
    assert bad.exit_code == 2 and "DSTU2" in bad.output and not (tmp_path / "x.json").exists()
