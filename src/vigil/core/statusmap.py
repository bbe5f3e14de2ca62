"""The status map: what the log says each repository's current state is, provably.

A log proves inclusion, not absence; the status map closes the gap (DESIGN.md
"The status map"). It is a deterministic function of the sequence of log
entries: :class:`StatusMap` applies entries one at a time, in log order,
under the charter in force at each index, and keeps one record per
repository:

* its latest release (index, version, digest, published time) and the
  releases it superseded less than the repository's grace period before the
  latest was published (at most :data:`MAX_GRACE_RELEASES`), each with the
  time it was superseded;
* the rebuild attestations for those releases (index, version, rebuilder key,
  outcome);
* the advisories in force against them (index, id, action, affected range).

For a repository whose charter rules name package owners (Conex, ADR 0010),
a release must also be approved, package by package, by the owners or the
janitor quorum (:mod:`vigil.core.owners`). The map keeps each repository's
whole artifact set (not in the records), replayed through its releases: a
full release replaces it, a delta release (ADR 0012) adds, changes and
removes names; the owners rule compares the sets before and after. Owners
come from the charter, overridden per package by owner authorisations the
repository's janitor quorum logs (ADR 0013; kept beside the artifact sets,
not in the records).

A governance record (repository name ``""``, so it sorts first) names the
charter in force (index, name, version, digest) and the keys revoked by
revocation statements.

The same function decides what the log may accept: :meth:`StatusMap.apply`
raises, and changes nothing, for an entry the rules refuse at that index
(the log answers 4xx), and an auditor replaying a log (:class:`Replayer`)
reports such an entry as the log's lie.

Map tree: the canonical encodings (:func:`encode_record`) of the records,
sorted by repository name (code point order, which is UTF-8 byte order), are
the leaves of an RFC 6962 Merkle tree (leaf hash ``SHA-256(0x00 || record)``).
Its root goes into the checkpoint line ``vigil-status-map <base64 root>``
(only once a charter is in force; before that the log has no roles and no
map). A :class:`RecordProof` is an inclusion proof of one record at its
sorted position; an :class:`AbsenceProof` shows the two adjacent records
between which a name would sit.

Record encoding (canonical JSON: keys sorted, no whitespace, UTF-8, integers
only, ``sha256:<hex>`` digests, RFC 3339 UTC times; a record parses only if
it re-encodes to the same bytes)::

    {"advisories":[{"action":"block","fixed":43,"id":"VSA-1","index":17,"introduced":40}],
     "rebuilds":[{"builder":"rb1+1a2b3c4d+AQ...","index":12,"result":"reproduced","version":42}],
     "releases":[{"digest":"sha256:...","index":10,"published":"2024-11-22T10:00:00Z",
                  "version":42},
                 {"digest":"sha256:...","index":5,"published":"2024-11-21T10:00:00Z",
                  "superseded":"2024-11-22T10:00:00Z","version":41}],
     "repository":"oss"}
    {"charter":{"digest":"sha256:...","index":0,"name":"example","version":1},
     "repository":"","revoked":[{"from_index":90,"index":150,"key":"mallory+..."}]}

Revocation is prospective: from the index where it lands, the log refuses
entries that a revoked key signed; entries already logged stay (an auditor
lists those signed at or after ``from_index`` as suspect).

No I/O, no clock.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vigil.core import merkle
from vigil.core.charter import (
    CHARTER_PREDICATE_TYPE,
    Charter,
    check_genesis,
    check_successor,
    digest_text,
    envelope_signers,
    parse_charter_statement,
    parse_digest,
)
from vigil.core.checkpoint import Checkpoint, VerifiedCheckpoint
from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, format_envelope, parse_envelope
from vigil.core.encoding import b64decode_strict, b64encode, parse_json_object
from vigil.core.intoto import Statement, parse_statement
from vigil.core.note import Ed25519Verifier, Verifier, parse_verifier_key
from vigil.core.owners import (
    TEAM_PREFIX,
    Owner,
    Ownership,
    check_approvals,
    delta_package_changes,
    package_changes,
)
from vigil.core.packages import check_package_name
from vigil.core.proof import verify_inclusion
from vigil.core.releasedelta import apply_release, artifact_digests
from vigil.core.statements import (
    ADVISORY_PREDICATE_TYPE,
    ARTIFACT_PREDICATE_TYPE,
    OWNERS_PREDICATE_TYPE,
    REBUILD_PREDICATE_TYPE,
    RELEASE_PREDICATE_TYPE,
    RESULTS,
    REVOCATION_PREDICATE_TYPE,
    Advisory,
    Release,
    format_time,
    parse_advisory,
    parse_owners,
    parse_rebuild,
    parse_release,
    parse_revocation,
    parse_time,
)
from vigil.errors import (
    FormatError,
    PolicyError,
    ProofError,
    RollbackError,
    SignatureError,
    ThresholdError,
    VerificationError,
)

__all__ = [
    "GOVERNANCE",
    "MAX_GRACE_RELEASES",
    "STATUS_MAP_EXTENSION",
    "AbsenceProof",
    "AdvisoryRef",
    "CharterRef",
    "DuplicateEntryError",
    "EntryVerifier",
    "EquivocationError",
    "GovernanceRecord",
    "LoggedEntry",
    "MapSnapshot",
    "NamedEntry",
    "RebuildRef",
    "RecordProof",
    "ReleaseRef",
    "Replayer",
    "RevokedRef",
    "StatusMap",
    "StatusRecord",
    "VerifiedStatus",
    "Violation",
    "encode_record",
    "format_absence_proof",
    "format_record_proof",
    "parse_absence_proof",
    "parse_record",
    "parse_record_proof",
    "replay_root",
    "status_root",
    "verify_absence",
    "verify_logged_entry",
    "verify_record",
    "verify_status_answer",
]

STATUS_MAP_EXTENSION = "vigil-status-map"
"""Keyword of the checkpoint extension line ``vigil-status-map <base64 root>``."""

GOVERNANCE = ""
"""The governance record's name (sorts before every repository)."""

MAX_GRACE_RELEASES = 16
"""Most superseded releases a record keeps inside their grace period."""

_MAX_RECORD_BYTES = 1024 * 1024
_MAX_INDEX = 2**63 - 1


class DuplicateEntryError(PolicyError):
    """The statement repeats one already in force; carries the earlier entry's index."""

    def __init__(self, message: str, *, existing_index: int) -> None:
        super().__init__(message)
        self.existing_index = existing_index


class EquivocationError(RollbackError):
    """A second, different release for a version already logged: evidence of
    a publisher (or stolen key) signing two states for one version.

    Attributes:
        existing_index: Index of the release already logged for that version.
        existing_digest: Its state digest.
        digest: The refused release's state digest.
    """

    def __init__(
        self, message: str, *, existing_index: int, existing_digest: bytes, digest: bytes
    ) -> None:
        super().__init__(message)
        self.existing_index = existing_index
        self.existing_digest = existing_digest
        self.digest = digest


# --------------------------------------------------------------------------- #
# Entries
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """A log entry with verified signatures, ready to be judged.

    Build with :func:`verify_logged_entry`; the log builds it directly from
    its admission result, which verified every signature.

    Attributes:
        index: Its log index.
        statement: The in-toto statement it carries.
        signers: Ed25519 verifier keys whose signatures verified (distinct).
    """

    index: int
    statement: Statement
    signers: tuple[str, ...]


def verify_logged_entry(index: int, data: bytes) -> LoggedEntry:
    """Parse one entry as a log stores it and verify every signature.

    Procedure: (1) a DSSE envelope in canonical encoding
    (:func:`~vigil.core.dsse.format_envelope`); (2) payload type in-toto;
    (3) every signature verifies under the Ed25519 key its keyid names (a log
    never stores a signature that doesn't); (4) the payload is an in-toto
    Statement v1.

    Raises:
        FormatError: steps 1, 2 or 4.
        SignatureError: step 3.
    """
    return _verify_entry(index, data, parse_verifier_key)


