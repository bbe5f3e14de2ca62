"""The SQLite storage's lookup index (vigil.log.storage.lookup): built off the commit
path, it and the unindexed tail together always answer exactly, whatever state the
index file is in."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.core.merkle import hash_leaf
from vigil.errors import ConflictError
from vigil.log.kinds import IndexKey
from vigil.log.storage import NewEntry
from vigil.log.storage import sqlite as sqlite_module
from vigil.log.storage.lookup import key_hash
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


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SqliteStorage]:
    store = open_log(tmp_path / "log.db")
    yield store
    store.close()


def index_rows(path: Path) -> tuple[int, int, int]:
    """(leaf rows, key rows, watermark entries) of the index file."""
    with sqlite3.connect(path.with_name(path.name + ".index")) as db:
        leaves = db.execute("SELECT COUNT(*) FROM leaf_index").fetchone()[0]
        keys = db.execute("SELECT COUNT(*) FROM key_index").fetchone()[0]
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
    storage = open_log(path)
    storage.append_entries(0, [entry(n) for n in range(20)])
    storage.index_now()
    storage.close()
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
    storage = open_log(path)
    storage.append_entries(0, [entry(n) for n in range(5)])
    storage.close()
    older = (tmp_path / "log.db").read_bytes()  # WAL checkpointed at close
    storage = open_log(path)
    storage.append_entries(5, [entry(n) for n in range(5, 9)])
    storage.index_now()
    storage.close()
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
    storage = open_log(path)
    storage.append_entries(0, [entry(n) for n in range(40)])
    storage.close()
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
