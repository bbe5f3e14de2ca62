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

from vigil.core.statusmap import AbsenceProof, RecordProof, parse_record, status_root
from vigil.log.charter_policy import CharterLog
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


class StatusReader:
    """Builds :class:`StatusAnswer` values for a log service.

    Args:
        service: The log service (published checkpoint, entries, proofs).
        charter_log: Its status map.
    """

    def __init__(self, service: LogService, charter_log: CharterLog) -> None:
        self._service = service
        self._charter_log = charter_log

    def status(self, repository: str) -> StatusAnswer:
        """The status answer for ``repository`` (``""``: the governance record).

        Raises:
            NotFoundError: the log has no status map (no charter in force yet).
            PushbackError: the map of the published checkpoint is not at hand
                (a newer one is being published); retry.
        """
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
        proof = snapshot.prove(repository)
        entries: list[StoredEntry] = []
        proofs: list[list[bytes]] = []
        if isinstance(proof, RecordProof):
            indexes = parse_record(proof.record).entry_indexes()[:MAX_NAMED_ENTRIES]
            entries = [self._service.entry(index) for index in indexes]
            proofs = self._service.inclusion_proofs(list(indexes), published.size)
        return StatusAnswer(published, proof, entries, proofs)
