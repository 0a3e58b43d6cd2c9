"""The Flower apps of a federated attunexr run: one ClientApp per site, one ServerApp running FedAvg.

What crosses the network, and why it is safe to send: a site's ClientApp receives the global weights of the
logistic-regression detector, trains them on its own training people (:meth:`Site.fit`) and sends back only the
new weights, its number of training windows and its training loss; on evaluation it sends only aggregate numbers
(AUROC with its subject-bootstrap interval, counts, loss). Standardization and calibration stay at the site.

Configuration:

- node config (``flower-supernode --node-config``, set once per site): ``site`` (its name: ``stress-predict``,
  ``nurse-stress@1/2``, a BIDS folder's name, ...), ``spec`` (what to load when it differs from the name: the BIDS
  folder's path), ``data-dir`` and ``cache-dir`` (where the site's data and its feature
  cache live), ``log-dir`` (where the byte counts, and on request the message dumps, of this site go);
- run config (``flwr run --run-config``, per run): ``sites`` (comma list of the participating site names, which
  fixes each site's ``site-index``), ``rounds``, ``epochs``, ``lr``, ``proximal-mu`` (FedProx when > 0),
  ``holdout`` (a site that sends its weights back unchanged with 0 examples: leave-site-out), ``secagg``,
  ``dp-noise``/``dp-clip`` (central DP with server-side fixed clipping), ``min-nodes``, ``result-path`` (where the
  ServerApp writes its result JSON) and ``dump-messages`` (the inspection test: keep a copy of every reply).

SecAgg+ only works with Flower's legacy API, so with ``secagg=true`` both apps switch to it (a ``NumPyClient``
behind ``secaggplus_mod``; the server's ``DefaultWorkflow`` with ``SecAggPlusWorkflow``).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters
from flwr.common.serde import recorddict_to_proto
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg, FedProx

__all__ = ["client_app", "server_app", "ALLOWED_METRICS", "MESSAGE_LOG", "DUMP_DIR"]

Weights = list[np.ndarray[Any, Any]]

#: Every metric name a site may send (train and evaluate replies). The inspection test checks against it.
ALLOWED_METRICS = frozenset({
    "num-examples", "train_loss", "site-index", "auroc", "auroc_ci_low", "auroc_ci_high", "n_subjects",
    "n_windows", "loss",
})
#: File (in a site's ``log-dir``) with one JSON line per message the site sent: its type and serialized size.
MESSAGE_LOG = "messages-sent.jsonl"
#: Folder (in a site's ``log-dir``) holding a copy of every serialized reply when ``dump-messages`` is on.
DUMP_DIR = "sent"

_ARRAY_KEYS = ("coef", "intercept")


# --------------------------------------------------------------------------------------------------- helpers
def _cfg_str(cfg: Any, key: str, default: str = "") -> str:
    value = cfg.get(key, default)
    return str(value)


def _cfg_float(cfg: Any, key: str, default: float) -> float:
    return float(cfg.get(key, default))


def _cfg_int(cfg: Any, key: str, default: int) -> int:
    return int(cfg.get(key, default))


def _cfg_bool(cfg: Any, key: str) -> bool:
    value = cfg.get(key, False)
    return value is True or str(value).lower() in {"true", "1", "yes"}


def _site_names(run_config: Any) -> list[str]:
    return [s.strip() for s in _cfg_str(run_config, "sites").split(",") if s.strip()]


def _to_record(weights: Weights) -> ArrayRecord:
    return ArrayRecord(
        {key: Array(np.asarray(w, dtype=np.float64)) for key, w in zip(_ARRAY_KEYS, weights, strict=True)}
    )


def _from_record(record: ArrayRecord) -> Weights:
    return [np.asarray(a, dtype=np.float64) for a in record.to_numpy_ndarrays()]


def _load_site(context: Context) -> Any:
    """The site named by the node config, loaded from its on-disk cache (each message is a fresh process)."""
    from attunexr.federated._site import load_site

    node = context.node_config
    run = context.run_config
    data_dir = _cfg_str(node, "data-dir")
    cache_dir = _cfg_str(node, "cache-dir")
    return load_site(
        _cfg_str(node, "spec") or _cfg_str(node, "site"),
        seed=_cfg_int(run, "seed", 0),
        test_fraction=_cfg_float(run, "test-fraction", 0.3),
        data_dir=Path(data_dir) if data_dir else None,
        cache_dir=Path(cache_dir) if cache_dir else None,
    )


def _site_index(context: Context) -> int:
    names = _site_names(context.run_config)
    site = _cfg_str(context.node_config, "site")
    return names.index(site) if site in names else -1


def _is_holdout(context: Context) -> bool:
    return _cfg_str(context.run_config, "holdout") == _cfg_str(context.node_config, "site")


def _train_on_site(context: Context, weights: Weights, server_round: int) -> tuple[Weights, int, dict[str, float]]:
    """Train at the site, or, for the held-out site of a leave-site-out run, send the weights back untouched."""
    index = float(_site_index(context))
    if _is_holdout(context):
        return weights, 0, {"train_loss": 0.0, "site-index": index}
    site = _load_site(context)
    run = context.run_config
    new, n, metrics = site.fit(
        weights, epochs=_cfg_int(run, "epochs", 5), lr=_cfg_float(run, "lr", 0.1),
        proximal_mu=_cfg_float(run, "proximal-mu", 0.0),
    )
    out = {"train_loss": float(metrics.get("train_loss", float("nan"))), "site-index": index}
    return [np.asarray(w, dtype=np.float64) for w in new], int(n), out


def _evaluate_on_site(context: Context, weights: Weights, server_round: int) -> dict[str, float]:
    """Evaluate the global weights on the site's held-out people (the bootstrap CI in full only at the end)."""
    site = _load_site(context)
    run = context.run_config
    final = server_round >= _cfg_int(run, "rounds", 1)
    n_boot = _cfg_int(run, "n-boot", 500) if final else 20
    metrics = site.evaluate(weights, part="test", n_boot=n_boot)
    out = {k: float(v) for k, v in metrics.items() if k in ALLOWED_METRICS}
    out["site-index"] = float(_site_index(context))
    return out


