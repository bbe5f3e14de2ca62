"""The log service: what the HTTP front end calls, one method per operation.

:class:`LogService` ties the pieces together: admission
(:class:`~vigil.log.entry.EntryValidator`), the
:class:`~vigil.log.sequencer.Sequencer`, storage and the tiles directory. It
is transport-agnostic: the ASGI app (:mod:`vigil.web.log_app`) only parses
requests, calls one method and renders the result or the exception.

The read API shows the *published* tree: entries, proofs and search results
are limited to indexes below the latest checkpoint's size, so everything a
client receives can be verified against a checkpoint it can fetch.

Synchronous methods may block (storage, disk); the web layer runs them in a
thread pool. :meth:`LogService.submit` is a coroutine: it waits, without
blocking the event loop, for the commit and then for the covering checkpoint.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import itertools
import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.core.encoding import parse_json_object
from vigil.core.note import Ed25519Signer, Signer, parse_note
from vigil.core.prove import NodeReader, prove_consistency
from vigil.core.tiles import TileID, parse_tile_path, tile_path
from vigil.errors import ConfigError, FormatError, VigilError
from vigil.log.admission import Admission
from vigil.log.config import LogConfig
from vigil.log.entry import EntryValidator, ValidatedEntry
from vigil.log.errors import NotFoundError, PushbackError, TooLargeError
from vigil.log.frontend import Nodes, RemoteSequencer
from vigil.log.kinds import IndexKey, KindRegistry, default_registry
from vigil.log.nodes import NodeCache
from vigil.log.pool import Submission
from vigil.log.proofs import prove_inclusions
from vigil.log.sequencer import CommitGate, Published, Sequencer
from vigil.log.signing import CheckpointSigner, CosignatureCollector, StatusMapProvider
from vigil.log.storage import open_storage
from vigil.log.storage.base import LogStorage, StoredEntry
from vigil.log.tiledir import TileDir

__all__ = [
    "LogService",
    "SearchPage",
    "SubmitOutcome",
    "open_frontend_service",
    "open_log_service",
]

_INLINE_PROOFS = 16  # proofs computed on the event loop; more go to a thread


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """What a submission got.

    Attributes:
        indexes: Each entry's index (an existing entry's for a duplicate).
        leaf_hashes: Each entry's leaf hash.
        published: The checkpoint that covers every entry, or None if it was
            not published within the wait (then the answer is 202).
        proofs: Each entry's inclusion proof against ``published`` (empty
            when ``published`` is None).
    """

    indexes: list[int]
    leaf_hashes: list[bytes]
    published: Published | None
    proofs: list[list[bytes]]


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of search results.

    Attributes:
        published: The checkpoint the results and proofs refer to.
        entries: Matching entries, by ascending index.
        proofs: Inclusion proof of each entry against ``published``.
        next_after: Pass as ``after`` to get the next page; None at the end.
    """

    published: Published
    entries: list[StoredEntry]
    proofs: list[list[bytes]]
    next_after: int | None


class _PublishWaiters:
    """Lets coroutines wait until a tree size is published (thread-safe notify)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: list[tuple[int, int, asyncio.Future[Published | None]]] = []
        self._counter = itertools.count()
        self._latest: Published | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, latest: Published) -> None:
        self._loop = loop
        self._latest = latest

    def notify(self, published: Published) -> None:
        """Called from the sequencer thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, published)

    def _wake(self, published: Published) -> None:
        self._latest = published
        heap = self._heap
        while heap and heap[0][0] <= published.size:
            _, _, future = heapq.heappop(heap)
            if not future.done():
                future.set_result(published)

    async def wait(self, size: int, timeout_s: float) -> Published | None:
        latest = self._latest
        if latest is not None and latest.size >= size:
            return latest
        if timeout_s <= 0:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Published | None] = loop.create_future()
        heapq.heappush(self._heap, (size, next(self._counter), future))
        # A timer, not asyncio.wait_for: no extra task per waiting request.
        timer = loop.call_later(timeout_s, _resolve, future, None)
        try:
            return await future
        finally:
            timer.cancel()


