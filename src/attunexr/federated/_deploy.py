"""Certificates and processes of a Flower deployment: SuperLink, one SuperNode per site, ``flwr run``.

Everything runs offline: every process gets a private ``FLWR_HOME``, ``FLWR_TELEMETRY_ENABLED=0`` and
``FLWR_DISABLE_UPDATE_CHECK=1``, and the SuperLink is started with ``--disable-runtime-dependency-installation``
(else each run would install the app's dependencies from the package index). Processes are started in their own
process group and stopped by PID (SIGTERM, then SIGKILL after a grace period) whatever happens, Ctrl-C included;
their logs stay in the run folder.

``flwr run`` exits 0 even when the run failed, so the real status is read from ``flwr ls --format json``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from attunexr.errors import ConfigurationError

__all__ = [
    "APP_DIR",
    "CertPaths",
    "Deployment",
    "RunOutcome",
    "check_certs",
    "flower_env",
    "free_port",
    "make_certs",
]

#: The Flower app folder shipped inside the package (its pyproject.toml names the components and run config).
APP_DIR = Path(__file__).with_name("flwr_app")
#: Seconds a process gets after SIGTERM before SIGKILL.
STOP_GRACE_S = 5.0
_CONNECTION = "attunexr"


# ---------------------------------------------------------------------------------------------- certificates
@dataclass(frozen=True)
class CertPaths:
    """The files of ``attunexr federated certs DIR``: a CA and a server certificate signed by it."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def _cert_paths(folder: Path) -> CertPaths:
    folder = Path(folder).resolve()
    return CertPaths(folder / "ca.crt", folder / "ca.key", folder / "server.crt", folder / "server.key")


