"""Unit tests for vigil.core.dsse (DSSE envelopes, thresholds)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from vigil.core.dsse import (
    PAYLOAD_TYPE_INTOTO,
    DsseSignature,
    Envelope,
    VerificationResult,
    VerifiedEnvelope,
    add_signatures,
    evaluate_envelope,
    format_envelope,
    keyid_key_id,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from vigil.core.note import Ed25519Signer, Ed25519Verifier, format_key_id, generate_signer
from vigil.errors import FormatError, SignatureError, ThresholdError


@dataclass(frozen=True)
class Key:
    signer: Ed25519Signer
    verifier: Ed25519Verifier


def make_key(name: str, seed_byte: int) -> Key:
    signer = generate_signer(name, bytes([seed_byte]) * 32)
    return Key(signer, signer.verifier())


PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def envelope_json(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "payload": b64(PAYLOAD),
        "payloadType": PAYLOAD_TYPE_INTOTO,
        "signatures": [{"keyid": "alice+01020304", "sig": b64(b"\x01" * 64)}],
    }
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return doc


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# PAE (protocol.md) -------------------------------------------------------------------


def test_pae_spec_vector() -> None:
    # DSSE protocol.md "Test vectors".
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    # "é" is 2 bytes, "€" 3 bytes, "𝄞" 4 bytes in UTF-8: 9 bytes, 3 characters.
    assert pae("é€𝄞", "ü".encode()) == b"DSSEv1 9 " + "é€𝄞".encode() + b" 2 \xc3\xbc"


def test_pae_empty_and_binary() -> None:
    assert pae("t", b"") == b"DSSEv1 1 t 0 "
    assert pae("t", b"\x00 \n") == b"DSSEv1 1 t 3 \x00 \n"


def test_pae_rejects_lone_surrogate() -> None:
    with pytest.raises(FormatError, match="surrogate"):
        pae("\ud800", b"")


# Parsing and formatting --------------------------------------------------------------


def test_parse_minimal_envelope() -> None:
    env = parse_envelope(encode(envelope_json()))
    assert env.payload == PAYLOAD
    assert env.payload_type == PAYLOAD_TYPE_INTOTO
    assert env.signatures == (DsseSignature("alice+01020304", b"\x01" * 64),)


def test_missing_keyid_means_empty() -> None:
    env = parse_envelope(encode(envelope_json(signatures=[{"sig": b64(b"x")}])))
    assert env.signatures[0].keyid == ""


def test_empty_payload_and_sig_allowed() -> None:
    env = parse_envelope(encode(envelope_json(payload="", signatures=[{"sig": ""}])))
    assert env.payload == b""
    assert env.signatures[0].sig == b""


def test_format_round_trip() -> None:
    env = Envelope(
        "application/x-ü",
        b"\x00\xffpayload",
        (DsseSignature("a+00000000", b"s1"), DsseSignature("", b"")),
    )
    data = format_envelope(env)
    assert data.startswith(b'{"payload":"')
    assert parse_envelope(data) == env
    assert format_envelope(parse_envelope(data)) == data


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (envelope_json(extra=1), "unknown field(s) 'extra'"),
        (envelope_json(payloadUtf8="x"), "unknown field(s) 'payloadUtf8'"),
        (envelope_json(payload=...), "missing required field 'payload'"),
        (envelope_json(payloadType=...), "missing required field 'payloadType'"),
        (envelope_json(signatures=...), "missing required field 'signatures'"),
        (envelope_json(payloadType=""), "payloadType: want a non-empty string"),
        (envelope_json(payloadType=1), "payloadType: want a string"),
        (envelope_json(payload=5), "payload: want a string"),
        (envelope_json(payload="-_8="), "invalid base64"),  # URL-safe
        (envelope_json(payload="YQ"), "invalid base64"),  # no padding
        (envelope_json(payload="YR=="), "not canonical"),  # non-zero trailing bits
        (envelope_json(payload="YQ==\n"), "invalid base64"),
        (envelope_json(payload=" YQ=="), "invalid base64"),
        (envelope_json(signatures={}), "signatures: want an array"),
        (envelope_json(signatures=[]), "want at least one signature"),
        (envelope_json(signatures=["x"]), "signature 0: want an object"),
        (envelope_json(signatures=[{"keyid": "a"}]), "missing required field 'sig'"),
        (envelope_json(signatures=[{"sig": "", "keyid": 3}]), "keyid: want a string"),
        (envelope_json(signatures=[{"sig": 3}]), "sig: want a string"),
        (envelope_json(signatures=[{"sig": "_w=="}]), "invalid base64"),
        (envelope_json(signatures=[{"sig": "", "cert": "x"}]), "unknown field(s) 'cert'"),
        (envelope_json(payloadType="\ud800"), "surrogate"),
        (envelope_json(signatures=[{"sig": "", "keyid": "\udfff"}]), "surrogate"),
    ],
)
def test_parse_rejects(doc: Any, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_envelope(encode(doc))
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b"\xfe\xff",
        b'{"payload": "", "payload": "", "payloadType": "t", "signatures": [{"sig": ""}]}',
        b'{"payload": "", "payloadType": "t", "signatures": [{"sig": "", "sig": ""}]}',
        b'{"payload": ' + b"9" * 5000 + b"}",
        b"[" * 100000,
    ],
)
def test_parse_rejects_bad_json(raw: bytes) -> None:
    with pytest.raises(FormatError):
        parse_envelope(raw)


def test_caps() -> None:
    data = encode(envelope_json(signatures=[{"sig": ""}] * 3))
    with pytest.raises(FormatError, match="exceeds the limit"):
        parse_envelope(data, max_bytes=len(data) - 1)
    with pytest.raises(FormatError, match="got 3 signatures, want at most 2"):
        parse_envelope(data, max_signatures=2)
    assert len(parse_envelope(data, max_bytes=len(data), max_signatures=3).signatures) == 3


def test_model_invariants() -> None:
    with pytest.raises(FormatError, match="non-empty tuple"):
        Envelope("t", b"", ())
    with pytest.raises(FormatError, match="payloadType"):
        Envelope("", b"", (DsseSignature("", b""),))
    with pytest.raises(FormatError, match="payload: want bytes"):
        Envelope("t", "text", (DsseSignature("", b""),))  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="sig must be bytes"):
        DsseSignature("", "sig")  # type: ignore[arg-type]


# Signing and verification ------------------------------------------------------------


ALICE = make_key("alice", 1)
BOB = make_key("bob", 2)
CAROL = make_key("carol", 3)
MALLORY = make_key("mallory", 4)


def test_sign_and_verify_single() -> None:
    env = sign_envelope(PAYLOAD_TYPE_INTOTO, PAYLOAD, [ALICE.signer])
    assert env.signatures[0].keyid == ALICE.signer.vkey
    assert keyid_key_id(env.signatures[0].keyid) == format_key_id("alice", ALICE.signer.key_hash)
    assert ALICE.verifier.verify(pae(PAYLOAD_TYPE_INTOTO, PAYLOAD), env.signatures[0].sig)
    verified = verify_envelope(env, [ALICE.verifier])
    assert verified.payload == PAYLOAD
    assert verified.payload_type == PAYLOAD_TYPE_INTOTO
    assert verified.signed == ("alice",)
    assert verified.envelope is env


def test_sign_and_verify_threshold_after_format_round_trip() -> None:
    env = sign_envelope(PAYLOAD_TYPE_INTOTO, PAYLOAD, [ALICE.signer, BOB.signer])
    env = add_signatures(env, [CAROL.signer])
    env = parse_envelope(format_envelope(env))
    verifiers = [ALICE.verifier, BOB.verifier, CAROL.verifier]
    verified = verify_envelope(env, verifiers, threshold=3)
    assert verified.signed == ("alice", "bob", "carol")


def test_sign_requires_signers_and_type() -> None:
    with pytest.raises(ValueError, match="at least one signer"):
        sign_envelope("t", b"", [])
    with pytest.raises(FormatError, match="non-empty"):
        sign_envelope("", b"", [ALICE.signer])


def test_threshold_must_be_positive() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer])
    with pytest.raises(ValueError, match="at least 1"):
        verify_envelope(env, [ALICE.verifier], threshold=0)
    with pytest.raises(ValueError, match="at least 1"):
        VerificationResult(threshold=0, signed=(), missing=())


def test_result_object() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer, BOB.signer])
    result = evaluate_envelope(env, [ALICE.verifier, BOB.verifier, CAROL.verifier], threshold=2)
    assert result.met
    assert result.signed == ("alice", "bob")
    assert result.missing == ("carol",)
    assert result.invalid == ()


# Threshold abuse (each fails without the check it targets) -------------------------------


def test_k_minus_one_of_k_fails_and_lists_who_signed() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer, BOB.signer])
    with pytest.raises(ThresholdError) as info:
        verify_envelope(env, [ALICE.verifier, BOB.verifier, CAROL.verifier], threshold=3)
    message = str(info.value)
    assert "2 of 3 required signatures" in message
    assert "signed: alice, bob" in message
    assert "unsigned: carol" in message


def test_duplicate_signature_counts_once() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer])
    doubled = Envelope(env.payload_type, env.payload, env.signatures * 2)
    result = evaluate_envelope(doubled, [ALICE.verifier, BOB.verifier], threshold=2)
    assert not result.met
    assert result.signed == ("alice",)
    with pytest.raises(ThresholdError, match="1 of 2"):
        verify_envelope(doubled, [ALICE.verifier, BOB.verifier], threshold=2)


def test_same_key_under_two_keyids_counts_once() -> None:
    # The same public key trusted under two names (so two keyids): one key.
    alias = make_key("alice-alias", 1)
    assert alias.verifier.key_hash != ALICE.verifier.key_hash
    env = sign_envelope("t", b"x", [ALICE.signer, alias.signer])
    assert len({s.keyid for s in env.signatures}) == 2
    result = evaluate_envelope(env, [ALICE.verifier, alias.verifier], threshold=2)
    assert not result.met
    assert result.signed == ("alice",)
    with pytest.raises(ThresholdError, match="1 of 2 required"):
        verify_envelope(env, [ALICE.verifier, alias.verifier, BOB.verifier], threshold=2)


def test_same_signature_relabelled_with_other_keyid_counts_once() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer])
    relabelled = DsseSignature(format_key_id("bob", BOB.signer.key_hash), env.signatures[0].sig)
    forged = Envelope("t", b"x", (env.signatures[0], relabelled))
    result = evaluate_envelope(forged, [ALICE.verifier, BOB.verifier], threshold=2)
    assert result.signed == ("alice",)
    assert result.invalid == (relabelled.keyid,)
    with pytest.raises(ThresholdError, match="invalid signatures: bob"):
        verify_envelope(forged, [ALICE.verifier, BOB.verifier], threshold=2)


def test_unknown_key_does_not_count() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer, MALLORY.signer])
    result = evaluate_envelope(env, [ALICE.verifier, BOB.verifier], threshold=2)
    assert result.signed == ("alice",)
    assert result.missing == ("bob",)
    assert result.invalid == ()
    with pytest.raises(ThresholdError):
        verify_envelope(env, [ALICE.verifier, BOB.verifier], threshold=2)


def test_known_name_with_unknown_key_does_not_count() -> None:
    # Mallory's key, named "bob": a different key hash, so a different keyid.
    fake_bob = make_key("bob", 4)
    env = sign_envelope("t", b"x", [fake_bob.signer])
    with pytest.raises(ThresholdError, match="0 of 1 required signatures; signed: nobody"):
        verify_envelope(env, [BOB.verifier])


def test_tampered_payload_fails() -> None:
    env = sign_envelope("t", b"release 1", [ALICE.signer])
    tampered = Envelope("t", b"release 2", env.signatures)
    with pytest.raises(ThresholdError, match="invalid signatures: alice"):
        verify_envelope(tampered, [ALICE.verifier])


def test_tampered_payload_type_fails() -> None:
    env = sign_envelope("application/a", b"x", [ALICE.signer])
    tampered = Envelope("application/b", b"x", env.signatures)
    with pytest.raises(ThresholdError):
        verify_envelope(tampered, [ALICE.verifier])


def test_type_and_payload_boundary_is_bound() -> None:
    # Without length prefixes "a b" + "c" and "a" + "b c" would collide.
    env = sign_envelope("a b", b"c", [ALICE.signer])
    with pytest.raises(ThresholdError):
        verify_envelope(Envelope("a", b"b c", env.signatures), [ALICE.verifier])


def test_signature_without_keyid_does_not_count() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer])
    anonymous = Envelope("t", b"x", (DsseSignature("", env.signatures[0].sig),))
    with pytest.raises(ThresholdError):
        verify_envelope(anonymous, [ALICE.verifier])


def test_no_verifiers() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer])
    with pytest.raises(ThresholdError, match="0 of 1"):
        verify_envelope(env, [])


def test_threshold_error_is_a_signature_error() -> None:
    assert issubclass(ThresholdError, SignatureError)


def test_bad_signature_does_not_block_met_threshold() -> None:
    # protocol.md: failed signatures are skipped, the threshold decides.
    env = sign_envelope("t", b"x", [ALICE.signer, BOB.signer])
    bad = DsseSignature(env.signatures[1].keyid, bytes(64))
    mixed = Envelope("t", b"x", (env.signatures[0], bad))
    result = evaluate_envelope(mixed, [ALICE.verifier, BOB.verifier], threshold=1)
    assert result.met
    assert result.invalid == (bad.keyid,)


def test_verified_envelope_only_from_verify() -> None:
    env = sign_envelope("t", b"x", [ALICE.signer])
    with pytest.raises(TypeError, match="only by verify_envelope"):
        VerifiedEnvelope(env, ("alice",), object())


def test_keyid_embedded_key_is_only_a_hint() -> None:
    # Attack: Mallory signs with her own key but writes a keyid that starts with
    # Alice's key ID and embeds Mallory's public key. Only the trusted verifier for
    # "alice+hash" is used, so Mallory's signature counts for nobody.
    alice = make_key("alice", 1)
    mallory = make_key("alice", 2)  # same name, different key
    forged = sign_envelope(PAYLOAD_TYPE_INTOTO, PAYLOAD, [mallory.signer])
    alice_id = format_key_id("alice", alice.signer.key_hash)
    hint = alice_id + "+" + mallory.signer.vkey.split("+", 2)[2]
    relabelled = Envelope(
        forged.payload_type, forged.payload, (DsseSignature(hint, forged.signatures[0].sig),)
    )
    result = evaluate_envelope(relabelled, [alice.verifier])
    assert not result.met
    assert result.invalid == (hint,)
    with pytest.raises(ThresholdError, match="0 of 1"):
        verify_envelope(relabelled, [alice.verifier])


def test_keyid_key_id_forms() -> None:
    assert keyid_key_id("alice+01020304") == "alice+01020304"
    assert keyid_key_id("alice+01020304+AAAA+BBB=") == "alice+01020304"
    assert keyid_key_id("") == ""


def test_format_envelope_writes_what_json_dumps_writes_for_every_character() -> None:
    """format_envelope uses orjson; the encoding it must match is json.dumps(...,
    ensure_ascii=False, separators=(",", ":")), for every encodable code point."""
    text = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    chunks = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    envelope = Envelope(
        payload_type=text[:300],
        payload=bytes(range(256)),
        signatures=tuple(DsseSignature(keyid=chunk, sig=b"\x00\xff") for chunk in chunks),
    )
    reference = {
        "payload": base64.b64encode(envelope.payload).decode(),
        "payloadType": envelope.payload_type,
        "signatures": [
            {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in envelope.signatures
        ],
    }
    want = json.dumps(reference, ensure_ascii=False, separators=(",", ":")).encode()
    assert format_envelope(envelope) == want
