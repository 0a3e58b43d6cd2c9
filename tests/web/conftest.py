"""Fixtures for the web tests: the real app on a free loopback port (uvicorn in a thread, SQLite in tmp)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from attunexr.web import Settings, create_app

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@dataclass
class LiveServer:
    url: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def services(self):  # noqa: ANN201
        return self.app.state.services  # type: ignore[attr-defined]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def token(self, username: str, password: str) -> str:
        with self.client() as c:
            r = c.post("/api/auth/token", json={"username": username, "password": password})
            r.raise_for_status()
            return str(r.json()["access_token"])


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def start_server(data_dir: Path, dataset_dir: Path | None, speed: float, database_url: str | None = None) -> LiveServer:
    app = create_app(Settings(data_dir=data_dir, dataset_dir=dataset_dir, speed=speed, database_url=database_url))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", app, server, thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=20)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("web"), data_dir, speed=10.0)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    """Sign in through the login form, as a person would."""
    page.goto(url + "/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def wait_for(pred: Callable[[], Any], timeout: float = 90.0, every: float = 0.1) -> Any:
    """Poll ``pred`` until it returns something truthy (returned), failing the test after ``timeout`` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if value := pred():
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")
