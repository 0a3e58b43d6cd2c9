"""``attunexr features``: windowed physiological features of a dataset or a BIDS folder, saved as Parquet or CSV."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors, data_dir_option, split_subjects, subjects_option
from attunexr.errors import ConfigurationError

console = Console(stderr=True)


def _write_table(frame: object, out: Path) -> None:
    """Write a DataFrame atomically (temporary file in the same folder, then rename)."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ConfigurationError(f"--out {out}: use a .parquet or .csv file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        if suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command("features")
def features_command(
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset name (see `attunexr datasets list`)."
    ),
    subjects: list[str] | None = subjects_option(),
    bids: Path | None = typer.Option(
        None, "--bids", help="Read recordings from this BIDS folder instead of a dataset."
    ),
    window: float = typer.Option(60.0, "--window", help="Window length in seconds."),
    hop: float = typer.Option(10.0, "--hop", help="Step between windows in seconds."),
    out: Path = typer.Option(..., "--out", help="Output file: .parquet or .csv."),
    data_dir: Path | None = data_dir_option(),
) -> None:
    """Compute windowed features (cardiac, EDA, respiration, temperature, motion, gaze) with quality flags."""
    with cli_errors():
        import pandas as pd

        from attunexr.features import extract
        from attunexr.recording import Recording

        if (dataset is None) == (bids is None):
            raise ConfigurationError("give exactly one of --dataset NAME or --bids DIR")
        if out.suffix.lower() not in (".parquet", ".csv"):
            raise ConfigurationError(f"--out {out}: use a .parquet or .csv file name")
        if window <= 0 or hop <= 0:
            raise ConfigurationError(f"--window and --hop must be positive seconds, got {window} and {hop}")
        wanted = split_subjects(subjects)
        loaders: list[tuple[str, Callable[[], list[Recording]]]] = []
        if dataset is not None:
            from attunexr.io.datasets import get_dataset

            ds = get_dataset(dataset)
            available = ds.subjects(data_dir)
            if wanted:
                unknown = [s for s in wanted if s not in available]
                if unknown:
                    raise ConfigurationError(
                        f"--subjects: {', '.join(unknown)} not in {ds.name}; available: {', '.join(available)}"
                    )
            for s in wanted or available:
                loaders.append((s, lambda s=s: [ds.load(s, data_dir)]))  # type: ignore[misc]
        else:
            from attunexr.io import read_bids

            assert bids is not None
            recs = read_bids(bids)
            if wanted:
                norm = {w.removeprefix("sub-") for w in wanted}
                recs = [r for r in recs if r.meta.subject.removeprefix("sub-") in norm]
                if not recs:
                    raise ConfigurationError(f"--subjects: none of {', '.join(wanted)} found in {bids}")
            for r in recs:
                loaders.append((f"{r.meta.subject} {r.meta.session}".strip(), lambda r=r: [r]))  # type: ignore[misc]
        frames = []
        with Progress(
            TextColumn("[bold]features[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("", total=len(loaders))
            for name, load in loaders:
                bar.update(task, description=name)
                for rec in load():
                    frames.append(extract(rec, window=window, hop=hop))
                bar.advance(task)
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        _write_table(table, out)
        ok = int(table["quality_ok"].sum()) if len(table) else 0
        console.print(
            f"wrote {len(table)} windows ({ok} with quality_ok) from {len(loaders)} recording(s) to {out}",
            highlight=False,
        )
