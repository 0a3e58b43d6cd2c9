"""``attunexr record`` on real LSL outlets streaming a real recording."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from attunexr.cli._app import app
from attunexr.privacy import MASTER_KEY_ENV, generate_master_key_file, load_master_key
from attunexr.session import SessionLog


def test_record_lsl_streams_into_an_encrypted_session(
    tmp_path, s02_minutes, outlet_player, monkeypatch
) -> None:
    key_file = generate_master_key_file(tmp_path / "master.key")
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    rec = s02_minutes.crop(0.0, 40.0)
    player = outlet_player(rec, prefix="axr-cli-", speed=8.0)
    player.start()
    time.sleep(0.2)
    res = CliRunner().invoke(
        app,
        [
            "record",
            "--stream",
            "axr-cli-eda",
            "--stream",
            "axr-cli-bvp",
            "--out",
            str(tmp_path / "out"),
            "--seconds",
            "6",
            "--key-file",
            str(key_file),
            "--json",
            "-",
            "--subject",
            "p-0042",
        ],
    )
    player.close()
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (
        summary["complete"]
        and summary["samples"]["axr-cli-eda"] > 0
        and summary["samples"]["axr-cli-bvp"] > 0
    )
    log = SessionLog.open(summary["path"], load_master_key(key_file))
    assert log.complete and log.meta.subject == "p-0042"
    got = log.to_recording().streams["axr-cli-eda"]
    assert got.kind == "eda" and got.rate == 4.0
    # what was recorded is a contiguous run of the real EDA samples
    src = rec.streams["eda"].values
    assert got.n_samples == summary["samples"]["axr-cli-eda"] >= 10
    n = got.n_samples
    assert any(np.array_equal(got.values, src[i : i + n]) for i in range(src.size - n + 1))
    assert b"p-0042" not in Path(summary["path"]).read_bytes()
    res = CliRunner().invoke(
        app,
        [
            "record",
            "--stream",
            "axr-cli-missing",
            "--out",
            str(tmp_path / "o2"),
            "--seconds",
            "1",
            "--key-file",
            str(key_file),
            "--resolve-timeout",
            "0.3",
        ],
    )
    assert res.exit_code == 2 and "no LSL stream" in res.output
