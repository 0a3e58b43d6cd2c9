"""``attunexr federated run``: a whole local federation in one command, and its result JSON.

Steps: check the sites (names, at least two, their data loads), make or check the TLS certificates, start a
SuperLink and one SuperNode per site as separate processes, run FedAvg (``flwr run``), then one leave-site-out
run per site on the same deployment (run config ``holdout=SITE``: that site sends its weights back unchanged with
0 examples and only evaluates), compare with the centralized pooled and local models on the same people, register
the global model, stop every process. The result follows the contract of issue 16::

    {"sites", "rounds", "per_site": {site: {"auroc": {"value", "ci"}, "n_subjects"}},
     "leave_site_out": {site: {"federated", "pooled", "local"}}, "bytes_sent_per_site", "wall_s", ...}
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attunexr.errors import AttunexrError, ConfigurationError
from attunexr.federated._app import MESSAGE_LOG
from attunexr.federated._deploy import CertPaths, Deployment, RunOutcome, check_certs, make_certs

__all__ = ["FederatedRunError", "RunSettings", "bytes_sent", "parse_sites", "run_federated", "summarize"]

log = logging.getLogger(__name__)

#: Within this AUROC distance the federated model counts as matching the pooled centralized one (issue 16).
POOLED_TOLERANCE = 0.03
DP_DELTA = 1e-5


class FederatedRunError(AttunexrError):
    """A federated run did not finish (its status and the log to read are in the message)."""


@dataclass
class RunSettings:
    """Everything one ``attunexr federated run`` needs."""

    sites: list[str]
    rounds: int = 5
    epochs: int = 5
    lr: float = 0.1
    proximal_mu: float = 0.0
    secagg: bool = False
    dp_noise: float = 0.0
    dp_clip: float = 0.0
    min_nodes: int | None = None
    leave_site_out: bool = True
    seed: int = 0
    work_dir: Path = field(default_factory=lambda: Path("attunexr-federated"))
    certs_dir: Path | None = None
    data_dir: Path | None = None
    cache_dir: Path | None = None
    dump_messages: bool = False
    round_timeout: float = 600.0
    #: HOST:PORT of a SuperLink started elsewhere (sites on other machines): only submit the runs
    superlink: str | None = None
    #: what a site loads when that is not its name (a BIDS folder's path), by site name
    specs: dict[str, str] = field(default_factory=dict)

    def spec(self, site: str) -> str:
        """What ``site`` loads (its BIDS folder, else its name)."""
        return self.specs.get(site, site)

    def run_config(self, *, n_features: int, holdout: str = "") -> dict[str, Any]:
        """The Flower run config (keys of flwr_app/pyproject.toml)."""
        return {
            "sites": ",".join(self.sites), "rounds": self.rounds, "epochs": self.epochs, "lr": float(self.lr),
            "proximal-mu": float(self.proximal_mu), "holdout": holdout, "secagg": self.secagg,
            "dp-noise": float(self.dp_noise), "dp-clip": float(self.dp_clip),
            "min-nodes": self.min_nodes or len(self.sites), "n-features": n_features, "seed": self.seed,
            "dump-messages": self.dump_messages, "round-timeout": float(self.round_timeout),
        }


def parse_sites(value: str | list[str], specs: dict[str, str] | None = None) -> list[str]:
    """Site names from ``--sites a,b[,c]``: each must parse (known dataset, valid part), at least two, no repeats.

    ``specs`` (if given) gets name -> given text for the sites whose name differs from it (BIDS folders).
    """
    from attunexr.federated._site import parse_site

    items = value.split(",") if isinstance(value, str) else [v for x in value for v in str(x).split(",")]
    names = [s.strip() for s in items if s.strip()]
    if len(names) != len(set(names)):
        raise ConfigurationError(f"--sites {','.join(names)}: a site is named twice")
    if len(names) < 2:
        raise ConfigurationError(
            f"--sites {','.join(names) or '(none)'}: a federation needs at least two sites, e.g. "
            "--sites stress-predict,nurse-stress"
        )
    parsed = [parse_site(n).name for n in names]
    if len(set(parsed)) != len(parsed):
        raise ConfigurationError(f"--sites {','.join(names)}: two sites have the same name {parsed}")
    if specs is not None:
        specs.update({name: given for name, given in zip(parsed, names, strict=True) if name != given})
    return parsed


def check_settings(settings: RunSettings) -> None:
    """Clear errors for options that cannot work, before anything starts."""
    if settings.rounds < 1:
        raise ConfigurationError(f"--rounds {settings.rounds}: needs at least 1 round")
    if settings.epochs < 1:
        raise ConfigurationError(f"--epochs {settings.epochs}: needs at least 1 local epoch")
    if (settings.dp_noise > 0) != (settings.dp_clip > 0):
        raise ConfigurationError("differential privacy needs both --dp-noise X (> 0) and --dp-clip C (> 0)")
    if settings.dp_noise < 0 or settings.dp_clip < 0:
        raise ConfigurationError("--dp-noise and --dp-clip must be positive")
    if settings.secagg and (settings.dp_noise > 0):
        raise ConfigurationError("--secagg and --dp-noise together are not supported; choose one")
    if settings.min_nodes is not None and not 1 <= settings.min_nodes <= len(settings.sites):
        raise ConfigurationError(f"--min-nodes {settings.min_nodes}: must be between 1 and {len(settings.sites)}")


def bytes_sent(site_dir: Path, run_ids: set[str] | None = None) -> int:
    """Bytes of every message one site sent (from its ``messages-sent.jsonl``), optionally only some runs."""
    path = site_dir / MESSAGE_LOG
    if not path.is_file():
        return 0
    total = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if run_ids is None or str(entry.get("run_id")) in run_ids:
            total += int(entry["bytes"])
    return total


def _ci(metrics: dict[str, float]) -> dict[str, Any]:
    value = metrics.get("auroc", float("nan"))
    low, high = metrics.get("auroc_ci_low"), metrics.get("auroc_ci_high")
    return {
        "value": None if value is None or math.isnan(value) else round(float(value), 4),
        "ci": [None if v is None or math.isnan(v) else round(float(v), 4) for v in (low, high)],
    }


def _final_evaluation(result: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    """Each site's evaluation in the last round it evaluated."""
    if not result:
        return {}
    out: dict[str, dict[str, float]] = {}
    for rnd in sorted(result.get("evaluated", {}), key=int):
        out.update(result["evaluated"][rnd])
    return out


