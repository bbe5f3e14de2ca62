"""The status map: records, rules, transactions, proofs and replay."""

from __future__ import annotations

import json
import pickle

import pytest

from charterkit import (
    T0,
    CharterSpec,
    Repo,
    Sim,
    advisory,
    artifact,
    charter_entry,
    key,
    rebuild,
    release,
    sign_charter,
    state_digest,
)
from vigil.core import merkle
from vigil.core.checkpoint import Checkpoint
from vigil.core.dsse import format_envelope
from vigil.core.encoding import b64encode
from vigil.core.statusmap import (
    GOVERNANCE,
    MAX_GRACE_RELEASES,
    AbsenceProof,
    DuplicateEntryError,
    EntryVerifier,
    GovernanceRecord,
    RecordProof,
    Replayer,
    StatusMap,
    StatusRecord,
    encode_record,
    format_absence_proof,
    format_record_proof,
    parse_absence_proof,
    parse_record,
    parse_record_proof,
    replay_root,
    status_root,
    verify_absence,
    verify_logged_entry,
    verify_record,
)
from vigil.errors import FormatError, PolicyError, ProofError, RootMismatchError, SignatureError

BOARD = key("board")
PUB, RB1, RB2, SEC = key("pub"), key("rb1"), key("rb2"), key("sec")


def charter(grace_s: int = 3600, repos: tuple[str, ...] = ("oss", "updates")) -> CharterSpec:
    return CharterSpec(
        foundation=[BOARD],
        repositories=[
            Repo(name, [PUB], rebuilders=[RB1, RB2], rebuilds_required=1, grace_s=grace_s)
            for name in repos
        ],
        security=[SEC],
    )


def started(grace_s: int = 3600) -> Sim:
    sim = Sim()
    sim.submit(sign_charter(charter(grace_s).text(), [BOARD]))
    return sim


def test_no_map_before_a_charter() -> None:
    sim = Sim()
    sim.submit(artifact("a", [PUB]))
    assert sim.state.root() is None and sim.state.snapshot() is None
    with pytest.raises(PolicyError, match="no charter is in force yet"):
        sim.submit(release("oss", 1, [PUB]))
    sim.submit(sign_charter(charter().text(), [BOARD]))
    governance = sim.record(GOVERNANCE)
    assert isinstance(governance, GovernanceRecord)
    assert (governance.charter.index, governance.charter.version) == (1, 1)
    assert sim.state.root() is not None


def test_release_record_with_grace() -> None:
    sim = started(grace_s=120)
    sim.submit(release("oss", 1, [PUB], published_s=T0))
    sim.submit(release("oss", 2, [PUB], published_s=T0 + 100))
    record = sim.record("oss")
    assert [r.version for r in record.releases] == [2, 1]
    assert record.releases[1].superseded_s == T0 + 100
    # 3 is published 150 s after 2 superseded 1: 1 leaves grace, 2 stays.
    sim.submit(release("oss", 3, [PUB], published_s=T0 + 250))
    assert [r.version for r in sim.record("oss").releases] == [3, 2]
    # Without grace, only the latest stays.
    sim = started(grace_s=0)
    sim.submit(release("oss", 1, [PUB]))
    sim.submit(release("oss", 2, [PUB]))
    assert [r.version for r in sim.record("oss").releases] == [2]


def test_grace_list_is_bounded() -> None:
    sim = started(grace_s=10**6)
    for version in range(1, MAX_GRACE_RELEASES + 4):
        sim.submit(release("oss", version, [PUB]))
    assert len(sim.record("oss").releases) == MAX_GRACE_RELEASES + 1


def test_rebuilds_follow_their_release() -> None:
    sim = started(grace_s=0)
    sim.submit(release("oss", 1, [PUB]))
    i = sim.submit(rebuild("oss", 1, [RB1], result="failed"))
    assert sim.record("oss").rebuilds[0].result == "failed"
    # A different outcome from the same rebuilder replaces the earlier one...
    j = sim.submit(rebuild("oss", 1, [RB1]))
    assert [(r.index, r.result) for r in sim.record("oss").rebuilds] == [(j, "reproduced")]
    assert i != j
    # ...the same outcome again is a duplicate.
    with pytest.raises(DuplicateEntryError, match="already attested reproduced") as info:
        sim.submit(rebuild("oss", 1, [RB1], builder="https://other.example/"))
    assert info.value.existing_index == j
    sim.submit(rebuild("oss", 1, [RB2], result="mismatch"))
    assert len(sim.record("oss").rebuilds) == 2
    sim.submit(release("oss", 2, [PUB]))
    assert sim.record("oss").rebuilds == ()


