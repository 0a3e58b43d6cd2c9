"""`attunexr federated run` end to end: separate Flower processes over TLS on real data, its JSON, its clean-up,
and what the sites' messages hold.

One CLI run (two sites, two rounds, with a copy of every message a site sends) is shared by the tests here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord
from flwr.common.serde import recorddict_from_proto
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict

from attunexr.federated import load_site
from attunexr.federated._app import ALLOWED_METRICS, DUMP_DIR, MESSAGE_LOG

pytestmark = pytest.mark.slow

SITES = ["stress-predict", "nurse-stress"]
CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'attunexr'; from attunexr.cli import main; main()"]


def _env(cache: Path, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env["ATTUNEXR_DATA"] = str(data_dir)
    return env


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, stress_predict_dir: Path,
            nurse_stress_dir: Path, cache: Path) -> dict[str, Any]:
    """The documented command with two rounds, run once as its own process."""
    work = tmp_path_factory.mktemp("fed")
    out = work / "out.json"
    proc = subprocess.run(
        [*CLI, "federated", "run", "--sites", ",".join(SITES), "--rounds", "2", "--json", str(out),
         "--work-dir", str(work), "--cache-dir", str(cache), "--dump-messages"],
        env=_env(cache, data_dir), capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    return {"result": result, "stdout": proc.stdout, "stderr": proc.stderr, "work": work,
            "run_dir": Path(result["run_dir"])}


def test_run_writes_the_contract_json(cli_run: dict[str, Any]) -> None:
    r = cli_run["result"]
    assert {"sites", "rounds", "per_site", "leave_site_out", "bytes_sent_per_site", "wall_s"} <= set(r)
    assert r["sites"] == SITES and r["rounds"] == 2
    assert r["status"] == "finished:completed" and r["tls"] is True
    assert r["dropped_sites"] == {}
    for site in SITES:
        auroc = r["per_site"][site]["auroc"]
        low, high = auroc["ci"]
        assert 0.5 < auroc["value"] <= 1.0, (site, auroc)  # a trained detector, better than chance
        assert low <= auroc["value"] <= high
        assert r["per_site"][site]["n_subjects"] >= 3
        lso = r["leave_site_out"][site]
        for key in ("federated", "pooled", "local"):
            assert 0.0 <= lso[key]["value"] <= 1.0, (site, key, lso)
        assert lso["status"] == "finished:completed"
        # two train messages and one evaluation: a few hundred bytes each, all counted
        assert 300 < r["bytes_sent_per_site"][site] < 20_000
    assert r["wall_s"] > 0
    assert "federated AUROC" in cli_run["stdout"] and "status finished:completed" in cli_run["stdout"]


def test_run_registers_the_global_model(cli_run: dict[str, Any]) -> None:
    model = Path(cli_run["result"]["model"])
    assert model.is_dir() and str(model).startswith(str(cli_run["work"]))
    assert str(model) in cli_run["stdout"]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _processes_with_home(home: Path) -> list[int]:
    """PIDs of live processes whose environment names this run's private FLWR_HOME."""
    needle = f"FLWR_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_run_leaves_no_process_and_no_port(cli_run: dict[str, Any]) -> None:
    run_dir = cli_run["run_dir"]
    started = json.loads((run_dir / "processes.json").read_text())
    assert {p["name"] for p in started} == {"superlink", *(f"supernode {s}" for s in SITES)}
    for p in started:
        assert not Path(f"/proc/{p['pid']}").exists() or "Z" in Path(f"/proc/{p['pid']}/stat").read_text().split()[2]
        assert not _listening(p["port"]), p
    assert _processes_with_home(run_dir / "flwr-home") == []
    # the TLS flags reached the processes
    argv = {p["name"]: p["argv"] for p in started}
    assert "--ssl-certfile" in argv["superlink"] and "--disable-runtime-dependency-installation" in argv["superlink"]
    assert "--root-certificates" in argv["supernode stress-predict"]
    assert (run_dir / "logs" / "superlink.log").stat().st_size > 0


def _dumps(run_dir: Path, site: str) -> list[Any]:
    folder = run_dir / "sites" / site / DUMP_DIR
    messages = []
    for path in sorted(folder.glob("*.pb")):
        proto = ProtoRecordDict()
        proto.ParseFromString(path.read_bytes())
        messages.append((path.read_bytes(), recorddict_from_proto(proto)))
    return messages


def test_sites_send_only_weights_and_aggregate_metrics(cli_run: dict[str, Any], data_dir: Path,
                                                       cache: Path) -> None:
    run_dir = cli_run["run_dir"]
    n_features = None
    for site_name in SITES:
        site = load_site(site_name, data_dir=data_dir, cache_dir=cache)
        n_features = len(site.feature_names)
        messages = _dumps(run_dir, site_name)
        log_lines = (run_dir / "sites" / site_name / MESSAGE_LOG).read_text().splitlines()
        assert len(messages) == len(log_lines) >= 3 * 2 + 2  # 3 runs x 2 train messages + evaluations
        ids = site.subjects()
        raw_train, _ = site.raw_rows("train")
        raw_test, _ = site.raw_rows("test")
        X_train, _, _ = site.arrays("train")
        rows = [r for r in (*raw_train[:200], *raw_test[:200], *X_train[:200])]
        for data, content in messages:
            for name, record in content.items():
                if isinstance(record, ArrayRecord):
                    shapes = [tuple(a.shape) for a in record.to_numpy_ndarrays()]
                    assert shapes == [(n_features,), (1,)], (name, shapes)
                elif isinstance(record, MetricRecord):
                    assert set(record) <= ALLOWED_METRICS, set(record) - ALLOWED_METRICS
                else:
                    assert not isinstance(record, ConfigRecord), f"a site sent a config record {name}"
                    raise AssertionError(f"unexpected record {name}: {type(record).__name__}")
            for subject in ids:
                assert subject.encode() not in data, f"subject id {subject} in a message of {site_name}"
            for row in rows:
                finite = np.asarray(row, dtype=np.float64)
                finite = finite[np.isfinite(finite)]
                if finite.size >= 3:
                    assert finite.astype("<f8").tobytes() not in data, f"a feature row of {site_name} was sent"
                    assert finite[:3].astype("<f8").tobytes() not in data
