"""Accounts as an attacker tries them: sign-out, revocation, deactivation and password change end logins on the
server; sign-in is throttled per account and per address; password checks run a few at a time; oversize bodies
are refused before they are read; weak passwords are refused; the admin password never travels in argv."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from attunexr.store import (
    AuditEntry,
    Clinic,
    LoginAttempt,
    LoginSession,
    User,
    hash_password,
    password_problems,
)

from .conftest import LiveServer, start_server, stop_server

PASSWORD = "purple tractor umbrella"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh app per test: throttling counts failures per address, and every test here comes from 127.0.0.1."""
    live = start_server(tmp_path / "data", None, speed=10.0)
    with live.services.db.begin() as db:
        clinic = Clinic(name="Clinic A")
        db.add(clinic)
        db.commit()
        pw = hash_password(PASSWORD)
        db.add_all([User(username="alice", role="clinician", clinic_id=clinic.id, password_hash=pw),
                    User(username="bob", role="researcher", clinic_id=clinic.id, password_hash=pw),
                    User(username="root", role="admin", clinic_id=None, password_hash=pw)])
        db.commit()
    yield live
    stop_server(live)


def _audit_actions(live: LiveServer) -> list[str]:
    with live.services.db.begin() as db:
        return [e.action for e in db.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()]


def _cookie_login(live: LiveServer, username: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=live.url)
    assert c.post("/login", data={"username": username, "password": password}).status_code == 303
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/account").text)
    assert csrf is not None
    return c, csrf.group(1)


# ------------------------------------------------------------------ item 2: logins end on the server
def test_logout_ends_the_login_on_the_server(server: LiveServer) -> None:
    browser, csrf = _cookie_login(server, "alice")
    cookie = browser.cookies["attunexr_session"]
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    browser.close()
    with httpx.Client(base_url=server.url, cookies={"attunexr_session": cookie}) as replay:
        assert replay.get("/api/me").status_code == 401
        assert replay.get("/api/patients").status_code == 401
        assert replay.post("/api/patients", json={"identifying": {}}, headers={"X-CSRF-Token": csrf}).status_code == 401
        assert replay.get("/account").headers["location"] == "/login"
    token = server.token("alice", PASSWORD)
    with server.client(token) as c:
        assert c.post("/api/auth/logout").status_code == 204
        assert c.get("/api/me").status_code == 401
    with server.services.db.begin() as db:
        rows = list(db.execute(select(LoginSession)).scalars())
        assert rows and all(r.revoked_reason == "logout" and r.revoked_at is not None for r in rows)
    assert _audit_actions(server).count("logout") == 2


def test_user_ends_their_other_logins(server: LiveServer) -> None:
    laptop, phone, api = (server.token("alice", PASSWORD) for _ in range(3))
    other = server.token("bob", PASSWORD)
    with server.client(laptop) as c:
        logins = c.get("/api/me/logins").json()
        assert len(logins) == 3 and sum(lg["current"] for lg in logins) == 1
        assert all(lg["created_at"].endswith(("Z", "+00:00")) for lg in logins)  # RFC 3339 with a zone
        phone_id = next(lg["id"] for lg in logins if not lg["current"])
        assert c.post(f"/api/me/logins/{phone_id}/revoke").json() == {"revoked": 1}
        assert c.post(f"/api/me/logins/{phone_id}/revoke").status_code == 404  # already ended
        assert c.post("/api/me/logins/revoke-others").json() == {"revoked": 1}
        assert c.get("/api/me").status_code == 200  # the caller's own login stays
    for ended in (phone, api):
        with server.client(ended) as c:
            assert c.get("/api/me").status_code == 401
    with server.client(other) as c:  # another user's login is untouched
        assert c.get("/api/me").status_code == 200
    actions = _audit_actions(server)
    assert "revoke_login" in actions and "revoke_other_logins" in actions


