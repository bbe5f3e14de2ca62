"""The log with charter enforcement: commit-time rules, status map in checkpoints, recovery."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from charterkit import (
    CharterSpec,
    advisory,
    artifact,
    rebuild,
    release,
    sign_charter,
    state_digest,
)
from charterlog import BOARD, CONFIG, KEY, ORIGIN, PUB1, PUB2, RB, SEC, SPEC, Log, count_replays
from vigil.core.checkpoint import parse_checkpoint
from vigil.core.dsse import Envelope, format_envelope
from vigil.core.note import parse_note
from vigil.core.statusmap import (
    EquivocationError,
    RecordProof,
    StatusRecord,
    replay_root,
    verify_record,
)
from vigil.errors import PolicyError, StorageError, ThresholdError
from vigil.log.charter_policy import charter_registry
from vigil.log.entry import EntryValidator, ValidatedEntry
from vigil.log.errors import PushbackError
from vigil.log.storage import LogStorage, NewEntry, open_storage


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    opened = Log(tmp_path)
    try:
        yield opened
    finally:
        opened.stop()


def test_no_status_line_until_a_charter_is_logged(log: Log) -> None:
    log.submit(artifact("before", [PUB1]))
    assert log.root() is None
    with pytest.raises(PolicyError, match="no charter is in force"):
        log.submit(release("oss", 1, [PUB1, PUB2]))
    log.submit(sign_charter(SPEC.text(), [BOARD]))
    assert log.root() is not None
    assert log.root() == replay_root(log.stored())


def test_rules_refuse_at_commit_and_refused_entries_take_no_index(log: Log) -> None:
    log.submit(sign_charter(SPEC.text(), [BOARD]))
    assert log.submit(release("oss", 1, [PUB1, PUB2])) == [1]
    with pytest.raises(ThresholdError, match="1 of 2 required"):
        log.submit(release("oss", 2, [PUB1]))
    with pytest.raises(PolicyError, match="none of whom is a publisher"):
        log.submit(release("oss", 2, [RB]))
    assert log.submit(rebuild("oss", 1, [RB]), advisory("oss", "VSA-1", [SEC])) == [2, 3]
    stored = log.stored()
    assert len(stored) == 4
    assert log.root() == replay_root(stored)


def test_a_batch_is_judged_in_order(log: Log) -> None:
    """Entries of one commit batch see the ones before them, and only those."""
    entries = [
        sign_charter(SPEC.text(), [BOARD]),
        release("oss", 1, [PUB1, PUB2]),
        release("oss", 2, [PUB1, PUB2]),
        release("oss", 1, [PUB2, PUB1]),  # same statement, other envelope: a replay
    ]
    admitted = [log.service.admit(format_envelope(e)) for e in entries]
    futures = log.service.sequencer.submit(admitted)
    assert [f.result(timeout=30) for f in futures[:3]] == [0, 1, 2]
    with pytest.raises(Exception, match="not above the latest version 2"):
        futures[3].result(timeout=30)
    log.wait(3)
    assert log.root() == replay_root(log.stored())


def _relayed(log: Log, envelope: Envelope) -> ValidatedEntry:
    """An entry as a front-end process relays it: verified signers, no statement."""
    admitted = log.service.admit(format_envelope(envelope))
    return ValidatedEntry(
        admitted.data, admitted.leaf_hash, admitted.index_keys,
        signers=admitted.signers, predicate_type=admitted.predicate_type,
    )


def test_relayed_entries_are_judged_by_the_same_rules(tmp_path: Path) -> None:
    """The sequencer process judges a front end's entries from their relayed signers:
    revocations, thresholds and roles hold for them as for its own admission's."""
    log = Log(tmp_path)
    try:
        spec = CharterSpec(
            foundation=[BOARD], repositories=SPEC.repositories, security=[SEC],
            revoked=[(RB, 0)],
        )
        log.submit(sign_charter(spec.text(), [BOARD]))
        futures = log.service.sequencer.submit([
            _relayed(log, artifact("by-revoked", [RB])),
            _relayed(log, release("oss", 1, [PUB1])),
            _relayed(log, release("oss", 1, [PUB1, PUB2])),
            _relayed(log, artifact("fine", [PUB1])),
        ])
        with pytest.raises(PolicyError, match="revoked from index 0"):
            futures[0].result(timeout=30)
        with pytest.raises(ThresholdError, match="1 of 2 required"):
            futures[1].result(timeout=30)
        assert [f.result(timeout=30) for f in futures[2:]] == [1, 2]
        log.wait(3)
        assert log.root() == replay_root(log.stored())
    finally:
        log.stop()


