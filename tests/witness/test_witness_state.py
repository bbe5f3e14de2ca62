"""The pure witness decision and the tlog-witness wire formats (no I/O)."""

from __future__ import annotations

import pytest

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.encoding import b64encode
from vigil.core.merkle import EMPTY_ROOT
from vigil.core.note import Note, format_note, parse_note, sign_note
from vigil.core.tlog_witness import (
    MAX_PROOF_LINES,
    AddCheckpointRequest,
    format_add_checkpoint,
    format_cosignature_lines,
    format_size_body,
    parse_add_checkpoint,
    parse_cosignature_lines,
    parse_size_body,
)
from vigil.errors import (
    FormatError,
    ProofError,
    RootMismatchError,
    SignatureError,
    SplitViewError,
)
from vigil.witness.errors import BadRequestError
from vigil.witness.state import (
    Conflict,
    Cosign,
    LatestCheckpoint,
    Reject,
    WitnessedLog,
    decide,
    request_origin,
)
from witnesssupport import ORIGIN, Tree, checkpoint_note, cosigner, log_signer, request_body

LOG = log_signer()
WITNESSED = WitnessedLog(ORIGIN, (LOG.verifier(),))
TREE = Tree()


def latest(size: int, tree: Tree = TREE) -> LatestCheckpoint:
    return LatestCheckpoint(ORIGIN, size, tree.root(size), b"stored note", 1700000000)


def request(old: int, size: int, tree: Tree = TREE) -> AddCheckpointRequest:
    return parse_add_checkpoint(request_body(LOG, tree, old, size))


# -- wire formats ---------------------------------------------------------------------------


def test_request_round_trip() -> None:
    body = request_body(LOG, TREE, 5, 13)
    parsed = parse_add_checkpoint(body)
    assert parsed.old_size == 5
    assert list(parsed.proof) == TREE.proof(5, 13)
    assert format_add_checkpoint(parsed.old_size, parsed.proof, format_note(parsed.note)) == body
    assert request_origin(parsed) == ORIGIN


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "no newline"),
        (b"old 1", "no newline"),
        (b"new 1\n\n", "want 'old <size>'"),
        (b"old 01\n\n", "not a canonical decimal"),
        (b"old -1\n\n", "not a decimal"),
        (b"old  1\n\n", "not a decimal"),
        (b"old 1\nAAAA\n\n", "proof hash"),
        (b"old 1\n" + b"A" * 43 + b"=", "no empty line"),
        (b"old 1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n\n", "not canonical"),
        (b"old 1\n\nnot a note\n", "note"),
        (b"old 18446744073709551616\n\n", "exceeds"),
    ],
)
def test_malformed_requests(body: bytes, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        parse_add_checkpoint(body)


def test_proof_line_cap() -> None:
    note = checkpoint_note(LOG, 1, TREE.root(1))
    line = b64encode(bytes(32)).encode() + b"\n"
    ok = b"old 1\n" + line * MAX_PROOF_LINES + b"\n" + note
    assert len(parse_add_checkpoint(ok).proof) == 63
    with pytest.raises(FormatError, match="more than 63"):
        parse_add_checkpoint(b"old 1\n" + line * 64 + b"\n" + note)
    with pytest.raises(FormatError, match="exceeds the limit"):
        parse_add_checkpoint(ok, max_bytes=100)


def test_response_formats() -> None:
    signature = cosigner().sign_checkpoint(format_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT)), 1)
    body = format_cosignature_lines([signature])
    assert body.startswith("— witness.example/w1 ".encode()) and body.endswith(b"\n")
    assert parse_cosignature_lines(body) == (signature,)
    assert format_size_body(42) == b"42\n"
    assert parse_size_body(b"42\n") == 42
    for bad in (b"42", b"042\n", b"42\n\n", b"x\n"):
        with pytest.raises(FormatError):
            parse_size_body(bad)
    for bad in (b"", b"no dash\n", body[:-1]):
        with pytest.raises(FormatError):
            parse_cosignature_lines(bad)


# -- the decision ---------------------------------------------------------------------------


def test_first_checkpoint_is_cosigned_without_proof() -> None:
    decision = decide(WITNESSED, None, request(0, 7))
    assert isinstance(decision, Cosign)
    assert decision.checkpoint == Checkpoint(ORIGIN, 7, TREE.root(7))


def test_consistent_growth_is_cosigned() -> None:
    assert isinstance(decide(WITNESSED, latest(7), request(7, 20)), Cosign)
    assert isinstance(decide(WITNESSED, latest(1), request(1, 2)), Cosign)


def test_same_checkpoint_again_is_cosigned() -> None:
    assert isinstance(decide(WITNESSED, latest(7), request(7, 7)), Cosign)


def test_old_size_mismatch_is_a_conflict_with_the_known_size() -> None:
    assert decide(WITNESSED, latest(7), request(5, 20)) == Conflict(7)
    assert decide(WITNESSED, latest(7), request(0, 20)) == Conflict(7)
    assert decide(WITNESSED, None, request(3, 20)) == Conflict(0)


def test_old_larger_than_size_is_a_bad_request() -> None:
    note = checkpoint_note(LOG, 3, TREE.root(3))
    decision = decide(WITNESSED, latest(7), parse_add_checkpoint(b"old 7\n\n" + note))
    assert isinstance(decision, Reject) and not decision.evidence
    assert isinstance(decision.error, BadRequestError)
    assert "old size 7 is larger than the checkpoint size 3" in str(decision.error)


