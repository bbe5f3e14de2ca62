"""DSSE envelopes: multi-signature wrappers for Vigil's signed statements.

Implements the Dead Simple Signing Envelope v1,
https://github.com/secure-systems-lab/dsse (``protocol.md`` for the
signature scheme, ``envelope.md`` for the JSON envelope)::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

where ``LEN`` is the length **in bytes** (of the UTF-8 payload type, and of
the payload) as ASCII decimal with no leading zeros, and ``SP`` is one space.
Signatures are over ``PAE(payloadType, payload)``, i.e. over the exact
payload bytes, so no JSON canonicalization is ever needed. The JSON envelope
is::

    {"payload": "<base64>", "payloadType": "<type>",
     "signatures": [{"keyid": "<hint>", "sig": "<base64>"}, ...]}

Keys are C2SP signed-note keys (:mod:`vigil.core.note`): an envelope is
signed with note :class:`~vigil.core.note.Signer` objects and checked against
note :class:`~vigil.core.note.Verifier` objects, and the ``keyid`` of a
signature is the note key ID ``"<key name>+<hex8 key hash>"``
(:func:`~vigil.core.note.format_key_id`).

Decisions where the DSSE texts leave a choice (recorded for the format ADR):

* **Base64**: envelope.md allows "either standard or URL-safe" encoding. We
  accept only canonical, padded *standard* base64 (RFC 4648 §4), which is
  what DSSE implementations emit in practice (securesystemslib, sigstore, Go
  go-securesystemslib), so that one envelope has exactly one encoding: a log
  entry can't be re-submitted in a second spelling, and no two parsers can
  disagree about the bytes. URL-safe input is a :class:`FormatError`.
* **Unknown fields are rejected**, at the top level and in signature objects,
  although envelope.md says consumers MUST ignore them. These fields are not
  signed, and Vigil logs envelopes verbatim: silently carrying unsigned data
  into the log (or dropping it, which changes the entry's bytes) is worse
  than refusing an envelope that a producer can simply re-emit. DSSE 1.1's
  ``payloadUtf8`` alternative is therefore also refused.
* **At least one signature** is required; an empty payload type is refused.
* **keyid** may be unset; unset is read as ``""`` (envelope.md: "An unset
  field MUST be treated the same as set-but-empty"). A keyid is an
  unauthenticated hint, but Vigil *matches* signatures to keys by it: a
  signature counts only for the verifier whose note key ID it names, so each
  signature costs at most one signature check per matching key and an
  attacker can't make a verifier try every signature.
* **Thresholds count distinct keys** (protocol.md: "acceptedKeys" is a set):
  a key signing twice counts once, and two verifiers wrapping the same
  public key (one key under two names or key IDs) are one key.
* A signature under a known keyid that does not verify is *not counted* and
  is reported in :attr:`VerificationResult.invalid`; per protocol.md it does
  not by itself reject an envelope whose threshold is met by other keys.

This module does no I/O and does not interpret payloads (see
:mod:`vigil.core.intoto`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from vigil.core.encoding import b64decode_strict, parse_json_object
from vigil.core.note import Signer, Verifier, format_key_id
from vigil.errors import FormatError, ThresholdError

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "MAX_SIGNATURES",
    "PAE_PREFIX",
    "PAYLOAD_TYPE_INTOTO",
    "DsseSignature",
    "Envelope",
    "VerificationResult",
    "VerifiedEnvelope",
    "add_signatures",
    "evaluate_envelope",
    "format_envelope",
    "keyid_key_id",
    "pae",
    "parse_envelope",
    "sign_envelope",
    "verify_envelope",
]

PAYLOAD_TYPE_INTOTO = "application/vnd.in-toto+json"
"""Payload type of an in-toto Statement (in-toto attestation spec v1, envelope.md)."""

PAE_PREFIX = b"DSSEv1"
"""The first token of the pre-authentication encoding (DSSE protocol.md)."""

MAX_ENVELOPE_BYTES = 1024 * 1024
"""Default cap on an envelope's JSON size, applied before parsing."""

