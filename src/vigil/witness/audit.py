"""Auditing mode: replay a log's new entries from its tiles before cosigning.

A witness that only checks consistency proves that everybody sees the same
tree; it cannot vouch for the ``vigil-status-map`` line a log puts in its
checkpoints (DESIGN.md "Only witnesses that audit (replay entries and
recompute the status-map root) can vouch for the status map"). An auditing
witness does what CHAINIAC's witnesses did: it re-runs the log's rules.

:class:`TileAuditor` is the :class:`~vigil.witness.service.CheckpointAuditor`
that does it, for every witnessed log with ``audit = true`` (and a tiles
URL). It keeps, per log, the state after the latest cosigned checkpoint:
the tree's compact range (:class:`~vigil.core.compact.CompactRange`, O(log n)
hashes) and the status map (:class:`~vigil.core.statusmap.StatusMap`).

Procedure of :meth:`TileAuditor.audit` (called by the service after the
consistency check and before signing, under the origin's lock):

1. If the audited state is not the state of the previously cosigned
   checkpoint (first audit after a start, or the witness's store moved on
   without this process), rebuild it from the tiles: every entry
   ``[0, previous size)``, which must hash to the cosigned root (else 422).
2. Fetch the entries ``[previous size, checkpoint size)`` from the log's
   entry bundles (c2sp.org/tlog-tiles ``tile/entries/N[.p/W]``; a partial
   bundle that a later one replaced is read from the full bundle). A log that
   does not answer, a missing or malformed bundle: TransportError (503, the
   log should retry; not evidence).
3. Hash them (RFC 6962 leaves) onto a copy of the compact range: the root
   must be the checkpoint's root hash, else :class:`AuditError` (the entries
   the log serves are not the ones it signed).
4. Replay them through the status map's rules, inside a map transaction
   (:meth:`StatusMap.begin <vigil.core.statusmap.StatusMap.begin>`): an entry
   the rules refuse (bad signature, no role, downgrade, ...) means the log
   accepted what it must refuse: :class:`AuditError` naming the first one.
   For large ranges, entries are parsed and their signatures verified in
   worker processes (``workers``), a few bundles ahead; the rules run in
   order on the calling thread.
5. The checkpoint's ``vigil-status-map`` line must be the recomputed map
   root: absent while no charter is in force, present and equal once one is
   (else :class:`AuditError`).
6. Keep the result *pending*: the service calls :meth:`TileAuditor.committed`
   once the cosigned state is durably stored; only then does the audited
   state advance. A refusal, or a lost compare-and-swap, rolls it back.

Every :class:`AuditError` is evidence of log misbehaviour (the service keeps
the request). Crash safety: the audited state is derived, never stored; the
witness's cosigned state is the truth, and step 1 rebuilds from it (at
startup :meth:`TileAuditor.prepare` does so ahead of the first request).

Cost per checkpoint: O(new entries + log n) (fetch, hash, replay, verify one
Ed25519 signature per signer), plus O(repositories) to recompute the map
root; a rebuild costs a replay of the whole log, once per start.

Does not: check entries the witness cosigned before auditing was turned on
(a rebuild replays them and logs what it finds, but those cosignatures are
out), localize which repository a wrong map hides (``vigil audit`` does).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from vigil._internal.http import Fetcher
from vigil.core.checkpoint import Checkpoint, parse_checkpoint
from vigil.core.compact import CompactRange
from vigil.core.encoding import b64encode
from vigil.core.merkle import hash_leaf
from vigil.core.note import parse_note
from vigil.core.statusmap import (
    STATUS_MAP_EXTENSION,
    EntryVerifier,
    LoggedEntry,
    StatusMap,
    status_root,
)
from vigil.core.tiles import TILE_WIDTH, TileID, parse_entry_bundle, tile_path
from vigil.errors import FormatError, TransportError, VerificationError
from vigil.witness.errors import AuditError
from vigil.witness.state import LatestCheckpoint, WitnessedLog

__all__ = ["FetcherFactory", "TileAuditor"]

_log = logging.getLogger(__name__)

FetcherFactory = Callable[[WitnessedLog], Fetcher]
"""Makes the :class:`~vigil._internal.http.Fetcher` for a log's tiles URL (called once per log)."""

