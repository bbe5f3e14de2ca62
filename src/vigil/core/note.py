"""Signed notes: c2sp.org/signed-note@v1.0.0, byte-compatible with Go's sumdb/note.

A note is UTF-8 text signed by one or more keys::

    If you think cryptography is the answer to your problem,
    then you don't know what your problem is.

    — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FF...

This module implements the note format (:func:`parse_note`, :func:`format_note`),
key IDs ("key hashes", :func:`key_hash`), verifier and signer keys
(:func:`parse_verifier_key`, :func:`parse_signer_key`, :func:`generate_signer`),
Ed25519 (signature type 0x01) signing and verification, and note verification
(:func:`verify_note`), whose result type :class:`VerifiedNote` is the only
evidence trust decisions accept. Timestamped Ed25519 cosignatures (type 0x04)
live in :mod:`vigil.core.cosignature`; checkpoints in :mod:`vigil.core.checkpoint`.

Example::

    >>> signer = generate_signer("example.com/log", seed=bytes(32))
    >>> data = sign_note("hello\\n", [signer])
    >>> verify_note(data, [signer.verifier()]).text
    'hello\\n'

Compatibility with Go ``golang.org/x/mod/sumdb/note`` (``Open``, ``NewVerifier``,
``NewSigner``, ``Sign``): the same notes parse and the same keys load, with
these deliberate, stricter departures:

* base64 must be canonical (Go accepts non-zero trailing bits), so a signature
  line has exactly one encoding; the key ID in vkeys and skeys must be lowercase
  hex (the spec's "lowercase Base 16"; Go also accepts upper case);
* every distinct signature line from a known key is verified, as the spec says
  verifiers MUST (Go verifies only the first per key and skips later ones, so a
  bad second signature passes there and is rejected here);
* two different verifiers with the same key name and key ID are a configuration
  error raised up front (Go reports "ambiguous key" only when such a line occurs);
* key names in vkeys and skeys may not contain control characters below U+0020
  (Go's ``isValidName`` allows them there, though no note can carry them), and
  key base64 may not contain CR or LF (Go's decoder skips them).

A differential run of 400,000 mutated notes and keys against Go x/mod found no
other difference.

"ASCII control characters" are those below U+0020, as the spec defines them; so,
like Go, DEL (U+007F) is allowed in text and key names. Ed25519 verification uses
libsodium (PyNaCl), which is stricter than Go's crypto/ed25519 about unusual
points (small-order or non-canonically encoded public keys and R values); honest
keys and signatures are unaffected.

No I/O, no clock, no globals. Signature-line caps are parameters; the default
(100, as in Go) is above the spec's minimum of 16.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import nacl.exceptions
import nacl.signing

from vigil.core.encoding import b64decode_strict, b64encode
from vigil.errors import ConfigError, FormatError, SignatureError, UnsupportedError

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ECDSA",
    "ALG_ED25519",
    "ALG_ML_DSA_44_COSIGNATURE",
    "ALG_RFC6962_STH",
    "ED25519_PUBLIC_KEY_SIZE",
    "ED25519_SEED_SIZE",
    "ED25519_SIGNATURE_SIZE",
    "KEY_HASH_SIZE",
    "MAX_SIGNATURES",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "Signature",
    "Signer",
    "VerifiedNote",
    "VerifiedSignature",
    "Verifier",
    "check_key_name",
    "encode_note_text",
    "format_key_id",
    "format_note",
    "format_signature_line",
    "generate_signer",
    "key_hash",
    "parse_note",
    "parse_signature_line",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_note",
    "verify_note",
]

# Signature type identifier bytes (signed-note §Signature types).
ALG_ED25519 = 0x01
"""Ed25519 over the note text (signed-note §Ed25519 signatures)."""
ALG_ECDSA = 0x02
"""ECDSA as in transparency-dev/witness (not supported here)."""
ALG_COSIGNATURE_V1 = 0x04
"""Timestamped Ed25519 checkpoint cosignatures (c2sp.org/tlog-cosignature)."""
ALG_RFC6962_STH = 0x05
"""RFC 6962 TreeHeadSignature (c2sp.org/static-ct-api; not supported here)."""
ALG_ML_DSA_44_COSIGNATURE = 0x06
"""Timestamped ML-DSA-44 cosignatures (c2sp.org/tlog-cosignature; not supported here)."""

KEY_HASH_SIZE = 4
"""Bytes in a key ID, the big-endian uint32 that opens every signature."""

MAX_SIGNATURES = 100
"""Default cap on signature lines per note (Go's; the spec requires at least 16)."""

ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SEED_SIZE = 32
ED25519_SIGNATURE_SIZE = 64

_SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
_ALGORITHM_NAMES = {
    ALG_ED25519: "Ed25519",
    ALG_ECDSA: "ECDSA",
    0x03: "reserved",
    ALG_COSIGNATURE_V1: "Ed25519 cosignature/v1",
    ALG_RFC6962_STH: "RFC 6962 TreeHeadSignature",
    ALG_ML_DSA_44_COSIGNATURE: "ML-DSA-44 cosignature",
}
_HEX_DIGITS = frozenset("0123456789abcdef")

# Characters a note may not contain: ASCII control characters other than newline
# (signed-note §Format), plus lone surrogates, which have no UTF-8 encoding and can
# only come from Python strings, never from decoded bytes.
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")

# Characters a key name may not contain: "+" and Unicode spaces (signed-note
# §Format). The spaces are the Unicode White_Space property, exactly the set Go's
# unicode.IsSpace reports, hard-coded so the rule does not move with Python's
# Unicode database. Control characters (below U+0020) and lone surrogates are
# excluded too: a note cannot contain them anyway.
_FORBIDDEN_IN_KEY_NAME = re.compile(
    "[\x00-\x20+\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]"
)


def _quote(text: str, limit: int = 48) -> str:
    """repr() of text, shortened for error messages."""
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)