class EntryVerifier:
    """:func:`verify_logged_entry`, keeping the signer keys it parsed for the next entries.

    Parsing a verifier key costs a SHA-256 and a curve point decode, a fifth
    of an entry's cost besides its signature check, and a replay meets the
    same few keys (publishers, rebuilders) again and again. At most
    ``max_keys`` are kept (the oldest go first), so a log full of distinct
    keys costs bounded memory. Safe to share between threads.

    Args:
        max_keys: How many parsed keys to keep (at least 1).
    """

    def __init__(self, *, max_keys: int = 1024) -> None:
        if max_keys < 1:
            raise ValueError(f"EntryVerifier: max_keys must be >= 1 (got {max_keys})")
        self._max_keys = max_keys
        self._keys: dict[str, Verifier] = {}
        self._lock = threading.Lock()  # for changes; a dict lookup is atomic

    @property
    def cached_keys(self) -> int:
        """How many parsed keys are kept now (at most ``max_keys``)."""
        return len(self._keys)

    def verify(self, index: int, data: bytes) -> LoggedEntry:
        """:func:`verify_logged_entry` (same checks, results and errors)."""
        return _verify_entry(index, data, self._key)

    def _key(self, keyid: str) -> Verifier:
        verifier = self._keys.get(keyid)
        if verifier is None:
            verifier = parse_verifier_key(keyid)  # FormatError: not cached
            with self._lock:
                while len(self._keys) >= self._max_keys:
                    del self._keys[next(iter(self._keys))]
                self._keys[keyid] = verifier
        return verifier


def _verify_entry(index: int, data: bytes, parse_key: Callable[[str], Verifier]) -> LoggedEntry:
    envelope = parse_envelope(data)
    if format_envelope(envelope) != data:
        raise FormatError(f"entry {index}: not the canonical encoding of its DSSE envelope")
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO:
        raise FormatError(
            f"entry {index}: payloadType {envelope.payload_type[:80]!r}, "
            f"want {PAYLOAD_TYPE_INTOTO!r}"
        )
    valid, invalid = envelope_signers(envelope, parse_key=parse_key)
    if invalid:
        raise SignatureError(
            f"entry {index}: signature(s) by {', '.join(k[:60] for k in invalid)} do not verify"
        )
    return LoggedEntry(index, parse_statement(envelope.payload), valid)


# --------------------------------------------------------------------------- #
# Records
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class ReleaseRef:
    """A release in a record.

    Attributes:
        index: Its log index.
        version: Its version.
        digest: Its state digest.
        published_s: The publisher's publication time (Unix seconds).
        superseded_s: When its successor was published, or None for the latest.
    """

    index: int
    version: int
    digest: bytes
    published_s: int
    superseded_s: int | None = None


@dataclass(frozen=True, slots=True)
class RebuildRef:
    """A rebuild attestation in a record (one per rebuilder key and release)."""

    index: int
    version: int
    builder: str
    result: Literal["reproduced", "mismatch", "failed"]


