"""`SessionManager`: creates live sessions, hands out their VR-client tokens, authorizes connections."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from attunexr.errors import AuthorizationError, ConfigurationError
from attunexr.privacy import MasterKey
from attunexr.recording import RecordingMeta
from attunexr.session._live import LiveSession, SessionHook
from attunexr.session._recorder import SessionRecorder

__all__ = ["SessionManager"]

logger = logging.getLogger(__name__)


class SessionManager:
    """Owns the live sessions of one server process.

    Parameters
    ----------
    detector
        A detector shared by all sessions (it keeps live state per session id), a model name for
        :func:`attunexr.models.load_model` (loaded once, lazily), or ``None`` for features only.
    record_dir
        Folder for the encrypted session logs (one ``<session_id>.axr`` per session); ``None`` = no recording.
    master_key
        Wraps the per-session data keys; required with ``record_dir``.
    hooks_factory
        ``session -> list of hooks`` called for every new session (exposure controller, safety monitors).
    session_options
        Extra :class:`LiveSession` arguments (``window``, ``hop``, ``features`` factory ...).
    """

    def __init__(
        self,
        detector: Any = None,
        record_dir: str | Path | None = None,
        master_key: MasterKey | None = None,
        hooks_factory: Callable[[LiveSession], Sequence[SessionHook]] | None = None,
        **session_options: Any,
    ) -> None:
        if record_dir is not None and master_key is None:
            raise ConfigurationError(
                "recording sessions needs a master key (key file or ATTUNEXR_MASTER_KEY)"
            )
        self._detector_spec = detector
        self._detector: Any = None if isinstance(detector, str) else detector
        self.record_dir = Path(record_dir) if record_dir is not None else None
        self.master_key = master_key
        self.hooks_factory = hooks_factory
        self.session_options = session_options
        self.sessions: dict[str, LiveSession] = {}
        self._tokens: dict[bytes, str] = {}

    @property
    def detector(self) -> Any:
        if self._detector is None and isinstance(self._detector_spec, str):
            from attunexr.models import load_model

            self._detector = load_model(self._detector_spec)
        return self._detector

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    async def open_session(
        self, meta: RecordingMeta | None = None, session_id: str | None = None, **options: Any
    ) -> tuple[LiveSession, str]:
        """Create and start a session; returns it and the token its VR client must present."""
        session_id = session_id or secrets.token_hex(8)
        if session_id in self.sessions:
            raise ConfigurationError(f"a live session {session_id!r} already exists")
        recorder = None
        if self.record_dir is not None:
            assert self.master_key is not None
            recorder = SessionRecorder(self.record_dir / f"{session_id}.axr", self.master_key, meta=meta)
        opts = {**self.session_options, **options}
        opts.setdefault("detector", self.detector)  # a per-session detector (with its own live state) may be passed
        session = LiveSession(session_id, meta=meta, recorder=recorder, **opts)
        if self.hooks_factory is not None:
            session.hooks.extend(self.hooks_factory(session))
        await session.start()
        token = secrets.token_urlsafe(24)
        self.sessions[session_id] = session
        self._tokens[self._digest(token)] = session_id
        logger.info("opened live session %s", session_id)
        return session, token

    def authorize(self, token: str) -> LiveSession:
        """The running session this token belongs to; :class:`AuthorizationError` otherwise."""
        digest = self._digest(token)
        for known, sid in self._tokens.items():
            if hmac.compare_digest(known, digest):
                session = self.sessions.get(sid)
                if session is not None and session.state == "running":
                    return session
        raise AuthorizationError("unknown or expired session token; ask the clinician app for a new one")

    def get(self, session_id: str) -> LiveSession:
        try:
            return self.sessions[session_id]
        except KeyError as err:
            raise ConfigurationError(f"no live session {session_id!r}") from err

    async def close_session(self, session_id: str) -> LiveSession:
        session = self.get(session_id)
        await session.stop()
        self._tokens = {k: v for k, v in self._tokens.items() if v != session_id}
        return session

    async def close_all(self) -> None:
        for sid in list(self.sessions):
            if self.sessions[sid].state != "stopped":
                await self.close_session(sid)
