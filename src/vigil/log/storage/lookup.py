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
it (``<database>.index``), as sorted *runs* (a log-structured merge tree,
https://en.wikipedia.org/wiki/Log-structured_merge-tree). Inserting random
keys into one big B-tree would cost the same page writes there, off the
commit path but not off the CPU (about 50 us per entry at 10,000,000
entries, bench/log.py); a run is written in key order, page after page
(about 4 us per entry). Each run covers a contiguous range of entries:

* ``leaf_<id> (prefix, idx)``: the first 8 bytes of each leaf hash as a
  signed integer (:func:`leaf_prefix`); a match is a candidate, confirmed
  against the entry's full leaf hash;
* ``key_<id> (key_hash, idx, row)``: each search row's 64-bit key hash and
  its rowid in ``search_rows``, whose key type and value confirm it;
* ``runs``: each run's id, level and range ``[first_entry, end_entry)``;
* ``watermark``: the runs cover the entries ``[0, entries)`` and the search
  rows with rowid ``<= search_row``; ``last_leaf`` is entry ``entries - 1``'s
  leaf hash, so an index that belongs to another state of the log (a
  database restored from a backup) is noticed and rebuilt.

One :class:`Indexer` thread, in the process that holds the sequencer lock,
adds a run about once a second (:meth:`LookupIndex.extend`). A run's level
is its size class, ``log`` base :data:`MERGE_FAN_IN` of its entries over
:data:`LEVEL_BASE_ENTRIES` (:func:`run_level`), and whenever
:data:`MERGE_FAN_IN` consecutive runs share a level they are merged into one
(:meth:`LookupIndex.compact`), so a merged run's range is contiguous too,
and a log of N entries keeps a few runs per level, about ``log(N)`` levels;
each entry is rewritten once per level. Readers look an entry up in every
run (a few milliseconds), then scan the rows above the watermark (the *tail*) in the
log's database (:meth:`LookupIndex.read`). The sequencer, which checks every
submission, keeps the leaf prefixes of all entries in memory instead (see
:class:`vigil.log.storage.sqlite.SqliteStorage`).

Crashes: the index commits with ``synchronous=NORMAL`` (a kill loses
nothing, a power cut at most its last transactions, never its consistency);
a run, its catalogue row and the watermark are written in one transaction,
and a merge replaces its runs in one, so after any crash the next
:meth:`LookupIndex.extend` continues from the watermark.

I/O: only through the SQLite connections it is given or opens.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from vigil.log.storage.walcheckpoint import run_after_commits

__all__ = [
    "LEVEL_BASE_ENTRIES",
    "MERGE_FAN_IN",
    "IndexSnapshot",
    "Indexer",
    "LookupIndex",
    "Watermark",
    "count_entries",
    "in_chunks",
    "key_hash",
    "leaf_prefix",
    "write_transaction",
]

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    level INTEGER NOT NULL,
    first_entry INTEGER NOT NULL,
    end_entry INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS watermark (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    entries INTEGER NOT NULL,
    search_row INTEGER NOT NULL,
    last_leaf BLOB NOT NULL
);
"""

MERGE_FAN_IN = 8  # runs of one level merged at once
LEVEL_BASE_ENTRIES = 16384  # about the runs of a second or two at full load
_PAGE_BYTES = 4096
_MMAP_BYTES = 8 << 30
_CACHE_KIB = 64 * 1024
_IN_LIMIT = 500  # bound parameters per IN (...) query
_ROW_PARAMS = 960  # bound parameters per multi-row INSERT (SQLite's limit was 999)


def run_level(entries: int) -> int:
    """A run's size class: ``floor(log(entries / LEVEL_BASE_ENTRIES))`` in base
    :data:`MERGE_FAN_IN`, at least 0 (so 0 below ``8 * 16,384`` entries)."""
    level, size = 0, LEVEL_BASE_ENTRIES * MERGE_FAN_IN
    while entries >= size:
        level, size = level + 1, size * MERGE_FAN_IN
    return level


def count_entries(conn: sqlite3.Connection) -> int:
    """The number of entries in the log's database (the next index)."""
    return int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()[0])


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """``values`` in chunks that fit one ``IN (...)``, each with its placeholders."""
    for start in range(0, len(values), _IN_LIMIT):
        chunk = list(values[start : start + _IN_LIMIT])
        yield chunk, ",".join("?" * len(chunk))


