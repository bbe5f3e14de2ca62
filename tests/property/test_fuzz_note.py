"""Fuzzing signed notes and keys: parsers are total, formats round-trip exactly.

Every parser either returns a value or raises FormatError (UnsupportedError is
a FormatError); nothing else escapes, for random bytes and for mutations of
valid notes and keys. Whatever parses re-serializes to the very same bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import fuzz_settings
from vigil.core.cosignature import generate_cosigner
from vigil.core.note import (
    Ed25519Verifier,
    Note,
    Signature,
    format_note,
    format_signature_line,
    generate_signer,
    parse_note,
    parse_signature_line,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    verify_note,
)
from vigil.errors import FormatError, SignatureError

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
WITNESS_VKEY = "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
    "33WWd1RvMc+QQ=\n"
)
WITNESS_NOTE = (
    "rome2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n\n"
    "— rome2026h1.example.org kVB1JgAAAZtxtEwABAMARzBFAiEAi+mTa2xjL1IdWpH82OeciGsGvwRAP+f1WkfKaSZ"
    "CfFECIHoNPZ/Q3y6UNzvKOO9cuLr6V16vPNfhwhle9f6r5H/Z\n"
    "— witness.example.org uKLPIAAAAABpVGeAhm2bOvKc3LaB9PFN1ruG19Y5yqslmcAAbhftnn1Zznmo0LXFZq4L"
    "GvqKqLX8jWlwLKasxEGTLIqAVusneCBmBw==\n"
)
SEED_NOTES = [
    (TEXT + "\n" + PETER_SIG).encode(),
    (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(),
    ("a\n\nb\n\n\n" + ENOCH_SIG + PETER_SIG).encode(),
    WITNESS_NOTE.encode(),
]
VERIFIERS = [parse_verifier_key(k) for k in (PETER_VKEY, ENOCH_VKEY, WITNESS_VKEY)]

# Bytes that matter to the grammar: newline, space, '+', '=', base64 letters,
# em dash bytes, control characters, UTF-8 lead/continuation and invalid bytes.
INTERESTING = b"\n \t\r+=/A0aZ\xe2\x80\x94\x00\x01\x1f\x7f\xc2\xa0\xed\xa0\xff\xf4\x90"

# Key-name characters: anything but the forbidden ones.
NAME_CHARS = st.characters(
    exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
    exclude_characters="+\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000",
)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=24)
TEXT_CHARS = st.characters(
    exclude_categories=("Cs",), exclude_characters=[chr(c) for c in range(0x20) if c != 0x0A]
)
TEXTS = st.text(TEXT_CHARS, max_size=200).map(lambda t: t + "\n")
SIGNATURES = st.builds(
    Signature, NAMES, st.binary(min_size=4, max_size=4), st.binary(min_size=1, max_size=120)
)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed input with a few random byte-level mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    byte = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 255))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "duplicate", "truncate"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and pos < len(data):
            data[pos] = draw(byte)
        elif op == "insert":
            data[pos:pos] = bytes(draw(st.lists(byte, min_size=1, max_size=8)))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "duplicate":
            end = min(len(data), pos + draw(st.integers(1, 120)))
            data[pos:pos] = data[pos:end]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


def _total(parse: Callable[[bytes], object], data: bytes) -> object | None:
    try:
        return parse(data)
    except FormatError:
        return None


@fuzz_settings
@given(st.binary(max_size=400))
def test_parse_note_random_bytes(data: bytes) -> None:
    note = _total(parse_note, data)
    if note is not None:
        assert isinstance(note, Note)
        assert format_note(note) == data


@fuzz_settings
@given(mutated(SEED_NOTES))
def test_parse_note_mutations(data: bytes) -> None:
    note = _total(parse_note, data)
    if note is not None:
        assert isinstance(note, Note)
        assert format_note(note) == data


@fuzz_settings
@given(mutated(SEED_NOTES))
def test_verify_note_mutations(data: bytes) -> None:
    try:
        result = verify_note(data, VERIFIERS)
    except (FormatError, SignatureError):
        return
    # Whatever verifies kept its text exactly, and every listed key signed it.
    assert data.startswith(result.text.encode() + b"\n")
    assert result.verified


@fuzz_settings
@given(st.text(max_size=120))
def test_parse_signature_line_random(line: str) -> None:
    sig = _total(lambda s: parse_signature_line(s.decode()), line.encode("utf-8", "surrogatepass"))
    if isinstance(sig, Signature):
        assert format_signature_line(sig) == line


def _decode_key(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@fuzz_settings
@given(
    st.one_of(
        st.text(max_size=100),
        mutated([k.encode() for k in (PETER_VKEY, ENOCH_VKEY, WITNESS_VKEY)]).map(_decode_key),
    )
)
def test_parse_verifier_key_total(vkey: str) -> None:
    try:
        verifier = parse_verifier_key(vkey)
    except FormatError:
        return
    assert verifier.vkey == vkey  # type: ignore[attr-defined]


COSIGNER_SKEY = generate_cosigner("w.example", bytes(32)).skey


@fuzz_settings
@given(
    st.one_of(
        st.text(max_size=100),
        mutated([PETER_SKEY.encode(), COSIGNER_SKEY.encode()]).map(_decode_key),
    )
)
def test_parse_signer_key_total(skey: str) -> None:
    try:
        signer = parse_signer_key(skey)
    except FormatError:
        return
    assert signer.skey == skey


@fuzz_settings
@given(TEXTS, st.lists(SIGNATURES, min_size=1, max_size=20))
def test_note_round_trip(text: str, signatures: list[Signature]) -> None:
    note = Note(text, tuple(signatures))
    assert parse_note(format_note(note)) == note


@settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 500))
@given(NAMES, TEXTS, st.binary(min_size=32, max_size=32))
def test_sign_verify_round_trip(name: str, text: str, seed: bytes) -> None:
    signer = generate_signer(name, seed)
    assert parse_signer_key(signer.skey) == signer
    verifier = parse_verifier_key(signer.vkey)
    assert verifier == signer.verifier()
    data = sign_note(text, [signer])
    result = verify_note(data, [verifier])
    assert result.text == text
    assert [s.key_id for s in result.verified] == [f"{name}+{signer.key_hash.hex()}"]


@settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 500))
@given(NAMES, st.binary(min_size=32, max_size=32))
def test_vkey_round_trip(name: str, public_key: bytes) -> None:
    verifier = Ed25519Verifier(name, public_key)
    assert parse_verifier_key(verifier.vkey) == verifier
    encoded = verifier.vkey.split("+", 2)[2]
    assert base64.b64decode(encoded) == b"\x01" + public_key
