"""Every shell command in README.md and docs/*.md runs as written.

Commands are read from fenced ```bash (also ```sh / ```shell, and the ``$ `` lines of ```console) blocks when the
test runs, so a command added to the
docs is tested from then on. Each block runs in its own temporary folder (``make`` commands in the checkout), its
commands in order, so a command may use the files an earlier command of the same block wrote; ``export`` carries
over to the block's later commands. The environment is the test's own plus ``ATTUNEXR_DATA`` (the datasets) and the
interpreter's ``bin`` folder first on ``PATH``; a block runs in a private network namespace when the machine allows
it (root with ``unshare``), so its servers and LSL streams meet nobody else's.

Conventions for writers of docs (a trailing comment on the command's last line):

- ``# expect-error: TEXT``: the command is shown failing on purpose; it must exit non-zero with TEXT in its output.
- ``# doc-test: skip, REASON``: not run, for a command that needs what no test machine has (a PostgreSQL server on
  another host, an install from the package index) or that would run this test itself (``make test``). Keep these
  rare; the reason is required and printed.
- Servers (``attunexr demo``, ``attunexr serve``, ``make demo``) are started, must answer 200 on their port
  (``--port``, default 8000) and are stopped with Ctrl-C (SIGINT).
- ``attunexr record`` gets LSL senders of types BVP, EDA and ECG for its block.
- Keep documented commands quick (seconds to about a minute); show a ``--seconds``/``--quick`` form rather than an
  hour-long run. A command repeated verbatim (same text, same files named in it) runs once per test session: the
  files it wrote are copied for later uses.

A failure names the doc file and line of the command.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCES = ("```bash", "```sh", "```shell")
CONSOLE_FENCE = "```console"  # commands are the lines starting with "$ ", the other lines their output
COMMAND_TIMEOUT = 900.0
SERVER_START_TIMEOUT = 180.0

_EXPECT = re.compile(r"#\s*expect-error:\s*(?P<text>.+?)\s*$")
_SKIP = re.compile(r"#\s*doc-test:\s*skip\b[,:]?\s*(?P<reason>.*?)\s*$")
_SERVER = re.compile(r"^(?:attunexr(?:\s+--?\w[\w-]*)*\s+(?:demo|serve)\b|make\s+demo\b)")


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass
class DocCommand:
    """One command of a doc block (continuation lines joined)."""

    file: Path
    line: int
    text: str
    expect_error: str | None = None
    skip: str | None = None

    @property
    def where(self) -> str:
        return f"{_rel(self.file)}:{self.line}"


@dataclass
class DocBlock:
    """A fenced shell block of a doc file."""

    file: Path
    line: int
    commands: list[DocCommand] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{_rel(self.file)}:{self.line}"


def parse_blocks(path: Path) -> list[DocBlock]:
    """The shell blocks of a Markdown file and their commands (comment-only and blank lines left out)."""
    blocks: list[DocBlock] = []
    block: DocBlock | None = None
    console = False
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if block is None:
            fence = stripped.split()[0] if stripped else ""
            if fence in FENCES or fence == CONSOLE_FENCE:
                block = DocBlock(path, number)
                console = fence == CONSOLE_FENCE
            continue
        if stripped.startswith("```"):
            if pending:
                raise AssertionError(f"{_rel(path)}:{start}: a command ends with a line continuation")
            blocks.append(block)
            block = None
            continue
        if console and not pending:
            if not stripped.startswith("$ "):
                continue  # the command's output, shown
            raw = stripped = stripped[2:].strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\") and not _EXPECT.search(stripped) and not _SKIP.search(stripped):
            pending.append(raw.rstrip()[:-1].rstrip())
            continue
        pending.append(raw.strip() if not pending else raw.rstrip())
        last = pending[-1]
        text = " ".join(p.strip() for p in pending)
        pending = []
        expect, skip = _EXPECT.search(last), _SKIP.search(last)
        if skip is not None and not skip.group("reason"):
            raise AssertionError(f"{_rel(path)}:{start}: '# doc-test: skip' needs a reason")
        block.commands.append(
            DocCommand(
                path,
                start,
                text,
                expect_error=expect.group("text") if expect else None,
                skip=skip.group("reason") if skip else None,
            )
        )
    if block is not None:
        raise AssertionError(f"{_rel(path)}:{block.line}: code block never closed")
    return [b for b in blocks if b.commands]


BLOCKS = [b for f in DOC_FILES for b in parse_blocks(f)]


# ----------------------------------------------------------------------------------------------- the machinery
@functools.cache
def _netns_available() -> bool:
    if os.geteuid() != 0 or not all(shutil.which(x) for x in ("unshare", "nsenter", "ip")):
        return False
    try:
        proc = subprocess.run(
            ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0



class NetNamespace:
    """A private network namespace (loopback only) for one block, or the host's network when unavailable."""

    def __init__(self) -> None:
        self.holder: subprocess.Popen[str] | None = None
        self.prefix: list[str] = []

    def __enter__(self) -> NetNamespace:
        if _netns_available():
            self.holder = subprocess.Popen(
                ["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec sleep 100000"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.holder.stdout is not None and self.holder.stdout.readline().strip() == "ready"
            self.prefix = ["nsenter", "-t", str(self.holder.pid), "-n"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait(10)


_SENDER = r"""
import math, sys, time
import numpy as np
import pylsl

specs = [("attunexr-docs-bvp", "BVP", 64.0), ("attunexr-docs-eda", "EDA", 4.0), ("attunexr-docs-ecg", "ECG", 130.0)]
outlets = [pylsl.StreamOutlet(pylsl.StreamInfo(n, t, 1, r, "float32", n)) for n, t, r in specs]
print("ready", flush=True)
t0 = time.perf_counter()
sent = [0] * len(specs)
while True:
    now = time.perf_counter() - t0
    for i, (_, kind, rate) in enumerate(specs):
        due = int(now * rate)
        if due > sent[i]:
            t = np.arange(sent[i], due) / rate
            if kind == "EDA":
                x = 2.0 + 0.2 * np.sin(2 * math.pi * t / 30.0)
            else:  # a 72-bpm pulse
                x = np.exp(-(((t * 1.2) % 1.0) - 0.3) ** 2 / 0.002)
            outlets[i].push_chunk([[float(v)] for v in x])
            sent[i] = due
    time.sleep(0.02)
"""


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _run_group(args: list[str], cwd: Path, env: dict[str, str], cmd: DocCommand) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; on timeout or interruption the whole group is killed."""
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        pytest.fail(f"{cmd.where}: `{cmd.text}` still running after {COMMAND_TIMEOUT:g} s:\n{(out + err)[-3000:]}")
    except BaseException:  # the test was interrupted (Ctrl-C, pytest-timeout): leave no worker behind
        _kill_group(proc)
        proc.wait()
        raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@dataclass
class Runner:
    """Runs the commands of one block in ``cwd`` with ``env``, inside ``ns``."""

    ns: NetNamespace
    cwd: Path
    env: dict[str, str]
    cache: dict[str, tuple[Path, str]]
    cache_root: Path
    log: list[str] = field(default_factory=list)

    def _snapshot(self) -> dict[str, tuple[int, int]]:
        out = {}
        for p in self.cwd.rglob("*"):
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(self.cwd))] = (st.st_size, st.st_mtime_ns)
        return out

    def _cache_key(self, cmd: DocCommand) -> str | None:
        text = cmd.text
        if not text.startswith("attunexr ") or re.match(r"attunexr\s+(record|demo|serve)\b", text) or re.search(
            r"\$\(|`|&&\s*export\b|;\s*export\b", text
        ):
            return None
        # the inputs a command can see: the files and folders its arguments name (by name and size)
        inputs = []
        for token in shlex.split(text, comments=True):
            path = self.cwd / token
            if token and path.exists():
                files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
                inputs += [(str(f.relative_to(self.cwd)), f.stat().st_size) for f in files]
        return hashlib.sha256(repr((text, inputs)).encode()).hexdigest()

    def run(self, cmd: DocCommand) -> None:
        if _SERVER.match(cmd.text):
            self.run_server(cmd)
            return
        key = self._cache_key(cmd)
        if key is not None and key in self.cache:
            stored, output = self.cache[key]
            for f in stored.rglob("*"):
                if f.is_file():
                    target = self.cwd / f.relative_to(stored)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, target)
            self.log.append(f"{cmd.where}: same command as before, its files reused")
            return
        before = self._snapshot()
        cwd = ROOT if cmd.text.startswith("make ") else self.cwd
        env_file = self.cwd.parent / f".env-{os.getpid()}-{cmd.line}"
        script = f'{cmd.text}\n__rc=$?\nenv -0 > "{env_file}"\nexit $__rc\n'
        t0 = time.perf_counter()
        proc = _run_group([*self.ns.prefix, "bash", "-c", script], cwd, self.env, cmd)
        wall = time.perf_counter() - t0
        output = proc.stdout + proc.stderr
        tail = "\n".join(output.strip().splitlines()[-25:])
        if cmd.expect_error is not None:
            assert proc.returncode != 0, f"{cmd.where}: `{cmd.text}` should fail (expect-error) but exited 0"
            assert cmd.expect_error in output, (
                f"{cmd.where}: `{cmd.text}` failed without the expected {cmd.expect_error!r}:\n{tail}"
            )
        else:
            assert proc.returncode == 0, f"{cmd.where}: `{cmd.text}` exited {proc.returncode}:\n{tail}"
            assert "Traceback (most recent call last)" not in output, f"{cmd.where}: traceback:\n{tail}"
        if env_file.exists():
            pairs = [x.split("=", 1) for x in env_file.read_text().split("\0") if "=" in x]
            self.env = {k: v for k, v in pairs if not k.startswith("BASH_FUNC_") and k not in ("_", "__rc")}
            env_file.unlink()
        self.log.append(f"{cmd.where}: exit {proc.returncode} in {wall:.1f} s")
        if key is not None and proc.returncode == 0:
            after = self._snapshot()
            stored = self.cache_root / key
            for rel, stat in after.items():
                if before.get(rel) != stat:
                    (stored / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(self.cwd / rel, stored / rel)
            stored.mkdir(parents=True, exist_ok=True)
            self.cache[key] = (stored, output)

    def run_server(self, cmd: DocCommand) -> None:
        port = int(m.group(1)) if (m := re.search(r"--port\s+(\d+)", cmd.text)) else 8000
        cwd = ROOT if cmd.text.startswith("make ") else self.cwd
        created = cmd.text.startswith("make ") and not (ROOT / "attunexr-data").exists()
        out_file = self.cwd.parent / f"server-{cmd.line}.log"
        t0 = time.perf_counter()
        with out_file.open("w") as out:
            server = subprocess.Popen(
                [*self.ns.prefix, "bash", "-c", f"exec {cmd.text}"],
                cwd=cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            check = subprocess.run(
                [*self.ns.prefix, sys.executable, "-c", _CHECK, str(port), str(server.pid), str(SERVER_START_TIMEOUT)],
                capture_output=True,
                text=True,
                timeout=SERVER_START_TIMEOUT + 30,
            )
            tail = "\n".join(out_file.read_text().strip().splitlines()[-25:])
            assert check.returncode == 0, (
                f"{cmd.where}: `{cmd.text}` did not answer 200 on port {port}: {check.stdout.strip()}\n{tail}"
            )
            self.log.append(f"{cmd.where}: server answered 200 on port {port} after {time.perf_counter() - t0:.1f} s")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGINT)  # Ctrl-C, the documented way to stop
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
            if created:
                shutil.rmtree(ROOT / "attunexr-data", ignore_errors=True)


_CHECK = r"""
import os, sys, time, urllib.error, urllib.request
port, pid, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + timeout
last = "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        print(f"the server exited ({last})")
        sys.exit(1)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            if r.status == 200:
                sys.exit(0)
            last = f"status {r.status}"
    except urllib.error.HTTPError as err:
        last = f"status {err.code}"
    except OSError as err:
        last = str(err)
    time.sleep(0.5)
print(f"timeout ({last})")
sys.exit(1)
"""


@pytest.fixture(scope="session")
def command_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, tuple[Path, str]], Path]]:
    yield {}, tmp_path_factory.mktemp("doc-command-cache")


def _make_is_installed(env: dict[str, str]) -> bool:
    proc = subprocess.run(["make", "-q", "install"], cwd=ROOT, env=env, capture_output=True)
    return proc.returncode == 0


# ------------------------------------------------------------------------------------------------------ tests
def test_blocks_are_found() -> None:
    files = {b.file.name for b in BLOCKS}
    assert {"README.md", "live.md", "models.md", "web.md"} <= files
    assert sum(len(b.commands) for b in BLOCKS) >= 30


def test_parser_markers_and_continuations(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```bash\n# a comment\nattunexr a \\\n    --b c   # note\n\n"
        "attunexr x   # expect-error: no such command\nmake test   # doc-test: skip, runs this suite\n```\n"
        "```python\nnot a command\n```\n```console\n$ attunexr y\noutput\n```\n"
    )
    block, shown = parse_blocks(doc)
    assert [c.text for c in shown.commands] == ["attunexr y"]
    a, x, t = block.commands
    assert (a.line, a.text, a.expect_error, a.skip) == (4, "attunexr a --b c   # note", None, None)
    assert x.expect_error == "no such command" and x.line == 7
    assert t.skip == "runs this suite"


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a block runs several commands, each bounded by COMMAND_TIMEOUT
@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_documented_commands_run(
    block: DocBlock,
    data_dir: Path,
    tmp_path: Path,
    command_cache: tuple[dict[str, tuple[Path, str]], Path],
) -> None:
    env = dict(os.environ)
    env["ATTUNEXR_DATA"] = str(data_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("VENV", sys.prefix)  # `make demo` uses this environment (as the Makefile honours $VENV)
    env.setdefault("MPLBACKEND", "Agg")
    env["COLUMNS"] = "120"
    cwd = tmp_path / "work"
    cwd.mkdir()
    cache, cache_root = command_cache
    with NetNamespace() as ns:
        runner = Runner(ns, cwd, env, cache, cache_root)
        sender = None
        if any(c.text.startswith("attunexr record") and not c.skip for c in block.commands):
            sender_log = tmp_path / "lsl-sender.log"
            with sender_log.open("w") as log:
                sender = subprocess.Popen(
                    [*ns.prefix, sys.executable, "-c", _SENDER], stdout=subprocess.PIPE, stderr=log, text=True, env=env
                )
            assert sender.stdout is not None
            assert sender.stdout.readline().strip() == "ready", f"LSL sender failed:\n{sender_log.read_text()}"
        try:
            for cmd in block.commands:
                if cmd.skip:
                    runner.log.append(f"{cmd.where}: not run ({cmd.skip})")
                    continue
                if cmd.text.startswith("make ") and not _make_is_installed(env):
                    message = f"{cmd.where}: the environment was not installed by `make install`"
                    if os.environ.get("CI", "").lower() == "true":
                        pytest.fail(message)
                    runner.log.append(message + "; not run")
                    continue
                runner.run(cmd)
        finally:
            if sender is not None:
                sender.kill()
                sender.wait(10)
    print("\n".join(runner.log))