def test_rebuild_must_name_a_release_in_force() -> None:
    sim = started()
    sim.submit(release("oss", 1, [PUB]))
    with pytest.raises(PolicyError, match="no release 2 with digest"):
        sim.submit(rebuild("oss", 2, [RB1]))
    with pytest.raises(PolicyError, match="no release 1 with digest"):
        sim.submit(rebuild("oss", 1, [RB1], digest=state_digest("oss", 1, "other")))
    with pytest.raises(PolicyError, match="not a registered rebuilder"):
        sim.submit(rebuild("oss", 1, [PUB]))


def test_advisory_lifecycle() -> None:
    sim = started(grace_s=0)
    sim.submit(release("oss", 1, [PUB]))
    i = sim.submit(advisory("oss", "VSA-1", [SEC], version=1, action="warn"))
    advisories = sim.record("oss").advisories
    assert [(a.index, a.id, a.action) for a in advisories] == [(i, "VSA-1", "warn")]
    # Replace the warning with a block fixed in 3.
    j = sim.submit(advisory("oss", "VSA-2", [SEC], version=1, fixed=3, withdraws="VSA-1"))
    assert [a.id for a in sim.record("oss").advisories] == ["VSA-2"]
    sim.submit(release("oss", 2, [PUB]))
    assert sim.record("oss").advisories[0].index == j  # 2 is still affected
    sim.submit(release("oss", 3, [PUB]))
    assert sim.record("oss").advisories == ()  # fixed
    with pytest.raises(DuplicateEntryError, match="id already used"):
        sim.submit(advisory("oss", "VSA-1", [SEC], version=3))
    with pytest.raises(PolicyError, match="VSA-9, which is not in force"):
        sim.submit(advisory("oss", "VSA-3", [SEC], version=3, action="withdraw", withdraws="VSA-9"))
    with pytest.raises(PolicyError, match="outside its affected range"):
        sim.submit(advisory("oss", "VSA-4", [SEC], version=3, introduced=4))


def test_transactions_roll_back_completely() -> None:
    sim = started()
    sim.submit(release("oss", 1, [PUB]))
    before = (sim.state.root(), sim.state.size, list(sim.state.records()))
    state = sim.state
    state.begin()
    for entry in (release("oss", 2, [PUB]), release("updates", 1, [PUB]),
                  sign_charter(charter().next().text(), [BOARD])):
        state.apply(verify_logged_entry(state.size, format_envelope(entry)))
    assert state.root() != before[0]
    state.rollback()
    assert (state.root(), state.size, list(state.records())) == before
    assert state.charter is not None and state.charter.version == 1
    with pytest.raises(RuntimeError):
        state.rollback()


def test_record_encoding_is_canonical() -> None:
    sim = started()
    sim.submit(release("oss", 1, [PUB]))
    sim.submit(rebuild("oss", 1, [RB1]))
    sim.submit(advisory("oss", "VSA-1", [SEC], fixed=2))
    for record in sim.state.records():
        data = encode_record(record)
        assert parse_record(data) == record
        document = json.loads(data)
        spaced = json.dumps(document, sort_keys=True).encode()
        with pytest.raises(FormatError, match="not in canonical encoding"):
            parse_record(spaced)
    document = json.loads(encode_record(sim.record("oss")))
    document["releases"][0]["color"] = "red"
    with pytest.raises(FormatError, match="fields"):
        parse_record(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())


class TestProofs:
    @pytest.fixture
    def snapshot(self) -> object:
        sim = started()
        sim.submit(release("oss", 1, [PUB]))
        sim.submit(release("updates", 1, [PUB]))
        snapshot = sim.state.snapshot()
        assert snapshot is not None
        assert snapshot.names == (GOVERNANCE, "oss", "updates")
        return snapshot

    def test_record_proof(self, snapshot: object) -> None:
        proof = snapshot.prove("oss")  # type: ignore[attr-defined]
        assert isinstance(proof, RecordProof)
        round_trip = parse_record_proof(json.loads(json.dumps(format_record_proof(proof))))
        record = verify_record(snapshot.root, "oss", round_trip)  # type: ignore[attr-defined]
        assert isinstance(record, StatusRecord) and record.latest is not None
        with pytest.raises(ProofError, match="record is for 'oss', want 'updates'"):
            verify_record(snapshot.root, "updates", proof)  # type: ignore[attr-defined]
        with pytest.raises(RootMismatchError):
            verify_record(bytes(32), "oss", proof)
        flipped = RecordProof(proof.index, proof.size, proof.record,
                              (bytes([proof.hashes[0][0] ^ 1]) + proof.hashes[0][1:],
                               *proof.hashes[1:]))
        with pytest.raises(RootMismatchError):
            verify_record(snapshot.root, "oss", flipped)  # type: ignore[attr-defined]

    @pytest.mark.parametrize("name", ["aaa", "pkg", "zzz"])
    def test_absence_proof(self, snapshot: object, name: str) -> None:
        proof = snapshot.prove(name)  # type: ignore[attr-defined]
        assert isinstance(proof, AbsenceProof)
        proof = parse_absence_proof(json.loads(json.dumps(format_absence_proof(proof))))
        verify_absence(snapshot.root, name, proof)  # type: ignore[attr-defined]

    def test_absence_proof_cannot_hide_a_record(self, snapshot: object) -> None:
        # Claim "oss" is absent using the governance record and "updates":
        # they are not adjacent.
        left = snapshot.record_proof(0)  # type: ignore[attr-defined]
        right = snapshot.record_proof(2)  # type: ignore[attr-defined]
        with pytest.raises(ProofError, match="not adjacent"):
            verify_absence(snapshot.root, "oss", AbsenceProof(3, left, right))  # type: ignore[attr-defined]
        with pytest.raises(ProofError, match="not after"):
            verify_absence(snapshot.root, "zzz", AbsenceProof(3, None, left))  # type: ignore[attr-defined]

    def test_status_root_extension(self, snapshot: object) -> None:
        root = snapshot.root  # type: ignore[attr-defined]
        line = f"vigil-status-map {b64encode(root)}"
        assert status_root(Checkpoint("o", 1, bytes(32), (line,))) == root
        assert status_root(Checkpoint("o", 1, bytes(32))) is None
        with pytest.raises(FormatError, match="2 vigil-status-map lines"):
            status_root(Checkpoint("o", 1, bytes(32), (line, line)))


