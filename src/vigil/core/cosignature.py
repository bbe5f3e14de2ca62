"""Checkpoint cosignatures: c2sp.org/tlog-cosignature, Ed25519 cosignature/v1.

A cosignature is a note signature (signature type 0x04) by which a cosigner
(witness) states that, as of a POSIX time, the checkpoint is the largest
consistent tree head it has seen for the log. The signature line carries::

    key ID (4 bytes) || timestamp (u64, big-endian) || Ed25519 signature (64 bytes)

and the Ed25519 signature covers::

    cosignature/v1
    time <timestamp, canonical decimal>
    <the whole checkpoint note text, extension lines included>

Key IDs use type byte 0x04, so an Ed25519 key used for cosigning has a
different key ID than the same key used for plain (0x01) signatures.

This module implements the signed message, :class:`CosignatureVerifier` (a
:class:`vigil.core.note.Verifier`, so :func:`vigil.core.note.verify_note`
reports each verified cosignature's timestamp), :class:`CosignatureSigner`
(deliberately *not* a :class:`vigil.core.note.Signer`: a cosignature needs a
timestamp and a parsed checkpoint) and cosigner keys. The ML-DSA-44 type (0x06)
is not implemented: such keys raise :class:`UnsupportedError` and such lines are
ignored as unknown.

No I/O and no clock: the timestamp is always a parameter. Freshness ("not in the
future", "recent enough") is checked by callers.

Example::

    >>> cosigner = generate_cosigner("witness.example", seed=bytes(32))
    >>> sig = cosigner.sign_checkpoint("log.example\\n0\\n" + "A" * 43 + "=\\n", 1700000000)
    >>> parse_cosignature(sig).timestamp
    1700000000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import nacl.exceptions
import nacl.signing

from vigil.core.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from vigil.core.note import (
    ALG_COSIGNATURE_V1,
    ED25519_PUBLIC_KEY_SIZE,
    ED25519_SEED_SIZE,
    ED25519_SIGNATURE_SIZE,
    Signature,
    Verifier,
    _check_signer_key_id,
    _format_vkey,
    _split_signer_key,
    encode_note_text,
    key_hash,
)
from vigil.errors import FormatError, SignatureError, UnsupportedError

__all__ = [
    "COSIGNATURE_SIZE",
    "COSIGNATURE_V1_HEADER",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignatureSigner",
    "CosignatureVerifier",
    "cosigned_message",
    "generate_cosigner",
    "parse_cosignature",
    "parse_cosigner_key",
    "verify_cosignature",
]

COSIGNATURE_V1_HEADER = b"cosignature/v1\n"
"""First line of the signed message (domain separation)."""

TIMESTAMP_SIZE = 8
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE
"""Bytes after the key ID in an Ed25519 cosignature: u64 timestamp || signature."""

MAX_TIMESTAMP = 2**63 - 1
"""Largest timestamp allowed by tlog-cosignature §Format."""


def _check_timestamp(timestamp: int, what: str) -> None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise TypeError(f"{what}: want int, got {type(timestamp).__name__}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError(f"{what}: {timestamp} out of range (want 0 <= timestamp <= 2**63-1)")


def _message(text: bytes, timestamp: int) -> bytes:
    return b"".join((COSIGNATURE_V1_HEADER, b"time %d\n" % timestamp, text))


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """Return the message an Ed25519 cosignature/v1 signs.

    Args:
        checkpoint_text: The whole checkpoint note text, ending in newline.
        timestamp: POSIX seconds, 0 <= timestamp <= 2**63-1.

    Returns:
        ``"cosignature/v1\\ntime <timestamp>\\n" + checkpoint_text`` as bytes.

    Raises:
        FormatError: If the text is not note text ending in newline or the
            timestamp is out of range.
    """
    text = encode_note_text(checkpoint_text, what="cosigned checkpoint text")
    if not checkpoint_text.endswith("\n"):
        raise FormatError("cosigned checkpoint text: does not end with a newline")
    _check_timestamp(timestamp, "cosignature timestamp")
    return _message(text, timestamp)


@dataclass(frozen=True, slots=True)
class Cosignature:
    """The decoded bytes of an Ed25519 cosignature/v1 (after the key ID).

    Attributes:
        timestamp: POSIX seconds, 0 <= timestamp <= 2**63-1.
        signature: The 64-byte Ed25519 signature of the cosigned message.
    """

    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_timestamp(self.timestamp, "cosignature timestamp")
        if not isinstance(self.signature, bytes):
            raise TypeError(f"cosignature: want bytes, got {type(self.signature).__name__}")
        if len(self.signature) != ED25519_SIGNATURE_SIZE:
            raise FormatError(
                f"cosignature: Ed25519 signature is {len(self.signature)} bytes, "
                f"want {ED25519_SIGNATURE_SIZE}"
            )

    def to_bytes(self) -> bytes:
        """Encode as ``u64be timestamp || signature`` (the bytes after the key ID)."""
        return self.timestamp.to_bytes(TIMESTAMP_SIZE, "big") + self.signature


def _decode(sig: bytes, what: str) -> Cosignature:
    if len(sig) != COSIGNATURE_SIZE:
        hint = (
            "; 64 bytes is a plain Ed25519 (type 0x01) signature, the wrong type"
            if len(sig) == ED25519_SIGNATURE_SIZE
            else ""
        )
        raise FormatError(
            f"{what}: got {len(sig)} bytes after the key ID, want {COSIGNATURE_SIZE} "
            f"(8-byte timestamp and 64-byte Ed25519 signature){hint}"
        )
    timestamp = int.from_bytes(sig[:TIMESTAMP_SIZE], "big")
    if timestamp > MAX_TIMESTAMP:
        raise FormatError(f"{what}: timestamp {timestamp} exceeds 2**63-1")
    return Cosignature(timestamp, sig[TIMESTAMP_SIZE:])


def parse_cosignature(signature: Signature) -> Cosignature:
    """Decode a note signature as an Ed25519 cosignature/v1, without verifying it.

    Args:
        signature: A signature line (for example from :func:`parse_note`).

    Returns:
        The timestamp and Ed25519 signature.

    Raises:
        FormatError: If it is not 72 bytes after the key ID (a 68-byte line,
            i.e. a plain Ed25519 signature, is the wrong type) or the timestamp
            exceeds 2**63-1.
    """
    if not isinstance(signature, Signature):
        raise TypeError(f"parse_cosignature: want Signature, got {type(signature).__name__}")
    return _decode(signature.signature, f"cosignature by {signature.key_id}")


@dataclass(frozen=True, slots=True)
class CosignatureVerifier(Verifier):
    """Verifies Ed25519 cosignature/v1 signatures (type 0x04) by one cosigner.

    :meth:`verify` takes the checkpoint note text and the 72 bytes after the key
    ID, and checks the Ed25519 signature over :func:`cosigned_message`.

    Attributes:
        name: The cosigner's key name.
        public_key: The 32-byte Ed25519 public key.
        key_hash: ``SHA-256(name || 0x0A || 0x04 || public_key)[:4]``.
    """

    ALGORITHM: ClassVar[int] = ALG_COSIGNATURE_V1

    name: str
    public_key: bytes
    key_hash: bytes = field(init=False)
    _verify_key: nacl.signing.VerifyKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes):
            raise TypeError(
                f"cosigner public key: want bytes, got {type(self.public_key).__name__}"
            )
        if len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise FormatError(
                f"cosigner public key: got {len(self.public_key)} bytes, "
                f"want {ED25519_PUBLIC_KEY_SIZE}"
            )
        object.__setattr__(
            self, "key_hash", key_hash(self.name, bytes([ALG_COSIGNATURE_V1]) + self.public_key)
        )
        object.__setattr__(self, "_verify_key", nacl.signing.VerifyKey(self.public_key))

    @property
    def vkey(self) -> str:
        """The verifier key ``name+hex8+base64(0x04 || public_key)``."""
        return _format_vkey(self.name, self.key_hash, ALG_COSIGNATURE_V1, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` is a valid cosignature of checkpoint text ``msg``."""
        if len(sig) != COSIGNATURE_SIZE:
            return False
        timestamp = int.from_bytes(sig[:TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        try:
            self._verify_key.verify(_message(msg, timestamp), sig[TIMESTAMP_SIZE:])
        except nacl.exceptions.BadSignatureError:
            return False
        return True

    def signature_timestamp(self, sig: bytes) -> int | None:
        """The timestamp in a (verified) cosignature."""
        return int.from_bytes(sig[:TIMESTAMP_SIZE], "big")

    def describe_failure(self, sig: bytes) -> str:
        """Explain why ``sig`` did not verify."""
        try:
            cosignature = _decode(sig, "cosignature")
        except FormatError as exc:
            return str(exc)
        return (
            f"Ed25519 cosignature/v1 (time {cosignature.timestamp}) does not verify "
            "over this checkpoint"
        )


@dataclass(frozen=True, slots=True)
class CosignatureSigner:
    """Produces Ed25519 cosignature/v1 signatures for checkpoints.

    Not a :class:`vigil.core.note.Signer`: it signs only checkpoints (so it can't
    be handed to :func:`vigil.core.note.sign_note` or DSSE by mistake) and needs
    the time as a parameter. The seed is excluded from ``repr()``.

    Attributes:
        name: The cosigner's key name.
        seed: The 32-byte Ed25519 seed.
        public_key: The derived public key.
        key_hash: ``SHA-256(name || 0x0A || 0x04 || public_key)[:4]``.
    """

    ALGORITHM: ClassVar[int] = ALG_COSIGNATURE_V1

    name: str
    seed: bytes = field(repr=False)
    public_key: bytes = field(init=False)
    key_hash: bytes = field(init=False)
    _signing_key: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes):
            raise TypeError(f"cosigner seed: want bytes, got {type(self.seed).__name__}")
        if len(self.seed) != ED25519_SEED_SIZE:
            raise FormatError(
                f"cosigner seed: got {len(self.seed)} bytes, want {ED25519_SEED_SIZE}"
            )
        signing_key = nacl.signing.SigningKey(self.seed)
        public_key = bytes(signing_key.verify_key)
        object.__setattr__(self, "_signing_key", signing_key)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(
            self, "key_hash", key_hash(self.name, bytes([ALG_COSIGNATURE_V1]) + public_key)
        )

    @property
    def skey(self) -> str:
        """The signer key ``PRIVATE+KEY+name+hex8+base64(0x04 || seed)``. Secret."""
        return "PRIVATE+KEY+" + _format_vkey(
            self.name, self.key_hash, ALG_COSIGNATURE_V1, self.seed
        )

    @property
    def vkey(self) -> str:
        """The matching verifier key (type 0x04)."""
        return _format_vkey(self.name, self.key_hash, ALG_COSIGNATURE_V1, self.public_key)

    def verifier(self) -> CosignatureVerifier:
        """Return the matching verifier."""
        return CosignatureVerifier(self.name, self.public_key)

    def sign_checkpoint(self, checkpoint: Checkpoint | str, timestamp: int) -> Signature:
        """Cosign a checkpoint at ``timestamp``.

        The checkpoint is re-encoded from its parsed form (a ``str`` is parsed
        first), so only well-formed checkpoints are ever cosigned.

        Args:
            checkpoint: The checkpoint, or its note text.
            timestamp: POSIX seconds, 0 <= timestamp <= 2**63-1.

        Returns:
            The signature line (key ID, timestamp and Ed25519 signature).

        Raises:
            FormatError: If the text is not a valid checkpoint or the timestamp is
                out of range.
        """
        if isinstance(checkpoint, str):
            checkpoint = parse_checkpoint(checkpoint)
        elif not isinstance(checkpoint, Checkpoint):
            raise TypeError(
                f"sign_checkpoint: want Checkpoint or str, got {type(checkpoint).__name__}"
            )
        _check_timestamp(timestamp, "cosignature timestamp")
        text = format_checkpoint(checkpoint).encode("utf-8")
        ed25519_signature: bytes = self._signing_key.sign(_message(text, timestamp)).signature
        return Signature(
            self.name, self.key_hash, Cosignature(timestamp, ed25519_signature).to_bytes()
        )


def generate_cosigner(name: str, seed: bytes | None = None) -> CosignatureSigner:
    """Create a cosigner from ``seed`` or a fresh random seed.

    Raises:
        FormatError: If the name is invalid or the seed is not 32 bytes.
    """
    if seed is None:
        seed = bytes(nacl.signing.SigningKey.generate())
    return CosignatureSigner(name, seed)


def parse_cosigner_key(skey: str) -> CosignatureSigner:
    """Parse a cosigner key ``PRIVATE+KEY+name+hex8+base64(0x04 || seed)``.

    The key ID is checked against the public key derived from the seed, with
    type byte 0x04. Error messages never include key material.

    Raises:
        UnsupportedError: For a well-formed key of another type (a type 0x01
            note signer key cannot cosign: its key ID would differ).
        FormatError: For anything else malformed.
        TypeError: If ``skey`` is not a ``str``.
    """
    name, key_id, alg, seed = _split_signer_key(skey)
    if alg != ALG_COSIGNATURE_V1:
        raise UnsupportedError(
            f"cosigner key {name}: signature type 0x{alg:02x}, want 0x04 (Ed25519 cosignature/v1)"
        )
    if len(seed) != ED25519_SEED_SIZE:
        raise FormatError(
            f"cosigner key {name}: Ed25519 seed is {len(seed)} bytes, want {ED25519_SEED_SIZE}"
        )
    signer = CosignatureSigner(name, seed)
    _check_signer_key_id(name, key_id, signer.key_hash)
    return signer


def verify_cosignature(
    checkpoint_text: str, signature: Signature, verifier: CosignatureVerifier
) -> int:
    """Verify one cosignature line over checkpoint text; return its timestamp.

    For a log collecting cosignatures from witnesses (tlog-witness responses).

    Args:
        checkpoint_text: The checkpoint note text the cosigner was asked to sign.
        signature: The returned signature line.
        verifier: The cosigner's key.

    Returns:
        The cosignature's timestamp (POSIX seconds).

    Raises:
        FormatError: If the signature is not a well-formed cosignature/v1 or the
            text is not note text.
        SignatureError: If the line is by another key or does not verify.
    """
    if not isinstance(verifier, CosignatureVerifier):
        raise TypeError(
            f"verify_cosignature: want CosignatureVerifier, got {type(verifier).__name__}"
        )
    if signature.name != verifier.name or signature.key_hash != verifier.key_hash:
        raise SignatureError(
            f"cosignature: by key {signature.key_id} "
            f"(want {verifier.name}+{verifier.key_hash.hex()})"
        )
    cosignature = parse_cosignature(signature)
    text = encode_note_text(checkpoint_text, what="cosigned checkpoint text")
    if not verifier.verify(text, signature.signature):
        raise SignatureError(
            f"cosignature by {signature.key_id} (time {cosignature.timestamp}): "
            "Ed25519 signature does not verify over this checkpoint"
        )
    return cosignature.timestamp
