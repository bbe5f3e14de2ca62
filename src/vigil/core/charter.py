"""The charter: the foundation's readable, threshold-signed assignment of roles.

A charter is one TOML document per version (DESIGN.md "The charter"). It
names itself (name, version N, SHA-256 of version N-1's exact bytes), the
foundation keys and threshold, the logs, the witnesses and their quorum
(c2sp.org/tlog-policy semantics, built as a :class:`vigil.core.policy.Policy`),
the security team, the teams, the revoked keys and, per repository, its
format, publishers and threshold, the rebuilders and how many must attest,
the freshness window, what a stale view does, the grace period and,
optionally, per-package owners with a janitor quorum (Conex; see
:mod:`vigil.core.owners` and ADR 0010)::

    [charter]
    name = "example-distro"
    version = 2
    previous = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

    [foundation]
    threshold = 2
    keys = ["alice+1a2b3c4d+AQ...", "bob+...", "carol+..."]

    [[log]]
    origin = "log.example.org/vigil"
    key = "log.example.org/vigil+0badc0de+AQ..."
    urls = ["https://log.example.org/vigil"]

    [witnesses]
    quorum = "auditors"            # a witness or group name, or "none"

    [[witnesses.witness]]
    name = "w1"
    key = "w1.example+...+BA..."   # cosignature/v1 key (type 0x04)
    url = "https://w1.example/"    # optional
    auditing = true                # optional: it replays entries and the status map

    [[witnesses.group]]
    name = "auditors"
    threshold = 2                  # a number, "all" or "any"
    members = ["w1", "w2", "w3"]

    [security]
    threshold = 1
    keys = ["security+...+AQ..."]

    [[repository]]
    name = "tumbleweed-oss"
    format = "rpm-md"              # rpm-md, deb, arch, opam, oci or generic
    publishers = ["obs1+...", "obs2+..."]
    publisher_threshold = 2
    rebuilders = ["rb1+...", "rb2+..."]   # optional (default none)
    rebuilds_required = 1
    freshness_s = 86400            # oldest witness cosignature a client accepts
    stale = "reject"               # or "warn"
    grace_s = 21600                # optional (default 0)
    janitors = "janitors"          # optional: a [[team]]; turns on package owners
    janitor_threshold = 2          # with janitors: 1 to team size, >= 2 if 2+ keys

    [repository.owners]            # optional, needs janitors: package -> owners
    kernel-default = ["alice+...+AQ...", "team:kernel"]   # keys or team:NAME
    "python3.11" = ["team:python"]                         # quote names with dots

    [[team]]                       # a named set of keys (owners, janitors)
    name = "janitors"
    keys = ["j1+...+AQ...", "j2+...+AQ...", "j3+...+AQ..."]

    [[revoked]]
    key = "mallory+...+AQ..."
    from_index = 1200              # entries at or after this log index don't count
    reason = "laptop stolen"       # optional

Parsing (:func:`parse_charter`) is strict: valid UTF-8 TOML (``tomllib``),
no unknown tables or keys, every key an Ed25519 note key (type 0x01) except
witness keys (cosignature/v1, type 0x04), no key listed twice in one role
(compared by public key), thresholds 1 <= t <= n, team names unique and
every ``team:NAME`` and ``janitors`` naming one, owner lists non-empty with no
owner twice, package names valid for the repository's format
(:func:`vigil.core.packages.check_package_name`), and owners only with
janitors. Errors name the line and the field: ``charter line 23 (repository
"tumbleweed-oss" publisher_threshold): got 3, want 1 to 2 (the number of
publishers)``.

Signing: a charter version is signed as an in-toto Statement v1 in a DSSE
envelope (:func:`charter_statement`): its subject's sha256 is the digest of
the charter's exact bytes and its predicate carries the exact text, so one
envelope is at once the detached signature file that key holders pass around
(each adds a signature with :func:`vigil.core.dsse.add_signatures`), what a
distribution ships as its trust root, and the log entry. See ADR 0001.

Rules (TUF-style, no expiry; :func:`check_genesis`, :func:`check_successor`):
version 1 names no predecessor and is signed by its own foundation's
threshold; version N+1 names version N's digest and is signed by the
threshold of version N's foundation AND of its own; versions step by exactly
one; a key counts once however often it signs.

No I/O, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from vigil.core.cosignature import CosignatureVerifier
from vigil.core.dsse import (
    PAYLOAD_TYPE_INTOTO,
    Envelope,
    VerificationResult,
    pae,
)
from vigil.core.intoto import Statement, Subject, build_statement, parse_statement
from vigil.core.note import Ed25519Verifier, Verifier, parse_verifier_key
from vigil.core.owners import TEAM_PREFIX, Owner, Ownership, Team, check_key_set
from vigil.core.packages import check_package_name
from vigil.core.policy import QUORUM_NONE, Policy, PolicyGroup, PolicyLog, PolicyWitness
from vigil.errors import FormatError, PolicyError, RollbackError, ThresholdError

__all__ = [
    "CHARTER_PREDICATE_TYPE",
    "FORMATS",
    "MAX_CHARTER_BYTES",
    "STALE_ACTIONS",
    "Charter",
    "CharterLog",
    "Repository",
    "Revoked",
    "Role",
    "SignedCharter",
    "VerifiedCharter",
    "charter_statement",
    "check_genesis",
    "check_successor",
    "describe_key",
    "digest_text",
    "envelope_signers",
    "parse_charter",
    "parse_charter_statement",
    "parse_digest",
    "parse_signed_charter",
    "verify_chain",
]

CHARTER_PREDICATE_TYPE = "https://vigil.dev/charter/v1"
"""predicateType of a charter statement (the log's ``charter`` kind)."""

FORMATS = ("rpm-md", "deb", "arch", "opam", "oci", "generic")
"""Repository formats, each with its own notion of the state digest (DESIGN.md)."""

STALE_ACTIONS = ("reject", "warn")
"""What a client does when it cannot get a fresh enough view."""

MAX_CHARTER_BYTES = 40 * 1024
"""Largest charter. The statement carrying it must fit one log entry (64 KiB of
canonical DSSE JSON, i.e. base64 of the statement plus signatures)."""

MAX_KEYS_PER_ROLE = 64
"""Most keys in one role (foundation, publishers, rebuilders, security)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+~-]{0,255}")
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_MAX_TEXT_CHARS = 1024
_MAX_URLS = 16
_MAX_DURATION_S = 10 * 365 * 86400
_MAX_INDEX = 2**63 - 1


def digest_text(digest: bytes) -> str:
    """``sha256:<hex>``, how charters and records spell a SHA-256 digest."""
    return f"sha256:{digest.hex()}"


def parse_digest(text: object, *, what: str) -> bytes:
    """Parse ``sha256:<64 lowercase hex>`` into 32 bytes.

    Raises:
        FormatError: naming ``what``.
    """
    if not isinstance(text, str):
        raise FormatError(f"{what}: want a string \"sha256:<hex>\" (got {_type_name(text)})")
    match = _DIGEST.fullmatch(text)
    if match is None:
        raise FormatError(f"{what}: {text[:80]!r} is not sha256:<64 lowercase hex digits>")
    return bytes.fromhex(match.group(1))


def describe_key(verifier: Ed25519Verifier | CosignatureVerifier) -> str:
    """A key as people read it: ``name (hex8)``."""
    return f"{verifier.name} ({verifier.key_hash.hex()})"


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Role:
    """A set of keys and how many of them must sign.

    Attributes:
        keys: The Ed25519 note keys, distinct by public key.
        threshold: How many distinct keys must sign, 1 <= threshold <= len(keys).

    Raises:
        FormatError: (on construction) if an invariant does not hold.
    """

    keys: tuple[Ed25519Verifier, ...]
    threshold: int
    _by_vkey: Mapping[str, Ed25519Verifier] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_set(self.keys, what="role", note="; a key counts once")
        if len(self.keys) > MAX_KEYS_PER_ROLE:
            raise FormatError(f"role: {len(self.keys)} keys, want at most {MAX_KEYS_PER_ROLE}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise FormatError("role: threshold must be an integer")
        if not 1 <= self.threshold <= len(self.keys):
            raise FormatError(
                f"role: threshold {self.threshold} out of range "
                f"(want 1 to {len(self.keys)}, the number of keys)"
            )
        object.__setattr__(
            self, "_by_vkey", MappingProxyType({key.vkey: key for key in self.keys})
        )

    @property
    def vkeys(self) -> tuple[str, ...]:
        """The keys as verifier key strings."""
        return tuple(self._by_vkey)

    def holds(self, vkey: str) -> bool:
        """Whether ``vkey`` (exactly, name and key) is one of the role's keys."""
        return vkey in self._by_vkey

    def evaluate(self, signers: Iterable[str]) -> VerificationResult:
        """Which of the role's keys are among ``signers``, against the threshold.

        Args:
            signers: Verifier keys whose signatures were verified (over the
                statement being judged). Unknown keys are ignored; a key
                listed twice counts once.

        Returns:
            The result (see :attr:`VerificationResult.met`); names are
            ``name (hex8)``.
        """
        signed = {self._by_vkey[s].public_key for s in signers if s in self._by_vkey}
        return VerificationResult(
            threshold=self.threshold,
            signed=tuple(describe_key(k) for k in self.keys if k.public_key in signed),
            missing=tuple(describe_key(k) for k in self.keys if k.public_key not in signed),
        )


@dataclass(frozen=True, slots=True)
class CharterLog:
    """A log the charter names.

    Attributes:
        origin: Its checkpoint origin (equal to its key's name).
        key: Its Ed25519 checkpoint key.
        urls: Where to reach it (the log itself, then mirrors).
    """

    origin: str
    key: Ed25519Verifier
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Repository:
    """One repository's rules.

    Attributes:
        name: The repository name (unique in the charter).
        format: One of :data:`FORMATS`.
        publishers: Who may log releases, and how many must sign each.
        rebuilders: Whose rebuild attestations count (may be empty).
        rebuilds_required: How many distinct rebuilders must report
            "reproduced" for a client to accept a release (0: none).
        freshness_s: Oldest witness cosignature a client accepts, in seconds.
        stale: What a client does without a fresh view: ``reject`` or ``warn``.
        grace_s: How long a superseded release is still accepted (mirrors lag).
        ownership: Per-package owners and the janitor quorum (Conex), or
            None: then only the publishers' threshold applies.
    """

    name: str
    format: str
    publishers: Role
    rebuilders: tuple[Ed25519Verifier, ...]
    rebuilds_required: int
    freshness_s: int
    stale: Literal["reject", "warn"]
    grace_s: int = 0
    ownership: Ownership | None = None

    def is_rebuilder(self, vkey: str) -> bool:
        """Whether ``vkey`` is one of the registered rebuilders."""
        return any(key.vkey == vkey for key in self.rebuilders)


@dataclass(frozen=True, slots=True)
class Revoked:
    """A key the charter revokes.

    Attributes:
        key: The revoked key.
        from_index: Signatures by it on entries at or after this log index
            do not count (the log refuses such entries).
        reason: Free text for people.
    """

    key: Ed25519Verifier
    from_index: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Charter:
    """One parsed charter version; built only by :func:`parse_charter`.

    Attributes:
        raw: The exact bytes (what is hashed and signed).
        name: The charter's name, stable across versions.
        version: Its version number, from 1.
        previous: SHA-256 of version ``version - 1``'s bytes (None for version 1).
        foundation: The foundation keys and threshold.
        logs: The logs, in document order.
        witnesses: The witness policy (tlog-policy semantics), with the logs.
        auditing_witnesses: Names of the witnesses that audit the status map.
        security: The security team, or None if the charter names none.
        repositories: Repository name to its rules, in document order.
        revoked: Revoked keys.
        teams: Team name to team (``[[team]]``), in document order.
    """

    raw: bytes = field(repr=False)
    name: str
    version: int
    previous: bytes | None
    foundation: Role
    logs: tuple[CharterLog, ...]
    witnesses: Policy
    auditing_witnesses: frozenset[str]
    security: Role | None
    repositories: Mapping[str, Repository]
    revoked: tuple[Revoked, ...]
    teams: Mapping[str, Team] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def digest(self) -> bytes:
        """SHA-256 of :attr:`raw`."""
        return hashlib.sha256(self.raw).digest()

    @property
    def label(self) -> str:
        """``charter NAME vN``, for messages."""
        return f"charter {self.name} v{self.version}"

    def repository(self, name: str) -> Repository:
        """The rules of repository ``name``.

        Raises:
            PolicyError: the charter does not name it.
        """
        rules = self.repositories.get(name)
        if rules is None:
            raise PolicyError(f"{self.label} does not name repository {name[:120]!r}")
        return rules

    def revoked_from(self, vkey: str) -> int | None:
        """The log index from which ``vkey``'s signatures don't count, or None.

        A key is revoked by public key, whatever name it is listed under.
        """
        try:
            verifier = parse_verifier_key(vkey)
        except FormatError:
            return None
        public_key = getattr(verifier, "public_key", None)
        for item in self.revoked:
            if item.key.public_key == public_key:
                return item.from_index
        return None


# --------------------------------------------------------------------------- #
# Parsing
# --------------------------------------------------------------------------- #


@functools.lru_cache(maxsize=1024)
def _parse_key(text: str) -> Verifier:
    """:func:`parse_verifier_key`, once per distinct key text: a charter names the
    same publisher and rebuilder keys for many repositories, and verifiers are
    immutable, so sharing one is safe (errors are raised again, not cached)."""
    return parse_verifier_key(text)


class _Locator:
    """Maps (table path, key) to the line where the key is written, for messages.

    A light scan of the TOML text: table headers ``[a.b]`` and array-of-tables
    headers ``[[a.b]]`` (counted, so the third ``[[repository]]`` is
    ``("repository", 2)``), and ``key =`` lines. Multi-line strings are
    skipped. Good enough to point people at a line; parsing itself is
    ``tomllib``'s. The scan runs on the first lookup, i.e. only when a
    message needs a line: a valid charter is parsed on every ``vigil verify``.
    """

    _HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.\- ]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r"""\s*(?:"([^"\\]*)"|'([^']*)'|([A-Za-z0-9_\-]+))\s*=""")

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._lines: dict[tuple[tuple[str | int, ...], str], int] = {}
        self._tables: dict[tuple[str | int, ...], int] = {}

    def _scan(self, text: str) -> None:
        counters: dict[tuple[str | int, ...], int] = {}
        current: tuple[str | int, ...] = ()
        in_multiline: str | None = None
        for number, line in enumerate(text.split("\n"), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            header = self._HEADER.match(line)
            if header is not None:
                parts = tuple(p.strip() for p in header.group(2).split("."))
                base: tuple[str | int, ...] = ()
                # Resolve array-of-tables prefixes to their current element.
                for depth, part in enumerate(parts):
                    base = (*base, part)
                    if depth < len(parts) - 1 and base in counters:
                        base = (*base, counters[base] - 1)
                if header.group(1) == "[[":
                    counters[base] = counters.get(base, 0) + 1
                    base = (*base, counters[base] - 1)
                current = base
                self._tables.setdefault(current, number)
                continue
            key = self._KEY.match(line)
            if key is not None:
                name = next(g for g in key.groups() if g is not None)
                self._lines.setdefault((current, name), number)
                for quote in ('"""', "'''"):
                    if line.count(quote) % 2 == 1:
                        in_multiline = quote

    def line(self, table: tuple[str | int, ...], key: str | None) -> int | None:
        if self._text is not None:
            self._scan(self._text)
            self._text = None
        if key is not None:
            key = re.sub(r"\[\d+\]$", "", key)  # "keys[2]": the line of "keys ="
            found = self._lines.get((table, key)) or self._tables.get((*table, key))
            if found is None:
                found = self._tables.get((*table, key, 0))
            if found is not None:
                return found
        return self._tables.get(table)


class _Table:
    """One TOML table being read: typed field access, unknown-key check, messages."""

    def __init__(
        self, data: object, path: tuple[str | int, ...], label: str, locator: _Locator
    ) -> None:
        self.path = path
        self.label = label
        self._locator = locator
        if not isinstance(data, dict):
            raise self.error(None, f"want a table (got {_type_name(data)})")
        self._data: dict[str, Any] = data
        self._taken: set[str] = set()

    def error(self, key: str | None, problem: str) -> FormatError:
        line = self._locator.line(self.path, key)
        where = f"charter line {line}" if line is not None else "charter"
        subject = self.label if key is None else f"{self.label} {key}".strip()
        return FormatError(f"{where} ({subject}): {problem}")

    def has(self, key: str) -> bool:
        return key in self._data

    def names(self) -> Iterator[str]:
        """Every key of the table, in document order (for tables keyed by data)."""
        return iter(self._data)

    def raw(self, key: str) -> Any:
        self._taken.add(key)
        return self._data.get(key)

    def string(self, key: str, *, required: bool = True, default: str = "") -> str:
        if key not in self._data:
            if required:
                raise self.error(None, f"missing required key {key!r}")
            return default
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.error(key, f"want a string (got {_type_name(value)})")
        if len(value) > _MAX_TEXT_CHARS:
            raise self.error(key, f"{len(value)} characters, want at most {_MAX_TEXT_CHARS}")
        return value

    def name(self, key: str) -> str:
        value = self.string(key)
        if _NAME.fullmatch(value) is None:
            raise self.error(
                key,
                f"{value[:80]!r} is not a valid name (want 1 to 256 of "
                "A-Z a-z 0-9 . _ : / @ + ~ -, starting with a letter or digit)",
            )
        return value

    def integer(
        self, key: str, low: int, high: int, *, required: bool = True, default: int = 0,
        why: str = "",
    ) -> int:
        if key not in self._data:
            if required:
                raise self.error(None, f"missing required key {key!r}")
            return default
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"want an integer (got {_type_name(value)})")
        if not low <= value <= high:
            raise self.error(key, f"got {value}, want {low} to {high}{why}")
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        if key not in self._data:
            return default
        value = self.raw(key)
        if not isinstance(value, bool):
            raise self.error(key, f"want true or false (got {_type_name(value)})")
        return value

    def choice(self, key: str, choices: Sequence[str]) -> str:
        value = self.string(key)
        if value not in choices:
            raise self.error(key, f"got {value[:40]!r}, want one of {', '.join(choices)}")
        return value

    def strings(self, key: str, *, required: bool = True, max_items: int = 1024) -> list[str]:
        if key not in self._data:
            if required:
                raise self.error(None, f"missing required key {key!r}")
            return []
        value = self.raw(key)
        if not isinstance(value, list):
            raise self.error(key, f"want an array of strings (got {_type_name(value)})")
        if len(value) > max_items:
            raise self.error(key, f"{len(value)} items, want at most {max_items}")
        for position, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{position}]", f"want a string (got {_type_name(item)})")
        return list(value)

    def keys(self, key: str, *, required: bool = True) -> list[Ed25519Verifier]:
        result = []
        for position, text in enumerate(
            self.strings(key, required=required, max_items=MAX_KEYS_PER_ROLE)
        ):
            result.append(self.ed25519_key(f"{key}[{position}]", text))
        return result

    def ed25519_key(self, where: str, text: str) -> Ed25519Verifier:
        try:
            verifier = _parse_key(text)
        except FormatError as exc:
            raise self.error(where, f"not a verifier key ({exc})") from exc
        if not isinstance(verifier, Ed25519Verifier):
            raise self.error(
                where,
                f"key {verifier.name} is not an Ed25519 signing key (type 0x01) "
                f"(got {type(verifier).__name__})",
            )
        return verifier

    def tables(self, key: str, label: str) -> list[_Table]:
        if key not in self._data:
            return []
        value = self.raw(key)
        if not isinstance(value, list):
            raise self.error(key, f"want an array of tables [[{key}]] (got {_type_name(value)})")
        return [
            _Table(item, (*self.path, key, position), f"{label} #{position + 1}", self._locator)
            for position, item in enumerate(value)
        ]

    def table(self, key: str, label: str, *, required: bool) -> _Table | None:
        if key not in self._data:
            if required:
                raise self.error(None, f"missing required table [{key}]")
            return None
        return _Table(self.raw(key), (*self.path, key), label, self._locator)

    def done(self) -> None:
        unknown = [key for key in self._data if key not in self._taken]
        if unknown:
            raise self.error(
                unknown[0],
                f"unknown key(s) {', '.join(repr(k[:40]) for k in unknown[:5])}",
            )

    def role(self, keys_key: str, threshold_key: str, what: str) -> Role:
        keys = self.keys(keys_key)
        if not keys:
            raise self.error(keys_key, f"want at least one {what} key")
        seen: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            if key.public_key in seen:
                raise self.error(
                    f"{keys_key}[{position}]",
                    f"key {describe_key(key)} is listed twice "
                    f"(also {keys_key}[{seen[key.public_key]}]); a key counts once",
                )
            seen[key.public_key] = position
        threshold = self.integer(
            threshold_key, 1, len(keys), why=f" (the number of {what} keys)"
        )
        return Role(tuple(keys), threshold)


