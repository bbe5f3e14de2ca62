"""Status answers: a repository's record, its map proof and the entries it names.

``GET /api/v1/status/{repository}`` answers, against the *published*
checkpoint, with everything a client needs to check a repository offline in
one response (:class:`StatusAnswer`):

1. the checkpoint note (its ``vigil-status-map`` line holds the map root);
2. the repository's record with its inclusion proof in the map tree, or an
   absence proof (the two neighbouring records) if the map has none;
3. each log entry the record names (releases, rebuild attestations,
   advisories; for the governance record ``""`` the charter and revocations)
   with its inclusion proof in the log tree of the checkpoint.

No trust is needed in this module's output: clients verify each piece
(:func:`vigil.core.statusmap.verify_record`, ``verify_absence``,
``verify_inclusion``) and re-check the entries' signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vigil.core.bundle import Bundle, build_bundle
from vigil.core.statusmap import (
    AbsenceProof,
    MapSnapshot,
    RecordProof,
    parse_record,
    status_root,
)
from vigil.log.errors import NotFoundError, PushbackError
from vigil.log.sequencer import Published
from vigil.log.service import LogService
from vigil.log.storage.base import StoredEntry

__all__ = ["StatusAnswer", "StatusReader"]

MAX_NAMED_ENTRIES = 256
"""Most entries one answer carries (a record names at most a few dozen)."""


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """One status answer.

    Attributes:
        published: The checkpoint everything is proven against.
        proof: The record's map proof, or an absence proof.
        entries: The entries the record names, ascending by index.
        proofs: Their inclusion proofs in the checkpoint's tree.
    """

    published: Published
    proof: RecordProof | AbsenceProof
    entries: list[StoredEntry]
    proofs: list[list[bytes]]


class MapSource(Protocol):
    """Where the published status maps come from: the sequencer process's
    :class:`~vigil.log.charter_policy.CharterLog`, or a front end's
    :class:`~vigil.log.maprelay.FrontendMaps`."""

    @property
    def charter_indexes(self) -> tuple[int, ...]:
        """Log index of every charter version, oldest first."""
        ...

    def snapshot(self, root: bytes) -> MapSnapshot | None:
        """The map whose root is ``root``, if kept."""
        ...


class StatusReader:
    """Builds :class:`StatusAnswer` values for a log service.

    Args:
        service: The log service (published checkpoint, entries, proofs).
        maps: Its status maps.
    """

    def __init__(self, service: LogService, maps: MapSource) -> None:
        self._service = service
        self._charter_log = maps

    def _published_map(self) -> tuple[Published, MapSnapshot]:
        published = self._service.published
        root = status_root(published.checkpoint)
        if root is None:
            raise NotFoundError(
                "this log has no status map yet: no charter is in force "
                f"at tree size {published.size}"
            )
        snapshot = self._charter_log.snapshot(root)
        if snapshot is None:
            raise PushbackError("status map of the published checkpoint is being replaced")
        return published, snapshot

    def status(self, repository: str) -> StatusAnswer:
        """The status answer for ``repository`` (``""``: the governance record).

        Raises:
            NotFoundError: the log has no status map (no charter in force yet).
            PushbackError: the map of the published checkpoint is not at hand
                (a newer one is being published); retry.
        """
        published, snapshot = self._published_map()
        proof = snapshot.prove(repository)
        entries: list[StoredEntry] = []
        proofs: list[list[bytes]] = []
        if isinstance(proof, RecordProof):
            indexes = parse_record(proof.record).entry_indexes()[:MAX_NAMED_ENTRIES]
            entries = [self._service.entry(index) for index in indexes]
            proofs = self._service.inclusion_proofs(list(indexes), published.size)
        return StatusAnswer(published, proof, entries, proofs)

    def bundle(self, repository: str, *, old_size: int, charter_version: int) -> Bundle:
        """The verification bundle for a client (see :mod:`vigil.core.bundle`).

        Args:
            repository: The repository asked about.
            old_size: The tree size the client last verified (0: none).
            charter_version: The charter version the client trusts.

        Raises:
            NotFoundError: no status map yet.
            PushbackError: the published map is being replaced; retry.

        A client ahead of this server (``old_size`` beyond the published tree)
        gets the bundle without a consistency proof: it judges the older tree
        itself (a lagging mirror, or a rollback it keeps evidence of).
        """
        published, snapshot = self._published_map()
        if old_size > published.size:
            old_size = 0
        service = self._service
        return build_bundle(
            repository=repository,
            checkpoint=published.note,
            size=published.size,
            snapshot=snapshot,
            charter_indexes=self._charter_log.charter_indexes,
            charter_version=charter_version,
            old_size=old_size,
            read_entries=lambda indexes: [service.entry(i).data for i in indexes],
            inclusion_proofs=service.inclusion_proofs,
            consistency_proof=service.consistency_proof,
        )
