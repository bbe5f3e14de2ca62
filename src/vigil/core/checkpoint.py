"""Checkpoints: c2sp.org/tlog-checkpoint@v1.0.0.

A checkpoint is a signed note whose text is a log's tree head::

    <origin>
    <tree size, canonical decimal>
    <root hash, base64 of 32 bytes>
    [<extension line>...]

This module parses and formats that text exactly (``parse_checkpoint`` and
``format_checkpoint`` are inverse bijections on valid texts) and verifies a
checkpoint note: the log's signature plus any cosignatures from given cosigners
(:func:`verify_checkpoint`), returning a :class:`VerifiedCheckpoint`.

It does not check consistency with earlier checkpoints, freshness, or how many
cosigners signed (witness policy): those belong to the client and policy layers.
It does not require a size-0 checkpoint to carry the empty-tree root (a
tlog-witness rule, checked by the witness).

No I/O, no clock, no globals.

Example::

    >>> cp = parse_checkpoint("example.com/log\\n1\\n" + "A" * 43 + "=\\n")
    >>> cp.origin, cp.size
    ('example.com/log', 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.core.encoding import MAX_UINT64, b64decode_strict, b64encode, parse_decimal
from vigil.core.note import (
    Note,
    VerifiedNote,
    VerifiedSignature,
    Verifier,
    encode_note_text,
    parse_note,
    verify_note,
)
from vigil.errors import FormatError, SignatureError, VerificationError

__all__ = [
    "MAX_EXTENSION_LINES",
    "ROOT_HASH_SIZE",
    "Checkpoint",
    "VerifiedCheckpoint",
    "format_checkpoint",
    "parse_checkpoint",
    "verify_checkpoint",
]

ROOT_HASH_SIZE = 32
"""Bytes in an RFC 6962 SHA-256 root hash."""

MAX_EXTENSION_LINES = 64
"""Default cap on extension lines; the spec sets none and discourages their use."""


def _quote(text: str, limit: int = 48) -> str:
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)


def _check_line(line: str, what: str) -> None:
    """A checkpoint line: non-empty note text without a newline."""
    if not isinstance(line, str):
        raise TypeError(f"{what}: want str, got {type(line).__name__}")
    if not line:
        raise FormatError(f"{what}: empty (want a non-empty line)")
    if "\n" in line:
        raise FormatError(f"{what}: contains a newline (want a single line)")
    encode_note_text(line, what=what)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head, as in a checkpoint's note text.

    Attributes:
        origin: Unique log identity; non-empty, one line (it may contain spaces:
            sum.golang.org's is ``go.sum database tree``).
        size: Number of leaves, 0 <= size < 2**64.
        root_hash: The 32-byte RFC 6962 root hash of the first ``size`` leaves.
        extensions: Opaque extension lines, each non-empty and one line.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise TypeError(f"checkpoint size: want int, got {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_UINT64:
            raise FormatError(
                f"checkpoint {self.origin}: tree size {self.size} out of range "
                f"(want 0 <= size <= {MAX_UINT64})"
            )
        if not isinstance(self.root_hash, bytes):
            raise TypeError(
                f"checkpoint root hash: want bytes, got {type(self.root_hash).__name__}"
            )
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise FormatError(
                f"checkpoint {self.origin}: root hash is {len(self.root_hash)} bytes, "
                f"want {ROOT_HASH_SIZE}"
            )
        if not isinstance(self.extensions, tuple):
            raise TypeError(
                f"checkpoint extensions: want a tuple, got {type(self.extensions).__name__}"
            )
        for index, line in enumerate(self.extensions, start=4):
            _check_line(line, f"checkpoint {self.origin} line {index} (extension)")


def parse_checkpoint(text: str, *, max_extensions: int = MAX_EXTENSION_LINES) -> Checkpoint:
    """Parse checkpoint note text strictly.

    Steps (tlog-checkpoint §Note text):

    1. The text ends with a newline and has at most ``3 + max_extensions``
       lines (counted before splitting).
    2. Line 1, the origin: non-empty.
    3. Line 2, the tree size: canonical ASCII decimal, no leading zeros, < 2**64.
    4. Line 3, the root hash: canonical base64 of exactly 32 bytes.
    5. Lines 4..: extension lines, each non-empty.

    Args:
        text: The note text (as in :attr:`VerifiedNote.text`).
        max_extensions: Cap on extension lines.

    Returns:
        The checkpoint; ``format_checkpoint(result) == text``.

    Raises:
        FormatError: If the text is not a valid checkpoint.
        TypeError: If ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"checkpoint: want str, got {type(text).__name__}")
    # Step 1.
    if not text.endswith("\n"):
        raise FormatError("checkpoint: text does not end with a newline")
    count = text.count("\n")
    if count < 3:
        raise FormatError(f"checkpoint: {count} lines (want origin, tree size and root hash)")
    if count > 3 + max_extensions:
        raise FormatError(
            f"checkpoint: {count - 3} extension lines (want at most {max_extensions})"
        )
    origin, size_line, hash_line, *extensions = text[:-1].split("\n")
    # Step 2 (also rechecked with the control-character rules by Checkpoint).
    if not origin:
        raise FormatError("checkpoint line 1 (origin): empty (want the log's origin)")
    # Step 3.
    size = parse_decimal(size_line, what=f"checkpoint {origin} line 2 (tree size)")
    # Step 4.
    root_hash = b64decode_strict(hash_line, what=f"checkpoint {origin} line 3 (root hash)")
    # Step 5 and every invariant.
    return Checkpoint(origin, size, root_hash, tuple(extensions))


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """Format checkpoint note text: one line per field, each ending in newline."""
    lines = [
        checkpoint.origin,
        str(checkpoint.size),
        b64encode(checkpoint.root_hash),
        *checkpoint.extensions,
    ]
    return "\n".join(lines) + "\n"


