"""SQLite storage: the embedded default (one file, WAL, durable commits).

Durability: WAL journal with ``synchronous=FULL``, so every committed
transaction is fsynced before ``COMMIT`` returns. Concurrency: one writer
connection used only by the sequencer, one reader connection per thread (WAL
readers see the last committed state and never block the writer).

The sequencer lock is an ``flock`` on ``<database>.lock`` beside the database
file, held for the life of the process (the kernel drops it when the process
dies, so a crashed server never leaves a stale lock); the holder writes its
host, pid and start time into the file so a second server can say who holds
it. See :mod:`vigil.log.storage.base` for the contracts.

Layout for big logs: entries are appended in index order (cheap), but the
leaf-hash index and the search index take keys in random order, so every
append touches random index pages. Search rows are therefore a plain table
(appended in order) with a small index on a 64-bit hash of the key
(:func:`_key_hash`), not a B-tree keyed by the long key text; the writer
keeps a large page cache and reads both indexes into it at startup. Those
random pages make each batch's WAL big, so copying the WAL into the database
(checkpoints) happens on a thread of its own instead of inside the
sequencer's commits (:mod:`vigil.log.storage.walcheckpoint`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError, ConflictError, StorageError
from vigil.log.errors import SequencerLockedError
from vigil.log.kinds import IndexKey
from vigil.log.storage.base import NewEntry, StoredEntry, TreeState
from vigil.log.storage.sqlreaders import SqlReaders, refuse_conflicting_checkpoint
from vigil.log.storage.walcheckpoint import WalCheckpointer

__all__ = ["SqliteStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL UNIQUE,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS search_rows (
    idx INTEGER NOT NULL,
    key_type TEXT NOT NULL,
    value TEXT NOT NULL,
    key_hash INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS search_rows_by_key ON search_rows (key_hash, idx);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    note BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tree_state (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    size INTEGER NOT NULL,
    hashes BLOB NOT NULL
);
"""


# Page caches (SQLite allocates them as pages are used). The writer's must hold
# the indexes with random keys (leaf hashes, digest search keys: some 150 MB
# per million entries with their neighbours), or each append reads index pages
# from the disk; the kernel's file cache can't be counted on to keep them.
_WRITER_CACHE_KIB = 2 * 1024 * 1024
_READER_CACHE_KIB = 64 * 1024
_MMAP_BYTES = 1 << 30
_WARM_INDEXES = ("sqlite_autoindex_entries_1", "search_rows_by_key")
# WAL file size beyond which the writer empties it (see
# vigil.log.storage.walcheckpoint): a few big batches' worth.
_MAX_WAL_BYTES = 256 * 1024 * 1024


