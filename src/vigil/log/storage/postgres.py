"""PostgreSQL storage (psycopg 3), for logs that outgrow one file.

Tables live in the connection's ``search_path`` (so several logs, or tests,
can share a database in separate schemas: add
``?options=-csearch_path%3Dmy_schema`` to the URL). Durability: every write
is one transaction, committed with PostgreSQL's default
``synchronous_commit = on``. Readers use a small pool of autocommit
connections and see committed data only.

The sequencer lock is a session-level ``pg_try_advisory_lock`` on a key
derived from the database and schema, held on a dedicated connection; the
server releases it when that connection ends, including when the process
dies. The holder records its host, pid and start time in
``sequencer_holder`` so a second server can say who holds the lock. See
:mod:`vigil.log.storage.base` for the contracts.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from vigil.errors import ConfigError, ConflictError, StorageError
from vigil.log.errors import SequencerLockedError
from vigil.log.kinds import IndexKey
from vigil.log.storage.base import NewEntry, StoredEntry, TreeState
from vigil.log.storage.sqlreaders import SqlReaders, refuse_conflicting_checkpoint

__all__ = ["PostgresStorage"]

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries ("
    " idx BIGINT PRIMARY KEY, leaf_hash BYTEA NOT NULL UNIQUE, data BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS search_keys ("
    " key_type TEXT NOT NULL, value TEXT NOT NULL, idx BIGINT NOT NULL,"
    " PRIMARY KEY (key_type, value, idx))",
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    " size BIGINT PRIMARY KEY, text TEXT NOT NULL, note BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tree_state ("
    " id INTEGER PRIMARY KEY CHECK (id = 0), size BIGINT NOT NULL, hashes BYTEA NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sequencer_holder ("
    " id INTEGER PRIMARY KEY CHECK (id = 0), holder TEXT NOT NULL)",
]

# Serializes schema creation across processes (CREATE TABLE IF NOT EXISTS is
# not safe against a concurrent identical CREATE).
_SCHEMA_LOCK_KEY = 0x76696769  # "vigi"

_MAX_READERS = 8
# One sequencer per log: the advisory lock key names the database and schema.
_LOCK_KEY_SQL = (
    "hashtextextended('vigil-sequencer:' || current_database() || '.' || current_schema(), 0)"
)


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresStorage(SqlReaders):
    """:class:`~vigil.log.storage.base.LogStorage` over a PostgreSQL database.

    Args:
        url: A libpq connection URL (``postgresql://user@host:port/db?...``).
    """

    _PARAM = "%s"

    def __init__(self, url: str) -> None:
        self._url = url
        self._readers: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._reader_count = 0
        self._reader_lock = threading.Lock()
        self._writer: psycopg.Connection[Any] | None = None
        self._writer_lock = threading.Lock()
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._closed = False

    @property
    def description(self) -> str:
        """The URL without password."""
        return _redact(self._url)

    # -- connections -------------------------------------------------------------

    def _connect(self, *, autocommit: bool) -> psycopg.Connection[Any]:
        if self._closed:
            raise StorageError(f"{self.description}: storage is closed")
        try:
            return psycopg.connect(self._url, autocommit=autocommit, connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"{self.description}: cannot connect ({exc})") from exc

    @contextmanager
    def _reader(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            with self._reader_lock:
                create = self._reader_count < _MAX_READERS
                if create:
                    self._reader_count += 1
            if create:
                try:
                    conn = self._connect(autocommit=True)
                except BaseException:
                    with self._reader_lock:
                        self._reader_count -= 1
                    raise
            else:
                conn = self._readers.get()
        try:
            yield conn
        except psycopg.OperationalError:
            # A broken connection is dropped, not returned to the pool.
            with self._reader_lock:
                self._reader_count -= 1
            conn.close()
            raise
        else:
            self._readers.put(conn)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            with self._reader() as conn:
                return conn.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise StorageError(f"{self.description}: query failed ({exc})") from exc

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the writer connection; rolled back on error."""
        with self._writer_lock:
            if self._writer is None or self._writer.closed:
                self._writer = self._connect(autocommit=False)
            conn = self._writer
            try:
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as exc:
                conn.close()
                raise StorageError(f"{self.description}: write failed ({exc})") from exc

    # -- lifecycle ---------------------------------------------------------------

    def initialize(self, *, origin: str, public_key: str) -> None:
        """Create the schema and bind the storage to this log."""
        try:
            with self._write() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                for statement in _SCHEMA:
                    conn.execute(statement)
                for key, value in (("origin", origin), ("public_key", public_key)):
                    row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
                    if row is None:
                        conn.execute(
                            "INSERT INTO meta (key, value) VALUES (%s, %s)", (key, value)
                        )
                    elif row[0] != value:
                        raise ConfigError(
                            f"{self.description}: storage belongs to another log "
                            f"({key} {row[0]!r}, want {value!r})"
                        )
        except psycopg.Error as exc:
            raise StorageError(f"{self.description}: cannot create schema ({exc})") from exc

    def acquire_sequencer_lock(self) -> None:
        """pg_try_advisory_lock on a key of this database and schema."""
        if self._lock_conn is not None:
            return
        conn = self._connect(autocommit=True)
        try:
            row = conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY_SQL})").fetchone()
            if row is None or not row[0]:
                holder_row = conn.execute(
                    "SELECT holder FROM sequencer_holder WHERE id = 0"
                ).fetchone()
                holder = str(holder_row[0]) if holder_row else "unknown"
                conn.close()
                raise SequencerLockedError(
                    f"{self.description}: another server is sequencing this log "
                    f"({holder}; PostgreSQL advisory lock)",
                    holder=holder,
                )
            started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {started}"
            conn.execute(
                "INSERT INTO sequencer_holder (id, holder) VALUES (0, %s) "
                "ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder",
                (holder,),
            )
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(f"{self.description}: cannot take the lock ({exc})") from exc
        self._lock_conn = conn

    def close(self) -> None:
        """Close every connection, releasing the sequencer lock first.

        The lock is released explicitly: a closed connection's backend exits (and
        drops its advisory locks) asynchronously, so a new sequencer started right
        after close() could otherwise still find the lock held.
        """
        self._closed = True
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._lock_conn is not None:
            # If the connection is gone, the server drops the lock with it.
            with suppress(psycopg.Error):
                self._lock_conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY_SQL})")
            self._lock_conn.close()
            self._lock_conn = None

    # -- sequencer -----------------------------------------------------------------

    def entry_count(self) -> int:
        """Number of appended entries."""
        return int(self._query("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")[0][0])

    def find_indexes(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """Indexes of the already stored leaf hashes."""
        if not leaf_hashes:
            return {}
        rows = self._query(
            "SELECT leaf_hash, idx FROM entries WHERE leaf_hash = ANY(%s)",
            (list(dict.fromkeys(leaf_hashes)),),
        )
        return {bytes(h): int(i) for h, i in rows}

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        """Append a batch in one transaction (see the Protocol)."""
        if not entries:
            return
        try:
            with self._write() as conn:
                row = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()
                count = int(row[0]) if row else 0
                if count != start:
                    raise ConflictError(
                        f"{self.description}: append at index {start}, "
                        f"but the log has {count} entries"
                    )
                with conn.cursor() as cur:
                    with cur.copy("COPY entries (idx, leaf_hash, data) FROM STDIN") as copy:
                        for i, entry in enumerate(entries):
                            copy.write_row((start + i, entry.leaf_hash, entry.data))
                    with cur.copy("COPY search_keys (key_type, value, idx) FROM STDIN") as copy:
                        for i, entry in enumerate(entries):
                            for key in dict.fromkeys(entry.index_keys):
                                copy.write_row((key.key_type, key.value, start + i))
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(
                f"{self.description}: batch at index {start} conflicts with stored entries ({exc})"
            ) from exc
        except psycopg.Error as exc:
            raise StorageError(f"{self.description}: append failed ({exc})") from exc

    def read_entries(self, start: int, end: int) -> list[StoredEntry]:
        """Entries in ``[start, end)``."""
        rows = self._query(
            "SELECT idx, leaf_hash, data FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx",
            (start, end),
        )
        return [StoredEntry(int(i), bytes(h), bytes(d)) for i, h, d in rows]

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
                size = conn.execute(
                    "SELECT size FROM tree_state WHERE id = 0 FOR UPDATE"
                ).fetchone()
                stored = conn.execute(
                    "SELECT text FROM checkpoints WHERE size = %s", (state.size,)
                ).fetchone()
                refuse_conflicting_checkpoint(
                    self.description, state, text, None if size is None else int(size[0]),
                    None if stored is None else str(stored[0]),
                )
                conn.execute(
                    "INSERT INTO checkpoints (size, text, note) VALUES (%s, %s, %s) "
                    "ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note",
                    (state.size, text, note),
                )
                conn.execute(
                    "INSERT INTO tree_state (id, size, hashes) VALUES (0, %s, %s) "
                    "ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, "
                    "hashes = EXCLUDED.hashes",
                    (state.size, b"".join(state.hashes)),
                )
        except psycopg.Error as exc:
            raise StorageError(f"{self.description}: storing checkpoint failed ({exc})") from exc

    # -- readers -------------------------------------------------------------------

    def search(self, key: IndexKey, *, after: int, below: int, limit: int) -> list[int]:
        """Indexes with ``key`` in ``(after, below)``."""
        rows = self._query(
            "SELECT idx FROM search_keys WHERE key_type = %s AND value = %s AND idx > %s "
            "AND idx < %s ORDER BY idx LIMIT %s",
            (key.key_type, key.value, after, below, limit),
        )
        return [int(row[0]) for row in rows]