def test_smaller_tree_is_never_cosigned() -> None:
    # Rollback: the log presents an older (smaller) tree, with the right or wrong old size.
    smaller = parse_add_checkpoint(b"old 7\n\n" + checkpoint_note(LOG, 3, TREE.root(3)))
    for candidate in (request(3, 3), smaller):
        assert not isinstance(decide(WITNESSED, latest(7), candidate), Cosign)


def test_empty_tree_needs_the_empty_root() -> None:
    good = parse_add_checkpoint(b"old 0\n\n" + checkpoint_note(LOG, 0, EMPTY_ROOT))
    assert isinstance(decide(WITNESSED, None, good), Cosign)
    bad = parse_add_checkpoint(b"old 0\n\n" + checkpoint_note(LOG, 0, bytes(32)))
    decision = decide(WITNESSED, None, bad)
    assert isinstance(decision, Reject) and decision.evidence
    assert isinstance(decision.error, RootMismatchError)
    assert "empty-tree root" in str(decision.error)


def test_proof_for_old_size_zero_is_refused() -> None:
    note = checkpoint_note(LOG, 5, TREE.root(5))
    body = format_add_checkpoint(0, [bytes(32)], note)
    decision = decide(WITNESSED, None, parse_add_checkpoint(body))
    assert isinstance(decision, Reject) and not decision.evidence
    assert isinstance(decision.error, ProofError)
    assert "old size 0 needs an empty consistency proof" in str(decision.error)


def test_second_root_for_a_size_is_split_view_evidence() -> None:
    fork = Tree("fork")
    decision = decide(WITNESSED, latest(7), request(7, 7, fork))
    assert isinstance(decision, Reject) and decision.evidence
    assert isinstance(decision.error, SplitViewError)
    assert decision.error.first == b"stored note"
    assert "the witness cosigned root" in str(decision.error)


def test_fork_with_a_bad_proof_is_evidence() -> None:
    fork = Tree("fork")
    decision = decide(WITNESSED, latest(7), request(7, 20, fork))
    assert isinstance(decision, Reject) and decision.evidence
    assert isinstance(decision.error, ProofError)


@pytest.mark.parametrize("mutation", ["flip", "drop", "extra", "swap"])
def test_mutated_proofs_are_refused(mutation: str) -> None:
    proof = TREE.proof(5, 13)
    if mutation == "flip":
        proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    elif mutation == "drop":
        proof = proof[:-1]
    elif mutation == "extra":
        proof = [*proof, bytes(32)]
    else:
        proof = proof[::-1]
    body = format_add_checkpoint(5, proof, checkpoint_note(LOG, 13, TREE.root(13)))
    decision = decide(WITNESSED, latest(5), parse_add_checkpoint(body))
    assert isinstance(decision, Reject) and isinstance(decision.error, ProofError)


def test_proof_with_equal_sizes_is_refused_but_not_evidence() -> None:
    body = format_add_checkpoint(7, [bytes(32)], checkpoint_note(LOG, 7, TREE.root(7)))
    decision = decide(WITNESSED, latest(7), parse_add_checkpoint(body))
    assert isinstance(decision, Reject) and not decision.evidence
    assert isinstance(decision.error, ProofError)


def test_signatures() -> None:
    text = format_checkpoint(Checkpoint(ORIGIN, 3, TREE.root(3)))
    other = log_signer(ORIGIN, 2)  # same name, another key
    stranger = log_signer("stranger.example")
    # Only a stranger's signature: 403.
    only_other = parse_add_checkpoint(b"old 0\n\n" + sign_note(text, [other]))
    decision = decide(WITNESSED, None, only_other)
    assert isinstance(decision, Reject) and isinstance(decision.error, SignatureError)
    # The log's signature, corrupted: 403 even with a valid stranger signature.
    good = parse_note(sign_note(text, [LOG, stranger]))
    sig = good.signatures[0]
    bad_sig = type(sig)(sig.name, sig.key_hash, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    corrupted = Note(text, (bad_sig, good.signatures[1]))
    decision = decide(WITNESSED, None, AddCheckpointRequest(0, (), corrupted))
    assert isinstance(decision, Reject) and isinstance(decision.error, SignatureError)
    assert "invalid signature" in str(decision.error)
    # Unknown signatures (grease) are ignored, and not kept.
    decision = decide(WITNESSED, None, AddCheckpointRequest(0, (), good))
    assert isinstance(decision, Cosign)
    assert decision.log_signatures == (good.signatures[0],)


def test_two_log_keys_either_counts() -> None:
    second = log_signer(ORIGIN, 2)
    witnessed = WitnessedLog(ORIGIN, (LOG.verifier(), second.verifier()))
    text = format_checkpoint(Checkpoint(ORIGIN, 3, TREE.root(3)))
    for key in (LOG, second):
        body = b"old 0\n\n" + sign_note(text, [key])
        assert isinstance(decide(witnessed, None, parse_add_checkpoint(body)), Cosign)


def test_checkpoint_text_is_parsed_after_the_signature() -> None:
    # Signed, but not a checkpoint: 400 (the signature verified first).
    body = b"old 0\n\n" + sign_note(f"{ORIGIN}\nnot a size\n", [LOG])
    decision = decide(WITNESSED, None, parse_add_checkpoint(body))
    assert isinstance(decision, Reject) and isinstance(decision.error, FormatError)


def test_extension_lines_are_kept() -> None:
    text = format_checkpoint(Checkpoint(ORIGIN, 3, TREE.root(3), ("vigil-status-map AAAA",)))
    body = b"old 0\n\n" + sign_note(text, [LOG])
    decision = decide(WITNESSED, None, parse_add_checkpoint(body))
    assert isinstance(decision, Cosign)
    assert format_checkpoint(decision.checkpoint) == text
