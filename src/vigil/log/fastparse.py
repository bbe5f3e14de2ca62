"""Fast paths for parsing submissions, with exactly the strict parsers' results.

Admission parses every envelope twice over (the batch, then each envelope)
with the strict parsers of :mod:`vigil.core`, which check for duplicate JSON
keys with a Python call per object. Submissions are nearly always compact,
canonical JSON; for those, :mod:`orjson` (C) does the parsing, and a cheap
equality check proves that the strict parser would have returned the same
value:

* orjson keeps the *last* of duplicate keys, so its result alone proves
  nothing. But if re-encoding the parsed value gives back exactly the input
  bytes, the input is an encoding of a dict, which has no duplicate keys
  (parsing the input yields exactly the pairs it spells out). The same
  equality rules out everything else the strict parser refuses that orjson
  might let through: orjson turns integers beyond 64 bits into floats (which
  re-encode differently) and refuses lone surrogates, NaN and Infinity itself.
* Nesting depth is bounded by the exact shapes accepted below.

Whenever a fast path cannot *prove* its result (whitespace, other escapes,
field order, an unexpected type, any error), it returns None and the caller
runs the strict parser, which accepts or refuses the input with its usual,
specific message. So these functions change speed, never outcomes; the
property tests in ``tests/log/test_log_fastparse.py`` compare both paths.

No I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.core.dsse import DsseSignature, Envelope
from vigil.core.encoding import b64decode_strict, parse_exact_json_object
from vigil.errors import FormatError

__all__ = [
    "batch_items",
    "envelope_from_bytes",
    "envelope_from_object",
]


def envelope_from_object(item: Any, *, max_signatures: int) -> tuple[Envelope, bytes] | None:
    """The envelope a JSON object spells and its canonical bytes, if plainly well-formed.

    Accepts exactly what :func:`vigil.core.dsse.parse_envelope` accepts from
    an object with the three fields (each signature with both ``keyid`` and
    ``sig``), at most ``max_signatures`` signatures; returns None for
    anything else (the strict parser then decides).

    Returns:
        ``(envelope, format_envelope(envelope))``, or None.
    """
    if type(item) is not dict or len(item) != 3:
        return None
    payload_b64 = item.get("payload")
    payload_type = item.get("payloadType")
    items = item.get("signatures")
    if (
        type(payload_b64) is not str
        or type(payload_type) is not str
        or not payload_type
        or type(items) is not list
        or not 0 < len(items) <= max_signatures
    ):
        return None
    try:
        signatures = []
        for signature in items:
            if type(signature) is not dict or len(signature) != 2:
                return None
            keyid = signature.get("keyid")
            sig = signature.get("sig")
            if type(keyid) is not str or type(sig) is not str:
                return None
            signatures.append(DsseSignature(keyid, b64decode_strict(sig, what="sig")))
        envelope = Envelope(
            payload_type, b64decode_strict(payload_b64, what="payload"), tuple(signatures)
        )
        # Field order of format_envelope; the strings are the canonical ones.
        entry = orjson.dumps(
            {
                "payload": payload_b64,
                "payloadType": payload_type,
                "signatures": [{"keyid": s["keyid"], "sig": s["sig"]} for s in items],
            }
        )
    except (FormatError, orjson.JSONEncodeError):
        return None
    return envelope, entry


def envelope_from_bytes(data: bytes, *, max_signatures: int) -> tuple[Envelope, bytes] | None:
    """The envelope of a request body that is exactly its canonical encoding.

    The body must equal the canonical bytes of the envelope it parses to,
    which also proves it has no duplicate keys (see the module docstring).

    Returns:
        ``(envelope, data)``, or None (use the strict parser).
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    parsed = envelope_from_object(document, max_signatures=max_signatures)
    if parsed is None or parsed[1] != data:
        return None
    return parsed


def batch_items(body: bytes, *, max_entries: int) -> list[Any] | None:
    """The items of a compact batch body ``{"entries": [...]}``, or None.

    Returns the list only for a body that re-encodes to itself, with the one
    field ``entries`` holding 1 to ``max_entries`` items; the caller must
    still check that every item is an envelope object of the accepted shape
    (which bounds the nesting) before relying on the result, and otherwise
    parse the whole body strictly.
    """
    document = parse_exact_json_object(body)
    if document is None:
        return None
    items = document.get("entries")
    if len(document) != 1 or type(items) is not list or not 0 < len(items) <= max_entries:
        return None
    return items
