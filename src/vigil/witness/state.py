"""The witness decision: (stored checkpoint, request) -> cosign, conflict, or reject.

This is the whole of c2sp.org/tlog-witness "add-checkpoint" as a pure
function, :func:`decide`: no I/O, no clock, no locks, no signing. The service
(:mod:`vigil.witness.service`) applies it under a per-origin lock, signs a
re-encoding of the parsed checkpoint, stores the result with a
compare-and-swap and only then releases the cosignature.

Checks, in the order the spec lists them (each names its HTTP status):

1. The note's signatures, against the log's trusted keys only: a signature
   line by a trusted key that does not verify, or no verified signature by a
   trusted key at all -> :class:`~vigil.errors.SignatureError` (403). Lines
   by other keys are ignored (and not kept).
2. The note text parses as a checkpoint of this origin -> else
   :class:`~vigil.errors.FormatError` (400). Parsed only after the signature
   verified, so unsigned junk never reaches the checkpoint parser.
3. ``old <= size`` -> else :class:`~vigil.witness.errors.BadRequestError` (400).
4. ``old`` equals the size of the latest cosigned checkpoint (0 if none) ->
   else :class:`Conflict` (409 with the known size).
5. A checkpoint of size 0 has the empty-tree root (RFC 6962 §2.1) -> else
   422, kept as evidence (the log signed an impossible tree head).
6. ``old == 0``: the proof is empty -> else 422 (a client error, not
   evidence). The empty tree is consistent with every tree.
7. ``old == size``: the root equals the stored root -> else
   :class:`~vigil.errors.SplitViewError` (422), kept as evidence: two
   validly signed roots for one size are proof of a fork. The proof must be
   empty.
8. Otherwise the consistency proof from the stored (size, root) to the new
   one verifies -> else :class:`~vigil.errors.ProofError` /
   :class:`~vigil.errors.RootMismatchError` (422), kept as evidence.

Passing all of them yields :class:`Cosign`. Because step 4 pins ``old`` to
the stored size and step 3 requires ``old <= size``, an accepted checkpoint
never has a smaller size than the stored one, and step 7 never lets a second
root for the stored size through: with the compare-and-swap in the store,
the witness never goes backwards and never cosigns two roots for one size.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.core.checkpoint import Checkpoint, parse_checkpoint
from vigil.core.encoding import b64encode
from vigil.core.merkle import EMPTY_ROOT
from vigil.core.note import Signature, Verifier, verify_note
from vigil.core.proof import verify_consistency
from vigil.core.tlog_witness import AddCheckpointRequest
from vigil.errors import (
    FormatError,
    ProofError,
    RootMismatchError,
    SignatureError,
    SplitViewError,
    VigilError,
)
from vigil.witness.errors import BadRequestError

__all__ = [
    "Conflict",
    "Cosign",
    "Decision",
    "LatestCheckpoint",
    "Reject",
    "WitnessedLog",
    "decide",
    "request_origin",
]


@dataclass(frozen=True, slots=True)
class WitnessedLog:
    """A log this witness cosigns for.

    Attributes:
        origin: The checkpoint origin line.
        verifiers: The log's trusted keys (at least one); signatures by any of
            them count, signatures by other keys are ignored.
        url: The log's tiles URL (c2sp.org/tlog-tiles), or None.
        audit: Whether an auditor checks the log's new entries before the
            witness cosigns (:mod:`vigil.witness.audit`); requires ``url``.
    """

    origin: str
    verifiers: tuple[Verifier, ...]
    url: str | None = None
    audit: bool = False

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise FormatError(f"witnessed log origin {self.origin!r}: want one non-empty line")
        if not self.verifiers:
            raise FormatError(f"witnessed log {self.origin}: no keys (want at least one)")
        if self.audit and not self.url:
            raise FormatError(f"witnessed log {self.origin}: auditing needs the log's tiles URL")


@dataclass(frozen=True, slots=True)
class LatestCheckpoint:
    """The latest checkpoint a witness cosigned for one log (its whole per-log state).

    Attributes:
        origin: The log's origin.
        size: The tree size.
        root_hash: The 32-byte root hash.
        note: The checkpoint note as served to monitors: the checkpoint text,
            the log signatures that verified, and this witness's cosignature.
        timestamp: The cosignature's timestamp (POSIX seconds).
    """

    origin: str
    size: int
    root_hash: bytes
    note: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class Cosign:
    """Every check passed: cosign ``checkpoint`` (re-encoded) and store it.

    Attributes:
        checkpoint: The parsed checkpoint.
        log_signatures: The request's signature lines by trusted log keys
            (each verified); other lines are dropped.
    """

    checkpoint: Checkpoint
    log_signatures: tuple[Signature, ...]


@dataclass(frozen=True, slots=True)
class Conflict:
    """The old size is not the stored size: answer 409 with ``known_size``."""

    known_size: int


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse with ``error``.

    Attributes:
        error: What failed (its class decides the HTTP status).
        evidence: True when the checkpoint is validly signed by the log but
            inconsistent with what the witness cosigned: proof of log
            misbehaviour, to be kept.
    """

    error: VigilError
    evidence: bool = False


