"""The tlog-witness wire formats: c2sp.org/tlog-witness ``add-checkpoint``.

Request body (spec "add-checkpoint")::

    old <size, canonical decimal>
    <base64 consistency proof hash>      (0 to 63 lines)
    <empty line>
    <checkpoint note>                    (c2sp.org/tlog-checkpoint, signed)

Responses: 200 with one or more note signature lines (cosignatures), or 409
with ``Content-Type: text/x.tlog.size`` and the witness's known size followed
by a newline.

This module parses and formats exactly those bytes, for both sides: the
witness parses requests (:func:`parse_add_checkpoint`) and formats 409 bodies
(:func:`format_size_body`); the log formats requests
(:func:`format_add_checkpoint`) and parses both responses
(:func:`parse_cosignature_lines`, :func:`parse_size_body`).

Parsing is strict: canonical decimals and base64, every line newline
terminated, each proof hash exactly 32 bytes, at most
:data:`MAX_PROOF_LINES` of them, a checkpoint note that parses as a signed
note (its signatures are *not* verified here, and its text is not parsed as
a checkpoint: the witness verifies the signature first, see
:mod:`vigil.witness.state`). A size cap applies before anything is decoded.

No I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.core.encoding import b64decode_strict, b64encode, parse_decimal
from vigil.core.merkle import HASH_SIZE
from vigil.core.note import (
    Note,
    Signature,
    format_signature_line,
    parse_note,
    parse_signature_line,
)
from vigil.errors import FormatError

__all__ = [
    "MAX_ADD_CHECKPOINT_BYTES",
    "MAX_PROOF_LINES",
    "MAX_RESPONSE_BYTES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "format_add_checkpoint",
    "format_cosignature_lines",
    "format_size_body",
    "parse_add_checkpoint",
    "parse_cosignature_lines",
    "parse_size_body",
]

MAX_PROOF_LINES = 63
"""The client MUST NOT send more than 63 consistency proof lines (spec "add-checkpoint")."""

MAX_ADD_CHECKPOINT_BYTES = 64 * 1024
"""Default cap on a request body: 63 proof lines are ~3 KB; notes add a few KB."""

MAX_RESPONSE_BYTES = 16 * 1024
"""Default cap on a 200 or 409 response body read by a log."""

SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""Content-Type of a 409 response body (spec "add-checkpoint")."""

_OLD_PREFIX = "old "


