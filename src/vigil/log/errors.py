"""Errors specific to the log server, all inside the :mod:`vigil.errors` hierarchy.

Each class exists because the HTTP layer (:mod:`vigil.web.errors`) must map it
to its own status code and stable error code; the base classes keep the
meaning (a too-large body is malformed input, a held lock is a storage
failure) for callers that only catch :class:`vigil.errors.VigilError`.
"""

from __future__ import annotations

from vigil.errors import (
    FormatError,
    PolicyError,
    StorageError,
    VerificationError,
    VigilError,
)

__all__ = [
    "InvalidStatementError",
    "LogStateError",
    "NotFoundError",
    "PushbackError",
    "SequencerLockedError",
    "TooLargeError",
    "UnknownKindError",
]


class TooLargeError(FormatError):
    """A body, entry or batch exceeds a configured size or count cap."""


class InvalidStatementError(FormatError):
    """The envelope parsed, but its statement or predicate is malformed.

    Distinct from a malformed envelope (HTTP 400) because the client sent a
    well-formed DSSE envelope whose content the log refuses (HTTP 422).
    """


class UnknownKindError(PolicyError):
    """The statement's predicateType is not registered with the log."""


class NotFoundError(VigilError):
    """The requested entry, tile, checkpoint or proof does not exist (yet)."""


class PushbackError(VigilError):
    """The log is overloaded; the client should retry after ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def hint(self) -> str:
        return f"the log is busy; retry in {self.retry_after_s} s"


class SequencerLockedError(StorageError):
    """Another process holds the sequencer lock of this log's storage."""

    def __init__(self, message: str, *, holder: str) -> None:
        super().__init__(message)
        self.holder = holder

    def hint(self) -> str:
        return (
            "only one server may sequence a log: stop the other server "
            f"({self.holder}) or point this one at different storage"
        )


class LogStateError(StorageError):
    """Stored log state is inconsistent (tiles vs database, a second root for a size).

    Fatal: the sequencer stops rather than sign anything it cannot vouch for.
    """


class RejectedError(VerificationError):
    """The log refused a client's request (HTTP 4xx); carries status and error code."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
