"""``attunexr export fhir``: a FHIR Bundle of one recorded session for a clinic's records system."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors, data_dir_option, json_option, write_json

export_app = typer.Typer(help="Export sessions to clinical systems.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("fhir")
def fhir_command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (see `attunexr datasets list`)."),
    subject: str = typer.Option(..., "--subject", help="Subject of the dataset to export."),
    out: Path = typer.Option(..., "--out", help="Bundle JSON file to write (written atomically)."),
    window: float = typer.Option(60.0, "--window", help="Seconds summarized by each physiology Observation."),
    pseudonym: str | None = typer.Option(
        None, "--pseudonym", help="Patient pseudonym to export (default: the dataset's subject ID)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Also export this detector's arousal estimates (e.g. `stress`)."
    ),
    fhir_version: str = typer.Option("R4B", "--fhir-version", help="FHIR release: R4B (default) or R5."),
    bundle_type: str = typer.Option("transaction", "--type", help="Bundle type: transaction or collection."),
    data_dir: Path | None = data_dir_option(),
    json_out: str | None = json_option("the summary (file, version, resource counts, period)"),
) -> None:
    """Build a FHIR Bundle (patient by pseudonym, physiology summaries, estimates) from a recording's features."""
    from attunexr.features import extract
    from attunexr.interop import bundle_summary, session_bundle, write_bundle
    from attunexr.io.datasets import get_dataset

    with cli_errors():
        rec = get_dataset(dataset).load(subject, data_dir=data_dir)
        features = extract(rec)
        estimates = []
        if model is not None:
            from attunexr.models import load_model

            estimates = load_model(model).estimate(features)
        bundle = session_bundle(
            features,
            pseudonym or subject,
            estimates=estimates,
            every=window,
            start_time=rec.meta.start_time,
            version=fhir_version,
            bundle_type=bundle_type,
        )
        write_bundle(bundle, out)
        summary = {"file": str(out), "fhir_version": fhir_version, **bundle_summary(bundle)}
        if json_out is not None:
            write_json(summary, json_out)
    if json_out == "-":
        return
    table = Table(title=f"FHIR {fhir_version} {summary['type']} bundle: {out}")
    table.add_column("resource")
    table.add_column("count", justify="right")
    for name, count in summary["resources"].items():
        table.add_row(name, str(count))
    Console().print(table)
    typer.echo(f"{summary['entries']} entries, {summary['start']} to {summary['end']}")