MAX_SIGNATURES = 64
"""Default cap on the number of signatures of one envelope."""

_ENVELOPE_FIELDS = frozenset({"payload", "payloadType", "signatures"})
_SIGNATURE_FIELDS = frozenset({"keyid", "sig"})


def pae(payload_type: str, payload: bytes) -> bytes:
    """Compute the DSSE v1 pre-authentication encoding (protocol.md).

    ``LEN`` counts bytes: the payload type is UTF-8-encoded first, so a
    multi-byte character adds more than one to its length.

    Args:
        payload_type: The envelope's payload type.
        payload: The exact payload bytes.

    Returns:
        ``b"DSSEv1 <len(type)> <type> <len(payload)> <payload>"``.

    Raises:
        FormatError: if ``payload_type`` is not encodable as UTF-8 (it
            contains a lone surrogate).

    Example:
        >>> pae("http://example.com/HelloWorld", b"hello world")
        b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
    """
    type_bytes = _utf8("DSSE payload type", payload_type)
    return b"%s %d %s %d %s" % (PAE_PREFIX, len(type_bytes), type_bytes, len(payload), payload)


def _utf8(what: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"{what}: contains a lone UTF-16 surrogate") from exc


@dataclass(frozen=True, slots=True)
class DsseSignature:
    """One signature of an envelope.

    Attributes:
        keyid: The unauthenticated key hint (``""`` when unset); Vigil writes
            :func:`~vigil.core.note.format_key_id` values.
        sig: The raw signature bytes.

    Raises:
        FormatError: (on construction) if ``keyid`` is not a UTF-8-encodable
            string or ``sig`` is not bytes.
    """

    keyid: str
    sig: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.keyid, str):
            raise FormatError(f"DSSE signature keyid: want a string (got {type(self.keyid)})")
        _utf8("DSSE signature keyid", self.keyid)
        if not isinstance(self.sig, bytes):
            raise FormatError(f"DSSE signature: sig must be bytes (got {type(self.sig)})")


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed (not yet verified) DSSE envelope.

    Attributes:
        payload_type: How to interpret the payload, e.g.
            :data:`PAYLOAD_TYPE_INTOTO`; never empty.
        payload: The exact payload bytes that the signatures cover.
        signatures: One or more signatures, in envelope order (duplicates
            are kept: they are harmless, since thresholds count keys).

    Raises:
        FormatError: (on construction) if an invariant does not hold.
    """

    payload_type: str
    payload: bytes = field(repr=False)
    signatures: tuple[DsseSignature, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.payload_type, str) or not self.payload_type:
            raise FormatError("DSSE envelope payloadType: want a non-empty string")
        _utf8("DSSE envelope payloadType", self.payload_type)
        if not isinstance(self.payload, bytes):
            raise FormatError(
                f"DSSE envelope payload: want bytes (got {type(self.payload).__name__})"
            )
        if not isinstance(self.signatures, tuple) or not self.signatures:
            raise FormatError("DSSE envelope signatures: want a non-empty tuple")
        for signature in self.signatures:
            if not isinstance(signature, DsseSignature):
                raise FormatError(
                    f"DSSE envelope signatures: got a {type(signature).__name__}, "
                    "want DsseSignature"
                )


def _parse_json(data: bytes, *, what: str, max_bytes: int) -> dict[str, Any]:
    try:
        return parse_json_object(data, what=what, max_bytes=max_bytes)
    except FormatError:
        raise
    except ValueError as exc:
        # Integers over sys.get_int_max_str_digits() raise a bare ValueError.
        raise FormatError(f"{what}: unparseable JSON value ({exc})") from exc


def _reject_unknown(what: str, obj: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise FormatError(
            f"{what}: unknown field(s) {shown} (want only {', '.join(sorted(known))})"
        )


def _string_field(what: str, obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise FormatError(f"{what}: missing required field {name!r}")
    value = obj[name]
    if not isinstance(value, str):
        raise FormatError(f"{what} {name}: want a string (got {type(value).__name__})")
    return value


def parse_envelope(
    data: bytes,
    *,
    max_bytes: int = MAX_ENVELOPE_BYTES,
    max_signatures: int = MAX_SIGNATURES,
) -> Envelope:
    """Parse a DSSE JSON envelope strictly.

    Checks, in order: the size cap (before parsing), JSON syntax with no
    duplicate keys, no unknown fields, ``payloadType`` a non-empty string,
    ``payload`` canonical standard base64, ``signatures`` a list of 1 to
    ``max_signatures`` objects each with an optional string ``keyid`` and a
    canonical standard base64 ``sig``. See the module docstring for why
    unknown fields and URL-safe base64 are refused.

    Args:
        data: The envelope's JSON bytes.
        max_bytes: Reject larger inputs before parsing.
        max_signatures: Reject envelopes with more signatures.

    Returns:
        The envelope; nothing is verified yet (see :func:`verify_envelope`).

    Raises:
        FormatError: if the bytes are not a well-formed envelope.
    """
    what = "DSSE envelope"
    document = _parse_json(data, what=what, max_bytes=max_bytes)
    _reject_unknown(what, document, _ENVELOPE_FIELDS)

    payload_type = _string_field(what, document, "payloadType")
    if not payload_type:
        raise FormatError(f"{what} payloadType: want a non-empty string (got '')")
    _utf8(f"{what} payloadType", payload_type)

    payload = b64decode_strict(_string_field(what, document, "payload"), what=f"{what} payload")

    if "signatures" not in document:
        raise FormatError(f"{what}: missing required field 'signatures'")
    items = document["signatures"]
    if not isinstance(items, list):
        raise FormatError(f"{what} signatures: want an array (got {type(items).__name__})")
    if not items:
        raise FormatError(f"{what} signatures: want at least one signature (got none)")
    if len(items) > max_signatures:
        raise FormatError(
            f"{what} signatures: got {len(items)} signatures, want at most {max_signatures}"
        )
    signatures = []
    for index, item in enumerate(items):
        sig_what = f"{what} signature {index}"
        if not isinstance(item, dict):
            raise FormatError(f"{sig_what}: want an object (got {type(item).__name__})")
        _reject_unknown(sig_what, item, _SIGNATURE_FIELDS)
        keyid = _string_field(sig_what, item, "keyid") if "keyid" in item else ""
        _utf8(f"{sig_what} keyid", keyid)
        sig = b64decode_strict(_string_field(sig_what, item, "sig"), what=f"{sig_what} sig")
        signatures.append(DsseSignature(keyid=keyid, sig=sig))
    return Envelope(payload_type=payload_type, payload=payload, signatures=tuple(signatures))


def format_envelope(envelope: Envelope) -> bytes:
    """Encode an envelope as compact JSON (fields in envelope.md order).

    Every signature gets an explicit ``keyid`` (possibly ``""``). The output
    parses back to an equal envelope with :func:`parse_envelope`. It is
    ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``, written
    by orjson (same bytes: both escape exactly ``"``, ``\\`` and the control
    characters, alike; the strings are UTF-8-encodable by the invariants).

    Args:
        envelope: The envelope to encode.

    Returns:
        UTF-8 JSON bytes.
    """
    document = {
        "payload": base64.b64encode(envelope.payload).decode("ascii"),
        "payloadType": envelope.payload_type,
        "signatures": [
            {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
            for s in envelope.signatures
        ],
    }
    return orjson.dumps(document)


def _signatures_by(
    payload_type: str, payload: bytes, signers: Sequence[Signer]
) -> tuple[DsseSignature, ...]:
    message = pae(payload_type, payload)
    return tuple(
        DsseSignature(keyid=s.vkey, sig=s.sign(message)) for s in signers
    )


def sign_envelope(payload_type: str, payload: bytes, signers: Sequence[Signer]) -> Envelope:
    """Sign a payload with one or more note signers.

    Each signer signs ``pae(payload_type, payload)``; its signature's keyid
    is the signer's full verifier key (``name+hex8+base64(alg || key)``), so an
    entry carries what is needed to check it, like Rekor's entries carry their
    public key. The keyid stays unauthenticated: trust comes only from the
    verifiers a caller passes to :func:`verify_envelope` (see
    :func:`keyid_key_id`).

    Args:
        payload_type: The payload type, e.g. :data:`PAYLOAD_TYPE_INTOTO`.
        payload: The exact bytes to sign.
        signers: At least one signer.

    Returns:
        An envelope with one signature per signer, in order.

    Raises:
        ValueError: if ``signers`` is empty (a programming error).
        FormatError: if ``payload_type`` is empty or not UTF-8-encodable.
    """
    if not signers:
        raise ValueError("sign_envelope: want at least one signer")
    if not payload_type:
        raise FormatError("DSSE envelope payloadType: want a non-empty string (got '')")
    return Envelope(
        payload_type=payload_type,
        payload=payload,
        signatures=_signatures_by(payload_type, payload, signers),
    )


def add_signatures(envelope: Envelope, signers: Sequence[Signer]) -> Envelope:
    """Return ``envelope`` with signatures by ``signers`` appended.

    Use this to collect a threshold of signatures one signer at a time. The
    existing signatures are kept as they are and are not verified.

    Args:
        envelope: The envelope to extend.
        signers: The additional signers.

    Returns:
        A new envelope.
    """
    return Envelope(
        payload_type=envelope.payload_type,
        payload=envelope.payload,
        signatures=envelope.signatures
        + _signatures_by(envelope.payload_type, envelope.payload, signers),
    )


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The outcome of checking an envelope's signatures against a threshold.

    Each distinct key is named by the ``name`` of the first verifier that
    wraps it.

    Attributes:
        threshold: The number of distinct keys required (at least 1).
        signed: Names of the distinct keys with a valid signature, in
            verifier order.
        missing: Names of the distinct keys without a valid signature, in
            verifier order.
        invalid: Keyids of signatures that named a known key but did not
            verify (forged, or over another payload), in envelope order.

    Raises:
        ValueError: (on construction) if ``threshold`` is below 1.
    """

    threshold: int
    signed: tuple[str, ...]
    missing: tuple[str, ...]
    invalid: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError(f"threshold: got {self.threshold}, want at least 1")

    @property
    def met(self) -> bool:
        """Whether at least ``threshold`` distinct keys signed."""
        return len(self.signed) >= self.threshold

    def describe(self) -> str:
        """One line: how many signed of how many required, who did, who didn't."""
        parts = [f"{len(self.signed)} of {self.threshold} required signatures"]
        parts.append("signed: " + (", ".join(self.signed) or "nobody"))
        if self.missing:
            parts.append("unsigned: " + ", ".join(self.missing))
        if self.invalid:
            parts.append("invalid signatures: " + ", ".join(self.invalid))
        return "; ".join(parts)