def test_admin_deactivates_and_revokes(server: LiveServer) -> None:
    admin = server.token("root", PASSWORD)
    alice = server.token("alice", PASSWORD)
    with server.client(admin) as c:
        uid = next(u["id"] for u in c.get("/api/users").json() if u["username"] == "alice")
        assert len(c.get(f"/api/users/{uid}/logins").json()) == 1
        assert c.post(f"/api/users/{uid}/revoke-logins").json() == {"revoked": 1}
    with server.client(alice) as c:
        assert c.get("/api/me").status_code == 401
    alice = server.token("alice", PASSWORD)  # revoking logins does not lock the user out
    with server.client(admin) as c:
        r = c.post(f"/api/users/{uid}/deactivate")
        assert r.status_code == 200 and r.json()["active"] is False
        me = c.get("/api/me").json()
        assert c.post(f"/api/users/{me['id']}/deactivate").status_code == 409  # not oneself
    with server.client(alice) as c:
        assert c.get("/api/me").status_code == 401
    with server.client() as anon:
        assert anon.post("/api/auth/token", json={"username": "alice", "password": PASSWORD}).status_code == 401
        assert "Wrong user name" in anon.post("/login", data={"username": "alice", "password": PASSWORD}).text
    with server.client(admin) as c:
        assert c.post(f"/api/users/{uid}/activate").json()["active"] is True
    assert server.token("alice", PASSWORD)
    actions = _audit_actions(server)
    assert {"revoke_logins", "deactivate", "activate"} <= set(actions)


def test_admin_pages_deactivate_with_csrf(server: LiveServer) -> None:
    admin, csrf = _cookie_login(server, "root")
    alice = server.token("alice", PASSWORD)
    page = admin.get("/admin/users")
    assert page.status_code == 200 and 'data-user="alice"' in page.text
    uid = int(re.search(r'action="/admin/users/(\d+)/deactivate"', page.text.split('data-user="alice"')[1]).group(1))  # type: ignore[union-attr]
    assert admin.post(f"/admin/users/{uid}/deactivate").status_code == 403  # no CSRF token
    assert admin.post(f"/admin/users/{uid}/deactivate", data={"csrf_token": csrf}).status_code == 303
    with server.client(alice) as c:
        assert c.get("/api/me").status_code == 401
    assert "deactivated" in admin.get("/admin/users").text
    clinician, ccsrf = _cookie_login(server, "bob")
    assert clinician.get("/admin/users").status_code == 403
    assert clinician.post(f"/admin/users/{uid}/activate", data={"csrf_token": ccsrf}).status_code == 403
    admin.close()
    clinician.close()


def test_password_change_needs_the_old_one_and_ends_other_logins(server: LiveServer) -> None:
    current, other = server.token("alice", PASSWORD), server.token("alice", PASSWORD)
    new = "orange bicycle lantern"
    with server.client(current) as c:
        assert c.post("/api/me/password", json={"old_password": "guess-guess-guess",
                                                "new_password": new}).status_code == 403
        assert c.get("/api/me").status_code == 200
        weak = c.post("/api/me/password", json={"old_password": PASSWORD, "new_password": "password1234"})
        assert weak.status_code == 422 and isinstance(weak.json()["detail"], list)
        assert "commonly used" in weak.json()["detail"][0]["msg"]
        assert c.post("/api/me/password", json={"old_password": PASSWORD, "new_password": new}).json() == {"revoked": 1}
        assert c.get("/api/me").status_code == 200
    with server.client(other) as c:
        assert c.get("/api/me").status_code == 401
    with server.client() as anon:
        assert anon.post("/api/auth/token", json={"username": "alice", "password": PASSWORD}).status_code == 401
    assert server.token("alice", new)
    with server.services.db.begin() as db:
        assert db.execute(select(User).where(User.username == "alice")).scalar_one().password_changed_at is not None
    actions = _audit_actions(server)
    assert "change_password" in actions and "change_password_failed" in actions


def test_password_change_form(server: LiveServer) -> None:
    browser, csrf = _cookie_login(server, "bob")
    other = server.token("bob", PASSWORD)
    form = {"csrf_token": csrf, "old_password": PASSWORD, "new_password": "quiet harbour pebbles",
            "new_password_again": "quiet harbour pebbles"}
    assert browser.post("/account/password", data={**form, "old_password": "not it at all"}).status_code == 403
    short = browser.post("/account/password", data={**form, "new_password": "short", "new_password_again": "short"})
    assert short.status_code == 422 and "at least 12" in short.text
    r = browser.post("/account/password", data=form)
    assert r.status_code == 303 and "1+other+logins+ended" in r.headers["location"]
    assert "1 other logins ended" in browser.get(r.headers["location"]).text
    with server.client(other) as c:
        assert c.get("/api/me").status_code == 401
    browser.close()


