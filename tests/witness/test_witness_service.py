"""The witness service in-process: lock, CAS, re-encoding, evidence, persistence."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vigil.core.checkpoint import Checkpoint, format_checkpoint, verify_checkpoint
from vigil.core.note import sign_note
from vigil.core.tlog_witness import format_add_checkpoint
from vigil.errors import ConflictError, FormatError, SplitViewError
from vigil.witness import (
    OldSizeConflictError,
    SQLiteWitnessStore,
    UnknownLogError,
    WitnessedLog,
    WitnessService,
    origin_hash,
)
from vigil.witness.state import LatestCheckpoint
from witnesssupport import ORIGIN, Tree, cosigner, log_signer, request_body

LOG = log_signer()
WITNESS = cosigner()


class Clock:
    def __init__(self, now: float = 1_700_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def service(path: Path, clock: Clock | None = None) -> WitnessService:
    return WitnessService(
        signer=WITNESS,
        logs=[WitnessedLog(ORIGIN, (LOG.verifier(),))],
        store=SQLiteWitnessStore(path / "w.db"),
        clock=clock or Clock(),
    )


def test_cosigns_and_serves_the_latest(tmp_path: Path) -> None:
    tree = Tree()
    witness = service(tmp_path)
    (sig,) = witness.add_checkpoint(request_body(LOG, tree, 0, 5))
    assert sig.name == WITNESS.name
    note = witness.latest_checkpoint(origin_hash(ORIGIN))
    verified = verify_checkpoint(
        note, origin=ORIGIN, log_verifier=LOG.verifier(), cosigners=[WITNESS.verifier()]
    )
    assert verified.checkpoint.size == 5
    assert [c.timestamp for c in verified.cosignatures] == [1_700_000_000]
    with pytest.raises(UnknownLogError):
        witness.latest_checkpoint("00" * 32)


def test_cosigns_a_reencoding_and_drops_unknown_signatures(tmp_path: Path) -> None:
    tree = Tree()
    text = format_checkpoint(Checkpoint(ORIGIN, 4, tree.root(4)))
    stranger = log_signer("stranger.example")
    body = format_add_checkpoint(0, [], sign_note(text, [stranger, LOG]))
    witness = service(tmp_path)
    assert len(witness.add_checkpoint(body)) == 1
    note = witness.latest_checkpoint(origin_hash(ORIGIN))
    assert b"stranger.example" not in note
    assert note.startswith(text.encode() + b"\n")


def test_state_survives_restart_and_never_goes_back(tmp_path: Path) -> None:
    tree = Tree()
    witness = service(tmp_path)
    witness.add_checkpoint(request_body(LOG, tree, 0, 5))
    witness.add_checkpoint(request_body(LOG, tree, 5, 9))
    witness.close()
    again = service(tmp_path)
    with pytest.raises(OldSizeConflictError) as info:
        again.add_checkpoint(request_body(LOG, tree, 5, 12))
    assert info.value.known_size == 9
    again.add_checkpoint(request_body(LOG, tree, 9, 12))


def test_timestamps_never_decrease(tmp_path: Path) -> None:
    tree = Tree()
    clock = Clock()
    witness = service(tmp_path, clock)
    witness.add_checkpoint(request_body(LOG, tree, 0, 5))
    clock.now -= 1000  # the clock jumps back
    (sig,) = witness.add_checkpoint(request_body(LOG, tree, 5, 5))
    assert int.from_bytes(sig.signature[:8], "big") == 1_700_000_000


def test_unknown_origin(tmp_path: Path) -> None:
    other = log_signer("other.example")
    with pytest.raises(UnknownLogError, match="unknown log"):
        service(tmp_path).add_checkpoint(request_body(other, Tree(), 0, 1))


def test_evidence_is_kept_and_listed(tmp_path: Path) -> None:
    tree, fork = Tree(), Tree("fork")
    witness = service(tmp_path)
    witness.add_checkpoint(request_body(LOG, tree, 0, 5))
    body = request_body(LOG, fork, 5, 5)
    with pytest.raises(SplitViewError):
        witness.add_checkpoint(body)
    records = witness.evidence(ORIGIN)
    assert [r.request for r in records] == [body]
    assert "the witness cosigned root" in records[0].reason
    # A 409 is not evidence.
    with pytest.raises(OldSizeConflictError):
        witness.add_checkpoint(request_body(LOG, fork, 0, 5))
    assert len(witness.evidence()) == 1
    with pytest.raises(FormatError):
        witness.evidence("nope")


def test_evidence_cap(tmp_path: Path) -> None:
    store = SQLiteWitnessStore(tmp_path / "w.db", max_evidence_per_origin=2)
    assert store.add_evidence("o", 1, "r", b"1")
    assert store.add_evidence("o", 1, "r", b"2")
    assert not store.add_evidence("o", 1, "r", b"3")
    assert [e.request for e in store.evidence("o")] == [b"1", b"2"]


def test_store_compare_and_swap(tmp_path: Path) -> None:
    store = SQLiteWitnessStore(tmp_path / "w.db")
    a = LatestCheckpoint(ORIGIN, 5, b"a" * 32, b"note a", 1)
    b = LatestCheckpoint(ORIGIN, 9, b"b" * 32, b"note b", 2)
    store.compare_and_swap(None, a)
    with pytest.raises(ConflictError):
        store.compare_and_swap(None, a)
    with pytest.raises(ConflictError):
        store.compare_and_swap(b, a)
    store.compare_and_swap(a, b)
    huge = LatestCheckpoint(ORIGIN, 2**64 - 1, b"c" * 32, b"note c", 3)
    store.compare_and_swap(b, huge)
    assert store.latest(ORIGIN) == huge
    assert store.all_latest() == [huge]


def test_two_services_on_one_database_never_fork(tmp_path: Path) -> None:
    """A second process (here: service) on the same file loses the CAS, answers 409."""
    tree, fork = Tree(), Tree("fork")
    first, second = service(tmp_path), service(tmp_path)
    first.add_checkpoint(request_body(LOG, tree, 0, 5))
    with pytest.raises(OldSizeConflictError) as info:
        second.add_checkpoint(request_body(LOG, fork, 0, 8))
    assert info.value.known_size == 5
    second.add_checkpoint(request_body(LOG, tree, 5, 8))


def test_concurrent_conflicting_requests_in_process(tmp_path: Path) -> None:
    witness = service(tmp_path)
    trees = [Tree(f"fork{i}") for i in range(16)]
    bodies = [request_body(LOG, t, 0, 10) for t in trees]
    results: list[object] = []
    barrier = threading.Barrier(len(bodies))

    def run(body: bytes) -> None:
        barrier.wait()
        try:
            results.append(witness.add_checkpoint(body))
        except OldSizeConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for r in results if isinstance(r, tuple)) == 1
