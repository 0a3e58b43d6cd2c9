"""`attunexr trial ...`: protocol template and validation, and planning a trial by simulation."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors
from attunexr.errors import ConfigurationError

logger = logging.getLogger(__name__)

trial_app = typer.Typer(help="Multicentre trials: protocols, planning by simulation, reports.", no_args_is_help=True)
app.add_typer(trial_app, name="trial")


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


@trial_app.command("template")
def template(out: Path = typer.Argument(..., help="Write the default three-arm protocol (JSON) here.")) -> None:
    """Write the default three-arm protocol: AI-adaptive VR vs standard VR (fixed schedule) vs usual care."""
    with cli_errors():
        from attunexr.trials import default_protocol, save_protocol

        save_protocol(default_protocol(), out)
        typer.echo(f"protocol written to {out}")


@trial_app.command("validate")
def validate(protocol: Path = typer.Argument(..., help="Protocol file (JSON).")) -> None:
    """Check a protocol file against the schema and its internal consistency."""
    with cli_errors():
        from attunexr.trials import load_protocol

        p = load_protocol(protocol)
        typer.echo(f"{protocol}: valid protocol {p.id} v{p.version}, {len(p.arms)} arms, {len(p.sites)} sites, "
                   f"{len(p.visits)} visits, primary outcome {p.primary.instrument} at {p.primary.visit}")


@trial_app.command("simulate")
def simulate(
    protocol: Path | None = typer.Argument(None, help="Protocol file (JSON); default: the three-arm template."),
    per_arm: int = typer.Option(100, "--per-arm", min=2, help="Participants randomized per arm."),
    sites: int | None = typer.Option(None, "--sites", min=1, help="Replace the protocol's sites by this many."),
    seed: int = typer.Option(0, "--seed", help="Seed of the allocation sequence and every simulated draw."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the trial summary as JSON to this file."),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report, flow diagram, checklists and "
                                                              "dataset into this folder."),
    imputations: int = typer.Option(20, "--imputations", min=0, help="Multiple imputations (0 = skip)."),
    reps: int = typer.Option(1, "--reps", min=1, help="Repeat the trial this many times and report power "
                                                      "(with --reps > 1 no report folder is written)."),
    pool: int = typer.Option(1000, "--pool", min=50, help="Virtual patients in the pool the repetitions draw from."),
) -> None:
    """Run the whole trial on virtual patients. Simulated effects are assumptions, not evidence."""
    with cli_errors():
        from attunexr.trials import (
            build_report,
            default_protocol,
            load_protocol,
            simulate_power,
            simulate_trial,
        )
        from attunexr.trials import write_report as write_trial_report

        prot = load_protocol(protocol) if protocol is not None else default_protocol()
        if sites is not None:
            prot = prot.with_sites(sites)
        console = Console(stderr=True)
        if reps > 1:
            if report is not None:
                raise ConfigurationError("--report writes one simulated trial; leave it out with --reps > 1")
            with console.status(f"{reps} simulated trials of {per_arm} per arm"):
                res = simulate_power(prot, per_arm, reps, seed=seed, pool_size=pool)
            if json_out is not None:
                _write_json(json_out, {**asdict(res), "warning": "simulated effects are assumptions, not evidence"})
            typer.echo(f"{reps} simulated trials of {per_arm} per arm, contrast {res.contrast}: power {res.power}, "
                       f"95 % CI coverage of the assumed effect {res.coverage}")
            typer.echo(f"assumed true effect {res.true_effect}; estimates {res.mean_estimate} "
                       f"(SD {res.sd_estimate} across trials)")
            typer.echo("SIMULATED: effects are assumptions, not evidence.")
            return
        with console.status(f"simulating {per_arm} per arm x {len(prot.arms)} arms on virtual patients"):
            data = simulate_trial(prot, per_arm, seed=seed)
            rep = build_report(data, imputations=imputations, seed=seed)
        out = rep.to_json_dict()
        if json_out is not None:
            _write_json(json_out, out)
        if report is not None:
            path = write_trial_report(rep, report)
            typer.echo(f"report: {path}")
        p = out["primary"]
        c = out["consort"]
        typer.echo(f"randomized {c['enrolled']} ({', '.join(f'{k} {v}' for k, v in c['allocated'].items())}); "
                   f"analysed {sum(c['analysed'].values())}")
        typer.echo(f"primary {p['contrast']}: {p['effect']} points (95 % CI {p['ci'][0]} to {p['ci'][1]}); "
                   f"assumed true effect {out['assumed_true_effect']}")
        for k, v in out["checklists"].items():
            typer.echo(f"{k}: {v['answered']}/{v['items']} answered, {len(v['missing'])} missing")
        typer.echo("SIMULATED: effects are assumptions, not evidence.")
