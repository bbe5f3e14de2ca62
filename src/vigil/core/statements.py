"""Predicates of Vigil's role statements: release, rebuild, advisory, revocation.

Each kind is an in-toto Statement v1 (:mod:`vigil.core.intoto`) with its own
predicateType; this module turns a parsed :class:`~vigil.core.intoto.Statement`
into a typed model (``parse_*``) and builds statements from values
(``*_statement``). The charter kind lives in :mod:`vigil.core.charter`; the
generic ``artifact`` kind needs no model beyond its description.

Shapes (``subject[0]`` always identifies the repository *state*: the digest of
the metadata document that names everything else)::

    release   subject  [{"name": "repodata/repomd.xml", "digest": {"sha256": STATE}},
                        {"name": "x86_64/foo-1.0.rpm", "digest": {"sha256": ...}}, ...]
              predicate {"repository": "oss", "version": 42, "format": "rpm-md",
                         "published": "2024-11-22T10:00:00Z"}
              a delta release (ADR 0012) lists only the artifacts added or changed
              since the previous release and adds to its predicate
                        {"artifacts": "delta", "removed": ["x86_64/bar-0.9.rpm"]}
    rebuild   subject  [{"name": "oss", "digest": {"sha256": STATE of the release}}]
              predicate {"repository": "oss", "version": 42,
                         "builder": {"id": "https://rebuilder.example/"},
                         "results": [{"name": "x86_64/foo-1.0.rpm", "result": "reproduced",
                                      "digest": {"sha256": ...}}],
                         "inputs": [{"name": "foo.buildinfo", "digest": {"sha256": ...}}]}
    advisory  subject  [{"name": "oss", "digest": {"sha256": STATE of an affected release}}]
              predicate {"id": "VSA-2024-0001", "repository": "oss", "action": "block",
                         "affected": {"introduced": 40, "fixed": 43, "packages": ["foo"]},
                         "summary": "...", "withdraws": "VSA-2023-0099",
                         "osv": {... a subset of the OSV schema ...}}
    revocation subject [{"name": "<key name>", "digest": {"sha256": sha256(vkey)}}]
              predicate {"key": "<vkey>", "from_index": 1200, "reason": "laptop stolen"}
    owners    subject  [{"name": "oss", "digest": {"sha256": sha256("oss")}}]
              predicate {"repository": "oss", "counter": 3,
                         "packages": {"foo": ["<vkey>", "team:mirage"], "bar": []}}

Rules common to all: unknown predicate fields are refused (a log would
otherwise store data no validator understood; see the format ADR), versions
and indexes are integers from 1 (versions) or 0 (indexes) to 2**63-1, times
are RFC 3339 UTC with seconds and a ``Z`` (one spelling per instant), names
are bounded, printable and without control characters.

No I/O, no clock, no signature checks (see :mod:`vigil.core.statusmap`).
"""

from __future__ import annotations

import datetime
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from vigil.core.charter import FORMATS
from vigil.core.intoto import Statement, Subject, build_statement
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.errors import FormatError

__all__ = [
    "ACTIONS",
    "ADVISORY_PREDICATE_TYPE",
    "ARTIFACTS_DELTA",
    "ARTIFACT_PREDICATE_TYPE",
    "MAX_OWNED_PACKAGES",
    "MAX_REMOVED",
    "OSV_FIELDS",
    "OWNERS_PREDICATE_TYPE",
    "REBUILD_PREDICATE_TYPE",
    "RELEASE_PREDICATE_TYPE",
    "RESULTS",
    "REVOCATION_PREDICATE_TYPE",
    "Advisory",
    "OwnersAuthorisation",
    "Rebuild",
    "RebuildResult",
    "Release",
    "Revocation",
    "advisory_statement",
    "check_repository_name",
    "format_time",
    "owners_statement",
    "parse_advisory",
    "parse_owners",
    "parse_rebuild",
    "parse_release",
    "parse_revocation",
    "parse_time",
    "rebuild_statement",
    "release_statement",
    "revocation_statement",
]

