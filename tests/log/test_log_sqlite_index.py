"""The SQLite storage's lookup index (vigil.log.storage.lookup): built off the commit
path, it and the unindexed tail together always answer exactly, whatever state the
index file is in."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil.core.merkle import hash_leaf
from vigil.errors import ConflictError
from vigil.log.kinds import IndexKey
from vigil.log.storage import NewEntry
from vigil.log.storage import sqlite as sqlite_module
from vigil.log.storage.lookup import MERGE_FAN_IN, insert_rows, key_hash, leaf_prefix
from vigil.log.storage.sqlite import SqliteStorage

ORIGIN = "example.com/log"
KEY = "example.com/log+00000000+AQ=="
SIGNER = IndexKey("signer", "alice+00000000+AQ==")


def entry(n: int) -> NewEntry:
    data = f"entry {n}".encode()
    digest = IndexKey("digest", "sha256:" + hashlib.sha256(str(n).encode()).hexdigest())
    return NewEntry(hash_leaf(data), data, (digest, SIGNER))


def digest_of(n: int) -> IndexKey:
    return entry(n).index_keys[0]


def open_log(path: Path) -> SqliteStorage:
    storage = SqliteStorage(path)
    storage.initialize(origin=ORIGIN, public_key=KEY)
    return storage


def append_and_close(path: Path, start: int, end: int, *, indexed: bool) -> None:
    """Open the log, append entries ``[start, end)``, index them if asked, close it."""
    storage = open_log(path)
    storage.append_entries(start, [entry(n) for n in range(start, end)])
    if indexed:
        storage.index_now()
    storage.close()


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SqliteStorage]:
    store = open_log(tmp_path / "log.db")
    yield store
    store.close()


def index_rows(path: Path) -> tuple[int, int, int]:
    """(leaf rows, key rows, watermark entries) of the index file, over all runs."""
    with sqlite3.connect(path.with_name(path.name + ".index")) as db:
        runs = [row[0] for row in db.execute("SELECT id FROM runs")]
        leaves = sum(db.execute(f"SELECT COUNT(*) FROM leaf_{r}").fetchone()[0] for r in runs)
        keys = sum(db.execute(f"SELECT COUNT(*) FROM key_{r}").fetchone()[0] for r in runs)
        mark = db.execute("SELECT entries FROM watermark").fetchone()
    return leaves, keys, 0 if mark is None else mark[0]


def test_lookups_span_the_index_and_the_tail(storage: SqliteStorage, tmp_path: Path) -> None:
    storage.append_entries(0, [entry(n) for n in range(6)])
    assert storage.index_now() == 6
    storage.append_entries(6, [entry(n) for n in range(6, 10)])  # the tail
    assert index_rows(tmp_path / "log.db") == (6, 12, 6)
    hashes = [entry(n).leaf_hash for n in (1, 8, 99)]
    assert storage.find_indexes(hashes) == {hashes[0]: 1, hashes[1]: 8}
    for n in (0, 5, 6, 9):
        found = storage.entry_by_leaf_hash(entry(n).leaf_hash)
        assert found is not None and found.index == n
    assert storage.entry_by_leaf_hash(hash_leaf(b"absent")) is None
    # Pages cross from the index into the tail.
    assert storage.search(SIGNER, after=-1, below=10, limit=4) == [0, 1, 2, 3]
    assert storage.search(SIGNER, after=3, below=10, limit=4) == [4, 5, 6, 7]
    assert storage.search(SIGNER, after=7, below=10, limit=4) == [8, 9]
    assert storage.search(SIGNER, after=-1, below=7, limit=20) == list(range(7))
    assert storage.search(digest_of(2), after=-1, below=10, limit=5) == [2]
    assert storage.search(digest_of(7), after=-1, below=10, limit=5) == [7]
    assert storage.search(digest_of(7), after=-1, below=7, limit=5) == []


def test_a_duplicate_is_refused_from_the_index_and_from_the_tail(
    storage: SqliteStorage,
) -> None:
    storage.append_entries(0, [entry(0), entry(1)])
    storage.index_now()
    storage.append_entries(2, [entry(2)])
    for duplicate in (entry(0), entry(2)):  # indexed, in the tail
        with pytest.raises(ConflictError, match="already stored at index"):
            storage.append_entries(3, [entry(3), duplicate])
    with pytest.raises(ConflictError, match="repeats a leaf hash"):
        storage.append_entries(3, [entry(3), entry(3)])
    assert storage.entry_count() == 3
    # find_indexes() saying "absent" does not let a stored hash through later.
    assert storage.find_indexes([entry(4).leaf_hash]) == {}
    with pytest.raises(ConflictError, match="already stored at index 0"):
        storage.append_entries(3, [entry(4), entry(0)])


def test_another_process_reads_the_tail_before_it_is_indexed(tmp_path: Path) -> None:
    writer = open_log(tmp_path / "log.db")
    reader = SqliteStorage(tmp_path / "log.db")  # a front end: no initialize()
    try:
        writer.append_entries(0, [entry(0)])
        writer.index_now()
        writer.append_entries(1, [entry(1)])
        for n in (0, 1):
            found = reader.entry_by_leaf_hash(entry(n).leaf_hash)
            assert found is not None and found.index == n
        assert reader.search(SIGNER, after=-1, below=5, limit=5) == [0, 1]
    finally:
        reader.close()
        writer.close()


def test_a_reader_without_an_index_file_scans_everything(tmp_path: Path) -> None:
    writer = open_log(tmp_path / "log.db")
    writer.append_entries(0, [entry(n) for n in range(3)])
    writer.close()
    for name in ("log.db.index", "log.db.index-wal", "log.db.index-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    reader = SqliteStorage(tmp_path / "log.db")
    try:
        found = reader.entry_by_leaf_hash(entry(2).leaf_hash)
        assert found is not None and found.index == 2
        assert reader.search(SIGNER, after=0, below=3, limit=5) == [1, 2]
    finally:
        reader.close()


def test_the_indexer_thread_catches_up_and_the_tail_shrinks(tmp_path: Path) -> None:
    storage = open_log(tmp_path / "log.db")
    try:
        storage.acquire_sequencer_lock()  # starts the indexer thread
        storage.append_entries(0, [entry(n) for n in range(50)])
        deadline = time.monotonic() + 20
        while index_rows(tmp_path / "log.db")[2] < 50:
            assert time.monotonic() < deadline, "the indexer did not index the batch"
            time.sleep(0.05)
        assert storage.find_indexes([entry(3).leaf_hash]) == {entry(3).leaf_hash: 3}
        assert len(storage._recent) == 0  # answered from the index, not from memory
        with pytest.raises(ConflictError, match="already stored at index 3"):
            storage.append_entries(50, [entry(3)])
    finally:
        storage.close()


def test_a_lost_index_is_rebuilt_and_answers_the_same(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    append_and_close(path, 0, 20, indexed=True)
    (tmp_path / "log.db.index").unlink()
    (tmp_path / "log.db.index-wal").unlink(missing_ok=True)
    storage = open_log(path)
    try:
        assert storage.index_now() == 20
        assert index_rows(path) == (20, 40, 20)
        assert storage.search(SIGNER, after=15, below=20, limit=10) == [16, 17, 18, 19]
    finally:
        storage.close()


def test_an_index_of_another_log_state_is_rebuilt(tmp_path: Path) -> None:
    """The log's database restored from an older copy: the index is ahead of it."""
    path = tmp_path / "log.db"
    append_and_close(path, 0, 5, indexed=False)
    older = (tmp_path / "log.db").read_bytes()  # WAL checkpointed at close
    append_and_close(path, 5, 9, indexed=True)
    for name in ("log.db-wal", "log.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    path.write_bytes(older)
    storage = open_log(path)
    try:
        assert index_rows(path)[2] == 0  # emptied: it named entries the log lacks
        assert storage.entry_by_leaf_hash(entry(7).leaf_hash) is None
        assert storage.find_indexes([entry(7).leaf_hash]) == {}
        storage.append_entries(5, [entry(7)])  # not a duplicate in this log
        assert storage.index_now() == 6
        assert storage.search(SIGNER, after=-1, below=10, limit=10) == list(range(6))
    finally:
        storage.close()


def test_a_big_backlog_is_indexed_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_SYNC_INDEX_ENTRIES", 10)
    monkeypatch.setattr(sqlite_module, "_BULK_INDEX_CHUNK", 7)
    path = tmp_path / "log.db"
    append_and_close(path, 0, 40, indexed=False)
    storage = open_log(path)
    try:
        leaves, _, indexed = index_rows(path)
        assert leaves == indexed and 30 <= indexed <= 40  # at most 10 left in memory
        assert len(storage._recent) == 40 - indexed
        assert storage.find_indexes([entry(n).leaf_hash for n in range(40)]) == {
            entry(n).leaf_hash: n for n in range(40)
        }
    finally:
        storage.close()


def test_colliding_key_hashes_in_the_index_are_told_apart(storage: SqliteStorage,
                                                          tmp_path: Path) -> None:
    """Search keys whose 64-bit hashes collide (made on purpose, 2^32 work) are
    compared by type and value, also inside one entry and across page boundaries."""
    storage.append_entries(0, [entry(n) for n in range(3)])
    hashed = key_hash(SIGNER.key_type, SIGNER.value)
    with sqlite3.connect(tmp_path / "log.db") as db:
        # Rows whose hash matches SIGNER's but whose value is another key.
        db.execute("UPDATE search_rows SET value = 'mallory' WHERE idx = 1 AND key_type = "
                   "'signer'")
        db.execute("UPDATE search_rows SET key_hash = ? WHERE idx = 2 AND key_type = "
                   "'digest'", (hashed,))
    storage.index_now()
    assert storage.search(SIGNER, after=-1, below=3, limit=10) == [0, 2]
    assert storage.search(SIGNER, after=-1, below=3, limit=1) == [0]
    assert storage.search(SIGNER, after=0, below=3, limit=1) == [2]
    assert storage.search(IndexKey("signer", "mallory"), after=-1, below=3, limit=5) == []


_SECOND_LAYOUT = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE search_rows (
    idx INTEGER NOT NULL, key_type TEXT NOT NULL, value TEXT NOT NULL, key_hash INTEGER NOT NULL
);
CREATE INDEX search_rows_by_key ON search_rows (key_hash, idx);
"""


def test_the_second_layout_moves_its_indexes_out(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with sqlite3.connect(path) as db:
        db.executescript(_SECOND_LAYOUT)
        db.execute("INSERT INTO meta VALUES ('origin', ?), ('public_key', ?)", (ORIGIN, KEY))
        for n in range(4):
            e = entry(n)
            db.execute("INSERT INTO entries VALUES (?, ?, ?)", (n, e.leaf_hash, e.data))
            for k in e.index_keys:
                db.execute("INSERT INTO search_rows VALUES (?, ?, ?, ?)",
                           (n, k.key_type, k.value, key_hash(k.key_type, k.value)))
    storage = open_log(path)
    try:
        with sqlite3.connect(path) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "sqlite_autoindex_entries_1" not in names
        assert "search_rows_by_key" not in names
        assert [e.data for e in storage.read_entries(0, 10)] == [entry(n).data for n in range(4)]
        assert storage.find_indexes([entry(2).leaf_hash]) == {entry(2).leaf_hash: 2}
        storage.append_entries(4, [entry(4)])
        assert storage.index_now() == 5
        assert storage.search(SIGNER, after=1, below=10, limit=10) == [2, 3, 4]
    finally:
        storage.close()


def run_levels(path: Path) -> list[int]:
    with sqlite3.connect(path.with_name(path.name + ".index")) as db:
        return [row[0] for row in db.execute("SELECT level FROM runs ORDER BY first_entry")]


def test_runs_merge_by_level_and_answer_the_same(storage: SqliteStorage, tmp_path: Path) -> None:
    """70 one-entry runs: merged 8 at a time into levels, never more than 7 per level."""
    path = tmp_path / "log.db"
    for n in range(70):
        storage.append_entries(n, [entry(n)])
        storage.index_now()
        levels = run_levels(path)
        assert levels == sorted(levels, reverse=True)  # oldest levels first
        assert all(levels.count(level) < MERGE_FAN_IN for level in set(levels))
    assert run_levels(path) == [2, 0, 0, 0, 0, 0, 0]  # 64 + 6 * 1
    assert index_rows(path) == (70, 140, 70)
    hashes = [entry(n).leaf_hash for n in range(70)]
    assert storage.find_indexes(hashes) == {h: n for n, h in enumerate(hashes)}
    assert storage.search(SIGNER, after=-1, below=70, limit=100) == list(range(70))
    pages, cursor = [], -1
    while True:  # pages of 9 cross run boundaries
        page = storage.search(SIGNER, after=cursor, below=70, limit=9)
        if not page:
            break
        pages += page
        cursor = page[-1]
    assert pages == list(range(70))
    for n in (0, 8, 63, 64, 69):
        found = storage.entry_by_leaf_hash(entry(n).leaf_hash)
        assert found is not None and found.index == n
        assert storage.search(digest_of(n), after=-1, below=70, limit=3) == [n]


def test_a_reader_mid_merge_keeps_its_snapshot(storage: SqliteStorage, tmp_path: Path) -> None:
    """Merging drops the merged runs' tables; a reader's open snapshot still reads them."""
    for n in range(MERGE_FAN_IN - 1):
        storage.append_entries(n, [entry(n)])
        storage.index_now()
    reader = SqliteStorage(tmp_path / "log.db")
    try:
        index = reader._index_reader()
        with reader._index.read(index) as snapshot:
            assert len(snapshot.runs) == MERGE_FAN_IN - 1
            storage.append_entries(MERGE_FAN_IN - 1, [entry(MERGE_FAN_IN - 1)])
            storage.index_now()  # merges all eight
            assert run_levels(tmp_path / "log.db") == [1]
            prefix = leaf_prefix(entry(3).leaf_hash)
            assert snapshot.leaf_candidates([prefix]) == {prefix: [3]}
        found = reader.entry_by_leaf_hash(entry(7).leaf_hash)
        assert found is not None and found.index == 7
    finally:
        reader.close()


def test_a_shared_leaf_prefix_is_confirmed_against_the_whole_hash(
    storage: SqliteStorage,
) -> None:
    stored = entry(0)
    storage.append_entries(0, [stored])
    storage.index_now()
    twin = NewEntry(stored.leaf_hash[:8] + bytes(24), b"twin", ())  # same 8-byte prefix
    assert storage.find_indexes([twin.leaf_hash]) == {}
    assert storage.entry_by_leaf_hash(twin.leaf_hash) is None
    storage.append_entries(1, [twin])
    storage.index_now()
    assert storage.find_indexes([twin.leaf_hash, stored.leaf_hash]) == {
        twin.leaf_hash: 1, stored.leaf_hash: 0,
    }
    found = storage.entry_by_leaf_hash(twin.leaf_hash)
    assert found is not None and found.index == 1


def test_an_index_file_of_the_first_index_layout_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    append_and_close(path, 0, 3, indexed=False)
    with sqlite3.connect(path.with_name("log.db.index")) as db:
        db.execute("DELETE FROM runs")
        db.execute("CREATE TABLE leaf_index (prefix INTEGER, idx INTEGER)")
        db.execute("UPDATE watermark SET entries = 3")
    storage = open_log(path)
    try:
        assert storage.index_now() == 3
        assert index_rows(path) == (3, 6, 3)
        assert storage.search(SIGNER, after=-1, below=3, limit=5) == [0, 1, 2]
    finally:
        storage.close()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_the_sequencers_leaf_prefixes_cover_every_stored_entry(tmp_path: Path) -> None:
    """With the lock, the leaf prefixes load on a thread; entries the indexer then takes
    from the tail join them, and duplicates of either are still found."""
    path = tmp_path / "log.db"
    append_and_close(path, 0, 30, indexed=True)
    storage = open_log(path)
    try:
        storage.acquire_sequencer_lock()
        storage.append_entries(30, [entry(n) for n in range(30, 40)])
        wait_for(lambda: storage._loaded_prefixes is not None or storage._prefixes is not None,
                 "the prefixes did not load")
        hashes = [entry(n).leaf_hash for n in range(45)]
        assert storage.find_indexes(hashes) == {h: n for n, h in enumerate(hashes[:40])}
        assert storage._prefixes is not None and len(storage._prefixes) == 30
        wait_for(lambda: index_rows(path)[2] == 40, "the indexer did not take the tail")
        assert storage.find_indexes(hashes) == {h: n for n, h in enumerate(hashes[:40])}
        assert len(storage._prefixes) == 40 and not storage._recent
        for duplicate in (3, 35):
            with pytest.raises(ConflictError, match=f"already stored at index {duplicate}"):
                storage.append_entries(40, [entry(duplicate)])
    finally:
        storage.close()


@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("count", [0, 1, 239, 240, 241, 320, 321, 1000])
def test_multi_row_inserts_write_every_row_in_order(width: int, count: int) -> None:
    """insert_rows splits rows into full statements and a remainder: none lost,
    none doubled, order kept (rowids follow it)."""
    conn = sqlite3.connect(":memory:")
    columns = ", ".join(f"c{i}" for i in range(width))
    conn.execute(f"CREATE TABLE t ({columns})")
    rows = [tuple(f"{n}.{i}" for i in range(width)) for n in range(count)]
    insert_rows(conn, f"INSERT INTO t ({columns})", width, iter(rows))
    assert conn.execute(f"SELECT {columns} FROM t ORDER BY rowid").fetchall() == rows
