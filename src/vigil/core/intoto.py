"""in-toto Statement v1: the signed body of every Vigil log entry.

Implements the Statement layer of the in-toto Attestation Framework,
https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md, with
subjects as ResourceDescriptors (``resource_descriptor.md``) whose ``digest``
is a DigestSet (``digest_set.md``)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<NAME>", "digest": {"<ALGORITHM>": "<HEX_VALUE>"}}],
     "predicateType": "<URI>",
     "predicate": {...}}

A statement travels as the payload of a DSSE envelope (:mod:`vigil.core.dsse`)
with payload type :data:`PAYLOAD_TYPE_INTOTO`; the signature covers the exact
payload bytes, so :class:`Statement` keeps them in :attr:`Statement.raw` and
nothing is ever re-serialized for verification.

Decisions (see each function for details):

* ``_type`` must be exactly :data:`STATEMENT_TYPE_V1`; another
  ``https://in-toto.io/Statement/`` version is :class:`UnsupportedError`.
* Every subject must have a non-empty ``digest``. Digests of the standard
  algorithms (``sha256``, ``sha512``, ``sha1``, ``gitCommit`` ...) must be
  lowercase hex of the algorithm's exact length; values of other algorithms
  are opaque but must be non-empty printable ASCII.
* Unknown fields, in the statement and in subjects, are *ignored* as the
  spec's parsing rules require ("Consumers MUST ignore unrecognized fields"):
  they cannot change the meaning of known fields (monotonic principle), and
  they are not lost, since :attr:`Statement.raw` keeps them verbatim.
* ``predicate`` may be omitted (the spec treats unset as empty) but must be a
  JSON object when present; a subject ``name`` may be omitted but must be a
  string when present. ``null`` is rejected for both (one way to say "unset").
* The whole document must be re-encodable JSON: lone UTF-16 surrogates,
  out-of-range numbers (``1e999``) and huge integers are rejected, so every
  parsed statement can be formatted again.

This module does no I/O, checks no signature (see :mod:`vigil.core.dsse`)
and does not interpret predicates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from vigil.core.dsse import PAYLOAD_TYPE_INTOTO
from vigil.core.encoding import parse_compact_json_object, parse_json_object_strict
from vigil.errors import FormatError, UnsupportedError

__all__ = [
    "HEX_DIGEST_LENGTHS",
    "MAX_STATEMENT_BYTES",
    "MAX_SUBJECTS",
    "PAYLOAD_TYPE_INTOTO",
    "STATEMENT_TYPE_V1",
    "Statement",
    "Subject",
    "build_statement",
    "format_statement",
    "parse_statement",
]

STATEMENT_TYPE_V1 = "https://in-toto.io/Statement/v1"
"""The ``_type`` of an in-toto Statement v1 (statement.md, ``_type``)."""

MAX_STATEMENT_BYTES = 1024 * 1024
"""Default cap on a statement's size, applied before parsing."""

MAX_SUBJECTS = 65536
"""Default cap on the number of subjects of one statement."""

_STATEMENT_TYPE_PREFIX = "https://in-toto.io/Statement/"

HEX_DIGEST_LENGTHS: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        # digest_set.md "Supported algorithms": NIST names, lowercase hex.
        "sha224": frozenset({56}),
        "sha256": frozenset({64}),
        "sha384": frozenset({96}),
        "sha512": frozenset({128}),
        "sha512_224": frozenset({56}),
        "sha512_256": frozenset({64}),
        "sha3_224": frozenset({56}),
        "sha3_256": frozenset({64}),
        "sha3_384": frozenset({96}),
        "sha3_512": frozenset({128}),
        "sha1": frozenset({40}),
        "md5": frozenset({32}),
        "ripemd160": frozenset({40}),
        "sm3": frozenset({64}),
        # gitCommit & co.: "SHA-1 (40 character) or SHA-256 (64 character)".
        "gitCommit": frozenset({40, 64}),
        "gitTree": frozenset({40, 64}),
        "gitBlob": frozenset({40, 64}),
        "gitTag": frozenset({40, 64}),
        # dirHash1: SHA-256 of the sha256sum listing, in lowercase hex.
        "dirHash1": frozenset({64}),
    }
)
"""Digest algorithms whose values must be lowercase hex of one of these lengths.

Algorithms with a variable output length in digest_set.md (``shake128``,
``shake256``, ``blake2b``, ``blake2s``, ``gost``) must still be lowercase hex
of even, non-zero length; see :func:`_check_digest`.
"""

