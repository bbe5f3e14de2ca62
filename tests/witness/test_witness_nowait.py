"""The event-loop path of the witness (begin_add_checkpoint) and the store's group commit.

begin_add_checkpoint must decide exactly as add_checkpoint, release a
cosignature only once its state is durable, never wait (it defers to
add_checkpoint whatever would block), and keep the origin's lock until the
write is done, so that requests for one log are still decided one at a time.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest

from vigil.core.checkpoint import Checkpoint
from vigil.errors import ConflictError, FormatError, SignatureError, SplitViewError, StorageError
from vigil.witness import (
    LatestCheckpoint,
    OldSizeConflictError,
    SQLiteWitnessStore,
    UnknownLogError,
    WitnessedLog,
    WitnessService,
    origin_hash,
)
from witnesssupport import ORIGIN, Tree, cosigner, log_signer, request_body

LOG = log_signer()
WITNESS = cosigner()


class HeldStore(SQLiteWitnessStore):
    """Holds every submitted swap until ``release()``: a write still in progress."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.held: list[tuple[LatestCheckpoint | None, LatestCheckpoint, Future[None]]] = []

    def submit_swap(self, expected: LatestCheckpoint | None, new: LatestCheckpoint) -> Future[None]:
        outer: Future[None] = Future()
        self.held.append((expected, new, outer))
        return outer

    def release(self) -> None:
        for expected, new, outer in self.held:
            inner = super().submit_swap(expected, new)
            try:
                inner.result()
            except Exception as exc:
                outer.set_exception(exc)
            else:
                outer.set_result(None)
        self.held.clear()


class PassingAuditor:
    def audit(self, log: WitnessedLog, previous: object, checkpoint: Checkpoint) -> None:
        pass

    def committed(self, log: WitnessedLog, checkpoint: Checkpoint) -> None:
        pass


def service(store: SQLiteWitnessStore, *, auditor: PassingAuditor | None = None) -> WitnessService:
    return WitnessService(
        signer=WITNESS, logs=[WitnessedLog(ORIGIN, (LOG.verifier(),))], store=store,
        clock=lambda: 1_700_000_000, auditor=auditor,
    )


def test_cosigns_as_add_checkpoint_does(tmp_path: Path) -> None:
    tree = Tree()
    nowait, blocking = service(SQLiteWitnessStore(tmp_path / "a.db")), service(
        SQLiteWitnessStore(tmp_path / "b.db")
    )
    for old, size in ((0, 5), (5, 9), (9, 9)):
        body = request_body(LOG, tree, old, size)
        pending = nowait.begin_add_checkpoint(body)
        assert pending is not None
        assert pending.result(timeout=10) == blocking.add_checkpoint(body)
    assert nowait.latest_checkpoint(origin_hash(ORIGIN)) == blocking.latest_checkpoint(
        origin_hash(ORIGIN)
    )
    nowait.close()
    reopened = SQLiteWitnessStore(tmp_path / "a.db")
    stored = reopened.latest(ORIGIN)
    assert stored is not None and stored.size == 9  # durable
    reopened.close()


def test_refusals_are_raised_at_once_like_add_checkpoint(tmp_path: Path) -> None:
    tree = Tree()
    witness = service(SQLiteWitnessStore(tmp_path / "w.db"))
    witness.add_checkpoint(request_body(LOG, tree, 0, 5))
    with pytest.raises(OldSizeConflictError) as info:
        witness.begin_add_checkpoint(request_body(LOG, tree, 3, 7))
    assert info.value.known_size == 5
    with pytest.raises(UnknownLogError):
        witness.begin_add_checkpoint(request_body(log_signer("other.example"), tree, 0, 1))
    with pytest.raises(SignatureError):
        witness.begin_add_checkpoint(request_body(log_signer(ORIGIN, number=2), tree, 5, 7))
    with pytest.raises(FormatError):
        witness.begin_add_checkpoint(b"old 5\n\nnot a note")
    pending = witness.begin_add_checkpoint(request_body(LOG, tree, 5, 7))  # lock released
    assert pending is not None and pending.result(timeout=10)


