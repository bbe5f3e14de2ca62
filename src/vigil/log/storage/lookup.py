"""The SQLite storage's lookup indexes, built off the sequencer's commit path.

Why: a log needs two lookups by random keys, leaf hash to index (duplicate
submissions, ``GET /api/v1/entries?leaf_hash=``) and search key to indexes
(digest, signer, repository). Kept as B-trees inside the log's database,
every appended entry dirtied a random page of each, and each batch's commit
wrote and fsynced those pages: at 10,000,000 entries some 2.5 pages per
entry, which made batch sequencing a third slower than on an empty log
(bench/log.py). Yet nothing about an index needs to be durable at commit
time: it is a function of the entries and search rows, which are.

So the log's database holds only tables appended in index order (cheap to
commit), and this module keeps the indexes in a second database file beside
it (``<database>.index``):

* ``leaf_index (prefix, idx)``: the first 8 bytes of each leaf hash as a
  signed integer (:func:`leaf_prefix`); a match is a candidate, confirmed
  against the entry's full leaf hash;
* ``key_index (key_hash, idx, row)``: each search row's 64-bit key hash and
  its rowid in ``search_rows``, whose key type and value confirm it;
* ``watermark``: the index covers the entries ``[0, entries)`` and the search
  rows with rowid ``<= search_row``; ``last_leaf`` is entry ``entries - 1``'s
  leaf hash, so an index that belongs to another state of the log (a database
  restored from a backup) is noticed and rebuilt.

One :class:`Indexer` thread, in the process that holds the sequencer lock,
extends the index in big sorted transactions (:meth:`LookupIndex.extend`):
about one a second, so each index page is written once per second however
many entries landed on it. Lookups read the index, then scan the rows above
its watermark (the *tail*) in the log's database: readers in SQL
(:meth:`LookupIndex.read`), the sequencer in memory (its recent leaf hashes,
see :class:`vigil.log.storage.sqlite.SqliteStorage`).

Crashes: the index commits with ``synchronous=NORMAL`` (a kill loses
nothing, a power cut at most its last transactions, never its consistency)
and each transaction moves the watermark with the rows it adds, so after any
crash the next :meth:`LookupIndex.extend` continues from the watermark.

I/O: only through the SQLite connections it is given or opens.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Indexer",
    "LookupIndex",
    "Watermark",
    "key_hash",
    "leaf_prefix",
]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS leaf_index (
    prefix INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (prefix, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_index (
    key_hash INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    row INTEGER NOT NULL,
    PRIMARY KEY (key_hash, idx, row)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS watermark (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    search_row INTEGER NOT NULL,
    last_leaf BLOB NOT NULL
);
"""

# Small pages: a random insert rewrites one page, so its size is the write
# amplification (1 KiB rows of ~20 bytes instead of SQLite's 4 KiB default).
_PAGE_BYTES = 1024
_MMAP_BYTES = 8 << 30
_CACHE_KIB = 256 * 1024
_IN_LIMIT = 500  # bound parameters per IN (...) query


def leaf_prefix(leaf_hash: bytes) -> int:
    """The leaf index's key: the first 8 bytes of a leaf hash, as a signed integer."""
    return int.from_bytes(leaf_hash[:8], "big", signed=True)


