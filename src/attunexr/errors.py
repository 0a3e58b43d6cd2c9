"""The attunexr error hierarchy.

Every error says what was wrong and, where it can, what to do about it. Errors about a file name the file.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:  # annotations only: the module namespace holds nothing but the errors
    from pathlib import Path

__all__ = [
    "AttunexrError",
    "AuthorizationError",
    "ConfigurationError",
    "DataFormatError",
    "DatasetNotFoundError",
    "IntegrityError",
    "ModelError",
    "ProtocolError",
    "SafetyError",
    "SignalError",
]


class AttunexrError(Exception):
    """Base class of every error raised on purpose by attunexr."""


class DataFormatError(AttunexrError, ValueError):
    """A file or message does not have the expected format.

    Parameters
    ----------
    path
        The file (or message source) that is wrong; included in the message.
    problem
        What is wrong and, when known, what to do.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

    def __reduce__(self) -> tuple[type[DataFormatError], tuple[str | None, str]]:
        # rebuild from (path, problem): errors raised in worker processes (parallel folds) reach the caller intact
        return (type(self), (self.path, self.problem))


class DatasetNotFoundError(AttunexrError, FileNotFoundError):
    """A dataset is not where attunexr looked; the message says where it comes from and how to get it."""


class ConfigurationError(AttunexrError, ValueError):
    """An option or parameter is invalid."""


class SignalError(AttunexrError, ValueError):
    """A signal cannot be processed (too short, wrong rate, no data)."""


class ModelError(AttunexrError):
    """A model is missing, unfitted, or lacks the inputs it needs."""


class SafetyError(AttunexrError):
    """An action was refused because it would break a clinician bound or a safety rule."""


class AuthorizationError(AttunexrError, PermissionError):
    """The caller may not do this."""


class IntegrityError(AttunexrError):
    """Stored data failed an integrity check (tampering or corruption)."""


class ProtocolError(AttunexrError, ValueError):
    """A VR-client or sensor message breaks the protocol."""
