"""Offline proofs of logging: c2sp.org/tlog-proof@v1.

A tlog proof bundles everything needed to check, offline, that an entry is in
a log and that witnesses saw the tree (spec "Format")::

    c2sp.org/tlog-proof@v1
    [extra <base64 opaque data>]
    index <leaf index, canonical decimal>
    <base64 inclusion proof hash>      (zero or more lines, leaf sibling first)
    <empty line>
    <checkpoint note, verbatim>        (c2sp.org/tlog-checkpoint, cosigned or not)

This module parses and formats the format exactly (:func:`parse_tlog_proof`,
:func:`format_tlog_proof`) and verifies a proof for a given leaf hash
(:func:`verify_tlog_proof` with explicit keys, :func:`verify_tlog_proof_policy`
with a c2sp.org/tlog-policy :class:`~vigil.core.policy.Policy`), following the
spec's "Verifying a tlog proof": (1) the caller computes the leaf hash, (2) the
checkpoint is signed by the log key for the expected origin, (3) cosignatures
by known witnesses are verified and, with a policy, the quorum is required,
(4) the inclusion proof binds the leaf hash to the checkpoint's root hash.

Decisions:

* **Strict parsing, including the checkpoint.** The spec embeds the
  checkpoint "verbatim, according to tlog-checkpoint", so the parser also
  parses it as a signed note (:func:`vigil.core.note.parse_note`) and a
  checkpoint (:func:`vigil.core.checkpoint.parse_checkpoint`): a malformed one
  is a :class:`FormatError` at parse time, never a verification failure.
  (transparency-dev/formats treats it as opaque bytes; its unit tests use
  ``"test checkpoint\\n"``, which :class:`TlogProof` still accepts so that
  :func:`format_tlog_proof` can reproduce them, but which the parser refuses.)
* Base64 (``extra`` and hashes) is canonical standard base64, RFC 4648 §4, as
  the spec's "Conventions" say; every hash is exactly 32 bytes (SHA-256).
* An ``extra`` line with empty data is refused: it would be a second encoding
  of "no extra data", which omits the line.
* The header must be the first line exactly; another ``c2sp.org/tlog-proof@``
  version is :class:`UnsupportedError`. The older headerless "spicy
  signature" format is not accepted.
* Caps, before parsing: :data:`MAX_TLOG_PROOF_BYTES` in total,
  :data:`MAX_PROOF_HASHES` hash lines (a tree of size < 2**64 needs at most
  64), and the note module's signature-line cap.
* ``extra`` is **not authenticated** ("Applications MUST NOT implicitly trust
  the extra data"): :class:`VerifiedTlogProof` carries it as ``proof.extra``
  only so the application can recompute the leaf hash from it.

No I/O, no clock: cosignature timestamps are reported, never judged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil.core.checkpoint import (
    Checkpoint,
    VerifiedCheckpoint,
    parse_checkpoint,
    verify_checkpoint,
)
from vigil.core.encoding import MAX_UINT64, b64decode_strict, b64encode, parse_decimal
from vigil.core.merkle import HASH_SIZE
from vigil.core.note import MAX_SIGNATURES, Verifier, parse_note
from vigil.core.policy import Policy, verify_policy_checkpoint
from vigil.core.proof import verify_inclusion
from vigil.errors import FormatError, UnsupportedError

__all__ = [
    "MAX_PROOF_HASHES",
    "MAX_TLOG_PROOF_BYTES",
    "TLOG_PROOF_HEADER",
    "TlogProof",
    "VerifiedTlogProof",
    "format_tlog_proof",
    "parse_tlog_proof",
    "verify_tlog_proof",
    "verify_tlog_proof_policy",
]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
"""The first line of every proof (spec "Format")."""

MAX_TLOG_PROOF_BYTES = 256 * 1024
"""Default cap on a proof's size, applied before parsing."""

MAX_PROOF_HASHES = 64
"""Most hashes an inclusion proof can have in a tree of size below 2**64."""

