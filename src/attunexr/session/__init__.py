"""The live runtime: one pipeline per session on asyncio, the VR-client protocol, the encrypted session recorder.

``LiveSession`` runs chunks → buffers → quality → features → detector → estimates → hooks → subscribers.
``ProtocolHandler`` is the transport-independent VR-client protocol; ``websocket_endpoint`` / ``live_router`` mount
it in a Starlette/FastAPI app, ``create_live_app`` is a standalone server. ``SessionRecorder`` writes the
encrypted append-only log that ``SessionLog`` verifies, recovers after a crash and exports. ``VitalsTracker`` is
the session's one reading of vital signs and signal quality (the dashboard's badges and the AI's gating).
"""

from attunexr.session._client import VRClient
from attunexr.session._live import (
    DetectorLike,
    FeatureStreamLike,
    LiveSession,
    SessionHook,
    StatefulDetectorLike,
)
from attunexr.session._log import LogCheck, LogRecord, SessionLog, check_session_log
from attunexr.session._manager import SessionManager
from attunexr.session._messages import COMMANDS, Command, HookContext, SessionUpdate, StateEstimate
from attunexr.session._protocol import PROTOCOL_VERSION, ProtocolHandler
from attunexr.session._recorder import SessionRecorder
from attunexr.session._server import create_live_app, live_router, serve_vr_client, websocket_endpoint
from attunexr.session._sickness import HeadMotionSickness
from attunexr.session._subscription import ALL_TOPICS, Subscription
from attunexr.session._vitals import SignalStatus, Vitals, VitalsTracker
from attunexr.session._wire import decode_binary_frame, encode_binary_samples, encode_json_samples

__all__ = [
    "ALL_TOPICS",
    "COMMANDS",
    "PROTOCOL_VERSION",
    "Command",
    "DetectorLike",
    "FeatureStreamLike",
    "HeadMotionSickness",
    "HookContext",
    "LiveSession",
    "LogCheck",
    "LogRecord",
    "ProtocolHandler",
    "SessionHook",
    "SessionLog",
    "SessionManager",
    "SessionRecorder",
    "SessionUpdate",
    "SignalStatus",
    "StateEstimate",
    "StatefulDetectorLike",
    "Subscription",
    "VRClient",
    "Vitals",
    "VitalsTracker",
    "check_session_log",
    "create_live_app",
    "decode_binary_frame",
    "encode_binary_samples",
    "encode_json_samples",
    "live_router",
    "serve_vr_client",
    "websocket_endpoint",
]