@dataclass(frozen=True, slots=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` request body.

    Attributes:
        old_size: The tree size of the previous checkpoint the client believes
            the witness holds (0 if none).
        proof: The consistency proof hashes from ``old_size`` to the
            checkpoint's size (each 32 bytes, at most 63).
        note: The signed checkpoint note, parsed but not verified.
    """

    old_size: int
    proof: tuple[bytes, ...]
    note: Note

    def __post_init__(self) -> None:
        if isinstance(self.old_size, bool) or not isinstance(self.old_size, int):
            raise TypeError(f"old size: want int, got {type(self.old_size).__name__}")
        if not 0 <= self.old_size < 2**64:
            raise FormatError(f"old size: {self.old_size} out of range")
        if len(self.proof) > MAX_PROOF_LINES:
            raise FormatError(
                f"consistency proof: {len(self.proof)} lines (want at most {MAX_PROOF_LINES})"
            )
        for index, value in enumerate(self.proof):
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                raise FormatError(f"consistency proof line {index + 1}: want a 32-byte hash")


def parse_add_checkpoint(
    body: bytes, *, max_bytes: int = MAX_ADD_CHECKPOINT_BYTES
) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` request body strictly.

    Steps:

    1. Cap the size; decode UTF-8 (the note is UTF-8; the rest is ASCII).
    2. Line 1: ``old <canonical decimal>``.
    3. Then up to 63 lines, each the canonical base64 of a 32-byte hash,
       until the first empty line; a 64th line is refused before decoding.
    4. The rest is a signed note (:func:`vigil.core.note.parse_note`).

    Args:
        body: The request body.
        max_bytes: Refuse larger bodies before parsing.

    Returns:
        The request.

    Raises:
        FormatError: anything malformed (HTTP 400).
    """
    if not isinstance(body, bytes):
        raise TypeError(f"add-checkpoint body: want bytes, got {type(body).__name__}")
    # Step 1.
    if len(body) > max_bytes:
        raise FormatError(
            f"add-checkpoint body: {len(body)} bytes exceeds the limit of {max_bytes}"
        )
    # Step 2.
    end = body.find(b"\n")
    if end < 0:
        raise FormatError("add-checkpoint body: no newline after the old size line")
    first = body[:end].decode("ascii", errors="replace")
    if not first.startswith(_OLD_PREFIX):
        raise FormatError(
            f"add-checkpoint line 1: want 'old <size>' (got {first[:40]!r})"
        )
    old_size = parse_decimal(first[len(_OLD_PREFIX) :], what="add-checkpoint line 1 (old size)")
    # Step 3.
    proof: list[bytes] = []
    position = end + 1
    while True:
        end = body.find(b"\n", position)
        if end < 0:
            raise FormatError(
                "add-checkpoint body: no empty line between the proof and the checkpoint"
            )
        line = body[position:end]
        position = end + 1
        if not line:
            break
        number = len(proof) + 2
        if len(proof) == MAX_PROOF_LINES:
            raise FormatError(
                f"add-checkpoint line {number}: more than {MAX_PROOF_LINES} consistency "
                "proof lines"
            )
        value = b64decode_strict(line, what=f"add-checkpoint line {number} (proof hash)")
        if len(value) != HASH_SIZE:
            raise FormatError(
                f"add-checkpoint line {number} (proof hash): {len(value)} bytes, "
                f"want {HASH_SIZE}"
            )
        proof.append(value)
    # Step 4.
    note = parse_note(body[position:])
    return AddCheckpointRequest(old_size, tuple(proof), note)


def format_add_checkpoint(
    old_size: int, proof: list[bytes] | tuple[bytes, ...], note: bytes
) -> bytes:
    """Format an ``add-checkpoint`` request body.

    Args:
        old_size: The size the witness is believed to hold (0 if none).
        proof: The consistency proof from ``old_size`` to the checkpoint.
        note: The signed checkpoint note bytes, sent verbatim.

    Raises:
        FormatError: more than 63 proof hashes, or a hash that is not 32 bytes.
    """
    request = AddCheckpointRequest(old_size, tuple(proof), parse_note(note))
    lines = [f"old {request.old_size}\n", *(b64encode(h) + "\n" for h in request.proof), "\n"]
    return "".join(lines).encode("ascii") + note


def format_cosignature_lines(signatures: list[Signature] | tuple[Signature, ...]) -> bytes:
    """A 200 response body: one signature line per cosignature, each ending in newline."""
    if not signatures:
        raise ValueError("a 200 add-checkpoint response needs at least one signature line")
    return "".join(format_signature_line(s) + "\n" for s in signatures).encode("utf-8")


def parse_cosignature_lines(body: bytes, *, max_lines: int = 16) -> tuple[Signature, ...]:
    """Parse a 200 response body into signature lines (not verified).

    Raises:
        FormatError: empty, not newline-terminated, too many lines, or a
            malformed line.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"cosignature response: invalid UTF-8 at byte {exc.start}") from exc
    if not text or not text.endswith("\n"):
        raise FormatError("cosignature response: want signature lines ending in newline")
    lines = text[:-1].split("\n")
    if len(lines) > max_lines:
        raise FormatError(f"cosignature response: {len(lines)} lines (want at most {max_lines})")
    return tuple(
        parse_signature_line(line, what=f"cosignature response line {number}")
        for number, line in enumerate(lines, start=1)
    )


def format_size_body(size: int) -> bytes:
    """A 409 response body: the known size in decimal and a newline."""
    return f"{size}\n".encode("ascii")


def parse_size_body(body: bytes) -> int:
    """Parse a 409 response body.

    Raises:
        FormatError: not a canonical decimal followed by exactly one newline.
    """
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n") or "\n" in text[:-1]:
        raise FormatError(f"409 body: want '<size>\\n' (got {text[:40]!r})")
    return parse_decimal(text[:-1], what="409 body (known size)")