_HEADER_PREFIX = b"c2sp.org/tlog-proof@"
_VERSION = re.compile(rb"v[0-9]{1,9}(\.[0-9]{1,9}){0,2}")
_EXTRA_PREFIX = b"extra "
_INDEX_PREFIX = b"index "


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed (not yet verified) tlog proof.

    Attributes:
        index: The 0-based index of the entry in the log.
        hashes: The inclusion proof, leaf sibling first, each 32 bytes.
        checkpoint: The checkpoint note bytes, verbatim (text, blank line,
            signature lines). :func:`parse_tlog_proof` guarantees they parse
            as a signed checkpoint; the model only requires non-empty bytes
            ending in a newline.
        extra: Opaque, *unauthenticated* extra data; ``b""`` when absent.

    Raises:
        FormatError: (on construction) if an invariant does not hold.
    """

    index: int
    hashes: tuple[bytes, ...] = field(repr=False)
    checkpoint: bytes = field(repr=False)
    extra: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or isinstance(self.index, bool):
            raise TypeError(f"tlog proof index: want int, got {type(self.index).__name__}")
        if not 0 <= self.index <= MAX_UINT64:
            raise FormatError(
                f"tlog proof index: {self.index} out of range (want 0 <= index <= {MAX_UINT64})"
            )
        if not isinstance(self.hashes, tuple):
            raise TypeError(f"tlog proof hashes: want a tuple, got {type(self.hashes).__name__}")
        if len(self.hashes) > MAX_PROOF_HASHES:
            raise FormatError(
                f"tlog proof: {len(self.hashes)} proof hashes (want at most {MAX_PROOF_HASHES})"
            )
        for position, value in enumerate(self.hashes):
            if not isinstance(value, bytes) or len(value) != HASH_SIZE:
                size = len(value) if isinstance(value, bytes) else type(value).__name__
                raise FormatError(f"tlog proof hash {position}: got {size} bytes, want {HASH_SIZE}")
        if not isinstance(self.checkpoint, bytes) or not self.checkpoint.endswith(b"\n"):
            raise FormatError("tlog proof checkpoint: want non-empty bytes ending in a newline")
        if not isinstance(self.extra, bytes):
            raise TypeError(f"tlog proof extra: want bytes, got {type(self.extra).__name__}")


def _ascii_line(line: bytes, what: str) -> str:
    try:
        return line.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what}: non-ASCII byte at column {exc.start + 1}") from exc


def parse_tlog_proof(
    data: bytes,
    *,
    max_bytes: int = MAX_TLOG_PROOF_BYTES,
    max_signatures: int = MAX_SIGNATURES,
) -> TlogProof:
    """Parse a c2sp.org/tlog-proof@v1 proof strictly.

    Steps (spec "Format"):

    1. Size cap; split at the first empty line into proof lines and the
       checkpoint note.
    2. Line 1 is exactly the header.
    3. An optional ``extra <base64>`` line with non-empty data.
    4. ``index <canonical decimal>``.
    5. Zero to :data:`MAX_PROOF_HASHES` lines of canonical base64, 32 bytes each.
    6. The rest is the checkpoint note: a signed note with at most
       ``max_signatures`` signature lines whose text is a checkpoint.

    Args:
        data: The proof bytes.
        max_bytes: Reject larger inputs before parsing.
        max_signatures: Cap on the checkpoint note's signature lines.

    Returns:
        The proof; ``format_tlog_proof(result) == data``.

    Raises:
        UnsupportedError: the header names another tlog-proof version.
        FormatError: anything else malformed, with the line number.
        TypeError: if ``data`` is not bytes.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"tlog proof: want bytes, got {type(data).__name__}")
    # Step 1.
    if len(data) > max_bytes:
        raise FormatError(f"tlog proof: {len(data)} bytes exceeds the limit of {max_bytes}")
    split = data.find(b"\n\n")
    if split < 0:
        raise FormatError("tlog proof: no empty line before the checkpoint")
    head, checkpoint_note = data[:split], data[split + 2 :]
    # Count before splitting: header, extra, index and the hash lines.
    newlines = head.count(b"\n")
    if newlines > 2 + MAX_PROOF_HASHES:
        raise FormatError(
            f"tlog proof: {newlines + 1} lines before the checkpoint "
            f"(want at most {MAX_PROOF_HASHES} proof hashes)"
        )
    lines = head.split(b"\n")
    # Step 2.
    if lines[0] != TLOG_PROOF_HEADER.encode():
        shown = lines[0][:48].decode("utf-8", "replace")
        version = lines[0][len(_HEADER_PREFIX) :]
        if lines[0].startswith(_HEADER_PREFIX) and _VERSION.fullmatch(version):
            raise UnsupportedError(
                f"tlog proof line 1: unsupported version (got {shown!r}, "
                f"want {TLOG_PROOF_HEADER!r})"
            )
        raise FormatError(f"tlog proof line 1: got {shown!r}, want {TLOG_PROOF_HEADER!r}")
    number = 2
    # Step 3.
    extra = b""
    if len(lines) > 1 and lines[1].startswith(_EXTRA_PREFIX):
        what = "tlog proof line 2 (extra)"
        extra = b64decode_strict(_ascii_line(lines[1][len(_EXTRA_PREFIX) :], what), what=what)
        if not extra:
            raise FormatError(f"{what}: empty extra data (want the line omitted)")
        number = 3
    # Step 4.
    what = f"tlog proof line {number} (index)"
    if len(lines) < number or not lines[number - 1].startswith(_INDEX_PREFIX):
        got = lines[number - 1][:24].decode("utf-8", "replace") if len(lines) >= number else ""
        raise FormatError(f"{what}: got {got!r}, want 'index <decimal>'")
    index_text = _ascii_line(lines[number - 1][len(_INDEX_PREFIX) :], what)
    index = parse_decimal(index_text, what=what, max_value=MAX_UINT64)
    # Step 5.
    hashes = []
    for offset, line in enumerate(lines[number:], start=number + 1):
        what = f"tlog proof line {offset} (proof hash {offset - number - 1})"
        value = b64decode_strict(_ascii_line(line, what), what=what)
        if len(value) != HASH_SIZE:
            raise FormatError(f"{what}: got {len(value)} bytes, want {HASH_SIZE}")
        hashes.append(value)
    # Step 6.
    try:
        note = parse_note(checkpoint_note, max_signatures=max_signatures)
        parse_checkpoint(note.text)
    except FormatError as exc:
        raise FormatError(f"tlog proof checkpoint: {exc}") from exc
    return TlogProof(index=index, hashes=tuple(hashes), checkpoint=checkpoint_note, extra=extra)


