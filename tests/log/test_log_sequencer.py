"""The sequencer with real storage and a real tiles directory: commit order and recovery."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from logsupport import entry_bytes, pg_schema
from vigil.core.checkpoint import Checkpoint, parse_checkpoint, verify_checkpoint
from vigil.core.cosignature import CosignatureVerifier, generate_cosigner
from vigil.core.merkle import MerkleTree
from vigil.core.note import Signature, generate_signer, parse_note, sign_note, verify_note
from vigil.core.proof import verify_consistency
from vigil.core.tiles import TILE_WIDTH, TileID, tile_path, tiles_for_size
from vigil.errors import StorageError
from vigil.log.config import Limits, LogConfig, with_sequencer
from vigil.log.entry import EntryValidator, ValidatedEntry
from vigil.log.errors import LogStateError, PushbackError, SequencerLockedError
from vigil.log.kinds import default_registry
from vigil.log.nodes import PYRAMID_BYTES, format_pyramid
from vigil.log.sequencer import Sequencer
from vigil.log.service import LogService, open_log_service
from vigil.log.signing import CheckpointSigner, ConsistencyProver
from vigil.log.storage import LogStorage, NewEntry, open_storage
from vigil.log.tiledir import TileDir

ORIGIN = "example.com/log"
KEY = generate_signer(ORIGIN, seed=bytes(range(32)))


@pytest.fixture(params=["sqlite", "postgres"])
def config(request: pytest.FixtureRequest) -> Iterator[LogConfig]:
    base = LogConfig(origin=ORIGIN, public_key=KEY.vkey)
    base = with_sequencer(base, checkpoint_interval_s=0.02, heartbeat_interval_s=60.0)
    if request.param == "sqlite":
        yield base
    else:
        with pg_schema() as url:
            yield LogConfig(
                origin=ORIGIN, public_key=KEY.vkey, database=url, sequencer=base.sequencer
            )


def open_log(config: LogConfig, directory: Path, **hooks: object) -> LogService:
    service = open_log_service(config=config, signer=KEY, base_dir=directory, **hooks)  # type: ignore[arg-type]
    service.sequencer.start()  # tests drive the sequencer without an event loop
    return service


def admit(service: LogService, names: Sequence[str]) -> list[ValidatedEntry]:
    return [service.admit(entry_bytes(name)) for name in names]


def submit(service: LogService, entries: Sequence[ValidatedEntry]) -> list[int]:
    futures = service.sequencer.submit(entries)
    return [f.result(timeout=30) for f in futures]


def wait_published(service: LogService, size: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while service.published.size < size:
        assert time.monotonic() < deadline, f"published {service.published.size}, want {size}"
        time.sleep(0.005)


def audit(directory: Path, config: LogConfig, size: int) -> None:
    """Every tile and bundle on disk equals its definition over the stored entries."""
    storage = open_storage(config.database, base_dir=directory)
    try:
        stored = storage.read_entries(0, size)
    finally:
        storage.close()
    assert [e.index for e in stored] == list(range(size))
    tree = MerkleTree(e.leaf_hash for e in stored)
    note = (directory / "tiles" / "checkpoint").read_bytes()
    checkpoint = verify_checkpoint(note, origin=ORIGIN, log_verifier=KEY.verifier()).checkpoint
    assert checkpoint.size == size and checkpoint.root_hash == tree.root()
    for tile in tiles_for_size(size):
        data = (directory / "tiles" / tile_path(tile)).read_bytes()
        first = tile.index * TILE_WIDTH
        want = b"".join(tree.node(8 * tile.level, first + i) for i in range(tile.width))
        assert data == want, tile_path(tile)
        if tile.level == 0:
            bundle = (directory / "tiles" / tile_path(tile.entry_bundle())).read_bytes()
            offset = 0
            for entry in stored[tile.start : tile.end]:
                length = int.from_bytes(bundle[offset : offset + 2], "big")
                assert bundle[offset + 2 : offset + 2 + length] == entry.data
                offset += 2 + length
            assert offset == len(bundle)


def test_new_log_publishes_the_empty_tree(config: LogConfig, tmp_path: Path) -> None:
    service = open_log(config, tmp_path)
    try:
        assert service.published.size == 0
        assert (tmp_path / "tiles" / "checkpoint").read_bytes() == service.published.note
    finally:
        service.stop()


def test_batches_are_committed_integrated_and_published(
    config: LogConfig, tmp_path: Path
) -> None:
    service = open_log(config, tmp_path)
    try:
        indexes: list[int] = []
        for batch in range(6):
            names = [f"b{batch}-{i}" for i in range(137)]
            indexes += submit(service, admit(service, names))
        assert indexes == list(range(6 * 137))
        wait_published(service, 6 * 137)
        assert (tmp_path / "tiles" / "checkpoint").read_bytes() == service.published.note
    finally:
        service.stop()
    audit(tmp_path, config, 6 * 137)
    assert_pyramids(tmp_path, full_tiles=3)  # 822 entries: tiles 0-2 full


def assert_pyramids(directory: Path, *, full_tiles: int) -> None:
    """Each full level-0 tile has its pyramid record beside the tiles, and no other has."""
    records = (directory / "tiles.pyramids" / "level-0").read_bytes()
    assert len(records) == full_tiles * PYRAMID_BYTES
    for index in range(full_tiles):
        tile = (directory / "tiles" / "tile" / "0" / f"{index:03d}").read_bytes()
        record = records[index * PYRAMID_BYTES : (index + 1) * PYRAMID_BYTES]
        assert record == format_pyramid(TileID(0, index), tile)


def test_duplicates_get_the_existing_index(config: LogConfig, tmp_path: Path) -> None:
    service = open_log(config, tmp_path)
    try:
        entries = admit(service, ["x", "y", "z"])
        first = submit(service, entries)
        again = submit(service, [entries[1], entries[1], entries[2]])
        assert again == [first[1], first[1], first[2]]
        both = service.sequencer.submit([entries[0], entries[0]])
        assert both[0] is both[1]  # one pending entry, one index
        assert service.sequencer.committed_size == 3
    finally:
        service.stop()


def test_recovery_integrates_entries_committed_before_a_crash(
    config: LogConfig, tmp_path: Path
) -> None:
    service = open_log(config, tmp_path)
    entries = admit(service, [f"e{i}" for i in range(300)])
    submit(service, entries[:100])
    wait_published(service, 100)
    service.stop()
    # A crash after step 1: committed, never integrated or published.
    storage = open_storage(config.database, base_dir=tmp_path)
    storage.initialize(origin=ORIGIN, public_key=KEY.vkey)
    late = [NewEntry(e.leaf_hash, e.data, e.index_keys) for e in entries[100:]]
    storage.append_entries(100, late)
    storage.close()
    service = open_log(config, tmp_path)
    try:
        assert service.published.size == 300
    finally:
        service.stop()
    audit(tmp_path, config, 300)


def test_recovery_rewrites_a_stale_checkpoint_file(config: LogConfig, tmp_path: Path) -> None:
    service = open_log(config, tmp_path)
    submit(service, admit(service, ["a"]))
    wait_published(service, 1)
    old = service.published.note
    submit(service, admit(service, ["b"]))
    wait_published(service, 2)
    new = service.published.note
    service.stop()
    (tmp_path / "tiles" / "checkpoint").write_bytes(old)  # crash between DB and file
    service = open_log(config, tmp_path)
    try:
        assert (tmp_path / "tiles" / "checkpoint").read_bytes() == new
    finally:
        service.stop()


def test_lost_tiles_directory_is_rebuilt(config: LogConfig, tmp_path: Path) -> None:
    service = open_log(config, tmp_path)
    submit(service, admit(service, [f"e{i}" for i in range(700)]))
    wait_published(service, 700)
    service.stop()
    shutil.rmtree(tmp_path / "tiles")
    shutil.rmtree(tmp_path / "tiles.pyramids")
    service = open_log(config, tmp_path)
    try:
        assert service.published.size == 700
    finally:
        service.stop()
    audit(tmp_path, config, 700)
    assert_pyramids(tmp_path, full_tiles=2)


def test_corrupt_edge_tile_stops_startup(config: LogConfig, tmp_path: Path) -> None:
    service = open_log(config, tmp_path)
    submit(service, admit(service, [f"e{i}" for i in range(600)]))
    wait_published(service, 600)
    service.stop()
    (tmp_path / "tiles" / "tile" / "1" / "000.p" / "2").write_bytes(bytes(64))
    with pytest.raises(LogStateError, match="does not match"):
        open_log_service(config=config, signer=KEY, base_dir=tmp_path)


def test_second_sequencer_is_refused(config: LogConfig, tmp_path: Path) -> None:
    service = open_log(config, tmp_path)
    try:
        with pytest.raises(SequencerLockedError, match="another server is sequencing"):
            open_log_service(config=config, signer=KEY, base_dir=tmp_path)
    finally:
        service.stop()


def test_signer_refuses_a_second_checkpoint_for_a_size() -> None:
    signer = CheckpointSigner(
        origin=ORIGIN, signer=KEY, stored_text=lambda size: "example.com/log\n5\nother\n"
    )
    with pytest.raises(LogStateError, match="refusing to sign a second checkpoint of size 5"):
        signer.sign(5, bytes(32), None)


def test_stored_conflicting_checkpoint_stops_the_sequencer(tmp_path: Path) -> None:
    config = with_sequencer(
        LogConfig(origin=ORIGIN, public_key=KEY.vkey), checkpoint_interval_s=0.02
    )
    service = open_log(config, tmp_path)
    try:
        submit(service, admit(service, ["a"]))
        wait_published(service, 1)
        # A checkpoint of size 2 with another root was published before (a fork).
        text = f"{ORIGIN}\n2\n{'A' * 43}=\n"
        with sqlite3.connect(tmp_path / "log.db") as db:
            db.execute(
                "INSERT INTO checkpoints (size, text, note) VALUES (2, ?, ?)",
                (text, sign_note(text, [KEY])),
            )
        futures = service.sequencer.submit(admit(service, ["b"]))
        assert futures[0].result(timeout=10) == 1  # committed...
        deadline = time.monotonic() + 10
        while service.sequencer.failure is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert isinstance(service.sequencer.failure, LogStateError)
        assert service.published.size == 1  # ...but never signed at size 2
        with pytest.raises(PushbackError, match="sequencer has stopped"):
            service.sequencer.submit(admit(service, ["c"]))
    finally:
        service.stop()


class RecordingStatusMap:
    def __init__(self) -> None:
        self.loaded: list[int] = []
        self.ranges: list[tuple[int, int]] = []

    def load(self, size: int) -> None:
        self.loaded.append(size)

    def integrate(self, start: int, entries: Sequence[bytes]) -> None:
        self.ranges.append((start, start + len(entries)))

    def root(self) -> bytes:
        end = self.ranges[-1][1] if self.ranges else 0
        return end.to_bytes(32, "big")


def test_status_map_hook_sees_every_range_and_fills_the_extension(tmp_path: Path) -> None:
    config = with_sequencer(
        LogConfig(origin=ORIGIN, public_key=KEY.vkey), checkpoint_interval_s=0.02
    )
    hook = RecordingStatusMap()
    service = open_log(config, tmp_path, status_map=hook)
    try:
        for batch in range(3):
            submit(service, admit(service, [f"s{batch}-{i}" for i in range(10)]))
        wait_published(service, 30)
        checkpoint = service.published.checkpoint
        assert checkpoint.extensions == (
            "vigil-status-map AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB4=",
        )
    finally:
        service.stop()
    assert hook.loaded == [0]
    covered = [i for start, end in hook.ranges for i in range(start, end)]
    assert covered == list(range(30))
    restarted = RecordingStatusMap()
    service = open_log(config, tmp_path, status_map=restarted)
    service.stop()
    assert restarted.loaded == [30]


class Witness:
    """A cosignature collector that cosigns after checking consistency with what it saw."""

    def __init__(self) -> None:
        self.cosigner = generate_cosigner("witness.example", seed=bytes(32))
        self.seen: Checkpoint | None = None
        self.time = 1_700_000_000

    def collect(
        self, note: bytes, checkpoint: Checkpoint, prove: ConsistencyProver
    ) -> Sequence[Signature]:
        verified = verify_checkpoint(note, origin=ORIGIN, log_verifier=KEY.verifier())
        if self.seen is not None and 0 < self.seen.size < checkpoint.size:
            proof = prove(self.seen.size, checkpoint.size)
            verify_consistency(
                self.seen.size, checkpoint.size, proof, self.seen.root_hash, checkpoint.root_hash
            )
        self.seen = verified.checkpoint
        self.time += 1
        return [self.cosigner.sign_checkpoint(verified.note.text, self.time)]


def test_cosignature_hook_and_heartbeat(tmp_path: Path) -> None:
    config = with_sequencer(
        LogConfig(origin=ORIGIN, public_key=KEY.vkey),
        checkpoint_interval_s=0.02,
        heartbeat_interval_s=0.2,
    )
    witness = Witness()
    service = open_log(config, tmp_path, collector=witness)
    try:
        for batch in range(3):
            submit(service, admit(service, [f"w{batch}-{i}" for i in range(300)]))
            wait_published(service, 300 * (batch + 1))
        first = service.published.note
        verifier = CosignatureVerifier("witness.example", witness.cosigner.public_key)
        cosigned = verify_note(first, [KEY.verifier(), verifier])
        assert len(cosigned.verified) == 2
        deadline = time.monotonic() + 5
        while service.published.note == first:  # heartbeat: same tree, new cosignature
            assert time.monotonic() < deadline
            time.sleep(0.02)
        heartbeat = service.published.note
        assert parse_note(heartbeat).text == parse_note(first).text
        assert (tmp_path / "tiles" / "checkpoint").read_bytes() == heartbeat
        assert parse_checkpoint(parse_note(heartbeat).text).size == 900
    finally:
        service.stop()


class FlakyStorage:
    """Wraps a storage; the next append fails, before or after writing."""

    def __init__(self, inner: LogStorage) -> None:
        self.inner = inner
        self.fail_next: str | None = None  # "before" or "after"

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        mode, self.fail_next = self.fail_next, None
        if mode == "before":
            raise StorageError("injected: disk full")
        self.inner.append_entries(start, entries)
        if mode == "after":
            raise StorageError("injected: connection lost after COMMIT")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class FlakyTiles(TileDir):
    """A tiles directory whose next tile write fails."""

    fail_writes = 0

    def write_tiles(self, tiles: Sequence[tuple[TileID, bytes]]) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise StorageError("injected: tile write failed")
        super().write_tiles(tiles)


def sequencer_for(tmp_path: Path, storage: object, tiles: TileDir) -> Sequencer:
    settings = with_sequencer(
        LogConfig(origin=ORIGIN, public_key=KEY.vkey), checkpoint_interval_s=0.02
    ).sequencer
    stored = storage

    def stored_text(size: int) -> str | None:
        note = stored.checkpoint(size)  # type: ignore[attr-defined]
        return None if note is None else parse_note(note).text

    return Sequencer(
        storage=storage,  # type: ignore[arg-type]
        tiles=tiles,
        signer=CheckpointSigner(origin=ORIGIN, signer=KEY, stored_text=stored_text),
        settings=settings,
        max_pending=1000,
    )


def test_failed_commits_are_reported_and_sequencing_continues(tmp_path: Path) -> None:
    inner = open_storage("sqlite:log.db", base_dir=tmp_path)
    inner.initialize(origin=ORIGIN, public_key=KEY.vkey)
    storage = FlakyStorage(inner)
    sequencer = sequencer_for(tmp_path, storage, TileDir(tmp_path / "tiles"))
    sequencer.recover()
    sequencer.start()
    validator = EntryValidator(limits=Limits(), registry=default_registry())
    entries = [validator.validate(entry_bytes(f"f{i}")) for i in range(4)]
    try:
        storage.fail_next = "before"  # fails, nothing written
        with pytest.raises(PushbackError, match="disk full"):
            sequencer.submit(entries[:1])[0].result(timeout=10)
        storage.fail_next = "after"  # fails, but written
        with pytest.raises(PushbackError, match="after COMMIT"):
            sequencer.submit(entries[1:2])[0].result(timeout=10)
        # The resubmission of the written entry finds it; the other one is new.
        again = sequencer.submit(entries[:3])
        assert [f.result(timeout=10) for f in again] == [1, 0, 2]
        deadline = time.monotonic() + 10
        while sequencer.published.size < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        sequencer.stop()
        inner.close()
    audit(tmp_path, LogConfig(origin=ORIGIN, public_key=KEY.vkey), 3)


def test_failed_tile_writes_are_retried(tmp_path: Path) -> None:
    storage = open_storage("sqlite:log.db", base_dir=tmp_path)
    storage.initialize(origin=ORIGIN, public_key=KEY.vkey)
    tiles = FlakyTiles(tmp_path / "tiles")
    sequencer = sequencer_for(tmp_path, storage, tiles)
    sequencer.recover()
    sequencer.start()
    validator = EntryValidator(limits=Limits(), registry=default_registry())
    try:
        tiles.fail_writes = 2
        futures = sequencer.submit([validator.validate(entry_bytes(f"t{i}")) for i in range(5)])
        assert [f.result(timeout=10) for f in futures] == list(range(5))
        deadline = time.monotonic() + 10
        while sequencer.published.size < 5:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert tiles.fail_writes == 0
        assert sequencer.failure is None
    finally:
        sequencer.stop()
        storage.close()
    audit(tmp_path, LogConfig(origin=ORIGIN, public_key=KEY.vkey), 5)


def test_shared_errors_with_keyword_arguments_can_be_raised_by_every_submitter() -> None:
    # Regression: copying a DuplicateEntryError (keyword-only existing_index) for
    # each submitter turned a 422 into a 500.
    from vigil.core.statusmap import DuplicateEntryError
    from vigil.log.service import _own_copy

    error = DuplicateEntryError("duplicate", existing_index=3)
    assert _own_copy(error) is error
    plain = ValueError("x")
    assert _own_copy(plain) is not plain and str(_own_copy(plain)) == "x"