_VARIABLE_HEX_ALGORITHMS = frozenset({"shake128", "shake256", "blake2b", "blake2s", "gost"})

_MAX_DIGEST_VALUE_CHARS = 1024
_MAX_ALGORITHM_CHARS = 64
_MAX_URI_CHARS = 2048
_LOWER_HEX = re.compile(r"[0-9a-f]+")
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_ALGORITHM_NAME = re.compile(r"[A-Za-z0-9_\-]+")


def _printable_ascii(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text


def _check_digest(what: str, algorithm: str, value: str) -> None:
    """Validate one DigestSet entry; raise FormatError naming ``what``."""
    if not algorithm or len(algorithm) > _MAX_ALGORITHM_CHARS:
        raise FormatError(
            f"{what}: algorithm name has {len(algorithm)} characters "
            f"(want 1 to {_MAX_ALGORITHM_CHARS})"
        )
    if _ALGORITHM_NAME.fullmatch(algorithm) is None:
        raise FormatError(
            f"{what}: algorithm name {algorithm[:40]!r} has characters other than "
            "letters, digits, '_' and '-'"
        )
    if algorithm in HEX_DIGEST_LENGTHS or algorithm in _VARIABLE_HEX_ALGORITHMS:
        if _LOWER_HEX.fullmatch(value) is None:
            raise FormatError(f"{what} {algorithm}: {value[:80]!r} is not lowercase hex")
        lengths = HEX_DIGEST_LENGTHS.get(algorithm)
        if lengths is not None and len(value) not in lengths:
            want = " or ".join(str(n) for n in sorted(lengths))
            raise FormatError(f"{what} {algorithm}: got {len(value)} hex characters, want {want}")
        if len(value) % 2 or len(value) > _MAX_DIGEST_VALUE_CHARS:
            raise FormatError(
                f"{what} {algorithm}: got {len(value)} hex characters, "
                f"want an even number up to {_MAX_DIGEST_VALUE_CHARS}"
            )
        return
    # Other algorithms document their own encoding (digest_set.md
    # "Guidelines"); we only require a bounded, printable, non-empty value.
    if not value or len(value) > _MAX_DIGEST_VALUE_CHARS or not _printable_ascii(value):
        raise FormatError(
            f"{what} {algorithm}: value {value[:80]!r} is not 1 to "
            f"{_MAX_DIGEST_VALUE_CHARS} printable ASCII characters"
        )


def _check_type_uri(what: str, uri: str) -> None:
    """Validate a TypeURI (field_types.md): an RFC 3986 URI with a scheme."""
    if not uri or len(uri) > _MAX_URI_CHARS:
        raise FormatError(f"{what}: URI has {len(uri)} characters (want 1 to {_MAX_URI_CHARS})")
    if not _printable_ascii(uri) or _URI_SCHEME.match(uri) is None:
        raise FormatError(f"{what}: {uri[:80]!r} is not an absolute URI")


@dataclass(frozen=True, slots=True)
class Subject:
    """One subject of a statement: an artifact, identified by its digests.

    Attributes:
        name: The ResourceDescriptor ``name``, or None when unset. The spec
            suggests ``"_"`` or unset when the name is not meaningful.
        digest: The DigestSet: algorithm name to digest value (lowercase hex
            for the standard algorithms). Never empty; read-only.

    Raises:
        FormatError: (on construction) if the digest set is empty or an entry
            is malformed, or the name is not a string.
    """

    name: str | None
    digest: Mapping[str, str]

    def __post_init__(self) -> None:
        if self.name is not None and not isinstance(self.name, str):
            raise FormatError(
                f"in-toto subject: name must be a string (got {type(self.name).__name__})"
            )
        if self.name is not None:
            _check_encodable("in-toto subject name", self.name)
        what = f"in-toto subject {self.name!r} digest"
        if not isinstance(self.digest, Mapping) or not self.digest:
            raise FormatError(f"{what}: want a non-empty set of digests")
        for algorithm, value in self.digest.items():
            if not isinstance(algorithm, str) or not isinstance(value, str):
                raise FormatError(f"{what}: algorithm and value must be strings")
            _check_digest(what, algorithm, value)
        object.__setattr__(self, "digest", MappingProxyType(dict(self.digest)))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling (to move parsed entries between processes) rebuilds through
        # the constructor, so its invariants are checked again.
        return (Subject, (self.name, dict(self.digest)))

    def to_json(self) -> dict[str, Any]:
        """This subject as a JSON-ready ResourceDescriptor dict."""
        result: dict[str, Any] = {}
        if self.name is not None:
            result["name"] = self.name
        result["digest"] = dict(self.digest)
        return result


@dataclass(frozen=True, slots=True)
class Statement:
    """A parsed in-toto Statement v1 with the exact bytes it was parsed from.

    Build one with :func:`parse_statement` (from received bytes) or
    :func:`build_statement` (from values); both guarantee that ``raw`` encodes
    the other fields. ``raw`` is what a DSSE signature covers.

    Attributes:
        subjects: The artifacts the statement is about; never empty.
        predicate_type: The predicate's TypeURI (an absolute URI).
        predicate: The predicate object (empty if unset); read-only at the top
            level, and to be treated as read-only throughout.
        raw: The statement's exact JSON bytes.

    Raises:
        FormatError: (on construction) if an invariant does not hold.
    """

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]
    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.subjects, tuple) or not self.subjects:
            raise FormatError("in-toto statement: want a non-empty tuple of subjects")
        for subject in self.subjects:
            if not isinstance(subject, Subject):
                raise FormatError(
                    f"in-toto statement: subject is a {type(subject).__name__}, want Subject"
                )
        if not isinstance(self.predicate_type, str):
            raise FormatError("in-toto statement predicateType: want a string")
        _check_type_uri("in-toto statement predicateType", self.predicate_type)
        if not isinstance(self.predicate, Mapping):
            raise FormatError(
                f"in-toto statement predicate: want an object (got {type(self.predicate).__name__})"
            )
        if not isinstance(self.raw, bytes):
            raise FormatError("in-toto statement: raw must be bytes")
        object.__setattr__(self, "predicate", MappingProxyType(dict(self.predicate)))

    def __reduce__(self) -> tuple[Any, ...]:
        # As Subject.__reduce__ (a mappingproxy does not pickle).
        return (Statement, (self.subjects, self.predicate_type, dict(self.predicate), self.raw))


