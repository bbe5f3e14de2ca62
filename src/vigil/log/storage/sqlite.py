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

Layout for big logs: the database holds only tables appended in index order
(``entries`` by index, ``search_rows`` by rowid), so a batch's commit writes
few, sequential pages. The lookups by random keys (leaf hash, search key)
live in a second file, ``<database>.index``, extended about once a second by
a thread of the sequencer's process (:mod:`vigil.log.storage.lookup`);
lookups read it and then the rows above its watermark: the sequencer keeps
those rows' leaf hashes in memory, readers scan them. Copying the WAL into
the database (checkpoints) happens on a thread of its own as well
(:mod:`vigil.log.storage.walcheckpoint`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError, ConflictError, StorageError
from vigil.log.errors import SequencerLockedError
from vigil.log.kinds import IndexKey
from vigil.log.storage.base import NewEntry, StoredEntry, TreeState
from vigil.log.storage.lookup import (
    Indexer,
    IndexSnapshot,
    LookupIndex,
    Watermark,
    count_entries,
    in_chunks,
    insert_rows,
    key_hash,
    leaf_prefix,
    write_transaction,
)
from vigil.log.storage.sqlreaders import SqlReaders, refuse_conflicting_checkpoint
from vigil.log.storage.walcheckpoint import WalCheckpointer

__all__ = ["SqliteStorage"]

_log = logging.getLogger(__name__)

# Appended in order only: no index on a random key (see the module docstring).
# search_rows' rowids grow with idx, which lookup.LookupIndex.extend relies on.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS search_rows (
    idx INTEGER NOT NULL,
    key_type TEXT NOT NULL,
    value TEXT NOT NULL,
    key_hash INTEGER NOT NULL
);
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