def test_no_cosignature_before_the_write_and_one_request_per_log_at_a_time(
    tmp_path: Path,
) -> None:
    tree = Tree()
    store = HeldStore(tmp_path / "w.db")
    witness = service(store)
    pending = witness.begin_add_checkpoint(request_body(LOG, tree, 0, 5))
    assert pending is not None and not pending.done()  # the write is not durable yet
    # The origin is busy: the next request would have to wait, so it is deferred.
    assert witness.begin_add_checkpoint(request_body(LOG, tree, 5, 8)) is None
    with pytest.raises(UnknownLogError):  # nothing cosigned or served yet
        witness.latest_checkpoint(origin_hash(ORIGIN))
    store.release()
    assert pending.result(timeout=10)[0].name == WITNESS.name
    later = witness.begin_add_checkpoint(request_body(LOG, tree, 5, 8))
    assert later is not None
    store.release()
    assert later.result(timeout=10)


def test_a_failed_write_releases_nothing_and_frees_the_log(tmp_path: Path) -> None:
    tree = Tree()
    store = HeldStore(tmp_path / "w.db")
    witness = service(store)
    pending = witness.begin_add_checkpoint(request_body(LOG, tree, 0, 5))
    assert pending is not None
    _, _, outer = store.held.pop()
    outer.set_exception(StorageError("disk on fire"))
    with pytest.raises(StorageError, match="disk on fire"):
        pending.result(timeout=10)
    with pytest.raises(UnknownLogError):
        witness.latest_checkpoint(origin_hash(ORIGIN))
    again = witness.begin_add_checkpoint(request_body(LOG, tree, 0, 5))  # not locked out
    assert again is not None
    store.release()
    assert again.result(timeout=10)


def test_a_lost_swap_answers_409_with_the_stored_size(tmp_path: Path) -> None:
    tree, fork = Tree(), Tree("fork")
    first = service(SQLiteWitnessStore(tmp_path / "w.db"))
    second = service(SQLiteWitnessStore(tmp_path / "w.db"))  # another process, same file
    first.add_checkpoint(request_body(LOG, tree, 0, 5))
    pending = second.begin_add_checkpoint(request_body(LOG, fork, 0, 8))
    assert pending is not None
    with pytest.raises(OldSizeConflictError) as info:
        pending.result(timeout=10)
    assert info.value.known_size == 5
    pending = second.begin_add_checkpoint(request_body(LOG, tree, 5, 8))
    assert pending is not None and pending.result(timeout=10)


def test_evidence_and_auditors_are_left_to_add_checkpoint(tmp_path: Path) -> None:
    tree, fork = Tree(), Tree("fork")
    witness = service(SQLiteWitnessStore(tmp_path / "w.db"))
    witness.add_checkpoint(request_body(LOG, tree, 0, 5))
    body = request_body(LOG, fork, 5, 5)  # a second root for size 5: evidence
    assert witness.begin_add_checkpoint(body) is None
    assert witness.evidence(ORIGIN) == []  # nothing written on the event loop
    with pytest.raises(SplitViewError):
        witness.add_checkpoint(body)
    assert [e.request for e in witness.evidence(ORIGIN)] == [body]
    audited = service(SQLiteWitnessStore(tmp_path / "a.db"), auditor=PassingAuditor())
    assert audited.begin_add_checkpoint(request_body(LOG, tree, 0, 5)) is None


def test_store_commits_submitted_swaps_before_closing(tmp_path: Path) -> None:
    store = SQLiteWitnessStore(tmp_path / "w.db")
    states = [
        LatestCheckpoint(f"{ORIGIN}/{i}", 5, bytes([i]) * 32, b"note", 1) for i in range(20)
    ]
    futures = [store.submit_swap(None, state) for state in states]
    duplicate = store.submit_swap(None, states[0])
    store.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(ConflictError):
        duplicate.result(timeout=0)
    with pytest.raises(StorageError, match="closed"):
        store.submit_swap(None, states[0])
    reopened = SQLiteWitnessStore(tmp_path / "w.db")
    assert reopened.all_latest() == sorted(states, key=lambda s: s.origin)
    reopened.close()
