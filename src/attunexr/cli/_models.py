"""``attunexr train``, ``attunexr evaluate`` and ``attunexr compare``: fit detectors and evaluate them like clinical
prediction models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

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

if TYPE_CHECKING:  # the models package is imported by the commands themselves (a fast `attunexr --help`)
    from attunexr.models import EvaluationRun, MotionEvaluation

console = Console(stderr=True)

_PROTOCOLS = ("loso", "external", "leave-site-out")
SUBJECTS_HELP_TAIL = "a comma list (S02,S03) and/or repeated (--subjects S02 --subjects S03)."


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _signals(value: str | None) -> tuple[str, ...] | None:
    from attunexr.models import SIGNAL_GROUPS

    groups = _split(value)
    bad = [g for g in groups if g not in SIGNAL_GROUPS]
    if bad:
        raise ConfigurationError(f"unknown signal groups {bad}; choose from {', '.join(SIGNAL_GROUPS)}")
    return groups or None


def _summary(result: dict[str, Any]) -> str:
    m = result["metrics"]
    a = m["auroc"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    text = (
        f"{result['task']} on {result['dataset']} ({result['protocol']}, normalize={result['normalize']}): "
        f"AUROC {f(a['value'])} [{f(a['ci'][0])}, {f(a['ci'][1])}], balanced accuracy "
        f"{f(m['balanced_accuracy']['value'])}, ECE {f(m['ece']['value'])}, abstained "
        f"{result['abstained_fraction']:.1%}, {result['n_subjects']} subjects, {result['n_windows']} windows"
    )
    ans = (result.get("metrics_answered") or {}).get("auroc") or {}
    if ans:
        text += f"; answered windows only: AUROC {f(ans.get('value'))}"
    sel = result.get("selection")
    if sel:
        text += f"; nested selection chose {sel['times_selected']}"
    for name, b in result.get("baselines", {}).items():
        text += f"; baseline {name}: AUROC {f(b['auroc'])}"
        gain = b.get("model_minus_baseline")
        if gain and gain.get("value") is not None:
            lo, hi = gain["ci"]
            text += f", detector minus it {gain['value']:+.3f} (paired CI {lo:+.3f} to {hi:+.3f})"
    for name, r in result.get("other_normalizations", {}).items():
        text += f"; normalize={name}: AUROC {f(r['metrics']['auroc']['value'])}"
    variant = result.get("model_variant")
    if variant:
        text += f"; model variant {variant['name']} ({variant['why']})"
    shift = result.get("shift")
    if shift:
        text += f"; shift {shift.get('level') or 'not measured'} (domain AUROC {f(shift.get('domain_auroc'))})"
    return text


def _motion_tasks() -> tuple[str, ...]:
    from attunexr.models import MOTION_TASKS

    return tuple(MOTION_TASKS)


def _fold_progress() -> Progress:
    """A progress bar counting cross-validation folds."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} folds"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command("train")
def train_command(
    task: str = typer.Option("stress", "--task", help="stress | cybersickness"),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name (default: the task's dataset)."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder to write model.joblib, card.json and card.html."
    ),
    register: bool = typer.Option(
        False, "--register", help="Rebuild every shipped model variant of the registry."
    ),
    name: str | None = typer.Option(None, "--name", help="Model name shown in estimates and the card."),
    normalize: str | None = typer.Option(None, "--normalize", help="none | baseline | recording"),
    model: str | None = typer.Option(None, "--model", help="auto | lightgbm | logistic | ensemble"),
    signals: str | None = typer.Option(
        None, "--signals", help="Comma-separated signal groups (default: all)."
    ),
    data_dir: Path | None = data_dir_option(),
    no_eval: bool = typer.Option(False, "--no-eval", help="Skip the LOSO evaluation written into the card."),
    json_out: str | None = json_option("a summary (model, folder, LOSO AUROC, features)"),
) -> None:
    """Train a detector on a whole dataset and save it with its model card (LOSO results inside)."""
    with cli_errors():
        from attunexr.models import get_task, train_model

        if register:
            from attunexr.models.build_registry import build

            built = build()
            console.print(f"registered: {', '.join(built)}")
            return
        if out is None:
            raise ConfigurationError("--out DIR is required (or --register to rebuild the shipped models)")
        spec = get_task(task)
        with _fold_progress() as bar:
            job = bar.add_task(f"training {spec.name}", total=None)
            det, card = train_model(
                spec.name,
                dataset,
                name=name,
                normalize=normalize,
                model=model,
                signals=_signals(signals),
                data_dir=data_dir,
                evaluate=not no_eval,
                out=out,
                on_fold=lambda _s: bar.advance(job),
            )
        auroc = ((card.get("evaluation") or {}).get("metrics") or {}).get("auroc", {}).get("value")
        summary = {
            "model": det.model_name,
            "out": str(out),
            "loso_auroc": auroc,
            "features": list(det.feature_names_base_),
        }
        if json_out is not None:
            write_json(summary, json_out)
        if json_out != "-":
            loso = "not evaluated (--no-eval)" if auroc is None else f"LOSO AUROC {auroc:.3f}"
            typer.echo(
                f"trained {det.model_name} on {len(summary['features'])} features; {loso}; saved to {out} "
                "(model.joblib, card.json, card.html)"
            )


