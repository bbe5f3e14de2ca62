"""SQLite specifics: the first search-key layout is migrated, searches stay exact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vigil.core.merkle import hash_leaf
from vigil.log.kinds import IndexKey
from vigil.log.storage import NewEntry, open_storage

ORIGIN = "example.com/log"
KEY = "example.com/log+00000000+AQ=="

_OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE search_keys (
    key_type TEXT NOT NULL, value TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (key_type, value, idx)
) WITHOUT ROWID;
"""


def test_search_keys_of_the_first_layout_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('origin', ?), ('public_key', ?)", (ORIGIN, KEY))
        for n in range(3):
            data = f"entry {n}".encode()
            db.execute("INSERT INTO entries VALUES (?, ?, ?)", (n, hash_leaf(data), data))
            db.execute("INSERT INTO search_keys VALUES ('signer', 'alice', ?)", (n,))
        db.execute("INSERT INTO search_keys VALUES ('digest', 'sha256:00', 1)")
    storage = open_storage(f"sqlite:{path}", base_dir=tmp_path)
    try:
        storage.initialize(origin=ORIGIN, public_key=KEY)
        alice = IndexKey("signer", "alice")
        assert storage.search(alice, after=-1, below=10, limit=10) == [0, 1, 2]
        assert storage.search(IndexKey("digest", "sha256:00"), after=-1, below=10,
                              limit=10) == [1]
        storage.append_entries(3, [NewEntry(hash_leaf(b"entry 3"), b"entry 3", (alice,))])
        assert storage.search(alice, after=0, below=10, limit=2) == [1, 2]
        assert storage.search(alice, after=2, below=10, limit=10) == [3]
    finally:
        storage.close()
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "search_keys" not in tables


def test_search_compares_the_key_not_only_its_hash(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:{tmp_path / 'log.db'}", base_dir=tmp_path)
    try:
        storage.initialize(origin=ORIGIN, public_key=KEY)
        storage.append_entries(0, [NewEntry(hash_leaf(b"x"), b"x", (IndexKey("signer", "a"),))])
        # A row whose hash matches another key's must not be returned for it.
        with sqlite3.connect(tmp_path / "log.db") as db:
            key_hash = db.execute("SELECT key_hash FROM search_rows").fetchone()[0]
            db.execute(
                "INSERT INTO search_rows VALUES (0, 'signer', 'b', ?)", (key_hash,)
            )
        assert storage.search(IndexKey("signer", "a"), after=-1, below=5, limit=5) == [0]
    finally:
        storage.close()
