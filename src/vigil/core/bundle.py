"""Verification bundles: everything a client needs for one repository, in one document.

A client asks a log (or any mirror) for a bundle naming the tree size it last
verified and the charter version it trusts; the answer carries (DESIGN.md
"client"; issue 6)::

    {
      "vigil_bundle": 1,
      "repository": "tumbleweed-oss",
      "checkpoint": "<cosigned checkpoint note>",
      "consistency": {"old_size": 1200, "proof": ["<base64>", ...]},
      "status": {"record": <map proof>} | {"absence": <absence proof>},
      "governance": {"record": <map proof of the "" record>},
      "charters": [17, 90],
      "entries": [{"index": 17, "entry": "<base64>", "proof": ["<base64>", ...]}, ...]
    }

* ``consistency`` is present when ``0 < old_size < tree size``: the RFC 9162
  consistency proof from the client's stored tree to this one.
* ``status`` proves the repository's record (or its absence) against the
  checkpoint's ``vigil-status-map`` root; ``governance`` proves the charter in
  force and the revoked keys.
* ``charters`` lists the log indexes of the charter versions newer than the
  one the client trusts, oldest first, so it can walk the chain.
* ``entries`` holds, once each and ascending by index, every entry the status
  record names, the governance record's revocations and those charter
  versions, each with its inclusion proof in the checkpoint's tree.

Nothing in a bundle is trusted: :mod:`vigil.client.checks` verifies every
piece. Parsing is strict (unknown keys, duplicates, bad base64, too many
entries, oversized input: :class:`FormatError`). No I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.core.encoding import b64decode_strict, b64encode, parse_json_object
from vigil.core.statusmap import (
    GOVERNANCE,
    AbsenceProof,
    GovernanceRecord,
    MapSnapshot,
    NamedEntry,
    RecordProof,
    format_absence_proof,
    format_record_proof,
    parse_absence_proof,
    parse_record,
    parse_record_proof,
)
from vigil.errors import FormatError

__all__ = [
    "BUNDLE_VERSION",
    "MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_ENTRIES",
    "Bundle",
    "build_bundle",
    "format_bundle",
    "parse_bundle",
]

BUNDLE_VERSION = 1
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
"""Largest bundle accepted (a client years behind gets every charter version once)."""
MAX_BUNDLE_ENTRIES = 4096
_MAX_PROOF_HASHES = 64
_KEYS = frozenset(
    {"vigil_bundle", "repository", "checkpoint", "consistency", "status", "governance",
     "charters", "entries"}
)


@dataclass(frozen=True, slots=True)
class Bundle:
    """One verification bundle (see the module docstring).

    Attributes:
        repository: The repository it answers for.
        checkpoint: The cosigned checkpoint note, exact bytes.
        old_size: The tree size the consistency proof starts from (0: none).
        consistency: The consistency proof from ``old_size``.
        status: The repository's record proof, or its absence proof.
        governance: The governance record's proof.
        charters: Log indexes of the newer charter versions, oldest first.
        entries: The entries, ascending by index, with inclusion proofs.
    """

    repository: str
    checkpoint: bytes
    old_size: int
    consistency: tuple[bytes, ...]
    status: RecordProof | AbsenceProof
    governance: RecordProof
    charters: tuple[int, ...]
    entries: tuple[NamedEntry, ...]

    def entry(self, index: int) -> NamedEntry | None:
        """The carried entry at ``index``, if any."""
        for item in self.entries:
            if item.index == index:
                return item
        return None


MAX_BUNDLE_CHARTERS = 1024
"""Most charter versions one bundle walks (a client further behind asks again)."""


def build_bundle(
    *,
    repository: str,
    checkpoint: bytes,
    size: int,
    snapshot: MapSnapshot,
    charter_indexes: Sequence[int],
    charter_version: int,
    old_size: int,
    read_entries: Callable[[list[int]], list[bytes]],
    inclusion_proofs: Callable[[list[int], int], list[list[bytes]]],
    consistency_proof: Callable[[int, int], list[bytes]],
) -> Bundle:
    """Assemble the bundle a log (or a test's log) serves for one client request.

    Args:
        repository: The repository asked about.
        checkpoint: The published checkpoint note (tree ``size``).
        size: Its tree size.
        snapshot: The status map whose root the checkpoint carries.
        charter_indexes: Log index of every charter version, oldest first.
        charter_version: The version the client trusts.
        old_size: The tree size the client last verified (0: none).
        read_entries: Entry bytes by index.
        inclusion_proofs: Inclusion proofs of indexes in the tree of a size.
        consistency_proof: Consistency proof between two sizes.

    Raises:
        ValueError: ``old_size`` is larger than ``size``.
    """
    if old_size > size:
        raise ValueError(f"bundle: size {old_size} is beyond the tree ({size})")
    status = snapshot.prove(repository)
    governance = snapshot.prove(GOVERNANCE)
    if not isinstance(governance, RecordProof):
        raise ValueError("bundle: the status map has no governance record")
    record = parse_record(governance.record)
    assert isinstance(record, GovernanceRecord)
    indexes: set[int] = {r.index for r in record.revoked}
    if isinstance(status, RecordProof):
        indexes.update(parse_record(status.record).entry_indexes())
    # Version v sits at position v - 1 (a log's first charter is version 1).
    history = [i for i in charter_indexes if i < size][: record.charter.version]
    charters = tuple(history[max(charter_version, 0) :][:MAX_BUNDLE_CHARTERS])
    indexes.update(charters)
    ordered = sorted(indexes)
    datas = read_entries(ordered)
    proofs = inclusion_proofs(ordered, size)
    consistency: tuple[bytes, ...] = ()
    if 0 < old_size < size:
        consistency = tuple(consistency_proof(old_size, size))
    return Bundle(
        repository=repository,
        checkpoint=checkpoint,
        old_size=old_size if consistency else 0,
        consistency=consistency,
        status=status,
        governance=governance,
        charters=charters,
        entries=tuple(
            NamedEntry(i, d, tuple(p)) for i, d, p in zip(ordered, datas, proofs, strict=True)
        ),
    )


def _hashes(values: tuple[bytes, ...]) -> list[str]:
    return [b64encode(h) for h in values]


def format_bundle(bundle: Bundle) -> bytes:
    """Serialise a bundle as compact JSON."""
    document: dict[str, Any] = {
        "vigil_bundle": BUNDLE_VERSION,
        "repository": bundle.repository,
        "checkpoint": bundle.checkpoint.decode("utf-8"),
    }
    if bundle.old_size:
        document["consistency"] = {
            "old_size": bundle.old_size, "proof": _hashes(bundle.consistency)
        }
    if isinstance(bundle.status, RecordProof):
        document["status"] = {"record": format_record_proof(bundle.status)}
    else:
        document["status"] = {"absence": format_absence_proof(bundle.status)}
    document["governance"] = {"record": format_record_proof(bundle.governance)}
    document["charters"] = list(bundle.charters)
    document["entries"] = [
        {"index": e.index, "entry": b64encode(e.data), "proof": _hashes(e.proof)}
        for e in bundle.entries
    ]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _object(value: object, what: str, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"bundle {what}: want an object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise FormatError(f"bundle {what}: unknown key {unknown[0][:40]!r}")
    missing = sorted(keys - set(value))
    if missing:
        raise FormatError(f"bundle {what}: missing {missing[0]!r}")
    return value


def _index(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise FormatError(f"bundle {what}: want an integer 0 <= n < 2**63")
    return value


def _hash_list(value: object, what: str) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > _MAX_PROOF_HASHES:
        raise FormatError(f"bundle {what}: want a list of at most {_MAX_PROOF_HASHES} hashes")
    hashes = []
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise FormatError(f"bundle {what} hash {position}: want a base64 string")
        digest = b64decode_strict(item, what=f"bundle {what} hash {position}")
        if len(digest) != 32:
            raise FormatError(f"bundle {what} hash {position}: {len(digest)} bytes, want 32")
        hashes.append(digest)
    return tuple(hashes)


def _entries(value: object) -> tuple[NamedEntry, ...]:
    if not isinstance(value, list) or len(value) > MAX_BUNDLE_ENTRIES:
        raise FormatError(f"bundle entries: want a list of at most {MAX_BUNDLE_ENTRIES}")
    entries: list[NamedEntry] = []
    for position, item in enumerate(value):
        what = f"entries[{position}]"
        fields = _object(item, what, frozenset({"index", "entry", "proof"}))
        index = _index(fields["index"], f"{what} index")
        if entries and index <= entries[-1].index:
            raise FormatError(f"bundle {what}: index {index} not ascending")
        if not isinstance(fields["entry"], str):
            raise FormatError(f"bundle {what} entry: want a base64 string")
        data = b64decode_strict(fields["entry"], what=f"bundle {what} entry")
        entries.append(NamedEntry(index, data, _hash_list(fields["proof"], f"{what} proof")))
    return tuple(entries)


def _status(value: object) -> RecordProof | AbsenceProof:
    if isinstance(value, dict) and "absence" in value:
        return parse_absence_proof(_object(value, "status", frozenset({"absence"}))["absence"])
    return parse_record_proof(_object(value, "status", frozenset({"record"}))["record"])


def parse_bundle(data: bytes) -> Bundle:
    """Parse a bundle.

    Raises:
        FormatError: oversized, not strict JSON, an unknown version or key,
            or any malformed field.
    """
    if len(data) > MAX_BUNDLE_BYTES:
        raise FormatError(f"bundle: {len(data)} bytes, at most {MAX_BUNDLE_BYTES}")
    document = parse_json_object(data, what="bundle", max_bytes=MAX_BUNDLE_BYTES)
    optional = {"consistency"} - set(document)
    fields = _object(document, "document", _KEYS - optional)
    if fields["vigil_bundle"] != BUNDLE_VERSION:
        raise FormatError(
            f"bundle: version {str(fields['vigil_bundle'])[:20]!r}, want {BUNDLE_VERSION}"
        )
    repository = fields["repository"]
    if not isinstance(repository, str) or len(repository) > 1024:
        raise FormatError("bundle repository: want a string of at most 1024 characters")
    checkpoint = fields["checkpoint"]
    if not isinstance(checkpoint, str):
        raise FormatError("bundle checkpoint: want the note as a string")
    old_size: int = 0
    consistency: tuple[bytes, ...] = ()
    if "consistency" in fields:
        proof = _object(fields["consistency"], "consistency", frozenset({"old_size", "proof"}))
        old_size = _index(proof["old_size"], "consistency old_size")
        consistency = _hash_list(proof["proof"], "consistency proof")
    governance = _object(fields["governance"], "governance", frozenset({"record"}))
    charters = fields["charters"]
    if not isinstance(charters, list) or len(charters) > MAX_BUNDLE_ENTRIES:
        raise FormatError("bundle charters: want a list of log indexes")
    return Bundle(
        repository=repository,
        checkpoint=checkpoint.encode("utf-8"),
        old_size=old_size,
        consistency=consistency,
        status=_status(fields["status"]),
        governance=parse_record_proof(governance["record"]),
        charters=tuple(_index(c, "charters") for c in charters),
        entries=_entries(fields["entries"]),
    )