def key_hash(key_type: str, value: str) -> int:
    """The search index's key: the first 8 bytes of SHA-256(type NUL value), signed.

    Only narrows the search (the rows keep type and value, and queries
    compare them), so collisions, even made on purpose, cost a row read.
    """
    digest = hashlib.sha256(f"{key_type}\0{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Watermark:
    """How far the index reaches (see the module docstring).

    Attributes:
        entries: Entries ``[0, entries)`` are in ``leaf_index``.
        search_row: Search rows with rowid ``<= search_row`` are in ``key_index``.
        last_leaf: Entry ``entries - 1``'s leaf hash (empty for 0).
    """

    entries: int
    search_row: int
    last_leaf: bytes = b""


NO_INDEX = Watermark(0, 0)


def _read_watermark(conn: sqlite3.Connection) -> Watermark:
    row = conn.execute(
        "SELECT entries, search_row, last_leaf FROM watermark WHERE id = 0"
    ).fetchone()
    return NO_INDEX if row is None else Watermark(int(row[0]), int(row[1]), bytes(row[2]))


class LookupIndex:
    """The index database of one log database.

    Args:
        path: The index file (``<database>.index``).
        description: Names the log's storage in messages.
    """

    def __init__(self, path: Path, *, description: str) -> None:
        self.path = path
        self._description = description

    # -- connections ---------------------------------------------------------------

    def connect(self, *, create: bool = False) -> sqlite3.Connection | None:
        """A connection to the index, or None if it does not exist (and not ``create``).

        Readers never create the file: until the sequencer has, every lookup
        scans the log's tables from the start (correct, only slower).

        Raises:
            sqlite3.Error: the file exists but cannot be opened.
        """
        if not create and not self.path.exists():
            return None
        conn = sqlite3.connect(
            f"file:{self.path}?mode={'rwc' if create else 'rw'}",
            uri=True, isolation_level=None, check_same_thread=False, timeout=30.0,
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        conn.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def create(self, main: sqlite3.Connection) -> sqlite3.Connection:
        """Create the index if missing and check it against the log's database.

        An index that is ahead of the log, or whose last indexed entry has
        another leaf hash there, belongs to another state of the log: it is
        emptied (and rebuilt by :meth:`extend`), with a warning.

        Returns:
            The writer's connection to the index.
        """
        conn = self.connect(create=True)
        assert conn is not None
        conn.execute(f"PRAGMA page_size = {_PAGE_BYTES}")  # only before the first table
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
        mark = _read_watermark(conn)
        if mark.entries:
            row = main.execute(
                "SELECT leaf_hash FROM entries WHERE idx = ?", (mark.entries - 1,)
            ).fetchone()
            if row is None or bytes(row[0]) != mark.last_leaf:
                _log.warning(
                    "%s: the lookup index (%d entries) does not match the log's entries; "
                    "rebuilding it", self._description, mark.entries,
                )
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM leaf_index")
                conn.execute("DELETE FROM key_index")
                conn.execute("DELETE FROM watermark")
                conn.execute("COMMIT")
        return conn

    @staticmethod
    def watermark(conn: sqlite3.Connection) -> Watermark:
        """The committed watermark, read on ``conn``."""
        return _read_watermark(conn)

    # -- writing -------------------------------------------------------------------

    def extend(
        self, index: sqlite3.Connection, main: sqlite3.Connection, *, max_entries: int
    ) -> Watermark:
        """Index up to ``max_entries`` more entries (and their search rows), sorted, in one
        transaction.

        ``main`` is a connection to the log's database, read in one
        transaction so the entries and search rows come from one state.

        Returns:
            The new watermark (unchanged if there was nothing to index).
        """
        mark = _read_watermark(index)
        main.execute("BEGIN")
        try:
            count = int(main.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")
                        .fetchone()[0])
            end = min(count, mark.entries + max_entries)
            if end <= mark.entries:
                return mark
            leaves = main.execute(
                "SELECT idx, leaf_hash FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
                (mark.entries, end),
            ).fetchall()
            keys = main.execute(
                "SELECT key_hash, idx, rowid FROM search_rows WHERE rowid > ? AND idx < ? "
                "ORDER BY rowid",
                (mark.search_row, end),
            ).fetchall()
        finally:
            main.execute("COMMIT")
        if len(leaves) != end - mark.entries:
            raise sqlite3.DatabaseError(
                f"entries [{mark.entries}, {end}): read {len(leaves)} rows"
            )
        new = Watermark(end, int(keys[-1][2]) if keys else mark.search_row,
                        bytes(leaves[-1][1]))
        leaf_rows = sorted((leaf_prefix(bytes(h)), i) for i, h in leaves)
        keys.sort()
        index.execute("BEGIN IMMEDIATE")
        try:
            if _read_watermark(index) != mark:  # another indexer moved it: retry later
                index.execute("ROLLBACK")
                return _read_watermark(index)
            index.executemany("INSERT INTO leaf_index (prefix, idx) VALUES (?, ?)", leaf_rows)
            index.executemany(
                "INSERT INTO key_index (key_hash, idx, row) VALUES (?, ?, ?)", keys
            )
            index.execute(
                "INSERT OR REPLACE INTO watermark (id, entries, search_row, last_leaf) "
                "VALUES (0, ?, ?, ?)",
                (new.entries, new.search_row, new.last_leaf),
            )
            index.execute("COMMIT")
        except BaseException:
            if index.in_transaction:
                index.execute("ROLLBACK")
            raise
        return new

    # -- reading -------------------------------------------------------------------

    @contextmanager
    def read(self, index: sqlite3.Connection | None) -> Iterator[IndexSnapshot]:
        """One consistent view of the index: its watermark and its rows."""
        if index is None:
            yield IndexSnapshot(None, NO_INDEX)
            return
        index.execute("BEGIN")
        try:
            try:
                mark = _read_watermark(index)
            except sqlite3.OperationalError:  # created a moment ago, no tables yet
                yield IndexSnapshot(None, NO_INDEX)
                return
            yield IndexSnapshot(index, mark)
        finally:
            index.execute("COMMIT")


class IndexSnapshot:
    """The index as of one read transaction (see :meth:`LookupIndex.read`)."""

    def __init__(self, conn: sqlite3.Connection | None, watermark: Watermark) -> None:
        self._conn = conn
        self.watermark = watermark

    def leaf_candidates(self, prefixes: Sequence[int]) -> dict[int, list[int]]:
        """Indexes of indexed entries whose leaf hash starts with each prefix."""
        found: dict[int, list[int]] = {}
        if self._conn is None:
            return found
        unique = list(dict.fromkeys(prefixes))
        for start in range(0, len(unique), _IN_LIMIT):
            chunk = unique[start : start + _IN_LIMIT]
            marks = ",".join("?" * len(chunk))
            for prefix, index in self._conn.execute(
                f"SELECT prefix, idx FROM leaf_index WHERE prefix IN ({marks})", chunk
            ).fetchall():
                found.setdefault(int(prefix), []).append(int(index))
        return found

    def key_candidates(
        self, hashed: int, *, after: int, below: int, limit: int
    ) -> list[tuple[int, int]]:
        """Indexed ``(idx, search row)`` with this key hash in ``(after, below)``, ascending.

        At least ``limit`` of them if there are, and every row of the last
        index returned (two keys of one entry may share a hash), so a caller
        can go on from that index.
        """
        if self._conn is None:
            return []
        rows = self._conn.execute(
            "SELECT idx, row FROM key_index WHERE key_hash = ? AND idx > ? AND idx < ? "
            "ORDER BY idx, row LIMIT ?",
            (hashed, after, below, limit),
        ).fetchall()
        if len(rows) == limit:
            rows += self._conn.execute(
                "SELECT idx, row FROM key_index WHERE key_hash = ? AND idx = ? AND row > ? "
                "ORDER BY row",
                (hashed, rows[-1][0], rows[-1][1]),
            ).fetchall()
        return [(int(i), int(r)) for i, r in rows]


class Indexer:
    """The thread that extends one log's index (see the module docstring).

    Args:
        index: The index.
        connect_index: Opens the thread's index connection (writer side).
        connect_main: Opens the thread's connection to the log's database.
        on_advance: Called on the thread with each new watermark, once committed.
        interval_s: Wait between extensions while entries arrive.
        max_entries: Entries per extension (bounds a transaction's size).
    """

    def __init__(
        self,
        index: LookupIndex,
        *,
        connect_index: Callable[[], sqlite3.Connection],
        connect_main: Callable[[], sqlite3.Connection],
        on_advance: Callable[[Watermark], None],
        interval_s: float = 1.0,
        max_entries: int = 200_000,
    ) -> None:
        self._index = index
        self._connect_index = connect_index
        self._connect_main = connect_main
        self._on_advance = on_advance
        self._interval_s = interval_s
        self._max_entries = max_entries
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-sqlite-index", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """The log committed entries: index them within ``interval_s``."""
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread after the extension it may be running."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            index, main = self._connect_index(), self._connect_main()
        except Exception as exc:  # closed meanwhile, or unusable: lookups read the tail
            _log.error("%s: no index thread (%s)", self._index.path, exc)
            return
        try:
            while not self._stopping.is_set():
                self._wake.wait()
                if self._stopping.wait(self._interval_s):
                    return
                self._wake.clear()
                self._extend_all(index, main)
        finally:
            index.close()
            main.close()

    def _extend_all(self, index: sqlite3.Connection, main: sqlite3.Connection) -> None:
        """Extend until caught up (one transaction per ``max_entries``)."""
        while not self._stopping.is_set():
            try:
                before = _read_watermark(index)
                mark = self._index.extend(index, main, max_entries=self._max_entries)
            except sqlite3.Error as exc:  # the tail grows; the next wake retries
                _log.warning("%s: extending the index failed (%s)", self._index.path, exc)
                return
            if mark == before:
                return
            self._on_advance(mark)
            if mark.entries - before.entries < self._max_entries:
                return