def _algorithm_name(alg: int) -> str:
    return _ALGORITHM_NAMES.get(alg, "unknown")


def check_key_name(name: str, *, what: str = "key name") -> None:
    """Check the signed-note key-name rules.

    A key name is non-empty and contains no plus sign (U+002B), no Unicode space
    (the White_Space property, as Go's ``unicode.IsSpace``) and no control
    character below U+0020.

    Args:
        name: The candidate key name.
        what: Subject for error messages.

    Raises:
        FormatError: If the name breaks a rule.
        TypeError: If ``name`` is not a ``str``.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what}: want str, got {type(name).__name__}")
    if not name:
        raise FormatError(f"{what}: empty (want a non-empty name)")
    bad = _FORBIDDEN_IN_KEY_NAME.search(name)
    if bad is not None:
        char = bad.group()
        raise FormatError(
            f"{what} {_quote(name)}: contains U+{ord(char):04X} at character {bad.start()} "
            "(want no spaces, '+' or control characters)"
        )


def encode_note_text(text: str, *, what: str = "note text") -> bytes:
    """Check that ``text`` may appear in a note and return its UTF-8 encoding.

    Note text is UTF-8 without ASCII control characters other than newline
    (signed-note §Format). This does not require a final newline.

    Args:
        text: The text to check.
        what: Subject for error messages.

    Returns:
        The UTF-8 bytes of ``text``.

    Raises:
        FormatError: If ``text`` contains a forbidden character.
        TypeError: If ``text`` is not a ``str``.
    """
    _check_text(text, what)
    return text.encode("utf-8")


def _check_text(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what}: want str, got {type(text).__name__}")
    bad = _FORBIDDEN_IN_TEXT.search(text)
    if bad is not None:
        code = ord(bad.group())
        problem = "lone surrogate" if code >= 0xD800 else "control character"
        raise FormatError(
            f"{what}: {problem} U+{code:04X} at character {bad.start()} "
            "(want UTF-8 without control characters other than U+000A)"
        )


def key_hash(name: str, key: bytes) -> bytes:
    """Compute a key ID: ``SHA-256(name || 0x0A || key)[:4]``.

    Args:
        name: The key name.
        key: The signature type byte followed by the public key.

    Returns:
        The 4-byte key ID (big-endian uint32 in the signed-note spec).

    Raises:
        FormatError: If ``name`` is not a valid key name or ``key`` is empty.
    """
    check_key_name(name)
    if not isinstance(key, bytes) or not key:
        raise FormatError("key hash: key is empty (want signature type byte || public key)")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()[:KEY_HASH_SIZE]


def format_key_id(name: str, key_hash: bytes) -> str:
    """Return the ``name+hex8`` key ID used in messages, vkeys and DSSE key IDs.

    Raises:
        FormatError: If ``key_hash`` is not 4 bytes.
    """
    if not isinstance(key_hash, bytes) or len(key_hash) != KEY_HASH_SIZE:
        raise FormatError(f"key ID for {_quote(name)}: key hash must be {KEY_HASH_SIZE} bytes")
    return f"{name}+{key_hash.hex()}"


# --------------------------------------------------------------------------- #
# Verifiers and signers
# --------------------------------------------------------------------------- #


class Verifier(abc.ABC):
    """Verifies signatures by one key (name, key ID, algorithm, public key).

    Subclass this to add a signature type. :func:`verify_note` looks verifiers
    up by ``(name, key_hash)`` and calls :meth:`verify` with the note text and
    the signature bytes that follow the key ID.
    """

    __slots__ = ()

    name: str
    """The key name (subclasses define it, e.g. as a dataclass field)."""
    key_hash: bytes
    """The 4-byte key ID."""

    @abc.abstractmethod
    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` (the bytes after the key ID) is valid for ``msg``."""

    def signature_timestamp(self, sig: bytes) -> int | None:
        """POSIX timestamp a verified signature commits to, or None if untimestamped."""
        del sig
        return None

    def describe_failure(self, sig: bytes) -> str:
        """Explain, for an error message, why ``sig`` did not verify."""
        return f"{len(sig)}-byte signature does not verify"