def make_certs(folder: Path, hosts: list[str] | None = None, *, days: int = 825) -> CertPaths:
    """Write a CA (``ca.crt``/``ca.key``) and a server certificate (``server.crt``/``server.key``) into ``folder``.

    The server certificate's subjectAltName holds ``127.0.0.1`` and ``localhost`` plus every extra host given
    (an IP address or a DNS name: the address sites use to reach the server). Sites need only ``ca.crt``; the
    keys stay with whoever runs the server (``ca.key`` can be kept offline).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = ["127.0.0.1", "localhost", *(hosts or [])]
    alt: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip() for h in names if h.strip()):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attunexr federated CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attunexr federated server")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = _cert_paths(folder)
    pem = serialization.Encoding.PEM
    no_pw = serialization.NoEncryption()
    fmt = serialization.PrivateFormat.PKCS8
    paths.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    paths.server_cert.write_bytes(cert.public_bytes(pem))
    for path, k in ((paths.ca_key, ca_key), (paths.server_key, key)):
        path.write_bytes(k.private_bytes(pem, fmt, no_pw))
        path.chmod(0o600)
    return paths


def check_certs(folder: Path, *, server: bool) -> CertPaths:
    """The certificate files in ``folder``; a clear error naming what is missing (sites need only ``ca.crt``)."""
    paths = _cert_paths(Path(folder))
    needed = [paths.ca_cert, paths.server_cert, paths.server_key] if server else [paths.ca_cert]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise ConfigurationError(
            f"certificates folder {folder}: missing {', '.join(missing)}; create them with "
            f"`attunexr federated certs {folder}`"
        )
    return paths


# ------------------------------------------------------------------------------------------------ processes
def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    """A Flower executable next to this Python (the venv's bin), else from PATH."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} not found: install Flower (pip install 'flwr>=1.42')")
    return found


def flower_env(flwr_home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every Flower process: private home, no telemetry, no update check, fast polling.

    ``PYTHONPATH`` gets the folder this attunexr was imported from, so the SuperLink's and SuperNodes' app
    processes load the same code.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([src, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.update({
        "FLWR_HOME": str(flwr_home),
        "FLWR_TELEMETRY_ENABLED": "0",
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": env.get("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "0.1"),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


@dataclass
class Proc:
    """A started Flower process: its name, command, process and log file."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def start_process(name: str, argv: list[str], env: dict[str, str], log: Path) -> Proc:
    """Start ``argv`` in its own process group (so its children stop with it), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        popen = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    return Proc(name, argv, popen, log)


def _children() -> dict[int, list[int]]:
    """Parent PID -> child PIDs of every process now (from /proc; Linux)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process started under ``pid`` (children, grandchildren, ...), also those in their own session.

    Flower's SuperLink and SuperNode start their app launchers detached (a new session), so stopping a process
    group is not enough: the whole tree is collected by PID.
    """
    tree = _children()
    out: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, []))
    return out


def _kill(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_process(proc: Proc, *, sig: int = signal.SIGTERM, grace: float = STOP_GRACE_S) -> None:
    """Stop a process and every process under it, by PID: ``sig`` (SIGTERM), then SIGKILL after ``grace`` s."""
    tree = descendants(proc.pid) if proc.alive() else []
    if proc.alive():
        _kill(proc.pid, sig)
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill(proc.pid, signal.SIGKILL)
            proc.popen.wait(timeout=grace)
    deadline = time.monotonic() + (grace if sig != signal.SIGKILL else 0.0)
    for pid in tree:  # what the process left behind (detached app launchers, app processes)
        if _pid_alive(pid):
            _kill(pid, sig)
    while time.monotonic() < deadline and any(_pid_alive(p) for p in tree):
        time.sleep(0.1)
    for pid in tree:
        if _pid_alive(pid):
            _kill(pid, signal.SIGKILL)
    proc.popen.poll()


def wait_port(host: str, port: int, *, timeout: float, proc: Proc | None = None) -> None:
    """Wait until ``host:port`` accepts connections; a clear error if the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise ConfigurationError(f"{proc.name} exited with status {proc.popen.returncode}; see {proc.log}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise ConfigurationError(f"nothing answers on {host}:{port} after {timeout:.0f} s; see the logs")


# -------------------------------------------------------------------------------------------------- a run
@dataclass
class RunOutcome:
    """What one ``flwr run`` gave: the run id, its real status (from ``flwr ls``), the ServerApp's result."""

    run_id: str | None
    status: str
    result: dict[str, Any] | None
    log: Path
    wall_s: float
    lines: list[str] = field(default_factory=list)
    result_path: Path | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished:completed"


def _toml_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def run_config_arg(config: Mapping[str, Any]) -> str:
    """``--run-config`` text: ``key=value`` pairs, strings quoted."""
    return " ".join(f"{k}={_toml_str(v)}" for k, v in config.items())


class Deployment:
    """A SuperLink and SuperNodes on this machine, all in one run folder, stopped by :meth:`close`.

    Use it as a context manager (``with Deployment(...) as dep:``): every process it started is stopped on the
    way out, also after an error or Ctrl-C. The run folder keeps ``flwr-home/`` (private Flower home), ``logs/``
    (one log per process, one per ``flwr run``) and ``sites/SITE/`` (each site's message byte counts).
    """

    def __init__(self, run_dir: Path, *, certs: CertPaths | None, data_dir: Path | None = None,
                 cache_dir: Path | None = None, host: str = "127.0.0.1") -> None:
        self.run_dir = Path(run_dir).resolve()
        self.certs = certs
        self.data_dir = data_dir
        self.cache_dir = cache_dir
        self.host = host
        self.home = self.run_dir / "flwr-home"
        self.logs = self.run_dir / "logs"
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = flower_env(self.home)
        self.superlink: Proc | None = None
        self.superlink_port: int | None = None
        self.sites: dict[str, Proc] = {}
        self.ports: list[int] = []
        self._n_runs = 0
        self._lock = threading.Lock()
        self._started: list[Proc] = []

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        if self.superlink_port is None:
            raise ConfigurationError("the SuperLink is not started")
        return f"{self.host}:{self.superlink_port}"

    def site_dir(self, site: str) -> Path:
        """The folder of one site's byte counts and message copies (``log-dir`` of its SuperNode)."""
        return self.run_dir / "sites" / re.sub(r"[^A-Za-z0-9_.@-]", "_", site).replace("@", "_").replace("/", "-")

    # ---- SuperLink
    def start_superlink(self, port: int | None = None, *, timeout: float = 60.0) -> str:
        """Start the SuperLink on ``port`` (a free one if None) and write the ``flwr`` connection config."""
        port = port or free_port(self.host)
        argv = [_bin("flower-superlink"), "--host", self.host, "--port", str(port),
                "--database", str(self.run_dir / "superlink.db"), "--disable-runtime-dependency-installation"]
        argv += self._tls_server_args()
        self.superlink = start_process("superlink", argv, self.env, self.logs / "superlink.log")
        self.superlink.port = port
        self._started.append(self.superlink)
        self.superlink_port = port
        self.ports.append(port)
        self._write_processes()
        wait_port(self.host, port, timeout=timeout, proc=self.superlink)
        self._write_connection()
        return self.address

    def _tls_server_args(self) -> list[str]:
        if self.certs is None:
            return ["--insecure"]
        return ["--ssl-ca-certfile", str(self.certs.ca_cert), "--ssl-certfile", str(self.certs.server_cert),
                "--ssl-keyfile", str(self.certs.server_key)]

    def _write_connection(self) -> None:
        lines = ["[superlink]", f'default = "{_CONNECTION}"', "", f"[superlink.{_CONNECTION}]",
                 f'address = "{self.address}"']
        if self.certs is None:
            lines.append("insecure = true")
        else:
            lines.append(f'root-certificates = "{self.certs.ca_cert}"')
        (self.home / "config.toml").write_text("\n".join(lines) + "\n")

    def connect(self, address: str) -> str:
        """Use a SuperLink started elsewhere (``attunexr federated server`` on another machine) for runs."""
        host, _, port = address.rpartition(":")
        self.host, self.superlink_port = host, int(port)
        self._write_connection()
        return self.address

    # ---- SuperNodes
    def start_site(self, site: str, *, superlink: str | None = None, spec: str | None = None) -> Proc:
        """Start the SuperNode of ``site`` (node config ``site``, ``spec``, ``data-dir``, ``cache-dir``, ``log-dir``).

        ``spec`` is what the site loads when it is not its name (a BIDS folder's path).
        """
        if site in self.sites and self.sites[site].alive():
            raise ConfigurationError(f"site {site} is already running (PID {self.sites[site].pid})")
        port = free_port(self.host)
        self.ports.append(port)
        log_dir = self.site_dir(site)
        log_dir.mkdir(parents=True, exist_ok=True)
        node_config = {"site": site, "log-dir": str(log_dir)}
        if spec is not None and spec != site:
            node_config["spec"] = spec
        if self.data_dir is not None:
            node_config["data-dir"] = str(self.data_dir)
        if self.cache_dir is not None:
            node_config["cache-dir"] = str(self.cache_dir)
        argv = [_bin("flower-supernode"), "--superlink", superlink or self.address, "--host", self.host,
                "--port", str(port), "--node-config", run_config_arg(node_config)]
        argv += ["--insecure"] if self.certs is None else ["--root-certificates", str(self.certs.ca_cert)]
        proc = start_process(f"supernode {site}", argv, self.env, self.logs / f"{log_dir.name}.log")
        proc.port = port
        self._started.append(proc)
        self.sites[site] = proc
        self._write_processes()
        return proc

    def _write_processes(self) -> None:
        """``processes.json`` in the run folder: name, PID, port and command of every process started."""
        rows = [{"name": p.name, "pid": p.pid, "port": p.port, "argv": p.argv, "log": str(p.log)}
                for p in self._started if p.port is not None]
        (self.run_dir / "processes.json").write_text(json.dumps(rows, indent=1))

    def stop_site(self, site: str, *, sig: int = signal.SIGTERM) -> None:
        """Stop the SuperNode of ``site`` (SIGKILL simulates a crash)."""
        proc = self.sites.get(site)
        if proc is not None:
            stop_process(proc, sig=sig, grace=STOP_GRACE_S if sig != signal.SIGKILL else 1.0)

    # ---- runs
    def flwr(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the ``flwr`` command line against this deployment's connection."""
        return subprocess.run([_bin("flwr"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, cwd=self.run_dir, check=False)

    def run_status(self, run_id: str) -> str:
        """The run's status as the SuperLink records it (``finished:completed``, ``finished:failed``, ...)."""
        res = self.flwr("ls", _CONNECTION, "--run-id", run_id, "--format", "json")
        try:
            data = json.loads(res.stdout)
        except json.JSONDecodeError:
            return "unknown"
        runs = data.get("runs") or []
        for run in runs:
            if str(run.get("run-id")) == str(run_id):
                return str(run.get("status", "unknown"))
        return "unknown"

    def submit(self, run_config: Mapping[str, Any], *, timeout: float = 900.0, name: str = "run",
               on_line: Callable[[str], None] | None = None,
               on_started: Callable[[Proc], None] | None = None) -> RunOutcome:
        """``flwr run APP attunexr --stream`` with ``run_config``; wait for the end and read the real status.

        The ServerApp writes its result JSON to ``result-path`` (set here, in the run folder); ``on_line`` gets each
        streamed log line (progress display, tests that act mid-run).
        """
        with self._lock:
            self._n_runs += 1
            tag = f"{self._n_runs:02d}-{name}"
        result_path = self.run_dir / f"result-{tag}.json"
        result_path.unlink(missing_ok=True)
        config = {**run_config, "result-path": str(result_path)}
        log = self.logs / f"flwr-run-{tag}.log"
        argv = [_bin("flwr"), "run", str(APP_DIR), _CONNECTION, "--stream", "--run-config", run_config_arg(config)]
        t0 = time.monotonic()
        proc = start_process(f"flwr run {tag}", argv, self.env, log)
        self._started.append(proc)
        run_id: str | None = None
        lines: list[str] = []
        try:
            if on_started is not None:
                on_started(proc)
            with _follow(log, proc) as stream:
                for line in stream:
                    lines.append(line)
                    if run_id is None:
                        m = re.search(r"started run (\d+)", line, flags=re.IGNORECASE)
                        if m:
                            run_id = m.group(1)
                    if on_line is not None:
                        on_line(line)
                    if time.monotonic() - t0 > timeout:
                        break
        finally:
            stop_process(proc)  # `flwr run` only streams logs: stopping it leaves the run to the SuperLink
        status = "unknown"
        if run_id is not None:
            for _ in range(50):
                status = self.run_status(run_id)
                if status.startswith("finished"):
                    break
                time.sleep(0.2)
        result = json.loads(result_path.read_text()) if result_path.is_file() else None
        return RunOutcome(run_id, status, result, log, time.monotonic() - t0, lines, result_path)

    def close(self) -> None:
        """Stop every process of this deployment (``flwr run``, SuperNodes, then the SuperLink), by PID."""
        ordered = [p for p in self._started if p.name.startswith("flwr run")]
        ordered += [*self.sites.values(), *([self.superlink] if self.superlink else [])]
        for proc in ordered:
            stop_process(proc)

    def processes(self) -> list[Proc]:
        """Every process started (alive or not)."""
        return [*self.sites.values(), *([self.superlink] if self.superlink else [])]


@contextmanager
def _follow(log: Path, proc: Proc) -> Iterator[Iterator[str]]:
    """The lines a process writes to its log, as they come, until it exits."""
    fh: IO[str] = open(log, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below, read lazily

    def lines() -> Iterator[str]:
        buf = ""
        while True:
            chunk = fh.read()
            if chunk:
                buf += chunk
                *done, buf = buf.split("\n")
                yield from done
            elif not proc.alive():
                rest = fh.read()
                if rest or buf:
                    yield from (buf + rest).split("\n")
                return
            else:
                time.sleep(0.1)

    try:
        yield lines()
    finally:
        fh.close()


def keep_alive(deployment: Deployment, stop: threading.Event) -> None:
    """Block until ``stop`` is set or a process of the deployment exits (for ``server``/``site`` commands)."""
    while not stop.is_set():
        dead = [p for p in deployment.processes() if not p.alive()]
        if dead:
            raise ConfigurationError(f"{dead[0].name} exited with status {dead[0].popen.returncode}; "
                                     f"see {dead[0].log}")
        stop.wait(0.5)


def install_sigterm_handler() -> None:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` clean-up runs when the command itself is terminated."""
    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)