def _key_hash(key_type: str, value: str) -> int:
    """The search index's key: the first 8 bytes of SHA-256(type NUL value), signed.

    Only narrows the search (the rows keep type and value, and queries
    compare them), so collisions cost nothing but a row read.
    """
    digest = hashlib.sha256(f"{key_type}\0{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _holder_text() -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}"


class SqliteStorage(SqlReaders):
    """:class:`~vigil.log.storage.base.LogStorage` over one SQLite file.

    Args:
        path: The database file (created if missing).
        max_wal_bytes: WAL file size beyond which the writer checkpoints
            and empties it instead of leaving it to the checkpoint thread.
    """

    def __init__(self, path: Path, *, max_wal_bytes: int = _MAX_WAL_BYTES) -> None:
        self._path = path
        self._max_wal_bytes = max_wal_bytes
        self._checkpointer: WalCheckpointer | None = None
        self._lock_path = path.with_name(path.name + ".lock")
        self._lock_fd: int | None = None
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._closed = False

    @property
    def description(self) -> str:
        """The database file path."""
        return f"sqlite:{self._path}"

    # -- connections -------------------------------------------------------------

    def _connect(self, *, cache_kib: int = _READER_CACHE_KIB) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"{self.description}: storage is closed")
        try:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA cache_size = -{cache_kib}")
            conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: cannot open ({exc})") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _writer_connection(self) -> sqlite3.Connection:
        """The writer connection (with its checkpoint thread); hold ``_writer_lock``."""
        if self._writer is None:
            conn = self._connect(cache_kib=_WRITER_CACHE_KIB)
            try:
                # Checkpoints run on their own thread (see walcheckpoint).
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            except sqlite3.Error as exc:
                raise StorageError(f"{self.description}: cannot open ({exc})") from exc
            self._writer = conn
            self._checkpointer = WalCheckpointer(
                self._connect,
                wal_path=self._path.with_name(self._path.name + "-wal"),
                max_bytes=self._max_wal_bytes,
                description=self.description,
            )
        return self._writer

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction on the writer connection; rolled back on error."""
        with self._writer_lock:
            conn = self._writer_connection()
            checkpointer = self._checkpointer
            assert checkpointer is not None
            try:
                checkpointer.before_write(conn)
                conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise StorageError(f"{self.description}: cannot begin ({exc})") from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StorageError(f"{self.description}: commit failed ({exc})") from exc
            checkpointer.committed()

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: query failed ({exc})") from exc

    # -- lifecycle ---------------------------------------------------------------

    def initialize(self, *, origin: str, public_key: str) -> None:
        """Create the schema, enable WAL and bind the database to this log."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._writer_lock:
                writer = self._writer_connection()
                writer.execute("PRAGMA journal_mode = WAL")
                # DDL outside a transaction: executescript() commits first anyway.
                writer.executescript(_SCHEMA)
                self._migrate(writer)
                self._warm(writer)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: cannot create schema ({exc})") from exc
        with self._write() as conn:
            for key, value in (("origin", origin), ("public_key", public_key)):
                row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                if row is None:
                    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
                elif row[0] != value:
                    raise ConfigError(
                        f"{self.description}: storage belongs to another log "
                        f"({key} {row[0]!r}, want {value!r})"
                    )

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Move search keys of the first layout (``search_keys``) to ``search_rows``."""
        old = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_keys'"
        ).fetchone()
        if old is None:
            return
        conn.create_function("vigil_key_hash", 2, _key_hash, deterministic=True)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO search_rows (idx, key_type, value, key_hash) "
                "SELECT idx, key_type, value, vigil_key_hash(key_type, value) "
                "FROM search_keys ORDER BY idx"
            )
            conn.execute("DROP TABLE search_keys")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _warm(conn: sqlite3.Connection) -> None:
        """Read the random-key indexes into the writer's cache once, sequentially.

        Appends then find their index pages in memory instead of reading them
        one by one from the disk (a big log's first minutes would be slow).
        """
        for index in _WARM_INDEXES:
            table = "entries" if index.startswith("sqlite_autoindex_entries") else "search_rows"
            column = "leaf_hash" if table == "entries" else "key_hash"
            conn.execute(f"SELECT COUNT({column}) FROM {table} INDEXED BY {index}").fetchone()

    def acquire_sequencer_lock(self) -> None:
        """flock ``<database>.lock``; see the module docstring."""
        if self._lock_fd is not None:
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise SequencerLockedError(
                f"{self.description}: another server is sequencing this log "
                f"({holder}; lock file {self._lock_path})",
                holder=holder,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (_holder_text() + "\n").encode("utf-8"), 0)
        os.fsync(fd)
        self._lock_fd = fd

    def close(self) -> None:
        """Stop the checkpoint thread, close every connection and release the lock."""
        self._closed = True
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):  # closing is best effort
                conn.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # -- sequencer -----------------------------------------------------------------

    def entry_count(self) -> int:
        """Number of appended entries."""
        row = self._query("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")
        return int(row[0][0])

    def find_indexes(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """Indexes of the already stored leaf hashes.

        Runs on the writer connection (the sequencer calls this before each
        append), whose large cache holds the leaf-hash index.
        """
        found: dict[bytes, int] = {}
        hashes = list(dict.fromkeys(leaf_hashes))
        try:
            with self._writer_lock:
                writer = self._writer_connection()
                for start in range(0, len(hashes), 500):
                    chunk = hashes[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for leaf_hash, index in writer.execute(
                        f"SELECT leaf_hash, idx FROM entries WHERE leaf_hash IN ({marks})", chunk
                    ):
                        found[bytes(leaf_hash)] = int(index)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: query failed ({exc})") from exc
        return found

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        """Append a batch in one transaction (see the Protocol)."""
        if not entries:
            return
        try:
            with self._write() as conn:
                count = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
                if count[0] != start:
                    raise ConflictError(
                        f"{self.description}: append at index {start}, "
                        f"but the log has {count[0]} entries"
                    )
                conn.executemany(
                    "INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)",
                    ((start + i, e.leaf_hash, e.data) for i, e in enumerate(entries)),
                )
                conn.executemany(
                    "INSERT INTO search_rows (idx, key_type, value, key_hash) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        (start + i, key.key_type, key.value, _key_hash(key.key_type, key.value))
                        for i, e in enumerate(entries)
                        for key in dict.fromkeys(e.index_keys)
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"{self.description}: batch at index {start} conflicts with stored entries ({exc})"
            ) from exc
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: append failed ({exc})") from exc

    def read_entries(self, start: int, end: int) -> list[StoredEntry]:
        """Entries in ``[start, end)``."""
        rows = self._query(
            "SELECT idx, leaf_hash, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, end),
        )
        return [
            StoredEntry(int(i), bytes(h), bytes(d))
            for i, h, d in rows
        ]

    def tree_state(self) -> TreeState | None:
        """The stored tree state."""
        rows = self._query("SELECT size, hashes FROM tree_state WHERE id = 0")
        if not rows:
            return None
        size, blob = int(rows[0][0]), bytes(rows[0][1])
        return TreeState(size, tuple(blob[i : i + 32] for i in range(0, len(blob), 32)))

    def store_checkpoint(self, state: TreeState, note: bytes, text: str) -> None:
        """Store a checkpoint and the tree state in one transaction."""
        try:
            with self._write() as conn:
                size = conn.execute("SELECT size FROM tree_state WHERE id = 0").fetchone()
                stored = conn.execute(
                    "SELECT text FROM checkpoints WHERE size = ?", (state.size,)
                ).fetchone()
                refuse_conflicting_checkpoint(
                    self.description, state, text, None if size is None else int(size[0]),
                    None if stored is None else str(stored[0]),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO checkpoints (size, text, note) VALUES (?, ?, ?)",
                    (state.size, text, note),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO tree_state (id, size, hashes) VALUES (0, ?, ?)",
                    (state.size, b"".join(state.hashes)),
                )
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: storing checkpoint failed ({exc})") from exc

    # -- readers -------------------------------------------------------------------

    def search(self, key: IndexKey, *, after: int, below: int, limit: int) -> list[int]:
        """Indexes with ``key`` in ``(after, below)``."""
        rows = self._query(
            "SELECT idx FROM search_rows WHERE key_hash = ? AND key_type = ? AND value = ? "
            "AND idx > ? AND idx < ? ORDER BY idx LIMIT ?",
            (_key_hash(key.key_type, key.value), key.key_type, key.value, after, below, limit),
        )
        return [int(row[0]) for row in rows]