def test_replay_flags_entries_the_rules_refuse() -> None:
    sim = started()
    sim.submit(release("oss", 2, [PUB]))
    entries = list(sim.entries)
    # A lying log appends a downgrade and a release by an unknown key.
    entries.append(format_envelope(release("oss", 1, [PUB])))
    entries.append(format_envelope(release("oss", 3, [key("mallory")])))
    replayer = Replayer()
    replayer.extend(entries)
    assert [v.index for v in replayer.violations] == [2, 3]
    assert "downgrade" in str(replayer.violations[0].error)
    assert replayer.state.root() == sim.state.root()
    assert replay_root(sim.entries) == sim.state.root()


def test_replay_refuses_bad_signatures_and_encodings() -> None:
    data = charter_entry(charter().text(), [BOARD])
    document = json.loads(data)
    document["signatures"][0]["sig"] = b64encode(bytes(64))
    forged = json.dumps(document, separators=(",", ":")).encode()
    with pytest.raises(SignatureError, match="do not verify"):
        verify_logged_entry(0, forged)
    with pytest.raises(FormatError, match="not the canonical encoding"):
        verify_logged_entry(0, json.dumps(json.loads(data)).encode())


def test_entry_verifier_decides_as_verify_logged_entry_with_its_cache_bounded() -> None:
    """The key cache changes speed only: forged, badly keyed and valid entries
    get the same results and errors, also once their keys are cached."""
    verifier = EntryVerifier(max_keys=2)
    good = charter_entry(charter().text(), [BOARD])
    document = json.loads(good)
    document["signatures"][0]["sig"] = b64encode(bytes(64))
    forged = json.dumps(document, separators=(",", ":")).encode()
    document["signatures"][0]["keyid"] = "board+00000000+AQ=="
    bad_key = json.dumps(document, separators=(",", ":")).encode()
    others = [format_envelope(release("oss", 1, [k])) for k in (PUB, RB1, RB2, SEC)]
    for _ in range(2):
        for data in (good, forged, bad_key, *others):
            try:
                want: object = verify_logged_entry(0, data)
            except (FormatError, SignatureError) as exc:
                want = (type(exc), str(exc))
            try:
                got: object = verifier.verify(0, data)
            except (FormatError, SignatureError) as exc:
                got = (type(exc), str(exc))
            assert got == want
    assert verifier.cached_keys == 2  # the bound holds (5 distinct valid keys seen)
    with pytest.raises(ValueError, match="max_keys"):
        EntryVerifier(max_keys=0)


def test_logged_entries_pickle_through_their_constructors() -> None:
    """The auditing witness moves verified entries between processes."""
    entry = verify_logged_entry(0, charter_entry(charter().text(), [BOARD]))
    again = pickle.loads(pickle.dumps(entry))
    assert again == entry and again.statement.raw == entry.statement.raw
    with pytest.raises(TypeError):
        again.statement.predicate["x"] = 1  # type: ignore[index]  # still read-only


def test_leaf_hashes_are_over_record_bytes() -> None:
    sim = started()
    snapshot = sim.state.snapshot()
    assert snapshot is not None
    leaves = [merkle.hash_leaf(x) for x in snapshot.leaves]
    assert snapshot.root == merkle.root_from_leaf_hashes(leaves)
    assert StatusMap().root() is None