def _check_encodable(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"{what}: contains a lone UTF-16 surrogate") from exc


def _parse_json(data: bytes, *, what: str, max_bytes: int) -> dict[str, Any]:
    """parse_json_object, plus a re-encoding check for unrepresentable values.

    Compact input that :func:`~vigil.core.encoding.parse_compact_json_object`
    accepts needs no re-encoding check: it *is* a re-encoding.
    """
    compact = parse_compact_json_object(data, max_bytes=max_bytes)
    if compact is not None:
        return compact
    try:
        value = parse_json_object_strict(data, what=what, max_bytes=max_bytes)
    except FormatError:
        raise
    except ValueError as exc:
        # Integers over sys.get_int_max_str_digits() raise a bare ValueError.
        raise FormatError(f"{what}: unparseable JSON value ({exc})") from exc
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"{what}: a string contains a lone UTF-16 surrogate") from exc
    except ValueError as exc:
        raise FormatError(f"{what}: a number is out of range ({exc})") from exc
    except RecursionError as exc:
        raise FormatError(f"{what}: JSON nested too deeply") from exc
    return value


def _parse_subject(index: int, item: Any) -> Subject:
    if type(item) is dict:
        name = item.get("name")
        digest = item.get("digest")
        if (
            (type(name) is str or (name is None and "name" not in item))
            and type(digest) is dict
            and digest
            and all(_standard_hex_digest(a, v) for a, v in digest.items())
        ):
            return _checked_subject(name, digest)
    # Anything else: the checks one by one, for the message.
    what = f"in-toto statement subject[{index}]"
    if not isinstance(item, dict):
        raise FormatError(f"{what}: want an object (got {_json_type(item)})")
    name = item.get("name")
    if "name" in item and not isinstance(name, str):
        raise FormatError(f"{what} name: want a string (got {_json_type(name)})")
    if "digest" not in item:
        raise FormatError(f"{what}: missing required field 'digest'")
    digest = item["digest"]
    if not isinstance(digest, dict):
        raise FormatError(f"{what} digest: want an object (got {_json_type(digest)})")
    if not digest:
        raise FormatError(f"{what} digest: want at least one digest (got none)")
    for algorithm, value in digest.items():
        if not isinstance(value, str):
            raise FormatError(
                f"{what} digest {algorithm[:40]!r}: want a string (got {_json_type(value)})"
            )
        _check_digest(f"{what} digest", algorithm, value)
    return _checked_subject(name, digest)