def test_equivocation_is_refused_and_kept_as_evidence(log: Log) -> None:
    log.submit(sign_charter(SPEC.text(), [BOARD]), release("oss", 1, [PUB1, PUB2]))
    evil = release("oss", 1, [PUB1, PUB2], digest=state_digest("oss", 1, "evil"))
    with pytest.raises(EquivocationError, match="kept as evidence"):
        log.submit(evil)
    kept = list((log.directory / "evidence").iterdir())
    assert [p.read_bytes() for p in kept] == [format_envelope(evil)]


def test_status_answer_proves_record_and_entries(log: Log) -> None:
    log.submit(sign_charter(SPEC.text(), [BOARD]), release("oss", 1, [PUB1, PUB2]))
    log.submit(rebuild("oss", 1, [RB]))
    answer = log.status.status("oss")
    root = log.root()
    assert root is not None and isinstance(answer.proof, RecordProof)
    record = verify_record(root, "oss", answer.proof)
    assert isinstance(record, StatusRecord)
    assert [e.index for e in answer.entries] == [1, 2] == list(record.entry_indexes())
    assert len(answer.proofs) == 2


def test_bundle_walks_charters_and_survives_a_restart(tmp_path: Path) -> None:
    """The log serves bundles from its own state: charter versions newer than the
    client's (also after a restart, from the replayed map), the consistency proof
    from the client's tree, and none for a client ahead of it."""
    v2 = SPEC.next()
    first = Log(tmp_path)
    try:
        first.submit(sign_charter(SPEC.text(), [BOARD]), release("oss", 1, [PUB1, PUB2]))
        first.submit(sign_charter(v2.text(), [BOARD]), rebuild("oss", 1, [RB]))
        bundle = first.status.bundle("oss", old_size=2, charter_version=0)
        assert bundle.charters == (0, 2) and bundle.old_size == 2 and bundle.consistency
        assert [e.index for e in bundle.entries] == [0, 1, 2, 3]
    finally:
        first.stop()
    second = Log(tmp_path)
    try:
        assert second.status.bundle("oss", old_size=0, charter_version=1).charters == (2,)
        current = second.status.bundle("oss", old_size=4, charter_version=2)
        assert current.charters == () and current.old_size == 0
        assert [e.index for e in current.entries] == [1, 3]
        ahead = second.status.bundle("oss", old_size=99, charter_version=2)
        assert ahead.old_size == 0 and not ahead.consistency
        assert second.status.bundle("absent", old_size=0, charter_version=2).entries == ()
    finally:
        second.stop()


def test_saved_state_spares_the_replay_and_gives_the_same_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.log import charter_policy

    monkeypatch.setattr(charter_policy, "SAVE_EVERY_ENTRIES", 3)
    state_file = tmp_path / "statusmap.json"
    first = Log(tmp_path, state_file=state_file)
    try:
        first.submit(sign_charter(SPEC.text(), [BOARD]), release("oss", 1, [PUB1, PUB2]),
                     rebuild("oss", 1, [RB]))
        first.submit(advisory("oss", "VSA-1", [SEC]))
        assert state_file.exists()
        root = first.root()
    finally:
        first.stop()
    replayed = count_replays(monkeypatch)
    second = Log(tmp_path, state_file=state_file)
    try:
        assert second.root() == root == replay_root(second.stored())
        assert replayed == [3]  # saved at 3 entries: only the advisory is replayed
        with pytest.raises(Exception, match="id already used"):
            second.submit(advisory("oss", "VSA-1", [SEC], action="warn"))
    finally:
        second.stop()
    # A damaged state file is not trusted: everything is replayed.
    state_file.write_text("{}")
    replayed.clear()
    third = Log(tmp_path, state_file=state_file)
    try:
        assert third.root() == root and replayed == [0, 1, 2, 3]
    finally:
        third.stop()