@dataclass(frozen=True, slots=True)
class AdvisoryRef:
    """An advisory in force in a record."""

    index: int
    id: str
    action: Literal["warn", "block"]
    introduced: int
    fixed: int | None = None

    def affects(self, version: int) -> bool:
        """Whether ``version`` is in ``[introduced, fixed)``."""
        return self.introduced <= version and (self.fixed is None or version < self.fixed)


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One repository's status.

    Attributes:
        repository: Its name.
        releases: The latest release first, then those still in grace, newest first.
        rebuilds: Attestations for those releases, by version (newest first), then builder.
        advisories: Advisories in force against them, by index.
    """

    repository: str
    releases: tuple[ReleaseRef, ...] = ()
    rebuilds: tuple[RebuildRef, ...] = ()
    advisories: tuple[AdvisoryRef, ...] = ()

    @property
    def name(self) -> str:
        """The map key."""
        return self.repository

    @property
    def latest(self) -> ReleaseRef | None:
        """The latest release, if any."""
        return self.releases[0] if self.releases else None

    def release(self, version: int) -> ReleaseRef | None:
        """The release of ``version`` in this record, if any."""
        return next((r for r in self.releases if r.version == version), None)

    def entry_indexes(self) -> tuple[int, ...]:
        """Every log index the record names, ascending."""
        indexes = {r.index for r in self.releases}
        indexes.update(r.index for r in self.rebuilds)
        indexes.update(a.index for a in self.advisories)
        return tuple(sorted(indexes))


@dataclass(frozen=True, slots=True)
class CharterRef:
    """The charter in force."""

    index: int
    name: str
    version: int
    digest: bytes


@dataclass(frozen=True, slots=True)
class RevokedRef:
    """A key revoked by a revocation statement."""

    index: int
    key: str
    from_index: int


@dataclass(frozen=True, slots=True)
class GovernanceRecord:
    """The charter in force and the revoked keys (map key ``""``)."""

    charter: CharterRef
    revoked: tuple[RevokedRef, ...] = ()

    @property
    def name(self) -> str:
        """The map key."""
        return GOVERNANCE

    def entry_indexes(self) -> tuple[int, ...]:
        """Every log index the record names, ascending."""
        return tuple(sorted({self.charter.index, *(r.index for r in self.revoked)}))


Record = StatusRecord | GovernanceRecord


def _record_json(record: Record) -> dict[str, Any]:
    if isinstance(record, GovernanceRecord):
        ref = record.charter
        return {
            "repository": GOVERNANCE,
            "charter": {
                "index": ref.index, "name": ref.name, "version": ref.version,
                "digest": digest_text(ref.digest),
            },
            "revoked": [
                {"index": r.index, "key": r.key, "from_index": r.from_index}
                for r in record.revoked
            ],
        }
    releases = []
    for r in record.releases:
        item: dict[str, Any] = {
            "index": r.index, "version": r.version, "digest": digest_text(r.digest),
            "published": format_time(r.published_s),
        }
        if r.superseded_s is not None:
            item["superseded"] = format_time(r.superseded_s)
        releases.append(item)
    advisories = []
    for a in record.advisories:
        adv: dict[str, Any] = {
            "index": a.index, "id": a.id, "action": a.action, "introduced": a.introduced,
        }
        if a.fixed is not None:
            adv["fixed"] = a.fixed
        advisories.append(adv)
    return {
        "repository": record.repository,
        "releases": releases,
        "rebuilds": [
            {"index": b.index, "version": b.version, "builder": b.builder, "result": b.result}
            for b in record.rebuilds
        ],
        "advisories": advisories,
    }


def encode_record(record: Record) -> bytes:
    """The canonical encoding of a record (a map leaf's data)."""
    return json.dumps(
        _record_json(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


class _Reader:
    def __init__(
        self, value: object, what: str, fields: Iterable[str], optional: Iterable[str] = ()
    ) -> None:
        if not isinstance(value, dict):
            raise FormatError(f"{what}: want an object")
        required, allowed = set(fields), set(fields) | set(optional)
        if not required <= set(value) <= allowed:
            raise FormatError(
                f"{what}: fields {sorted(value)}, want {sorted(required)}"
                + (f" and optionally {sorted(set(optional))}" if optional else "")
            )
        self.value: dict[str, Any] = value
        self.what = what

    def integer(self, name: str, low: int = 0) -> int:
        value = self.value[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _MAX_INDEX:
            raise FormatError(f"{self.what} {name}: want an integer from {low}")
        return value

    def text(self, name: str) -> str:
        value = self.value[name]
        if not isinstance(value, str):
            raise FormatError(f"{self.what} {name}: want a string")
        return value

    def array(self, name: str) -> list[Any]:
        value = self.value[name]
        if not isinstance(value, list):
            raise FormatError(f"{self.what} {name}: want an array")
        return value


_RESULT_NAMES: dict[str, Literal["reproduced", "mismatch", "failed"]] = {
    "reproduced": "reproduced", "mismatch": "mismatch", "failed": "failed"
}
_ACTION_NAMES: dict[str, Literal["warn", "block"]] = {"warn": "warn", "block": "block"}


def parse_record(data: bytes) -> Record:
    """Parse a record strictly; it must be in canonical encoding.

    Raises:
        FormatError: not a record, or not canonically encoded.
    """
    document = parse_json_object(data, what="status record", max_bytes=_MAX_RECORD_BYTES)
    record: Record
    if document.get("repository") == GOVERNANCE:
        top = _Reader(document, "governance record", ("repository", "charter", "revoked"))
        charter = _Reader(
            top.value["charter"], "governance record charter",
            ("index", "name", "version", "digest"),
        )
        revoked = []
        for position, item in enumerate(top.array("revoked")):
            what = f"governance record revoked[{position}]"
            r = _Reader(item, what, ("index", "key", "from_index"))
            revoked.append(RevokedRef(r.integer("index"), r.text("key"), r.integer("from_index")))
        record = GovernanceRecord(
            CharterRef(
                charter.integer("index"), charter.text("name"), charter.integer("version", 1),
                parse_digest(charter.value["digest"], what="governance record charter digest"),
            ),
            tuple(revoked),
        )
    else:
        top = _Reader(
            document, "status record", ("repository", "releases", "rebuilds", "advisories")
        )
        releases = []
        for position, item in enumerate(top.array("releases")):
            what = f"status record releases[{position}]"
            r = _Reader(item, what, ("index", "version", "digest", "published"), ("superseded",))
            releases.append(
                ReleaseRef(
                    r.integer("index"), r.integer("version", 1),
                    parse_digest(r.value["digest"], what=f"{what} digest"),
                    parse_time(r.value["published"], what=f"{what} published"),
                    parse_time(r.value["superseded"], what=f"{what} superseded")
                    if "superseded" in r.value else None,
                )
            )
        rebuilds = []
        for position, item in enumerate(top.array("rebuilds")):
            what = f"status record rebuilds[{position}]"
            r = _Reader(item, what, ("index", "version", "builder", "result"))
            result = _RESULT_NAMES.get(r.text("result"))
            if result is None:
                raise FormatError(f"{what} result: want one of {', '.join(RESULTS)}")
            rebuilds.append(
                RebuildRef(r.integer("index"), r.integer("version", 1), r.text("builder"), result)
            )
        advisories = []
        for position, item in enumerate(top.array("advisories")):
            what = f"status record advisories[{position}]"
            r = _Reader(item, what, ("index", "id", "action", "introduced"), ("fixed",))
            action = _ACTION_NAMES.get(r.text("action"))
            if action is None:
                raise FormatError(f"{what} action: want warn or block")
            fixed = r.integer("fixed", 1) if "fixed" in r.value else None
            advisories.append(
                AdvisoryRef(
                    r.integer("index"), r.text("id"), action, r.integer("introduced", 1), fixed
                )
            )
        record = StatusRecord(
            top.text("repository"), tuple(releases), tuple(rebuilds), tuple(advisories)
        )
    if encode_record(record) != data:
        raise FormatError("status record: not in canonical encoding")
    return record


# --------------------------------------------------------------------------- #
# Proofs
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class RecordProof:
    """A record and its inclusion proof in the map tree.

    Attributes:
        index: The record's position (rank of its name among all names).
        size: The number of records in the map.
        record: The record's canonical bytes.
        hashes: The RFC 9162 inclusion proof.
    """

    index: int
    size: int
    record: bytes
    hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AbsenceProof:
    """The two adjacent records between which a name would sit.

    Attributes:
        size: The number of records in the map.
        left: The record just before the name, or None if it would be first.
        right: The record just after the name, or None if it would be last.
    """

    size: int
    left: RecordProof | None
    right: RecordProof | None


def format_record_proof(proof: RecordProof) -> dict[str, Any]:
    """A record proof as JSON (base64 record and hashes)."""
    return {
        "index": proof.index,
        "size": proof.size,
        "record": b64encode(proof.record),
        "proof": [b64encode(h) for h in proof.hashes],
    }


def parse_record_proof(value: object) -> RecordProof:
    """Parse :func:`format_record_proof` output.

    Raises:
        FormatError: anything malformed.
    """
    r = _Reader(value, "map proof", ("index", "size", "record", "proof"))
    hashes = []
    for position, item in enumerate(r.array("proof")):
        if not isinstance(item, str):
            raise FormatError(f"map proof hash {position}: want a base64 string")
        hashes.append(b64decode_strict(item, what=f"map proof hash {position}"))
    return RecordProof(
        r.integer("index"), r.integer("size"),
        b64decode_strict(r.text("record"), what="map proof record"), tuple(hashes),
    )


def format_absence_proof(proof: AbsenceProof) -> dict[str, Any]:
    """An absence proof as JSON."""
    return {
        "size": proof.size,
        "left": None if proof.left is None else format_record_proof(proof.left),
        "right": None if proof.right is None else format_record_proof(proof.right),
    }


def parse_absence_proof(value: object) -> AbsenceProof:
    """Parse :func:`format_absence_proof` output.

    Raises:
        FormatError: anything malformed.
    """
    r = _Reader(value, "absence proof", ("size", "left", "right"))
    left = None if r.value["left"] is None else parse_record_proof(r.value["left"])
    right = None if r.value["right"] is None else parse_record_proof(r.value["right"])
    return AbsenceProof(r.integer("size"), left, right)


def status_root(checkpoint: Checkpoint) -> bytes | None:
    """The status-map root from a checkpoint's extension line, or None if it has none.

    Raises:
        FormatError: the line is there twice or its root is not 32 bytes of
            canonical base64.
    """
    prefix = STATUS_MAP_EXTENSION + " "
    lines = [line for line in checkpoint.extensions if line.startswith(prefix)]
    if not lines:
        return None
    if len(lines) > 1:
        raise FormatError(f"checkpoint: {len(lines)} {STATUS_MAP_EXTENSION} lines (want one)")
    root = b64decode_strict(lines[0][len(prefix):], what=f"checkpoint {STATUS_MAP_EXTENSION}")
    if len(root) != merkle.HASH_SIZE:
        raise FormatError(f"checkpoint {STATUS_MAP_EXTENSION}: root is {len(root)} bytes, want 32")
    return root


def _verify_leaf(root: bytes, proof: RecordProof) -> Record:
    record = parse_record(proof.record)
    verify_inclusion(
        proof.index, proof.size, merkle.hash_leaf(proof.record), list(proof.hashes), root
    )
    return record


def verify_record(root: bytes, name: str, proof: RecordProof) -> Record:
    """Verify that ``proof`` shows the record for ``name`` in the map with ``root``.

    Procedure: (1) parse the record strictly (canonical encoding); (2) its
    name is ``name``; (3) its inclusion proof at ``(index, size)`` leads to
    ``root``. Whether the map is *right* (no hidden release or advisory) is
    what auditing witnesses check by replaying the log.

    Raises:
        FormatError: the record is malformed.
        ProofError: another name, or the proof fails (RootMismatchError).
    """
    record = parse_record(proof.record)
    if record.name != name:
        raise ProofError(f"map proof: record is for {record.name!r}, want {name!r}")
    _verify_leaf(root, proof)
    return record


def verify_absence(root: bytes, name: str, proof: AbsenceProof) -> None:
    """Verify that the map with ``root`` has no record for ``name``.

    Procedure: the left neighbour's name sorts before ``name`` and the right
    one's after it; both are in the map (inclusion proofs against ``root``)
    at adjacent positions; a missing neighbour is only allowed at the ends
    (position 0 or ``size``).

    Raises:
        FormatError: a neighbour record is malformed.
        ProofError: the neighbours don't bracket ``name`` or a proof fails.
    """
    size = proof.size
    left_index = -1
    if proof.left is not None:
        if proof.left.size != size:
            raise ProofError("absence proof: left neighbour proven in a map of another size")
        left = _verify_leaf(root, proof.left)
        if not left.name < name:
            raise ProofError(f"absence proof: left neighbour {left.name!r} is not before {name!r}")
        left_index = proof.left.index
    right_index = size
    if proof.right is not None:
        if proof.right.size != size:
            raise ProofError("absence proof: right neighbour proven in a map of another size")
        right = _verify_leaf(root, proof.right)
        if not name < right.name:
            raise ProofError(f"absence proof: right neighbour {right.name!r} is not after {name!r}")
        right_index = proof.right.index
    if right_index != left_index + 1:
        raise ProofError(
            f"absence proof for {name!r}: neighbours at positions {left_index} and "
            f"{right_index} are not adjacent in a map of {size} records"
        )
    if size == 0 and root != merkle.EMPTY_ROOT:
        raise ProofError("absence proof: an empty map has the empty root")


@dataclass(frozen=True)
class MapSnapshot:
    """The map at one log size: sorted names, leaves, and proofs on demand.

    Attributes:
        size: The log size it reflects.
        names: Record names, sorted.
        leaves: Canonical record bytes, in name order.
        root: The map root.
    """

    size: int
    names: tuple[str, ...]
    leaves: tuple[bytes, ...]
    root: bytes
    _tree: list[merkle.MerkleTree] = field(default_factory=list, repr=False, compare=False)

    def _merkle(self) -> merkle.MerkleTree:
        if not self._tree:
            self._tree.append(merkle.MerkleTree(merkle.hash_leaf(leaf) for leaf in self.leaves))
        return self._tree[0]

    def record_proof(self, position: int) -> RecordProof:
        """The proof of the record at ``position``."""
        count = len(self.names)
        return RecordProof(
            position, count, self.leaves[position],
            tuple(self._merkle().inclusion_proof(position, count)),
        )

    def prove(self, name: str) -> RecordProof | AbsenceProof:
        """The record of ``name`` with its proof, or an absence proof."""
        position = bisect.bisect_left(self.names, name)
        if position < len(self.names) and self.names[position] == name:
            return self.record_proof(position)
        left = self.record_proof(position - 1) if position > 0 else None
        right = self.record_proof(position) if position < len(self.names) else None
        return AbsenceProof(len(self.names), left, right)

    def record(self, name: str) -> Record | None:
        """The parsed record of ``name``, if any."""
        position = bisect.bisect_left(self.names, name)
        if position < len(self.names) and self.names[position] == name:
            return parse_record(self.leaves[position])
        return None


@dataclass(frozen=True, slots=True)
class NamedEntry:
    """A log entry a status answer carries, with its inclusion proof.

    Attributes:
        index: Its log index.
        data: Its exact bytes.
        proof: Its inclusion proof in the checkpoint's tree.
    """

    index: int
    data: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class VerifiedStatus:
    """A status answer that checked out against a verified checkpoint.

    Attributes:
        repository: The name asked about.
        record: Its record, or None if the map proves it has none.
        entries: The entries the record names, by index, signatures verified.
        checkpoint: The checkpoint everything was proven against.
    """

    repository: str
    record: Record | None
    entries: dict[int, LoggedEntry]
    checkpoint: Checkpoint


def _mismatch(index: int, problem: str) -> ProofError:
    return ProofError(f"status answer: entry {index} {problem}")


def _check_release(ref: ReleaseRef, record: StatusRecord, entry: LoggedEntry) -> None:
    release = parse_release(entry.statement)
    if (release.repository, release.version, release.digest, release.published_s) != (
        record.repository, ref.version, ref.digest, ref.published_s
    ):
        raise _mismatch(
            ref.index,
            f"is release {release.version} of {release.repository!r} "
            f"({digest_text(release.digest)}), but the record says release {ref.version} of "
            f"{record.repository!r} ({digest_text(ref.digest)})",
        )


def _check_named(record: Record, entries: dict[int, LoggedEntry]) -> None:
    if isinstance(record, GovernanceRecord):
        charter = parse_charter_statement(entries[record.charter.index].statement)
        if (charter.name, charter.version, charter.digest) != (
            record.charter.name, record.charter.version, record.charter.digest
        ):
            raise _mismatch(record.charter.index, f"is {charter.label}, not what the record says")
        for revoked in record.revoked:
            revocation = parse_revocation(entries[revoked.index].statement)
            if revocation.key != revoked.key:
                raise _mismatch(revoked.index, "revokes another key than the record says")
        return
    for release in record.releases:
        _check_release(release, record, entries[release.index])
    for rebuild in record.rebuilds:
        entry = entries[rebuild.index]
        attestation = parse_rebuild(entry.statement)
        target = record.release(rebuild.version)
        if (
            attestation.repository != record.repository
            or attestation.version != rebuild.version
            or target is None
            or attestation.release_digest != target.digest
            or attestation.outcome != rebuild.result
            or rebuild.builder not in entry.signers
        ):
            raise _mismatch(rebuild.index, "is not the rebuild attestation the record says")
    for advisory in record.advisories:
        statement = parse_advisory(entries[advisory.index].statement)
        if (
            statement.repository != record.repository
            or statement.id != advisory.id
            or statement.action != advisory.action
            or (statement.introduced, statement.fixed) != (advisory.introduced, advisory.fixed)
        ):
            raise _mismatch(advisory.index, f"is not advisory {advisory.id} as the record says")


def verify_status_answer(
    checkpoint: VerifiedCheckpoint,
    repository: str,
    proof: RecordProof | AbsenceProof,
    entries: Sequence[NamedEntry],
) -> VerifiedStatus:
    """Verify a status answer (``GET /api/v1/status/...``) against a verified checkpoint.

    Procedure:

    1. The checkpoint carries a status-map root.
    2. The record proof (or absence proof) for ``repository`` leads to it.
    3. The answer carries exactly the entries the record names.
    4. Each entry is in the checkpoint's tree (inclusion proof) and every
       signature on it verifies (:func:`verify_logged_entry`).
    5. Each entry says what the record says about it (release version,
       digest and time; attestation outcome and rebuilder; advisory id,
       action and range; charter version and digest; revoked key).

    Whether the signers held their roles is a question for the charter chain
    (the client's), and whether the map hides anything is the auditors'.

    Raises:
        FormatError: a record or entry is malformed.
        ProofError: any proof fails or an entry contradicts the record
            (RootMismatchError for a proof leading elsewhere).
        SignatureError: an entry carries a signature that does not verify.
    """
    body = checkpoint.checkpoint
    # Step 1.
    root = status_root(body)
    if root is None:
        raise ProofError(f"checkpoint of size {body.size} carries no status map")
    # Step 2.
    if isinstance(proof, AbsenceProof):
        verify_absence(root, repository, proof)
        if entries:
            raise ProofError("status answer: an absence proof names no entries")
        return VerifiedStatus(repository, None, {}, body)
    record = verify_record(root, repository, proof)
    # Step 3.
    want = record.entry_indexes()
    got = tuple(entry.index for entry in entries)
    if got != want:
        raise ProofError(
            f"status answer: carries entries {list(got)}, the record names {list(want)}"
        )
    # Step 4.
    verified: dict[int, LoggedEntry] = {}
    for entry in entries:
        verify_inclusion(
            entry.index, body.size, merkle.hash_leaf(entry.data), list(entry.proof),
            body.root_hash,
        )
        verified[entry.index] = verify_logged_entry(entry.index, entry.data)
    # Step 5.
    try:
        _check_named(record, verified)
    except FormatError as exc:
        raise ProofError(
            f"status answer: an entry is not of the kind the record says ({exc})"
        ) from exc
    return VerifiedStatus(repository, record, verified, body)


# --------------------------------------------------------------------------- #
# The state machine
# --------------------------------------------------------------------------- #


_MISSING = object()


class StatusMap:
    """The status map's state after a log prefix; see the module docstring.

    Mutations go through :meth:`apply`. :meth:`begin` / :meth:`rollback` /
    :meth:`commit` let a caller (the log's commit gate) try a batch and undo
    it if the batch is not durably committed.
    """

    def __init__(self) -> None:
        self.size = 0
        self.charter: Charter | None = None
        self.charter_index = -1
        # Log index of every charter version applied, oldest first (version
        # i at position i - 1): not part of the map, an index for serving the
        # chain to clients that trust an older version.
        self.charter_indexes: tuple[int, ...] = ()
        self._records: dict[str, Record] = {}
        self._leaf_hashes: dict[str, bytes] = {}
        self._encoded: dict[str, bytes] = {}
        self._names: list[str] = []
        self._revoked: dict[bytes, RevokedRef] = {}
        self._advisory_ids: dict[tuple[str, str], int] = {}
        # Each repository's whole artifact set (name -> sha256 hex), replayed
        # through full and delta releases (ADR 0012): not part of the map,
        # what a delta applies to and the package owners rule compares with.
        self._artifacts: dict[str, dict[str, str]] = {}
        # Owner authorisations per repository (ADR 0013): the latest one's
        # counter and index, and every package they set (the latest word per
        # package). Not part of the map; they override the charter's table.
        self._owner_tables: dict[str, OwnerTable] = {}
        self._ownership_cache: dict[str, tuple[Charter, OwnerTable, Ownership]] = {}
        self._journal: list[tuple[Any, ...]] | None = None
        self._public_keys: dict[str, bytes | None] = {}
        self._charter_revoked_cache: tuple[Charter, dict[bytes, int]] | None = None

    # -- reading -------------------------------------------------------------------

    def record(self, name: str) -> Record | None:
        """The current record of a repository (or ``""`` for governance)."""
        return self._records.get(name)

    def records(self) -> Iterator[Record]:
        """Every record, in name order."""
        return (self._records[name] for name in self._names)

    def root(self) -> bytes | None:
        """The map root, or None before any charter (then there is no map)."""
        if self.charter is None:
            return None
        return merkle.root_from_leaf_hashes([self._leaf_hashes[n] for n in self._names])

    def snapshot(self) -> MapSnapshot | None:
        """The map as of now (for serving proofs), or None before any charter."""
        root = self.root()
        if root is None:
            return None
        names = tuple(self._names)
        return MapSnapshot(self.size, names, tuple(self._encoded[n] for n in names), root)

    def revoked_at(self, vkey: str, index: int) -> int | None:
        """If ``vkey`` may not sign entry ``index``, the index it is revoked from."""
        charter_revoked = self._charter_revoked()
        if not self._revoked and not charter_revoked:
            return None  # the common case: nothing is revoked, nothing to parse
        public_key = self._public_key(vkey)
        if public_key is None:
            return None
        ref = self._revoked.get(public_key)
        if ref is not None and ref.index < index:
            return ref.from_index
        from_index = charter_revoked.get(public_key)
        if from_index is not None and from_index <= index:
            return from_index
        return None

    def _charter_revoked(self) -> dict[bytes, int]:
        charter = self.charter
        if charter is None or not charter.revoked:
            return {}
        cached = self._charter_revoked_cache
        if cached is None or cached[0] is not charter:
            cached = (charter, {r.key.public_key: r.from_index for r in charter.revoked})
            self._charter_revoked_cache = cached
        return cached[1]

    def _public_key(self, vkey: str) -> bytes | None:
        cache = self._public_keys
        if vkey in cache:
            return cache[vkey]
        try:
            verifier = parse_verifier_key(vkey)
        except FormatError:
            verifier = None
        public_key = verifier.public_key if isinstance(verifier, Ed25519Verifier) else None
        if len(cache) >= 65536:
            cache.clear()
        cache[vkey] = public_key
        return public_key

    # -- saving and restoring ------------------------------------------------------

    def export_state(self) -> bytes:
        """The state as JSON, to restore without replaying the log (see :meth:`restore_state`).

        The charter is saved as its log index (it is an entry); everything else
        that judging needs is saved: records, revoked keys, advisory ids in use,
        and each repository's artifact set. The set is saved rather than read
        back from the latest release entry because, with delta releases, it
        depends on the repository's whole chain of releases since its last
        full one (ADR 0012); :meth:`restore_state` checks it against the
        latest release entry. Likewise each repository's owner table (ADR
        0013), checked against its latest authorisation entry.
        """
        if self._journal is not None:
            raise RuntimeError("status map: cannot export inside a transaction")
        root = self.root()
        document = {
            "vigil_statusmap": 2,
            "size": self.size,
            "charter_index": self.charter_index,
            "charter_indexes": list(self.charter_indexes),
            "records": [b64encode(self._encoded[name]) for name in self._names],
            "revoked": [[r.index, r.key, r.from_index] for r in self._revoked.values()],
            "advisory_ids": [[repo, ident, index]
                             for (repo, ident), index in self._advisory_ids.items()],
            "artifacts": [[repo, sorted(artifacts.items())]
                          for repo, artifacts in sorted(self._artifacts.items())],
            "owners": [[repo, t.counter, t.index, {p: list(o) for p, o in t.packages.items()}]
                       for repo, t in sorted(self._owner_tables.items())],
            "root": None if root is None else b64encode(root),
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def restore_state(cls, data: bytes, read_entry: Callable[[int], bytes]) -> StatusMap:
        """The state :meth:`export_state` saved.

        Args:
            data: The saved JSON.
            read_entry: Reads a log entry by index (for the charter in force,
                and each repository's latest release, which the saved
                artifact set must agree with).

        Version 1 files (before delta releases) carry no artifact sets: each
        is read from the latest release entry, which must then be a full one.

        Raises:
            FormatError: malformed, the records do not give the saved root,
                a latest release entry is not the release its record names,
                a saved artifact set disagrees with it, or a saved owner
                table with its authorisation entry.
            SignatureError: the charter or a release entry's signatures do not verify.
        """
        try:
            return cls._restore(data, read_entry)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            if isinstance(exc, FormatError):
                raise
            raise FormatError(f"status map state: malformed ({exc})") from exc

    @classmethod
    def _restore(cls, data: bytes, read_entry: Callable[[int], bytes]) -> StatusMap:
        document = parse_json_object(data, what="status map state", max_bytes=1 << 30)
        r = _Reader(document, "status map state", (
            "vigil_statusmap", "size", "charter_index", "charter_indexes", "records", "revoked",
            "advisory_ids", "root",
        ), ("artifacts", "owners"))
        version = document["vigil_statusmap"]
        if version not in (1, 2) or (version == 2) != ("artifacts" in document):
            raise FormatError("status map state: unknown version")
        saved = _saved_artifacts(r.array("artifacts")) if version == 2 else None
        state = cls()
        state.size = r.integer("size")
        state.charter_indexes = tuple(int(i) for i in r.array("charter_indexes"))
        charter_index = document["charter_index"]
        if not isinstance(charter_index, int) or charter_index >= state.size:
            raise FormatError("status map state: charter_index out of range")
        if charter_index >= 0:
            entry = verify_logged_entry(charter_index, read_entry(charter_index))
            state.charter = parse_charter_statement(entry.statement)
            state.charter_index = charter_index
        for position, text in enumerate(r.array("records")):
            encoded = b64decode_strict(str(text), what=f"status map state record {position}")
            record = parse_record(encoded)
            state._put_record(record.name, record)
            if isinstance(record, StatusRecord) and record.latest is not None:
                artifacts = _full_artifacts(record, read_entry) if saved is None \
                    else saved.pop(record.name, {})
                _check_latest_artifacts(record, artifacts, read_entry)
                state._artifacts[record.name] = artifacts
        if saved:
            raise FormatError(
                f"status map state: artifacts saved for {min(saved)[:80]!r}, which has no release"
            )
        if "owners" in document:
            for repo, counter, index, packages in r.array("owners"):
                table = OwnerTable(int(counter), int(index), {
                    str(p): tuple(str(o) for o in owners) for p, owners in packages.items()
                })
                _check_owner_table(str(repo), table, read_entry)
                state._owner_tables[str(repo)] = table
        for index, vkey, from_index in r.array("revoked"):
            verifier = parse_verifier_key(str(vkey))
            if not isinstance(verifier, Ed25519Verifier):
                raise FormatError("status map state: a revoked key is not an Ed25519 key")
            state._revoked[verifier.public_key] = RevokedRef(int(index), str(vkey),
                                                             int(from_index))
        for repo, ident, index in r.array("advisory_ids"):
            state._advisory_ids[(str(repo), str(ident))] = int(index)
        root = document["root"]
        want = None if root is None else b64decode_strict(str(root), what="status map root")
        if state.root() != want:
            raise FormatError("status map state: its records do not give its root")
        return state

    # -- transactions --------------------------------------------------------------

    def begin(self) -> None:
        """Start recording changes so that :meth:`rollback` can undo them."""
        if self._journal is not None:
            raise RuntimeError("status map: transaction already open")
        self._journal = []

    def commit(self) -> None:
        """Keep the changes since :meth:`begin`."""
        self._journal = None

    def rollback(self) -> None:
        """Undo every change since :meth:`begin`."""
        if self._journal is None:
            raise RuntimeError("status map: no transaction to roll back")
        self._undo_to(0)
        self._journal = None

    def _undo_to(self, mark: int) -> None:
        journal = self._journal
        assert journal is not None
        while len(journal) > mark:
            item = journal.pop()
            if item[0] == "attr":
                setattr(self, item[1], item[2])
            elif item[0] == "record":
                self._put_record(item[1], item[2])
            else:
                mapping: dict[Any, Any] = item[1]
                if item[3] is _MISSING:
                    del mapping[item[2]]
                else:
                    mapping[item[2]] = item[3]

    def _set_attr(self, name: str, value: Any) -> None:
        if self._journal is not None:
            self._journal.append(("attr", name, getattr(self, name)))
        setattr(self, name, value)

    def _set_item(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        if self._journal is not None:
            self._journal.append(("item", mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def _set_record(self, record: Record) -> None:
        if self._journal is not None:
            self._journal.append(("record", record.name, self._records.get(record.name)))
        self._put_record(record.name, record)

    def _put_record(self, name: str, record: Record | None) -> None:
        if record is None:
            del self._records[name]
            del self._leaf_hashes[name]
            del self._encoded[name]
            self._names.pop(bisect.bisect_left(self._names, name))
            return
        if name not in self._records:
            bisect.insort(self._names, name)
        encoded = encode_record(record)
        self._records[name] = record
        self._encoded[name] = encoded
        self._leaf_hashes[name] = merkle.hash_leaf(encoded)

    # -- applying ------------------------------------------------------------------

    def skip(self, index: int) -> None:
        """Count an entry that was refused (an auditor replaying a lying log)."""
        self._check_index(index)
        self._set_attr("size", self.size + 1)

    def _check_index(self, index: int) -> None:
        if index != self.size:
            raise ValueError(f"status map: entry {index} applied at size {self.size}")

    def check_signers(self, index: int, signers: Sequence[str]) -> None:
        """Refuse entry ``index`` if a revoked key signed it.

        Raises:
            PolicyError: naming the key and the index it is revoked from.
        """
        for vkey in signers:
            from_index = self.revoked_at(vkey, index)
            if from_index is not None:
                name = vkey.split("+", 1)[0]
                raise PolicyError(
                    f"entry {index}: signed by {name} ({vkey.split('+')[1][:8]}), "
                    f"a key revoked from index {from_index}"
                )

    def apply_artifact(self, index: int, signers: Sequence[str]) -> None:
        """Apply a generic artifact entry whose predicate was validated.

        The only rule: no revoked signer.

        Raises:
            PolicyError: a revoked key signed it.
        """
        self._check_index(index)
        self.check_signers(index, signers)
        self._set_attr("size", self.size + 1)

    def apply(self, entry: LoggedEntry) -> None:
        """Judge entry ``entry.index`` under the rules in force and apply it.

        Procedure:

        1. ``entry.index`` is the next index (programming error otherwise).
        2. A revocation of a key that is already revoked is a duplicate.
        3. No signer is revoked at this index (charter ``[[revoked]]`` or an
           earlier revocation statement).
        4. The kind's rules (release, rebuild, advisory, revocation, charter,
           owners, artifact); see each ``_apply_*``. Unknown kinds are refused.

        On any failure the state is unchanged.

        Raises:
            FormatError: the predicate is malformed for its kind.
            PolicyError: no charter, a signer without the role, an unknown
                repository, a reference to no release, an unknown kind.
            ThresholdError: too few distinct role keys signed.
            OwnerApprovalError: (a PolicyError) a release changes a package
                without its owner's signature or the janitor quorum.
            RollbackError: a downgrade, a replayed old release or owners
                authorisation, a time going backwards (EquivocationError: same
                version, other digest).
            DuplicateEntryError: it repeats something already in force.
        """
        self._check_index(entry.index)
        opened = self._journal is None
        if opened:
            self._journal = []
        assert self._journal is not None
        mark = len(self._journal)
        try:
            self._apply(entry)
        except BaseException:
            self._undo_to(mark)  # whatever a rule wrote before failing
            raise
        finally:
            if opened:
                self._journal = None

    def _apply(self, entry: LoggedEntry) -> None:
        kind = entry.statement.predicate_type
        if kind == REVOCATION_PREDICATE_TYPE:
            revocation = parse_revocation(entry.statement)
            existing = self._revoked.get(revocation.verifier.public_key)
            if existing is not None:
                raise DuplicateEntryError(
                    f"revocation of {revocation.verifier.name}: already revoked at index "
                    f"{existing.index}",
                    existing_index=existing.index,
                )
        self.check_signers(entry.index, entry.signers)
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise PolicyError(f"entry {entry.index}: predicateType {kind[:80]!r} has no rules")
        handler(self, entry)
        self._set_attr("size", self.size + 1)

    def _charter(self, what: str) -> Charter:
        if self.charter is None:
            raise PolicyError(f"{what}: no charter is in force yet (log a charter version 1 first)")
        return self.charter

    def _update_governance(self) -> None:
        assert self.charter is not None
        self._set_record(
            GovernanceRecord(
                CharterRef(
                    self.charter_index, self.charter.name, self.charter.version,
                    self.charter.digest,
                ),
                tuple(sorted(self._revoked.values(), key=lambda r: r.index)),
            )
        )

    def _repository_record(self, name: str) -> StatusRecord:
        record = self._records.get(name)
        if record is None:
            return StatusRecord(name)
        assert isinstance(record, StatusRecord)
        return record

    # -- charter -------------------------------------------------------------------

    def _apply_charter(self, entry: LoggedEntry) -> None:
        charter = parse_charter_statement(entry.statement)
        current = self.charter
        if current is None:
            check_genesis(charter, entry.signers)
        else:
            if charter.version == current.version and charter.digest == current.digest:
                raise DuplicateEntryError(
                    f"{charter.label}: already in force since index {self.charter_index}",
                    existing_index=self.charter_index,
                )
            check_successor(current, charter, entry.signers)
        self._set_attr("charter", charter)
        self._set_attr("charter_index", entry.index)
        self._set_attr("charter_indexes", (*self.charter_indexes, entry.index))
        self._update_governance()

    # -- revocation ----------------------------------------------------------------

    def _apply_revocation(self, entry: LoggedEntry) -> None:
        revocation = parse_revocation(entry.statement)
        what = f"revocation of {revocation.verifier.name}"
        if revocation.key not in entry.signers:
            charter = self._charter(f"{what} (not signed by the key itself)")
            result = charter.foundation.evaluate(entry.signers)
            if not result.signed:
                raise PolicyError(
                    f"{what}: must be signed by the key itself or by the foundation of "
                    f"{charter.label}"
                )
            if not result.met:
                raise ThresholdError(f"{what}: foundation of {charter.label}: {result.describe()}")
        from_index = entry.index if revocation.from_index is None else revocation.from_index
        if from_index > entry.index:
            raise PolicyError(
                f"{what}: from_index {from_index} is after the revocation's own index "
                f"{entry.index}"
            )
        self._set_item(
            self._revoked,
            revocation.verifier.public_key,
            RevokedRef(entry.index, revocation.key, from_index),
        )
        if self.charter is not None:
            self._update_governance()

    # -- release -------------------------------------------------------------------

    def _apply_release(self, entry: LoggedEntry) -> None:
        """Steps: (1) the repository's publishers' threshold; (2) its format;
        (3) newer than the latest release; (4) a delta release has a previous
        release and removes only artifacts it had (the repository's artifact
        set after it is the previous set, minus ``removed``, plus those
        listed); (5) for a repository with package owners, every changed
        package approved (:mod:`vigil.core.owners`)."""
        release = parse_release(entry.statement)
        what = f"release {release.version} of {release.repository!r}"
        charter = self._charter(what)
        rules = charter.repository(release.repository)
        # Role and threshold (distinct keys).
        result = rules.publishers.evaluate(entry.signers)
        if not result.signed:
            raise PolicyError(
                f"{what}: signed by {_names(entry.signers)}, none of whom is a publisher of "
                f"{release.repository!r} under {charter.label} "
                f"(publishers: {', '.join(result.missing)})"
            )
        if not result.met:
            raise ThresholdError(f"{what}: publishers: {result.describe()}")
        if release.format != rules.format:
            raise PolicyError(
                f"{what}: format {release.format}, but {charter.label} says {rules.format}"
            )
        record = self._repository_record(release.repository)
        latest = record.latest
        if latest is not None:
            _check_newer(what, release, record, latest)
        previous = self._artifacts.get(release.repository, {}) if latest else None
        current = apply_release(previous, release, what=what)
        if rules.ownership is not None:
            ownership = self._ownership(release.repository, charter, rules.ownership)
            _check_owners(what, charter, ownership, release, previous or {}, current,
                          entry.signers)
        self._set_item(self._artifacts, release.repository, current)
        self._set_record(_with_release(record, entry.index, release, rules.grace_s))

    # -- owners --------------------------------------------------------------------

    def _apply_owners(self, entry: LoggedEntry) -> None:
        """Steps: (1) the repository has janitors under the charter in force;
        (2) their quorum signed (distinct keys; revoked keys were refused
        before); (3) the counter is exactly one above the repository's latest
        authorisation (an older one replayed is a rollback); (4) every package
        name fits the repository's format and every team exists."""
        owners = parse_owners(entry.statement)
        what = f"owners authorisation {owners.counter} of {owners.repository!r}"
        charter = self._charter(what)
        rules = charter.repository(owners.repository)
        if rules.ownership is None:
            raise PolicyError(
                f"{what}: {charter.label} names no janitors for {owners.repository!r}, so it "
                "has no package owners to set"
            )
        quorum = rules.ownership.janitor_quorum(entry.signers)
        team = rules.ownership.janitors.name
        if not quorum.signed:
            raise PolicyError(
                f"{what}: signed by {_names(entry.signers)}, none of whom is a janitor of "
                f"{owners.repository!r} (team {team!r}) under {charter.label}"
            )
        if not quorum.met:
            raise ThresholdError(f"{what}: janitors (team {team!r}): {quorum.describe()}")
        table = self._owner_tables.get(owners.repository)
        latest = 0 if table is None else table.counter
        if owners.counter <= latest:
            assert table is not None
            raise RollbackError(
                f"{what}: counter {owners.counter} is not above the latest authorisation's "
                f"{latest} (index {table.index}): an old authorisation replayed"
            )
        if owners.counter != latest + 1:
            raise PolicyError(f"{what}: counter {owners.counter} skips {latest + 1}")
        for package, spellings in owners.packages.items():
            try:
                check_package_name(rules.format, package)
            except FormatError as exc:
                raise PolicyError(f"{what}: {exc}") from exc
            for spelling in spellings:
                name = spelling[len(TEAM_PREFIX):]
                if spelling.startswith(TEAM_PREFIX) and name not in charter.teams:
                    raise PolicyError(
                        f"{what}: package {package!r}: unknown team {name!r} under {charter.label}"
                    )
        packages = dict(table.packages) if table is not None else {}
        packages.update(owners.packages)
        self._set_item(
            self._owner_tables, owners.repository,
            OwnerTable(owners.counter, entry.index, packages),
        )

    def _ownership(self, repository: str, charter: Charter, base: Ownership) -> Ownership:
        """The charter's owners, overridden per package by the log's authorisations."""
        table = self._owner_tables.get(repository)
        if table is None:
            return base
        cached = self._ownership_cache.get(repository)
        if cached is not None and cached[0] is charter and cached[1] is table:
            return cached[2]
        packages = dict(base.packages)
        for package, spellings in table.packages.items():
            owners = tuple(
                Owner(team=charter.teams[s[len(TEAM_PREFIX):]]) if s.startswith(TEAM_PREFIX)
                else Owner(key=_ed25519(s))
                for s in spellings
                if not s.startswith(TEAM_PREFIX) or s[len(TEAM_PREFIX):] in charter.teams
            )
            if owners:
                packages[package] = owners
            else:
                packages.pop(package, None)  # no owner: the janitors decide
        ownership = Ownership(packages, base.janitors, base.janitor_threshold)
        self._ownership_cache[repository] = (charter, table, ownership)
        return ownership

    # -- rebuild -------------------------------------------------------------------

    def _apply_rebuild(self, entry: LoggedEntry) -> None:
        rebuild = parse_rebuild(entry.statement)
        what = f"rebuild attestation for release {rebuild.version} of {rebuild.repository!r}"
        charter = self._charter(what)
        rules = charter.repository(rebuild.repository)
        builders = [s for s in entry.signers if rules.is_rebuilder(s)]
        if not builders:
            registered = ", ".join(k.name for k in rules.rebuilders) or "none"
            raise PolicyError(
                f"{what}: signed by {_names(entry.signers)}, not a registered rebuilder of "
                f"{rebuild.repository!r} under {charter.label} (rebuilders: {registered})"
            )
        record = self._repository_record(rebuild.repository)
        target = record.release(rebuild.version)
        if target is None or target.digest != rebuild.release_digest:
            raise PolicyError(
                f"{what}: no release {rebuild.version} with digest "
                f"{digest_text(rebuild.release_digest)} is in force ({_in_force(record)})"
            )
        rebuilds = list(record.rebuilds)
        for builder in builders:
            for position, old in enumerate(rebuilds):
                if old.version == rebuild.version and old.builder == builder:
                    if old.result == rebuild.outcome:
                        raise DuplicateEntryError(
                            f"{what}: {_names([builder])} already attested {old.result} "
                            f"at index {old.index}",
                            existing_index=old.index,
                        )
                    del rebuilds[position]
                    break
            rebuilds.append(RebuildRef(entry.index, rebuild.version, builder, rebuild.outcome))
        rebuilds.sort(key=lambda r: (-r.version, r.builder))
        self._set_record(
            StatusRecord(record.repository, record.releases, tuple(rebuilds), record.advisories)
        )

    # -- advisory ------------------------------------------------------------------

    def _apply_advisory(self, entry: LoggedEntry) -> None:
        advisory = parse_advisory(entry.statement)
        what = f"advisory {advisory.id} for {advisory.repository!r}"
        charter = self._charter(what)
        if charter.security is None:
            raise PolicyError(f"{what}: {charter.label} names no security team")
        result = charter.security.evaluate(entry.signers)
        if not result.signed:
            raise PolicyError(
                f"{what}: signed by {_names(entry.signers)}, not a member of the security "
                f"team of {charter.label}"
            )
        if not result.met:
            raise ThresholdError(f"{what}: security team: {result.describe()}")
        charter.repository(advisory.repository)
        record = self._repository_record(advisory.repository)
        target = next((r for r in record.releases if r.digest == advisory.release_digest), None)
        if target is None:
            raise PolicyError(
                f"{what}: refers to release digest {digest_text(advisory.release_digest)}, "
                f"which is not in force ({_in_force(record)})"
            )
        seen = self._advisory_ids.get((advisory.repository, advisory.id))
        if seen is not None:
            raise DuplicateEntryError(
                f"{what}: id already used at index {seen}", existing_index=seen
            )
        advisories = list(record.advisories)
        if advisory.withdraws is not None:
            kept = [a for a in advisories if a.id != advisory.withdraws]
            if len(kept) == len(advisories):
                raise PolicyError(
                    f"{what}: withdraws {advisory.withdraws}, which is not in force for "
                    f"{advisory.repository!r}"
                )
            advisories = kept
        if advisory.action != "withdraw":
            if not advisory.affects(target.version):
                raise PolicyError(
                    f"{what}: the release it names (version {target.version}) is outside its "
                    f"affected range {_range(advisory)}"
                )
            advisories.append(
                AdvisoryRef(
                    entry.index, advisory.id,
                    "warn" if advisory.action == "warn" else "block",
                    advisory.introduced, advisory.fixed,
                )
            )
        self._set_item(self._advisory_ids, (advisory.repository, advisory.id), entry.index)
        self._set_record(
            StatusRecord(record.repository, record.releases, record.rebuilds, tuple(advisories))
        )

    # -- artifact ------------------------------------------------------------------

    def _apply_generic(self, entry: LoggedEntry) -> None:
        predicate = entry.statement.predicate
        if set(predicate) - {"description"} or not isinstance(
            predicate.get("description", ""), str
        ):
            raise FormatError(
                f"entry {entry.index}: artifact predicate must be {{\"description\": TEXT}}"
            )


_HANDLERS = {
    CHARTER_PREDICATE_TYPE: StatusMap._apply_charter,
    REVOCATION_PREDICATE_TYPE: StatusMap._apply_revocation,
    RELEASE_PREDICATE_TYPE: StatusMap._apply_release,
    REBUILD_PREDICATE_TYPE: StatusMap._apply_rebuild,
    ADVISORY_PREDICATE_TYPE: StatusMap._apply_advisory,
    ARTIFACT_PREDICATE_TYPE: StatusMap._apply_generic,
    OWNERS_PREDICATE_TYPE: StatusMap._apply_owners,
}


@dataclass(frozen=True, slots=True)
class OwnerTable:
    """A repository's owner authorisations so far (ADR 0013).

    Attributes:
        counter: The latest authorisation's counter.
        index: Its log index.
        packages: Every package an authorisation set, with the latest owners
            (verifier keys or ``team:NAME``; empty: no owner).
    """

    counter: int
    index: int
    packages: dict[str, tuple[str, ...]]


def _ed25519(vkey: str) -> Ed25519Verifier:
    verifier = parse_verifier_key(vkey)
    assert isinstance(verifier, Ed25519Verifier)  # parse_owners accepted only these
    return verifier


def _check_owner_table(
    repository: str, table: OwnerTable, read_entry: Callable[[int], bytes]
) -> None:
    """A saved owner table agrees with the authorisation entry it names (restoring)."""
    owners = parse_owners(verify_logged_entry(table.index, read_entry(table.index)).statement)
    if (owners.repository, owners.counter) != (repository, table.counter) or any(
        table.packages.get(p) != o for p, o in owners.packages.items()
    ):
        raise FormatError(
            f"status map state: entry {table.index} is not owners authorisation "
            f"{table.counter} of {repository!r} as the saved state says"
        )


def _saved_artifacts(items: list[Any]) -> dict[str, dict[str, str]]:
    """The ``artifacts`` field of a saved state: [[repository, [[name, sha256 hex]...]]...]."""
    saved: dict[str, dict[str, str]] = {}
    for repo, pairs in items:
        artifacts = {str(name): str(digest) for name, digest in pairs}
        if str(repo) in saved or len(artifacts) != len(pairs):
            raise FormatError(f"status map state: artifacts of {str(repo)[:80]!r} repeated")
        saved[str(repo)] = artifacts
    return saved


def _full_artifacts(record: StatusRecord, read_entry: Callable[[int], bytes]) -> dict[str, str]:
    """The artifacts the latest release lists (restoring a version 1 state file)."""
    latest = record.latest
    assert latest is not None
    release = parse_release(verify_logged_entry(latest.index, read_entry(latest.index)).statement)
    if release.delta:
        raise FormatError(
            f"status map state: version 1 file, but the latest release of "
            f"{record.repository!r} (entry {latest.index}) is a delta; replay the log"
        )
    return artifact_digests(release)


def _check_latest_artifacts(
    record: StatusRecord, artifacts: dict[str, str], read_entry: Callable[[int], bytes]
) -> None:
    """Check a saved artifact set against ``record``'s latest release entry (restoring).

    The set is not covered by the map root, so a saved state file could hold
    any set; this ties it to the entry: a full release must list exactly the
    set, a delta must list a subset of it (same digests) and remove none of
    its names. A state file edited beyond that is the operator's own doing.
    """
    latest = record.latest
    assert latest is not None
    release = parse_release(verify_logged_entry(latest.index, read_entry(latest.index)).statement)
    if (release.repository, release.version, release.digest) != (
        record.repository, latest.version, latest.digest
    ):
        raise FormatError(
            f"status map state: entry {latest.index} is not release {latest.version} of "
            f"{record.repository!r} as its record says"
        )
    listed = artifact_digests(release)
    if release.delta:
        agrees = all(artifacts.get(name) == digest for name, digest in listed.items()) and \
            not any(name in artifacts for name in release.removed)
    else:
        agrees = artifacts == listed
    if not agrees:
        raise FormatError(
            f"status map state: the saved artifacts of {record.repository!r} disagree with "
            f"its latest release (entry {latest.index})"
        )


def _check_owners(
    what: str, charter: Charter, ownership: Ownership, release: Release,
    previous: dict[str, str], current: dict[str, str], signers: Sequence[str],
) -> None:
    """The package owners rule (:mod:`vigil.core.owners`) for a repository with owners.

    It compares the repository's whole artifact sets before and after, so a
    delta is judged by what it adds, changes and removes, exactly as the
    equivalent full release would be.
    """
    where = f"{release.repository!r} has package owners under {charter.label}"
    if not release.artifacts and not release.delta:
        raise PolicyError(
            f"{what}: {where}, so a release must list its artifacts (packages) for their "
            "owners to approve"
        )
    try:
        if release.delta:
            changes = delta_package_changes(
                release.format, previous, current, (a.name or "" for a in release.artifacts),
                release.removed,
            )
        else:
            changes = package_changes(release.format, previous, current)
    except FormatError as exc:
        raise PolicyError(
            f"{what}: {exc}; {where}, so every artifact must name its package"
        ) from exc
    check_approvals(ownership, changes, signers, what=what)


def _names(vkeys: Iterable[str]) -> str:
    shown = [f"{k.split('+')[0]} ({k.split('+')[1][:8]})" for k in vkeys if k.count("+") >= 2]
    return ", ".join(shown) or "nobody"


def _in_force(record: StatusRecord) -> str:
    if not record.releases:
        return "the repository has no release yet"
    return "in force: " + ", ".join(
        f"version {r.version} ({digest_text(r.digest)[:19]}...)" for r in record.releases
    )


def _range(advisory: Advisory) -> str:
    fixed = "" if advisory.fixed is None else str(advisory.fixed)
    return f"[{advisory.introduced}, {fixed or 'unfixed'})"


def _check_newer(what: str, release: Release, record: StatusRecord, latest: ReleaseRef) -> None:
    """Refuse a release that is not newer than the latest (steps of :meth:`_apply_release`)."""
    if release.version == latest.version:
        if release.digest == latest.digest:
            raise DuplicateEntryError(
                f"{what}: already logged at index {latest.index}", existing_index=latest.index
            )
        raise EquivocationError(
            f"{what}: version {latest.version} was already released at index {latest.index} "
            f"with digest {digest_text(latest.digest)}; this one has "
            f"{digest_text(release.digest)} (kept as evidence)",
            existing_index=latest.index,
            existing_digest=latest.digest,
            digest=release.digest,
        )
    if release.version < latest.version:
        known = record.release(release.version)
        if known is not None and known.digest == release.digest:
            raise RollbackError(
                f"{what}: replay of the release logged at index {known.index}; "
                f"the latest is version {latest.version} (index {latest.index})"
            )
        raise RollbackError(
            f"{what}: downgrade refused: not above the latest version {latest.version} "
            f"(index {latest.index})"
        )
    if release.published_s < latest.published_s:
        raise RollbackError(
            f"{what}: published {format_time(release.published_s)}, before the latest "
            f"release (version {latest.version}, published {format_time(latest.published_s)})"
        )


def _with_release(record: StatusRecord, index: int, release: Release, grace_s: int) -> StatusRecord:
    """The record after a new latest release: prune grace, rebuilds and advisories."""
    now = release.published_s
    previous: list[ReleaseRef] = []
    for position, old in enumerate(record.releases):
        superseded = now if position == 0 else old.superseded_s
        assert superseded is not None
        if superseded + grace_s > now and len(previous) < MAX_GRACE_RELEASES:
            previous.append(
                ReleaseRef(old.index, old.version, old.digest, old.published_s, superseded)
            )
    releases = (ReleaseRef(index, release.version, release.digest, now), *previous)
    versions = {r.version for r in releases}
    rebuilds = tuple(r for r in record.rebuilds if r.version in versions)
    advisories = tuple(a for a in record.advisories if any(a.affects(v) for v in versions))
    return StatusRecord(record.repository, releases, rebuilds, advisories)


# --------------------------------------------------------------------------- #
# Replay
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class Violation:
    """An entry a log should have refused.

    Attributes:
        index: The entry's index.
        error: Why (the exception the rules raise).
    """

    index: int
    error: Exception


class Replayer:
    """Replays entries in log order and reports the ones the rules refuse.

    This is the auditor's function (and the log's own at startup): entry
    bytes in, status map out. Refused entries are recorded as
    :class:`Violation` and otherwise skipped, so the map stays what an honest
    log would have built.
    """

    def __init__(self, state: StatusMap | None = None) -> None:
        self.state = state or StatusMap()
        self.violations: list[Violation] = []
        self._verifier = EntryVerifier()

    @property
    def size(self) -> int:
        """Entries replayed so far."""
        return self.state.size

    def add(self, data: bytes) -> Violation | None:
        """Replay the next entry.

        Returns:
            The violation, if the rules refuse it.
        """
        index = self.state.size
        try:
            self.state.apply(self._verifier.verify(index, data))
        except (FormatError, VerificationError) as exc:
            violation = Violation(index, exc)
            self.violations.append(violation)
            self.state.skip(index)
            return violation
        return None

    def extend(self, entries: Iterable[bytes]) -> None:
        """Replay several entries."""
        for data in entries:
            self.add(data)


def replay_root(entries: Iterable[bytes]) -> bytes | None:
    """The status-map root after replaying ``entries`` from the start."""
    replayer = Replayer()
    replayer.extend(entries)
    return replayer.state.root()
