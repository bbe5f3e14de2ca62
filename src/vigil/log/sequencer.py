"""The sequencer: the one thread that orders, commits, integrates and publishes.

Commit order (each step says what a crash right after it leaves, and how
startup recovery, :meth:`Sequencer.recover`, continues; the normal path
runs the same :meth:`Sequencer._publish` that recovery runs):

1. **Commit.** A batch of pooled entries (at most ``batch_max_entries``,
   gathered for at most ``batch_linger_s``) is appended in ONE storage
   transaction at consecutive indexes (group commit), after dropping entries
   already stored (those resolve to their existing index). Only after the
   commit returns are submitters told their index.
   *Crash:* the batch is either wholly in storage or not at all; nobody was
   told an index that storage lacks. Entries beyond the tree state are
   integrated by recovery.
2. **Integrate.** Extend the tree (compact range) over every committed but
   unintegrated entry, and write the hash tiles and entry bundles that change
   (temp file, fsync, rename, fsync directory).
   *Crash:* some tiles of a size without a checkpoint may exist. Tiles are a
   deterministic function of the entries, so recovery rewrites the same bytes.
3. **Sign.** Format the checkpoint (origin, size, root and, if the status-map
   hook returns a root, a ``vigil-status-map`` line), refuse if a different
   checkpoint text was ever stored for this size, sign it with the log key,
   and pass it to the cosignature collector (witnesses) hook.
   *Crash:* a signed checkpoint may have reached witnesses but is not stored.
   Recovery signs the same text again (same entries, same root; Ed25519 is
   deterministic), so nothing inconsistent can ever be signed.
   *Quorum not met* (the collector raises ``CosigningError``): nothing is
   stored or published; the tiles written in step 2 are those recovery
   would write. The sequencer retries steps 2-4 after ``_RETRY_S`` (with
   any entries committed meanwhile); at startup it republishes the stored
   checkpoint and leaves the new entries to the loop.
4. **Publish.** Store the checkpoint note and the tree state in ONE storage
   transaction (compare-and-swap: never a smaller size, never another text
   for a stored size), then atomically replace ``tiles/checkpoint``.
   *Crash:* the file may lag behind storage; recovery rewrites it from the
   stored checkpoint.

A checkpoint is published at most ``checkpoint_interval_s`` after new entries
were committed (at most 1 s), and a heartbeat (steps 3-4 for the same tree, to
collect fresh witness cosignatures) every ``heartbeat_interval_s`` without new
entries.

Errors: storage I/O errors in steps 1-2 and 4 are retried (submitters of a
failed commit get :class:`~vigil.log.errors.PushbackError`, i.e. 503); a
:class:`~vigil.log.errors.LogStateError` or
:class:`~vigil.errors.ConflictError` (another root for a stored size, a lost
compare-and-swap, tiles not matching the database) is fatal: the sequencer
stops, refuses submissions and reports :attr:`Sequencer.failure`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from vigil.core.checkpoint import Checkpoint, parse_checkpoint
from vigil.core.merkle import EMPTY_ROOT
from vigil.core.note import parse_note
from vigil.core.prove import prove_consistency
from vigil.core.tiles import TileID, TileReader, tile_path
from vigil.errors import ConflictError, StorageError
from vigil.log.config import SequencerSettings
from vigil.log.entry import ValidatedEntry
from vigil.log.errors import LogStateError, PushbackError
from vigil.log.integrate import TreeBuilder
from vigil.log.pool import Pending, Pool, Submission
from vigil.log.signing import (
    CheckpointSigner,
    CosignatureCollector,
    CosigningError,
    NoCosignatures,
    NoStatusMap,
    StatusMapProvider,
)
from vigil.log.storage.base import LogStorage, NewEntry
from vigil.log.tiledir import TileDir

__all__ = ["CommitGate", "Published", "Sequencer"]

_log = logging.getLogger(__name__)

_REBUILD_CHUNK = 4096
_RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class Published:
    """The latest published checkpoint.

    Attributes:
        checkpoint: Its parsed body (origin, size, root, extensions).
        note: The note bytes as served at ``/checkpoint``.
    """

    checkpoint: Checkpoint
    note: bytes

    @property
    def size(self) -> int:
        """The tree size."""
        return self.checkpoint.size


class CommitGate(Protocol):
    """Decides, at commit time, which new entries may take the next indexes.

    Rules that depend on the log's state (the charter in force, the latest
    release) can only be judged in commit order, on the sequencer thread:
    :meth:`check` gets the entries of a batch that are about to take indexes
    ``start, start+1, ...`` and returns, per entry, None (accepted: it takes
    the next index) or the error to answer its submitters with. Then exactly
    one :meth:`settle` call says whether the accepted entries were durably
    committed (keep them) or not (forget them).
    """

    def check(self, start: int, entries: Sequence[ValidatedEntry]) -> list[Exception | None]:
        """Judge entries in order; accepted ones count for the later ones."""
        ...

    def settle(self, committed: bool) -> None:
        """Keep (True) or undo (False) what the last :meth:`check` accepted."""
        ...


class Sequencer:
    """Sequences one log; see the module docstring for the commit order.

    Args:
        storage: The log's storage; the caller holds its sequencer lock.
        tiles: The tiles directory.
        signer: Signs checkpoints.
        settings: Batch and timing settings.
        max_pending: Pool capacity (entries).
        status_map: The status-map hook.
        collector: The witness cosignature hook.
        gate: Judges entries at commit time (step 1), or None to accept all.
        on_publish: Called (from the sequencer thread) after each publication.
        on_nodes: Called (from the sequencer thread) with the full subtrees
            ``(level, index) -> hash`` each integration completes, before the
            checkpoint that contains them is published (a proof cache).
        clock: Monotonic clock in seconds (tests may pass a fake).
    """

    def __init__(
        self,
        *,
        storage: LogStorage,
        tiles: TileDir,
        signer: CheckpointSigner,
        settings: SequencerSettings,
        max_pending: int,
        status_map: StatusMapProvider | None = None,
        collector: CosignatureCollector | None = None,
        gate: CommitGate | None = None,
        on_publish: Callable[[Published], None] | None = None,
        on_nodes: Callable[[dict[tuple[int, int], bytes]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gate = gate
        self._on_nodes = on_nodes
        self._storage = storage
        self._tiles = tiles
        self._signer = signer
        self._settings = settings
        self._status_map: StatusMapProvider = status_map or NoStatusMap()
        self._collector: CosignatureCollector = collector or NoCosignatures()
        self._on_publish = on_publish
        self._clock = clock
        self.pool = Pool(max_pending=max_pending)
        self._builder: TreeBuilder | None = None
        self._committed = 0
        self._backlog: list[tuple[bytes, bytes]] = []  # committed, not integrated
        self._status_size = 0
        self._resync = False
        self._published: Published | None = None
        self._last_publish = 0.0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.failure: BaseException | None = None
        # Stop committing while this many entries wait for integration, so a
        # failing disk turns into pushback instead of unbounded memory.
        self._max_backlog = max(4 * settings.batch_max_entries, 65536)

    # -- public ------------------------------------------------------------------

    @property
    def published(self) -> Published:
        """The latest published checkpoint (after :meth:`recover`)."""
        if self._published is None:
            raise RuntimeError("sequencer: recover() has not run")
        return self._published

    @property
    def committed_size(self) -> int:
        """Number of durably committed entries."""
        return self._committed

    def submit(self, entries: Sequence[ValidatedEntry]) -> list[Future[int]]:
        """Queue entries; one future per entry, resolved with its index at commit.

        (A convenience over :meth:`enqueue` for callers without an event loop.)

        Raises:
            PushbackError: the pool is full or the sequencer has stopped.
        """
        # One future per distinct entry (duplicates share one), each its own
        # submission, so an entry refused at commit time fails only its future.
        by_hash: dict[bytes, Future[int]] = {}
        for entry in entries:
            if entry.leaf_hash in by_hash:
                continue
            future: Future[int] = Future()
            by_hash[entry.leaf_hash] = future
            self.enqueue([entry], functools.partial(_settle_future, future))
        return [by_hash[e.leaf_hash] for e in entries]

    def enqueue(
        self, entries: Sequence[ValidatedEntry], on_done: Callable[[Submission], None]
    ) -> Submission:
        """Queue entries as one submission; ``on_done`` is called once all are committed.

        See :class:`~vigil.log.pool.Submission` for when and how ``on_done``
        is called (from the sequencer thread).

        Raises:
            PushbackError: the pool is full or the sequencer has stopped.
        """
        if self.failure is not None:
            raise PushbackError(f"log sequencer has stopped: {self.failure}", retry_after_s=60)
        submission = Submission(len(entries), on_done)
        if entries:
            self.pool.add(entries, submission)
        else:
            on_done(submission)
        return submission

    def recover(self) -> Published:
        """Startup recovery: load state, redo steps 2-4 for unintegrated entries.

        Procedure:

        1. Load the tree state from storage (None: a new log, the empty tree).
        2. If the tiles directory has no checkpoint but storage has a tree
           (a fresh front end, a lost disk), rebuild every tile from the
           entries and check the result against the stored tree state;
           otherwise load the edge tiles and check them against it
           (:meth:`TreeBuilder.load`).
        3. Integrate and publish every entry committed beyond the tree state
           (steps 2-4 of the commit order), or republish the stored
           checkpoint (rewriting ``tiles/checkpoint``) if there are none.

        Raises:
            LogStateError: tiles and storage disagree, or a stored checkpoint
                conflicts with the recomputed tree.
            StorageError: storage or the tiles directory cannot be used.
        """
        self._tiles.create()
        # Step 1.
        state = self._storage.tree_state()
        # Step 2.
        if state is None:
            builder = TreeBuilder.empty()
        elif state.size > 0 and self._tiles.read_checkpoint() is None:
            builder = self._rebuild(state.size)
            if builder.state() != state:
                raise LogStateError(
                    f"rebuilding tiles up to size {state.size} gave a tree that differs from "
                    "the stored tree state: storage is inconsistent"
                )
        else:
            builder = TreeBuilder.load(
                state, read_tile=self._tiles.read_tile, read_entries=self._storage.read_entries
            )
        self._builder = builder
        self._status_map.load(builder.size)
        self._status_size = builder.size
        self._committed = self._storage.entry_count()
        self._backlog = []
        # Step 3.
        published = False
        if self._committed > builder.size or state is None:
            try:
                self._publish()
                published = True
            except CosigningError as exc:
                _log.error("log %s: not publishing yet: %s", self._signer.origin, exc)
                if state is None:
                    # A new log whose witnesses cannot cosign yet (an auditing
                    # witness reads this log's tiles, served only once it runs):
                    # serve the empty tree, signed but not cosigned, until the
                    # loop's retry meets the quorum. Clients accept nothing
                    # from it; nothing is stored.
                    empty, _ = self._signer.sign(0, EMPTY_ROOT, None)
                    self._set_published(empty)
                    published = True
        if not published:
            stored = self._storage.latest_checkpoint()
            if stored is None:
                raise LogStateError("storage has a tree state but no checkpoint")
            self._tiles.write_checkpoint(stored)
            self._set_published(stored)
        _log.info(
            "recovered log %s: %d entries, checkpoint size %d",
            self._signer.origin, self._committed, self.published.size,
        )
        return self.published

    def start(self) -> None:
        """Run the sequencing loop in a background thread (after :meth:`recover`)."""
        if self._published is None:
            raise RuntimeError("sequencer: call recover() before start()")
        self._thread = threading.Thread(target=self._run, name="vigil-sequencer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop: finish the current step, fail what is still queued."""
        self._stopping.set()
        # Also wakes the loop.
        self.pool.close(PushbackError("log is shutting down; resubmit later", retry_after_s=5))
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- the loop ------------------------------------------------------------------

    def _run(self) -> None:
        settings = self._settings
        try:
            while not self._stopping.is_set():
                builder = self._require_builder()
                pending_work = self._committed > builder.size
                interval = settings.heartbeat_interval_s
                if pending_work:
                    interval = settings.checkpoint_interval_s
                due = self._last_publish + interval
                wait = max(0.0, due - self._clock())
                if self._committed - builder.size >= self._max_backlog:
                    self._stopping.wait(min(wait, _RETRY_S))
                    batch: list[Pending] = []
                else:
                    batch = self.pool.take(
                        settings.batch_max_entries,
                        timeout_s=wait if not pending_work else min(wait, 0.05),
                        linger_s=settings.batch_linger_s,
                    )
                if self._stopping.is_set() and not batch:
                    break
                if batch:
                    self._commit(batch)
                now = self._clock()
                if self._committed > self._require_builder().size:
                    if now >= self._last_publish + settings.checkpoint_interval_s:
                        self._try(self._publish)
                elif now >= self._last_publish + settings.heartbeat_interval_s:
                    self._try(self._heartbeat)
            if self._committed > self._require_builder().size:
                self._try(self._publish)  # a clean stop publishes what it committed
        except BaseException as exc:  # fatal: stop sequencing, refuse submissions
            self._fail(exc)

    def _try(self, step: Callable[[], None]) -> None:
        """Run a publishing step; I/O errors are retried later, state errors are fatal."""
        try:
            step()
        except (LogStateError, ConflictError):
            raise
        except CosigningError as exc:
            _log.error("log %s: checkpoint withheld, will retry: %s", self._signer.origin, exc)
            self._last_publish = self._clock() - self._settings.checkpoint_interval_s + _RETRY_S
        except StorageError as exc:
            _log.error("log %s: publishing failed, will retry: %s", self._signer.origin, exc)
            self._last_publish = self._clock() - self._settings.checkpoint_interval_s + _RETRY_S

    def _fail(self, exc: BaseException) -> None:
        self.failure = exc
        _log.critical("log %s: sequencer stopped: %s", self._signer.origin, exc, exc_info=exc)
        self.pool.close(PushbackError(f"log sequencer has stopped: {exc}", retry_after_s=60))

    def _require_builder(self) -> TreeBuilder:
        if self._builder is None:
            raise RuntimeError("sequencer: recover() has not run")
        return self._builder

    # -- step 1 --------------------------------------------------------------------

    def _commit(self, batch: list[Pending]) -> None:
        """Step 1: one transaction for the batch, then tell submitters."""
        refused: list[tuple[Pending, Exception]] = []
        gated = False
        try:
            if self._resync:
                self._committed = self._storage.entry_count()
                self._resync = False
            existing = self._storage.find_indexes([p.entry.leaf_hash for p in batch])
            new = [p for p in batch if p.entry.leaf_hash not in existing]
            start = self._committed
            if self._gate is not None and new:
                # The gate judges entries in commit order against the state
                # after every committed entry; refused ones take no index.
                verdicts = self._gate.check(start, [p.entry for p in new])
                gated = True
                refused = [(p, e) for p, e in zip(new, verdicts, strict=True) if e is not None]
                new = [p for p, e in zip(new, verdicts, strict=True) if e is None]
            self._storage.append_entries(
                start,
                [NewEntry(p.entry.leaf_hash, p.entry.data, p.entry.index_keys) for p in new],
            )
        except StorageError as exc:
            if gated:
                assert self._gate is not None
                self._gate.settle(False)
            _log.error(
                "log %s: commit of %d entries failed: %s", self._signer.origin, len(batch), exc
            )
            error = PushbackError(f"could not commit the entry: {exc}", retry_after_s=1)
            self.pool.resolve(batch, None, error)
            # The outcome may be unknown (a lost connection after COMMIT): re-read
            # the entry count before the next commit.
            self._backlog = []
            self._resync = True
            return
        if gated:
            assert self._gate is not None
            self._gate.settle(True)
        self._committed = start + len(new)
        if len(self._backlog) == start - self._require_builder().size:
            self._backlog.extend((p.entry.leaf_hash, p.entry.data) for p in new)
        indexes = {p.entry.leaf_hash: start + offset for offset, p in enumerate(new)}
        indexes.update(existing)
        self.pool.resolve(
            batch, indexes, refusals={pending.entry.leaf_hash: exc for pending, exc in refused}
        )

    # -- steps 2-4 -----------------------------------------------------------------

    def _unintegrated(self, builder: TreeBuilder) -> list[tuple[bytes, bytes]]:
        want = self._committed - builder.size
        if len(self._backlog) != want:
            stored = self._storage.read_entries(builder.size, self._committed)
            if len(stored) != want:
                raise LogStateError(
                    f"storage returned {len(stored)} of the entries "
                    f"[{builder.size}, {self._committed})"
                )
            self._backlog = [(e.leaf_hash, e.data) for e in stored]
        return self._backlog

    def _publish(self) -> None:
        """Steps 2-4 for every committed entry not yet in a checkpoint."""
        builder = self._require_builder()
        entries = self._unintegrated(builder)
        # Step 2: extend the tree, write changed tiles (durable on return).
        integration = builder.integrate(builder.size, entries)
        self._tiles.write_tiles(integration.tiles)
        if self._on_nodes is not None:
            self._on_nodes(integration.nodes)
        new = integration.builder
        if self._status_size < new.size:
            # From _status_size, not builder.size: after a withheld or failed
            # publication the status map already holds a prefix of `entries`.
            skip = self._status_size - builder.size
            self._status_map.integrate(self._status_size, [data for _, data in entries[skip:]])
            self._status_size = new.size
        # Step 3: sign (refusing a second text for a stored size), cosign.
        note = self._sign_and_cosign(new)
        # Step 4: store checkpoint + tree state atomically, then the file.
        text = parse_note(note).text
        self._storage.store_checkpoint(new.state(), note, text)
        self._tiles.write_checkpoint(note)
        self._builder = new
        self._backlog = []
        self._set_published(note)

    def _heartbeat(self) -> None:
        """Steps 3-4 again for the same tree: fresh cosignatures for witnesses."""
        builder = self._require_builder()
        note = self._sign_and_cosign(builder)
        if note != self.published.note:
            self._storage.store_checkpoint(builder.state(), note, parse_note(note).text)
            self._tiles.write_checkpoint(note)
        self._set_published(note)

    def _sign_and_cosign(self, builder: TreeBuilder) -> bytes:
        note, text = self._signer.sign(builder.size, builder.root(), self._status_map.root())
        checkpoint = parse_checkpoint(text)
        cosignatures = self._collector.collect(note, checkpoint, self._prover(builder.size))
        return CheckpointSigner.add_cosignatures(note, cosignatures)

    def _prover(self, size: int) -> Callable[[int, int], list[bytes]]:
        def prove(old_size: int, new_size: int) -> list[bytes]:
            if not 0 < old_size <= new_size <= size:
                raise ValueError(f"consistency proof {old_size} -> {new_size} in tree of {size}")
            return prove_consistency(old_size, new_size, TileReader(size, self._read_tiles))

        return prove

    def _read_tiles(self, tiles: Sequence[TileID]) -> list[bytes]:
        result = []
        for tile in tiles:
            data = self._tiles.read_tile(tile)
            if data is None:
                raise LogStateError(f"tile {tile_path(tile)} is missing")
            result.append(data)
        return result

    def _set_published(self, note: bytes) -> None:
        checkpoint = parse_checkpoint(parse_note(note).text)
        published = Published(checkpoint, note)
        self._published = published
        self._last_publish = self._clock()
        if self._on_publish is not None:
            self._on_publish(published)

    def _rebuild(self, size: int) -> TreeBuilder:
        """Write every tile of the first ``size`` entries from storage."""
        _log.warning("log %s: rebuilding tiles for %d entries", self._signer.origin, size)
        builder = TreeBuilder.empty()
        for start in range(0, size, _REBUILD_CHUNK):
            stored = self._storage.read_entries(start, min(size, start + _REBUILD_CHUNK))
            integration = builder.integrate(start, [(e.leaf_hash, e.data) for e in stored])
            final = start + _REBUILD_CHUNK >= size
            # Partial tiles only for the final size: the others had no checkpoint.
            self._tiles.write_tiles(
                [(t, d) for t, d in integration.tiles if final or not t.is_partial]
            )
            builder = integration.builder
        missing = [
            (t, d) for t, d in builder.edge_tiles() if self._tiles.read_tile(t) is None
        ]
        self._tiles.write_tiles(missing)
        return builder


def _settle_future(future: Future[int], submission: Submission) -> None:
    """Resolve a one-entry submission's future with its index or its error."""
    if submission.error is not None:
        future.set_exception(submission.error)
    else:
        future.set_result(submission.indexes[0])
