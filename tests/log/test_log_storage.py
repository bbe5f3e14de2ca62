"""One storage contract suite, run against SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from logsupport import pg_schema
from vigil.core.merkle import hash_leaf
from vigil.errors import ConfigError, ConflictError
from vigil.log.errors import SequencerLockedError
from vigil.log.kinds import IndexKey
from vigil.log.storage import LogStorage, NewEntry, TreeState, open_storage
from vigil.log.storage.sqlite import SqliteStorage

ORIGIN = "example.com/log"
KEY = "example.com/log+00000000+AQ=="


@pytest.fixture(params=["sqlite", "sqlite-indexed", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database setting for a fresh, empty storage.

    ``sqlite-indexed`` is SQLite whose lookup index is brought up to date
    after every append, so its index answers instead of the unindexed tail.
    """
    if request.param.startswith("sqlite"):
        yield f"sqlite:{tmp_path / 'log.db'}"
    else:
        with pg_schema() as url:
            yield url


class IndexedSqliteStorage(SqliteStorage):
    """SQLite with every appended entry indexed at once (see ``database``)."""

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        super().append_entries(start, entries)
        self.index_now()


def open_for_test(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> LogStorage:
    if request.node.callspec.params.get("database") == "sqlite-indexed":
        return IndexedSqliteStorage(Path(database.removeprefix("sqlite:")))
    return open_storage(database, base_dir=tmp_path)


@pytest.fixture
def storage(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[LogStorage]:
    store = open_for_test(database, tmp_path, request)
    store.initialize(origin=ORIGIN, public_key=KEY)
    yield store
    store.close()


def entry(n: int, *keys: IndexKey) -> NewEntry:
    data = f"entry {n}".encode()
    return NewEntry(hash_leaf(data), data, keys)


def digest_key(n: int) -> IndexKey:
    return IndexKey("digest", "sha256:" + hashlib.sha256(str(n).encode()).hexdigest())


def test_new_storage_is_empty(storage: LogStorage) -> None:
    assert storage.entry_count() == 0
    assert storage.tree_state() is None
    assert storage.latest_checkpoint() is None
    assert storage.entry(0) is None
    assert storage.read_entries(0, 10) == []


def test_initialize_is_idempotent_and_binds_the_log(database: str, tmp_path: Path) -> None:
    store = open_storage(database, base_dir=tmp_path)
    store.initialize(origin=ORIGIN, public_key=KEY)
    store.initialize(origin=ORIGIN, public_key=KEY)
    store.close()
    other = open_storage(database, base_dir=tmp_path)
    with pytest.raises(ConfigError, match="another log"):
        other.initialize(origin="other.example/log", public_key=KEY)
    other.close()


def test_append_and_read(storage: LogStorage) -> None:
    storage.append_entries(0, [entry(0), entry(1)])
    storage.append_entries(2, [entry(2)])
    assert storage.entry_count() == 3
    got = storage.read_entries(0, 10)
    assert [e.index for e in got] == [0, 1, 2]
    assert got[1].data == b"entry 1" and got[1].leaf_hash == hash_leaf(b"entry 1")
    assert storage.read_entries(1, 2)[0].data == b"entry 1"
    stored = storage.entry(2)
    assert stored is not None and stored.data == b"entry 2"
    by_hash = storage.entry_by_leaf_hash(hash_leaf(b"entry 1"))
    assert by_hash is not None and by_hash.index == 1
    assert storage.entry_by_leaf_hash(hash_leaf(b"nope")) is None
    found = storage.find_indexes([hash_leaf(b"entry 2"), hash_leaf(b"nope"), hash_leaf(b"entry 0")])
    assert found == {hash_leaf(b"entry 2"): 2, hash_leaf(b"entry 0"): 0}


def test_append_at_wrong_index_writes_nothing(storage: LogStorage) -> None:
    storage.append_entries(0, [entry(0)])
    with pytest.raises(ConflictError, match="append at index 5, but the log has 1"):
        storage.append_entries(5, [entry(5)])
    with pytest.raises(ConflictError):
        storage.append_entries(0, [entry(9)])
    assert storage.entry_count() == 1


def test_duplicate_leaf_hash_fails_the_whole_batch(storage: LogStorage) -> None:
    storage.append_entries(0, [entry(0)])
    with pytest.raises(ConflictError):
        storage.append_entries(1, [entry(1), entry(0), entry(2)])
    assert storage.entry_count() == 1
    assert storage.entry(1) is None
    # The writer is still usable after the failed transaction.
    storage.append_entries(1, [entry(1)])
    assert storage.entry_count() == 2


def test_search_is_paginated_and_bounded(storage: LogStorage) -> None:
    shared = IndexKey("signer", "alice+00000000+AQ==")
    storage.append_entries(
        0, [entry(n, digest_key(n), shared) for n in range(10)]
    )
    assert storage.search(digest_key(3), after=-1, below=10, limit=5) == [3]
    assert storage.search(shared, after=-1, below=10, limit=4) == [0, 1, 2, 3]
    assert storage.search(shared, after=3, below=10, limit=4) == [4, 5, 6, 7]
    assert storage.search(shared, after=7, below=9, limit=4) == [8]
    assert storage.search(shared, after=-1, below=0, limit=4) == []
    assert storage.search(IndexKey("repository", "none"), after=-1, below=10, limit=4) == []


def state(size: int) -> TreeState:
    return TreeState(size, tuple(bytes([i]) * 32 for i in range(size.bit_count())))


def test_checkpoints_and_tree_state(storage: LogStorage) -> None:
    storage.store_checkpoint(state(0), b"note 0", "text 0")
    storage.store_checkpoint(state(3), b"note 3", "text 3")
    assert storage.tree_state() == state(3)
    assert storage.latest_checkpoint() == b"note 3"
    assert storage.checkpoint(0) == b"note 0"
    assert storage.checkpoint(1) is None
    # Same text again (new cosignatures): the note is replaced.
    storage.store_checkpoint(state(3), b"note 3 cosigned", "text 3")
    assert storage.checkpoint(3) == b"note 3 cosigned"


def test_store_checkpoint_refuses_another_text_for_a_size(storage: LogStorage) -> None:
    storage.store_checkpoint(state(3), b"note 3", "text 3")
    with pytest.raises(ConflictError, match="different checkpoint of size 3"):
        storage.store_checkpoint(state(3), b"forged", "other text 3")
    assert storage.checkpoint(3) == b"note 3"


def test_store_checkpoint_refuses_to_go_back(storage: LogStorage) -> None:
    storage.store_checkpoint(state(5), b"note 5", "text 5")
    with pytest.raises(ConflictError, match="older than the stored tree of size 5"):
        storage.store_checkpoint(state(4), b"note 4", "text 4")
    assert storage.tree_state() == state(5)
    assert storage.checkpoint(4) is None


def test_data_survives_reopening(database: str, tmp_path: Path) -> None:
    store = open_storage(database, base_dir=tmp_path)
    store.initialize(origin=ORIGIN, public_key=KEY)
    store.append_entries(0, [entry(0), entry(1)])
    store.store_checkpoint(state(2), b"note 2", "text 2")
    store.close()
    again = open_storage(database, base_dir=tmp_path)
    again.initialize(origin=ORIGIN, public_key=KEY)
    assert again.entry_count() == 2
    assert again.tree_state() == state(2)
    assert again.latest_checkpoint() == b"note 2"
    again.close()


def test_sequencer_lock_is_exclusive_and_names_the_holder(database: str, tmp_path: Path) -> None:
    first = open_storage(database, base_dir=tmp_path)
    first.initialize(origin=ORIGIN, public_key=KEY)
    first.acquire_sequencer_lock()
    second = open_storage(database, base_dir=tmp_path)
    second.initialize(origin=ORIGIN, public_key=KEY)
    with pytest.raises(SequencerLockedError, match="another server is sequencing") as info:
        second.acquire_sequencer_lock()
    assert "pid " in info.value.holder
    first.close()  # releases the lock
    second.acquire_sequencer_lock()
    second.close()


def test_readers_see_only_committed_batches(storage: LogStorage) -> None:
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            count = storage.entry_count()
            # Batches are 10 entries: a reader never sees part of one.
            if count % 10:
                errors.append(f"saw {count} entries")
            got = storage.read_entries(0, count)
            if len(got) < count:
                errors.append(f"read {len(got)} of {count}")

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for batch in range(20):
        storage.append_entries(batch * 10, [entry(batch * 10 + i) for i in range(10)])
    done.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert storage.entry_count() == 200
