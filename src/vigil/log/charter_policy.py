"""The log's charter enforcement and status map: one object, three hooks.

:class:`CharterLog` keeps a :class:`~vigil.core.statusmap.StatusMap` for the
log's committed entries and plugs it into the sequencer three ways:

* as the :class:`~vigil.log.sequencer.CommitGate`: at commit time, in commit
  order, each new entry is judged by :meth:`StatusMap.apply
  <vigil.core.statusmap.StatusMap.apply>` against the charter in force at the
  index it would take (a charter entry applies from its own index on). Refused
  entries take no index and their submitters get the rule's error (HTTP 4xx
  with the reason). The batch's changes are undone if the commit fails.
* as the :class:`~vigil.log.signing.StatusMapProvider`: at startup it replays
  the integrated entries from the tiles directory's entry bundles (exactly
  what an auditor does); it applies entries committed before a restart when
  they are integrated; and its :meth:`CharterLog.root` goes into every
  checkpoint's ``vigil-status-map`` line once a charter is in force.
* as the source of map snapshots for ``GET /api/v1/status/{repository}``
  (:mod:`vigil.log.status`), keyed by map root so that a proof always matches
  the root in the published checkpoint.

A release that contradicts an earlier one for the same version
(:class:`~vigil.core.statusmap.EquivocationError`) is refused *and* kept as
evidence: the signed envelope is written to ``<evidence dir>/<leaf hash>.json``.

Also here: :func:`charter_registry`, the kinds registry with the role
statement kinds (release, rebuild, advisory, charter, revocation) next to the
generic artifact kind.

Threads: the gate and provider methods run on the sequencer thread; snapshot
lookups come from request threads (guarded by a lock).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from vigil.core import merkle
from vigil.core.charter import CHARTER_PREDICATE_TYPE, parse_charter_statement
from vigil.core.dsse import parse_envelope
from vigil.core.intoto import Statement, parse_statement
from vigil.core.statements import (
    ADVISORY_PREDICATE_TYPE,
    ARTIFACT_PREDICATE_TYPE,
    OWNERS_PREDICATE_TYPE,
    REBUILD_PREDICATE_TYPE,
    RELEASE_PREDICATE_TYPE,
    REVOCATION_PREDICATE_TYPE,
    parse_advisory,
    parse_owners,
    parse_rebuild,
    parse_release,
    parse_revocation,
)
from vigil.core.statusmap import (
    EquivocationError,
    LoggedEntry,
    MapSnapshot,
    StatusMap,
    verify_logged_entry,
)
from vigil.core.tiles import TILE_WIDTH, TileID, parse_entry_bundle, tile_path
from vigil.errors import FormatError, VerificationError
from vigil.log.entry import ValidatedEntry
from vigil.log.errors import LogStateError, PushbackError
from vigil.log.kinds import Kind, KindRegistry, default_registry
from vigil.log.tiledir import TileDir

__all__ = ["CharterLog", "charter_registry", "read_entries"]

_log = logging.getLogger(__name__)

_KEPT_SNAPSHOTS = 16
SAVE_EVERY_ENTRIES = 100_000
"""Save the status map's state after at least this many new entries (and at
most every :data:`SAVE_EVERY_S`), so a restart replays at most about this many."""
SAVE_EVERY_S = 60.0


def _release_repository(statement: Statement) -> str:
    return parse_release(statement).repository


def _rebuild_repository(statement: Statement) -> str:
    return parse_rebuild(statement).repository


def _advisory_repository(statement: Statement) -> str:
    return parse_advisory(statement).repository


def _owners_repository(statement: Statement) -> str:
    return parse_owners(statement).repository


def _charter_kind(statement: Statement) -> None:
    parse_charter_statement(statement)


def _revocation_kind(statement: Statement) -> None:
    parse_revocation(statement)


def charter_registry() -> KindRegistry:
    """The artifact kind plus the role statement kinds, each with its strict parser."""
    registry = default_registry()
    for name, predicate_type, validate in (
        ("release", RELEASE_PREDICATE_TYPE, _release_repository),
        ("rebuild", REBUILD_PREDICATE_TYPE, _rebuild_repository),
        ("advisory", ADVISORY_PREDICATE_TYPE, _advisory_repository),
        ("charter", CHARTER_PREDICATE_TYPE, _charter_kind),
        ("revocation", REVOCATION_PREDICATE_TYPE, _revocation_kind),
        ("owners", OWNERS_PREDICATE_TYPE, _owners_repository),
    ):
        registry.register(Kind(name=name, predicate_type=predicate_type, validate=validate))
    return registry


def read_entries(tiles: TileDir, start: int, end: int) -> list[bytes]:
    """Entries ``[start, end)`` from the entry bundles of a tiles directory.

    Requires: a checkpoint of size ``end`` was published (so the partial
    bundle of width ``end % 256`` exists).

    Raises:
        LogStateError: a bundle is missing or malformed.
    """
    result: list[bytes] = []
    position = start
    while position < end:
        index = position // TILE_WIDTH
        width = min(TILE_WIDTH, end - index * TILE_WIDTH)
        bundle = TileID(0, index, width, entries=True)
        data = tiles.read_tile(bundle)
        if data is None and width < TILE_WIDTH:
            # A later checkpoint may have completed the bundle.
            full = TileID(0, index, TILE_WIDTH, entries=True)
            data = tiles.read_tile(full)
            if data is not None:
                entries = parse_entry_bundle(data, TILE_WIDTH)[:width]
                result.extend(entries[position - index * TILE_WIDTH :])
                position = index * TILE_WIDTH + width
                continue
        if data is None:
            raise LogStateError(f"status map: entry bundle {tile_path(bundle)} is missing")
        try:
            entries = parse_entry_bundle(data, width)
        except FormatError as exc:
            raise LogStateError(f"status map: {tile_path(bundle)}: {exc}") from exc
        result.extend(entries[position - index * TILE_WIDTH :])
        position = index * TILE_WIDTH + width
    return result


def _statement_of(data: bytes) -> Statement:
    """The statement of an admitted entry (canonical envelope bytes), unverified.

    Raises:
        FormatError: not an envelope carrying an in-toto Statement v1 (an
            admitted entry always is).
    """
    return parse_statement(parse_envelope(data).payload)


class CharterLog:
    """Charter enforcement, status map and map snapshots for one log.

    Args:
        tiles: The log's tiles directory (entries are replayed from it at startup).
        evidence_dir: Where refused equivocating releases are kept, or None.
        state_file: Where the map's state is saved from time to time, so that a
            restart replays only the entries after it (None: replay them all).
    """

    def __init__(
        self, tiles: TileDir, *, evidence_dir: Path | None = None,
        state_file: Path | None = None,
    ) -> None:
        self._tiles = tiles
        self._evidence_dir = evidence_dir
        self._state_file = state_file
        self._saved = (0, time.monotonic())
        self.state = StatusMap()
        self._integrated = 0
        self._open = False
        self._lock = threading.Lock()
        self._snapshots: OrderedDict[bytes, MapSnapshot] = OrderedDict()

    # -- StatusMapProvider ---------------------------------------------------------

    def load(self, size: int) -> None:
        """Restore the saved state (if any, and not beyond ``size``), then replay
        the entries after it up to ``size`` from the entry bundles."""
        self.state = self._restore(size) or StatusMap()
        # What is replayed now counts as unsaved: a long replay is saved at the
        # next checkpoint, so the next start does not repeat it.
        self._saved = (self.state.size, time.monotonic())
        replay_from = self.state.size
        chunk = 64 * TILE_WIDTH
        for start in range(self.state.size, size, chunk):
            self._replay(start, read_entries(self._tiles, start, min(size, start + chunk)))
        self._integrated = size
        snapshot = self.state.snapshot()
        if snapshot is not None:  # the stored checkpoint's map, served until the next one
            self._remember(snapshot)
        _log.info("status map: replayed %d entries", size - replay_from)

    def integrate(self, start: int, entries: Sequence[bytes]) -> None:
        """Apply integrated entries the gate has not applied (those committed
        before a restart); the others were applied at commit time."""
        end = start + len(entries)
        if self.state.size < start:
            raise LogStateError(
                f"status map: has {self.state.size} entries, asked to integrate from {start}"
            )
        if self.state.size < end:
            self._replay(self.state.size, entries[self.state.size - start :])
        self._integrated = end

    def root(self) -> bytes | None:
        """The map root for the integrated entries (kept for serving proofs)."""
        if self.state.size != self._integrated:
            # Only reachable through a sequencer bug: never sign a root for
            # another size than the tree's.
            raise LogStateError(
                f"status map covers {self.state.size} entries, the tree {self._integrated}"
            )
        snapshot = self.state.snapshot()
        self._maybe_save()
        if snapshot is None:
            return None
        self._remember(snapshot)
        return snapshot.root

    def _restore(self, size: int) -> StatusMap | None:
        path = self._state_file
        if path is None or not path.exists():
            return None
        try:
            def read_entry(index: int) -> bytes:
                # The bundle holding ``index``, full or (at the tree's edge) partial.
                end = min(size, (index // TILE_WIDTH + 1) * TILE_WIDTH)
                return read_entries(self._tiles, index, end)[0]

            state = StatusMap.restore_state(path.read_bytes(), read_entry)
        except (OSError, FormatError, VerificationError, LogStateError) as exc:
            _log.warning("status map: cannot use the saved state %s (%s); replaying all", path,
                         exc)
            return None
        if state.size > size:
            _log.warning("status map: saved state is at %d, beyond the tree (%d); replaying all",
                         state.size, size)
            return None
        _log.info("status map: restored the state at %d entries from %s", state.size, path)
        return state

    def _maybe_save(self) -> None:
        """Save the state if enough entries or time went by (atomically; a failure
        only means a longer replay at the next start)."""
        path = self._state_file
        saved_size, saved_at = self._saved
        size = self.state.size
        if path is None or size == saved_size or self._open:
            return
        if size - saved_size < SAVE_EVERY_ENTRIES and time.monotonic() - saved_at < SAVE_EVERY_S:
            return
        temp = path.with_name(path.name + ".tmp")
        try:
            with temp.open("wb") as handle:
                handle.write(self.state.export_state())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except OSError as exc:
            _log.error("status map: cannot save its state to %s: %s", path, exc)
            return
        self._saved = (size, time.monotonic())

    def _remember(self, snapshot: MapSnapshot) -> None:
        with self._lock:
            self._snapshots[snapshot.root] = snapshot
            self._snapshots.move_to_end(snapshot.root)
            while len(self._snapshots) > _KEPT_SNAPSHOTS:
                self._snapshots.popitem(last=False)

    @property
    def charter_indexes(self) -> tuple[int, ...]:
        """Log index of every charter version applied, oldest first."""
        return self.state.charter_indexes

    def snapshot(self, root: bytes) -> MapSnapshot | None:
        """The map whose root is ``root``, if still kept."""
        with self._lock:
            return self._snapshots.get(root)

    def _replay(self, start: int, entries: Sequence[bytes]) -> None:
        for offset, data in enumerate(entries):
            index = start + offset
            try:
                self.state.apply(verify_logged_entry(index, data))
            except (FormatError, VerificationError) as exc:
                # The log holds an entry its rules refuse (stored before these
                # rules, or by a bug). The map stays what an honest log would
                # build; auditors will report the entry.
                _log.critical("status map: stored entry %d breaks the rules: %s", index, exc)
                self.state.skip(index)

    # -- CommitGate ----------------------------------------------------------------

    def check(self, start: int, entries: Sequence[ValidatedEntry]) -> list[Exception | None]:
        """Judge a batch at indexes from ``start`` (see :class:`CommitGate`)."""
        if self._open:
            raise RuntimeError("commit gate: check() twice without settle()")
        if self.state.size != start:
            # Entries committed but not yet applied (a failed publication or
            # an unknown commit outcome): wait until they are integrated.
            error = PushbackError(
                f"log is catching up ({self.state.size} of {start} entries judged); retry",
                retry_after_s=1,
            )
            return [error] * len(entries)
        self.state.begin()
        self._open = True
        verdicts: list[Exception | None] = []
        for entry in entries:
            index = self.state.size
            try:
                self._judge(index, entry)
            except (FormatError, VerificationError) as exc:
                if isinstance(exc, EquivocationError):
                    self._keep_evidence(entry)
                verdicts.append(exc)
            else:
                verdicts.append(None)
        return verdicts

    def _judge(self, index: int, entry: ValidatedEntry) -> None:
        """Apply one entry, trusting the signers admission verified.

        An entry relayed by a front-end process comes with its verified
        signers and predicate type but without its statement: a generic
        artifact needs nothing more (admission validated its predicate; only
        revocations matter), any other kind has its statement parsed again,
        not its signatures checked again. Only an entry built without
        admission details (no signers) is verified from scratch.
        """
        signers = entry.signers
        if not signers:
            logged = verify_logged_entry(index, entry.data)
        elif entry.predicate_type == ARTIFACT_PREDICATE_TYPE:
            self.state.apply_artifact(index, signers)
            return
        else:
            logged = LoggedEntry(index, entry.statement or _statement_of(entry.data), signers)
        if logged.statement.predicate_type == ARTIFACT_PREDICATE_TYPE:
            self.state.apply_artifact(index, logged.signers)
        else:
            self.state.apply(logged)

    def settle(self, committed: bool) -> None:
        """Keep or undo the last batch."""
        if not self._open:
            return
        self._open = False
        if committed:
            self.state.commit()
        else:
            self.state.rollback()

    def _keep_evidence(self, entry: ValidatedEntry) -> None:
        if self._evidence_dir is None:
            return
        try:
            self._evidence_dir.mkdir(parents=True, exist_ok=True)
            target = self._evidence_dir / f"{merkle.hash_leaf(entry.data).hex()}.json"
            temp = target.with_suffix(".tmp")
            temp.write_bytes(entry.data)
            os.replace(temp, target)
            _log.warning("kept equivocating release as evidence: %s", target)
        except OSError as exc:
            _log.error("could not keep evidence %s: %s", entry.leaf_hash.hex(), exc)
