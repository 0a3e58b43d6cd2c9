"""Clinician web app and WebXR client: FastAPI app factory, live sessions, reports.

``create_app(settings)`` builds the app; :class:`Settings` says where data lives. A live session is a
:class:`LiveSessionRunner`: a thin layer over one :class:`attunexr.session.LiveSession` fed by the
:mod:`attunexr.sensors` source its plan chose, which forwards clinician actions (approve/reject, set level, bounds,
pause/resume/stop, SUDS, notes) and renders the session's state for the dashboard and the VR client;
:func:`build_session` chooses the session's parts from its plan.
"""

from attunexr.web._app import create_app
from attunexr.web._live import LiveRegistry, LiveSessionRunner
from attunexr.web._live_bridge import SessionSetup, build_session, load_replay_recording
from attunexr.web._settings import Settings

__all__ = [
    "LiveRegistry",
    "LiveSessionRunner",
    "SessionSetup",
    "Settings",
    "build_session",
    "create_app",
    "load_replay_recording",
]