# ------------------------------------------------------------------------------------------- client-side mod
def _account_mod(msg: Message, ctxt: Context, call_next: Callable[[Message, Context], Message]) -> Message:
    """Count the serialized bytes of every reply this site sends (and keep a copy when asked to).

    The count is the size of the reply's content as Flower serializes it (protobuf), one JSON line per message in
    ``log-dir/messages-sent.jsonl``; with run config ``dump-messages=true`` the serialized bytes themselves go to
    ``log-dir/sent/`` for inspection.
    """
    reply = call_next(msg, ctxt)
    log_dir = _cfg_str(ctxt.node_config, "log-dir")
    if not log_dir or reply.has_error():
        return reply
    data = recorddict_to_proto(reply.content).SerializeToString()
    folder = Path(log_dir)
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "run_id": ctxt.run_id, "type": msg.metadata.message_type, "bytes": len(data), "time": time.time(),
    }
    with open(folder / MESSAGE_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    if _cfg_bool(ctxt.run_config, "dump-messages"):
        dump = folder / DUMP_DIR
        dump.mkdir(exist_ok=True)
        (dump / f"{time.time_ns()}-{os.getpid()}-{uuid.uuid4().hex[:6]}.pb").write_bytes(data)
    return reply


# ------------------------------------------------------------------------------- client: legacy API (SecAgg+)
class _LegacyClient(NumPyClient):
    """The same site logic behind Flower's legacy ``NumPyClient`` (needed by SecAgg+)."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def fit(self, parameters: Weights, config: dict[str, Any]) -> tuple[Weights, int, dict[str, Any]]:
        rnd = int(config.get("server-round", 0))
        return _train_on_site(self.context, [np.asarray(p) for p in parameters], rnd)

    def evaluate(self, parameters: Weights, config: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        rnd = int(config.get("server-round", 0))
        metrics = _evaluate_on_site(self.context, [np.asarray(p) for p in parameters], rnd)
        return float(metrics.get("loss", 0.0)), int(metrics.get("n_windows", 0)), metrics


def _legacy_client_fn(context: Context) -> Any:
    return _LegacyClient(context).to_client()


_legacy_app = ClientApp(client_fn=_legacy_client_fn, mods=[secaggplus_mod])

# --------------------------------------------------------------------------------------- client: message API
client_app = ClientApp(mods=[_account_mod])


@client_app.train()
def _train(msg: Message, context: Context) -> Message:
    """Train the received global weights on this site's training people; reply weights + aggregate numbers."""
    if _cfg_bool(context.run_config, "secagg"):
        return _legacy_app(msg, context)
    config = msg.content["config"]
    assert isinstance(config, ConfigRecord)
    rnd = _cfg_int(config, "server-round", 0)
    arrays = msg.content["arrays"]
    assert isinstance(arrays, ArrayRecord)
    weights, n, metrics = _train_on_site(context, _from_record(arrays), rnd)
    record = MetricRecord({**metrics, "num-examples": n})
    return Message(RecordDict({"arrays": _to_record(weights), "metrics": record}), reply_to=msg)


@client_app.evaluate()
def _evaluate(msg: Message, context: Context) -> Message:
    """Evaluate the received global weights on this site's held-out people; reply aggregate numbers only."""
    if _cfg_bool(context.run_config, "secagg"):
        return _legacy_app(msg, context)
    config = msg.content["config"]
    assert isinstance(config, ConfigRecord)
    arrays = msg.content["arrays"]
    assert isinstance(arrays, ArrayRecord)
    metrics = _evaluate_on_site(context, _from_record(arrays), _cfg_int(config, "server-round", 0))
    record: dict[str, Any] = {**metrics, "num-examples": max(metrics.get("n_windows", 1.0), 1.0)}
    return Message(RecordDict({"metrics": MetricRecord(record)}), reply_to=msg)


# -------------------------------------------------------------------------------------------------- server
class _Recorder:
    """What the server keeps per round: which sites answered (training) and each site's evaluation numbers."""

    def __init__(self, sites: list[str]) -> None:
        self.sites = sites
        self.trained: dict[int, list[str]] = {}
        self.evaluated: dict[int, dict[str, dict[str, float]]] = {}
        self.train_loss: dict[int, dict[str, float]] = {}

    def site(self, metrics: Any) -> str:
        idx = int(metrics.get("site-index", -1))
        return self.sites[idx] if 0 <= idx < len(self.sites) else f"site-{idx}"

    def log_train(self, rnd: int, metric_list: list[Any]) -> None:
        names = [self.site(m) for m in metric_list]
        self.trained[rnd] = names
        self.train_loss[rnd] = {self.site(m): float(m.get("train_loss", float("nan"))) for m in metric_list}
        print(f"attunexr: round {rnd} trained on {','.join(names) or 'no site'}", flush=True)

    def log_evaluate(self, rnd: int, metric_list: list[Any]) -> None:
        self.evaluated[rnd] = {self.site(m): {k: float(v) for k, v in m.items()} for m in metric_list}
        aurocs = ", ".join(f"{s} {v.get('auroc', float('nan')):.3f}" for s, v in self.evaluated[rnd].items())
        print(f"attunexr: round {rnd} evaluated: {aurocs}", flush=True)


class _RecordingFedAvg(FedAvg):
    """FedAvg that also records, per round, which sites trained and each site's own evaluation.

    Sites evaluate only after the last round unless ``evaluate-every-round`` is set: every message costs a fresh
    app process at each site, so skipping the intermediate evaluations halves a run's time.
    """

    recorder: _Recorder
    num_rounds: int = 1
    every_round: bool = False

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Any:
        if server_round < self.num_rounds and not self.every_round:
            return []
        return super().configure_evaluate(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int, replies: Any) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        ok = [m.content["metrics"] for m in replies if not m.has_error()]
        self.recorder.log_train(server_round, ok)
        return super().aggregate_train(server_round, replies)

    def aggregate_evaluate(self, server_round: int, replies: Any) -> MetricRecord | None:
        replies = list(replies)
        ok = [m.content["metrics"] for m in replies if not m.has_error()]
        if not replies:
            return None
        self.recorder.log_evaluate(server_round, ok)
        return super().aggregate_evaluate(server_round, replies)


class _RecordingFedProx(FedProx, _RecordingFedAvg):
    """FedProx (``proximal_mu`` goes to the sites in the train config) with the same recording."""


def _initial_weights(run: Any) -> Weights:
    from attunexr.federated import _site

    n = _cfg_int(run, "n-features", 0) or len(_site.FEATURES)
    return [np.asarray(w, dtype=np.float64) for w in _site.initial_weights(n)]


server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    """Run FedAvg (FedProx, DP or SecAgg+ per run config) and write the result JSON the orchestrator reads."""
    run = context.run_config
    sites = _site_names(run)
    rounds = _cfg_int(run, "rounds", 3)
    min_nodes = _cfg_int(run, "min-nodes", 0) or len(sites)
    recorder = _Recorder(sites)
    t0 = time.time()
    if _cfg_bool(run, "secagg"):
        weights, strategy = _run_secagg(grid, context, recorder, rounds, min_nodes)
    else:
        weights, strategy = _run_fedavg(grid, context, recorder, rounds, min_nodes)
    dropped: dict[str, list[int]] = {}
    for rnd in range(1, rounds + 1):
        for site in sites:
            if site not in recorder.trained.get(rnd, []):
                dropped.setdefault(site, []).append(rnd)
    result = {
        "sites": sites, "rounds": rounds, "strategy": strategy, "min_nodes": min_nodes,
        "holdout": _cfg_str(run, "holdout") or None,
        "weights": [w.tolist() for w in weights],
        "trained": {str(k): v for k, v in recorder.trained.items()},
        "train_loss": {str(k): v for k, v in recorder.train_loss.items()},
        "evaluated": {str(k): v for k, v in recorder.evaluated.items()},
        "dropped": dropped,
        "server_s": time.time() - t0,
    }
    path = _cfg_str(run, "result-path")
    if path:
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, path)


