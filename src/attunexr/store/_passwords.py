"""Passwords: Argon2id hashing (RFC 9106) through argon2-cffi, a bound on parallel hashing, and the password policy.

Each Argon2 computation takes 64 MiB of memory for a fraction of a second (argon2-cffi's defaults, RFC 9106's
second recommended option). :func:`hash_password` and :func:`verify_password` therefore run through one gate of the
process that lets at most a few run at once (:func:`limit_password_hashing`); the others wait for a slot, and a
caller that waited too long gets :class:`PasswordHashingBusyError` instead of memory growing with the number of
parallel sign-ins.

The policy (:func:`password_problems`) follows NIST SP 800-63B section 5.1.1.2: a minimum length (12), no
composition rules, and a check against a list of commonly used passwords: the 20,000-entry list of Royce Williams
as shipped by Django (``common-passwords.txt`` beside this module, BSD-3-Clause), also after stripping digits and
symbols added at either end (``Password2024!``), plus refusals of passwords that contain the user name or that are
made of very few distinct characters or of one repeated piece (``passwordpassword``).
"""

from __future__ import annotations

import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from attunexr.errors import AttunexrError, ConfigurationError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PasswordHashingBusyError",
    "check_password_policy",
    "hash_password",
    "limit_password_hashing",
    "password_problems",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 12
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt")

_hasher = PasswordHasher()  # argon2-cffi defaults follow RFC 9106's second recommended option


class PasswordHashingBusyError(AttunexrError):
    """Too many password checks are running at once; the caller should retry in a few seconds."""


class _Gate:
    """At most ``limit`` holders at once; waiting longer than ``timeout_s`` raises."""

    def __init__(self, limit: int, timeout_s: float) -> None:
        self._cond = threading.Condition()
        self.limit, self.timeout_s, self.busy = limit, timeout_s, 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            if not self._cond.wait_for(lambda: self.busy < self.limit, timeout=self.timeout_s):
                raise PasswordHashingBusyError(
                    f"the server is checking {self.busy} passwords already; try again in a few seconds")
            self.busy += 1
        try:
            yield
        finally:
            with self._cond:
                self.busy -= 1
                self._cond.notify()

    def configure(self, limit: int, timeout_s: float) -> None:
        with self._cond:
            self.limit, self.timeout_s = limit, timeout_s
            self._cond.notify_all()


_gate = _Gate(limit=2, timeout_s=30.0)


def limit_password_hashing(max_parallel: int, timeout_s: float = 30.0) -> None:
    """Let at most ``max_parallel`` password hashes or checks run at once in this process (64 MiB each).

    A caller waiting longer than ``timeout_s`` for a slot gets :class:`PasswordHashingBusyError`.
    """
    if max_parallel < 1:
        raise ConfigurationError(f"max_parallel must be at least 1, got {max_parallel}")
    if timeout_s <= 0:
        raise ConfigurationError(f"timeout_s must be positive, got {timeout_s}")
    _gate.configure(max_parallel, timeout_s)


def hash_password(password: str) -> str:
    """Return the Argon2id hash (PHC string) of ``password`` (no policy check: see :func:`check_password_policy`)."""
    with _gate.slot():
        return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; never raises on a wrong password."""
    with _gate.slot():
        try:
            return _hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("## "))


_EDGES = string.digits + string.punctuation + " "


def password_problems(password: str, username: str | None = None) -> list[str]:
    """What is wrong with ``password`` as a new password of ``username`` (empty list: acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"it has {len(password)} character{'s' if len(password) != 1 else ''}; use at least "
                        f"{MIN_PASSWORD_LENGTH} "
                        "(a few unrelated words make a good one)")
    lowered = password.lower()
    common = _common_passwords()
    core = lowered.strip(_EDGES)
    if lowered in common:
        problems.append("it is on the list of commonly used passwords")
    elif len(core) >= 4 and core in common:
        problems.append(f"it is a commonly used password ({core!r}) with digits or symbols added")
    if len(set(lowered)) < 5:
        problems.append("it uses fewer than 5 different characters")
    else:
        unit = next((lowered[:n] for n in range(1, len(lowered) // 2 + 1)
                     if len(lowered) % n == 0 and lowered == lowered[:n] * (len(lowered) // n)), None)
        if unit is not None:
            problems.append(f"it repeats {unit!r}")
    if username and len(username) >= 3 and username.lower() in lowered:
        problems.append("it contains the user name")
    return problems


def check_password_policy(password: str, username: str | None = None) -> None:
    """Raise :class:`~attunexr.errors.ConfigurationError` naming every problem if ``password`` is too weak."""
    problems = password_problems(password, username)
    if problems:
        raise ConfigurationError("password refused: " + "; ".join(problems))
