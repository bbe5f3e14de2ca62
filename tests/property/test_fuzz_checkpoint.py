"""Fuzzing checkpoints and cosignatures: total parsers, exact round trips.

``parse_checkpoint`` and ``parse_cosignature`` either return a value or raise
FormatError for any input; the cosignature verifier returns a bool for any
bytes. Whatever parses formats back to the same text, and every generated
checkpoint cosigns and verifies.
"""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import fuzz_settings
from vigil.core.checkpoint import Checkpoint, format_checkpoint, parse_checkpoint
from vigil.core.cosignature import (
    MAX_TIMESTAMP,
    CosignatureVerifier,
    generate_cosigner,
    parse_cosignature,
    verify_cosignature,
)
from vigil.core.note import Note, Signature, format_note, parse_note, verify_note
from vigil.errors import FormatError, SignatureError

HASH_B64 = "lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0="
SEED_TEXTS = [
    f"rome2026h1.example.org\n300\n{HASH_B64}\n",
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n",
    f"log\n0\n{HASH_B64}\next one\next two\n",
    f"o\n18446744073709551615\n{HASH_B64}\n",
]
INTERESTING = "\n \t\r+=/-_0123456789Aa—\x00\x7f\u00a0\u2028٣"
WITNESS = CosignatureVerifier(
    "witness.example.org",
    bytes.fromhex("52cddf28a449f16454026dae787f0a2637668ce4a32edc969f8fed7076f2a50d"),
)
COSIGNER = generate_cosigner("w.example", bytes(32))

LINE_CHARS = st.characters(
    exclude_categories=("Cs",), exclude_characters=[chr(c) for c in range(0x20)]
)
LINES = st.text(LINE_CHARS, min_size=1, max_size=40)
CHECKPOINTS = st.builds(
    Checkpoint,
    LINES,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(LINES, max_size=5).map(tuple),
)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A valid checkpoint text with a few character-level mutations."""
    chars = list(draw(st.sampled_from(SEED_TEXTS)))
    char = st.one_of(st.sampled_from(INTERESTING), st.characters(exclude_categories=("Cs",)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "insert", "delete", "duplicate", "truncate"]))
        pos = draw(st.integers(0, len(chars)))
        if op == "set" and pos < len(chars):
            chars[pos] = draw(char)
        elif op == "insert":
            chars[pos:pos] = draw(st.lists(char, min_size=1, max_size=6))
        elif op == "delete":
            del chars[pos : pos + draw(st.integers(1, 6))]
        elif op == "duplicate":
            chars[pos:pos] = chars[pos : pos + draw(st.integers(1, 60))]
        elif op == "truncate":
            del chars[pos:]
    return "".join(chars)


def _check_checkpoint_text(text: str) -> None:
    try:
        checkpoint = parse_checkpoint(text)
    except FormatError:
        return
    assert format_checkpoint(checkpoint) == text


@fuzz_settings
@given(st.text(max_size=200))
def test_parse_checkpoint_random_text(text: str) -> None:
    _check_checkpoint_text(text)


@fuzz_settings
@given(mutated_text())
def test_parse_checkpoint_mutations(text: str) -> None:
    _check_checkpoint_text(text)


@fuzz_settings
@given(CHECKPOINTS)
def test_checkpoint_round_trip(checkpoint: Checkpoint) -> None:
    text = format_checkpoint(checkpoint)
    assert parse_checkpoint(text) == checkpoint
    assert text.endswith("\n")
    assert text.count("\n") == 3 + len(checkpoint.extensions)


@fuzz_settings
@given(st.binary(min_size=1, max_size=100), st.binary(min_size=4, max_size=4))
def test_parse_cosignature_total(body: bytes, key_hash: bytes) -> None:
    sig = Signature("w.example", key_hash, body)
    try:
        cosignature = parse_cosignature(sig)
    except FormatError:
        assert len(body) != 72 or int.from_bytes(body[:8], "big") > MAX_TIMESTAMP
        return
    assert cosignature.to_bytes() == body


@fuzz_settings
@given(st.binary(max_size=200), st.binary(max_size=100))
def test_cosignature_verifier_total(msg: bytes, sig: bytes) -> None:
    assert WITNESS.verify(msg, sig) is False
    assert isinstance(WITNESS.describe_failure(sig), str)


@fuzz_settings
@given(mutated_text(), st.binary(min_size=72, max_size=72))
def test_cosigned_note_mutations(text: str, body: bytes) -> None:
    # Random cosignature lines under a known key over mutated texts: a
    # FormatError (text or line) or a SignatureError, nothing else.
    data = text + "\n— w.example " + base64.b64encode(COSIGNER.key_hash + body).decode() + "\n"
    try:
        verify_note(data.encode(), [COSIGNER.verifier()])
    except (FormatError, SignatureError):
        return
    raise AssertionError("a random cosignature verified")


@settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 500))
@given(CHECKPOINTS, st.integers(0, MAX_TIMESTAMP))
def test_cosign_verify_round_trip(checkpoint: Checkpoint, timestamp: int) -> None:
    sig = COSIGNER.sign_checkpoint(checkpoint, timestamp)
    text = format_checkpoint(checkpoint)
    assert verify_cosignature(text, sig, COSIGNER.verifier()) == timestamp
    data = format_note(Note(text, (sig,)))
    assert parse_note(data).signatures == (sig,)
    result = verify_note(data, [COSIGNER.verifier()])
    assert result.verified[0].timestamp == timestamp
    assert parse_checkpoint(result.text) == checkpoint
