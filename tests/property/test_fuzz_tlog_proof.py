"""Fuzz and round-trip properties: c2sp.org/tlog-proof@v1.

Every input either parses or raises FormatError (vigil.errors), nothing else;
proofs format and parse back to themselves; a generated proof verifies and any
one-bit change to it is rejected.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, mutations
from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import generate_cosigner
from vigil.core.merkle import MerkleTree, hash_leaf
from vigil.core.note import Note, Signature, format_note, generate_signer
from vigil.core.tlog_proof import (
    TlogProof,
    format_tlog_proof,
    parse_tlog_proof,
    verify_tlog_proof,
)
from vigil.errors import FormatError, VerificationError

roundtrip_settings = settings(max_examples=min(FUZZ_EXAMPLES, 1000), deadline=None)

LOG = generate_signer("example.com/log", bytes([1]) * 32)
WITNESS = generate_cosigner("witness.example", bytes([2]) * 32)
SIZE = 21
TREE = MerkleTree([hash_leaf(b"%d" % i) for i in range(SIZE)])


def _checkpoint_note(size: int) -> bytes:
    text = format_checkpoint(Checkpoint("example.com/log", size, TREE.root(size)))
    signatures = (
        Signature(LOG.name, LOG.key_hash, LOG.sign(text.encode())),
        WITNESS.sign_checkpoint(text, 1700000000),
    )
    return format_note(Note(text, signatures))


NOTES = {size: _checkpoint_note(size) for size in (1, 7, SIZE)}
SEEDS = [
    format_tlog_proof(TlogProof(i, tuple(TREE.inclusion_proof(i, s)), NOTES[s], extra=extra))
    for i, s, extra in [(0, 1, b""), (3, 7, b"extra data"), (20, SIZE, b""), (9, SIZE, b"\x00")]
]

_INTERESTING = [
    b"\n",
    b"\n\n",
    b"\r",
    b" ",
    b"=",
    b"+",
    b"/",
    b"-",
    b"0",
    b"extra ",
    b"index ",
    b"c2sp.org/tlog-proof@v1\n",
    b"\xe2\x80\x94 ",
    b"\xff",
    b"\x00",
]


def parses_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        parse_tlog_proof(data)


@fuzz_settings
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    parses_or_format_error(data)


@fuzz_settings
@given(mutations(SEEDS, _INTERESTING))
def test_mutated(data: bytes) -> None:
    parses_or_format_error(data)


@fuzz_settings
@given(
    st.lists(
        st.sampled_from(
            [
                "c2sp.org/tlog-proof@v1",
                "c2sp.org/tlog-proof@v2",
                "extra YQ==",
                "extra ",
                "index 0",
                "index 18446744073709551615",
                "index 01",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
                "",
            ]
        ),
        max_size=6,
    ).map("\n".join),
    st.sampled_from([*NOTES.values(), b"", b"x\n", b"x\n\n\xe2\x80\x94 k AAAAAAA=\n"]),
)
def test_random_lines(head: str, note: bytes) -> None:
    parses_or_format_error(head.encode() + b"\n\n" + note)


@roundtrip_settings
@given(
    index=st.integers(0, 2**64 - 1),
    hashes=st.lists(st.binary(min_size=32, max_size=32), max_size=64).map(tuple),
    note=st.sampled_from(list(NOTES.values())),
    extra=st.binary(max_size=100),
)
def test_round_trip(index: int, hashes: tuple[bytes, ...], note: bytes, extra: bytes) -> None:
    proof = TlogProof(index, hashes, note, extra)
    data = format_tlog_proof(proof)
    assert parse_tlog_proof(data) == proof
    assert format_tlog_proof(parse_tlog_proof(data)) == data


def _verify(proof: TlogProof, leaf_hash: bytes) -> None:
    verify_tlog_proof(
        proof,
        leaf_hash,
        origin="example.com/log",
        log_verifier=LOG.verifier(),
        cosigners=[WITNESS.verifier()],
    )


@roundtrip_settings
@given(st.integers(0, SIZE - 1), st.data())
def test_generated_proofs_verify_and_bit_flips_fail(index: int, data: st.DataObject) -> None:
    proof = TlogProof(index, tuple(TREE.inclusion_proof(index, SIZE)), NOTES[SIZE])
    encoded = format_tlog_proof(proof)
    leaf_hash = hash_leaf(b"%d" % index)
    _verify(parse_tlog_proof(encoded), leaf_hash)
    # One bit flipped anywhere but in the unsigned part after the log's
    # signature line's key name (unknown-key lines are ignored by design).
    position = data.draw(st.integers(0, len(encoded) - 1))
    bit = data.draw(st.integers(0, 7))
    mutated = bytearray(encoded)
    mutated[position] ^= 1 << bit
    try:
        _verify(parse_tlog_proof(bytes(mutated)), leaf_hash)
    except (FormatError, VerificationError):
        return
    # Accepted: only possible if the flip hit a signature line's key name or
    # key ID, turning it into an ignored unknown-key line (not the log's line,
    # whose signature is required).
    witness_line = encoded.rindex(b"\n", 0, len(encoded) - 1)
    assert position > witness_line, f"flip at {position} (bit {bit}) was accepted"