POOL_MIN_ENTRIES = 2 * TILE_WIDTH
"""Ranges shorter than this are verified on the calling thread (no process round trip)."""

_LOOKAHEAD_BUNDLES = 4  # entry bundles fetched ahead of the one being replayed
# Work for the pool goes in chunks of this many entries (a quarter bundle):
# small enough that the workers start soon after a request arrives and finish
# together at its end (no worker idles while the last bundle is verified),
# large enough that each round trip (~0.2 ms) is small beside its ~4 ms.
_CHUNK_ENTRIES = TILE_WIDTH // 4
_CHUNKS_PER_WORKER = 3  # chunks in flight per worker: one running, two queued


# Per process (each worker, and the auditing process for small ranges): the
# signer keys seen so far.
_ENTRY_VERIFIER = EntryVerifier()


def _verify_all(first: int, entries: Sequence[bytes]) -> list[LoggedEntry | Exception]:
    """Parse each entry and verify its signatures (runs in a worker process for
    large ranges: everything but the in-order rules)."""
    result: list[LoggedEntry | Exception] = []
    for offset, data in enumerate(entries):
        try:
            result.append(_ENTRY_VERIFIER.verify(first + offset, data))
        except (FormatError, VerificationError) as exc:
            result.append(exc)
    return result


@dataclass(frozen=True, slots=True)
class _Pending:
    size: int
    root_hash: bytes
    tree: CompactRange