def _decode(data: bytes) -> str:
    if not isinstance(data, bytes):
        raise TypeError(f"charter: want bytes, got {type(data).__name__}")
    if len(data) > MAX_CHARTER_BYTES:
        raise FormatError(f"charter: {len(data)} bytes, want at most {MAX_CHARTER_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FormatError(f"charter line {line}: invalid UTF-8 at byte {exc.start}") from exc
    if text.startswith("\ufeff"):
        raise FormatError("charter line 1: starts with a byte order mark (want plain UTF-8)")
    return text


def parse_charter(data: bytes) -> Charter:
    """Parse one charter version from its exact bytes, strictly.

    Args:
        data: The TOML document.

    Returns:
        The charter (nothing about its signatures is known yet).

    Raises:
        FormatError: not UTF-8 or not TOML (with tomllib's line and column),
            an unknown table or key, a missing or mistyped value, a bad key, a
            threshold out of range, a repeated name or key (each message
            names the line and the field).
    """
    text = _decode(data)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"charter: invalid TOML: {exc}") from exc
    locator = _Locator(text)
    top = _Table(document, (), "", locator)

    # [charter]
    head = top.table("charter", "[charter]", required=True)
    assert head is not None
    name = head.name("name")
    version = head.integer("version", 1, _MAX_INDEX)
    previous: bytes | None = None
    if head.has("previous"):
        try:
            previous = parse_digest(head.raw("previous"), what="previous")
        except FormatError as exc:
            raise head.error("previous", str(exc)) from exc
    if version == 1 and previous is not None:
        raise head.error("previous", "version 1 has no previous version (remove 'previous')")
    if version > 1 and previous is None:
        raise head.error(
            None, f"version {version} must name the sha256 of version {version - 1} in 'previous'"
        )
    head.done()

    # [foundation]
    foundation_table = top.table("foundation", "[foundation]", required=True)
    assert foundation_table is not None
    foundation = foundation_table.role("keys", "threshold", "foundation")
    foundation_table.done()

    # [[log]]
    logs = []
    policy_logs = []
    origins: set[str] = set()
    for table in top.tables("log", "[[log]]"):
        origin = table.string("origin")
        key = table.ed25519_key("key", table.string("key"))
        if key.name != origin:
            raise table.error(
                "key", f"key name {key.name!r} differs from the origin {origin!r} (want equal)"
            )
        if origin in origins:
            raise table.error("origin", f"log {origin!r} is listed twice")
        origins.add(origin)
        urls = table.strings("urls", required=False, max_items=_MAX_URLS)
        for position, url in enumerate(urls):
            if not url.startswith(("https://", "http://")) or any(c.isspace() for c in url):
                raise table.error(f"urls[{position}]", f"{url[:80]!r} is not an http(s) URL")
        table.done()
        logs.append(CharterLog(origin, key, tuple(urls)))
        policy_logs.append((table, PolicyLog(key, urls[0] if urls else None)))

    # [witnesses]
    witnesses, auditing = _parse_witnesses(top, policy_logs)

    # [security]
    security = None
    security_table = top.table("security", "[security]", required=False)
    if security_table is not None:
        security = security_table.role("keys", "threshold", "security team")
        security_table.done()

    # [[team]]
    teams = _parse_teams(top)

    # [[repository]]
    repositories: dict[str, Repository] = {}
    for table in top.tables("repository", "[[repository]]"):
        repo = _parse_repository(table, teams)
        if repo.name in repositories:
            raise table.error("name", f"repository {repo.name!r} is listed twice")
        repositories[repo.name] = repo

    # [[revoked]]
    revoked = []
    revoked_keys: set[bytes] = set()
    for table in top.tables("revoked", "[[revoked]]"):
        key = table.ed25519_key("key", table.string("key"))
        if key.public_key in revoked_keys:
            raise table.error("key", f"key {describe_key(key)} is revoked twice")
        revoked_keys.add(key.public_key)
        revoked.append(
            Revoked(
                key,
                table.integer("from_index", 0, _MAX_INDEX),
                table.string("reason", required=False),
            )
        )
        table.done()

    top.done()
    return Charter(
        raw=bytes(data),
        name=name,
        version=version,
        previous=previous,
        foundation=foundation,
        logs=tuple(logs),
        witnesses=witnesses,
        auditing_witnesses=frozenset(auditing),
        security=security,
        repositories=MappingProxyType(repositories),
        revoked=tuple(revoked),
        teams=MappingProxyType(teams),
    )