class LogService:
    """One log's operations. See the module docstring.

    Args:
        config: The log configuration (limits, timing).
        storage: The log's storage.
        tiles: The tiles directory.
        sequencer: The sequencer (recovered; started by :meth:`start`).
        validator: Entry admission.
    """

    def __init__(
        self,
        *,
        config: LogConfig,
        storage: LogStorage,
        tiles: TileDir,
        sequencer: Sequencer | RemoteSequencer,
        validator: EntryValidator,
        admission_threads: int | None = None,
    ) -> None:
        self.config = config
        self._storage = storage
        self._tiles = tiles
        self._sequencer = sequencer
        self._validator = validator
        self._waiters = _PublishWaiters()
        self._nodes = NodeCache()
        self._relays: list[tuple[Callable[[Published], None], Callable[[Nodes], None]]] = []
        self._admission = Admission(
            validator=validator,
            strict_batch=self.admit_batch,
            max_batch_entries=config.limits.max_batch_entries,
            threads=admission_threads,
        )

    # -- lifecycle -----------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start sequencing; publications wake waiters on ``loop``."""
        self._waiters.attach(loop, self._sequencer.published)
        self._sequencer.start()

    def on_publish(self, published: Published) -> None:
        """The sequencer's publication callback (wire it at construction)."""
        self._waiters.notify(published)
        for relay, _ in self._relays:
            relay(published)

    def on_nodes(self, nodes: Nodes) -> None:
        """The sequencer's integration callback: cache new subtrees for proofs."""
        self._nodes.add(nodes)
        for _, relay in self._relays:
            relay(nodes)

    def relay(
        self, on_publish: Callable[[Published], None], on_nodes: Callable[[Nodes], None]
    ) -> None:
        """Also pass publications and new nodes on (to front-end processes)."""
        self._relays.append((on_publish, on_nodes))

    def stop(self) -> None:
        """Stop sequencing and close storage."""
        self._sequencer.stop()
        self._admission.close()
        self._storage.close()

    @property
    def published(self) -> Published:
        """The latest published checkpoint."""
        return self._sequencer.published

    @property
    def sequencer(self) -> Sequencer | RemoteSequencer:
        """The sequencer (embedders and tests may drive it without an event loop)."""
        return self._sequencer

    # -- submissions -----------------------------------------------------------------

    def admit(self, body: bytes) -> ValidatedEntry:
        """Validate one envelope (see :meth:`EntryValidator.validate`)."""
        return self._validator.validate(body)

    def admit_batch(self, body: bytes) -> list[ValidatedEntry]:
        """Validate a batch ``{"entries": [envelope, ...]}``; all or nothing.

        Raises:
            FormatError: the body is not such an object (message names the
                first bad entry, ``entries[i]``).
            TooLargeError: too many entries.
            (and whatever :meth:`admit` raises for an entry, prefixed with its
            position).
        """
        limits = self.config.limits
        document = parse_json_object(body, what="batch", max_bytes=limits.max_body_bytes)
        if set(document) != {"entries"}:
            raise FormatError(
                f"batch: want exactly one field 'entries' (got {sorted(document)[:5]})"
            )
        items = document["entries"]
        if not isinstance(items, list) or not items:
            raise FormatError("batch entries: want a non-empty array of DSSE envelopes")
        if len(items) > limits.max_batch_entries:
            raise TooLargeError(
                f"batch: {len(items)} entries, want at most {limits.max_batch_entries}"
            )
        admitted = []
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise FormatError(f"batch entries[{position}]: want a DSSE envelope object")
            try:
                admitted.append(self._validator.validate(_reencode(item)))
            except VigilError as exc:
                # Every admission error takes just a message; keep its class (status).
                raise type(exc)(f"batch entries[{position}]: {exc}") from exc
        return admitted

    async def admit_async(self, body: bytes) -> ValidatedEntry:
        """:meth:`admit` on the admission threads (see :mod:`vigil.log.admission`)."""
        return await self._admission.admit(body)

    async def admit_batch_async(self, body: bytes) -> list[ValidatedEntry]:
        """:meth:`admit_batch` on the admission threads, same outcomes."""
        return await self._admission.admit_batch(body)

    async def submit(
        self, entries: Sequence[ValidatedEntry], *, wait_s: float | None = None
    ) -> SubmitOutcome:
        """Queue admitted entries and wait for their commit and checkpoint.

        Waits up to ``commit_timeout_s`` for the durable commit (then raises
        PushbackError; the entries may still be committed later, and a
        resubmission returns them as duplicates), then up to ``submit_wait_s``
        (or ``wait_s`` if smaller) for a checkpoint covering all of them.
        Concurrent submissions share the wake-up of each publication.

        Raises:
            PushbackError: the pool is full, the commit failed or timed out.
        """
        settings = self.config.sequencer
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[Submission | None] = loop.create_future()

        def on_done(submission: Submission) -> None:  # in the sequencer thread
            loop.call_soon_threadsafe(_resolve, committed, submission)

        self._sequencer.enqueue(entries, on_done)
        timer = loop.call_later(settings.commit_timeout_s, _resolve, committed, None)
        try:
            submission = await committed
        finally:
            timer.cancel()
        if submission is None:
            raise PushbackError(
                f"commit did not finish within {settings.commit_timeout_s} s; resubmit later",
                retry_after_s=5,
            )
        if submission.error is not None:
            raise _own_copy(submission.error)  # shared by the batch's submitters
        indexes = submission.indexes
        leaf_hashes = [e.leaf_hash for e in entries]
        wait = settings.submit_wait_s if wait_s is None else min(wait_s, settings.submit_wait_s)
        published = await self._waiters.wait(max(indexes) + 1, wait)
        if published is None:
            return SubmitOutcome(indexes, leaf_hashes, None, [])
        if len(indexes) <= _INLINE_PROOFS:
            # Tiles of fresh checkpoints are cached: cheaper than a thread hop.
            proofs = self.inclusion_proofs(indexes, published.size)
        else:
            proofs = await asyncio.to_thread(self.inclusion_proofs, indexes, published.size)
        return SubmitOutcome(indexes, leaf_hashes, published, proofs)

    # -- reads -----------------------------------------------------------------------

    def _reader(self, size: int) -> NodeReader:
        return self._nodes.reader(size, self._read_tiles, self._tiles.load_pyramid)

    def _read_tiles(self, tiles: Sequence[TileID]) -> list[bytes]:
        result = []
        for tile in tiles:
            data = self._tiles.read_tile(tile)
            if data is None:
                raise NotFoundError(f"tile {tile_path(tile)} is not available")
            result.append(data)
        return result

    def _check_size(self, size: int, what: str) -> Published:
        published = self.published
        if size > published.size:
            raise NotFoundError(
                f"{what}: tree size {size} is not published yet (latest {published.size})"
            )
        return published

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> list[list[bytes]]:
        """Inclusion proofs of several leaves in the published tree of ``size``."""
        reader = self._reader(self._check_size(size, "inclusion proof").size)
        for index in indexes:
            if not 0 <= index < size:
                raise FormatError(
                    f"inclusion proof: leaf index {index} is not in a tree of size {size}"
                )
        return prove_inclusions(indexes, size, reader)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index`` in the published tree, read from the tiles.

        Raises:
            NotFoundError: no such entry in the published tree.
        """
        published = self.published
        if not 0 <= index < published.size:
            raise NotFoundError(
                f"entry {index}: not in the published tree of size {published.size}"
            )
        return bytes(self._reader(published.size)([(0, index)])[0])

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The consistency proof between two published tree sizes.

        Raises:
            FormatError: unless ``0 < old_size <= new_size``.
            NotFoundError: ``new_size`` is beyond the published tree.
        """
        if not 0 < old_size <= new_size:
            raise FormatError(
                f"consistency proof: want 0 < old <= new (got old {old_size}, new {new_size})"
            )
        published = self._check_size(new_size, "consistency proof")
        return prove_consistency(old_size, new_size, self._reader(published.size))

    def entry(self, index: int) -> StoredEntry:
        """The published entry at ``index``.

        Raises:
            NotFoundError: no such entry in the published tree.
        """
        published = self.published
        if index >= published.size:
            raise NotFoundError(
                f"entry {index}: not in the published tree of size {published.size}"
            )
        stored = self._storage.entry(index)
        if stored is None:  # pragma: no cover - storage below the checkpoint is complete
            raise NotFoundError(f"entry {index}: not found")
        return stored

    def entry_by_leaf_hash(self, leaf_hash: bytes) -> StoredEntry:
        """The published entry with ``leaf_hash``.

        Raises:
            NotFoundError: no such entry in the published tree.
        """
        stored = self._storage.entry_by_leaf_hash(leaf_hash)
        if stored is None or stored.index >= self.published.size:
            raise NotFoundError(f"entry with leaf hash {leaf_hash.hex()}: not found")
        return stored

    def search(self, key: IndexKey, *, after: int, limit: int) -> SearchPage:
        """Published entries with a search key, ascending from ``after + 1``.

        Args:
            key: What to look for.
            after: Only indexes above this (-1 for the first page).
            limit: Page size, capped at ``limits.max_search_results``.
        """
        published = self.published
        limit = max(1, min(limit, self.config.limits.max_search_results))
        indexes = self._storage.search(key, after=after, below=published.size, limit=limit + 1)
        more = len(indexes) > limit
        indexes = indexes[:limit]
        entries = []
        for index in indexes:
            stored = self._storage.entry(index)
            if stored is not None:
                entries.append(stored)
        proofs = []
        if entries:
            proofs = self.inclusion_proofs([e.index for e in entries], published.size)
        return SearchPage(published, entries, proofs, indexes[-1] if more else None)

    def tile(self, path: str) -> tuple[TileID, bytes]:
        """A tile or entry bundle by its tlog-tiles path (``tile/...``).

        Raises:
            FormatError: the path is not a canonical tile path.
            NotFoundError: the tile does not exist (yet).
        """
        tile = parse_tile_path(path)
        data = self._tiles.read_tile(tile)
        if data is None:
            raise NotFoundError(f"{path}: no such tile")
        return tile, data


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _reencode(item: dict[str, Any]) -> bytes:
    """A batch item back to JSON bytes for the strict envelope parser."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def open_log_service(
    *,
    config: LogConfig,
    signer: Signer,
    base_dir: Path,
    registry: KindRegistry | None = None,
    status_map: StatusMapProvider | None = None,
    collector: CosignatureCollector | None = None,
    gate: CommitGate | None = None,
    admission_threads: int | None = None,
) -> LogService:
    """Open a log for serving: storage, lock, recovery. Does not start sequencing.

    Procedure: open and initialize storage (checking it belongs to this log),
    take the sequencer lock (so a second server on the same storage stops
    here, naming the holder), then run startup recovery.

    Args:
        config: The log configuration.
        signer: The log's key (its name should be the origin).
        base_dir: The log directory (relative paths in ``config`` are under it).
        registry: Accepted kinds (default: :func:`default_registry`).
        status_map: Status-map hook (default: none).
        collector: Witness hook (default: none).
        gate: Commit-time judge of entries (default: accept every admitted one).
        admission_threads: Admission threads (default: one per CPU, at most 4).

    Raises:
        ConfigError: the storage belongs to another log, or the key does not
            match ``config.public_key``.
        SequencerLockedError: another server holds the lock.
        LogStateError: tiles and storage disagree.
        StorageError: storage cannot be used.
    """
    if not isinstance(signer, Ed25519Signer) or signer.vkey != config.public_key:
        raise ConfigError(
            f"log key does not match the configured public key {config.public_key!r}"
        )
    storage = open_storage(config.database, base_dir=base_dir)
    try:
        storage.initialize(origin=config.origin, public_key=config.public_key)
        storage.acquire_sequencer_lock()
        tiles = TileDir(base_dir / config.tiles_dir)
        checkpoint_signer = CheckpointSigner(
            origin=config.origin, signer=signer, stored_text=_stored_text(storage)
        )
        service_box: list[LogService] = []

        def on_publish(published: Published) -> None:
            for service in service_box:
                service.on_publish(published)

        def on_nodes(nodes: dict[tuple[int, int], bytes]) -> None:
            for service in service_box:
                service.on_nodes(nodes)

        sequencer = Sequencer(
            storage=storage,
            tiles=tiles,
            signer=checkpoint_signer,
            settings=config.sequencer,
            max_pending=config.limits.max_pending_entries,
            status_map=status_map,
            collector=collector,
            gate=gate,
            on_publish=on_publish,
            on_nodes=on_nodes,
        )
        sequencer.recover()
        service = LogService(
            config=config,
            storage=storage,
            tiles=tiles,
            sequencer=sequencer,
            validator=EntryValidator(
                limits=config.limits, registry=registry or default_registry()
            ),
            admission_threads=admission_threads,
        )
        service_box.append(service)
        return service
    except BaseException:
        storage.close()
        raise


def open_frontend_service(
    *,
    config: LogConfig,
    base_dir: Path,
    link: socket.socket,
    registry: KindRegistry | None = None,
    admission_threads: int | None = None,
    on_map: Callable[[Any], None] | None = None,
) -> tuple[LogService, RemoteSequencer]:
    """A front end's service (see :mod:`vigil.log.frontend`): no lock, no sequencer.

    Storage and tiles are only read; submissions go to the sequencer process
    over ``link``. Call :meth:`RemoteSequencer.connect` on the event loop
    before serving.

    Args:
        config: The log configuration.
        base_dir: The log directory.
        link: This front end's end of the socket pair to the sequencer process.
        registry: Accepted kinds (default: :func:`default_registry`).
        admission_threads: Admission threads (default: one per CPU, at most 4).
        on_map: Receives the status-map messages (see :mod:`vigil.log.maprelay`).
    """
    storage = open_storage(config.database, base_dir=base_dir)
    service_box: list[LogService] = []

    def on_publish(published: Published) -> None:
        for service in service_box:
            service.on_publish(published)

    def on_nodes(nodes: Nodes) -> None:
        for service in service_box:
            service.on_nodes(nodes)

    remote = RemoteSequencer(link, on_publish=on_publish, on_nodes=on_nodes, on_map=on_map)
    service = LogService(
        config=config,
        storage=storage,
        tiles=TileDir(base_dir / config.tiles_dir),
        sequencer=remote,
        validator=EntryValidator(limits=config.limits, registry=registry or default_registry()),
        admission_threads=admission_threads,
    )
    service_box.append(service)
    return service, remote


def _stored_text(storage: LogStorage) -> Callable[[int], str | None]:
    def stored_text(size: int) -> str | None:
        note = storage.checkpoint(size)
        return None if note is None else parse_note(note).text

    return stored_text


def _own_copy(error: BaseException) -> BaseException:
    """A copy of a shared error, so concurrent raisers don't share one traceback.

    Errors whose constructors take keyword-only arguments (e.g. an existing
    index) cannot be rebuilt by :func:`copy.copy`; those are raised as they are.
    """
    try:
        return copy.copy(error)
    except TypeError:
        return error
