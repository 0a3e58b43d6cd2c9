"""``attunexr datasets``: list, inspect and download the real datasets attunexr reads."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors, data_dir_option, err_console, json_option, write_json
from attunexr.errors import DatasetNotFoundError

datasets_app = typer.Typer(
    help="List, inspect and download the real datasets attunexr reads.", no_args_is_help=True
)
app.add_typer(datasets_app, name="datasets")

_DATA_DIR = data_dir_option()


@datasets_app.command("list")
def list_command(
    json_out: str | None = json_option("an array, one object per dataset,"),
    data_dir: Path | None = _DATA_DIR,
) -> None:
    """List the datasets: name, distinct people, signals, labels, licence, origin, whether found on disk."""
    from attunexr.io.datasets import list_datasets

    with cli_errors():
        rows = []
        for ds in list_datasets():
            row = ds.summary(data_dir)
            if row["available"]:
                row["n_subjects"] = len(ds.subjects(data_dir))
                row["n_sessions"] = ds.n_sessions(data_dir)
            else:
                try:
                    ds.root(data_dir)
                except DatasetNotFoundError as err:
                    row["missing"] = str(err)
                    err_console.print(f"[yellow]note:[/] {err}", highlight=False, soft_wrap=True)
            rows.append(row)
        if json_out is not None:
            write_json(rows, json_out)
            if json_out == "-":
                return
        table = Table(title="attunexr datasets")
        table.add_column("name", no_wrap=True)
        for col in ("people", "sessions", "signals", "labels", "licence", "available"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["name"],
                str(r["n_subjects"]),
                str(r["n_sessions"]),
                ", ".join(r["signals"]),
                ", ".join(r["labels"]),
                r["licence"],
                "yes" if r["available"] else "no",
            )
        Console().print(table)


@datasets_app.command("info")
def info_command(
    name: str = typer.Argument(..., help="Dataset name, e.g. stress-predict or vr-cybersickness."),
    json_out: str | None = json_option("the details"),
    data_dir: Path | None = _DATA_DIR,
) -> None:
    """Details of one dataset: subjects, signals and rates, label counts and durations, caveats, checks."""
    from attunexr.io.datasets import get_dataset

    with cli_errors():
        ds = get_dataset(name)
        info = ds.info(data_dir)
        if json_out is not None:
            write_json(info, json_out)
            if json_out == "-":
                return
        console = Console()
        console.print(f"[bold]{info['name']}[/]: {info['title']}")
        console.print(f"origin: {info['origin']}  licence: {info['licence']}  path: {info['path']}")
        console.print(f"citation: {info['citation']}", soft_wrap=True)
        console.print(f"people: {info['n_subjects']} ({info['population']})")
        console.print("subjects: " + ", ".join(info["subjects"]), soft_wrap=True)
        table = Table(title="signals")
        table.add_column("stream")
        table.add_column("what / rate")
        for k, v in info["signal_rates"].items():
            table.add_row(k, v)
        console.print(table)
        labels = Table(title="labels")
        for col in ("label", "meaning", "intervals", "seconds"):
            labels.add_column(col)
        for k, v in info["label_meanings"].items():
            labels.add_row(
                k,
                v,
                str(info.get("label_counts", {}).get(k, 0)),
                str(info.get("label_seconds", {}).get(k, 0)),
            )
        console.print(labels)
        if "agreement" in info:
            a = info["agreement"]
            worst = sorted(a["per_subject"].items(), key=lambda kv: kv[1])[:3]
            console.print(
                f"agreement with the authors' per-second 0/1 file: {a['overall']:.4%} of {a['n_seconds']} s; "
                f"lowest: "
                + ", ".join(f"{s} {v:.2%}" for s, v in worst)
                + (
                    f"; not in the file: {', '.join(a['subjects_not_in_file'])}"
                    if a["subjects_not_in_file"]
                    else ""
                )
            )
        for key in ("n_sessions", "conditions", "left_out", "label_unusable", "boundary_sources", "button_presses"):
            if key in info:
                console.print(f"{key}: {info[key]}", soft_wrap=True)
        console.print("[bold]caveats[/]")
        for c in info["caveats"]:
            console.print(f"  - {c}", soft_wrap=True)


@datasets_app.command("download")
def download_command(
    name: str = typer.Argument(..., help="Dataset name, e.g. stress-predict or vr-cybersickness."),
    dest: Path = typer.Option(..., "--dest", help="Folder to put the dataset in (it becomes DEST/<name>)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Give up after this many seconds."),
) -> None:
    """Fetch a dataset from its public origin (git clone). The only network access attunexr makes for data."""
    from attunexr.io.datasets import get_dataset

    with cli_errors():
        ds = get_dataset(name)
        err_console.print(f"downloading {name} from {ds.card.git_url} (timeout {timeout:g} s) ...")
        target = ds.download(dest, timeout=timeout)
        typer.echo(
            f"downloaded {name} to {target}; use --data-dir {Path(dest).expanduser()} or "
            f"ATTUNEXR_DATA={Path(dest).expanduser()}"
        )