def _parse_witnesses(
    top: _Table, policy_logs: list[tuple[_Table, PolicyLog]]
) -> tuple[Policy, set[str]]:
    table = top.table("witnesses", "[witnesses]", required=False)
    logs = tuple(log for _, log in policy_logs)
    if table is None:
        try:
            return Policy(logs, (), (), QUORUM_NONE), set()
        except FormatError as exc:
            raise top.error("log", str(exc)) from exc
    quorum = table.string("quorum")
    witnesses = []
    auditing: set[str] = set()
    for item in table.tables("witness", "[[witnesses.witness]]"):
        name = item.string("name")
        text = item.string("key")
        try:
            verifier = parse_verifier_key(text)
        except FormatError as exc:
            raise item.error("key", f"not a verifier key ({exc})") from exc
        if not isinstance(verifier, CosignatureVerifier):
            raise item.error(
                "key",
                f"witness key {verifier.name} must be a cosignature/v1 key (type 0x04), "
                f"got {type(verifier).__name__}",
            )
        url = item.string("url", required=False) or None
        if item.boolean("auditing", default=False):
            auditing.add(name)
        item.done()
        try:
            witnesses.append(PolicyWitness(name, verifier, url))
        except FormatError as exc:
            raise item.error(None, str(exc)) from exc
    groups = []
    for item in table.tables("group", "[[witnesses.group]]"):
        name = item.string("name")
        raw_threshold = item.raw("threshold")
        threshold: int | Literal["all", "any"]
        if raw_threshold in ("all", "any") or (
            isinstance(raw_threshold, int) and not isinstance(raw_threshold, bool)
        ):
            threshold = raw_threshold
        else:
            raise item.error("threshold", "want a number, \"all\" or \"any\"")
        members = item.strings("members")
        item.done()
        try:
            groups.append(PolicyGroup(name, threshold, tuple(members)))
        except FormatError as exc:
            raise item.error(None, str(exc)) from exc
    table.done()
    try:
        return Policy(logs, tuple(witnesses), tuple(groups), quorum), auditing
    except FormatError as exc:
        raise table.error("quorum", f"witness policy: {exc}") from exc


