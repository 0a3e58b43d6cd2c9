"""`attunexr simulate`: paired in-silico comparison of exposure policies on virtual patients."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors, json_option, write_json
from attunexr.errors import ConfigurationError

logger = logging.getLogger(__name__)
_KNOWN = ("fixed", "suds", "arousal")


@app.command("simulate")
def simulate(
    patients: int = typer.Option(1000, "--patients", min=1, help="Virtual patients (the same for every policy)."),
    sessions: int = typer.Option(6, "--sessions", min=1, help="Sessions per patient."),
    policies: str = typer.Option("fixed,suds,arousal", "--policies", help="Comma-separated: fixed, suds, arousal."),
    json_out: str | None = json_option("the figures"),
    report: Path | None = typer.Option(None, "--report", help="Write report.html and plots into this folder."),
    seed: int = typer.Option(0, "--seed", help="Random seed (population and every draw)."),
) -> None:
    """Compare exposure policies on virtual patients. In-silico results are not clinical evidence."""
    with cli_errors():
        from attunexr.simulation import run_study, write_report

        names = [p.strip() for p in policies.split(",") if p.strip()]
        unknown = [n for n in names if n not in _KNOWN]
        if not names or unknown:
            raise ConfigurationError(f"unknown policies {unknown or policies!r}; use a comma-separated subset of {list(_KNOWN)}")
        if len(set(names)) != len(names):
            raise ConfigurationError(f"policy listed twice in {policies!r}")
        console = Console(stderr=True)
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"{patients} patients x {len(names)} policies", total=sessions)
            result = run_study(patients, sessions, names, seed=seed,
                               progress=lambda done, total: bar.update(task, completed=done))
        out = result.to_json_dict()
        if json_out is not None:
            write_json(out, json_out, indent=1)
        if report is not None:
            path = write_report(result, report)
            console.print(f"report: {path}")
        console.print("[yellow]In-silico results are not clinical evidence.[/]")
        if json_out == "-":
            return
        table = Table(
            title=f"{out['patients']} virtual patients x {out['sessions']} sessions, seed {seed} "
            f"({out['wall_s']:.1f} s)"
        )
        columns = (
            ("time in window", "time_in_window", "{:.3f}"),
            ("overload / session", "overload_per_session", "{:.3f}"),
            ("sickness / session", "sickness_per_session", "{:.3f}"),
            ("max level", "max_level_mean", "{:.2f}"),
            ("dropout", "dropout_rate", "{:.3f}"),
            ("escalations during signal loss", "escalations_during_signal_loss", "{}"),
        )
        table.add_column("policy")
        for title, _, _ in columns:
            table.add_column(title, justify="right")
        for name, figures in out["policies"].items():
            table.add_row(
                name, *(fmt.format(figures[key]) if key in figures else "n/a" for _, key, fmt in columns)
            )
        Console().print(table)
