"""Bulk pre-fill of a log for ``bench/log.py``: millions of entries without the server.

Only the benchmark's setup uses this path; the measured phases go through
the real server. It writes what the server would have written for the same
entries, with the server's own code where it matters:

* entries: signed statements like the measured ones (``log_load``), signed
  in worker processes; appended to SQLite in big transactions with
  ``synchronous=OFF`` and a large page cache (a crash while pre-filling just
  means pre-filling again: nothing here is acknowledged to anyone);
* search keys: computed by the log's own admission (:class:`EntryValidator`)
  for a sample, then the same two keys (digest, signer) for every entry;
  the lookup index over entries and keys is built by the storage itself
  (:meth:`SqliteStorage.index_now`);
* tiles and entry bundles: :class:`vigil.log.integrate.TreeBuilder`, written
  without fsync per file, then one ``os.sync()``; partial tiles only for the
  final size (as the sequencer's rebuild does); each full tile's pyramid
  with :meth:`TileDir.write_pyramids`, as the server's tile writes do (and
  for a log pre-filled before pyramids existed, every missing one);
* the checkpoint: signed with the log's key and stored with the tree state
  through the storage API (then ``tiles/checkpoint``), as the sequencer's
  publish step does;
* the status map's saved state (``statusmap.json``, which ``vigil log
  serve`` restores at startup): every bench entry is a generic artifact
  signed by one bench key, applied with the map's own rule
  (:meth:`StatusMap.apply_artifact`). Without it the server's first start
  replays, and verifies again, every entry (some 20 minutes for 10,000,000).

The result is checked by the server's startup recovery, which compares the
tiles against the stored tree state.
"""

from __future__ import annotations

import os
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from log_load import _sign_range, signers
from vigil.cli.key import load_signer
from vigil.cli.log import read_config
from vigil.core import merkle
from vigil.core.note import parse_note
from vigil.core.statusmap import StatusMap
from vigil.core.tiles import TILE_HEIGHT, TileID, tile_path
from vigil.log.charter_policy import CharterLog
from vigil.log.entry import EntryValidator
from vigil.log.integrate import TreeBuilder
from vigil.log.kinds import default_registry
from vigil.log.signing import CheckpointSigner
from vigil.log.storage import open_storage
from vigil.log.storage.lookup import key_hash
from vigil.log.storage.sqlite import SqliteStorage
from vigil.log.tiledir import TileDir

__all__ = ["prefill"]

_CHUNK = 1 << 16  # entries per transaction and per integration step (256 tiles)
_STATUS_MAP = "statusmap.json"  # where `vigil log serve` saves the map (vigil.cli.log)


def _digest_key(entry: bytes) -> str:
    """The digest search key of a bench entry (its one subject's sha256)."""
    import base64
    import json

    payload = json.loads(base64.b64decode(json.loads(entry)["payload"]))
    return "sha256:" + payload["subject"][0]["digest"]["sha256"]


def _write_files(root: Path, files: list[tuple[str, bytes]]) -> None:
    for relative, data in files:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(target.name + ".tmp")
        temp.write_bytes(data)
        os.replace(temp, target)