def summarize(
    settings: RunSettings, main: RunOutcome, holdouts: dict[str, RunOutcome], comparison: dict[str, Any] | None,
    dep: Deployment, wall_s: float,
) -> dict[str, Any]:
    """The result JSON of a run (contract fields first, then what helps reading them)."""
    final = _final_evaluation(main.result)
    per_site: dict[str, dict[str, Any]] = {
        s: {"auroc": _ci(final[s]), "n_subjects": int(final[s].get("n_subjects", 0))} if s in final
        else {"auroc": {"value": None, "ci": [None, None]}, "n_subjects": 0}
        for s in settings.sites
    }
    comp_sites = (comparison or {}).get("per_site", {})
    lso_pooled = (comparison or {}).get("leave_site_out_pooled", {})
    leave_site_out: dict[str, Any] = {}
    for s in settings.sites:
        ho = holdouts.get(s)
        fed = _final_evaluation(ho.result if ho else None).get(s)
        leave_site_out[s] = {
            "federated": _ci(fed) if fed else None,
            "pooled": lso_pooled.get(s),
            "local": comp_sites.get(s, {}).get("local"),
            "status": ho.status if ho else "not run",
        }
    vs_pooled: dict[str, Any] = {}
    notes: list[str] = []
    for s in settings.sites:
        fed_v = per_site[s]["auroc"]["value"]
        pooled = comp_sites.get(s, {}).get("pooled") or {}
        local = comp_sites.get(s, {}).get("local") or {}
        diff = None if fed_v is None or pooled.get("value") is None else round(fed_v - pooled["value"], 4)
        vs_pooled[s] = {"federated": per_site[s]["auroc"], "pooled": pooled or None, "local": local or None,
                        "federated_minus_pooled": diff}
        if diff is not None and abs(diff) > POOLED_TOLERANCE:
            notes.append(
                f"{s}: federated AUROC {fed_v:.3f} differs from the pooled model's {pooled['value']:.3f} by "
                f"{diff:+.3f} (> {POOLED_TOLERANCE}); with {settings.rounds} rounds of {settings.epochs} local "
                "epochs FedAvg over sites whose features are standardized per site may not reach the pooled "
                "optimum, and held-out AUROCs of few people vary by more than this (see the CIs)"
            )
    main_ids = {main.run_id} if main.run_id else set()
    all_ids = main_ids | {o.run_id for o in holdouts.values() if o.run_id}
    dropped = (main.result or {}).get("dropped", {})
    out: dict[str, Any] = {
        "sites": settings.sites,
        "rounds": settings.rounds,
        "per_site": per_site,
        "leave_site_out": leave_site_out,
        "bytes_sent_per_site": {s: bytes_sent(dep.site_dir(s), main_ids) for s in settings.sites},
        "wall_s": round(wall_s, 1),
        "status": main.status,
        "strategy": (main.result or {}).get("strategy"),
        "tls": dep.certs is not None,
        "epochs": settings.epochs,
        "dropped_sites": dropped,
        "vs_pooled": vs_pooled,
        "notes": notes,
        "bytes_sent_per_site_all_runs": {s: bytes_sent(dep.site_dir(s), all_ids) for s in settings.sites},
        "run_wall_s": {"federated": round(main.wall_s, 1),
                       **{f"holdout {s}": round(o.wall_s, 1) for s, o in holdouts.items()}},
        "run_dir": str(dep.run_dir),
    }
    return out


