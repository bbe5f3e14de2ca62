"""A collector that cannot meet its quorum withholds checkpoints; the sequencer retries."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from logsupport import entry_bytes
from vigil.core.checkpoint import Checkpoint
from vigil.core.cosignature import generate_cosigner
from vigil.core.note import Signature, generate_signer, parse_note
from vigil.log.config import LogConfig, with_sequencer
from vigil.log.service import LogService, open_log_service
from vigil.log.signing import ConsistencyProver, CosigningError

ORIGIN = "example.com/withheld"
KEY = generate_signer(ORIGIN, seed=bytes(range(32)))
CONFIG = with_sequencer(
    LogConfig(origin=ORIGIN, public_key=KEY.vkey), checkpoint_interval_s=0.02,
    heartbeat_interval_s=60.0,
)


class FlakyQuorum:
    def __init__(self) -> None:
        self.cosigner = generate_cosigner("witness.example", seed=bytes(32))
        self.down = False
        self.asked: list[int] = []

    def collect(
        self, note: bytes, checkpoint: Checkpoint, prove: ConsistencyProver
    ) -> Sequence[Signature]:
        self.asked.append(checkpoint.size)
        if self.down and checkpoint.size > 0:
            raise CosigningError(f"quorum not met for size {checkpoint.size}")
        return [self.cosigner.sign_checkpoint(parse_note(note).text, 1_700_000_000)]


class StatusMap:
    def __init__(self) -> None:
        self.covered: list[int] = []
        self.size = 0

    def load(self, size: int) -> None:
        self.size = size

    def integrate(self, start: int, entries: Sequence[bytes]) -> None:
        assert start == self.size, (start, self.size)
        self.covered += range(start, start + len(entries))
        self.size = start + len(entries)

    def root(self) -> bytes:
        return self.size.to_bytes(32, "big")


def open_log(directory: Path, collector: FlakyQuorum, status: StatusMap) -> LogService:
    service = open_log_service(
        config=CONFIG, signer=KEY, base_dir=directory, collector=collector, status_map=status
    )
    service.sequencer.start()
    return service


def submit(service: LogService, names: Sequence[str]) -> None:
    entries = [service.admit(entry_bytes(name)) for name in names]
    for future in service.sequencer.submit(entries):
        future.result(timeout=30)


def wait_published(service: LogService, size: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while service.published.size < size:
        assert time.monotonic() < deadline, f"published {service.published.size}, want {size}"
        time.sleep(0.01)


def test_withheld_then_published_and_status_map_fed_once(tmp_path: Path) -> None:
    collector, status = FlakyQuorum(), StatusMap()
    service = open_log(tmp_path, collector, status)
    try:
        submit(service, [f"a{i}" for i in range(10)])
        wait_published(service, 10)
        collector.down = True
        submit(service, [f"b{i}" for i in range(5)])
        time.sleep(0.3)
        submit(service, [f"c{i}" for i in range(5)])
        time.sleep(0.7)
        # Committed, asked for, but not published; the file too is unchanged.
        assert service.published.size == 10
        assert any(size > 10 for size in collector.asked)
        assert service.sequencer.committed_size == 20
        collector.down = False
        wait_published(service, 20)
    finally:
        service.stop()
    assert status.covered == list(range(20))  # each entry fed to the status map once


def test_startup_with_a_withheld_tail_republishes_the_stored_checkpoint(tmp_path: Path) -> None:
    collector, status = FlakyQuorum(), StatusMap()
    service = open_log(tmp_path, collector, status)
    submit(service, [f"a{i}" for i in range(4)])
    wait_published(service, 4)
    collector.down = True
    submit(service, [f"b{i}" for i in range(3)])
    service.stop()  # the clean stop's final publication is withheld too
    restarted, status2 = FlakyQuorum(), StatusMap()
    restarted.down = True
    service = open_log(tmp_path, restarted, status2)
    try:
        assert service.published.size == 4
        restarted.down = False
        wait_published(service, 7)
    finally:
        service.stop()


def test_new_log_without_a_quorum_serves_the_empty_tree_until_witnesses_cosign(
    tmp_path: Path,
) -> None:
    """A new log holding genesis entries (`vigil log init --charter`) whose witnesses
    cannot cosign yet (auditors read its tiles, which it serves only once running)
    starts anyway: it serves the signed empty tree, stores nothing, and publishes
    the entries once the quorum is met."""
    from vigil.core import merkle
    from vigil.log.storage import NewEntry, open_storage

    storage = open_storage(CONFIG.database, base_dir=tmp_path)
    storage.initialize(origin=ORIGIN, public_key=KEY.vkey)
    data = entry_bytes("genesis")
    storage.append_entries(0, [NewEntry(merkle.hash_leaf(data), data)])
    storage.close()
    collector, status = FlakyQuorum(), StatusMap()
    collector.down = True
    service = open_log(tmp_path, collector, status)
    try:
        assert service.published.size == 0
        assert collector.asked and collector.asked[0] == 1
        collector.down = False
        wait_published(service, 1)
        assert status.covered == [0]
    finally:
        service.stop()
