"""``attunexr bids``: export dataset subjects as BIDS physio, and check a BIDS dataset the way attunexr reads it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from attunexr.cli._app import app
from attunexr.cli._common import (
    cli_errors,
    data_dir_option,
    json_option,
    split_subjects,
    subjects_option,
    write_json,
)
from attunexr.errors import DataFormatError

bids_app = typer.Typer(help="Write and check BIDS physiological-recording datasets.", no_args_is_help=True)
app.add_typer(bids_app, name="bids")

_VALIDATOR = Path(__file__).resolve().parents[3] / "tools" / "node_modules" / ".bin" / "bids-validator"


@bids_app.command("export")
def export_command(
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (see `attunexr datasets list`)."),
    out: Path = typer.Option(..., "--out", help="BIDS dataset folder to write (created if needed)."),
    subjects: list[str] | None = subjects_option(),
    task: str | None = typer.Option(None, "--task", help="BIDS task label (default: the dataset name)."),
    data_dir: Path | None = data_dir_option(),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace runs that already exist."),
) -> None:
    """Export subjects of a dataset (streams, task intervals, events) as a BIDS physio dataset."""
    from collections.abc import Iterator

    from attunexr.io import write_bids_all
    from attunexr.io.datasets import get_dataset
    from attunexr.recording import Recording

    with cli_errors():
        ds = get_dataset(dataset)
        names = split_subjects(subjects) or ds.subjects(data_dir)
        n_files = 0
        with Progress(console=Console(stderr=True), transient=True) as progress:
            job = progress.add_task(f"exporting {dataset}", total=len(names))
            def recordings() -> Iterator[Recording]:
                for name in names:
                    yield ds.load(name, data_dir=data_dir)
                    progress.advance(job)

            # all subjects or none: a later subject that fails leaves no half-written export behind
            try:
                n_files += len(write_bids_all(recordings(), out, task=task, overwrite=overwrite))
            except DataFormatError as err:
                if "overwrite=True" not in err.problem:
                    raise
                # the library's wording names its Python argument; on the command line it is --overwrite
                raise DataFormatError(err.path, err.problem.replace("pass overwrite=True", "add --overwrite")) from err
        typer.echo(f"wrote {len(names)} subject(s) of {dataset} as BIDS physio into {out} ({n_files} files)")


@bids_app.command("check")
def check_command(
    root: Path = typer.Argument(..., help="BIDS dataset folder."),
    validator: bool = typer.Option(
        True, "--validator/--no-validator", help="Also run the official bids-validator when it is installed."
    ),
    json_out: str | None = json_option("the runs found and the validator's findings"),
) -> None:
    """Read every run as attunexr will (strict: a bad file is named with its problem) and list what it holds."""
    from attunexr.io import iter_bids

    with cli_errors():
        runs = []
        for rec in iter_bids(root):
            runs.append(
                {
                    "subject": rec.meta.subject,
                    "session": rec.meta.session,
                    "task": rec.meta.extra.get("task", ""),
                    "streams": {
                        n: f"{s.kind} {s.rate:g} Hz" if s.rate else f"{s.kind} irregular"
                        for n, s in rec.streams.items()
                    },
                    "duration_s": round(rec.duration, 3),
                    "labels": sorted({iv.label for iv in rec.intervals}),
                }
            )
        report: dict[str, object] = {"root": str(root), "runs": runs}
        exe = _VALIDATOR if _VALIDATOR.exists() else shutil.which("bids-validator")
        if validator and exe:
            proc = subprocess.run(
                [str(exe), str(root), "--json"], capture_output=True, text=True, check=False
            )
            issues = json.loads(proc.stdout)["issues"]
            report["validator_errors"] = [e["key"] for e in issues["errors"]]
            report["validator_warnings"] = [w["key"] for w in issues["warnings"]]
        if json_out is not None:
            write_json(report, json_out)
        if json_out != "-":
            table = Table(title=f"{root}: {len(runs)} run(s)")
            for col in ("subject", "session", "task", "streams", "duration s", "interval labels"):
                table.add_column(col)
            for r in runs:
                table.add_row(
                    str(r["subject"]),
                    str(r["session"]),
                    str(r["task"]),
                    ", ".join(f"{k} ({v})" for k, v in r["streams"].items()),  # type: ignore[attr-defined]
                    f"{r['duration_s']:.0f}",
                    ", ".join(r["labels"]),  # type: ignore[arg-type]
                )
            Console().print(table)
            if "validator_errors" in report:
                typer.echo(f"bids-validator: {len(report['validator_errors'])} error(s)")  # type: ignore[arg-type]
        if report.get("validator_errors"):
            raise typer.Exit(1)