_WRITER_CACHE_KIB = 256 * 1024
_READER_CACHE_KIB = 64 * 1024
_MMAP_BYTES = 1 << 30
# WAL file size beyond which the writer empties it (see
# vigil.log.storage.walcheckpoint): a few big batches' worth.
_MAX_WAL_BYTES = 256 * 1024 * 1024
# More unindexed entries than this at startup (a first start after the
# layout change, a lost index file) are indexed before serving, in chunks of
# _BULK_INDEX_CHUNK, instead of being held in memory as the tail.
_SYNC_INDEX_ENTRIES = 100_000
_INDEX_CHUNK = 200_000
_BULK_INDEX_CHUNK = 1_000_000


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
        # The lookup index and, on the writer's side, the leaf prefixes of all
        # entries and the tail: leaf hash -> index of the entries from
        # _recent_start on (see find_indexes).
        self._index = LookupIndex(
            path.with_name(path.name + ".index"), description=self.description
        )
        self._index_conn: sqlite3.Connection | None = None  # writer side
        self._indexer: Indexer | None = None
        self._indexed = Watermark(0, 0)  # set by the indexer thread
        # Leaf prefixes of every entry below _recent_start, once loaded (None:
        # look such entries up in the index's runs); loaded by a thread.
        self._prefixes: set[int] | None = None
        self._loaded_prefixes: tuple[int, set[int]] | None = None
        self._recent: dict[bytes, int] = {}
        self._recent_order: deque[bytes] = deque()
        self._recent_start = 0
        self._absent: set[bytes] = set()  # found absent by the last find_indexes
        self._tail_loaded = False

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
        """Create the schema, enable WAL, bind the database to this log, open the index."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._writer_lock:
                writer = self._writer_connection()
                writer.execute("PRAGMA journal_mode = WAL")
                # DDL outside a transaction: executescript() commits first anyway.
                writer.executescript(_SCHEMA)
                self._migrate(writer)
                self._migrate_unique_leaf_hashes(writer)
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
        try:
            with self._writer_lock:
                self._open_index(self._writer_connection())
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: cannot open the index ({exc})") from exc

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Move search keys of the first layout (``search_keys``) to ``search_rows``."""
        old = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_keys'"
        ).fetchone()
        if old is None:
            return
        conn.create_function("vigil_key_hash", 2, key_hash, deterministic=True)
        with write_transaction(conn):
            conn.execute(
                "INSERT INTO search_rows (idx, key_type, value, key_hash) "
                "SELECT idx, key_type, value, vigil_key_hash(key_type, value) "
                "FROM search_keys ORDER BY idx"
            )
            conn.execute("DROP TABLE search_keys")

    def _migrate_unique_leaf_hashes(self, conn: sqlite3.Connection) -> None:
        """Drop the second layout's random-key indexes (now in ``<database>.index``).

        A UNIQUE column's index cannot be dropped, so ``entries`` is copied
        into a table without it, in one transaction.
        """
        names = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'"
        ).fetchall()}
        unique = "sqlite_autoindex_entries_1" in names
        if not unique and "search_rows_by_key" not in names:
            return
        if unique:
            _log.warning("%s: moving the leaf-hash index out of the entries table "
                         "(once; a big log takes minutes)", self.description)
        with write_transaction(conn):
            if unique:
                conn.execute(
                    "CREATE TABLE entries_new (idx INTEGER PRIMARY KEY, "
                    "leaf_hash BLOB NOT NULL, data BLOB NOT NULL)"
                )
                conn.execute("INSERT INTO entries_new SELECT idx, leaf_hash, data FROM entries "
                             "ORDER BY idx")
                conn.execute("DROP TABLE entries")
                conn.execute("ALTER TABLE entries_new RENAME TO entries")
            conn.execute("DROP INDEX IF EXISTS search_rows_by_key")

    def _open_index(self, writer: sqlite3.Connection) -> None:
        """Create or check the index, index a big backlog now, load the leaf prefixes."""
        if self._index_conn is None:
            self._index_conn = self._index.create(writer)
            with self._all_lock:
                self._all.append(self._index_conn)
        conn = self._index_conn
        mark = self._index.watermark(conn)
        count = count_entries(writer)
        if count - mark.entries > _SYNC_INDEX_ENTRIES:
            _log.warning("%s: indexing entries %d to %d before serving",
                         self.description, mark.entries, count)
            while count - mark.entries > _SYNC_INDEX_ENTRIES:
                mark = self._index.extend(conn, writer, max_entries=_BULK_INDEX_CHUNK)
                self._index.compact(conn)
                _log.info("%s: indexed %d of %d entries", self.description, mark.entries, count)
        self._indexed = mark
        self._load_recent(writer, mark.entries)

    def index_now(self) -> int:
        """Extend the lookup index over every committed entry, on this thread.

        The indexer thread does this about once a second; bulk loads and
        tests call it to have the index, not the tail, answer.

        Returns:
            The number of entries the index covers.
        """
        try:
            with self._writer_lock:
                writer = self._writer_connection()
                if self._index_conn is None:
                    raise StorageError(f"{self.description}: initialize() has not run")
                while True:
                    before = self._index.watermark(self._index_conn)
                    mark = self._index.extend(
                        self._index_conn, writer, max_entries=_BULK_INDEX_CHUNK
                    )
                    self._index.compact(self._index_conn)
                    if mark == before:
                        break
                self._on_indexed(mark)
                return mark.entries
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: indexing failed ({exc})") from exc

    def _load_recent(self, writer: sqlite3.Connection, start: int) -> None:
        rows = writer.execute(
            "SELECT leaf_hash FROM entries WHERE idx >= ? ORDER BY idx", (start,)
        ).fetchall()
        self._recent_order = deque(bytes(row[0]) for row in rows)
        self._recent = {h: start + i for i, h in enumerate(self._recent_order)}
        self._recent_start = start
        self._absent = set()
        self._tail_loaded = True

    def _on_indexed(self, mark: Watermark) -> None:
        """From the indexer thread: the index now covers ``mark`` (committed)."""
        if mark.entries > self._indexed.entries:
            self._indexed = mark

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
        self._start_indexer()

    def _start_indexer(self) -> None:
        """Only the sequencer's process extends the index (one thread)."""
        if self._indexer is not None or self._index_conn is None:
            return

        def connect_index() -> sqlite3.Connection:
            conn = self._index.connect()
            if conn is None:
                raise OSError(f"{self._index.path} is missing")
            return conn

        threading.Thread(
            target=self._load_prefixes, name="vigil-sqlite-prefixes", daemon=True
        ).start()
        self._indexer = Indexer(
            self._index,
            connect_index=connect_index,
            connect_main=self._connect,
            on_advance=self._on_indexed,
            max_entries=_INDEX_CHUNK,
        )
        if self._recent:
            self._indexer.committed()

    def close(self) -> None:
        """Stop the checkpoint thread, close every connection and release the lock."""
        self._closed = True
        if self._indexer is not None:
            self._indexer.stop()
            self._indexer = None
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._all_lock:
            conns, self._all = self._all, []
        self._index_conn = None
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

        The sequencer calls this before each append, on the writer side: the
        tail's leaf hashes are in memory, older ones in the index (read after
        dropping from memory only what the index has committed).
        """
        try:
            with self._writer_lock:
                writer = self._writer_connection()
                found = self._find_stored(writer, list(dict.fromkeys(leaf_hashes)))
                self._absent = {h for h in leaf_hashes if h not in found}
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: query failed ({exc})") from exc
        return found

    def _find_stored(self, writer: sqlite3.Connection, hashes: list[bytes]) -> dict[bytes, int]:
        """Stored indexes of ``hashes`` (distinct); hold ``_writer_lock``.

        A hash whose prefix no stored entry has is new (the common case, no
        I/O); others are looked up in the tail, then in the index's runs.
        """
        if not self._tail_loaded:  # initialize() has not run: all of it is the tail
            self._load_recent(writer, self._indexed.entries)
        if self._prefixes is None and self._loaded_prefixes is not None:
            self._install_prefixes(writer, *self._loaded_prefixes)
        prefixes = self._prefixes
        indexed = self._indexed.entries
        while self._recent_start < indexed and self._recent_order:
            leaf_hash = self._recent_order.popleft()
            del self._recent[leaf_hash]
            if prefixes is not None:
                prefixes.add(leaf_prefix(leaf_hash))
            self._recent_start += 1
        found: dict[bytes, int] = {}
        maybe: list[bytes] = []
        for leaf_hash in hashes:
            index = self._recent.get(leaf_hash)
            if index is not None:
                found[leaf_hash] = index
            elif prefixes is None or leaf_prefix(leaf_hash) in prefixes:
                maybe.append(leaf_hash)
        if not maybe or self._recent_start == 0:
            return found  # nothing older than the tail
        with self._index.read(self._index_conn) as snapshot:
            candidates = snapshot.leaf_candidates([leaf_prefix(h) for h in maybe])
        found.update(_confirm_leaves(writer, maybe, candidates))
        return found

    def _install_prefixes(self, writer: sqlite3.Connection, upto: int, loaded: set[int]) -> None:
        """Take the loader's prefixes of entries ``[0, upto)``; add those up to the tail."""
        rows = writer.execute(
            "SELECT leaf_hash FROM entries WHERE idx >= ? AND idx < ?", (upto, self._recent_start)
        ).fetchall()
        loaded.update(leaf_prefix(bytes(row[0])) for row in rows)
        self._prefixes = loaded
        self._loaded_prefixes = None

    def _load_prefixes(self) -> None:
        """On a thread of its own: every indexed entry's leaf prefix, for the sequencer."""
        started = time.monotonic()
        try:
            conn = self._index.connect()
            if conn is None:
                return
            try:
                loaded = self._index.all_prefixes(conn)
            finally:
                conn.close()
            self._loaded_prefixes = loaded
            _log.info(
                "%s: loaded the leaf prefixes of %d entries in %.1f s",
                self.description, loaded[0], time.monotonic() - started,
            )
        except Exception as exc:  # the sequencer keeps reading the runs instead
            _log.error("%s: could not load the leaf prefixes (%s)", self.description, exc)

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        """Append a batch in one transaction (see the Protocol).

        Refuses a leaf hash that is stored or twice in the batch; those the
        last :meth:`find_indexes` found absent are not looked up again.
        """
        if not entries:
            return
        hashes = [e.leaf_hash for e in entries]
        if len(set(hashes)) != len(hashes):
            raise ConflictError(f"{self.description}: batch at index {start} repeats a leaf hash")
        try:
            with self._write() as conn:
                count = count_entries(conn)
                if count != start:
                    raise ConflictError(
                        f"{self.description}: append at index {start}, "
                        f"but the log has {count} entries"
                    )
                unchecked = [h for h in hashes if h not in self._absent]
                stored = self._find_stored(conn, unchecked) if unchecked else {}
                if stored:
                    leaf_hash, index = next(iter(stored.items()))
                    raise ConflictError(
                        f"{self.description}: batch at index {start}: leaf hash "
                        f"{leaf_hash.hex()} is already stored at index {index}"
                    )
                insert_rows(
                    conn, "INSERT INTO entries (idx, leaf_hash, data)", 3,
                    ((start + i, e.leaf_hash, e.data) for i, e in enumerate(entries)),
                )
                insert_rows(
                    conn, "INSERT INTO search_rows (idx, key_type, value, key_hash)", 4,
                    (
                        (start + i, key.key_type, key.value, key_hash(key.key_type, key.value))
                        for i, e in enumerate(entries)
                        for key in dict.fromkeys(e.index_keys)
                    ),
                )
                self._absent = set()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: append failed ({exc})") from exc
        if self._recent_start + len(self._recent_order) == start:
            for offset, leaf_hash in enumerate(hashes):
                self._recent[leaf_hash] = start + offset
            self._recent_order.extend(hashes)
        else:  # the tail in memory lost track (never expected): read it again
            with self._writer_lock:
                self._load_recent(self._writer_connection(), self._recent_start)
        if self._indexer is not None:
            self._indexer.committed()

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

    def _index_reader(self) -> sqlite3.Connection | None:
        """This thread's index connection (None until the sequencer created the index)."""
        conn: sqlite3.Connection | None = getattr(self._local, "index", None)
        if conn is None:
            try:
                conn = self._index.connect()
            except sqlite3.Error as exc:
                raise StorageError(f"{self.description}: cannot open the index ({exc})") from exc
            if conn is not None:
                with self._all_lock:
                    self._all.append(conn)
            self._local.index = conn
        return conn

    @contextmanager
    def _index_snapshot(self) -> Iterator[IndexSnapshot]:
        try:
            with self._index.read(self._index_reader()) as snapshot:
                yield snapshot
        except sqlite3.Error as exc:
            raise StorageError(f"{self.description}: index query failed ({exc})") from exc

    def entry_by_leaf_hash(self, leaf_hash: bytes) -> StoredEntry | None:
        """The entry with ``leaf_hash``: the index's candidates, then the tail."""
        prefix = leaf_prefix(leaf_hash)
        with self._index_snapshot() as snapshot:
            candidates = snapshot.leaf_candidates([prefix]).get(prefix, [])
            indexed = snapshot.watermark.entries
        for index in candidates:
            stored = self.entry(index)
            if stored is not None and stored.leaf_hash == leaf_hash:
                return stored
        rows = self._query(
            "SELECT idx, leaf_hash, data FROM entries WHERE idx >= ? AND leaf_hash = ? LIMIT 1",
            (indexed, leaf_hash),
        )
        return StoredEntry(int(rows[0][0]), bytes(rows[0][1]), bytes(rows[0][2])) if rows else None

    def search(self, key: IndexKey, *, after: int, below: int, limit: int) -> list[int]:
        """Indexes with ``key`` in ``(after, below)``: the index's (each row's key
        compared, not only its hash), then the tail's."""
        hashed = key_hash(key.key_type, key.value)
        found: list[int] = []
        with self._index_snapshot() as snapshot:
            mark = snapshot.watermark
            cursor = after
            while len(found) < limit:
                candidates = snapshot.key_candidates(
                    hashed, after=cursor, below=below, limit=limit - len(found) + 8
                )
                if not candidates:
                    break
                rows = {c[1] for c in candidates}
                marks = ",".join("?" * len(rows))
                matching = {int(r[0]) for r in self._query(
                    f"SELECT rowid FROM search_rows WHERE rowid IN ({marks}) "
                    "AND key_type = ? AND value = ?",
                    (*rows, key.key_type, key.value),
                )}
                for index, row in candidates:
                    if row in matching and (not found or found[-1] != index):
                        found.append(index)
                cursor = candidates[-1][0]
        if len(found) >= limit:
            return found[:limit]
        tail = self._query(
            "SELECT DISTINCT idx FROM search_rows WHERE rowid > ? AND key_hash = ? "
            "AND key_type = ? AND value = ? AND idx > ? AND idx < ? ORDER BY idx LIMIT ?",
            (mark.search_row, hashed, key.key_type, key.value, max(after, mark.entries - 1),
             below, limit - len(found)),
        )
        return found + [int(row[0]) for row in tail]


def _confirm_leaves(
    conn: sqlite3.Connection, hashes: list[bytes], candidates: dict[int, list[int]]
) -> dict[bytes, int]:
    """Which of ``hashes`` the candidate indexes (by leaf prefix) really hold."""
    wanted = set(hashes)
    indexes = [i for h in hashes for i in candidates.get(leaf_prefix(h), ())]
    found: dict[bytes, int] = {}
    for chunk, marks in in_chunks(indexes):
        for index, leaf_hash in conn.execute(
            f"SELECT idx, leaf_hash FROM entries WHERE idx IN ({marks})", chunk
        ).fetchall():
            if bytes(leaf_hash) in wanted:
                found[bytes(leaf_hash)] = int(index)
    return found
