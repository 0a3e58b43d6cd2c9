"""The command-line contract, the same in every command (see ``attunexr.cli._common``).

``--subjects`` takes the comma and the repeated form and never drops a subject; ``--json PATH`` writes a file and
standard output stays a short human summary; ``--app-dir`` (old ``--data``) is the web app's folder and
``--data-dir`` the datasets folder; any error is one ``error:`` line and a non-zero exit (a traceback only with
``--debug``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from attunexr.cli import app
from attunexr.cli._common import resolve_app_dir, split_subjects
from attunexr.errors import ConfigurationError

runner = CliRunner()


def _commands() -> list[tuple[str, Any]]:
    """Every ``attunexr`` command (click objects: typer may carry its own click), with its full name."""
    out: list[tuple[str, Any]] = []

    def walk(cmd: Any, name: str) -> None:
        if hasattr(cmd, "commands"):
            for sub_name, sub in cmd.commands.items():
                walk(sub, f"{name} {sub_name}".strip())
        else:
            out.append((name, cmd))

    walk(typer.main.get_command(app), "")
    return out


def test_split_subjects_keeps_every_subject_in_order() -> None:
    assert split_subjects(None) is None and split_subjects([]) is None and split_subjects([" , "]) is None
    assert split_subjects(["S02"]) == ["S02"]
    assert split_subjects(["S02", "S03"]) == ["S02", "S03"]
    assert split_subjects(["S02,S03"]) == ["S02", "S03"]
    assert split_subjects(["S04", "S02, S03", "S04"]) == ["S04", "S02", "S03"]
    assert split_subjects("S02,S03") == ["S02", "S03"]


def test_every_command_follows_the_option_contract() -> None:
    """--subjects is repeatable (values go through split_subjects), --json takes a PATH, --data is not offered."""
    commands = _commands()
    assert len(commands) >= 15
    seen_subjects = 0
    for name, cmd in commands:
        for param in cmd.params:
            if getattr(param, "param_type_name", "") != "option":
                continue
            if "--subjects" in param.opts:
                seen_subjects += 1
                assert param.multiple, f"attunexr {name}: --subjects must accept the repeated form"
            if "--json" in param.opts:
                assert not param.is_flag, f"attunexr {name}: --json must take a PATH ('-' = standard output)"
            if "--data" in param.opts:
                assert param.hidden, f"attunexr {name}: --data is the deprecated name of --app-dir"
    assert seen_subjects >= 3


def test_features_repeated_and_comma_subjects_use_every_subject(data_dir: Path, tmp_path: Path) -> None:
    base = ["features", "--dataset", "stress-predict", "--window", "60", "--hop", "60", "--data-dir", str(data_dir)]
    repeated = tmp_path / "repeated.csv"
    res = runner.invoke(app, [*base, "--subjects", "S02", "--subjects", "S03", "--out", str(repeated)])
    assert res.exit_code == 0, res.output
    comma = tmp_path / "comma.csv"
    res = runner.invoke(app, [*base, "--subjects", "S02,S03", "--out", str(comma)])
    assert res.exit_code == 0, res.output
    a, b = pd.read_csv(repeated), pd.read_csv(comma)
    assert sorted(a["subject"].unique()) == ["S02", "S03"]
    pd.testing.assert_frame_equal(a, b)


def test_bids_export_takes_the_comma_form_and_says_overwrite_flag(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bids"
    args = ["bids", "export", "--dataset", "stress-predict", "--subjects", "S02,S03", "--out", str(out)]
    res = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("sub-*")) == ["sub-S02", "sub-S03"]
    again = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert again.exit_code == 2
    assert "--overwrite" in again.output and "overwrite=True" not in again.output
    assert "Traceback" not in again.output


def _predictions(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(6):
        for k in range(20):
            y = int(k % 2)
            rows.append({"subject": f"S{s:02d}", "t_end": 60.0 + 10 * k, "y": y,
                         "probability": float(np.clip(0.3 * y + rng.uniform(0, 0.7), 0, 1))})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_compare_json_goes_to_the_file_and_stdout_is_a_summary(tmp_path: Path) -> None:
    a, b = _predictions(tmp_path / "a.csv", 0), _predictions(tmp_path / "b.csv", 1)
    res = runner.invoke(app, ["compare", str(a), str(b), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    assert "paired 95 % CI" in res.stdout and "{" not in res.stdout and len(res.stdout) < 400
    out = tmp_path / "cmp.json"
    res = runner.invoke(app, ["compare", str(a), str(b), "--n-boot", "50", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["n_windows"] == 120 and "{" not in res.stdout
    res = runner.invoke(app, ["compare", str(a), str(b), "--n-boot", "50", "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n_windows"] == 120  # '-' = the JSON alone on standard output


def test_datasets_list_json_path_writes_a_file(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "datasets.json"
    res = runner.invoke(app, ["datasets", "list", "--json", str(out), "--data-dir", str(data_dir)])
    assert res.exit_code == 0, res.output
    assert {r["name"] for r in json.loads(out.read_text())} >= {"stress-predict", "vr-cybersickness"}
    assert "[" not in res.stdout.splitlines()[0]  # the table, not JSON
    bare = runner.invoke(app, ["datasets", "list", "--json"])
    assert bare.exit_code != 0 and "requires an argument" in bare.output


def test_app_dir_and_the_deprecated_data_option(tmp_path: Path) -> None:
    assert resolve_app_dir(None, None) == Path("attunexr-data")
    assert resolve_app_dir(tmp_path, None) == tmp_path
    assert resolve_app_dir(None, tmp_path) == tmp_path  # old name still works, with a warning
    with pytest.raises(ConfigurationError, match="--app-dir"):
        resolve_app_dir(tmp_path / "a", tmp_path / "b")
    for command in ("demo", "serve"):
        help_text = runner.invoke(app, [command, "--help"]).output
        assert "--app-dir" in help_text and "--data " not in help_text
        res = runner.invoke(app, [command, "--data", str(tmp_path / "a"), "--app-dir", str(tmp_path / "b")])
        assert res.exit_code == 2 and "--app-dir" in res.output


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import attunexr.io.datasets as datasets

    def broken(name: str) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(datasets, "get_dataset", broken)
    args = ["features", "--dataset", "stress-predict", "--out", str(tmp_path / "f.csv")]
    res = runner.invoke(app, args)
    assert res.exit_code == 1
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: RuntimeError: disk on fire")
    assert "--debug" in lines[0]
    debug = runner.invoke(app, ["--debug", *args])
    assert isinstance(debug.exception, RuntimeError)  # re-raised: the traceback is shown
    runner.invoke(app, ["--help"])  # --debug does not stick to later commands
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "Traceback" not in again.output


def test_replay_of_a_vr_subject_makes_estimates(data_dir: Path, tmp_path: Path) -> None:
    """It used to print five tracebacks (time in VR missing), make no estimate and exit 0."""
    out = tmp_path / "estimates.jsonl"
    res = runner.invoke(
        app,
        ["replay", "--dataset", "vr-cybersickness", "--subject", "train-3", "--speed", "inf", "--json", str(out),
         "--data-dir", str(data_dir)],
    )
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "ERROR" not in res.output
    assert "{" not in res.stdout and "estimates" in res.stdout  # a summary; the JSON lines are in the file
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    est = [x for x in lines if x["type"] == "estimate"]
    assert est and all(0.0 <= e["probability"] <= 1.0 for e in est)
    assert lines[-1]["type"] == "summary" and lines[-1]["estimates"] == len(est) > 0


def test_replay_with_a_model_that_cannot_run_fails_with_one_line(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "estimates.jsonl"
    res = runner.invoke(
        app,
        ["replay", "--dataset", "stress-predict", "--subject", "S02", "--speed", "inf", "--seconds", "180",
         "--model", "cybersickness", "--json", str(out), "--data-dir", str(data_dir)],
    )
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "needs inputs the data lacks" in errors[0]
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_train_on_a_dataset_without_the_task_labels_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["train", "--task", "cybersickness", "--dataset", "stress-predict", "--out", str(tmp_path / "m"),
         "--no-eval", "--data-dir", str(data_dir)],
    )
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert "needs windows labelled sick" in res.output and "vr-cybersickness" in res.output
    assert not (tmp_path / "m").exists()