def test_restart_replays_the_same_map(tmp_path: Path) -> None:
    first = Log(tmp_path)
    try:
        first.submit(sign_charter(SPEC.text(), [BOARD]), release("oss", 1, [PUB1, PUB2]))
        first.submit(advisory("oss", "VSA-1", [SEC]))
        root = first.root()
    finally:
        first.stop()
    second = Log(tmp_path)
    try:
        assert second.root() == root
        assert second.status.status("oss").entries
        with pytest.raises(Exception, match="id already used"):
            second.submit(advisory("oss", "VSA-1", [SEC], action="warn"))
        second.submit(release("oss", 2, [PUB1, PUB2]))
        assert second.root() == replay_root(second.stored())
    finally:
        second.stop()


def test_entries_committed_before_a_crash_are_applied_at_recovery(tmp_path: Path) -> None:
    """What `vigil log init --charter` does: entries in storage, not yet integrated."""
    storage = open_storage(CONFIG.database, base_dir=tmp_path)
    storage.initialize(origin=ORIGIN, public_key=KEY.vkey)
    validator = EntryValidator(limits=CONFIG.limits, registry=charter_registry())
    entries = [
        validator.validate(format_envelope(e))
        for e in (sign_charter(SPEC.text(), [BOARD]), release("oss", 1, [PUB1, PUB2]))
    ]
    storage.append_entries(0, [NewEntry(e.leaf_hash, e.data, e.index_keys) for e in entries])
    storage.close()
    log = Log(tmp_path)
    try:
        assert log.service.published.size == 2
        assert log.root() == replay_root(log.stored())
        with pytest.raises(Exception, match=r"downgrade|already logged"):
            log.submit(release("oss", 1, [PUB2, PUB1]))
    finally:
        log.stop()


class FlakyStorage:
    """Wraps a storage; the next append fails, before or after writing."""

    def __init__(self, inner: LogStorage) -> None:
        self.inner = inner
        self.fail_next: str | None = None

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        mode, self.fail_next = self.fail_next, None
        if mode == "before":
            raise StorageError("injected: disk full")
        self.inner.append_entries(start, entries)
        if mode == "after":
            raise StorageError("injected: connection lost after COMMIT")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_failed_commits_leave_the_map_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vigil.log.service as service_module

    flaky: list[FlakyStorage] = []

    def wrapped_open(url: str, *, base_dir: Path) -> object:
        storage = FlakyStorage(open_storage(url, base_dir=base_dir))
        flaky.append(storage)
        return storage

    monkeypatch.setattr(service_module, "open_storage", wrapped_open)
    log = Log(tmp_path)
    try:
        log.submit(sign_charter(SPEC.text(), [BOARD]))
        flaky[0].fail_next = "after"  # written, but the sequencer doesn't know
        with pytest.raises(PushbackError, match="after COMMIT"):
            log.submit(release("oss", 1, [PUB1, PUB2]))
        # The resubmission finds it stored; integrating it brings the map along.
        assert log.submit(release("oss", 1, [PUB1, PUB2])) == [1]
        flaky[0].fail_next = "before"  # not written: the gate must forget it
        with pytest.raises(PushbackError, match="disk full"):
            log.submit(release("oss", 2, [PUB1, PUB2]))
        assert log.submit(release("oss", 2, [PUB1, PUB2])) == [2]
        assert log.submit(release("oss", 1, [PUB1, PUB2])) == [1]  # still the same entry
        assert log.root() == replay_root(log.stored())
        record = log.charter_log.state.record("oss")
        assert isinstance(record, StatusRecord) and record.latest is not None
        assert record.latest.version == 2
    finally:
        log.stop()


def test_checkpoint_line_is_signed(log: Log) -> None:
    log.submit(sign_charter(SPEC.text(), [BOARD]))
    text = parse_note(log.service.published.note).text
    assert parse_checkpoint(text).extensions[0].startswith("vigil-status-map ")
