"""``attunexr federated``: train the stress detector across sites without pooling their data (Flower).

- ``certs DIR``: the TLS certificates (CA + server certificate) of a federation;
- ``server``: the SuperLink, run by the coordinating site;
- ``site --dataset NAME``: one site's SuperNode (its data never leaves it; only weights and aggregate metrics);
- ``run --sites a,b[,c]``: a whole local federation in one command (all processes on this machine), with the
  leave-site-out and centralized comparisons and the registered global model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from attunexr.cli._app import app
from attunexr.cli._common import cli_errors, data_dir_option, json_option, write_json
from attunexr.errors import ConfigurationError

_console = Console(stderr=True)

federated_app = typer.Typer(
    help="Federated training across sites (Flower): certificates, server, site, one-command local run.",
    no_args_is_help=True,
)
app.add_typer(federated_app, name="federated")

DEFAULT_WORK_DIR = Path("attunexr-federated")


def _work_dir_option() -> Any:
    return typer.Option(DEFAULT_WORK_DIR, "--work-dir", help="Folder for run folders (logs, Flower home, byte "
                        "counts) and the registered global model.")


def _host_port(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"{what} {value!r}: expected HOST:PORT, e.g. 127.0.0.1:9092")
    return host, int(port)


@federated_app.command("certs")
def certs_command(
    folder: Path = typer.Argument(..., help="Folder to write ca.crt, ca.key, server.crt and server.key into."),
    host: list[str] = typer.Option([], "--host", help="Address sites use to reach the server (IP or DNS name), "
                                   "added to the certificate beside 127.0.0.1 and localhost; repeatable."),
    force: bool = typer.Option(False, "--force", help="Overwrite certificates already in FOLDER."),
) -> None:
    """Create a certificate authority and a server certificate for TLS between sites and server."""
    from attunexr.federated import make_certs

    with cli_errors():
        if (folder / "ca.crt").exists() and not force:
            raise ConfigurationError(f"{folder / 'ca.crt'} exists; give --force to replace the certificates")
        paths = make_certs(folder, host)
        typer.echo(f"wrote {paths.ca_cert} (give to every site), {paths.server_cert} and {paths.server_key} "
                   f"(server only), {paths.ca_key} (keep offline)")


def _serve(dep: Any, what: str) -> None:
    from attunexr.federated import install_sigterm_handler, keep_alive

    install_sigterm_handler()
    typer.echo(f"{what}; logs in {dep.logs}; Ctrl-C stops it")
    try:
        keep_alive(dep, threading.Event())
    except KeyboardInterrupt:
        typer.echo("stopping")


@federated_app.command("server")
def server_command(
    port: int = typer.Option(9092, "--port", help="Port of the SuperLink (sites and `flwr run` connect here)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    certs: Path | None = typer.Option(None, "--certs", help="Folder from `attunexr federated certs` (TLS)."),
    insecure: bool = typer.Option(False, "--insecure", help="No TLS (testing on one machine only)."),
    work_dir: Path = _work_dir_option(),
) -> None:
    """Start the SuperLink (the coordinating server) and keep it running until Ctrl-C."""
    from attunexr.federated import Deployment, check_certs

    with cli_errors():
        if certs is None and not insecure:
            raise ConfigurationError("give --certs DIR (from `attunexr federated certs DIR`) or --insecure")
        paths = check_certs(certs, server=True) if certs is not None else None
        with Deployment(work_dir / "server", certs=paths, host=host) as dep:
            address = dep.start_superlink(port)
            _serve(dep, f"SuperLink listening on {address} ({'TLS' if paths else 'no TLS'})")


@federated_app.command("site")
def site_command(
    dataset: str = typer.Option(..., "--dataset", help="This site's data: stress-predict, nurse-stress, "
                                "nurse-stress@1/2 (part 1 of 2, participant-disjoint) or a BIDS folder."),
    superlink: str = typer.Option("127.0.0.1:9092", "--superlink", help="HOST:PORT of the server's SuperLink."),
    certs: Path | None = typer.Option(None, "--certs", help="Folder holding the federation's ca.crt (TLS)."),
    insecure: bool = typer.Option(False, "--insecure", help="No TLS (testing on one machine only)."),
    data_dir: Path | None = data_dir_option(),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache folder (default: the "
                                          "project's models cache)."),
    work_dir: Path = _work_dir_option(),
) -> None:
    """Start this site's SuperNode: it trains on local data when the server asks, and sends back only weights."""
    from attunexr.federated import Deployment, check_certs, load_site, parse_site

    with cli_errors():
        host, port = _host_port(superlink, "--superlink")
        if certs is None and not insecure:
            raise ConfigurationError("give --certs DIR (holding the federation's ca.crt) or --insecure")
        paths = check_certs(certs, server=False) if certs is not None else None
        name = parse_site(dataset).name
        _console.print(f"loading {name} …")
        load_site(dataset, data_dir=data_dir, cache_dir=cache_dir)  # fills the feature cache, fails early
        folder = work_dir / ("site-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name))
        with Deployment(folder, certs=paths, data_dir=data_dir, cache_dir=cache_dir) as dep:
            dep.start_site(name, superlink=f"{host}:{port}", spec=dataset)
            _serve(dep, f"site {name} connected to {host}:{port}")


@federated_app.command("run")
def run_command(
    sites: str = typer.Option(..., "--sites", help="Comma list of at least two sites, e.g. "
                              "stress-predict,nurse-stress or nurse-stress@1/2,nurse-stress@2/2,stress-predict."),
    rounds: int = typer.Option(5, "--rounds", help="Federated rounds."),
    epochs: int = typer.Option(5, "--epochs", help="Local epochs per round at each site."),
    lr: float = typer.Option(0.1, "--lr", help="Local learning rate."),
    proximal_mu: float = typer.Option(0.0, "--proximal-mu", help="FedProx proximal term (0 = FedAvg)."),
    secagg: bool = typer.Option(False, "--secagg", help="Secure aggregation (SecAgg+); meaningful from 3 sites."),
    dp_noise: float = typer.Option(0.0, "--dp-noise", help="Differential privacy: Gaussian noise multiplier."),
    dp_clip: float = typer.Option(0.0, "--dp-clip", help="Differential privacy: clipping norm of an update."),
    min_nodes: int | None = typer.Option(None, "--min-nodes", help="Sites a round needs (default: all)."),
    no_leave_site_out: bool = typer.Option(False, "--no-leave-site-out", help="Skip the leave-site-out runs."),
    superlink: str | None = typer.Option(None, "--superlink", help="HOST:PORT of a SuperLink already running "
                                         "(`attunexr federated server`) with the sites connected: submit the runs "
                                         "there instead of starting processes here."),
    certs: Path | None = typer.Option(None, "--certs", help="Certificates folder (default: new ones in the run "
                                      "folder)."),
    data_dir: Path | None = data_dir_option(),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Feature cache folder."),
    work_dir: Path = _work_dir_option(),
    json_out: str | None = json_option("the result"),
    dump_messages: bool = typer.Option(False, "--dump-messages", hidden=True, help="Keep a copy of every "
                                       "message a site sends (in the run folder's sites/SITE/sent/; inspection)."),
) -> None:
    """Run a local federation: SuperLink and one SuperNode per site over TLS, FedAvg, leave-site-out, clean-up."""
    from attunexr.federated import (
        RunSettings,
        check_certs,
        check_settings,
        install_sigterm_handler,
        parse_sites,
        run_federated,
    )

    with cli_errors():
        specs: dict[str, str] = {}
        settings = RunSettings(
            sites=parse_sites(sites, specs), specs=specs, rounds=rounds, epochs=epochs, lr=lr, proximal_mu=proximal_mu, secagg=secagg,
            dp_noise=dp_noise, dp_clip=dp_clip, min_nodes=min_nodes, leave_site_out=not no_leave_site_out,
            work_dir=work_dir, certs_dir=certs, data_dir=data_dir, cache_dir=cache_dir,
            dump_messages=dump_messages, superlink=superlink,
        )
        if superlink is not None:
            _host_port(superlink, "--superlink")
        if secagg and len(settings.sites) < 3:
            _console.print("[yellow]warning:[/] SecAgg+ with two sites protects nothing (each site can subtract "
                           "its own update from the sum) and tolerates no dropout", highlight=False)
        check_settings(settings)  # before anything starts
        if certs is not None:
            check_certs(certs, server=True)
        install_sigterm_handler()
        try:
            result = _run_with_progress(settings, run_federated)
        except KeyboardInterrupt:
            _console.print(f"interrupted: every process of the run was stopped (logs under {work_dir})",
                           highlight=False)
            raise typer.Exit(130) from None
        if json_out is not None:
            write_json(result, json_out)
        for s, v in result["per_site"].items():
            a = v["auroc"]
            ci = a["ci"]
            sent = result["bytes_sent_per_site"][s]
            typer.echo(f"{s}: federated AUROC {a['value']} (95 % CI {ci[0]}–{ci[1]}, {v['n_subjects']} people)"
                       + (f", {sent} bytes sent" if sent is not None else ""))
        for s, d in result["dropped_sites"].items():
            typer.echo(f"{s} dropped out in round(s) {', '.join(map(str, d))}; the rounds went on without it")
        for note in result["notes"]:
            typer.echo(f"note: {note}")
        model = f"global model registered in {result['model']}; " if result["model"] else ""
        typer.echo(f"status {result['status']} in {result['wall_s']} s; {model}logs in {result['run_dir']}")
        if json_out is not None and json_out != "-":
            typer.echo(f"wrote {json_out}")


def _run_with_progress(settings: Any, run: Any) -> Any:
    """Call ``run`` with a progress bar of rounds per Flower run on standard error."""
    import re

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=_console, transient=False) as progress:
        tasks: dict[str, Any] = {}
        phase_task = progress.add_task("starting", total=None)

        def on_phase(text: str) -> None:
            progress.update(phase_task, description=text)

        def on_line(run_name: str, line: str) -> None:
            if run_name not in tasks:
                tasks[run_name] = progress.add_task(f"rounds ({run_name})", total=settings.rounds)
            m = re.search(r"attunexr: round (\d+) trained on (.*)", line)
            if m:
                progress.update(tasks[run_name], completed=int(m.group(1)),
                                description=f"rounds ({run_name}): trained on {m.group(2)}")
            m = re.search(r"attunexr: round (\d+) evaluated: (.*)", line)
            if m:
                progress.update(tasks[run_name], description=f"({run_name}) AUROC {m.group(2)}")

        return run(settings, on_line=on_line, on_phase=on_phase)