Decision = Cosign | Conflict | Reject


def request_origin(request: AddCheckpointRequest) -> str:
    """The origin line of the (unverified) checkpoint, to look up the log and its state."""
    return request.note.text.split("\n", 1)[0]


def decide(
    log: WitnessedLog, latest: LatestCheckpoint | None, request: AddCheckpointRequest
) -> Decision:
    """Decide an add-checkpoint request; see the module docstring for the checks.

    Args:
        log: The witnessed log named by the checkpoint's origin.
        latest: The latest checkpoint cosigned for it, or None.
        request: The parsed request.

    Returns:
        :class:`Cosign`, :class:`Conflict` or :class:`Reject` (never raises
        for bad input; raises only for programmer misuse).
    """
    origin = log.origin
    # Step 1: signatures by trusted keys only.
    try:
        verified = verify_note(request.note, log.verifiers)
    except SignatureError as exc:
        return Reject(SignatureError(f"checkpoint for {origin}: {exc}"))
    # Step 2.
    try:
        checkpoint = parse_checkpoint(verified.text)
    except FormatError as exc:
        return Reject(exc)
    if checkpoint.origin != origin:  # pragma: no cover - looked up by this line
        return Reject(FormatError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}"))
    trusted = {(v.name, v.key_hash) for v in verified.verified}
    log_signatures = tuple(
        dict.fromkeys(s for s in request.note.signatures if (s.name, s.key_hash) in trusted)
    )
    size, old = checkpoint.size, request.old_size
    # Step 3.
    if old > size:
        return Reject(
            BadRequestError(f"{origin}: old size {old} is larger than the checkpoint size {size}")
        )
    # Step 4.
    known = 0 if latest is None else latest.size
    if old != known:
        return Conflict(known)
    # Step 5.
    if size == 0 and checkpoint.root_hash != EMPTY_ROOT:
        return Reject(
            RootMismatchError(
                f"{origin}: checkpoint of size 0 has root {checkpoint.root_hash.hex()}, "
                f"want the empty-tree root {EMPTY_ROOT.hex()}",
                expected=EMPTY_ROOT,
                computed=checkpoint.root_hash,
            ),
            evidence=True,
        )
    # Step 6.
    if old == 0:
        if request.proof:
            return Reject(
                ProofError(
                    f"{origin}: old size 0 needs an empty consistency proof "
                    f"(got {len(request.proof)} lines)"
                )
            )
        return Cosign(checkpoint, log_signatures)
    assert latest is not None  # old == known > 0
    # Step 7.
    if old == size and checkpoint.root_hash != latest.root_hash:
        return Reject(
            SplitViewError(
                f"{origin}: checkpoint of size {size} has root "
                f"{b64encode(checkpoint.root_hash)}, but the witness cosigned root "
                f"{b64encode(latest.root_hash)} for that size",
                first=latest.note,
                second=request.note.text.encode("utf-8"),
            ),
            evidence=True,
        )
    # Steps 7 (proof must be empty) and 8.
    try:
        verify_consistency(old, size, request.proof, latest.root_hash, checkpoint.root_hash)
    except ProofError as exc:
        return Reject(
            ProofError(f"{origin}: {exc}") if not isinstance(exc, RootMismatchError) else exc,
            # Equal sizes with equal roots: a stray proof is a client bug, not a fork.
            evidence=old != size,
        )
    except FormatError as exc:  # pragma: no cover - hashes are 32 bytes by construction
        return Reject(exc)
    return Cosign(checkpoint, log_signatures)
