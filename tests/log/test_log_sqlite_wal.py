"""SQLite WAL checkpoints run on their own thread; the WAL stays bounded."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from vigil.log.kinds import IndexKey
from vigil.log.storage import NewEntry
from vigil.log.storage.sqlite import SqliteStorage

ORIGIN = "example.com/log"
KEY = "example.com/log+00000000+AQ=="


def _batch(start: int, count: int) -> list[NewEntry]:
    entries = []
    for n in range(start, start + count):
        data = hashlib.sha256(b"%d" % n).digest() * 20  # 640 bytes
        key = IndexKey("digest", "sha256:" + hashlib.sha256(data).hexdigest())
        entries.append(NewEntry(hashlib.sha256(b"\0" + data).digest(), data, (key,)))
    return entries


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vigil-sqlite-checkpoint"]


def test_the_wal_is_reused_not_grown(tmp_path: Path) -> None:
    """Without checkpoints (the writer's automatic ones are off) the WAL would
    hold every page ever written; the thread copies it back, and past the cap
    the writer empties it, however fast the commits come."""
    storage = SqliteStorage(tmp_path / "log.db", max_wal_bytes=1 << 20)
    try:
        storage.initialize(origin=ORIGIN, public_key=KEY)
        written = 0
        for start in range(0, 24_000, 300):
            batch = _batch(start, 300)
            storage.append_entries(start, batch)
            written += sum(len(e.data) for e in batch)
        assert storage.entry_count() == 24_000
        wal = (tmp_path / "log.db-wal").stat().st_size
        assert wal < written / 3, f"WAL of {wal} bytes after {written} bytes of entries"
    finally:
        storage.close()
    assert not _checkpoint_threads()


def test_entries_survive_reopening_with_frames_left_in_the_wal(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "log.db")
    storage.initialize(origin=ORIGIN, public_key=KEY)
    entries = _batch(0, 500)
    storage.append_entries(0, entries)
    storage.close()
    reopened = SqliteStorage(tmp_path / "log.db")
    try:
        reopened.initialize(origin=ORIGIN, public_key=KEY)
        assert [e.data for e in reopened.read_entries(0, 500)] == [e.data for e in entries]
        assert reopened.find_indexes([entries[7].leaf_hash]) == {entries[7].leaf_hash: 7}
    finally:
        reopened.close()