# ------------------------------------------------------------------ item 3: throttling, bounded hashing, body limit
def test_thirty_wrong_passwords_get_429_with_retry_after(server: LiveServer) -> None:
    codes, last = [], None
    with server.client() as c:
        for i in range(30):
            last = c.post("/api/auth/token", json={"username": "alice", "password": f"wrong password {i}"})
            codes.append(last.status_code)
        assert codes[:10] == [401] * 10 and codes[10:] == [429] * 20, codes
        assert last is not None and 0 < int(last.headers["retry-after"]) <= 901
        assert re.search(r"try again in \d+ seconds \(at \d\d:\d\d:\d\d UTC\)", last.json()["detail"])
        # while throttled even the right password is refused, without being checked
        assert c.post("/api/auth/token", json={"username": "alice", "password": PASSWORD}).status_code == 429
        # the throttle is per account: another user signs in
        assert c.post("/api/auth/token", json={"username": "bob", "password": PASSWORD}).status_code == 200
        page = c.post("/login", data={"username": "alice", "password": PASSWORD})
        assert page.status_code == 429 and "try again in" in page.text and page.headers["retry-after"]
    actions = _audit_actions(server)
    assert actions.count("login_failed") == 10 and actions.count("login_throttled") == 1


def test_success_resets_the_account_count(server: LiveServer) -> None:
    with server.client() as c:
        for _ in range(2):
            for i in range(9):
                assert c.post("/api/auth/token", json={"username": "bob", "password": f"nope {i}"}).status_code == 401
            assert c.post("/api/auth/token", json={"username": "bob", "password": PASSWORD}).status_code == 200


def test_throttle_per_address_covers_many_accounts(tmp_path: Path) -> None:
    from attunexr.web import Settings, create_app

    app = create_app(Settings(data_dir=tmp_path, login_failures_per_address=12))
    from starlette.testclient import TestClient

    with TestClient(app) as c:
        codes = [c.post("/api/auth/token", json={"username": f"user{i}", "password": "x"}).status_code
                 for i in range(15)]
        assert codes == [401] * 12 + [429] * 3
        r = c.post("/api/auth/token", json={"username": "z", "password": "x"})
        assert "network address" in r.json()["detail"] and int(r.headers["retry-after"]) > 0