def _parse_teams(top: _Table) -> dict[str, Team]:
    teams: dict[str, Team] = {}
    for table in top.tables("team", "[[team]]"):
        name = table.name("name")
        table.label = f"team {name!r}"
        if name in teams:
            raise table.error("name", f"team {name!r} is listed twice")
        keys = table.keys("keys")
        if not keys:
            raise table.error("keys", "want at least one key")
        seen: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            if key.public_key in seen:
                raise table.error(
                    f"keys[{position}]",
                    f"key {describe_key(key)} is listed twice (also keys[{seen[key.public_key]}])",
                )
            seen[key.public_key] = position
        table.done()
        teams[name] = Team(name, tuple(keys))
    return teams


def _parse_owner(table: _Table, where: str, text: str, teams: Mapping[str, Team]) -> Owner:
    if text.startswith(TEAM_PREFIX):
        team = teams.get(text[len(TEAM_PREFIX):])
        if team is None:
            known = ", ".join(repr(t) for t in teams) or "none"
            raise table.error(
                where, f"unknown team {text[len(TEAM_PREFIX):][:80]!r} (teams: {known})"
            )
        return Owner(team=team)
    return Owner(key=table.ed25519_key(where, text))


def _parse_ownership(
    table: _Table, repo_format: str, teams: Mapping[str, Team]
) -> Ownership | None:
    """``janitors``, ``janitor_threshold`` and ``[repository.owners]`` (ADR 0010)."""
    owners_table = table.table("owners", f"{table.label} owners", required=False)
    if not table.has("janitors"):
        if owners_table is not None or table.has("janitor_threshold"):
            raise table.error(
                "owners" if owners_table is not None else "janitor_threshold",
                "package owners need a janitor team: add janitors = \"TEAM\" and "
                "janitor_threshold = K (janitors are in charge of package names)",
            )
        return None
    janitor_name = table.string("janitors")
    janitors = teams.get(janitor_name)
    if janitors is None:
        known = ", ".join(repr(t) for t in teams) or "none"
        raise table.error("janitors", f"unknown team {janitor_name[:80]!r} (teams: {known})")
    size = len(janitors.keys)
    low = 1 if size == 1 else 2
    threshold = table.integer(
        "janitor_threshold", low, size,
        why=f" (team {janitor_name!r} has {size} key{'s' if size != 1 else ''}"
        + ("; a single janitor cannot modify packages)" if size > 1 else ")"),
    )
    packages: dict[str, tuple[Owner, ...]] = {}
    if owners_table is not None:
        for package in list(owners_table.names()):
            try:
                check_package_name(repo_format, package)
            except FormatError as exc:
                raise owners_table.error(package, str(exc)) from exc
            texts = owners_table.strings(package, max_items=MAX_KEYS_PER_ROLE)
            if not texts:
                raise owners_table.error(package, "want at least one owner (a key or team:NAME)")
            owners: list[Owner] = []
            seen: set[str | bytes] = set()
            for position, text in enumerate(texts):
                owner = _parse_owner(owners_table, f"{package}[{position}]", text, teams)
                # A key counts by its public key, whatever name it is listed under.
                identity = owner.team.name if owner.team else owner.keys[0].public_key
                if identity in seen:
                    raise owners_table.error(
                        f"{package}[{position}]", f"owner {owner.describe()} is listed twice"
                    )
                seen.add(identity)
                owners.append(owner)
            packages[package] = tuple(owners)
        owners_table.done()
    return Ownership(packages, janitors, threshold)


