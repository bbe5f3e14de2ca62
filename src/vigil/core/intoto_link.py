"""in-toto link metadata (the classic v0.9 "Metablock"), as rebuilderd signs it.

rebuilderd (https://github.com/kpcyrd/rebuilderd) signs one *link* per
package it rebuilt and found identical, with the in-toto-rs library and the
rebuilder's Ed25519 key::

    {"signatures": [{"keyid": "<64 hex>", "sig": "<hex Ed25519 signature>"}, ...],
     "signed": {"_type": "link", "name": "rebuild foo-1.0-1-x86_64.pkg.tar.zst",
                "materials": {"<path>": {"sha256": "<hex>", "sha512": "<hex>"}},
                "products":  {"<path>": {"sha256": "<hex>", "sha512": "<hex>"}},
                "byproducts": {}, "command": [], "environment": null}}

Each signature covers the *canonical JSON* of ``signed`` (the OLPC form that
securesystemslib's ``encode_canonical`` writes): object keys sorted by code
point, no whitespace, strings escaping only ``"`` and ``\\``, integers only.
A key ID is ``sha256`` of the canonical JSON of the in-toto key object
(``keytype``, ``scheme``, ``keyid_hash_algorithms``, ``keyval.public`` as
hex), and signatures are looked up by key ID, as in-toto does.

Decisions (ADR 0008):

* in-toto-rs (rebuilderd) and securesystemslib (python in-toto) encode some
  strings differently: in-toto-rs escapes control characters JSON-style and
  then turns every ``\\n`` back into a newline, securesystemslib writes control
  characters raw. A string in ``signed`` with a control character other than
  newline, or with a backslash followed by ``n``, would have two signed byte
  strings, so it is refused. So are floats (both refuse them) and integers
  outside 64 bits (in-toto-rs refuses them).
* ``signed`` has exactly the seven link fields (in-toto-rs drops unknown ones
  before verifying, python in-toto keeps them: refused, so both verify the
  same bytes). ``environment`` may be ``null`` (in-toto-rs) or an object.
* Signatures by other keys are kept and ignored (another rebuilder may have
  cosigned the link); their values only have to be hex. Two signatures with
  one key ID are refused.
* Keys (:func:`parse_link_keys`): PEM ``PUBLIC KEY`` blocks (SPKI, with or
  without the NULL algorithm parameters in-toto-rs writes; one file may hold
  several, like rebuilderd's ``signing_keyring``), an in-toto key object in
  JSON, or 64 hex characters of a raw public key. PEM and raw keys get
  ``keyid_hash_algorithms = ["sha256", "sha512"]``, as in-toto-rs and
  securesystemslib give them; a key object's own fields are used as they are.

No I/O, no clock. Parsing is total: any bytes give a :class:`Link` or raise
:class:`~vigil.errors.FormatError`. Verification (:func:`verify_link`) says
who signed; what the link means for a release is the caller's business
(:mod:`vigil.roles.rebuilderd`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import nacl.exceptions
import nacl.signing

from vigil.core.encoding import parse_json_object
from vigil.errors import FormatError, SignatureError

__all__ = [
    "DEFAULT_KEYID_HASH_ALGORITHMS",
    "MAX_ARTIFACTS",
    "MAX_LINK_BYTES",
    "MAX_SIGNATURES",
    "Link",
    "LinkKey",
    "LinkSignature",
    "VerifiedLink",
    "encode_canonical",
    "link_key",
    "parse_link",
    "parse_link_keys",
    "verify_link",
]

MAX_LINK_BYTES = 1024 * 1024
"""Largest link file accepted (rebuilderd's are about 1 KiB)."""
MAX_ARTIFACTS = 4096
"""Most materials, and most products, in one link."""
MAX_SIGNATURES = 64
"""Most signatures on one link."""
MAX_KEY_FILE_BYTES = 64 * 1024
MAX_KEYS = 64
_MAX_PATH_CHARS = 4096
_MAX_NAME_CHARS = 1024
_MAX_COMMAND_ITEMS = 1024
_MAX_SIGNATURE_HEX = 2048

DEFAULT_KEYID_HASH_ALGORITHMS = ("sha256", "sha512")
"""What in-toto-rs (``PublicKey::from_spki``) and securesystemslib give Ed25519 keys."""

_LINK_FIELDS = frozenset(
    {"_type", "name", "materials", "products", "byproducts", "command", "environment"}
)
_HEX = re.compile(r"[0-9a-f]+")
_KEYID = re.compile(r"[0-9a-f]{64}")
_ALGORITHM = re.compile(r"[a-z0-9_-]{1,32}")
_DIGEST_HEX_CHARS = {"sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
# SubjectPublicKeyInfo prefixes of an Ed25519 key (OID 1.3.101.112): RFC 8410
# (no parameters), and the NULL-parameter form in-toto-rs writes and requires.
_SPKI_PREFIXES = (
    bytes.fromhex("302a300506032b6570032100"),
    bytes.fromhex("302c300706032b65700500032100"),
)
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


# --------------------------------------------------------------------------- #
# Canonical JSON
# --------------------------------------------------------------------------- #


def _check_canonical_string(text: str, what: str) -> None:
    for offset, char in enumerate(text):
        if ord(char) < 0x20 and char != "\n":
            raise FormatError(
                f"{what}: control character U+{ord(char):04X} at character {offset} "
                "(in-toto implementations sign it differently)"
            )
    if "\\n" in text:
        raise FormatError(
            f"{what}: a backslash followed by 'n' at character {text.index(chr(92) + 'n')} "
            "(in-toto-rs signs it as a newline)"
        )


def _encode(value: Any, out: list[str], what: str) -> None:
    if isinstance(value, str):
        _check_canonical_string(value, what)
        out.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif value is None:
        out.append("null")
    elif isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise FormatError(f"{what}: integer {value} is outside 64 bits")
        out.append(str(value))
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out, f"{what}[{position}]")
        out.append("]")
    elif isinstance(value, Mapping):
        out.append("{")
        for position, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise TypeError(f"{what}: object key {key!r} is not a string")
            if position:
                out.append(",")
            _encode(key, out, f"{what} key {key[:40]!r}")
            out.append(":")
            _encode(value[key], out, f"{what}.{key[:40]}")
        out.append("}")
    elif isinstance(value, float):
        raise FormatError(f"{what}: {value!r} is not an integer (canonical JSON has none)")
    else:
        raise TypeError(f"{what}: cannot encode {type(value).__name__}")


def encode_canonical(value: Any, *, what: str = "canonical JSON") -> bytes:
    """The canonical JSON of ``value``, as in-toto signs it (UTF-8).

    Args:
        value: JSON values (dict, list, str, int, bool, None).
        what: Names the value in error messages.

    Raises:
        FormatError: a float, an integer outside 64 bits, or a string the
            in-toto implementations would sign differently (see the module
            docstring).
        TypeError: a value that is not JSON at all (programmer error).
    """
    out: list[str] = []
    _encode(value, out, what)
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- #
# Keys
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class LinkKey:
    """An in-toto Ed25519 public key.

    Attributes:
        public_key: The 32-byte Ed25519 public key.
        keyid_hash_algorithms: As in the in-toto key object (None: absent).
        keyid: ``sha256`` hex of the key object's canonical JSON (derived).
    """

    public_key: bytes
    keyid_hash_algorithms: tuple[str, ...] | None = DEFAULT_KEYID_HASH_ALGORITHMS
    keyid: str = field(init=False)
    _verify_key: nacl.signing.VerifyKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise FormatError("in-toto key: an Ed25519 public key has 32 bytes")
        key_object: dict[str, Any] = {
            "keytype": "ed25519",
            "scheme": "ed25519",
            "keyval": {"public": self.public_key.hex()},
        }
        if self.keyid_hash_algorithms is not None:
            key_object["keyid_hash_algorithms"] = list(self.keyid_hash_algorithms)
        keyid = hashlib.sha256(encode_canonical(key_object, what="in-toto key")).hexdigest()
        object.__setattr__(self, "keyid", keyid)
        object.__setattr__(self, "_verify_key", nacl.signing.VerifyKey(self.public_key))

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != 64:
            return False
        try:
            self._verify_key.verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            return False
        return True


def link_key(
    public_key: bytes,
    keyid_hash_algorithms: Sequence[str] | None = DEFAULT_KEYID_HASH_ALGORITHMS,
) -> LinkKey:
    """The in-toto key for a raw Ed25519 public key."""
    algorithms = None if keyid_hash_algorithms is None else tuple(keyid_hash_algorithms)
    return LinkKey(public_key, algorithms)


def _pem_keys(text: str) -> list[LinkKey]:
    keys: list[LinkKey] = []
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    position = 0
    while position < len(lines):
        line = lines[position]
        position += 1
        if not line:
            continue
        match = re.fullmatch(r"-----BEGIN ([A-Z0-9 ]+)-----", line)
        if match is None:
            raise FormatError(f"key file line {position}: want '-----BEGIN PUBLIC KEY-----'")
        label = match.group(1)
        if label != "PUBLIC KEY":
            raise FormatError(
                f"key file line {position}: a {label} block; want PUBLIC KEY"
                + (" (never pass a private key)" if "PRIVATE" in label else "")
            )
        body = []
        while position < len(lines) and lines[position] != "-----END PUBLIC KEY-----":
            body.append(lines[position])
            position += 1
        if position == len(lines):
            raise FormatError("key file: PUBLIC KEY block without its END line")
        position += 1
        try:
            der = base64.b64decode("".join(body), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FormatError(f"key file block {len(keys) + 1}: invalid base64") from exc
        prefix = next((p for p in _SPKI_PREFIXES if der.startswith(p)), None)
        if prefix is None or len(der) != len(prefix) + 32:
            raise FormatError(
                f"key file block {len(keys) + 1}: not an Ed25519 SubjectPublicKeyInfo "
                f"({len(der)} bytes starting {der[:14].hex()})"
            )
        keys.append(link_key(der[len(prefix):]))
        if len(keys) > MAX_KEYS:
            raise FormatError(f"key file: more than {MAX_KEYS} keys")
    return keys


def _key_object(document: Mapping[str, Any]) -> LinkKey:
    what = "in-toto key object"
    allowed = {"keytype", "scheme", "keyval", "keyid_hash_algorithms", "keyid"}
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise FormatError(f"{what}: unknown field(s) {', '.join(repr(u[:40]) for u in unknown)}")
    if document.get("keytype") != "ed25519" or document.get("scheme") != "ed25519":
        raise FormatError(
            f"{what}: keytype {str(document.get('keytype'))[:20]!r} and scheme "
            f"{str(document.get('scheme'))[:20]!r}, want ed25519 and ed25519"
        )
    keyval = document.get("keyval")
    if not isinstance(keyval, Mapping) or set(keyval) - {"public", "private"}:
        raise FormatError(f"{what}: keyval wants an object with 'public'")
    if keyval.get("private"):
        raise FormatError(f"{what}: holds a private key; pass the public key only")
    public = keyval.get("public")
    if not isinstance(public, str) or re.fullmatch(r"[0-9a-f]{64}", public) is None:
        raise FormatError(f"{what}: keyval.public wants 64 lowercase hex characters")
    algorithms = document.get("keyid_hash_algorithms")
    if algorithms is not None and (
        not isinstance(algorithms, list)
        or len(algorithms) > 8
        or not all(isinstance(a, str) and _ALGORITHM.fullmatch(a) for a in algorithms)
    ):
        raise FormatError(f"{what}: keyid_hash_algorithms wants a list of algorithm names")
    key = link_key(bytes.fromhex(public), algorithms)
    if "keyid" in document and document["keyid"] != key.keyid:
        raise FormatError(
            f"{what}: keyid {str(document['keyid'])[:64]} differs from the computed {key.keyid}"
        )
    return key


def parse_link_keys(data: bytes) -> tuple[LinkKey, ...]:
    """The Ed25519 keys in a key file (PEM, in-toto key JSON, or 64 hex characters).

    Raises:
        FormatError: no key, a key of another type, a private key, or a
            malformed file.
    """
    if len(data) > MAX_KEY_FILE_BYTES:
        raise FormatError(f"key file: {len(data)} bytes exceeds {MAX_KEY_FILE_BYTES}")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FormatError(f"key file: non-ASCII byte at {exc.start}") from exc
    stripped = text.strip()
    if stripped.startswith("{"):
        keys = [_key_object(parse_json_object(data, what="key file", max_bytes=len(data)))]
    elif re.fullmatch(r"[0-9a-fA-F]{64}", stripped):
        keys = [link_key(bytes.fromhex(stripped))]
    else:
        keys = _pem_keys(text)
    if not keys:
        raise FormatError("key file: no key (want PEM PUBLIC KEY, an in-toto key, or hex)")
    return tuple(keys)


# --------------------------------------------------------------------------- #
# Links
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class LinkSignature:
    """One entry of ``signatures``: a key ID and the signature bytes."""

    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Link:
    """A parsed (not yet verified) in-toto link.

    Attributes:
        name: The step name (rebuilderd: ``rebuild <file name>``).
        materials: Path to digest set (algorithm to lowercase hex).
        products: Path to digest set.
        command: The command recorded (rebuilderd: empty).
        byproducts: As signed (an object).
        environment: As signed (an object, or None).
        signatures: Every signature, in file order.
        signed_bytes: The canonical JSON of ``signed``: what signatures cover.
        raw: The bytes received.
    """

    name: str
    materials: Mapping[str, Mapping[str, str]]
    products: Mapping[str, Mapping[str, str]]
    command: tuple[str, ...]
    byproducts: Mapping[str, Any]
    environment: Mapping[str, Any] | None
    signatures: tuple[LinkSignature, ...]
    signed_bytes: bytes = field(repr=False)
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class VerifiedLink:
    """A link with a valid signature by ``key``."""

    link: Link
    key: LinkKey


def _string(value: object, what: str, max_chars: int, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise FormatError(f"{what}: want a string")
    if len(value) > max_chars or (not value and not empty):
        low = 0 if empty else 1
        raise FormatError(f"{what}: {len(value)} characters, want {low} to {max_chars}")
    return value


def _artifacts(value: object, what: str) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(value, dict):
        raise FormatError(f"{what}: want an object of path to digests")
    if len(value) > MAX_ARTIFACTS:
        raise FormatError(f"{what}: {len(value)} entries, want at most {MAX_ARTIFACTS}")
    result: dict[str, Mapping[str, str]] = {}
    for path, digests in value.items():
        entry = f"{what} {path[:80]!r}"
        _string(path, f"{what} path", _MAX_PATH_CHARS)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            raise FormatError(f"{entry}: path contains a control character")
        if not isinstance(digests, dict) or not digests or len(digests) > 16:
            raise FormatError(f"{entry}: want an object of 1 to 16 digests")
        for algorithm, hex_value in digests.items():
            if _ALGORITHM.fullmatch(algorithm) is None:
                raise FormatError(f"{entry}: {algorithm[:40]!r} is not a hash algorithm name")
            if not isinstance(hex_value, str) or _HEX.fullmatch(hex_value) is None:
                raise FormatError(f"{entry} {algorithm}: want lowercase hex")
            want = _DIGEST_HEX_CHARS.get(algorithm)
            if (want is not None and len(hex_value) != want) or len(hex_value) % 2 or len(
                hex_value
            ) > 256:
                raise FormatError(
                    f"{entry} {algorithm}: {len(hex_value)} hex characters"
                    + (f", want {want}" if want is not None else ", want an even number to 256")
                )
        result[path] = MappingProxyType(dict(digests))
    return MappingProxyType(result)


def _signatures(value: object) -> tuple[LinkSignature, ...]:
    what = "link signatures"
    if not isinstance(value, list):
        raise FormatError(f"{what}: want an array")
    if len(value) > MAX_SIGNATURES:
        raise FormatError(f"{what}: {len(value)} signatures, want at most {MAX_SIGNATURES}")
    result = []
    seen: set[str] = set()
    for position, item in enumerate(value):
        entry = f"{what}[{position}]"
        if not isinstance(item, dict) or set(item) != {"keyid", "sig"}:
            raise FormatError(f"{entry}: want an object with exactly 'keyid' and 'sig'")
        keyid, sig = item["keyid"], item["sig"]
        if not isinstance(keyid, str) or _KEYID.fullmatch(keyid) is None:
            raise FormatError(f"{entry} keyid: want 64 lowercase hex characters")
        if (
            not isinstance(sig, str)
            or _HEX.fullmatch(sig) is None
            or len(sig) % 2
            or len(sig) > _MAX_SIGNATURE_HEX
        ):
            raise FormatError(
                f"{entry} sig: want lowercase hex of whole bytes, at most {_MAX_SIGNATURE_HEX}"
            )
        if keyid in seen:
            raise FormatError(f"{entry}: key {keyid} signed twice")
        seen.add(keyid)
        result.append(LinkSignature(keyid, bytes.fromhex(sig)))
    return tuple(result)


def parse_link(data: bytes) -> Link:
    """Parse an in-toto link file, strictly.

    Raises:
        FormatError: the size cap, JSON that is not strict, fields missing or
            unknown, a ``_type`` other than ``link``, a malformed digest or
            signature, a count over its cap, or a value the in-toto
            implementations would sign differently.
    """
    document = parse_json_object(data, what="in-toto link", max_bytes=MAX_LINK_BYTES)
    if set(document) != {"signatures", "signed"}:
        fields = ", ".join(sorted(repr(k[:40]) for k in document)) or "none"
        raise FormatError(f"in-toto link: want fields 'signatures' and 'signed' (got {fields})")
    signatures = _signatures(document["signatures"])
    signed = document["signed"]
    what = "in-toto link signed"
    if not isinstance(signed, dict):
        raise FormatError(f"{what}: want an object")
    if signed.get("_type") != "link":
        raise FormatError(f"{what} _type: {str(signed.get('_type'))[:40]!r}, want 'link'")
    missing = sorted(_LINK_FIELDS - set(signed))
    unknown = sorted(set(signed) - _LINK_FIELDS)
    if missing or unknown:
        raise FormatError(
            f"{what}: missing {', '.join(missing) or 'nothing'}; "
            f"unknown {', '.join(repr(u[:40]) for u in unknown) or 'nothing'}"
        )
    name = _string(signed["name"], f"{what} name", _MAX_NAME_CHARS, empty=True)
    materials = _artifacts(signed["materials"], f"{what} materials")
    products = _artifacts(signed["products"], f"{what} products")
    command = signed["command"]
    if not isinstance(command, list) or len(command) > _MAX_COMMAND_ITEMS:
        raise FormatError(f"{what} command: want an array of at most {_MAX_COMMAND_ITEMS}")
    for position, item in enumerate(command):
        _string(item, f"{what} command[{position}]", _MAX_PATH_CHARS, empty=True)
    byproducts = signed["byproducts"]
    if not isinstance(byproducts, dict):
        raise FormatError(f"{what} byproducts: want an object")
    environment = signed["environment"]
    if environment is not None and not isinstance(environment, dict):
        raise FormatError(f"{what} environment: want an object or null")
    signed_bytes = encode_canonical(signed, what=what)
    return Link(
        name=name,
        materials=materials,
        products=products,
        command=tuple(command),
        byproducts=MappingProxyType(byproducts),
        environment=None if environment is None else MappingProxyType(environment),
        signatures=signatures,
        signed_bytes=signed_bytes,
        raw=bytes(data),
    )


def verify_link(link: Link, keys: Iterable[LinkKey]) -> VerifiedLink:
    """Check that one of ``keys`` signed ``link``, as in-toto does.

    1. Find the signatures whose key ID is one of the keys' (other
       signatures are ignored: other rebuilders may have cosigned).
    2. Verify each over the canonical JSON of ``signed``; the first that
       verifies decides. A bad signature from a listed key is an attack
       signal, so it fails the link even if another listed key signed too.

    Raises:
        SignatureError: no signature by any of the keys, or one that does
            not verify (the message names key IDs and the link).
    """
    by_keyid = {key.keyid: key for key in keys}
    if not by_keyid:
        raise TypeError("verify_link: no keys given")
    found: VerifiedLink | None = None
    for signature in link.signatures:
        key = by_keyid.get(signature.keyid)
        if key is None:
            continue
        if not key.verify(link.signed_bytes, signature.sig):
            raise SignatureError(
                f"in-toto link {link.name[:80]!r}: the signature by key {key.keyid} "
                "does not verify (changed after signing?)"
            )
        found = found or VerifiedLink(link, key)
    if found is None:
        signed_by = ", ".join(s.keyid[:16] for s in link.signatures) or "nobody"
        wanted = ", ".join(k[:16] for k in by_keyid)
        raise SignatureError(
            f"in-toto link {link.name[:80]!r}: no signature by the rebuilderd key(s) "
            f"{wanted} (signed by: {signed_by})"
        )
    return found