@app.command("evaluate")
def evaluate_command(
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name (default: the task's dataset)."),
    task: str = typer.Option(
        "stress",
        "--task",
        help="stress | cybersickness | cybersickness-motion | cybersickness-forecast | tolerance",
    ),
    protocol: str = typer.Option("loso", "--protocol", help="loso | external | leave-site-out"),
    bids: Path | None = typer.Option(
        None, "--bids", help="BIDS physio dataset to evaluate a trained model on."
    ),
    positive: str | None = typer.Option(
        None, "--positive", help="Event types of the positive class, comma-separated."
    ),
    negative: str | None = typer.Option(
        None, "--negative", help="Event types of the negative class, comma-separated."
    ),
    baseline: str | None = typer.Option(
        None, "--baseline", help="Event type of each person's baseline rest."
    ),
    normalize: str | None = typer.Option(None, "--normalize", help="none | baseline | recording"),
    model: str | None = typer.Option(
        None, "--model", help="Registered model name or model folder (external)."
    ),
    detector: str | None = typer.Option(
        None, "--detector", help="LOSO classifier: auto (nested choice) | lightgbm | logistic | ensemble."
    ),
    signals: str | None = typer.Option(None, "--signals", help="LOSO: comma-separated signal groups."),
    json_out: str | None = json_option("the full result (metrics, CIs, subgroups, provenance)"),
    report: Path | None = typer.Option(
        None, "--report", help="Write an HTML report (and CSV predictions) here."
    ),
    others: bool = typer.Option(
        False,
        "--other-normalizations/--no-other-normalizations",
        help="LOSO: also evaluate the other normalizations (secondary results; about doubles the run time).",
    ),
    n_boot: int = typer.Option(500, "--n-boot", help="Subject-bootstrap resamples for the CIs."),
    subjects: list[str] | None = subjects_option("LOSO: only these subjects; " + SUBJECTS_HELP_TAIL),
    jobs: int = typer.Option(2, "--jobs", help="LOSO: folds run in this many processes."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-extract features even if cached."),
    data_dir: Path | None = data_dir_option(),
    recalibrate: str | None = typer.Option(
        None,
        "--recalibrate",
        help="leave-site-out: recalibrate on k people of the held-out site, e.g. 1,3,5 (measured on the others).",
    ),
    draws: int = typer.Option(
        100, "--draws", min=1, help="leave-site-out --recalibrate: random draws per k."
    ),
) -> None:
    """Evaluate a detector: leave-one-subject-out on a dataset, a trained model on other data (external), or
    leave-site-out over several datasets (``--dataset stress-predict,nurse-stress``)."""
    with cli_errors():
        from attunexr.models import (
            dataset_metadata,
            evaluate_bids,
            evaluate_external,
            evaluate_loso,
            feature_table,
            get_task,
            write_report,
        )

        if protocol not in _PROTOCOLS:
            raise ConfigurationError(f"--protocol must be one of {', '.join(_PROTOCOLS)}, not {protocol!r}")
        if recalibrate is not None and protocol != "leave-site-out":
            raise ConfigurationError("--recalibrate needs --protocol leave-site-out")
        run: EvaluationRun | MotionEvaluation
        if protocol == "leave-site-out":
            run = _leave_site_out(
                dataset,
                task,
                normalize,
                detector,
                signals,
                data_dir,
                n_boot,
                not no_cache,
                jobs,
                recalibrate,
                draws,
                split_subjects(subjects),
            )
        elif bids is not None or protocol == "external":
            if model is None:
                raise ConfigurationError("--model NAME_OR_DIR is required with --bids or --protocol external")
            spec = get_task(task)
            pos = _split(positive) or (spec.positive if bids is None else ())
            neg = _split(negative) or (spec.negative if bids is None else ())
            if not pos or not neg:
                raise ConfigurationError("--positive and --negative event types are required with --bids")
            if bids is not None:
                if not bids.is_dir():
                    raise ConfigurationError(f"--bids {bids}: not a folder")
                run = evaluate_bids(
                    bids,
                    model,
                    positive=pos,
                    negative=neg,
                    baseline=baseline,
                    normalize=normalize,
                    n_boot=n_boot,
                )
            else:
                from attunexr.models import load_model

                info = getattr(load_model(model), "info_", {})
                table, _ = feature_table(
                    dataset or spec.dataset,
                    float(info.get("window", spec.window)),
                    float(info.get("hop", spec.hop)),
                    data_dir=data_dir,
                    cache=not no_cache,
                )
                run = evaluate_external(
                    model,
                    table,
                    positive=pos,
                    negative=neg,
                    baseline=baseline,
                    normalize=normalize,
                    dataset=dataset or spec.dataset,
                    n_boot=n_boot,
                    metadata=dataset_metadata(dataset or spec.dataset, data_dir),
                )
        elif task in _motion_tasks():
            from attunexr.models import evaluate_motion

            if dataset not in (None, "vr-fms-motion"):
                raise ConfigurationError(f"--task {task} is defined on --dataset vr-fms-motion, not {dataset!r}")
            with _fold_progress() as bar:
                job = bar.add_task(f"participant-grouped folds {task}", total=None)
                run = evaluate_motion(
                    task,
                    data_dir=data_dir,
                    n_boot=n_boot,
                    subjects=split_subjects(subjects),
                    on_fold=lambda _s: bar.advance(job),
                )
        else:
            spec = get_task(task)
            with _fold_progress() as bar:
                job = bar.add_task(f"LOSO {spec.name}", total=None)
                run = evaluate_loso(
                    spec.name,
                    dataset,
                    normalize=normalize,
                    model=detector,
                    signals=_signals(signals),
                    data_dir=data_dir,
                    other_normalizations=others,
                    n_boot=n_boot,
                    cache=not no_cache,
                    subjects=split_subjects(subjects),
                    n_jobs=jobs,
                    on_fold=lambda _s: bar.advance(job),
                )
        if json_out is not None:
            written = write_json(run.result, json_out)
            if written is not None:
                console.print(f"result: {written}", highlight=False)
        if report is not None:
            if protocol == "leave-site-out":
                raise ConfigurationError(
                    "--report is not available with --protocol leave-site-out; use --json"
                )
            page = write_report(run.result, run.predictions, report)
            console.print(f"report: {page}", highlight=False)
        # the short summary goes to standard output, unless that carries the JSON (--json -)
        summary = _site_summary(run.result) if protocol == "leave-site-out" else _summary(run.result)
        Console(stderr=json_out == "-").print(summary, highlight=False, soft_wrap=True)
        if run.result.get("in_sample"):
            console.print(
                f"[bold yellow]warning:[/] {run.result['notes'][0]}", highlight=False, soft_wrap=True
            )


def _ks(value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        ks = tuple(int(v) for v in _split(value))
    except ValueError:
        raise ConfigurationError(
            f"--recalibrate takes whole numbers of people, e.g. 1,3,5, not {value!r}"
        ) from None
    if not ks or any(k < 1 for k in ks):
        raise ConfigurationError(f"--recalibrate takes positive numbers of people, e.g. 1,3,5, not {value!r}")
    return ks


def _leave_site_out(
    dataset: str | None,
    task: str,
    normalize: str | None,
    detector: str | None,
    signals: str | None,
    data_dir: Path | None,
    n_boot: int,
    cache: bool,
    jobs: int,
    recalibrate: str | None,
    draws: int,
    subjects: list[str] | None,
) -> EvaluationRun:
    from attunexr.models import evaluate_leave_site_out, get_task

    sites = list(_split(dataset))
    if len(sites) < 2:
        raise ConfigurationError(
            "--protocol leave-site-out needs at least two datasets (sites): --dataset stress-predict,nurse-stress"
        )
    spec = get_task(task)
    with _fold_progress() as bar:
        job = bar.add_task(f"leave-site-out {spec.name}", total=None)
        return evaluate_leave_site_out(
            spec.name,
            sites,
            normalize=normalize,
            model=detector,
            signals=_signals(signals),
            data_dir=data_dir,
            n_boot=n_boot,
            cache=cache,
            n_jobs=jobs,
            recalibrate=_ks(recalibrate),
            n_draws=draws,
            subjects=subjects,
            on_fold=lambda _s: bar.advance(job),
        )


def _site_summary(result: dict[str, Any]) -> str:
    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    def fig(block: dict[str, Any]) -> str:
        a, e = block["auroc"], block["ece"]
        return f"AUROC {f(a['value'])} [{f(a['ci'][0])}, {f(a['ci'][1])}], ECE {f(e['value'])}"

    parts = [f"{result['task']} leave-site-out over {', '.join(result['sites'])}:"]
    for site, b in result["per_site"].items():
        parts.append(
            f"{site} (trained on {', '.join(b['trained_on'])}; {b['n_subjects']} subjects, {b['n_windows']} "
            f"windows): {fig(b)}, calibration slope {f(b['calibration']['slope']['value'])};"
        )
    parts.append(f"pooled LOSO: {fig(result['pooled_loso'])}")
    decision = result.get("site_decision")
    if decision:
        parts.append(f"; sites kept for training: {', '.join(decision['train_on']) or 'none'}")
    for site, r in (result.get("recalibration_summary") or {}).items():
        parts.append(f"; {site}: recalibration needs {r['people_needed']} local people")
    return " ".join(parts)


def _read_predictions(path: Path) -> Any:
    import pandas as pd

    from attunexr.errors import DataFormatError

    file = path / "predictions.csv" if path.is_dir() else path
    if not file.is_file():
        raise DataFormatError(
            file, "does not exist (give a predictions.csv or the --report folder holding one)"
        )
    try:
        return pd.read_csv(file)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFormatError(file, f"cannot be read as CSV: {err}") from err


@app.command("compare")
def compare_command(
    first: Path = typer.Argument(
        ..., help="predictions.csv of the first model, or the --report folder holding it."
    ),
    second: Path = typer.Argument(
        ..., help="predictions.csv of the second model (the reference), or its folder."
    ),
    n_boot: int = typer.Option(500, "--n-boot", min=50, help="Bootstrap resamples (subject level, paired)."),
    json_out: str | None = json_option("the comparison"),
) -> None:
    """Is one model better than another on the same windows? AUROC difference with a paired subject bootstrap.

    Both files come from `attunexr evaluate ... --report DIR` on the same data and labels; windows are matched by
    subject and window end.
    """
    with cli_errors():
        from attunexr.models import compare_predictions

        res = compare_predictions(
            _read_predictions(first),
            _read_predictions(second),
            n_boot=n_boot,
            names=(str(first), str(second)),
        )
        if json_out is not None:
            write_json(res, json_out)
        d = res["difference"]
        a, b = (res["auroc"][n] for n in res["names"])
        Console(stderr=json_out == "-").print(
            f"{res['n_windows']} shared windows of {res['n_subjects']} subjects: AUROC {a:.3f} vs {b:.3f}; "
            f"difference {d['value']:+.3f} (paired 95 % CI {d['ci'][0]:+.3f} to {d['ci'][1]:+.3f}); the first is not "
            f"better in {d['p_not_better']:.1%} of resamples",
            highlight=False,
            soft_wrap=True,
        )

