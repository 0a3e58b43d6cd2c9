"""``attunexr train`` / ``attunexr evaluate`` end to end on real data: JSON contract, reports, BIDS input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from attunexr.cli._app import app
from attunexr.io import write_bids
from attunexr.io.datasets import get_dataset

runner = CliRunner()
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


def _check_contract(res: dict) -> None:  # type: ignore[type-arg]
    assert set(res) >= CONTRACT
    for name in ("auroc", "balanced_accuracy", "f1", "brier", "ece"):
        assert set(res["metrics"][name]) == {"value", "ci"}
        assert len(res["metrics"][name]["ci"]) == 2
    assert all({"subject", "auroc", "n"} <= set(r) for r in res["per_subject"])


def test_evaluate_loso_json_and_report(tmp_path: Path, stress_predict_dir: Path) -> None:
    out = tmp_path / "res.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--dataset",
            "stress-predict",
            "--task",
            "stress",
            "--protocol",
            "loso",
            "--subjects",
            "S02,S04,S06,S08,S10",
            "--n-boot",
            "100",
            "--json",
            str(out),
            "--report",
            str(tmp_path / "rep"),
            "--data-dir",
            str(stress_predict_dir.parent),
        ],
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text())
    _check_contract(res)
    assert res["task"] == "stress" and res["protocol"] == "loso" and res["normalize"] == "baseline"
    assert res["n_subjects"] == 5 and res["dataset"] == "stress-predict"
    assert "features" in res["feature_cache"]
    # secondary normalizations are opt-in, and the result says so; metrics cover every labelled window
    assert "other_normalizations" not in res and "--other-normalizations" in res["other_normalizations_note"]
    assert str(res["n_windows"]) in res["metrics_denominator"]
    assert res["metrics_answered"]["n_windows"] == round(res["n_windows"] * (1 - res["abstained_fraction"]))
    assert sum(res["selection"]["times_selected"].values()) == 5
    assert "features_from_cache" in res["timing"]
    assert "data:image/png;base64," in (tmp_path / "rep" / "report.html").read_text()


def test_evaluate_rejects_bad_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--protocol", "kfold"])
    assert result.exit_code == 2 and "loso" in result.output
    result = runner.invoke(app, ["evaluate", "--bids", str(tmp_path), "--positive", "a", "--negative", "b"])
    assert result.exit_code == 2 and "--model" in result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--bids",
            str(tmp_path / "nope"),
            "--model",
            "stress",
            "--positive",
            "a",
            "--negative",
            "b",
        ],
    )
    assert result.exit_code == 2 and "not a folder" in result.output


def test_evaluate_bids_round_trip(tmp_path: Path, stress_predict_dir: Path) -> None:
    ds = get_dataset("stress-predict")
    root = tmp_path / "bids"
    for subject in ("S03", "S12", "S21"):
        write_bids(ds.load(subject, data_dir=stress_predict_dir.parent), root, task="stress")
    out = tmp_path / "bids.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--bids",
            str(root),
            "--positive",
            "stroop,interview,hyperventilation",
            "--negative",
            "baseline,rest",
            "--baseline",
            "baseline",
            "--model",
            "stress",
            "--n-boot",
            "100",
            "--json",
            str(out),
            "--report",
            str(tmp_path / "rep"),
        ],
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text())
    _check_contract(res)
    assert res["protocol"] == "external" and res["n_subjects"] == 3
    assert res["model"]["name"] == "stress"
    assert res["metrics"]["auroc"]["value"] > 0.6  # these subjects were in the shipped model's training data
    assert res["in_sample"] is True  # and the result says so


def _hand_made_bids(root: Path, vr_dir: Path) -> None:
    """A BIDS dataset with another device layout: one physio file, ECG + EDA resampled to 100 Hz, nothing else."""
    ds = get_dataset("vr-cybersickness")
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "ecg-eda-100hz", "BIDSVersion": "1.9.0"})
    )
    # a site's own participant table: one numeric and one text column (n/a = missing)
    (root / "participants.tsv").write_text(
        "participant_id\tage\tsite\n"
        "sub-train5\t24\tA\nsub-train6\t31\tA\nsub-train9\tn/a\tB\n"
        "sub-test17\t45\tB\nsub-test18\t29\tA\nsub-test19\t52\tB\n"
    )
    (root / "participants.json").write_text(
        json.dumps({"age": {"Description": "age in years", "Units": "year"}})
    )
    for subject in ("train-5", "train-6", "train-9", "test-17", "test-18", "test-19"):
        rec = ds.load(subject, data_dir=vr_dir.parent)
        ecg, eda = rec.pick("ecg"), rec.pick("eda")
        assert ecg is not None and eda is not None
        t0 = max(ecg.t_start, eda.t_start)
        t = np.arange(t0, min(ecg.t_end, eda.t_end), 0.01)
        table = np.column_stack(
            [np.interp(t, ecg.timestamps, ecg.values), np.interp(t, eda.timestamps, eda.values)]
        )
        label = subject.replace("-", "")
        folder = root / f"sub-{label}" / "beh"
        folder.mkdir(parents=True)
        stem = f"sub-{label}_task-ride"
        with gzip.open(folder / f"{stem}_physio.tsv.gz", "wt") as fh:
            np.savetxt(fh, table, delimiter="\t", fmt="%.6f")
        (folder / f"{stem}_physio.json").write_text(
            json.dumps({"SamplingFrequency": 100.0, "StartTime": float(t0), "Columns": ["cardiac", "eda"]})
        )
        lines = ["onset\tduration\ttrial_type"] + [
            f"{iv.onset:.3f}\t{iv.duration:.3f}\t{iv.label}"
            for iv in sorted(rec.intervals, key=lambda i: i.onset)
        ]
        (folder / f"{stem}_events.tsv").write_text("\n".join(lines) + "\n")


def test_evaluate_bids_other_device_layout(tmp_path: Path, vr_cybersickness_dir: Path) -> None:
    root = tmp_path / "handmade"
    _hand_made_bids(root, vr_cybersickness_dir)
    out = tmp_path / "vr.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--bids",
            str(root),
            "--positive",
            "sick",
            "--negative",
            "not_sick",
            "--model",
            "cybersickness",
            "--n-boot",
            "100",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text())
    _check_contract(res)
    # the full model needs temperature, motion and eye tracking: the cardiac+EDA variant was used instead
    assert res["model"]["name"] == "cybersickness-cardiac-eda"
    assert any("lacks signals" in n for n in res["notes"])
    assert "elapsed_time" in res["baselines"]
    assert res["in_sample"] is False  # a site's own dataset, not the one the model was trained on
    # subgroups come from the dataset's participants.tsv
    assert res["subgroup_variables"]["age"]["description"] == "age in years"
    assert res["subgroup_variables"]["age"]["n_subjects_missing"] == 1
    assert sum(g["n_subjects"] for g in res["subgroups"]["by_age"].values()) == 5
    assert {g: v["n_subjects"] for g, v in res["subgroups"]["by_site"].items()} == {"A": 3, "B": 3}
    # a model without a fitting variant fails and names what is missing
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--bids",
            str(root),
            "--positive",
            "sick",
            "--negative",
            "not_sick",
            "--model",
            "stress-none",
            "--json",
            str(tmp_path / "x.json"),
        ],
    )
    assert result.exit_code == 2
    assert "skin temperature" in result.output and "motion" in result.output
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("task", ["cybersickness"])
def test_train_writes_model_and_card(tmp_path: Path, task: str, vr_cybersickness_dir: Path) -> None:
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            "vr-cybersickness",
            "--task",
            task,
            "--out",
            str(out),
            "--data-dir",
            str(vr_cybersickness_dir.parent),
            "--json",
            str(tmp_path / "train.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"model.joblib", "card.json", "card.html"}
    card = json.loads((out / "card.json").read_text())
    assert card["evaluation"]["protocol"] == "loso"
    summary = json.loads((tmp_path / "train.json").read_text())
    auroc = card["evaluation"]["metrics"]["auroc"]["value"]
    assert summary["loso_auroc"] == pytest.approx(auroc)
    # standard output is a one-line human summary, not JSON
    assert f"LOSO AUROC {auroc:.3f}" in result.stdout and "{" not in result.stdout


def test_evaluate_external_protocol(tmp_path: Path, vr_cybersickness_dir: Path) -> None:
    out = tmp_path / "ext.json"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--protocol",
            "external",
            "--dataset",
            "vr-cybersickness",
            "--task",
            "cybersickness",
            "--model",
            "cybersickness-cardiac-eda",
            "--n-boot",
            "100",
            "--json",
            str(out),
            "--report",
            str(tmp_path / "report"),
            "--data-dir",
            str(vr_cybersickness_dir.parent),
        ],
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text())
    _check_contract(res)
    assert res["protocol"] == "external" and res["model"]["name"] == "cybersickness-cardiac-eda"
    assert "data-testid='in-sample-warning'" in (tmp_path / "report" / "report.html").read_text()
    assert res["positive"] == ["sick"] and res["negative"] == ["not_sick"]
    assert any("unchanged" in n for n in res["notes"])
    # the shipped model was trained on these very data: the result says loudly that it is not external
    assert res["in_sample"] is True and res["notes"][0].startswith("NOT an external validation")
    assert "NOT an external validation" in result.output
    assert "by_car_sickness" in res["subgroups"]
    gain = res["baselines"]["elapsed_time"]["model_minus_baseline"]
    assert f"detector minus it {gain['value']:+.3f}" in result.output


def test_compare_two_evaluations(tmp_path: Path, vr_cybersickness_dir: Path) -> None:
    reports = {}
    for name, extra in (("auto", []), ("logistic", ["--detector", "logistic"])):
        reports[name] = tmp_path / name
        result = runner.invoke(
            app,
            [
                "evaluate",
                "--dataset",
                "vr-cybersickness",
                "--task",
                "cybersickness",
                "--n-boot",
                "50",
                "--report",
                str(reports[name]),
                "--json",
                str(tmp_path / f"{name}.json"),
                "--data-dir",
                str(vr_cybersickness_dir.parent),
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
    out = tmp_path / "cmp.json"
    result = runner.invoke(
        app,
        ["compare", str(reports["auto"]), str(reports["logistic"] / "predictions.csv"), "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    res = json.loads(out.read_text())
    first = json.loads((tmp_path / "auto.json").read_text())["metrics"]["auroc"]["value"]
    second = json.loads((tmp_path / "logistic.json").read_text())["metrics"]["auroc"]["value"]
    assert res["difference"]["value"] == pytest.approx(first - second, abs=1e-9)
    assert res["n_windows"] == json.loads((tmp_path / "auto.json").read_text())["n_windows"]
    assert "paired 95 % CI" in result.output
    missing = runner.invoke(app, ["compare", str(reports["auto"]), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