def format_tlog_proof(proof: TlogProof) -> bytes:
    """Encode a proof (spec "Format").

    Args:
        proof: The proof.

    Returns:
        The header, the ``extra`` line if ``proof.extra`` is non-empty, the
        index line, one line per hash, an empty line and the checkpoint.
    """
    lines = [TLOG_PROOF_HEADER]
    if proof.extra:
        lines.append("extra " + b64encode(proof.extra))
    lines.append(f"index {proof.index}")
    lines.extend(b64encode(value) for value in proof.hashes)
    return ("\n".join(lines) + "\n\n").encode("ascii") + proof.checkpoint


_VERIFIED = object()  # Only this module's verify functions construct VerifiedTlogProof.


@dataclass(frozen=True, slots=True)
class VerifiedTlogProof:
    """A proof whose checkpoint signatures and inclusion proof checked out.

    Only :func:`verify_tlog_proof` and :func:`verify_tlog_proof_policy` create
    these (direct construction raises ``TypeError``).

    Attributes:
        proof: The proof as parsed. ``proof.extra`` is still unauthenticated.
        leaf_hash: The leaf hash the proof was verified for.
        checkpoint: The verified checkpoint, with verified cosignatures.
    """

    proof: TlogProof
    leaf_hash: bytes
    checkpoint: VerifiedCheckpoint
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError("VerifiedTlogProof is created only by verify_tlog_proof*()")

    @property
    def index(self) -> int:
        """The verified leaf index."""
        return self.proof.index

    @property
    def tree(self) -> Checkpoint:
        """The verified tree head (origin, size, root hash)."""
        return self.checkpoint.checkpoint


