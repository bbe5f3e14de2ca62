"""Admission of submitted entries: parse, verify every signature, classify.

An entry is a DSSE envelope carrying an in-toto Statement v1. What the log
stores is the canonical re-encoding of the parsed envelope
(:func:`vigil.core.dsse.format_envelope`), so that one signed statement has
exactly one entry encoding and one leaf hash however it was spelled on the
wire; the leaf hash is ``merkle.hash_leaf(entry bytes)`` (RFC 6962 §2.1).

Signer keys are self-contained: each DSSE signature's ``keyid`` must be the
signer's full C2SP verifier key ``name+hex8+base64(0x01 || public key)`` (as
Rekor entries carry their public key). The log checks that the signature
verifies under that key; *who* may sign *what* is decided later against the
charter (issue 4), and again by every client.

No I/O; :class:`EntryValidator` is safe to call from several threads.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from vigil.core import merkle
from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, Envelope, format_envelope, pae, parse_envelope
from vigil.core.intoto import Statement, parse_statement
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.errors import FormatError, SignatureError
from vigil.log.config import Limits
from vigil.log.errors import InvalidStatementError, TooLargeError
from vigil.log.fastparse import envelope_from_bytes, envelope_from_object
from vigil.log.kinds import IndexKey, KindRegistry

__all__ = ["EntryValidator", "ValidatedEntry", "reencode"]

# A canonical envelope is at most 4/3 of its payload plus signatures; parsing
# input larger than this can only end in TooLargeError, so refuse it first.
_INPUT_SLACK_BYTES = 4096


@dataclass(frozen=True, slots=True)
class ValidatedEntry:
    """An admitted entry, ready to be sequenced.

    Attributes:
        data: The canonical envelope bytes (the Merkle leaf data).
        leaf_hash: ``hash_leaf(data)``.
        index_keys: The entry's search keys.
        statement: The parsed statement (for the commit gate; None if unknown).
        signers: The verifier keys whose signatures verified, in envelope order
            (empty if unknown: then nobody vouches for the signatures).
        predicate_type: The statement's predicateType ("" if unknown). Kept
            beside ``statement`` because a front-end process relays an entry
            to the sequencer process without its statement (see
            :mod:`vigil.log.frontend`), and the commit gate needs only the
            signers and the predicate type to judge a generic artifact.
    """

    data: bytes
    leaf_hash: bytes
    index_keys: tuple[IndexKey, ...]
    statement: Statement | None = field(default=None, compare=False, repr=False)
    signers: tuple[str, ...] = field(default=(), compare=False)
    predicate_type: str = field(default="", compare=False)


class EntryValidator:
    """Checks submissions against the limits and the kinds registry.

    Args:
        limits: Size and signature caps.
        registry: The accepted statement kinds.
        max_cached_keys: Parsed verifier keys kept for reuse (parsing a key
            costs a SHA-256 and a curve point decode).
    """

    def __init__(
        self, *, limits: Limits, registry: KindRegistry, max_cached_keys: int = 4096
    ) -> None:
        self._limits = limits
        self._registry = registry
        self._max_cached_keys = max_cached_keys
        self._keys: OrderedDict[str, Ed25519Verifier] = OrderedDict()
        self._keys_lock = threading.Lock()

    def _verifier(self, keyid: str, what: str) -> Ed25519Verifier:
        with self._keys_lock:
            cached = self._keys.get(keyid)
            if cached is not None:
                self._keys.move_to_end(keyid)
                return cached
        try:
            verifier = parse_verifier_key(keyid)
        except FormatError as exc:
            raise FormatError(
                f"{what} keyid: want the signer's verifier key name+hex8+base64 ({exc})"
            ) from exc
        if not isinstance(verifier, Ed25519Verifier):
            raise FormatError(
                f"{what} keyid: key {keyid[:80]!r} is not an Ed25519 (type 0x01) key"
            )
        with self._keys_lock:
            self._keys[keyid] = verifier
            while len(self._keys) > self._max_cached_keys:
                self._keys.popitem(last=False)
        return verifier

    def validate(self, data: bytes) -> ValidatedEntry:
        """Admit one envelope given as JSON bytes.

        Procedure:

        1. Size cap before parsing; parse the envelope strictly
           (:func:`~vigil.core.dsse.parse_envelope`, at most
           ``limits.max_signatures`` signatures).
        2. Re-encode canonically; the result must fit ``limits.max_entry_bytes``.
        3. :func:`validate_envelope` for the rest.

        Raises:
            TooLargeError: the input or the canonical entry is too large.
            FormatError: the envelope is malformed or a keyid is not a
                verifier key.
            SignatureError: a signature does not verify.
            InvalidStatementError: the payload is not a valid in-toto
                Statement v1 of its kind.
            UnknownKindError: the predicateType is not registered.
        """
        envelope, entry = self.parse(data)
        return self.validate_envelope(envelope, entry=entry)

    def parse(self, data: bytes) -> tuple[Envelope, bytes | None]:
        """Step 1 of :meth:`validate`: the envelope, and its canonical bytes if known.

        Raises:
            TooLargeError: the input is too large.
            FormatError: the envelope is malformed.
        """
        limit = self._limits.max_entry_bytes * 2 + _INPUT_SLACK_BYTES
        if len(data) > limit:
            raise TooLargeError(f"DSSE envelope: {len(data)} bytes exceeds the limit of {limit}")
        fast = envelope_from_bytes(data, max_signatures=self._limits.max_signatures)
        if fast is not None:
            return fast
        envelope = parse_envelope(
            data, max_bytes=limit, max_signatures=self._limits.max_signatures
        )
        return envelope, None

    def validate_object(self, item: Any) -> ValidatedEntry:
        """Admit one envelope given as a parsed JSON value (a batch item).

        The same as :meth:`validate` of the item's JSON encoding, without
        encoding and parsing it again when the item has the plain shape.

        Raises:
            as :meth:`validate`.
        """
        fast = self.parse_object(item)
        if fast is not None:
            return self.validate_envelope(fast[0], entry=fast[1])
        return self.validate(reencode(item))

    def parse_object(self, item: Any) -> tuple[Envelope, bytes] | None:
        """The envelope and canonical bytes of a plain batch item, or None.

        None means: use :meth:`validate` on :func:`reencode` of the item, which
        decides (see :mod:`vigil.log.fastparse`).
        """
        fast = envelope_from_object(item, max_signatures=self._limits.max_signatures)
        if fast is None or len(fast[1]) > self._limits.max_entry_bytes:
            return None  # the strict path gives the exact error
        return fast

    def validate_envelope(
        self, envelope: Envelope, *, entry: bytes | None = None
    ) -> ValidatedEntry:
        """Admit a parsed envelope.

        Procedure:

        1. At most ``limits.max_signatures`` signatures.
        2. Canonical re-encoding within ``limits.max_entry_bytes``.
        3. Payload type :data:`~vigil.core.dsse.PAYLOAD_TYPE_INTOTO`.
        4. Every signature's keyid is a distinct Ed25519 verifier key and its
           signature over ``PAE(payloadType, payload)`` verifies: a log entry
           never carries a signature that doesn't (a client counting
           signatures must not meet junk).
        5. The payload parses as an in-toto Statement v1.
        6. Its predicateType is registered and its predicate validates;
           collect the search keys.

        Args:
            envelope: The parsed envelope.
            entry: Its canonical encoding, if the caller has it already.

        Raises:
            as :meth:`validate`.
        """
        # Step 1.
        count = len(envelope.signatures)
        if count > self._limits.max_signatures:
            raise FormatError(
                f"DSSE envelope signatures: got {count} signatures, "
                f"want at most {self._limits.max_signatures}"
            )
        # Step 2.
        if entry is None:
            entry = format_envelope(envelope)
        if len(entry) > self._limits.max_entry_bytes:
            raise TooLargeError(
                f"entry: canonical envelope is {len(entry)} bytes, "
                f"want at most {self._limits.max_entry_bytes}"
            )
        # Step 3.
        if envelope.payload_type != PAYLOAD_TYPE_INTOTO:
            raise InvalidStatementError(
                f"DSSE envelope payloadType: got {envelope.payload_type[:80]!r}, "
                f"want {PAYLOAD_TYPE_INTOTO!r}"
            )
        # Step 4.
        message = pae(envelope.payload_type, envelope.payload)
        signers: list[str] = []
        for position, signature in enumerate(envelope.signatures):
            what = f"DSSE envelope signature {position}"
            if signature.keyid in signers:
                raise FormatError(
                    f"{what}: second signature by key {signature.keyid[:80]!r}"
                )
            verifier = self._verifier(signature.keyid, what)
            if not verifier.verify(message, signature.sig):
                raise SignatureError(
                    f"{what} by {verifier.name}+{verifier.key_hash.hex()}: "
                    f"{verifier.describe_failure(signature.sig)}"
                )
            signers.append(signature.keyid)
        # Step 5.
        try:
            statement = parse_statement(envelope.payload)
        except FormatError as exc:
            raise InvalidStatementError(str(exc)) from exc
        # Step 6.
        keys = self._registry.classify(statement, signers)
        return ValidatedEntry(
            data=entry,
            leaf_hash=merkle.hash_leaf(entry),
            index_keys=keys,
            statement=statement,
            signers=tuple(signers),
            predicate_type=statement.predicate_type,
        )


def reencode(item: Any) -> bytes:
    """A parsed JSON value (a batch item) back to JSON bytes for the strict parser."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