RELEASE_PREDICATE_TYPE = "https://vigil.dev/release/v1"
REBUILD_PREDICATE_TYPE = "https://vigil.dev/rebuild/v1"
ADVISORY_PREDICATE_TYPE = "https://vigil.dev/advisory/v1"
REVOCATION_PREDICATE_TYPE = "https://vigil.dev/revocation/v1"
OWNERS_PREDICATE_TYPE = "https://vigil.dev/owners/v1"
ARTIFACT_PREDICATE_TYPE = "https://vigil.dev/artifact/v1"
"""The generic signed-artifact kind (same value as :mod:`vigil.log.kinds`)."""

RESULTS = ("reproduced", "mismatch", "failed")
"""Per-artifact outcomes of a rebuild."""

ACTIONS = ("warn", "block", "withdraw")
"""What an advisory asks clients to do; ``withdraw`` only withdraws another one."""

OSV_FIELDS = frozenset(
    {
        "schema_version", "id", "modified", "published", "withdrawn", "aliases", "related",
        "summary", "details", "severity", "affected", "references", "credits",
        "database_specific",
    }
)
"""The OSV schema's top-level fields an advisory may carry (https://ossf.github.io/osv-schema/)."""

MAX_VERSION = 2**63 - 1
_MAX_NAME_CHARS = 1024
_MAX_TEXT_CHARS = 16 * 1024
_MAX_ITEMS = 4096
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+~-]{0,255}")
_ADVISORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


# --------------------------------------------------------------------------- #
# Field helpers
# --------------------------------------------------------------------------- #