class Signer(abc.ABC):
    """Signs note text with one key. Subclass this to add a signature type."""

    __slots__ = ()

    name: str
    """The key name (subclasses define it, e.g. as a dataclass field)."""
    key_hash: bytes
    """The 4-byte key ID."""

    @property
    @abc.abstractmethod
    def vkey(self) -> str:
        """The verifier key of this signer, ``name+hex8+base64(alg || public key)``."""

    @abc.abstractmethod
    def sign(self, msg: bytes) -> bytes:
        """Return the signature of ``msg`` (without the key ID)."""


def _check_key_bytes(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{what}: want bytes, got {type(value).__name__}")
    if len(value) != size:
        raise FormatError(f"{what}: got {len(value)} bytes, want {size}")
    return value


@dataclass(frozen=True, slots=True)
class Ed25519Verifier(Verifier):
    """An Ed25519 (signature type 0x01) note verifier.

    The PyNaCl key object is built once, so :meth:`verify` costs one libsodium
    call. Two verifiers are equal when name and public key are equal.

    Attributes:
        name: The key name.
        public_key: The 32-byte Ed25519 public key (RFC 8032).
        key_hash: ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``.
    """

    ALGORITHM: ClassVar[int] = ALG_ED25519

    name: str
    public_key: bytes
    key_hash: bytes = field(init=False)
    _verify_key: nacl.signing.VerifyKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_key_bytes(self.public_key, ED25519_PUBLIC_KEY_SIZE, "Ed25519 public key")
        object.__setattr__(
            self, "key_hash", key_hash(self.name, bytes([ALG_ED25519]) + self.public_key)
        )
        object.__setattr__(self, "_verify_key", nacl.signing.VerifyKey(self.public_key))

    @property
    def vkey(self) -> str:
        """The verifier key ``name+hex8+base64(0x01 || public_key)``."""
        return _format_vkey(self.name, self.key_hash, ALG_ED25519, self.public_key)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Report whether ``sig`` is a valid Ed25519 signature of ``msg``."""
        if len(sig) != ED25519_SIGNATURE_SIZE:
            return False
        try:
            self._verify_key.verify(msg, sig)
        except nacl.exceptions.BadSignatureError:
            return False
        return True

    def describe_failure(self, sig: bytes) -> str:
        """Explain why ``sig`` did not verify."""
        if len(sig) != ED25519_SIGNATURE_SIZE:
            return (
                f"got {len(sig)} signature bytes after the key ID, "
                f"want {ED25519_SIGNATURE_SIZE} (Ed25519, type 0x01)"
            )
        return "Ed25519 signature does not verify"


@dataclass(frozen=True, slots=True)
class Ed25519Signer(Signer):
    """An Ed25519 (signature type 0x01) note signer.

    The seed is excluded from ``repr()``; keep signer objects out of logs anyway.

    Attributes:
        name: The key name.
        seed: The 32-byte Ed25519 private key seed (RFC 8032).
        public_key: The derived 32-byte public key.
        key_hash: ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``.
    """

    ALGORITHM: ClassVar[int] = ALG_ED25519

    name: str
    seed: bytes = field(repr=False)
    public_key: bytes = field(init=False)
    key_hash: bytes = field(init=False)
    _signing_key: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        _check_key_bytes(self.seed, ED25519_SEED_SIZE, "Ed25519 seed")
        signing_key = nacl.signing.SigningKey(self.seed)
        public_key = bytes(signing_key.verify_key)
        object.__setattr__(self, "_signing_key", signing_key)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "key_hash", key_hash(self.name, bytes([ALG_ED25519]) + public_key))

    @property
    def skey(self) -> str:
        """The signer key ``PRIVATE+KEY+name+hex8+base64(0x01 || seed)``. Secret."""
        return "PRIVATE+KEY+" + _format_vkey(self.name, self.key_hash, ALG_ED25519, self.seed)

    @property
    def vkey(self) -> str:
        """The matching verifier key."""
        return _format_vkey(self.name, self.key_hash, ALG_ED25519, self.public_key)

    def verifier(self) -> Ed25519Verifier:
        """Return the matching verifier."""
        return Ed25519Verifier(self.name, self.public_key)

    def sign(self, msg: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``msg`` (deterministic)."""
        signature: bytes = self._signing_key.sign(msg).signature
        return signature


def generate_signer(name: str, seed: bytes | None = None) -> Ed25519Signer:
    """Create an Ed25519 signer, from ``seed`` or a fresh random seed.

    Args:
        name: The key name.
        seed: 32 bytes, or None for a seed from the OS random generator.

    Returns:
        The signer; its ``skey`` and ``vkey`` give the key strings.

    Raises:
        FormatError: If the name is invalid or the seed is not 32 bytes.
    """
    if seed is None:
        seed = bytes(nacl.signing.SigningKey.generate())
    return Ed25519Signer(name, seed)


def _format_vkey(name: str, key_id: bytes, alg: int, key: bytes) -> str:
    return f"{name}+{key_id.hex()}+{b64encode(bytes([alg]) + key)}"


def _parse_key_id_hex(text: str, what: str) -> bytes:
    if len(text) != 2 * KEY_HASH_SIZE or not _HEX_DIGITS.issuperset(text):
        raise FormatError(f"{what}: key ID {_quote(text)} is not 8 lowercase hex digits")
    return bytes.fromhex(text)


def _split_key(name: str, key_id_hex: str, key_b64: str, what: str) -> tuple[bytes, int, bytes]:
    """Validate the common parts of vkeys and skeys; return (key ID, alg, key)."""
    check_key_name(name, what=f"{what} key name")
    key_id = _parse_key_id_hex(key_id_hex, what)
    key = b64decode_strict(key_b64, what=f"{what} {name} key")
    if not key:
        raise FormatError(f"{what} {name}: key is empty (want signature type byte || key)")
    return key_id, key[0], key[1:]


def parse_verifier_key(vkey: str) -> Verifier:
    """Parse a verifier key ``name+hex8+base64(type || public key)``.

    Checks, in order (as Go's ``note.NewVerifier``): three ``+``-separated parts,
    a valid key name, 8 lowercase hex digits, canonical base64 of at least one
    byte, the key ID matching ``SHA-256(name || 0x0A || type || key)[:4]``, then a
    supported signature type and its key length.

    Args:
        vkey: The verifier key string.

    Returns:
        An :class:`Ed25519Verifier` (type 0x01) or a
        :class:`vigil.core.cosignature.CosignatureVerifier` (type 0x04).

    Raises:
        UnsupportedError: For a well-formed key of another signature type.
        FormatError: For anything else malformed.
        TypeError: If ``vkey`` is not a ``str``.
    """
    if not isinstance(vkey, str):
        raise TypeError(f"verifier key: want str, got {type(vkey).__name__}")
    name, sep1, rest = vkey.partition("+")
    key_id_hex, sep2, key_b64 = rest.partition("+")
    if not sep1 or not sep2:
        raise FormatError(
            f"verifier key {_quote(vkey)}: want three '+'-separated parts (name+hex8+base64)"
        )
    key_id, alg, public_key = _split_key(name, key_id_hex, key_b64, "verifier key")
    want = key_hash(name, bytes([alg]) + public_key)
    if key_id != want:
        raise FormatError(
            f"verifier key {name}: key ID does not match the key "
            f"(got {key_id.hex()}, want {want.hex()})"
        )
    if alg == ALG_ED25519:
        if len(public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise FormatError(
                f"verifier key {name}: Ed25519 public key is {len(public_key)} bytes, "
                f"want {ED25519_PUBLIC_KEY_SIZE}"
            )
        return Ed25519Verifier(name, public_key)
    if alg == ALG_COSIGNATURE_V1:
        # Imported here: cosignature builds on this module.
        from vigil.core import cosignature

        return cosignature.CosignatureVerifier(name, public_key)
    raise UnsupportedError(
        f"verifier key {name}: unsupported signature type 0x{alg:02x} "
        f"({_algorithm_name(alg)}; want 0x01 Ed25519 or 0x04 Ed25519 cosignature/v1)"
    )


def _split_signer_key(skey: str) -> tuple[str, bytes, int, bytes]:
    """Split ``PRIVATE+KEY+name+hex8+base64(type || seed)``; check everything but the ID."""
    if not isinstance(skey, str):
        raise TypeError(f"signer key: want str, got {type(skey).__name__}")
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        # Never echo a private key into an error message.
        prefix = "PRIVATE+KEY+" if skey.startswith("PRIVATE+KEY+") else "another prefix"
        raise FormatError(
            "signer key: want PRIVATE+KEY+name+hex8+base64 "
            f"(got {len(parts)} '+'-separated parts starting with {prefix})"
        )
    name = parts[2]
    key_id, alg, seed = _split_key(name, parts[3], parts[4], "signer key")
    return name, key_id, alg, seed


def _check_signer_key_id(name: str, key_id: bytes, derived: bytes) -> None:
    if key_id != derived:
        raise FormatError(
            f"signer key {name}: key ID does not match the derived public key "
            f"(got {key_id.hex()}, want {derived.hex()})"
        )


def parse_signer_key(skey: str) -> Ed25519Signer:
    """Parse an Ed25519 signer key ``PRIVATE+KEY+name+hex8+base64(0x01 || seed)``.

    As Go's ``note.NewSigner``, the key ID is checked against the public key
    derived from the seed. Error messages never include key material.

    Args:
        skey: The signer key string.

    Returns:
        The signer.

    Raises:
        UnsupportedError: For a well-formed key of another signature type (for
            type 0x04 use :func:`vigil.core.cosignature.parse_cosigner_key`).
        FormatError: For anything else malformed.
        TypeError: If ``skey`` is not a ``str``.
    """
    name, key_id, alg, seed = _split_signer_key(skey)
    if alg != ALG_ED25519:
        hint = "; use cosignature.parse_cosigner_key" if alg == ALG_COSIGNATURE_V1 else ""
        raise UnsupportedError(
            f"signer key {name}: unsupported signature type 0x{alg:02x} "
            f"({_algorithm_name(alg)}; want 0x01 Ed25519{hint})"
        )
    if len(seed) != ED25519_SEED_SIZE:
        raise FormatError(
            f"signer key {name}: Ed25519 seed is {len(seed)} bytes, want {ED25519_SEED_SIZE}"
        )
    signer = Ed25519Signer(name, seed)
    _check_signer_key_id(name, key_id, signer.key_hash)
    return signer


# --------------------------------------------------------------------------- #
# Notes
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: ``— <name> base64(key_hash || signature)``.

    Attributes:
        name: The key name (valid per :func:`check_key_name`).
        key_hash: The 4-byte key ID.
        signature: The bytes after the key ID (at least one).
    """

    name: str
    key_hash: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.key_hash, bytes) or len(self.key_hash) != KEY_HASH_SIZE:
            raise FormatError(
                f"signature by {_quote(self.name)}: key ID must be {KEY_HASH_SIZE} bytes"
            )
        if not isinstance(self.signature, bytes) or not self.signature:
            raise FormatError(f"signature by {self.name}: signature bytes are empty")

    @property
    def key_id(self) -> str:
        """``name+hex8``, for messages."""
        return f"{self.name}+{self.key_hash.hex()}"


def format_signature_line(signature: Signature) -> str:
    """Format a signature line, ``— <name> <base64>``, without its newline."""
    encoded = b64encode(signature.key_hash + signature.signature)
    return f"{_SIGNATURE_PREFIX}{signature.name} {encoded}"


def parse_signature_line(line: str, *, what: str = "signature line") -> Signature:
    """Parse one signature line, given without its newline.

    Args:
        line: ``— <key name> <base64(key ID || signature)>``.
        what: Subject for error messages.

    Returns:
        The signature.

    Raises:
        FormatError: If the line is malformed (wrong prefix, invalid key name,
            non-canonical base64, fewer than 5 decoded bytes).
    """
    if not isinstance(line, str):
        raise TypeError(f"{what}: want str, got {type(line).__name__}")
    if not line.startswith(_SIGNATURE_PREFIX):
        raise FormatError(
            f"{what}: does not start with em dash and space (got {_quote(line, 24)}, "
            "want '— <key name> <base64>')"
        )
    name, sep, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not sep:
        raise FormatError(f"{what}: no space between key name and signature")
    check_key_name(name, what=f"{what} key name")
    raw = b64decode_strict(encoded, what=f"{what} ({name})")
    if len(raw) <= KEY_HASH_SIZE:
        raise FormatError(
            f"{what} ({name}): signature is {len(raw)} bytes, "
            "want at least 5 (4-byte key ID and signature)"
        )
    return Signature(name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:])


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, not yet verified, signed note.

    Its text MUST be ignored until :func:`verify_note` has checked it.

    Attributes:
        text: The note text, ending in newline (the blank line is not part of it).
        signatures: The signature lines in order, duplicates included (at least one).
    """

    text: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text, "note text")
        if not self.text.endswith("\n"):
            raise FormatError(
                f"note text: does not end with a newline (got ...{_quote(self.text[-16:])})"
            )
        if not isinstance(self.signatures, tuple):
            raise TypeError(f"note signatures: want a tuple, got {type(self.signatures).__name__}")
        if not self.signatures:
            raise FormatError("note: no signatures (want at least one)")
        for sig in self.signatures:
            if not isinstance(sig, Signature):
                raise TypeError(f"note signatures: want Signature, got {type(sig).__name__}")


def parse_note(data: bytes, *, max_signatures: int = MAX_SIGNATURES) -> Note:
    """Parse a signed note, checking its syntax but not its signatures.

    Accepts exactly the notes Go's ``note.Open`` parses, except that base64 must
    be canonical (module docstring). Steps:

    1. The whole note is UTF-8 without ASCII control characters but newline.
    2. The text ends at the *last* blank line; what follows is one or more
       signature lines, the last ending in newline.
    3. At most ``max_signatures`` lines (counted before parsing them, duplicates
       included, as Go does).
    4. Every line is ``— <key name> <base64>``, with a valid key name and at
       least 5 decoded bytes; no line is skipped.

    Args:
        data: The note bytes.
        max_signatures: Cap on signature lines.

    Returns:
        The note, which keeps every signature line, so
        ``format_note(parse_note(data)) == data``.

    Raises:
        FormatError: If the note is malformed or has too many signature lines.
        TypeError: If ``data`` is not ``bytes``.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"note: want bytes, got {type(data).__name__}")
    # Step 1: strict UTF-8, no control characters (signed-note §Format).
    try:
        message = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"note: invalid UTF-8 at byte {exc.start}") from exc
    _check_text(message, "note")
    # Step 2: the signature block follows the last blank line.
    split = message.rfind("\n\n")
    if split < 0:
        raise FormatError("note: no blank line between text and signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block:
        raise FormatError("note: no signature lines after the last blank line")
    if not block.endswith("\n"):
        raise FormatError("note: last signature line does not end with a newline")
    # Step 3: cap before parsing any line.
    count = block.count("\n")
    if count > max_signatures:
        raise FormatError(f"note: {count} signature lines (want at most {max_signatures})")
    # Step 4: every line must parse; the block has no empty lines, since the
    # split was at the last blank line.
    signatures = tuple(
        parse_signature_line(line, what=f"note signature line {index}")
        for index, line in enumerate(block[:-1].split("\n"), start=1)
    )
    return Note(text, signatures)


def format_note(note: Note) -> bytes:
    """Serialize a note: text, a blank line, then one line per signature."""
    lines = "".join(format_signature_line(sig) + "\n" for sig in note.signatures)
    return (note.text + "\n" + lines).encode("utf-8")


def sign_note(text: str, signers: Sequence[Signer]) -> bytes:
    """Sign ``text`` with each signer and return the note bytes.

    Args:
        text: Note text: ends with newline, no control characters but newline.
        signers: One or more signers with distinct (name, key ID).

    Returns:
        ``text``, a blank line and one signature line per signer, in order.
        Ed25519 is deterministic, so this reproduces Go's ``note.Sign`` exactly.

    Raises:
        FormatError: If ``text`` is not valid note text.
        ValueError: If ``signers`` is empty or repeats a (name, key ID).
        TypeError: If a signer is not a :class:`Signer`.
    """
    message = encode_note_text(text)
    if not text.endswith("\n"):
        raise FormatError("note text: does not end with a newline")
    if not signers:
        raise ValueError("sign_note: no signers (want at least one)")
    seen: set[tuple[str, bytes]] = set()
    signatures = []
    for signer in signers:
        if not isinstance(signer, Signer):
            raise TypeError(f"sign_note: want Signer, got {type(signer).__name__}")
        key = (signer.name, signer.key_hash)
        if key in seen:
            raise ValueError(f"sign_note: signer {format_key_id(*key)} given twice")
        seen.add(key)
        signatures.append(Signature(signer.name, signer.key_hash, signer.sign(message)))
    return format_note(Note(text, tuple(signatures)))


# --------------------------------------------------------------------------- #
# Verification
# --------------------------------------------------------------------------- #

_VERIFIED = object()  # Only this module's functions construct verified results.


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature line that verified under a trusted key.

    Attributes:
        name: The key name.
        key_hash: The 4-byte key ID.
        signature: The signature bytes after the key ID.
        timestamp: For timestamped types (cosignatures), the POSIX time the
            signer committed to; None otherwise.
    """

    name: str
    key_hash: bytes
    signature: bytes
    timestamp: int | None

    @property
    def key_id(self) -> str:
        """``name+hex8``, for messages."""
        return f"{self.name}+{self.key_hash.hex()}"


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note whose signatures :func:`verify_note` checked.

    Only :func:`verify_note` creates these (direct construction raises
    ``TypeError``), so holding one means the checks ran. It does not say the
    note is fresh or that a quorum signed it: that is policy.

    Attributes:
        text: The note text, now authenticated by every key in ``verified``.
        verified: One entry per trusted key that signed, in note order.
        unverified: Signatures by unknown keys, identical lines once, ignored.
        note: The note as received (all lines), for storage or re-serving.
    """

    text: str
    verified: tuple[VerifiedSignature, ...]
    unverified: tuple[Signature, ...]
    note: Note
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError("VerifiedNote is created only by verify_note()")

    def signature_by(self, verifier: Verifier) -> VerifiedSignature | None:
        """Return the verified signature by ``verifier``'s key, or None."""
        for sig in self.verified:
            if sig.name == verifier.name and sig.key_hash == verifier.key_hash:
                return sig
        return None


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in verifiers:
        if not isinstance(verifier, Verifier):
            raise TypeError(f"verifiers: want Verifier, got {type(verifier).__name__}")
        key = (verifier.name, verifier.key_hash)
        previous = known.get(key)
        if previous is not None and previous != verifier:
            raise ConfigError(
                f"verifiers: two different keys share key ID {format_key_id(*key)} "
                "(want one key per name and key ID)"
            )
        known[key] = verifier
    return known


def verify_note(note: Note | bytes, verifiers: Iterable[Verifier]) -> VerifiedNote:
    """Verify a note's signatures against trusted keys.

    Procedure (signed-note §Signatures):

    1. Parse ``note`` if given as bytes (:func:`parse_note`, default cap).
    2. Index the trusted verifiers by (key name, key ID); two different keys
       under one (name, ID) are a configuration error.
    3. For each signature line in order, identical lines once:

       a. unknown (name, ID) -> kept in ``unverified`` and ignored, even if
          the name or the ID alone matches a trusted key;
       b. known key -> MUST verify; a failure rejects the whole note;
       c. a second valid signature by the same key is not listed again.

    4. At least one signature by a trusted key must have verified.

    Args:
        note: A parsed note or the note bytes.
        verifiers: The trusted keys.

    Returns:
        The verified note; cosignatures carry their timestamps.

    Raises:
        FormatError: If ``note`` is bytes that do not parse.
        SignatureError: If a known key's signature is invalid, or no known key
            signed.
        ConfigError: If two different verifiers share a name and key ID.
        TypeError: If an argument has the wrong type.
    """
    # Step 1.
    if isinstance(note, bytes):
        note = parse_note(note)
    elif not isinstance(note, Note):
        raise TypeError(f"verify_note: want Note or bytes, got {type(note).__name__}")
    # Step 2.
    known = _index_verifiers(verifiers)
    message = note.text.encode("utf-8")
    # Step 3.
    verified: list[VerifiedSignature] = []
    verified_keys: set[tuple[str, bytes]] = set()
    unverified: list[Signature] = []
    seen: set[Signature] = set()
    for sig in note.signatures:
        if sig in seen:
            continue
        seen.add(sig)
        key = (sig.name, sig.key_hash)
        verifier = known.get(key)
        if verifier is None:  # 3a
            unverified.append(sig)
            continue
        if not verifier.verify(message, sig.signature):  # 3b
            raise SignatureError(
                f"note: invalid signature for key {sig.key_id}: "
                f"{verifier.describe_failure(sig.signature)}"
            )
        if key in verified_keys:  # 3c
            continue
        verified_keys.add(key)
        verified.append(
            VerifiedSignature(
                sig.name, sig.key_hash, sig.signature, verifier.signature_timestamp(sig.signature)
            )
        )
    # Step 4.
    if not verified:
        got = ", ".join(sig.key_id for sig in unverified[:8])
        if len(unverified) > 8:
            got += f", ... ({len(unverified)} in all)"
        want = ", ".join(format_key_id(*key) for key in list(known)[:8]) or "none given"
        raise SignatureError(f"note: no signature by a trusted key (got {got}; want one of {want})")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified), note, _VERIFIED)
