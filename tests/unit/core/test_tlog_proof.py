"""Unit tests for vigil.core.tlog_proof (c2sp.org/tlog-proof@v1)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import CosignatureSigner, generate_cosigner
from vigil.core.merkle import MerkleTree, hash_leaf
from vigil.core.note import (
    Ed25519Signer,
    Note,
    Signature,
    format_note,
    generate_signer,
    parse_verifier_key,
)
from vigil.core.policy import parse_policy
from vigil.core.tlog_proof import (
    MAX_PROOF_HASHES,
    TLOG_PROOF_HEADER,
    TlogProof,
    VerifiedTlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
    verify_tlog_proof_policy,
)
from vigil.errors import (
    FormatError,
    PolicyError,
    ProofError,
    RootMismatchError,
    SignatureError,
    UnsupportedError,
    VerificationError,
)

H1 = hashlib.sha256(b"hash1").digest()
H2 = hashlib.sha256(b"hash2").digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Fixtures: a small log with two witnesses -------------------------------------------------

LOG = generate_signer("example.com/log", bytes([1]) * 32)
WITNESS_A = generate_cosigner("a.witness.example", bytes([2]) * 32)
WITNESS_B = generate_cosigner("b.witness.example", bytes([3]) * 32)
ENTRIES = [f"entry {i}".encode() for i in range(13)]
TREE = MerkleTree([hash_leaf(e) for e in ENTRIES])


def checkpoint_note(
    size: int,
    *,
    log: Ed25519Signer = LOG,
    witnesses: tuple[CosignatureSigner, ...] = (WITNESS_A, WITNESS_B),
    origin: str = "example.com/log",
    root: bytes | None = None,
) -> bytes:
    text = format_checkpoint(Checkpoint(origin, size, root or TREE.root(size)))
    signatures = [Signature(log.name, log.key_hash, log.sign(text.encode()))]
    signatures += [w.sign_checkpoint(text, 1700000000) for w in witnesses]
    return format_note(Note(text, tuple(signatures)))


def make_proof(index: int, size: int, **kwargs: object) -> TlogProof:
    return TlogProof(
        index=index,
        hashes=tuple(TREE.inclusion_proof(index, size)),
        checkpoint=checkpoint_note(size, **kwargs),  # type: ignore[arg-type]
    )


# transparency-dev/formats proof/tlog_proof_test.go (vectors.md §8) ---------------------


def test_format_vectors() -> None:
    assert (
        format_tlog_proof(TlogProof(5, (H1, H2), b"test checkpoint\n"))
        == f"c2sp.org/tlog-proof@v1\nindex 5\n{b64(H1)}\n{b64(H2)}\n\ntest checkpoint\n".encode()
    )
    assert (
        format_tlog_proof(TlogProof(10, (H1,), b"checkpoint data\n", extra=b"extra information"))
        == (
            f"c2sp.org/tlog-proof@v1\nextra {b64(b'extra information')}\nindex 10\n"
            f"{b64(H1)}\n\ncheckpoint data\n"
        ).encode()
    )
    assert (
        format_tlog_proof(TlogProof(0, (), b"checkpoint\n"))
        == b"c2sp.org/tlog-proof@v1\nindex 0\n\ncheckpoint\n"
    )


def _with_real_checkpoint(head: str) -> bytes:
    return head.encode() + b"\n\n" + checkpoint_note(8)


@pytest.mark.parametrize(
    ("head", "error", "fragment"),
    [
        # The must-fail cases of the transparency-dev/formats tests.
        ("c2sp.org/tlog-proof@v0\nindex 5", UnsupportedError, "unsupported version"),
        ("wrong header\nindex 5", FormatError, "line 1: got 'wrong header'"),
        ("c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 5", FormatError, "line 2 (extra)"),
        ("c2sp.org/tlog-proof@v1", FormatError, "line 2 (index): got ''"),
        (f"c2sp.org/tlog-proof@v1\n{b64(H1)}", FormatError, "want 'index <decimal>'"),
        ("c2sp.org/tlog-proof@v1\nindex notanumber", FormatError, "not a decimal number"),
        ("c2sp.org/tlog-proof@v1\nindex -5", FormatError, "not a decimal number"),
        ("c2sp.org/tlog-proof@v1\nindex 5\n!!!", FormatError, "line 3 (proof hash 0)"),
        (f"c2sp.org/tlog-proof@v1\nindex 5\n{b64(H1 + H2)}", FormatError, "got 64 bytes, want 32"),
        # Vigil's stricter rules.
        ("c2sp.org/tlog-proof@v1\nindex 05", FormatError, "not a canonical decimal"),
        ("c2sp.org/tlog-proof@v1\nindex  5", FormatError, "not a decimal number"),
        ("c2sp.org/tlog-proof@v1\nindex 18446744073709551616", FormatError, "exceeds"),
        ("c2sp.org/tlog-proof@v1\r\nindex 5", FormatError, "line 1: got"),
        ("c2sp.org/tlog-proof@v1 \nindex 5", FormatError, "line 1: got"),
        (" c2sp.org/tlog-proof@v1\nindex 5", FormatError, "line 1: got"),
        ("c2sp.org/tlog-proof@v1\nextra \nindex 5", FormatError, "empty extra data"),
        ("c2sp.org/tlog-proof@v1\nextra YQ\nindex 5", FormatError, "invalid base64"),
        ("c2sp.org/tlog-proof@v1\nextra YR==\nindex 5", FormatError, "not canonical"),
        ("c2sp.org/tlog-proof@v1\nindex 5\nextra YQ==", FormatError, "proof hash 0"),
        ("c2sp.org/tlog-proof@v1\nextra YQ==\nextra YQ==\nindex 5", FormatError, "line 3"),
        (f"c2sp.org/tlog-proof@v1\nindex 5\n{b64(H1).rstrip('=')}", FormatError, "base64"),
        (f"c2sp.org/tlog-proof@v1\nindex 5\n{b64(H1)} ", FormatError, "base64"),
        ("c2sp.org/tlog-proof@v1\nindex 5\u00e9", FormatError, "non-ASCII"),
        ("c2sp.org/tlog-proof@v1\nindex 5" + f"\n{b64(H1)}" * 65, FormatError, "at most 64"),
    ],
)
def test_parse_rejects(head: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        parse_tlog_proof(_with_real_checkpoint(head))
    assert fragment in str(info.value)
    if error is FormatError:
        assert not isinstance(info.value, UnsupportedError)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"c2sp.org/tlog-proof@v1\nindex 5\n",
        b"c2sp.org/tlog-proof@v1\nindex 5\n\n",
        b"c2sp.org/tlog-proof@v1\nindex 5\n\ntest checkpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex 5\n\nnot\nsigned\n\n",
    ],
)
def test_parse_rejects_bad_checkpoint_part(data: bytes) -> None:
    with pytest.raises(FormatError):
        parse_tlog_proof(data)


def test_checkpoint_must_be_a_checkpoint_and_verbatim() -> None:
    note = format_note(Note("not a checkpoint\n", (Signature("k", b"\x00" * 4, b"\x01"),)))
    with pytest.raises(FormatError, match="tlog proof checkpoint: checkpoint"):
        parse_tlog_proof(b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + note)
    good = checkpoint_note(8)
    with pytest.raises(FormatError, match="tlog proof checkpoint"):
        parse_tlog_proof(b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + good + b"trailing")
    with pytest.raises(FormatError, match="tlog proof checkpoint"):
        parse_tlog_proof(b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + good + b"\n")


def test_caps() -> None:
    data = format_tlog_proof(make_proof(3, 8))
    with pytest.raises(FormatError, match="exceeds the limit"):
        parse_tlog_proof(data, max_bytes=len(data) - 1)
    with pytest.raises(FormatError, match="signature lines"):
        parse_tlog_proof(data, max_signatures=2)
    assert parse_tlog_proof(data, max_bytes=len(data), max_signatures=3).index == 3


def test_spec_example_with_real_checkpoint() -> None:
    # The spec's example proof lines; its checkpoint's signatures are elided
    # ("hI2DJw[...]1roloI="), so the same checkpoint text is signed here.
    head = (
        "c2sp.org/tlog-proof@v1\n"
        "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
        "index 73894\n"
        "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
        "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
        "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n"
        "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n"
        "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n"
    )
    fancylog = generate_signer("example.com/fancylog", bytes([9]) * 32)
    text = "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
    note = format_note(
        Note(text, (Signature(fancylog.name, fancylog.key_hash, fancylog.sign(text.encode())),))
    )
    data = head.encode() + b"\n" + note
    proof = parse_tlog_proof(data)
    assert proof.index == 73894
    assert proof.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert len(proof.hashes) == 5
    assert proof.checkpoint == note
    assert format_tlog_proof(proof) == data
    # The example's proof is illustrative: 5 hashes can't prove index 73894
    # in a tree of 109482 leaves.
    with pytest.raises(ProofError, match="got 5 hashes, want 17"):
        verify_tlog_proof(
            proof, H1, origin="example.com/fancylog", log_verifier=fancylog.verifier()
        )


def test_round_trip() -> None:
    for proof in [make_proof(0, 1), make_proof(12, 13), make_proof(5, 8)]:
        data = format_tlog_proof(proof)
        assert parse_tlog_proof(data) == proof
        assert format_tlog_proof(parse_tlog_proof(data)) == data
    with_extra = TlogProof(1, (H1,), checkpoint_note(2), extra=b"\x00\xff")
    assert parse_tlog_proof(format_tlog_proof(with_extra)) == with_extra


def test_model_invariants() -> None:
    with pytest.raises(FormatError, match="out of range"):
        TlogProof(-1, (), b"c\n")
    with pytest.raises(FormatError, match="out of range"):
        TlogProof(2**64, (), b"c\n")
    with pytest.raises(FormatError, match="hash 1: got 31 bytes, want 32"):
        TlogProof(0, (H1, H1[:31]), b"c\n")
    with pytest.raises(FormatError, match="at most 64"):
        TlogProof(0, (H1,) * (MAX_PROOF_HASHES + 1), b"c\n")
    with pytest.raises(FormatError, match="ending in a newline"):
        TlogProof(0, (), b"")
    with pytest.raises(TypeError):
        TlogProof(True, (), b"c\n")
    with pytest.raises(TypeError):
        TlogProof(0, [H1], b"c\n")  # type: ignore[arg-type]
    assert TLOG_PROOF_HEADER == "c2sp.org/tlog-proof@v1"


# Verification ------------------------------------------------------------------------


def verify(proof: TlogProof, leaf_hash: bytes) -> VerifiedTlogProof:
    return verify_tlog_proof(
        proof,
        leaf_hash,
        origin="example.com/log",
        log_verifier=LOG.verifier(),
        cosigners=[WITNESS_A.verifier(), WITNESS_B.verifier()],
    )


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 2), (1, 2), (5, 8), (12, 13), (7, 13)])
def test_verify_every_shape(index: int, size: int) -> None:
    proof = parse_tlog_proof(format_tlog_proof(make_proof(index, size)))
    verified = verify_tlog_proof(
        proof,
        hash_leaf(ENTRIES[index]),
        origin="example.com/log",
        log_verifier=LOG.verifier(),
        cosigners=[WITNESS_A.verifier()],
    )
    assert verified.index == index
    assert verified.tree.size == size
    assert verified.leaf_hash == hash_leaf(ENTRIES[index])
    assert [c.name for c in verified.checkpoint.cosignatures] == ["a.witness.example"]
    assert verified.checkpoint.cosignatures[0].timestamp == 1700000000


def test_wrong_leaf() -> None:
    with pytest.raises(RootMismatchError) as info:
        verify(make_proof(5, 8), hash_leaf(ENTRIES[4]))
    assert info.value.expected == TREE.root(8)


def test_index_changed() -> None:
    proof = make_proof(5, 8)
    for index in (4, 6):
        with pytest.raises(RootMismatchError):
            verify(TlogProof(index, proof.hashes, proof.checkpoint), hash_leaf(ENTRIES[5]))
    with pytest.raises(ProofError, match="index"):
        verify(TlogProof(8, proof.hashes, proof.checkpoint), hash_leaf(ENTRIES[5]))


def test_proof_hash_bit_flips() -> None:
    proof = make_proof(5, 13)
    for position in range(len(proof.hashes)):
        hashes = list(proof.hashes)
        hashes[position] = bytes([hashes[position][0] ^ 1]) + hashes[position][1:]
        tampered = TlogProof(proof.index, tuple(hashes), proof.checkpoint)
        with pytest.raises(RootMismatchError):
            verify(tampered, hash_leaf(ENTRIES[5]))


def test_proof_truncated_or_extended() -> None:
    proof = make_proof(5, 13)
    with pytest.raises(ProofError, match="got 3 hashes, want 4"):
        verify(TlogProof(5, proof.hashes[:-1], proof.checkpoint), hash_leaf(ENTRIES[5]))
    with pytest.raises(ProofError, match="got 5 hashes, want 4"):
        verify(TlogProof(5, (*proof.hashes, H1), proof.checkpoint), hash_leaf(ENTRIES[5]))


def test_checkpoint_for_other_size() -> None:
    proof = make_proof(5, 8)
    wrong = TlogProof(5, proof.hashes, checkpoint_note(13))
    with pytest.raises(ProofError):
        verify(wrong, hash_leaf(ENTRIES[5]))


def test_checkpoint_by_other_log_key() -> None:
    impostor = generate_signer("example.com/log", bytes([66]) * 32)
    proof = make_proof(5, 8, log=impostor)
    with pytest.raises(SignatureError, match="no signature by log key"):
        verify(proof, hash_leaf(ENTRIES[5]))


def test_checkpoint_for_other_origin() -> None:
    proof = make_proof(5, 8, origin="example.com/other")
    with pytest.raises(VerificationError, match="wrong origin"):
        verify(proof, hash_leaf(ENTRIES[5]))


def test_forged_root() -> None:
    # A checkpoint with a different root, properly signed: the proof fails.
    proof = make_proof(5, 8, root=hashlib.sha256(b"other").digest())
    with pytest.raises(RootMismatchError):
        verify(proof, hash_leaf(ENTRIES[5]))


def test_tampered_checkpoint_text() -> None:
    proof = make_proof(5, 8)
    tampered = proof.checkpoint.replace(b"\n8\n", b"\n9\n", 1)
    with pytest.raises(SignatureError):
        verify(TlogProof(5, proof.hashes, tampered), hash_leaf(ENTRIES[5]))


def test_bad_leaf_hash_length() -> None:
    with pytest.raises(FormatError):
        verify(make_proof(5, 8), b"\x00" * 31)


def test_extra_is_not_authenticated() -> None:
    # The spec: applications MUST NOT implicitly trust extra; it isn't signed.
    proof = make_proof(5, 8)
    with_extra = TlogProof(5, proof.hashes, proof.checkpoint, extra=b"anything")
    verified = verify(with_extra, hash_leaf(ENTRIES[5]))
    assert verified.proof.extra == b"anything"


# With a tlog-policy ----------------------------------------------------------------------


def policy_text(quorum: str) -> str:
    return (
        f"log {LOG.vkey}\n"
        f"witness A {WITNESS_A.vkey}\n"
        f"witness B {WITNESS_B.vkey}\n"
        "group both all A B\n"
        f"quorum {quorum}\n"
    )


def test_verify_with_policy() -> None:
    policy = parse_policy(policy_text("both"))
    proof = make_proof(5, 8)
    verified = verify_tlog_proof_policy(proof, hash_leaf(ENTRIES[5]), policy)
    assert verified.tree.origin == "example.com/log"
    assert len(verified.checkpoint.cosignatures) == 2
    verify_tlog_proof_policy(proof, hash_leaf(ENTRIES[5]), policy, origin="example.com/log")


def test_verify_with_policy_quorum_not_met() -> None:
    policy = parse_policy(policy_text("both"))
    proof = make_proof(5, 8, witnesses=(WITNESS_A,))
    with pytest.raises(PolicyError, match="both \\(1 of 2 needed\\)"):
        verify_tlog_proof_policy(proof, hash_leaf(ENTRIES[5]), policy)
    assert verify_tlog_proof_policy(proof, hash_leaf(ENTRIES[5]), parse_policy(policy_text("A")))


def test_verify_with_policy_bad_inclusion() -> None:
    policy = parse_policy(policy_text("none"))
    with pytest.raises(RootMismatchError):
        verify_tlog_proof_policy(make_proof(5, 8), hash_leaf(ENTRIES[6]), policy)


# Real data: the sunlight/skylight 300-leaf tree (vectors.md §5-6) ------------------------------

MIRROR_DIR = "sunlight-skylight-testdata/witness/mirror"
MIRROR_VKEY = "mirror.example.org+3fb148ef+BAAjjch9GyYz0sJsJx7ALhbdAtz2ov0unbzSl1vMp94O"


def test_real_checkpoint_and_tree(vectors_dir: Path) -> None:
    # The mirror's cosigned checkpoint of a real 300-leaf tree whose leaf i is
    # "record i". Its only signature is the mirror's cosignature, so the
    # mirror's key stands in for the log key here.
    note = next((vectors_dir / MIRROR_DIR).glob("*/checkpoint")).read_bytes()
    tree = MerkleTree([hash_leaf(b"record %d" % i) for i in range(300)])
    assert tree.root(300).hex() == (
        "830df5c90aea65909c10e3ebcd7f9ba72de727a4209e04ca9fc1b59b48badae5"
    )
    mirror = parse_verifier_key(MIRROR_VKEY)
    for index in (0, 1, 255, 256, 299):
        proof = TlogProof(index, tuple(tree.inclusion_proof(index, 300)), note)
        parsed = parse_tlog_proof(format_tlog_proof(proof))
        verified = verify_tlog_proof(
            parsed,
            hash_leaf(b"record %d" % index),
            origin="rome2026h1.example.org",
            log_verifier=mirror,
        )
        assert verified.checkpoint.log_signature.timestamp == 1767139200
        with pytest.raises(RootMismatchError):
            verify_tlog_proof(
                parsed,
                hash_leaf(b"record %d" % (index + 1)),
                origin="rome2026h1.example.org",
                log_verifier=mirror,
            )


def test_verified_proof_only_from_verify() -> None:
    verified = verify(make_proof(5, 8), hash_leaf(ENTRIES[5]))
    with pytest.raises(TypeError, match="only by verify_tlog_proof"):
        VerifiedTlogProof(make_proof(5, 8), b"\x00" * 32, verified.checkpoint, object())