class _Audited:
    """One log's audited state (guarded by ``lock``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.size = -1  # -1: not built yet
        self.root_hash = b""
        self.tree = CompactRange()
        self.map = StatusMap()
        self.pending: _Pending | None = None


@dataclass(slots=True)
class _Replay:
    """What one pass over a range found."""

    first_violation: tuple[int, Exception] | None = None
    violations: int = 0


class TileAuditor:
    """Audits witnessed logs from their tiles; see the module docstring.

    Args:
        fetcher_for: Makes the fetcher of a log's tiles (called once per log).
        workers: Processes parsing entries and verifying their signatures for
            large ranges (0: all on the calling thread).
    """

    def __init__(self, fetcher_for: FetcherFactory, *, workers: int = 0) -> None:
        if workers < 0:
            raise ValueError(f"auditor: workers must be >= 0 (got {workers})")
        self._fetcher_for = fetcher_for
        self._fetchers: dict[str, Fetcher] = {}
        self._states: dict[str, _Audited] = {}
        self._guard = threading.Lock()
        self._pool: Executor | None = None
        self._in_flight = _CHUNKS_PER_WORKER * workers
        if workers:
            # forkserver: the witness runs threads; never fork a threaded process.
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(workers, mp_context=context)
            for _ in range(workers):  # start the workers now, not on the first request
                self._pool.submit(_verify_all, 0, ())
        self._io = ThreadPoolExecutor(2, thread_name_prefix="vigil-audit-fetch")

    def close(self) -> None:
        """Stop the worker processes and fetch threads."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._io.shutdown(cancel_futures=True)

    # -- CheckpointAuditor -----------------------------------------------------------

    def audit(
        self, log: WitnessedLog, previous: LatestCheckpoint | None, checkpoint: Checkpoint
    ) -> None:
        """Check ``checkpoint``'s new entries and status map (steps 1-6 of the module docstring).

        Does nothing for a log without ``audit``.

        Raises:
            AuditError: the entries do not hash to the checkpoint, an entry
                breaks the rules, or the status-map line is wrong (422, evidence).
            TransportError: the log's tiles could not be read (503).
        """
        if not log.audit:
            return
        state = self._state(log.origin)
        with state.lock:
            self._rollback_pending(state)
            # Step 1.
            base_size = 0 if previous is None else previous.size
            if state.size != base_size or (
                previous is not None and state.root_hash != previous.root_hash
            ):
                self._rebuild(log, state, previous)
            end = checkpoint.size
            # Steps 2-4.
            tree = state.tree.copy()
            state.map.begin()
            try:
                replay = self._replay(log, tree, state.map, base_size, end, strict=True)
                if tree.root() != checkpoint.root_hash:
                    raise AuditError(
                        f"{log.origin}: entries [{base_size}, {end}) served at {log.url} do "
                        f"not hash to the checkpoint: the tree of size {end} has root hash "
                        f"{b64encode(tree.root())}, the checkpoint says "
                        f"{b64encode(checkpoint.root_hash)}"
                    )
                if replay.first_violation is not None:
                    index, error = replay.first_violation
                    raise AuditError(
                        f"{log.origin}: entry {index}: the log accepted an entry its rules "
                        f"refuse: {error}"
                    )
                # Step 5.
                self._check_map_line(log, state.map, checkpoint)
            except BaseException:
                state.map.rollback()
                raise
            # Step 6.
            state.pending = _Pending(end, checkpoint.root_hash, tree)

    def committed(self, log: WitnessedLog, checkpoint: Checkpoint) -> None:
        """The service stored its cosignature of ``checkpoint``: keep the pending state."""
        if not log.audit:
            return
        state = self._state(log.origin)
        with state.lock:
            pending = state.pending
            if pending is None or (pending.size, pending.root_hash) != (
                checkpoint.size, checkpoint.root_hash
            ):  # pragma: no cover - the service calls this right after audit()
                self._rollback_pending(state)
                state.size = -1  # rebuild at the next audit
                return
            state.map.commit()
            state.pending = None
            state.tree = pending.tree
            state.size = pending.size
            state.root_hash = pending.root_hash

    # -- startup -----------------------------------------------------------------------

    def prepare(self, log: WitnessedLog, latest: LatestCheckpoint | None) -> None:
        """Rebuild the audited state of ``log`` up to its latest cosigned checkpoint.

        Optional (the first :meth:`audit` does it too); the server calls it at
        startup so that the first request does not wait for a full replay.

        Raises:
            AuditError: the log's entries do not hash to that checkpoint.
            TransportError: the tiles could not be read.
        """
        if not log.audit:
            return
        state = self._state(log.origin)
        with state.lock:
            size = 0 if latest is None else latest.size
            if state.pending is None and state.size == size:
                return
            self._rollback_pending(state)
            self._rebuild(log, state, latest)

    def audited_size(self, origin: str) -> int | None:
        """The tree size the audited state of ``origin`` is at (None: not built)."""
        with self._guard:
            state = self._states.get(origin)
        if state is None:
            return None
        with state.lock:
            return None if state.size < 0 else state.size

    # -- internals ---------------------------------------------------------------------

    def _state(self, origin: str) -> _Audited:
        with self._guard:
            state = self._states.get(origin)
            if state is None:
                state = self._states[origin] = _Audited()
            return state

    def _fetcher(self, log: WitnessedLog) -> Fetcher:
        with self._guard:
            fetcher = self._fetchers.get(log.origin)
            if fetcher is None:
                fetcher = self._fetchers[log.origin] = self._fetcher_for(log)
            return fetcher

    @staticmethod
    def _rollback_pending(state: _Audited) -> None:
        if state.pending is not None:
            # audit() passed but the witness did not store the cosignature
            # (a lost compare-and-swap): forget it.
            state.map.rollback()
            state.pending = None

    def _rebuild(
        self, log: WitnessedLog, state: _Audited, latest: LatestCheckpoint | None
    ) -> None:
        """Step 1: replay ``[0, latest size)`` into a fresh state; replace ``state`` on success."""
        size = 0 if latest is None else latest.size
        tree = CompactRange()
        status = StatusMap()
        replay = self._replay(log, tree, status, 0, size, strict=False)
        if latest is not None and tree.root() != latest.root_hash:
            raise AuditError(
                f"{log.origin}: entries [0, {size}) served at {log.url} do not hash to the "
                f"checkpoint this witness cosigned for that size: root hash "
                f"{b64encode(tree.root())}, cosigned {b64encode(latest.root_hash)}"
            )
        if replay.first_violation is not None:
            index, error = replay.first_violation
            _log.critical(
                "%s: %d cosigned entries break the rules (cosigned before auditing?); "
                "first: entry %d: %s", log.origin, replay.violations, index, error,
            )
        if latest is not None:
            self._warn_cosigned_map(log, status, latest)
        state.tree, state.map, state.size = tree, status, size
        state.root_hash = tree.root()
        _log.info("%s: audited state rebuilt from %d entries", log.origin, size)

    @staticmethod
    def _warn_cosigned_map(log: WitnessedLog, status: StatusMap, latest: LatestCheckpoint) -> None:
        try:
            checkpoint = parse_checkpoint(parse_note(latest.note).text)
            claimed = status_root(checkpoint)
        except FormatError as exc:  # pragma: no cover - the witness stored it after parsing
            _log.critical("%s: stored checkpoint does not parse: %s", log.origin, exc)
            return
        if claimed != status.root():
            _log.critical(
                "%s: the cosigned checkpoint of size %d has a wrong %s line "
                "(cosigned before auditing?)", log.origin, latest.size, STATUS_MAP_EXTENSION,
            )

    def _check_map_line(self, log: WitnessedLog, status: StatusMap, checkpoint: Checkpoint) -> None:
        """Step 5."""
        size = checkpoint.size
        what = f"{log.origin}: checkpoint of size {size}"
        try:
            claimed = status_root(checkpoint)
        except FormatError as exc:
            raise AuditError(f"{what}: {exc}") from exc
        computed = status.root()
        if claimed == computed:
            return
        if computed is None:
            raise AuditError(
                f"{what} has a {STATUS_MAP_EXTENSION} line, but no charter is in force in "
                f"entries [0, {size}): there is no status map yet"
            )
        if claimed is None:
            raise AuditError(
                f"{what} has no {STATUS_MAP_EXTENSION} line, but a charter is in force "
                f"(since entry {status.charter_index}); replaying entries [0, {size}) gives "
                f"root {b64encode(computed)}"
            )
        raise AuditError(
            f"{what} signs {STATUS_MAP_EXTENSION} root {b64encode(claimed)}, but replaying "
            f"entries [0, {size}) gives {b64encode(computed)}: the log's status map is not "
            "what its entries make it (it hides or invents a release, rebuild or advisory)"
        )

    def _replay(
        self,
        log: WitnessedLog,
        tree: CompactRange,
        status: StatusMap,
        start: int,
        end: int,
        *,
        strict: bool,
    ) -> _Replay:
        """Hash ``[start, end)`` onto ``tree`` and replay them into ``status``.

        ``strict``: stop replaying at the first violation (keep hashing, so a
        wrong tree is reported before it). Otherwise skip refused entries as
        an honest log's map would (:class:`~vigil.core.statusmap.Replayer`).
        """
        result = _Replay()
        if start >= end:
            return result
        use_pool = self._pool is not None and end - start >= POOL_MIN_ENTRIES
        leaves: list[bytes] = []
        for first, entries, outcomes in self._verified(log, start, end, use_pool):
            leaves.extend(hash_leaf(data) for data in entries)
            if strict and result.first_violation is not None:
                continue
            for offset, outcome in enumerate(outcomes):
                index = first + offset
                error: Exception | None = None
                if isinstance(outcome, Exception):
                    error = outcome
                else:
                    try:
                        status.apply(outcome)
                    except (FormatError, VerificationError) as exc:
                        error = exc
                if error is None:
                    continue
                result.violations += 1
                if result.first_violation is None:
                    result.first_violation = (index, error)
                if strict:
                    break
                status.skip(index)
            if len(leaves) >= 4 * TILE_WIDTH:
                tree.extend(leaves)
                leaves.clear()
        tree.extend(leaves)
        return result

    def _verified(
        self, log: WitnessedLog, start: int, end: int, use_pool: bool
    ) -> Iterator[tuple[int, list[bytes], list[LoggedEntry | Exception]]]:
        """In order, per chunk of entries: (first index, entries, each entry
        parsed and its signatures verified, or why not). With the pool, the
        next chunks are verified in worker processes while the caller replays."""
        if not use_pool:
            for first, entries in self._entries(log, start, end):
                yield first, entries, _verify_all(first, entries)
            return
        assert self._pool is not None
        queue: deque[tuple[int, list[bytes], Future[list[LoggedEntry | Exception]]]] = deque()
        try:
            for first, entries in self._entries(log, start, end):
                for offset in range(0, len(entries), _CHUNK_ENTRIES):
                    chunk = entries[offset : offset + _CHUNK_ENTRIES]
                    future = self._pool.submit(_verify_all, first + offset, chunk)
                    queue.append((first + offset, chunk, future))
                    while len(queue) > self._in_flight:
                        done_first, done_entries, done = queue.popleft()
                        yield done_first, done_entries, done.result()
            while queue:
                done_first, done_entries, done = queue.popleft()
                yield done_first, done_entries, done.result()
        finally:
            for _, _, future in queue:
                future.cancel()

    def _entries(
        self, log: WitnessedLog, start: int, end: int
    ) -> Iterator[tuple[int, list[bytes]]]:
        """Step 2: entries ``[start, end)`` per bundle, fetched a few bundles ahead."""
        fetcher = self._fetcher(log)
        bundles = iter(range(start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH))
        ahead: deque[tuple[int, Future[list[bytes]]]] = deque()

        def fill() -> None:
            while len(ahead) < _LOOKAHEAD_BUNDLES:
                index = next(bundles, None)
                if index is None:
                    return
                width = min(TILE_WIDTH, end - index * TILE_WIDTH)
                ahead.append(
                    (index, self._io.submit(self._fetch_bundle, log, fetcher, index, width))
                )

        try:
            fill()
            while ahead:
                index, future = ahead.popleft()
                entries = future.result()
                fill()
                skip = max(start - index * TILE_WIDTH, 0)
                yield index * TILE_WIDTH + skip, entries[skip:]
        finally:
            for _, future in ahead:
                future.cancel()

    @staticmethod
    def _fetch_bundle(log: WitnessedLog, fetcher: Fetcher, index: int, width: int) -> list[bytes]:
        tile = TileID(0, index, width, entries=True)
        data = fetcher.fetch(tile_path(tile))
        if data is None and width < TILE_WIDTH:
            # A later checkpoint may have completed the bundle (tlog-tiles
            # lets a log drop partial tiles once the full one exists).
            full = TileID(0, index, TILE_WIDTH, entries=True)
            data = fetcher.fetch(tile_path(full))
            if data is not None:
                return TileAuditor._parse_bundle(log, full, data)[:width]
        if data is None:
            raise TransportError(
                f"{log.origin}: {log.url}/{tile_path(tile)}: the log says it does not exist "
                "(404); cannot audit"
            )
        return TileAuditor._parse_bundle(log, tile, data)

    @staticmethod
    def _parse_bundle(log: WitnessedLog, tile: TileID, data: bytes) -> list[bytes]:
        try:
            return parse_entry_bundle(data, tile.width)
        except FormatError as exc:
            # Tiles are not signed (any mirror may serve them): a garbled one
            # is not evidence against the log, only a reason not to cosign.
            raise TransportError(
                f"{log.origin}: {log.url}/{tile_path(tile)}: malformed entry bundle: {exc}"
            ) from exc