_VERIFIED = object()  # Only verify_checkpoint constructs VerifiedCheckpoint.


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint signed by its log's key, with any verified cosignatures.

    Only :func:`verify_checkpoint` creates these (direct construction raises
    ``TypeError``).

    Attributes:
        checkpoint: The parsed checkpoint.
        note: The verified note it came from (all verified and ignored lines).
        log_signature: The log's verified signature.
        cosignatures: Verified signatures by the given cosigners, in note order;
            timestamped types (cosignature/v1) carry ``timestamp``.
    """

    checkpoint: Checkpoint
    note: VerifiedNote
    log_signature: VerifiedSignature
    cosignatures: tuple[VerifiedSignature, ...]
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError("VerifiedCheckpoint is created only by verify_checkpoint()")


def verify_checkpoint(
    note: Note | bytes,
    *,
    origin: str,
    log_verifier: Verifier,
    cosigners: Iterable[Verifier] = (),
) -> VerifiedCheckpoint:
    """Verify a (cosigned) checkpoint note from the log with the given origin.

    Procedure:

    1. Verify the note against the log key and the cosigner keys together
       (:func:`vigil.core.note.verify_note`): any bad signature from any of these
       keys rejects the note; lines from other keys are ignored.
    2. Require a valid signature by the log key itself (a note signed only by
       cosigners is not a checkpoint of this log).
    3. Parse the text as a checkpoint (:func:`parse_checkpoint`).
    4. Require the expected origin (the log key name need not equal it).

    Args:
        note: The checkpoint note, parsed or as bytes.
        origin: The origin line the caller expects.
        log_verifier: The log's key.
        cosigners: Witness (cosigner) keys whose signatures to verify if present.

    Returns:
        The verified checkpoint and cosignatures. How many cosigners are
        required is a policy decision the caller makes from ``cosignatures``.

    Raises:
        FormatError: If the note or its text is malformed.
        SignatureError: If a signature by a given key is invalid or the log's
            signature is missing.
        VerificationError: If the origin differs from ``origin``.
        ConfigError: If two different given keys share a name and key ID.
    """
    if isinstance(note, bytes):
        note = parse_note(note)
    cosigner_list = list(cosigners)
    # Step 1.
    verified = verify_note(note, [log_verifier, *cosigner_list])
    # Step 2.
    log_signature = verified.signature_by(log_verifier)
    if log_signature is None:
        raise SignatureError(
            f"checkpoint: no signature by log key {log_verifier.name}+"
            f"{log_verifier.key_hash.hex()} (got signatures by "
            f"{', '.join(sig.key_id for sig in verified.verified)})"
        )
    # Step 3.
    checkpoint = parse_checkpoint(verified.text)
    # Step 4.
    if checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint: wrong origin (got {_quote(checkpoint.origin)}, want {_quote(origin)})"
        )
    log_key = (log_verifier.name, log_verifier.key_hash)
    cosignatures = tuple(sig for sig in verified.verified if (sig.name, sig.key_hash) != log_key)
    return VerifiedCheckpoint(checkpoint, verified, log_signature, cosignatures, _VERIFIED)
