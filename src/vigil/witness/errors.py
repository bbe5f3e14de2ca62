"""Errors of the witness server, inside the :mod:`vigil.errors` hierarchy.

Each class exists because :mod:`vigil.web.errors` maps it to its own
c2sp.org/tlog-witness status code:

* :class:`UnknownLogError` -> 404 (the checkpoint origin is not witnessed);
* :class:`OldSizeConflictError` -> 409 with the known size as a
  ``text/x.tlog.size`` body;
* :class:`BadRequestError` (a :class:`~vigil.errors.FormatError`) -> 400 for
  a well-formed body whose fields contradict each other (old size > size);
* :class:`BodyTooLargeError` -> 413;
* :class:`AuditError` -> 422 (an auditing witness refuses the new entries).

Bad or missing log signatures are :class:`~vigil.errors.SignatureError`
(403); inconsistent checkpoints are :class:`~vigil.errors.ProofError`,
:class:`~vigil.errors.RootMismatchError` or
:class:`~vigil.errors.SplitViewError` (422).
"""

from __future__ import annotations

from vigil.errors import FormatError, VerificationError, VigilError

__all__ = [
    "AuditError",
    "BadRequestError",
    "BodyTooLargeError",
    "OldSizeConflictError",
    "UnknownLogError",
]


class UnknownLogError(VigilError):
    """The checkpoint's origin is not a log this witness is configured for."""

    def __init__(self, message: str, *, origin: str) -> None:
        super().__init__(message)
        self.origin = origin


class OldSizeConflictError(VigilError):
    """The request's old size is not the size of the latest cosigned checkpoint.

    Not a verification failure: the client just has stale information and
    should retry with ``known_size`` and a proof from it.
    """

    def __init__(self, message: str, *, known_size: int) -> None:
        super().__init__(message)
        self.known_size = known_size


class BadRequestError(FormatError):
    """The request parses but is self-contradictory (old size > checkpoint size)."""


class BodyTooLargeError(FormatError):
    """The request body exceeds the configured cap."""


class AuditError(VerificationError):
    """An auditor (see :class:`vigil.witness.service.CheckpointAuditor`) refused the new entries."""