_VERIFIED = object()  # Only verify_envelope constructs VerifiedEnvelope.


@dataclass(frozen=True, slots=True)
class VerifiedEnvelope:
    """An envelope whose signatures met a threshold of trusted keys.

    Only :func:`verify_envelope` creates these (direct construction raises
    ``TypeError``), so holding one means the check ran; trust decisions
    accept this type, not :class:`Envelope`.

    Attributes:
        envelope: The envelope as parsed.
        signed: Names of the distinct trusted keys that signed it.
    """

    envelope: Envelope
    signed: tuple[str, ...]
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError("VerifiedEnvelope is created only by verify_envelope()")

    @property
    def payload_type(self) -> str:
        """The verified payload type."""
        return self.envelope.payload_type

    @property
    def payload(self) -> bytes:
        """The verified payload bytes."""
        return self.envelope.payload


def _key_identity(verifier: Verifier) -> tuple[str, bytes]:
    """What makes two verifiers "the same key".

    A verifier that exposes its raw ``public_key`` is identified by it, so
    one key listed under two names or key IDs counts once; otherwise by its
    note key ID.
    """
    public_key = getattr(verifier, "public_key", None)
    if isinstance(public_key, bytes):
        return ("public key", public_key)
    return ("key id", format_key_id(verifier.name, verifier.key_hash).encode("utf-8"))