def _parse_repository(table: _Table, teams: Mapping[str, Team]) -> Repository:
    name = table.name("name")
    table.label = f"repository {name!r}"
    repo_format = table.choice("format", FORMATS)
    publishers = table.role("publishers", "publisher_threshold", "publisher")
    rebuilders = table.keys("rebuilders", required=False)
    seen: set[bytes] = set()
    for position, key in enumerate(rebuilders):
        if key.public_key in seen:
            raise table.error(
                f"rebuilders[{position}]", f"key {describe_key(key)} is listed twice"
            )
        seen.add(key.public_key)
    rebuilds_required = table.integer(
        "rebuilds_required", 0, len(rebuilders), why=" (the number of rebuilders)"
    )
    freshness_s = table.integer("freshness_s", 1, _MAX_DURATION_S)
    stale = table.choice("stale", STALE_ACTIONS)
    grace_s = table.integer("grace_s", 0, _MAX_DURATION_S, required=False)
    ownership = _parse_ownership(table, repo_format, teams)
    table.done()
    return Repository(
        name=name,
        format=repo_format,
        publishers=publishers,
        rebuilders=tuple(rebuilders),
        rebuilds_required=rebuilds_required,
        freshness_s=freshness_s,
        stale="reject" if stale == "reject" else "warn",
        grace_s=grace_s,
        ownership=ownership,
    )