def insert_rows(
    conn: sqlite3.Connection, insert: str, width: int, rows: Iterable[Sequence[Any]]
) -> None:
    """Run ``insert`` (``INSERT INTO t (a, b)``) for ``rows`` of ``width`` values.

    executemany() steps the statement once per row, releasing and retaking
    the GIL each time; a statement of many ``VALUES`` rows is bound in C and
    stepped once, which costs about a quarter less CPU per row.
    """
    values = list(chain.from_iterable(rows))
    per = _ROW_PARAMS // width * width  # values per full statement
    one = "(" + ",".join("?" * width) + ")"
    full = f"{insert} VALUES " + ",".join([one] * (per // width))
    start = 0
    while len(values) - start >= per:
        conn.execute(full, values[start : start + per])
        start += per
    if start < len(values):
        rest = values[start:]
        conn.execute(f"{insert} VALUES " + ",".join([one] * (len(rest) // width)), rest)


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
        entries: Entries ``[0, entries)`` are in the runs.
        search_row: Search rows with rowid ``<= search_row`` are in the runs.
        last_leaf: Entry ``entries - 1``'s leaf hash (empty for 0).
    """

    entries: int
    search_row: int
    last_leaf: bytes = b""


@dataclass(frozen=True, slots=True)
class Run:
    """One sorted run: tables ``leaf_<id>`` and ``key_<id>``, entries ``[first, end)``."""

    id: int
    level: int
    first: int
    end: int


NO_INDEX = Watermark(0, 0)


def _read_watermark(conn: sqlite3.Connection) -> Watermark:
    row = conn.execute(
        "SELECT entries, search_row, last_leaf FROM watermark WHERE id = 0"
    ).fetchone()
    return NO_INDEX if row is None else Watermark(int(row[0]), int(row[1]), bytes(row[2]))


def _read_runs(conn: sqlite3.Connection) -> list[Run]:
    """The runs, in entry order."""
    return [
        Run(int(i), int(level), int(first), int(end))
        for i, level, first, end in conn.execute(
            "SELECT id, level, first_entry, end_entry FROM runs ORDER BY first_entry"
        ).fetchall()
    ]


def _create_run_tables(conn: sqlite3.Connection, run_id: int) -> None:
    conn.execute(
        f"CREATE TABLE leaf_{run_id} (prefix INTEGER NOT NULL, idx INTEGER NOT NULL, "
        "PRIMARY KEY (prefix, idx)) WITHOUT ROWID"
    )
    conn.execute(
        f"CREATE TABLE key_{run_id} (key_hash INTEGER NOT NULL, idx INTEGER NOT NULL, "
        "row INTEGER NOT NULL, PRIMARY KEY (key_hash, idx, row)) WITHOUT ROWID"
    )


def _drop_run_tables(conn: sqlite3.Connection, run_id: int) -> None:
    conn.execute(f"DROP TABLE IF EXISTS leaf_{run_id}")
    conn.execute(f"DROP TABLE IF EXISTS key_{run_id}")


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
        emptied (and rebuilt by :meth:`extend`), with a warning. So is one of
        an earlier layout of this file.

        Returns:
            The writer's connection to the index.
        """
        conn = self.connect(create=True)
        assert conn is not None
        conn.execute(f"PRAGMA page_size = {_PAGE_BYTES}")  # only before the first table
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
        mark = _read_watermark(conn)
        stale = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'leaf_index'"
        ).fetchone() is not None
        if mark.entries and not stale:
            row = main.execute(
                "SELECT leaf_hash FROM entries WHERE idx = ?", (mark.entries - 1,)
            ).fetchone()
            stale = row is None or bytes(row[0]) != mark.last_leaf
        if stale:
            _log.warning(
                "%s: the lookup index (%d entries) does not match the log's entries; "
                "rebuilding it", self._description, mark.entries,
            )
            with write_transaction(conn):
                for run in _read_runs(conn):
                    _drop_run_tables(conn, run.id)
                conn.execute("DROP TABLE IF EXISTS leaf_index")
                conn.execute("DROP TABLE IF EXISTS key_index")
                conn.execute("DELETE FROM runs")
                conn.execute("DELETE FROM watermark")
        return conn

    @staticmethod
    def watermark(conn: sqlite3.Connection) -> Watermark:
        """The committed watermark, read on ``conn``."""
        return _read_watermark(conn)

    # -- writing -------------------------------------------------------------------

    def extend(
        self, index: sqlite3.Connection, main: sqlite3.Connection, *, max_entries: int
    ) -> Watermark:
        """Index up to ``max_entries`` more entries (and their search rows) as a new
        run, in one transaction.

        ``main`` is a connection to the log's database, read in one
        transaction so the entries and search rows come from one state.
        ``search_rows``' rowids grow with the entry index (rows are only
        appended, in index order), so the rows above the watermark's are
        those of the entries above it.

        Returns:
            The new watermark (unchanged if there was nothing to index).
        """
        mark = _read_watermark(index)
        main.execute("BEGIN")
        try:
            count = count_entries(main)
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
        with write_transaction(index):
            if _read_watermark(index) != mark:  # another indexer moved it: take its word
                return _read_watermark(index)
            run_id = _next_run_id(index)
            _create_run_tables(index, run_id)
            insert_rows(index, f"INSERT INTO leaf_{run_id} (prefix, idx)", 2, leaf_rows)
            insert_rows(index, f"INSERT INTO key_{run_id} (key_hash, idx, row)", 3, keys)
            index.execute(
                "INSERT INTO runs (id, level, first_entry, end_entry) VALUES (?, ?, ?, ?)",
                (run_id, run_level(end - mark.entries), mark.entries, end),
            )
            index.execute(
                "INSERT OR REPLACE INTO watermark (id, entries, search_row, last_leaf) "
                "VALUES (0, ?, ?, ?)",
                (new.entries, new.search_row, new.last_leaf),
            )
        return new

    def compact(self, index: sqlite3.Connection) -> int:
        """Merge every :data:`MERGE_FAN_IN` consecutive runs of one level into one run.

        The newest such group first. Each merge is one transaction: the merged
        run replaces its runs in the catalogue, and their tables are dropped
        (a reader's open transaction still sees them: WAL snapshots).

        Returns:
            The number of merges made.
        """
        merges = 0
        while True:
            runs = _read_runs(index)
            group = _mergeable(runs)
            if group is None:
                return merges
            with write_transaction(index):
                if _read_runs(index) != runs:  # another indexer merged: look again
                    continue
                self._merge(index, group)
            merges += 1

    @staticmethod
    def _merge(index: sqlite3.Connection, group: list[Run]) -> None:
        run_id = _next_run_id(index)
        _create_run_tables(index, run_id)
        for table, columns in (("leaf", "prefix, idx"), ("key", "key_hash, idx, row")):
            union = " UNION ALL ".join(f"SELECT {columns} FROM {table}_{r.id}" for r in group)
            index.execute(
                f"INSERT INTO {table}_{run_id} ({columns}) {union} ORDER BY {columns}"
            )
        first, end = group[0].first, group[-1].end
        index.execute(
            "INSERT INTO runs (id, level, first_entry, end_entry) VALUES (?, ?, ?, ?)",
            (run_id, max(group[0].level + 1, run_level(end - first)), first, end),
        )
        for run in group:
            index.execute("DELETE FROM runs WHERE id = ?", (run.id,))
            _drop_run_tables(index, run.id)

    # -- reading -------------------------------------------------------------------

    @contextmanager
    def read(self, index: sqlite3.Connection | None) -> Iterator[IndexSnapshot]:
        """One consistent view of the index: its watermark and its runs."""
        if index is None:
            yield IndexSnapshot(None, NO_INDEX, [])
            return
        index.execute("BEGIN")
        try:
            try:
                mark, runs = _read_watermark(index), _read_runs(index)
            except sqlite3.OperationalError:  # created a moment ago, no tables yet
                yield IndexSnapshot(None, NO_INDEX, [])
                return
            yield IndexSnapshot(index, mark, runs)
        finally:
            index.execute("COMMIT")

    def all_prefixes(self, index: sqlite3.Connection) -> tuple[int, set[int]]:
        """Every indexed entry's leaf prefix, and the number of entries they cover."""
        prefixes: set[int] = set()
        with self.read(index) as snapshot:
            for run in snapshot.runs:
                rows = index.execute(f"SELECT prefix FROM leaf_{run.id}")
                while chunk := rows.fetchmany(65536):
                    prefixes.update(map(itemgetter(0), chunk))
        return snapshot.watermark.entries, prefixes


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction on ``conn``: committed on success, else
    rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _mergeable(runs: list[Run]) -> list[Run] | None:
    """The newest :data:`MERGE_FAN_IN` consecutive runs of one level, if any."""
    end = len(runs)
    while end >= MERGE_FAN_IN:
        group = runs[end - MERGE_FAN_IN : end]
        if all(run.level == group[-1].level for run in group):
            return group
        end -= 1
    return None


def _next_run_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM runs").fetchone()[0])


class IndexSnapshot:
    """The index as of one read transaction (see :meth:`LookupIndex.read`)."""

    def __init__(
        self, conn: sqlite3.Connection | None, watermark: Watermark, runs: list[Run]
    ) -> None:
        self._conn = conn
        self.watermark = watermark
        self.runs = runs

    def leaf_candidates(self, prefixes: Sequence[int]) -> dict[int, list[int]]:
        """Indexes of indexed entries whose leaf hash starts with each prefix."""
        found: dict[int, list[int]] = {}
        if self._conn is None:
            return found
        unique = list(dict.fromkeys(prefixes))
        for run in self.runs:
            for chunk, marks in in_chunks(unique):
                for prefix, index in self._conn.execute(
                    f"SELECT prefix, idx FROM leaf_{run.id} WHERE prefix IN ({marks})", chunk
                ).fetchall():
                    found.setdefault(int(prefix), []).append(int(index))
        return found

    def key_candidates(
        self, hashed: int, *, after: int, below: int, limit: int
    ) -> list[tuple[int, int]]:
        """Indexed ``(idx, search row)`` with this key hash in ``(after, below)``, ascending.

        At least ``limit`` of them if there are, and every row of the last
        index returned (two keys of one entry may share a hash), so a caller
        can go on from that index. Runs hold disjoint ranges in entry order,
        so their answers are read one run after the other.
        """
        found: list[tuple[int, int]] = []
        if self._conn is None:
            return found
        for run in self.runs:
            if run.end <= after + 1 or run.first >= below:
                continue
            rows = self._conn.execute(
                f"SELECT idx, row FROM key_{run.id} WHERE key_hash = ? AND idx > ? "
                "AND idx < ? ORDER BY idx, row LIMIT ?",
                (hashed, after, below, limit - len(found)),
            ).fetchall()
            found += [(int(i), int(r)) for i, r in rows]
            if len(found) >= limit:
                last, row = found[-1]
                found += [(last, int(r)) for (r,) in self._conn.execute(
                    f"SELECT row FROM key_{run.id} WHERE key_hash = ? AND idx = ? AND row > ? "
                    "ORDER BY row",
                    (hashed, last, row),
                ).fetchall()]
                break
        return found


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
            run_after_commits(
                self._wake, self._stopping, self._interval_s,
                lambda: self._extend_all(index, main),
            )
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
            try:
                self._index.compact(index)
            except sqlite3.Error as exc:  # more runs to read; the next wake retries
                _log.warning("%s: merging index runs failed (%s)", self._index.path, exc)
            if mark.entries - before.entries < self._max_entries:
                return