def _privacy(settings: RunSettings) -> dict[str, Any] | None:
    if settings.dp_noise <= 0:
        return {"secagg": True, "epsilon": None} if settings.secagg else None
    from attunexr.federated._privacy import gaussian_epsilon

    eps = gaussian_epsilon(settings.dp_noise, settings.rounds, DP_DELTA)
    return {"mechanism": "Gaussian, server-side fixed clipping (site-level)", "noise_multiplier": settings.dp_noise,
            "clipping_norm": settings.dp_clip, "epsilon": round(float(eps), 4), "delta": DP_DELTA,
            "secagg": settings.secagg}


def _certs(settings: RunSettings, run_dir: Path) -> CertPaths:
    if settings.certs_dir is not None:
        return check_certs(settings.certs_dir, server=True)
    return make_certs(run_dir / "certs")


def run_federated(
    settings: RunSettings, *, on_line: Callable[[str, str], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole local federation (see the module text); every process is stopped before this returns.

    ``on_line(run_name, line)`` gets each streamed server log line, ``on_phase(text)`` each step (progress).
    Raises :class:`FederatedRunError` when the federated run itself did not finish.
    """
    from attunexr.federated._evaluate import centralized_comparison
    from attunexr.federated._register import register_global_model
    from attunexr.federated._site import load_site

    t0 = time.monotonic()
    check_settings(settings)
    phase = on_phase or (lambda text: None)
    work = Path(settings.work_dir).resolve()
    run_dir = work / time.strftime("run-%Y%m%d-%H%M%S")
    remote = settings.superlink is not None
    if remote and settings.certs_dir is None:
        raise ConfigurationError("--superlink needs --certs DIR holding the federation's ca.crt")
    certs = check_certs(settings.certs_dir, server=False) if remote and settings.certs_dir else _certs(
        settings, run_dir)  # checked before anything starts
    loaded: list[Any] = []
    if remote:
        from attunexr.federated._site import FEATURES

        n_features = len(FEATURES)
    else:
        phase("loading the sites' data (first time: computing features)")
        loaded = [load_site(settings.spec(s), seed=settings.seed, data_dir=settings.data_dir, cache_dir=settings.cache_dir)
                  for s in settings.sites]
        n_features = len(loaded[0].feature_names)
    holdouts: dict[str, RunOutcome] = {}
    with Deployment(run_dir, certs=certs, data_dir=settings.data_dir, cache_dir=settings.cache_dir) as dep:
        if remote:
            dep.connect(str(settings.superlink))
        else:
            phase(f"starting the SuperLink and {len(settings.sites)} SuperNodes (TLS)")
            dep.start_superlink()
            for s in settings.sites:
                dep.start_site(s, spec=settings.spec(s))
        held_out = list(settings.sites) if settings.leave_site_out else []
        phase("federated training")
        main = dep.submit(settings.run_config(n_features=n_features), name="federated",
                          on_line=lambda line: on_line("federated", line) if on_line else None)
        if not main.finished or main.result is None:
            raise FederatedRunError(
                f"the federated run ended with status {main.status}; see {main.log} and the logs in {dep.logs}"
            )
        # leave-site-out runs one after the other on the same deployment (Flower's SuperExec mixes up the
        # credentials of ServerApps started side by side)
        for s in held_out:
            phase(f"leave-site-out: training without {s}")

            def forward(line: str, run_name: str = f"without {s}") -> None:
                if on_line is not None:
                    on_line(run_name, line)

            holdouts[s] = dep.submit(settings.run_config(n_features=n_features, holdout=s),
                                     name=f"holdout-{dep.site_dir(s).name}", on_line=forward)
    result = main.result
    comparison = None
    if loaded:
        phase("centralized pooled and local models on the same people")
        comparison = centralized_comparison(loaded, epochs_equiv=settings.rounds * settings.epochs,
                                            seed=settings.seed)
    out = summarize(settings, main, holdouts, comparison, dep, time.monotonic() - t0)
    out["privacy"] = _privacy(settings)
    if remote:
        out["notes"].append(
            "sites on other machines: the pooled and local comparisons need every site's data in one place and "
            "the byte counts are kept at each site (sites/SITE/messages-sent.jsonl in its work folder); the global "
            f"weights are in {main.result_path}"
        )
        out["bytes_sent_per_site"] = {s: None for s in settings.sites}
        out["model"] = None
        out["wall_s"] = round(time.monotonic() - t0, 1)
        return out
    weights = [np.asarray(w, dtype=np.float64) for w in result["weights"]]
    model = register_global_model(
        weights, loaded, out_dir=work / "models" / "stress-federated", rounds=settings.rounds,
        strategy=str(out["strategy"]), privacy=out["privacy"], per_site=out["per_site"],
    )
    out["model"] = str(model)
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out