# --------------------------------------------------------------------------- #
# Signatures: the charter statement, and the chain rules
# --------------------------------------------------------------------------- #


def charter_statement(charter: Charter) -> Statement:
    """The in-toto statement that key holders sign for a charter version.

    Its subject is ``{"name": "<name> v<N>", "digest": {"sha256": <hex of
    the charter bytes>}}`` and its predicate ``{"charter": "<the exact
    text>"}``. Deterministic: everyone who builds it from the same bytes
    signs the same payload.
    """
    subject = Subject(
        name=f"{charter.name} v{charter.version}", digest={"sha256": charter.digest.hex()}
    )
    return build_statement(
        [subject], CHARTER_PREDICATE_TYPE, {"charter": charter.raw.decode("utf-8")}
    )


def parse_charter_statement(statement: Statement) -> Charter:
    """The charter a charter statement carries, checked against its subject.

    Raises:
        FormatError: another predicateType, a predicate other than
            ``{"charter": TEXT}``, a subject that is not exactly the charter's
            name, version and digest, or a charter that does not parse.
    """
    what = "charter statement"
    if statement.predicate_type != CHARTER_PREDICATE_TYPE:
        raise FormatError(
            f"{what}: predicateType {statement.predicate_type[:80]!r}, "
            f"want {CHARTER_PREDICATE_TYPE!r}"
        )
    predicate = statement.predicate
    if set(predicate) != {"charter"} or not isinstance(predicate["charter"], str):
        raise FormatError(f"{what}: predicate must be exactly {{\"charter\": <TOML text>}}")
    charter = parse_charter(predicate["charter"].encode("utf-8"))
    if len(statement.subjects) != 1:
        raise FormatError(f"{what}: want exactly one subject (got {len(statement.subjects)})")
    subject = statement.subjects[0]
    want_name = f"{charter.name} v{charter.version}"
    if subject.name != want_name or dict(subject.digest) != {"sha256": charter.digest.hex()}:
        raise FormatError(
            f"{what}: subject {subject.name!r} {dict(subject.digest)} does not match the "
            f"charter it carries ({want_name!r}, sha256 {charter.digest.hex()})"
        )
    return charter