def _run_fedavg(grid: Grid, context: Context, recorder: _Recorder, rounds: int,
                min_nodes: int) -> tuple[Weights, str]:
    run = context.run_config
    mu = _cfg_float(run, "proximal-mu", 0.0)
    kwargs: dict[str, Any] = {
        "fraction_train": 1.0, "fraction_evaluate": 1.0, "min_train_nodes": min_nodes,
        "min_evaluate_nodes": min_nodes, "min_available_nodes": min_nodes,
    }
    inner: _RecordingFedAvg = _RecordingFedProx(proximal_mu=mu, **kwargs) if mu > 0 else _RecordingFedAvg(**kwargs)
    inner.recorder = recorder
    inner.num_rounds = rounds
    inner.every_round = _cfg_bool(run, "evaluate-every-round")
    name = "FedProx" if mu > 0 else "FedAvg"
    strategy: Any = inner
    noise = _cfg_float(run, "dp-noise", 0.0)
    clip = _cfg_float(run, "dp-clip", 0.0)
    if noise > 0 or clip > 0:
        strategy = DifferentialPrivacyServerSideFixedClipping(
            inner, noise_multiplier=noise, clipping_norm=clip if clip > 0 else 1.0,
            num_sampled_clients=len(recorder.sites),
        )
        name += "+DP(server-side fixed clipping)"
    result = strategy.start(
        grid=grid, initial_arrays=_to_record(_initial_weights(run)), num_rounds=rounds,
        timeout=_cfg_float(run, "round-timeout", 600.0),
        train_config=ConfigRecord({"proximal-mu": mu}),
    )
    return _from_record(result.arrays), name


