"""Clinician web app and WebXR client: FastAPI app factory, live sessions, reports.

``create_app(settings)`` builds the app; :class:`Settings` says where data lives. A live session is a
:class:`LiveSessionRunner` driven through a small interface (start, push chunks, subscribe, approve/reject,
set level, pause/resume/stop, notes) over one :class:`attunexr.session.LiveSession` that runs its signal pipeline;
:func:`build_engine` wires the project's real components behind it.
"""

from attunexr.web._app import create_app
from attunexr.web._engine import SessionEngine
from attunexr.web._live import LiveRegistry, LiveSessionRunner
from attunexr.web._live_bridge import build_engine, load_replay_recording
from attunexr.web._settings import Settings

__all__ = [
    "LiveRegistry",
    "LiveSessionRunner",
    "SessionEngine",
    "Settings",
    "build_engine",
    "create_app",
    "load_replay_recording",
]