def envelope_signers(
    envelope: Envelope, *, parse_key: Callable[[str], Verifier] = parse_verifier_key
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Verify each signature of an envelope under the key its keyid names.

    Vigil writes each signer's full verifier key as the DSSE keyid
    (:func:`vigil.core.dsse.sign_envelope`); whether that key holds a role is
    decided afterwards, against a charter.

    Args:
        envelope: A parsed envelope.
        parse_key: :func:`~vigil.core.note.parse_verifier_key`, or a cache in
            front of it (a replay sees the same few keys again and again).

    Returns:
        (valid, invalid): the distinct Ed25519 verifier keys whose signature
        verified, in envelope order; and the keyids whose signature did not
        verify or that are not Ed25519 verifier keys.
    """
    message = pae(envelope.payload_type, envelope.payload)
    valid: list[str] = []
    invalid: list[str] = []
    for signature in envelope.signatures:
        try:
            verifier = parse_key(signature.keyid)
        except FormatError:
            invalid.append(signature.keyid[:120])
            continue
        if not isinstance(verifier, Ed25519Verifier) or not verifier.verify(
            message, signature.sig
        ):
            invalid.append(signature.keyid[:120])
        elif signature.keyid not in valid:
            valid.append(signature.keyid)
    return tuple(valid), tuple(invalid)


def _require(role: Role, signers: Iterable[str], what: str) -> None:
    result = role.evaluate(signers)
    if not result.met:
        raise ThresholdError(f"{what}: {result.describe()}")


def check_genesis(charter: Charter, signers: Iterable[str]) -> None:
    """Check that ``charter`` may start a chain.

    Procedure: (1) version 1; (2) no predecessor (the parser guarantees it);
    (3) signed by the threshold of its own foundation.

    Args:
        charter: The charter.
        signers: Verifier keys whose signatures over its statement verified.

    Raises:
        PolicyError: it is not version 1.
        ThresholdError: its foundation's threshold is not met.
    """
    if charter.version != 1:
        raise PolicyError(
            f"{charter.label}: a chain starts at version 1 "
            f"(got version {charter.version} with no version {charter.version - 1} before it)"
        )
    _require(charter.foundation, list(signers), f"{charter.label} (genesis): its own foundation")


def check_successor(current: Charter, new: Charter, signers: Iterable[str]) -> None:
    """Check that ``new`` may follow ``current``.

    Procedure:

    1. Same charter name.
    2. ``new.version == current.version + 1``: older or equal is a
       rollback, more is a skipped version.
    3. ``new.previous`` is the digest of ``current``'s exact bytes.
    4. Signed by the threshold of ``current``'s foundation (so a new
       foundation can't appoint itself: key takeover).
    5. Signed by the threshold of ``new``'s foundation (so the old board
       can't impose keys the new one doesn't hold).

    Each key counts once per role, however many times it signed.

    Raises:
        PolicyError: another name, a skipped version, a wrong previous digest.
        RollbackError: a version not above the current one.
        ThresholdError: step 4 or 5 fails (naming who signed and who didn't).
    """
    signer_list = list(signers)
    if new.name != current.name:
        raise PolicyError(
            f"{new.label}: charter name differs from the current {current.label}"
        )
    if new.version <= current.version:
        raise RollbackError(
            f"{new.label}: version is not above the current version {current.version}"
        )
    if new.version != current.version + 1:
        raise PolicyError(
            f"{new.label}: versions step by one (want version {current.version + 1} "
            f"after {current.version})"
        )
    if new.previous != current.digest:
        shown = "none" if new.previous is None else digest_text(new.previous)
        raise PolicyError(
            f"{new.label}: previous is {shown}, want {digest_text(current.digest)} "
            f"(the digest of v{current.version})"
        )
    _require(
        current.foundation, signer_list,
        f"{new.label}: foundation of v{current.version} (the current charter)",
    )
    _require(new.foundation, signer_list, f"{new.label}: its own foundation")


_VERIFIED = object()


@dataclass(frozen=True, slots=True)
class SignedCharter:
    """A charter with the envelope that signs it (signatures not yet judged).

    Attributes:
        charter: The parsed charter.
        envelope: The DSSE envelope over :func:`charter_statement`.
        signers: Verifier keys whose signatures verified.
        invalid: Keyids whose signatures did not verify.
    """

    charter: Charter
    envelope: Envelope
    signers: tuple[str, ...]
    invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VerifiedCharter:
    """A charter whose place in a chain was verified; built only by :func:`verify_chain`.

    Attributes:
        charter: The charter.
        chain: The versions verified on the way, oldest first (the last is
            ``charter``).
    """

    charter: Charter
    chain: tuple[Charter, ...]
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _VERIFIED:
            raise TypeError("VerifiedCharter is created only by verify_chain()")


def parse_signed_charter(envelope: Envelope) -> SignedCharter:
    """Parse a charter envelope and verify its signatures (not yet against roles).

    Raises:
        FormatError: the envelope is not an in-toto charter statement.
    """
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO:
        raise FormatError(
            f"charter envelope: payloadType {envelope.payload_type[:80]!r}, "
            f"want {PAYLOAD_TYPE_INTOTO!r}"
        )
    charter = parse_charter_statement(parse_statement(envelope.payload))
    valid, invalid = envelope_signers(envelope)
    return SignedCharter(charter, envelope, valid, invalid)


def verify_chain(
    signed: Sequence[SignedCharter], *, trusted: Charter | None = None
) -> VerifiedCharter:
    """Verify a sequence of charter versions, each against its predecessor.

    Args:
        signed: Consecutive versions, oldest first. Without ``trusted`` the
            first must be version 1 (checked with :func:`check_genesis`);
            with it, the first must succeed ``trusted``.
        trusted: A charter the caller already trusts (e.g. shipped with the
            distribution), or None.

    Returns:
        The newest verified charter.

    Raises:
        ValueError: ``signed`` is empty and ``trusted`` is None.
        PolicyError, RollbackError, ThresholdError: as :func:`check_genesis`
            and :func:`check_successor`.
    """
    if not signed and trusted is None:
        raise ValueError("verify_chain: nothing to verify")
    chain: list[Charter] = [] if trusted is None else [trusted]
    current = trusted
    for item in signed:
        if current is None:
            check_genesis(item.charter, item.signers)
        else:
            check_successor(current, item.charter, item.signers)
        current = item.charter
        chain.append(current)
    assert current is not None
    return VerifiedCharter(current, tuple(chain), _VERIFIED)