def _load_status_map(directory: Path, db: sqlite3.Connection, start: int) -> StatusMap | None:
    """The saved status map if it covers exactly the first ``start`` entries.

    None otherwise: entries the server logged since its last save are not
    bench-signed in index order, so the server's replay must judge those. A
    log with a charter (the client bench's) restores it from its entry.
    """
    path = directory / _STATUS_MAP
    if not path.exists():
        return StatusMap() if start == 0 else None

    def read_entry(index: int) -> bytes:
        row = db.execute("SELECT data FROM entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise RuntimeError(f"{directory}: the saved status map names missing entry {index}")
        return bytes(row[0])

    state = StatusMap.restore_state(path.read_bytes(), read_entry)
    return state if state.size == start else None


def _status_root(directory: Path, tiles: TileDir, size: int) -> bytes | None:
    """The status-map root the server computes for ``size`` entries, by its own
    replay (from its last save): used when no saved map covered the pre-fill."""
    charter_log = CharterLog(tiles, state_file=directory / _STATUS_MAP)
    charter_log.load(size)
    return charter_log.root()


def _save_status_map(directory: Path, state: StatusMap) -> None:
    path = directory / _STATUS_MAP
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(state.export_state())
    os.replace(temp, path)


def _backfill_pyramids(tiles: TileDir, size: int) -> None:
    """The pyramid of every full hash tile that has none (a log pre-filled before them)."""
    level = 0
    while count := size >> (TILE_HEIGHT * (level + 1)):
        missing = [TileID(level, i) for i in range(count)
                   if tiles.load_pyramid(TileID(level, i)) is None]
        if missing:
            print(f"    writing {len(missing):,} pyramids of level-{level} tiles ...", flush=True)
        for start in range(0, len(missing), 4096):
            chunk = missing[start : start + 4096]
            data = [tiles.read_tile(t) for t in chunk]
            tiles.write_pyramids([(t, d) for t, d in zip(chunk, data, strict=True) if d])
        level += 1


def prefill(directory: Path, count: int, *, workers: int = 2) -> None:
    """Bring the log in ``directory`` to at least ``count`` entries (see the module docstring)."""
    config = read_config(directory)
    database = directory / config.database.removeprefix("sqlite:")
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA cache_size = -3000000")  # 3 GB: the indexes stay in memory
    db.execute("PRAGMA synchronous = OFF")
    start = int(db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()[0])
    state_size = db.execute("SELECT size FROM tree_state WHERE id = 0").fetchone()
    if start >= count and state_size is not None and state_size[0] == start:
        db.close()
        _backfill_pyramids(TileDir(directory / config.tiles_dir), start)
        return
    if start != (state_size[0] if state_size else 0):
        raise RuntimeError(f"{directory}: a half-finished pre-fill; delete it and start again")
    tiles = TileDir(directory / config.tiles_dir)
    builder = TreeBuilder.empty()
    if start:
        storage = open_storage(config.database, base_dir=directory)
        state = storage.tree_state()
        assert state is not None
        builder = TreeBuilder.load(state, read_tile=tiles.read_tile,
                                   read_entries=storage.read_entries)
        storage.close()
    vkeys = [s.vkey for s in signers()]
    status_map = _load_status_map(directory, db, start)
    validator = EntryValidator(limits=config.limits, registry=default_registry())
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        ranges = [("bulk", n, min(count, n + _CHUNK)) for n in range(start, count, _CHUNK)]
        for (_, first, end), entries in zip(ranges, pool.map(_sign_range, ranges), strict=True):
            hashes = [merkle.hash_leaf(e) for e in entries]
            sample = validator.validate(entries[0])  # the server's own keys for one entry
            want = (("digest", _digest_key(entries[0])), ("signer", vkeys[first % len(vkeys)]))
            if tuple((k.key_type, k.value) for k in sample.index_keys) != want:
                raise RuntimeError(f"search keys of entry {first}: {sample.index_keys}")
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO entries (idx, leaf_hash, data) VALUES (?, ?, ?)",
                zip(range(first, end), hashes, entries, strict=True),
            )
            db.executemany(
                "INSERT INTO search_rows (idx, key_type, value, key_hash) VALUES (?, ?, ?, ?)",
                ((first + i, kind, value, key_hash(kind, value))
                 for i, e in enumerate(entries)
                 for kind, value in (("digest", _digest_key(e)),
                                     ("signer", vkeys[(first + i) % len(vkeys)]))),
            )
            db.execute("COMMIT")
            if status_map is not None:
                for index in range(first, end):
                    status_map.apply_artifact(index, (vkeys[index % len(vkeys)],))
            integration = builder.integrate(first, list(zip(hashes, entries, strict=True)))
            builder = integration.builder
            final = end >= count
            _write_files(tiles.root, [(tile_path(t), d) for t, d in integration.tiles
                                      if final or not t.is_partial])
            tiles.write_pyramids(integration.tiles)
            if final or (end // _CHUNK) % 16 == 0:
                rate = (end - start) / (time.perf_counter() - started)
                print(f"    {end:,} entries ({rate:,.0f}/s)", flush=True)
    db.close()
    # Partial tiles of the final size that the last chunk did not change.
    _write_files(tiles.root, [(tile_path(t), d) for t, d in builder.edge_tiles()
                              if tiles.read_tile(t) is None])
    _backfill_pyramids(tiles, builder.size)
    if status_map is not None:
        _save_status_map(directory, status_map)
    os.sync()
    # The lookup index, by the storage's own bulk path (what a log's first
    # start after a lost index file does), then the checkpoint through the
    # storage API, as the sequencer's publish step.
    storage = open_storage(config.database, base_dir=directory)
    try:
        print("    indexing ...", flush=True)
        indexing = time.perf_counter()
        storage.initialize(origin=config.origin, public_key=config.public_key)
        assert isinstance(storage, SqliteStorage)
        indexed = storage.index_now()
        print(f"    indexed {indexed:,} entries in {time.perf_counter() - indexing:.0f} s",
              flush=True)
        signer = CheckpointSigner(origin=config.origin,
                                  signer=load_signer(directory / config.key_file),
                                  stored_text=lambda size: None)
        # A log whose charter is in force signs checkpoints with the map's
        # root, and the server refuses to re-sign a stored size with another text.
        root = (status_map.root() if status_map is not None
                else _status_root(directory, tiles, builder.size))
        note, text = signer.sign(builder.size, builder.root(), root)
        assert parse_note(note).text == text
        storage.store_checkpoint(builder.state(), note, text)
        tiles.write_checkpoint(note)
    finally:
        storage.close()
