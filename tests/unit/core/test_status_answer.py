"""A client checking a whole status answer, and answers that lie in small ways."""

from __future__ import annotations

from dataclasses import replace

import pytest

from charterkit import CharterSpec, Repo, Sim, advisory, key, rebuild, release, sign_charter
from vigil.core import merkle
from vigil.core.checkpoint import (
    Checkpoint,
    VerifiedCheckpoint,
    format_checkpoint,
    verify_checkpoint,
)
from vigil.core.encoding import b64encode
from vigil.core.note import generate_signer, sign_note
from vigil.core.statusmap import (
    AbsenceProof,
    MapSnapshot,
    NamedEntry,
    RecordProof,
    StatusRecord,
    encode_record,
    parse_record,
    verify_status_answer,
)
from vigil.errors import ProofError, RootMismatchError

ORIGIN = "answers.example/log"
LOG = generate_signer(ORIGIN, seed=bytes(range(32)))
BOARD, PUB, RB, SEC = key("board"), key("pub"), key("rb"), key("sec")
SPEC = CharterSpec(
    foundation=[BOARD], repositories=[Repo("oss", [PUB], rebuilders=[RB])], security=[SEC]
)


def logged() -> Sim:
    sim = Sim()
    sim.submit(sign_charter(SPEC.text(), [BOARD]))
    sim.submit(release("oss", 1, [PUB]))
    sim.submit(rebuild("oss", 1, [RB]))
    sim.submit(advisory("oss", "VSA-1", [SEC], action="warn"))
    return sim


def checkpoint(sim: Sim, status: bytes) -> VerifiedCheckpoint:
    leaves = [merkle.hash_leaf(e) for e in sim.entries]
    text = format_checkpoint(
        Checkpoint(ORIGIN, len(leaves), merkle.root_from_leaf_hashes(leaves),
                   (f"vigil-status-map {b64encode(status)}",))
    )
    return verify_checkpoint(sign_note(text, [LOG]), origin=ORIGIN, log_verifier=LOG.verifier())


def named(sim: Sim, indexes: tuple[int, ...]) -> list[NamedEntry]:
    tree = merkle.MerkleTree(merkle.hash_leaf(e) for e in sim.entries)
    return [
        NamedEntry(i, sim.entries[i], tuple(tree.inclusion_proof(i, tree.size))) for i in indexes
    ]


Answer = tuple[VerifiedCheckpoint, RecordProof | AbsenceProof, list[NamedEntry]]


def honest_answer(sim: Sim, name: str = "oss") -> Answer:
    snapshot = sim.state.snapshot()
    assert snapshot is not None
    proof = snapshot.prove(name)
    indexes = parse_record(proof.record).entry_indexes() if isinstance(proof, RecordProof) else ()
    return checkpoint(sim, snapshot.root), proof, named(sim, indexes)


def test_honest_answers_verify() -> None:
    sim = logged()
    cp, proof, entries = honest_answer(sim)
    verified = verify_status_answer(cp, "oss", proof, entries)
    assert isinstance(verified.record, StatusRecord)
    assert sorted(verified.entries) == [1, 2, 3]
    cp, proof, entries = honest_answer(sim, "")
    governance = verify_status_answer(cp, "", proof, entries)
    assert sorted(governance.entries) == [0]
    cp, proof, entries = honest_answer(sim, "nope")
    absent = verify_status_answer(cp, "nope", proof, entries)
    assert absent.record is None


def test_missing_or_extra_entries() -> None:
    sim = logged()
    cp, proof, entries = honest_answer(sim)
    with pytest.raises(ProofError, match=r"carries entries \[1, 2\], the record names \[1, 2, 3\]"):
        verify_status_answer(cp, "oss", proof, entries[:2])
    _, absence, _ = honest_answer(sim, "nope")
    assert isinstance(absence, AbsenceProof)
    with pytest.raises(ProofError, match="an absence proof names no entries"):
        verify_status_answer(cp, "nope", absence, entries)


def test_entry_swapped_for_another() -> None:
    sim = logged()
    cp, proof, entries = honest_answer(sim)
    swapped = [entries[0], entries[1], replace(entries[2], data=sim.entries[0])]
    with pytest.raises(RootMismatchError):
        verify_status_answer(cp, "oss", proof, swapped)


def test_record_that_contradicts_its_entry() -> None:
    """A lying log signs a map whose record misstates the release's digest."""
    sim = logged()
    snapshot = sim.state.snapshot()
    assert snapshot is not None
    position = snapshot.names.index("oss")
    record = parse_record(snapshot.leaves[position])
    assert isinstance(record, StatusRecord)
    lie = replace(record, releases=(replace(record.releases[0], digest=bytes(32)),))
    leaves = list(snapshot.leaves)
    leaves[position] = encode_record(lie)
    root = merkle.root_from_leaf_hashes([merkle.hash_leaf(x) for x in leaves])
    forged = MapSnapshot(snapshot.size, snapshot.names, tuple(leaves), root)
    proof = forged.prove("oss")
    with pytest.raises(ProofError, match=r"entry 1 is release 1 of 'oss' .* but the record says"):
        verify_status_answer(checkpoint(sim, root), "oss", proof, named(sim, (1, 2, 3)))


def test_checkpoint_without_a_map() -> None:
    sim = logged()
    leaves = [merkle.hash_leaf(e) for e in sim.entries]
    text = format_checkpoint(Checkpoint(ORIGIN, 4, merkle.root_from_leaf_hashes(leaves)))
    bare = verify_checkpoint(sign_note(text, [LOG]), origin=ORIGIN, log_verifier=LOG.verifier())
    _, proof, entries = honest_answer(sim)
    with pytest.raises(ProofError, match="carries no status map"):
        verify_status_answer(bare, "oss", proof, entries)
