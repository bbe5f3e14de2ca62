"""Admission of entries: every refusal has its own class and a precise message."""

from __future__ import annotations

import json

import pytest

from logsupport import entry_bytes, envelope, signer, statement
from vigil.core.cosignature import generate_cosigner
from vigil.core.dsse import DsseSignature, Envelope, format_envelope
from vigil.core.merkle import hash_leaf
from vigil.errors import FormatError, SignatureError
from vigil.log.config import Limits
from vigil.log.entry import EntryValidator
from vigil.log.errors import InvalidStatementError, TooLargeError, UnknownKindError
from vigil.log.kinds import IndexKey, Kind, KindRegistry, default_registry


def validator(**limits: int) -> EntryValidator:
    return EntryValidator(limits=Limits(**limits), registry=default_registry())


def test_valid_entry_is_stored_canonically_with_search_keys() -> None:
    alice, bob = signer("alice.example"), signer("bob.example")
    data = format_envelope(envelope(statement("pkg"), [alice, bob]))
    spaced = json.dumps(json.loads(data), indent=2).encode()  # another spelling
    admitted = validator().validate(spaced)
    assert admitted.data == data
    assert admitted.leaf_hash == hash_leaf(data)
    digest = json.loads(statement("pkg"))["subject"][0]["digest"]["sha256"]
    assert admitted.index_keys == (
        IndexKey("digest", f"sha256:{digest}"),
        IndexKey("signer", alice.vkey),
        IndexKey("signer", bob.vkey),
    )


def test_bad_signature_is_refused() -> None:
    alice = signer()
    good = envelope(statement("pkg"), [alice])
    forged = Envelope(
        good.payload_type,
        good.payload,
        (DsseSignature(good.signatures[0].keyid, bytes(64)),),
    )
    with pytest.raises(SignatureError, match=r"signature 0 by alice.example\+[0-9a-f]{8}"):
        validator().validate(format_envelope(forged))


def test_signature_over_another_payload_is_refused() -> None:
    alice = signer()
    other = envelope(statement("other"), [alice])
    mixed = Envelope(other.payload_type, statement("pkg"), other.signatures)
    with pytest.raises(SignatureError):
        validator().validate(format_envelope(mixed))


def test_one_bad_signature_among_good_ones_is_refused() -> None:
    good = envelope(statement("pkg"), [signer("a.example"), signer("b.example")])
    bad = Envelope(
        good.payload_type,
        good.payload,
        (good.signatures[0], DsseSignature(good.signatures[1].keyid, bytes(64))),
    )
    with pytest.raises(SignatureError, match="signature 1"):
        validator().validate(format_envelope(bad))


def test_keyid_must_be_a_verifier_key() -> None:
    alice = signer()
    good = envelope(statement("pkg"), [alice])
    short = Envelope(
        good.payload_type,
        good.payload,
        (DsseSignature(f"{alice.name}+{alice.key_hash.hex()}", good.signatures[0].sig),),
    )
    with pytest.raises(FormatError, match="keyid: want the signer's verifier key"):
        validator().validate(format_envelope(short))


def test_cosigner_keys_cannot_sign_entries() -> None:
    cosigner = generate_cosigner("witness.example", seed=bytes(32))
    good = envelope(statement("pkg"), [signer()])
    odd = Envelope(
        good.payload_type, good.payload, (DsseSignature(cosigner.vkey, bytes(64)),)
    )
    with pytest.raises(FormatError, match="not an Ed25519"):
        validator().validate(format_envelope(odd))


def test_too_many_signatures() -> None:
    signers = [signer("s.example", n) for n in range(3)]
    data = format_envelope(envelope(statement("pkg"), signers))
    with pytest.raises(FormatError, match="got 3 signatures, want at most 2"):
        validator(max_signatures=2).validate(data)


def test_second_signature_by_the_same_key() -> None:
    alice = signer()
    good = envelope(statement("pkg"), [alice])
    twice = Envelope(good.payload_type, good.payload, good.signatures * 2)
    with pytest.raises(FormatError, match="second signature by key"):
        validator().validate(format_envelope(twice))


def test_unknown_kind() -> None:
    data = entry_bytes("pkg", predicate_type="https://example.com/other/v1")
    with pytest.raises(UnknownKindError, match=r"https://example\.com/other/v1.*not accepted"):
        validator().validate(data)


def test_invalid_artifact_predicate() -> None:
    with pytest.raises(InvalidStatementError, match=r"unknown field\(s\) 'extra'"):
        validator().validate(entry_bytes("pkg", predicate={"extra": 1}))
    with pytest.raises(InvalidStatementError, match="description"):
        validator().validate(entry_bytes("pkg", predicate={"description": 5}))


def test_payload_must_be_an_in_toto_statement() -> None:
    data = format_envelope(envelope(b"not json", [signer()]))
    with pytest.raises(InvalidStatementError, match="in-toto statement"):
        validator().validate(data)
    other_type = format_envelope(envelope(statement("pkg"), [signer()], payload_type="text/x"))
    with pytest.raises(InvalidStatementError, match="payloadType"):
        validator().validate(other_type)


def test_malformed_envelopes() -> None:
    for data in (b"", b"{", b"[]", b'{"payload":"x"}', b"\xff"):
        with pytest.raises(FormatError):
            validator().validate(data)


def test_size_caps() -> None:
    data = entry_bytes("pkg", predicate={"description": "x" * 3000})
    with pytest.raises(TooLargeError, match="canonical envelope is"):
        validator(max_entry_bytes=2000).validate(data)
    with pytest.raises(TooLargeError, match="exceeds the limit"):
        validator(max_entry_bytes=100).validate(b" " * 10_000)


def test_registry_rejects_duplicate_kinds_and_extracts_repository() -> None:
    registry = KindRegistry()
    kind = Kind("repo", "https://example.com/repo/v1", lambda s: "opensuse/tumbleweed")
    registry.register(kind)
    with pytest.raises(ValueError, match="taken"):
        registry.register(kind)
    admitted = EntryValidator(limits=Limits(), registry=registry).validate(
        entry_bytes("pkg", predicate_type="https://example.com/repo/v1")
    )
    assert IndexKey("repository", "opensuse/tumbleweed") in admitted.index_keys