def _standard_hex_digest(algorithm: str, value: Any) -> bool:
    """Whether a DigestSet entry is a well-formed digest of a standard algorithm.

    The common case of :func:`_check_digest`, decided without building any
    message: every name in :data:`HEX_DIGEST_LENGTHS` is a valid algorithm
    name, and each of its lengths is even and within the value cap. False
    means only "not proven": :func:`_check_digest` then decides.
    """
    lengths = HEX_DIGEST_LENGTHS.get(algorithm)
    return (
        lengths is not None
        and type(value) is str
        and len(value) in lengths
        and _LOWER_HEX.fullmatch(value) is not None
    )


def _checked_subject(name: str | None, digest: dict[str, str]) -> Subject:
    """A Subject from parsed JSON that :func:`_parse_subject` has checked.

    Skips ``__post_init__``, which would repeat those checks, and its copy of
    ``digest``, which the parser owns. Strings parsed from JSON are valid
    UTF-8 (the JSON parsers refuse lone surrogates), which is the one check
    of ``__post_init__`` the parser does not repeat.
    """
    subject = object.__new__(Subject)
    object.__setattr__(subject, "name", name)
    object.__setattr__(subject, "digest", MappingProxyType(digest))
    return subject


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_statement(
    payload: bytes,
    *,
    max_bytes: int = MAX_STATEMENT_BYTES,
    max_subjects: int = MAX_SUBJECTS,
) -> Statement:
    """Parse an in-toto Statement v1 strictly, keeping its exact bytes.

    Args:
        payload: The statement's JSON bytes (a DSSE payload).
        max_bytes: Reject larger payloads before parsing.
        max_subjects: Reject statements with more subjects.

    Returns:
        The statement, with ``raw`` set to ``payload``.

    Raises:
        UnsupportedError: ``_type`` names another version of the Statement.
        FormatError: anything else malformed: invalid UTF-8 or JSON, a
            duplicate key, a missing or mistyped field, an empty subject list,
            a subject without digest, a malformed digest, a predicateType that
            is not an absolute URI, a predicate that is not an object.
    """
    what = "in-toto statement"
    document = _parse_json(payload, what=what, max_bytes=max_bytes)

    # 1. _type: exactly v1 (statement.md "_type").
    if "_type" not in document:
        raise FormatError(f"{what}: missing required field '_type'")
    statement_type = document["_type"]
    if not isinstance(statement_type, str):
        raise FormatError(f"{what} _type: want a string (got {_json_type(statement_type)})")
    if statement_type != STATEMENT_TYPE_V1:
        if statement_type.startswith(_STATEMENT_TYPE_PREFIX):
            raise UnsupportedError(
                f"{what} _type: unsupported version "
                f"(got {statement_type[:80]!r}, want {STATEMENT_TYPE_V1!r})"
            )
        raise FormatError(f"{what} _type: got {statement_type[:80]!r}, want {STATEMENT_TYPE_V1!r}")

    # 2. subject: a non-empty array of ResourceDescriptors, each with a digest.
    if "subject" not in document:
        raise FormatError(f"{what}: missing required field 'subject'")
    subject_list = document["subject"]
    if not isinstance(subject_list, list):
        raise FormatError(f"{what} subject: want an array (got {_json_type(subject_list)})")
    if not subject_list:
        raise FormatError(f"{what} subject: want at least one subject (got none)")
    if len(subject_list) > max_subjects:
        raise FormatError(
            f"{what} subject: got {len(subject_list)} subjects, want at most {max_subjects}"
        )
    subjects = tuple(_parse_subject(i, item) for i, item in enumerate(subject_list))

    # 3. predicateType: a TypeURI.
    if "predicateType" not in document:
        raise FormatError(f"{what}: missing required field 'predicateType'")
    predicate_type = document["predicateType"]
    if not isinstance(predicate_type, str):
        raise FormatError(f"{what} predicateType: want a string (got {_json_type(predicate_type)})")
    _check_type_uri(f"{what} predicateType", predicate_type)

    # 4. predicate: optional object, unset means empty.
    predicate = document.get("predicate", {})
    if not isinstance(predicate, dict):
        raise FormatError(f"{what} predicate: want an object (got {_json_type(predicate)})")

    # Every invariant of Statement.__post_init__ is checked above; build it
    # without a second pass (and without copying the parser's own predicate).
    statement = object.__new__(Statement)
    object.__setattr__(statement, "subjects", subjects)
    object.__setattr__(statement, "predicate_type", predicate_type)
    object.__setattr__(statement, "predicate", MappingProxyType(predicate))
    object.__setattr__(statement, "raw", payload)
    return statement