def _check_inclusion(
    proof: TlogProof, leaf_hash: bytes, verified: VerifiedCheckpoint
) -> VerifiedTlogProof:
    tree = verified.checkpoint
    verify_inclusion(proof.index, tree.size, leaf_hash, proof.hashes, tree.root_hash)
    return VerifiedTlogProof(proof, bytes(leaf_hash), verified, _VERIFIED)


def verify_tlog_proof(
    proof: TlogProof,
    leaf_hash: bytes,
    *,
    origin: str,
    log_verifier: Verifier,
    cosigners: Iterable[Verifier] = (),
) -> VerifiedTlogProof:
    """Verify a proof with explicit keys (spec "Verifying a tlog proof").

    Procedure:

    1. (Caller) compute ``leaf_hash`` from the entry, e.g.
       :func:`vigil.core.merkle.hash_leaf`.
    2. Verify the checkpoint note: signed by ``log_verifier``, for
       ``origin`` (:func:`vigil.core.checkpoint.verify_checkpoint`).
    3. Verify the cosignatures of the given ``cosigners`` that are present;
       how many are required is the caller's policy (see
       :func:`verify_tlog_proof_policy` for a tlog-policy quorum).
    4. Verify the inclusion proof of ``leaf_hash`` at ``proof.index`` against
       the checkpoint's size and root hash.

    Args:
        proof: A parsed proof.
        leaf_hash: The 32-byte leaf hash of the entry the caller expects.
        origin: The log's expected origin.
        log_verifier: The log's key.
        cosigners: Witness keys whose cosignatures to verify if present.

    Returns:
        The verified proof.

    Raises:
        FormatError: the checkpoint is malformed or ``leaf_hash`` is not 32
            bytes.
        SignatureError: the log signature is missing or a given key's
            signature is invalid.
        VerificationError: the checkpoint is for another origin.
        ProofError: the index is not below the tree size or the proof has the
            wrong number of hashes.
        RootMismatchError: the proof does not lead to the checkpoint's root.
        ConfigError: two given keys share a key name and key ID.
    """
    verified = verify_checkpoint(
        proof.checkpoint, origin=origin, log_verifier=log_verifier, cosigners=cosigners
    )
    return _check_inclusion(proof, leaf_hash, verified)


def verify_tlog_proof_policy(
    proof: TlogProof, leaf_hash: bytes, policy: Policy, *, origin: str | None = None
) -> VerifiedTlogProof:
    """Verify a proof against a witness policy (c2sp.org/tlog-policy).

    Steps 2 and 3 are :func:`vigil.core.policy.verify_policy_checkpoint`:
    the checkpoint must be signed by one of the policy's logs (with origin
    ``origin`` if given) and cosigned to the policy's quorum; step 4 checks
    the inclusion proof as in :func:`verify_tlog_proof`.

    Args:
        proof: A parsed proof.
        leaf_hash: The 32-byte leaf hash of the entry the caller expects.
        policy: The trusted policy.
        origin: If given, only the policy's logs with this origin count.

    Returns:
        The verified proof.

    Raises:
        FormatError: the checkpoint is malformed or ``leaf_hash`` is not 32
            bytes.
        SignatureError: no acceptable log signed, or a policy key's signature
            is invalid.
        VerificationError: the checkpoint's origin is not the log's.
        PolicyError: the witness quorum is not met.
        ProofError: the index or proof length does not fit the tree size.
        RootMismatchError: the proof does not lead to the checkpoint's root.
    """
    verified = verify_policy_checkpoint(policy, proof.checkpoint, origin=origin)
    return _check_inclusion(proof, leaf_hash, verified)