def _run_secagg(grid: Grid, context: Context, recorder: _Recorder, rounds: int,
                min_nodes: int) -> tuple[Weights, str]:
    from flwr.server import ServerConfig
    from flwr.server.compat import LegacyContext
    from flwr.server.strategy import FedAvg as LegacyFedAvg
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_PARAMS_RECORD

    run = context.run_config
    counter = {"fit": 0}

    def fit_metrics(results: list[tuple[int, Any]]) -> dict[str, Any]:
        counter["fit"] += 1
        recorder.log_train(counter["fit"], [m for _, m in results])
        return {}

    def eval_metrics(results: list[tuple[int, Any]]) -> dict[str, Any]:
        recorder.log_evaluate(rounds, [m for _, m in results])
        return {}

    def on_round(rnd: int) -> dict[str, Any]:
        return {"server-round": rnd}

    class _LastRoundEvaluation(LegacyFedAvg):
        def configure_evaluate(self, server_round: int, parameters: Any, client_manager: Any) -> Any:
            if server_round < rounds and not _cfg_bool(run, "evaluate-every-round"):
                return []
            return super().configure_evaluate(server_round, parameters, client_manager)

    strategy = _LastRoundEvaluation(
        fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=min_nodes, min_evaluate_clients=min_nodes,
        min_available_clients=min_nodes,
        initial_parameters=ndarrays_to_parameters(_initial_weights(run)),
        on_fit_config_fn=on_round, on_evaluate_config_fn=on_round,
        fit_metrics_aggregation_fn=fit_metrics, evaluate_metrics_aggregation_fn=eval_metrics,
    )
    legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
    workflow = DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(
        num_shares=1.0, reconstruction_threshold=1.0,
        max_weight=_cfg_float(run, "secagg-max-weight", 100000.0),
        clipping_range=_cfg_float(run, "secagg-clipping-range", 64.0),
        quantization_range=2**26, modulus_range=2**32,
    ))
    workflow(grid, legacy)
    return _from_record(legacy.state.array_records[MAIN_PARAMS_RECORD]), "FedAvg+SecAgg+"
