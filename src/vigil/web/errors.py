"""The one mapping from Vigil exception classes to HTTP responses.

Every error response is JSON ``{"error": CODE, "message": TEXT}`` with a stable
``CODE`` clients may branch on:

======  ====================  ==================================================
status  code                  raised for
======  ====================  ==================================================
400     ``malformed``         input that does not parse (FormatError)
403     ``bad-signature``     a signature that does not verify (SignatureError)
404     ``not-found``         no such entry, tile, size (NotFoundError)
413     ``too-large``         a body, entry or batch over a cap (TooLargeError)
422     ``bad-statement``     a well-formed envelope whose statement the log
                              refuses (InvalidStatementError, UnsupportedError)
422     ``unknown-kind``      an unregistered predicateType (UnknownKindError)
422     ``rejected``          another verification failure (VerificationError)
503     ``pushback``          overloaded or not sequencing; with Retry-After
503     ``unavailable``       another Vigil error (storage down); Retry-After
500     ``internal``          anything else (the message is not leaked)
======  ====================  ==================================================

The witness (c2sp.org/tlog-witness "add-checkpoint") has its own table,
:func:`witness_error_response`, because the spec fixes its status codes:

======  ====================  ==================================================
status  code                  raised for
======  ====================  ==================================================
400     ``malformed``         a body that does not parse, old size > size
403     ``bad-signature``     no valid signature by the log's key
404     ``unknown-log``       an origin the witness does not witness
409     ``conflict``          old size is not the witness's; the body is the
                              known size (``text/x.tlog.size``), not JSON
413     ``too-large``         a body over the cap
422     ``bad-proof``         inconsistent: bad proof, second root for a size,
                              bad empty-tree root, proof for old size 0,
                              refused by an auditor
503     ``unavailable``       storage failure; Retry-After
======  ====================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.errors import (
    FormatError,
    SignatureError,
    UnsupportedError,
    VerificationError,
    VigilError,
)
from vigil.log.errors import (
    InvalidStatementError,
    NotFoundError,
    PushbackError,
    TooLargeError,
    UnknownKindError,
)
from vigil.witness.errors import BodyTooLargeError, OldSizeConflictError, UnknownLogError

__all__ = ["ErrorResponse", "error_response", "witness_error_response"]


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """An error rendered for HTTP.

    Attributes:
        status: The HTTP status code.
        code: The stable error code.
        message: The human-readable message.
        retry_after_s: Seconds for a Retry-After header, or None.
    """

    status: int
    code: str
    message: str
    retry_after_s: int | None = None

    def body(self) -> dict[str, str]:
        """The JSON body."""
        return {"error": self.code, "message": self.message}


# Most specific first: the first matching class wins.
_MAPPING: tuple[tuple[type[VigilError], int, str], ...] = (
    (TooLargeError, 413, "too-large"),
    (InvalidStatementError, 422, "bad-statement"),
    (UnsupportedError, 422, "bad-statement"),
    (FormatError, 400, "malformed"),
    (SignatureError, 403, "bad-signature"),
    (UnknownKindError, 422, "unknown-kind"),
    (VerificationError, 422, "rejected"),
    (NotFoundError, 404, "not-found"),
    (PushbackError, 503, "pushback"),
)


def error_response(exc: BaseException) -> ErrorResponse:
    """Map an exception to its HTTP rendering (see the module docstring)."""
    for cls, status, code in _MAPPING:
        if isinstance(exc, cls):
            retry = exc.retry_after_s if isinstance(exc, PushbackError) else None
            return ErrorResponse(status, code, str(exc), retry)
    if isinstance(exc, VigilError):
        return ErrorResponse(503, "unavailable", str(exc), 5)
    return ErrorResponse(500, "internal", "internal server error")


_WITNESS_MAPPING: tuple[tuple[type[VigilError], int, str], ...] = (
    (BodyTooLargeError, 413, "too-large"),
    (FormatError, 400, "malformed"),
    (SignatureError, 403, "bad-signature"),
    (UnknownLogError, 404, "unknown-log"),
    (OldSizeConflictError, 409, "conflict"),
    (VerificationError, 422, "bad-proof"),
)


def witness_error_response(exc: BaseException) -> ErrorResponse:
    """Map a witness exception to its HTTP rendering (see the module docstring).

    For 409 the caller renders :attr:`OldSizeConflictError.known_size` as the
    ``text/x.tlog.size`` body instead of JSON.
    """
    for cls, status, code in _WITNESS_MAPPING:
        if isinstance(exc, cls):
            return ErrorResponse(status, code, str(exc))
    if isinstance(exc, VigilError):
        return ErrorResponse(503, "unavailable", str(exc), 5)
    return ErrorResponse(500, "internal", "internal server error")
