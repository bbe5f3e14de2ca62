"""An in-process log with charter enforcement, for log and property tests."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from charterkit import CharterSpec, Repo, key
from vigil.core.dsse import Envelope, format_envelope
from vigil.core.note import generate_signer
from vigil.core.statusmap import status_root
from vigil.log.charter_policy import CharterLog, charter_registry
from vigil.log.config import LogConfig, with_sequencer
from vigil.log.service import LogService, open_log_service
from vigil.log.status import StatusReader
from vigil.log.storage import open_storage
from vigil.log.tiledir import TileDir

ORIGIN = "example.com/charter-log"
KEY = generate_signer(ORIGIN, seed=bytes(range(1, 33)))
BOARD, PUB1, PUB2, RB, SEC = key("board"), key("pub1"), key("pub2"), key("rb"), key("sec")
SPEC = CharterSpec(
    foundation=[BOARD],
    repositories=[Repo("oss", [PUB1, PUB2], 2, rebuilders=[RB], rebuilds_required=1)],
    security=[SEC],
)
CONFIG = with_sequencer(
    LogConfig(origin=ORIGIN, public_key=KEY.vkey), checkpoint_interval_s=0.02,
    heartbeat_interval_s=60.0,
)


class Log:
    """A log service with charter enforcement, driven without an event loop."""

    def __init__(self, directory: Path, *, state_file: Path | None = None) -> None:
        self.directory = directory
        self.charter_log = CharterLog(
            TileDir(directory / "tiles"), evidence_dir=directory / "evidence",
            state_file=state_file,
        )
        self.service: LogService = open_log_service(
            config=CONFIG, signer=KEY, base_dir=directory, registry=charter_registry(),
            status_map=self.charter_log, gate=self.charter_log,
        )
        self.service.sequencer.start()
        self.status = StatusReader(self.service, self.charter_log)

    def submit(self, *envelopes: Envelope) -> list[int]:
        entries = [self.service.admit(format_envelope(e)) for e in envelopes]
        futures = self.service.sequencer.submit(entries)
        indexes = [f.result(timeout=30) for f in futures]
        self.wait(max(indexes) + 1)
        return indexes

    def wait(self, size: int) -> None:
        deadline = time.monotonic() + 30
        while self.service.published.size < size:
            assert time.monotonic() < deadline, "not published in time"
            time.sleep(0.005)

    def root(self) -> bytes | None:
        return status_root(self.service.published.checkpoint)

    def stored(self) -> list[bytes]:
        storage = open_storage(CONFIG.database, base_dir=self.directory)
        try:
            return [e.data for e in storage.read_entries(0, storage.entry_count())]
        finally:
            storage.close()

    def stop(self) -> None:
        self.service.stop()


def count_replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The entry indexes every CharterLog replays from now on, in order.

    A log restarted from its saved status map replays only what came after the
    save, so a test can tell a restore from a full replay.
    """
    replayed: list[int] = []
    original = CharterLog._replay

    def counting(self: CharterLog, start: int, entries: Sequence[bytes]) -> None:
        replayed.extend(range(start, start + len(entries)))
        original(self, start, entries)

    monkeypatch.setattr(CharterLog, "_replay", counting)
    return replayed