def keyid_key_id(keyid: str) -> str:
    """The note key ID (``name+hex8``) a DSSE keyid names.

    Vigil writes the full verifier key as the keyid; ``name+hex8`` alone is
    accepted too. Key names cannot contain ``+``, so the key ID is everything
    before the second ``+``.
    """
    parts = keyid.split("+", 2)
    return "+".join(parts[:2])


def evaluate_envelope(
    envelope: Envelope, verifiers: Iterable[Verifier], *, threshold: int = 1
) -> VerificationResult:
    """Check which trusted keys validly signed an envelope; never raises on failure.

    Procedure (DSSE protocol.md "Verification", with a keyid filter):

    1. Group the verifiers into distinct keys (:func:`_key_identity`): one
       public key under several names or key IDs is one key.
    2. Compute ``PAE(payloadType, payload)`` once over the received bytes.
    3. For each signature, check it with every verifier whose note key ID
       equals its keyid; unknown keyids are ignored (they may be other
       parties' keys). A success marks that verifier's key as signed; a
       failure is recorded as invalid.
    4. The threshold is met if at least ``threshold`` distinct keys signed:
       repeated signatures by one key count once.

    Args:
        envelope: A parsed envelope.
        verifiers: The trusted keys.
        threshold: How many distinct keys must sign (at least 1).

    Returns:
        The result; check :attr:`VerificationResult.met`.

    Raises:
        ValueError: if ``threshold`` is below 1 (a programming error).
    """
    if threshold < 1:
        raise ValueError(f"threshold: got {threshold}, want at least 1")

    # Step 1: distinct keys, named after their first verifier, in order.
    key_names: dict[tuple[str, bytes], str] = {}
    by_keyid: dict[str, list[tuple[Verifier, tuple[str, bytes]]]] = {}
    for verifier in verifiers:
        identity = _key_identity(verifier)
        key_names.setdefault(identity, verifier.name)
        keyid = format_key_id(verifier.name, verifier.key_hash)
        by_keyid.setdefault(keyid, []).append((verifier, identity))

    # Step 2: the signed message, from the exact payload bytes.
    message = pae(envelope.payload_type, envelope.payload)

    # Step 3: match by keyid, verify, remember which keys signed.
    signed_keys: set[tuple[str, bytes]] = set()
    invalid: list[str] = []
    for signature in envelope.signatures:
        for verifier, identity in by_keyid.get(keyid_key_id(signature.keyid), ()):
            if identity in signed_keys:
                continue  # this key already counted; don't spend another check
            if verifier.verify(message, signature.sig):
                signed_keys.add(identity)
            else:
                invalid.append(signature.keyid)

    # Step 4: count distinct keys.
    return VerificationResult(
        threshold=threshold,
        signed=tuple(name for key, name in key_names.items() if key in signed_keys),
        missing=tuple(name for key, name in key_names.items() if key not in signed_keys),
        invalid=tuple(invalid),
    )


def verify_envelope(
    envelope: Envelope, verifiers: Iterable[Verifier], *, threshold: int = 1
) -> VerifiedEnvelope:
    """Verify that at least ``threshold`` distinct trusted keys signed an envelope.

    See :func:`evaluate_envelope` for the procedure.

    Args:
        envelope: A parsed envelope.
        verifiers: The trusted keys.
        threshold: How many distinct keys must sign (at least 1).

    Returns:
        The verified envelope, with the names of the keys that signed.

    Raises:
        ThresholdError: fewer than ``threshold`` distinct trusted keys signed;
            the message lists who signed, who did not, and any invalid
            signatures.
        ValueError: if ``threshold`` is below 1 (a programming error).
    """
    result = evaluate_envelope(envelope, verifiers, threshold=threshold)
    if not result.met:
        raise ThresholdError(f"DSSE envelope ({envelope.payload_type[:80]!r}): {result.describe()}")
    return VerifiedEnvelope(envelope, result.signed, _VERIFIED)