def test_parallel_sign_ins_check_at_most_two_passwords_at_once(server: LiveServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """16 parallel sign-ins (64 MiB of Argon2 memory each) run through a gate of 2."""
    from attunexr.store import _passwords

    real = _passwords._hasher
    lock, state = threading.Lock(), {"now": 0, "peak": 0, "calls": 0}

    class Counting:
        def _run(self, fn: Any, *args: Any) -> Any:
            with lock:
                state["now"] += 1
                state["calls"] += 1
                state["peak"] = max(state["peak"], state["now"])
            try:
                time.sleep(0.05)  # make overlaps likely if the gate were missing
                return fn(*args)
            finally:
                with lock:
                    state["now"] -= 1

        def verify(self, h: str, pw: str) -> Any:
            return self._run(real.verify, h, pw)

        def hash(self, pw: str) -> Any:
            return self._run(real.hash, pw)

    monkeypatch.setattr(_passwords, "_hasher", Counting())
    results: list[int] = []

    def attempt(i: int) -> None:
        with server.client() as c:
            user = ("alice", "bob", "root")[i % 3]
            results.append(c.post("/api/auth/token", json={"username": user, "password": PASSWORD}).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [200] * 16
    assert state["calls"] >= 16 and state["peak"] <= 2, state


def test_oversize_bodies_are_refused_before_reading(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as s:
        # declares 64 MiB and sends none of it: the answer comes at once, nothing is read or parsed
        s.sendall(b"POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 67108864\r\n\r\n")
        s.settimeout(10)
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert "at most 1048576 bytes" in head

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"username": "alice", "password": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    with server.client() as c:
        r = c.post("/api/auth/token", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        token = server.token("bob", PASSWORD)
        r = c.post("/api/patients", json={"identifying": {"n": "x" * (2 << 20)}},
                   headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 413
        r = c.post("/api/patients", json={"identifying": {"n": "x" * 1000}},
                   headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403  # a small body reaches authorization (researchers create no patients)
    with server.services.db.begin() as db:  # the oversize sign-ins were never counted as attempts
        assert [a.username for a in db.execute(select(LoginAttempt)).scalars()] == ["bob"]


# ------------------------------------------------------------------ item 4: password policy, admin password
@pytest.mark.parametrize("password", ["12345678", "password", "x", "passwordpassword", "Password2024!!",
                                      "aaaaaaaaaaaaaaaa", "abababababababab", "newuser-clinic-1"])
def test_weak_passwords_are_refused(server: LiveServer, password: str) -> None:
    assert password_problems(password, "newuser")
    admin = server.token("root", PASSWORD)
    with server.client(admin) as c:
        r = c.post("/api/users", json={"username": "newuser", "password": password, "role": "researcher",
                                       "clinic_id": 1})
        assert r.status_code == 422 and isinstance(r.json()["detail"], list), r.text


def test_password_policy_rules() -> None:
    assert password_problems("correct horse battery staple") == []
    assert any("user name" in p for p in password_problems("xx-drsmith-2024-yy", "DrSmith"))
    assert any("12" in p for p in password_problems("short"))
    assert any("commonly used" in p for p in password_problems("iloveyou1234567"))
    assert any("commonly used" in p for p in password_problems("1234567890123"))


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port this test holds, so that ``attunexr serve`` exits right after setting up accounts."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield int(s.getsockname()[1])
    s.close()


def _serve(args: list[str], env_extra: dict[str, str], tmp_path: Path, port: int
           ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ATTUNEXR_ADMIN_PASSWORD"} | env_extra
    return subprocess.run([sys.executable, "-c", "from attunexr.cli import main; main()", "serve", "--port",
                           str(port), "--data", str(tmp_path / "d"), *args], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)


def test_create_admin_takes_the_password_from_a_file_or_the_environment(tmp_path: Path, busy_port: int) -> None:
    from attunexr.store import Database, sqlite_url, verify_password

    pw_file = tmp_path / "pw"
    pw_file.write_text("velvet compass meadow\n")
    r = _serve(["--create-admin", "chief", "--admin-password-file", str(pw_file)], {}, tmp_path, busy_port)
    assert "admin account 'chief' ready" in r.stdout, r.stdout + r.stderr
    r = _serve(["--create-admin", "deputy"], {"ATTUNEXR_ADMIN_PASSWORD": "silver kettle horizon"}, tmp_path, busy_port)
    assert "admin account 'deputy' ready" in r.stdout, r.stdout + r.stderr
    db = Database(sqlite_url(tmp_path / "d" / "attunexr.db"))
    with db.begin() as s:
        users = {u.username: u for u in s.execute(select(User)).scalars()}
        assert users["chief"].role == users["deputy"].role == "admin"
        assert verify_password(users["chief"].password_hash, "velvet compass meadow")
        assert verify_password(users["deputy"].password_hash, "silver kettle horizon")
    db.dispose()
    # weak passwords are refused before anything is created; without a password source (no terminal) it stops
    r = _serve(["--create-admin", "weak"], {"ATTUNEXR_ADMIN_PASSWORD": "x"}, tmp_path, busy_port)
    assert r.returncode != 0 and "password refused" in r.stderr and "Traceback" not in r.stderr
    r = _serve(["--create-admin", "nopw"], {}, tmp_path, busy_port)
    assert r.returncode != 0 and "--admin-password-file" in r.stderr


def test_create_admin_prompts_with_hidden_input(tmp_path: Path, busy_port: int) -> None:
    """In a terminal the password is asked twice, without echo (a pseudo-terminal stands in for the person)."""
    import pty
    import select
    import termios

    env = {k: v for k, v in os.environ.items() if k != "ATTUNEXR_ADMIN_PASSWORD"}
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI on the pseudo-terminal
        os.execve(sys.executable, [sys.executable, "-c", "from attunexr.cli import main; main()", "serve", "--port",
                                   str(busy_port), "--data", str(tmp_path / "d"), "--create-admin", "prompted"], env)
    out = b""

    def read_until(marker: bytes, timeout: float = 60) -> None:
        nonlocal out
        end = time.time() + timeout
        while marker not in out and time.time() < end:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    out += os.read(fd, 1024)
                except OSError:
                    break

    def type_hidden(text: bytes) -> None:
        """Type once the terminal stopped echoing (getpass flushes what was typed before)."""
        end = time.time() + 60
        while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < end:
            time.sleep(0.05)
        os.write(fd, text)

    read_until(b"password of the new admin")
    type_hidden(b"amber willow trumpet\n")
    read_until(b"again")
    type_hidden(b"amber willow trumpet\n")
    read_until(b"ready")
    read_until(b"no such marker", timeout=5)  # let it exit (its port is taken)
    os.kill(pid, 9) if os.waitpid(pid, os.WNOHANG) == (0, 0) else None
    os.close(fd)
    assert b"admin account 'prompted' ready" in out, out
    assert b"amber willow trumpet" not in out  # never echoed