def format_statement(
    subjects: Sequence[Subject], predicate_type: str, predicate: Mapping[str, Any]
) -> bytes:
    """Encode a statement as compact JSON, ready to sign.

    The output has the fields in spec order (``_type``, ``subject``,
    ``predicateType``, ``predicate``), no insignificant whitespace, and
    non-ASCII characters as UTF-8; predicate keys keep their given order.

    Args:
        subjects: At least one subject.
        predicate_type: The predicate's TypeURI.
        predicate: A JSON-serializable object.

    Returns:
        The statement's UTF-8 JSON bytes.

    Raises:
        FormatError: no subjects, an invalid predicate type, or a predicate
            that is not a JSON-encodable object.
    """
    if not subjects:
        raise FormatError("in-toto statement subject: want at least one subject (got none)")
    _check_type_uri("in-toto statement predicateType", predicate_type)
    if not isinstance(predicate, Mapping):
        raise FormatError(
            f"in-toto statement predicate: want an object (got {type(predicate).__name__})"
        )
    document = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [subject.to_json() for subject in subjects],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise FormatError(f"in-toto statement predicate: not encodable as JSON ({exc})") from exc


def build_statement(
    subjects: Sequence[Subject], predicate_type: str, predicate: Mapping[str, Any]
) -> Statement:
    """Format a statement and parse it back, so ``raw`` matches the fields.

    Args:
        subjects: At least one subject.
        predicate_type: The predicate's TypeURI.
        predicate: A JSON-serializable object.

    Returns:
        The statement as :func:`parse_statement` would return it for the
        formatted bytes.

    Raises:
        FormatError: as for :func:`format_statement` and
            :func:`parse_statement`.
    """
    return parse_statement(format_statement(subjects, predicate_type, predicate))