def format_time(seconds: int) -> str:
    """Unix seconds as RFC 3339 UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_time(text: object, *, what: str) -> int:
    """Parse RFC 3339 UTC ``YYYY-MM-DDTHH:MM:SSZ`` into Unix seconds.

    Raises:
        FormatError: another spelling (offsets, fractions, lowercase) or an
            impossible date.
    """
    if not isinstance(text, str) or _TIME.fullmatch(text) is None:
        raise FormatError(f"{what}: {str(text)[:40]!r} is not a UTC time YYYY-MM-DDTHH:MM:SSZ")
    # Arithmetic, not time.strptime: its first call builds locale tables and
    # regexes (about 1 ms of every ``vigil verify``). The round trip below
    # rejects what date() accepts but a clock cannot show (hour 24, second 60).
    try:
        days = datetime.date(int(text[:4]), int(text[5:7]), int(text[8:10])).toordinal()
    except ValueError as exc:
        raise FormatError(f"{what}: {text!r} is not a valid date and time") from exc
    seconds = (days - _EPOCH_ORDINAL) * 86400 + int(text[11:13]) * 3600 \
        + int(text[14:16]) * 60 + int(text[17:19])
    if format_time(seconds) != text:
        raise FormatError(f"{what}: {text!r} is not a valid date and time")
    return seconds


def check_repository_name(name: object, *, what: str) -> str:
    """A repository name as charters allow it (see :mod:`vigil.core.charter`)."""
    if not isinstance(name, str) or _REPOSITORY.fullmatch(name) is None:
        raise FormatError(
            f"{what}: {str(name)[:80]!r} is not a repository name "
            "(1 to 256 of A-Z a-z 0-9 . _ : / @ + ~ -, starting with a letter or digit)"
        )
    return name


class _Fields:
    """Typed access to one JSON object of a predicate, with exact messages."""

    def __init__(self, value: object, what: str, allowed: frozenset[str]) -> None:
        self.what = what
        if not isinstance(value, Mapping):
            raise FormatError(f"{what}: want an object")
        unknown = sorted(set(value) - allowed)
        if unknown:
            shown = ", ".join(repr(name[:40]) for name in unknown[:5])
            raise FormatError(
                f"{what}: unknown field(s) {shown} (allowed: {', '.join(sorted(allowed))})"
            )
        self.data: Mapping[str, Any] = value

    def has(self, name: str) -> bool:
        return name in self.data

    def require(self, name: str) -> Any:
        if name not in self.data:
            raise FormatError(f"{self.what}: missing required field {name!r}")
        return self.data[name]

    def integer(self, name: str, low: int, high: int = MAX_VERSION) -> int:
        value = self.require(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FormatError(f"{self.what} {name}: want an integer")
        if not low <= value <= high:
            raise FormatError(f"{self.what} {name}: got {value}, want {low} to {high}")
        return value

    def text(self, name: str, *, max_chars: int = _MAX_NAME_CHARS, required: bool = True) -> str:
        if not required and name not in self.data:
            return ""
        value = self.require(name)
        if not isinstance(value, str) or not value or len(value) > max_chars:
            raise FormatError(f"{self.what} {name}: want a string of 1 to {max_chars} characters")
        if any((ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F for c in value):
            raise FormatError(f"{self.what} {name}: contains a control character")
        return value

    def choice(self, name: str, choices: Sequence[str]) -> str:
        value = self.require(name)
        if value not in choices:
            raise FormatError(
                f"{self.what} {name}: got {str(value)[:40]!r}, want one of {', '.join(choices)}"
            )
        return str(value)

    def array(self, name: str, *, required: bool = True) -> list[Any]:
        if not required and name not in self.data:
            return []
        value = self.require(name)
        if not isinstance(value, list):
            raise FormatError(f"{self.what} {name}: want an array")
        if len(value) > _MAX_ITEMS:
            raise FormatError(f"{self.what} {name}: {len(value)} items, want at most {_MAX_ITEMS}")
        return value


def _sha256_of(subject: Subject, what: str) -> bytes:
    value = subject.digest.get("sha256")
    if value is None or _SHA256.fullmatch(value) is None:
        raise FormatError(f"{what}: subject {subject.name!r} has no sha256 digest")
    return bytes.fromhex(value)


def _only_subject(statement: Statement, what: str) -> bytes:
    if len(statement.subjects) != 1:
        raise FormatError(f"{what}: want exactly one subject (got {len(statement.subjects)})")
    return _sha256_of(statement.subjects[0], what)


def _check_type(statement: Statement, predicate_type: str, what: str) -> None:
    if statement.predicate_type != predicate_type:
        raise FormatError(
            f"{what}: predicateType {statement.predicate_type[:80]!r}, want {predicate_type!r}"
        )


# --------------------------------------------------------------------------- #
# release
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Release:
    """A publisher's statement that a repository is at a version.

    Attributes:
        repository: The repository name.
        version: Monotonic version, >= 1.
        format: The repository format (one of the charter's ``FORMATS``).
        published_s: The publisher's signed publication time (Unix seconds).
        state: The metadata document's subject (its sha256 is the state digest).
        artifacts: Optional artifact subjects (packages), each with a sha256.
            For a delta release: only those added or changed since the
            previous release of the repository.
        delta: Whether the release lists only changes (``"artifacts": "delta"``);
            otherwise it lists every artifact of the repository (or none).
        removed: For a delta: names of artifacts the previous release had and
            this one drops (sorted, unique, none of them listed).
    """

    repository: str
    version: int
    format: str
    published_s: int
    state: Subject
    artifacts: tuple[Subject, ...] = ()
    delta: bool = False
    removed: tuple[str, ...] = ()

    @property
    def digest(self) -> bytes:
        """The state digest (sha256 of the metadata document)."""
        return bytes.fromhex(self.state.digest["sha256"])


_RELEASE_FIELDS = frozenset(
    {"repository", "version", "format", "published", "artifacts", "removed"}
)
ARTIFACTS_DELTA = "delta"
"""The value of a release predicate's ``artifacts`` field for a delta release."""

MAX_REMOVED = 16384
"""Most artifact names one delta release may remove (a 64 KiB entry holds fewer anyway)."""


def _removed_names(fields: _Fields, what: str) -> tuple[str, ...]:
    """The ``removed`` list of a delta: sorted (code point order), unique, bounded names.

    Sorted and unique so that one set of removals has one spelling, and a
    name cannot be removed twice.
    """
    items = fields.require("removed")
    if not isinstance(items, list):
        raise FormatError(f"{what} removed: want an array of artifact names")
    if not items or len(items) > MAX_REMOVED:
        raise FormatError(
            f"{what} removed: {len(items)} names, want 1 to {MAX_REMOVED} "
            "(leave the field out when nothing is removed)"
        )
    previous = ""
    for position, name in enumerate(items):
        if not isinstance(name, str) or not name or len(name) > _MAX_NAME_CHARS:
            raise FormatError(
                f"{what} removed[{position}]: want an artifact name of 1 to "
                f"{_MAX_NAME_CHARS} characters"
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            raise FormatError(f"{what} removed[{position}]: contains a control character")
        if position and name <= previous:
            raise FormatError(
                f"{what} removed[{position}]: {name[:80]!r} is not after {previous[:80]!r} "
                "(want sorted, unique names)"
            )
        previous = name
    return tuple(items)


def _delta_fields(fields: _Fields, what: str) -> tuple[bool, tuple[str, ...]]:
    """``artifacts`` and ``removed``: absent for a full release, ``"delta"`` for a delta.

    A full release is spelled by leaving ``artifacts`` out (one spelling per
    meaning); ``removed`` exists only beside ``"artifacts": "delta"``.
    """
    if not fields.has("artifacts"):
        if fields.has("removed"):
            raise FormatError(f"{what}: 'removed' needs \"artifacts\": \"delta\"")
        return False, ()
    if fields.require("artifacts") != ARTIFACTS_DELTA:
        raise FormatError(
            f"{what} artifacts: got {str(fields.require('artifacts'))[:40]!r}, want "
            f"{ARTIFACTS_DELTA!r} (leave the field out for a full listing)"
        )
    return True, _removed_names(fields, what) if fields.has("removed") else ()


def parse_release(statement: Statement) -> Release:
    """The release a statement makes.

    Raises:
        FormatError: wrong predicateType, unknown or missing fields, a version
            out of range, an unknown format, a time not in canonical UTC form,
            a subject without sha256, two artifacts with the same name, or for
            a delta a ``removed`` list that is not sorted, unique names, or
            that names a listed artifact.
    """
    what = "release predicate"
    _check_type(statement, RELEASE_PREDICATE_TYPE, what)
    fields = _Fields(statement.predicate, what, _RELEASE_FIELDS)
    repository = check_repository_name(fields.require("repository"), what=f"{what} repository")
    version = fields.integer("version", 1)
    repo_format = fields.choice("format", FORMATS)
    published_s = parse_time(fields.require("published"), what=f"{what} published")
    delta, removed = _delta_fields(fields, what)
    state, *artifacts = statement.subjects
    _sha256_of(state, "release")
    names: set[str] = set()
    for artifact in artifacts:
        _sha256_of(artifact, "release artifact")
        if not artifact.name:
            raise FormatError("release artifact: every artifact subject needs a name")
        if artifact.name in names:
            raise FormatError(f"release artifact {artifact.name[:80]!r}: listed twice")
        names.add(artifact.name)
    both = names.intersection(removed)
    if both:
        raise FormatError(
            f"{what} removed: {min(both)[:80]!r} is also listed as an artifact "
            "(a delta either adds/changes a name or removes it)"
        )
    return Release(
        repository, version, repo_format, published_s, state, tuple(artifacts), delta, removed
    )


def release_statement(
    *,
    repository: str,
    version: int,
    format: str,
    published_s: int,
    state: Subject,
    artifacts: Sequence[Subject] = (),
    delta: bool = False,
    removed: Sequence[str] = (),
) -> Statement:
    """Build a release statement (and check it as :func:`parse_release` does).

    ``delta=True`` builds a delta release: ``artifacts`` are those added or
    changed, ``removed`` the names dropped (sorted here).
    """
    predicate: dict[str, Any] = {
        "repository": repository,
        "version": version,
        "format": format,
        "published": format_time(published_s),
    }
    if delta:
        predicate["artifacts"] = ARTIFACTS_DELTA
        if removed:
            predicate["removed"] = sorted(removed)
    elif removed:
        raise ValueError("release_statement: removed names need delta=True")
    statement = build_statement([state, *artifacts], RELEASE_PREDICATE_TYPE, predicate)
    parse_release(statement)
    return statement


# --------------------------------------------------------------------------- #
# rebuild
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """One artifact's rebuild outcome.

    Attributes:
        name: The artifact name, as the release lists it.
        result: ``reproduced``, ``mismatch`` or ``failed``.
        digest: What the rebuilder got (empty when the build failed).
    """

    name: str
    result: str
    digest: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Rebuild:
    """A rebuilder's attestation about one release.

    Attributes:
        repository: The repository.
        version: The release version it covers.
        release_digest: The release's state digest.
        builder: The builder's identity (a URI or name).
        results: Per-artifact outcomes (at least one).
        inputs: What went into the rebuild (buildinfo files, sources).
    """

    repository: str
    version: int
    release_digest: bytes
    builder: str
    results: tuple[RebuildResult, ...]
    inputs: tuple[Subject, ...] = ()

    @property
    def outcome(self) -> Literal["reproduced", "mismatch", "failed"]:
        """``mismatch`` if any artifact differed, else ``failed`` if any
        failed, else ``reproduced``."""
        outcomes = {r.result for r in self.results}
        if "mismatch" in outcomes:
            return "mismatch"
        if "failed" in outcomes:
            return "failed"
        return "reproduced"


_REBUILD_FIELDS = frozenset({"repository", "version", "builder", "results", "inputs"})


def _digest_set(value: object, what: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise FormatError(f"{what}: want a non-empty digest object")
    Subject("_", value)  # validates algorithms and values
    return MappingProxyType(dict(value))


def parse_rebuild(statement: Statement) -> Rebuild:
    """The attestation a rebuild statement makes.

    Raises:
        FormatError: wrong predicateType, unknown or missing fields, no
            results, an unknown result, a reproduced or mismatched artifact
            without a digest, or a duplicate artifact name.
    """
    what = "rebuild predicate"
    _check_type(statement, REBUILD_PREDICATE_TYPE, what)
    digest = _only_subject(statement, "rebuild")
    fields = _Fields(statement.predicate, what, _REBUILD_FIELDS)
    repository = check_repository_name(fields.require("repository"), what=f"{what} repository")
    version = fields.integer("version", 1)
    builder = _Fields(fields.require("builder"), f"{what} builder", frozenset({"id"}))
    builder_id = builder.text("id")
    results = []
    names: set[str] = set()
    items = fields.array("results")
    if not items:
        raise FormatError(f"{what} results: want at least one result")
    for position, item in enumerate(items):
        entry = _Fields(
            item, f"{what} results[{position}]", frozenset({"name", "result", "digest"})
        )
        name = entry.text("name")
        if name in names:
            raise FormatError(f"{what} results[{position}]: artifact {name[:80]!r} listed twice")
        names.add(name)
        result = entry.choice("result", RESULTS)
        got: Mapping[str, str] = MappingProxyType({})
        if entry.has("digest"):
            got = _digest_set(entry.require("digest"), f"{what} results[{position}] digest")
        elif result != "failed":
            raise FormatError(f"{what} results[{position}]: a {result} artifact needs its digest")
        results.append(RebuildResult(name, result, got))
    inputs = []
    for position, item in enumerate(fields.array("inputs", required=False)):
        entry = _Fields(item, f"{what} inputs[{position}]", frozenset({"name", "digest"}))
        inputs.append(
            Subject(entry.text("name"), _digest_set(entry.require("digest"), entry.what))
        )
    return Rebuild(repository, version, digest, builder_id, tuple(results), tuple(inputs))


def rebuild_statement(
    *,
    repository: str,
    version: int,
    release_digest: bytes,
    builder: str,
    results: Sequence[RebuildResult],
    inputs: Sequence[Subject] = (),
) -> Statement:
    """Build a rebuild statement (and check it as :func:`parse_rebuild` does)."""
    predicate: dict[str, Any] = {
        "repository": repository,
        "version": version,
        "builder": {"id": builder},
        "results": [
            {"name": r.name, "result": r.result, **({"digest": dict(r.digest)} if r.digest else {})}
            for r in results
        ],
    }
    if inputs:
        predicate["inputs"] = [{"name": s.name, "digest": dict(s.digest)} for s in inputs]
    statement = build_statement(
        [Subject(repository, {"sha256": release_digest.hex()})], REBUILD_PREDICATE_TYPE, predicate
    )
    parse_rebuild(statement)
    return statement


# --------------------------------------------------------------------------- #
# advisory
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Advisory:
    """A security team's advisory about a repository.

    Attributes:
        id: Its identifier (unique per repository, forever).
        repository: The repository.
        action: ``warn``, ``block`` or ``withdraw``.
        release_digest: State digest of the release it was issued against.
        introduced: First affected version (warn/block), else 0.
        fixed: First fixed version, or None (not fixed yet, or withdraw).
        packages: Affected packages (empty: the whole repository state).
        withdraws: The id of an advisory this one withdraws (or replaces).
        summary: One line for people.
        osv: OSV content (a subset of the schema's top-level fields), or None.
    """

    id: str
    repository: str
    action: Literal["warn", "block", "withdraw"]
    release_digest: bytes
    introduced: int = 0
    fixed: int | None = None
    packages: tuple[str, ...] = ()
    withdraws: str | None = None
    summary: str = ""
    osv: Mapping[str, Any] | None = None

    def affects(self, version: int) -> bool:
        """Whether ``version`` is in ``[introduced, fixed)`` (never for withdraw)."""
        if self.action == "withdraw":
            return False
        return self.introduced <= version and (self.fixed is None or version < self.fixed)


_ADVISORY_FIELDS = frozenset(
    {"id", "repository", "action", "affected", "withdraws", "summary", "osv"}
)
_OSV_LISTS = frozenset({"aliases", "related", "severity", "affected", "references", "credits"})
_OSV_STRINGS = frozenset(
    {"schema_version", "id", "modified", "published", "withdrawn", "summary", "details"}
)


def _advisory_id(value: object, what: str) -> str:
    if not isinstance(value, str) or _ADVISORY_ID.fullmatch(value) is None:
        raise FormatError(
            f"{what}: {str(value)[:80]!r} is not an advisory id "
            "(1 to 128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit)"
        )
    return value


def _check_osv(value: object, advisory_id: str, what: str) -> Mapping[str, Any]:
    fields = _Fields(value, what, OSV_FIELDS)
    for name in _OSV_STRINGS & set(fields.data):
        fields.text(name, max_chars=_MAX_TEXT_CHARS)
    for name in _OSV_LISTS & set(fields.data):
        fields.array(name)
    if "database_specific" in fields.data and not isinstance(
        fields.data["database_specific"], Mapping
    ):
        raise FormatError(f"{what} database_specific: want an object")
    if "id" in fields.data and fields.data["id"] != advisory_id:
        raise FormatError(
            f"{what} id: {str(fields.data['id'])[:80]!r} differs from the advisory id "
            f"{advisory_id!r}"
        )
    return MappingProxyType(dict(fields.data))


def parse_advisory(statement: Statement) -> Advisory:
    """The advisory a statement makes.

    Raises:
        FormatError: wrong predicateType, unknown or missing fields, a bad id,
            ``fixed`` not above ``introduced``, a withdraw with ``affected``
            or without ``withdraws``, OSV content that is not a schema subset.
    """
    what = "advisory predicate"
    _check_type(statement, ADVISORY_PREDICATE_TYPE, what)
    digest = _only_subject(statement, "advisory")
    fields = _Fields(statement.predicate, what, _ADVISORY_FIELDS)
    advisory_id = _advisory_id(fields.require("id"), f"{what} id")
    repository = check_repository_name(fields.require("repository"), what=f"{what} repository")
    action = fields.choice("action", ACTIONS)
    withdraws = None
    if fields.has("withdraws"):
        withdraws = _advisory_id(fields.require("withdraws"), f"{what} withdraws")
        if withdraws == advisory_id:
            raise FormatError(f"{what} withdraws: an advisory cannot withdraw itself")
    summary = fields.text("summary", required=False)
    osv = None
    if fields.has("osv"):
        osv = _check_osv(fields.require("osv"), advisory_id, f"{what} osv")
    introduced, fixed = 0, None
    packages: tuple[str, ...] = ()
    if action == "withdraw":
        if withdraws is None:
            raise FormatError(f"{what}: action withdraw needs 'withdraws' (the advisory id)")
        if fields.has("affected"):
            raise FormatError(f"{what}: action withdraw takes no 'affected'")
    else:
        affected = _Fields(
            fields.require("affected"), f"{what} affected",
            frozenset({"introduced", "fixed", "packages"}),
        )
        introduced = affected.integer("introduced", 1)
        if affected.has("fixed"):
            fixed = affected.integer("fixed", introduced + 1)
        names = []
        for position, item in enumerate(affected.array("packages", required=False)):
            if not isinstance(item, str) or not item or len(item) > _MAX_NAME_CHARS:
                raise FormatError(f"{what} affected packages[{position}]: want a package name")
            names.append(item)
        packages = tuple(names)
    return Advisory(
        id=advisory_id,
        repository=repository,
        action="warn" if action == "warn" else "block" if action == "block" else "withdraw",
        release_digest=digest,
        introduced=introduced,
        fixed=fixed,
        packages=packages,
        withdraws=withdraws,
        summary=summary,
        osv=osv,
    )


def advisory_statement(
    *,
    id: str,
    repository: str,
    action: str,
    release_digest: bytes,
    introduced: int = 1,
    fixed: int | None = None,
    packages: Sequence[str] = (),
    withdraws: str | None = None,
    summary: str = "",
    osv: Mapping[str, Any] | None = None,
) -> Statement:
    """Build an advisory statement (and check it as :func:`parse_advisory` does)."""
    predicate: dict[str, Any] = {"id": id, "repository": repository, "action": action}
    if action != "withdraw":
        affected: dict[str, Any] = {"introduced": introduced}
        if fixed is not None:
            affected["fixed"] = fixed
        if packages:
            affected["packages"] = list(packages)
        predicate["affected"] = affected
    if withdraws is not None:
        predicate["withdraws"] = withdraws
    if summary:
        predicate["summary"] = summary
    if osv is not None:
        predicate["osv"] = dict(osv)
    statement = build_statement(
        [Subject(repository, {"sha256": release_digest.hex()})], ADVISORY_PREDICATE_TYPE, predicate
    )
    parse_advisory(statement)
    return statement


# --------------------------------------------------------------------------- #
# revocation
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Revocation:
    """A statement that a key is compromised.

    Attributes:
        key: The revoked key (as a verifier key string).
        verifier: The parsed key.
        from_index: First log index from which its signatures are suspect
            (None: from the revocation's own index).
        reason: Free text for people.
    """

    key: str
    verifier: Ed25519Verifier
    from_index: int | None = None
    reason: str = ""


_REVOCATION_FIELDS = frozenset({"key", "from_index", "reason"})


def _key_subject(vkey: str, name: str) -> Subject:
    return Subject(name, {"sha256": hashlib.sha256(vkey.encode("utf-8")).hexdigest()})


def parse_revocation(statement: Statement) -> Revocation:
    """The revocation a statement makes.

    Raises:
        FormatError: wrong predicateType, unknown or missing fields, a key
            that is not an Ed25519 verifier key, or a subject that is not the
            key's (name, sha256 of the key string).
    """
    what = "revocation predicate"
    _check_type(statement, REVOCATION_PREDICATE_TYPE, what)
    fields = _Fields(statement.predicate, what, _REVOCATION_FIELDS)
    vkey = fields.text("key")
    verifier = parse_verifier_key(vkey)
    if not isinstance(verifier, Ed25519Verifier):
        raise FormatError(f"{what} key: {verifier.name} is not an Ed25519 (type 0x01) key")
    from_index = fields.integer("from_index", 0) if fields.has("from_index") else None
    reason = fields.text("reason", required=False, max_chars=_MAX_TEXT_CHARS)
    if statement.subjects != (_key_subject(vkey, verifier.name),):
        raise FormatError(
            "revocation: want exactly one subject, the key (its name, sha256 of the key string)"
        )
    return Revocation(vkey, verifier, from_index, reason)


def revocation_statement(
    *, key: str, from_index: int | None = None, reason: str = ""
) -> Statement:
    """Build a revocation statement (and check it as :func:`parse_revocation` does)."""
    verifier = parse_verifier_key(key)
    predicate: dict[str, Any] = {"key": key}
    if from_index is not None:
        predicate["from_index"] = from_index
    if reason:
        predicate["reason"] = reason
    statement = build_statement(
        [_key_subject(key, verifier.name)], REVOCATION_PREDICATE_TYPE, predicate
    )
    parse_revocation(statement)
    return statement


# --------------------------------------------------------------------------- #
# owners (janitor-signed owner authorisations, ADR 0013)
# --------------------------------------------------------------------------- #

MAX_OWNED_PACKAGES = 1024
"""Most packages one owners authorisation may set (an entry holds fewer anyway)."""

_MAX_OWNERS_PER_PACKAGE = 64
_TEAM_PREFIX = "team:"
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+~-]{0,255}")
_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class OwnersAuthorisation:
    """Janitors setting the owners of some packages of a repository (Conex's
    authorisation file, as a log entry).

    Attributes:
        repository: The repository.
        counter: 1 for its first authorisation, then exactly one more each time.
        packages: Package name to its owners from now on, each a verifier key
            or ``team:NAME``; an empty tuple means no owner (janitors only).
    """

    repository: str
    counter: int
    packages: Mapping[str, tuple[str, ...]]


def _repository_subject(repository: str) -> Subject:
    return Subject(
        repository, {"sha256": hashlib.sha256(repository.encode("utf-8")).hexdigest()}
    )


def _owner_spelling(text: object, what: str) -> str:
    if isinstance(text, str) and text.startswith(_TEAM_PREFIX):
        if _TEAM.fullmatch(text[len(_TEAM_PREFIX):]) is None:
            raise FormatError(f"{what}: {text[:80]!r} is not team:NAME")
        return text
    if not isinstance(text, str):
        raise FormatError(f"{what}: want a verifier key or team:NAME")
    try:
        verifier = parse_verifier_key(text)
    except FormatError as exc:
        raise FormatError(f"{what}: {exc} (want a verifier key or team:NAME)") from exc
    if not isinstance(verifier, Ed25519Verifier):
        raise FormatError(f"{what}: {verifier.name} is not an Ed25519 (type 0x01) key")
    return text


def parse_owners(statement: Statement) -> OwnersAuthorisation:
    """The owner authorisation a statement makes.

    Raises:
        FormatError: wrong predicateType, unknown or missing fields, a
            counter out of range, no packages or more than
            :data:`MAX_OWNED_PACKAGES`, a bad package name, an owner that is
            neither an Ed25519 verifier key nor ``team:NAME``, the same owner
            twice for a package, or a subject other than the repository's
            (its name, sha256 of the name).
    """
    what = "owners predicate"
    _check_type(statement, OWNERS_PREDICATE_TYPE, what)
    fields = _Fields(statement.predicate, what, frozenset({"repository", "counter", "packages"}))
    repository = check_repository_name(fields.require("repository"), what=f"{what} repository")
    counter = fields.integer("counter", 1)
    table = fields.require("packages")
    if not isinstance(table, Mapping) or not 1 <= len(table) <= MAX_OWNED_PACKAGES:
        raise FormatError(
            f"{what} packages: want an object of 1 to {MAX_OWNED_PACKAGES} packages"
        )
    packages: dict[str, tuple[str, ...]] = {}
    for package, owners in table.items():
        if _PACKAGE.fullmatch(package) is None:
            raise FormatError(f"{what} packages: {package[:80]!r} is not a package name")
        where = f"{what} packages[{package!r}]"
        if not isinstance(owners, list) or len(owners) > _MAX_OWNERS_PER_PACKAGE:
            raise FormatError(f"{where}: want an array of at most {_MAX_OWNERS_PER_PACKAGE}")
        spellings = tuple(
            _owner_spelling(o, f"{where}[{position}]") for position, o in enumerate(owners)
        )
        if len(set(spellings)) != len(spellings):
            raise FormatError(f"{where}: an owner is listed twice")
        packages[package] = spellings
    if statement.subjects != (_repository_subject(repository),):
        raise FormatError(
            "owners: want exactly one subject, the repository (its name, sha256 of the name)"
        )
    return OwnersAuthorisation(repository, counter, MappingProxyType(packages))


def owners_statement(
    *, repository: str, counter: int, packages: Mapping[str, Sequence[str]]
) -> Statement:
    """Build an owners statement (and check it as :func:`parse_owners` does)."""
    statement = build_statement(
        [_repository_subject(repository)],
        OWNERS_PREDICATE_TYPE,
        {
            "repository": repository,
            "counter": counter,
            "packages": {name: list(owners) for name, owners in packages.items()},
        },
    )
    parse_owners(statement)
    return statement
