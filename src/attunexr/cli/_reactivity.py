"""``attunexr reactivity``: event-locked responses to cues, habituation and group comparisons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from attunexr.cli._app import app
from attunexr.cli._common import (
    cli_errors,
    data_dir_option,
    json_option,
    split_subjects,
    subjects_option,
    write_json,
)
from attunexr.errors import ConfigurationError

_console = Console(stderr=True)


def _items(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _load(
    bids: Path | None, session_log: list[Path], key_file: Path | None, dataset: str | None,
    subjects: list[str] | None, data_dir: Path | None,
) -> tuple[list[Any], Any]:
    import pandas as pd

    sources = [bids is not None, bool(session_log), dataset is not None]
    if sum(sources) != 1:
        raise ConfigurationError("give exactly one source: --bids DIR, --session LOG (repeatable) or --dataset NAME")
    if bids is not None:
        from attunexr.io import read_bids, read_participants

        recordings = read_bids(bids, allow_missing=True)
        _, values = read_participants(bids)
        rows = [{"participant_id": sub, **cols} for sub, cols in values.items()]
        return recordings, pd.DataFrame(rows) if rows else None
    if session_log:
        from attunexr.privacy import load_master_key
        from attunexr.session import SessionLog

        key = load_master_key(key_file)
        return [SessionLog.open(p, key).to_recording() for p in session_log], None
    from attunexr.io.datasets import get_dataset

    ds = get_dataset(str(dataset))
    wanted = split_subjects(subjects)
    recordings = [ds.load(s, data_dir) for s in (wanted or ds.subjects(data_dir))]
    meta = ds.subject_metadata(data_dir) if hasattr(ds, "subject_metadata") else {}
    rows = [{"participant_id": sub, **cols} for sub, cols in (meta or {}).items()]
    return recordings, pd.DataFrame(rows) if rows else None


@app.command("reactivity")
def reactivity_command(
    cues: str = typer.Option(..., "--cues", help="Cue categories to analyse, comma-separated (event or interval "
                             "labels, e.g. trauma,neutral or stroop,interview,hyperventilation,rest)."),
    bids: Path | None = typer.Option(None, "--bids", help="BIDS dataset folder (events.tsv onsets are the cues)."),
    session_log: list[Path] = typer.Option([], "--session", help="A recorded session log (.axr); repeatable."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Master key file for --session "
                                         "(default: $ATTUNEXR_MASTER_KEY)."),
    dataset: str | None = typer.Option(None, "--dataset", help="A dataset adapter (task onsets are the cues)."),
    subjects: list[str] | None = subjects_option(),
    data_dir: Path | None = data_dir_option(),
    group_by: str | None = typer.Option(None, "--group-by", help="participants.tsv column holding the groups "
                                        "to compare (e.g. group)."),
    target: str | None = typer.Option(None, "--target", help="Target category (default: the first of --cues)."),
    reference: str | None = typer.Option(None, "--reference", help="Reference category (default: the last of "
                                         "--cues)."),
    pre: float = typer.Option(5.0, "--pre", help="Baseline window before each cue, seconds."),
    post: float = typer.Option(10.0, "--post", help="Response window after each cue, seconds."),
    measures: str = typer.Option("scr_amplitude,sc_change,hr_change_mean", "--measures",
                                 help="Response measures to analyse, comma-separated."),
    json_out: str | None = json_option("the result"),
    report: Path | None = typer.Option(None, "--report", help="Write report.html, responses.csv and result.json "
                                      "into this folder."),
) -> None:
    """Event-locked responses to cues, within- and between-session habituation, and group comparisons."""
    from attunexr.features import CueRules
    from attunexr.models import analyse_reactivity, reactivity_sentence, write_reactivity_report

    with cli_errors():
        categories = _items(cues)
        if not categories:
            raise ConfigurationError("--cues needs at least one category, e.g. --cues trauma,neutral")
        rules = CueRules(pre=pre, post=post)
        recordings, participants = _load(bids, session_log, key_file, dataset, subjects, data_dir)
        if not recordings:
            raise ConfigurationError("no recordings found to analyse")
        _console.print(f"scoring cues in {len(recordings)} recordings …")
        result = analyse_reactivity(
            recordings, categories, rules=rules, participants=participants, group_by=group_by, target=target,
            reference=reference, measures=_items(measures),
        )
        if json_out is not None:
            write_json(result.to_dict(), json_out)
        if report is not None:
            path = write_reactivity_report(result, report)
        c = result.counts
        shares = ", ".join(f"{m} {c['scored'][m]}/{c['cues']}" for m in result.measures)
        typer.echo(f"{c['cues']} cues of {c['participants']} participants; scored: {shares}")
        sentence = reactivity_sentence(result)
        if sentence:
            typer.echo(sentence)
        for m in result.measures:
            for contrast, by_cat in (result.comparisons.get(m, {}).get("group_difference") or {}).items():
                g = by_cat.get(result.target) or {}
                if g.get("value") is not None:
                    typer.echo(f"{m}: {contrast} for {result.target} cues {g['value']:+.3f} "
                               f"(95 % CI {g['ci'][0]:+.3f} to {g['ci'][1]:+.3f})")
            for cat, cc in (result.comparisons.get(m, {}).get("category_vs_reference") or {}).items():
                if cc.get("value") is not None:
                    typer.echo(f"{m}: {cat} minus {result.reference} {cc['value']:+.3f} "
                               f"(95 % CI {cc['ci'][0]:+.3f} to {cc['ci'][1]:+.3f})")
        if json_out is not None and json_out != "-":
            typer.echo(f"wrote {json_out}")
        if report is not None:
            typer.echo(f"wrote {path}")
