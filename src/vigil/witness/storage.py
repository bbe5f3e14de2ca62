"""Witness storage: the latest cosigned checkpoint per log, and evidence.

Contract of :class:`WitnessStore` (what :mod:`vigil.witness.service` relies on):

* **Durability on return.** When :meth:`WitnessStore.compare_and_swap`
  returns, the new state survives a process kill (SIGKILL) and, with
  ``synchronous=FULL``, a power loss. The service releases a cosignature only
  after that, so a witness that restarts never forgets a size it cosigned and
  cannot be talked into cosigning a second root for it.
* **Non-blocking submission.** :meth:`WitnessStore.submit_swap` queues a
  compare-and-swap and returns a future that completes when it is durable
  (or failed); :meth:`~WitnessStore.compare_and_swap` waits for it. An
  event loop can thus hand a swap over without blocking on the fsync.
* **Compare-and-swap.** The swap succeeds only if the stored state for the
  origin is still exactly the expected (size, root hash), or absent when
  ``None`` is expected; otherwise it raises
  :class:`~vigil.errors.ConflictError` and changes nothing. Since sizes never
  decrease and a size never gets a second root, (size, root) identifies a
  state once and for all (no ABA).
* **Concurrency.** Safe to call from many threads (one connection behind a
  lock); several processes on one file are serialized by SQLite's write lock
  and kept correct by the compare-and-swap.
* **Evidence** is append-only and capped per origin (the earliest records are
  the ones kept: they show where a fork started).

SQLite in WAL mode with ``synchronous=FULL`` (every commit is fsynced).
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vigil.errors import ConflictError, StorageError, VigilError
from vigil.witness.state import LatestCheckpoint

__all__ = [
    "MAX_EVIDENCE_PER_ORIGIN",
    "Evidence",
    "SQLiteWitnessStore",
    "WitnessStore",
]

MAX_EVIDENCE_PER_ORIGIN = 1000
"""Evidence records kept per origin; later ones are dropped (and logged by the service)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest (
    origin TEXT PRIMARY KEY,
    size TEXT NOT NULL,  -- decimal: tree sizes go up to 2**64-1, beyond SQLite's INTEGER
    root_hash BLOB NOT NULL,
    note BLOB NOT NULL,
    timestamp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_origin ON evidence (origin, id);
"""


@dataclass(frozen=True, slots=True)
class Evidence:
    """A validly signed checkpoint that the witness refused as inconsistent.

    Attributes:
        id: Sequence number (ascending in arrival order).
        origin: The log's origin.
        received_at: POSIX seconds.
        reason: Why it was refused (the error message).
        request: The whole add-checkpoint request body as received.
    """

    id: int
    origin: str
    received_at: int
    reason: str
    request: bytes


class WitnessStore(Protocol):
    """Persistence of a witness; see the module docstring for the contract."""

    def latest(self, origin: str) -> LatestCheckpoint | None:
        """The stored state of one log, or None."""
        ...

    def all_latest(self) -> list[LatestCheckpoint]:
        """Every stored state."""
        ...

    def compare_and_swap(self, expected: LatestCheckpoint | None, new: LatestCheckpoint) -> None:
        """Replace ``expected`` by ``new`` atomically and durably (raises ConflictError)."""
        ...

    def submit_swap(self, expected: LatestCheckpoint | None, new: LatestCheckpoint) -> Future[None]:
        """:meth:`compare_and_swap` without waiting: the future holds its outcome."""
        ...

    def add_evidence(self, origin: str, received_at: int, reason: str, request: bytes) -> bool:
        """Record evidence; False if the origin's cap is reached (not recorded)."""
        ...

    def evidence(self, origin: str | None = None, *, limit: int = 100) -> list[Evidence]:
        """Evidence records in arrival order, of one origin or all."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...


class SQLiteWitnessStore:
    """:class:`WitnessStore` in one SQLite file (WAL, every commit fsynced).

    Args:
        path: The database file (created if missing).
        max_evidence_per_origin: Evidence cap per origin.

    Raises:
        StorageError: the database cannot be opened.
    """

    def __init__(
        self, path: Path, *, max_evidence_per_origin: int = MAX_EVIDENCE_PER_ORIGIN
    ) -> None:
        self._max_evidence = max_evidence_per_origin
        self._lock = threading.Lock()  # the connection
        self._queue_cond = threading.Condition()  # swaps waiting for the committer
        self._queue: list[_Swap] = []
        self._committer: threading.Thread | None = None  # started by the first swap
        self._closing = False
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"witness database {path}: cannot open ({exc})") from exc

    def latest(self, origin: str) -> LatestCheckpoint | None:
        """The stored state of one log, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT origin, size, root_hash, note, timestamp FROM latest WHERE origin = ?",
                (origin,),
            ).fetchone()
        return None if row is None else _latest(row)

    def all_latest(self) -> list[LatestCheckpoint]:
        """Every stored state, by origin."""
        with self._lock:
            rows = self._db.execute(
                "SELECT origin, size, root_hash, note, timestamp FROM latest ORDER BY origin"
            ).fetchall()
        return [_latest(row) for row in rows]

    def compare_and_swap(self, expected: LatestCheckpoint | None, new: LatestCheckpoint) -> None:
        """Replace the stored state of ``new.origin`` if it is still ``expected``.

        Durable on return (committed with an fsync); see :meth:`submit_swap`.

        Raises:
            ConflictError: the stored state is not ``expected``; nothing changed.
            StorageError: the write failed; nothing changed.
        """
        self.submit_swap(expected, new).result()

    def submit_swap(self, expected: LatestCheckpoint | None, new: LatestCheckpoint) -> Future[None]:
        """Queue a compare-and-swap; the future completes once it is durable.

        Swaps are group-committed: one committer thread takes every queued
        swap and commits them in one transaction, each checked on its own (a
        lost swap does not affect the others), so the swaps that arrive
        during one fsync cost one fsync together. The future's result is set
        only after the COMMIT returned; its exception is
        :class:`~vigil.errors.ConflictError` (the stored state is not
        ``expected``, nothing changed) or :class:`~vigil.errors.StorageError`
        (the write failed, nothing changed). Callbacks added to it run on the
        committer thread.

        Raises:
            StorageError: the store is closed.
        """
        if expected is not None and expected.origin != new.origin:
            raise ValueError("compare_and_swap: origins differ")
        item = _Swap(expected, new)
        with self._queue_cond:
            if self._closing:
                raise StorageError(f"witness state of {new.origin}: the store is closed")
            self._queue.append(item)
            if self._committer is None:
                self._committer = threading.Thread(
                    target=self._run_committer, name="vigil-witness-commit", daemon=True
                )
                self._committer.start()
            self._queue_cond.notify()
        return item.future

    def _run_committer(self) -> None:
        """Commit whatever is queued, batch after batch, until closed and drained."""
        while True:
            with self._queue_cond:
                while not self._queue and not self._closing:
                    self._queue_cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            try:
                self._commit(batch)
            except BaseException as exc:  # pragma: no cover - a bug: fail the batch, go on
                for swap in batch:
                    swap.error = StorageError(
                        f"witness state of {swap.new.origin}: write failed ({exc!r})"
                    )
            for swap in batch:
                if swap.error is None:
                    swap.future.set_result(None)
                else:
                    swap.future.set_exception(swap.error)

    def _commit(self, batch: list[_Swap]) -> None:
        """One transaction for a batch of swaps; sets each swap's error (or None)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for swap in batch:
                        swap.error = self._swap(swap.expected, swap.new)
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                for swap in batch:
                    swap.error = StorageError(
                        f"witness state of {swap.new.origin}: write failed ({exc})"
                    )

    def _swap(self, expected: LatestCheckpoint | None, new: LatestCheckpoint) -> VigilError | None:
        if expected is None:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO latest (origin, size, root_hash, note, "
                "timestamp) VALUES (?, ?, ?, ?, ?)",
                (new.origin, str(new.size), new.root_hash, new.note, new.timestamp),
            )
        else:
            cursor = self._db.execute(
                "UPDATE latest SET size = ?, root_hash = ?, note = ?, timestamp = ? "
                "WHERE origin = ? AND size = ? AND root_hash = ?",
                (str(new.size), new.root_hash, new.note, new.timestamp,
                 new.origin, str(expected.size), expected.root_hash),
            )
        if cursor.rowcount != 1:
            return ConflictError(
                f"witness state of {new.origin}: compare-and-swap lost "
                f"(expected size {None if expected is None else expected.size})"
            )
        return None

    def add_evidence(self, origin: str, received_at: int, reason: str, request: bytes) -> bool:
        """Record evidence durably; False (not recorded) once the origin's cap is reached."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    (count,) = self._db.execute(
                        "SELECT COUNT(*) FROM evidence WHERE origin = ?", (origin,)
                    ).fetchone()
                    if count >= self._max_evidence:
                        self._db.execute("ROLLBACK")
                        return False
                    self._db.execute(
                        "INSERT INTO evidence (origin, received_at, reason, request) "
                        "VALUES (?, ?, ?, ?)",
                        (origin, received_at, reason, request),
                    )
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StorageError(f"witness evidence for {origin}: write failed ({exc})") from exc
        return True

    def evidence(self, origin: str | None = None, *, limit: int = 100) -> list[Evidence]:
        """Evidence in arrival order (of ``origin``, or of every log)."""
        query = "SELECT id, origin, received_at, reason, request FROM evidence"
        params: tuple[object, ...] = ()
        if origin is not None:
            query += " WHERE origin = ?"
            params = (origin,)
        query += " ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*params, max(1, limit))).fetchall()
        return [Evidence(int(r[0]), str(r[1]), int(r[2]), str(r[3]), bytes(r[4])) for r in rows]

    def close(self) -> None:
        """Commit the swaps already submitted, then close the connection."""
        with self._queue_cond:
            self._closing = True
            self._queue_cond.notify_all()
            committer = self._committer
        if committer is not None and committer is not threading.current_thread():
            committer.join()
        with self._lock:
            self._db.close()


@dataclass(slots=True)
class _Swap:
    expected: LatestCheckpoint | None
    new: LatestCheckpoint
    error: VigilError | None = None
    future: Future[None] = field(default_factory=Future)


def _latest(row: tuple[object, ...]) -> LatestCheckpoint:
    origin, size, root_hash, note, timestamp = row
    assert isinstance(origin, str) and isinstance(size, str) and isinstance(timestamp, int)
    assert isinstance(root_hash, bytes) and isinstance(note, bytes)
    return LatestCheckpoint(origin, int(size), root_hash, note, timestamp)
