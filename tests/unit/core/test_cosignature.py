"""Cosignatures (c2sp.org/tlog-cosignature v1, type 0x04): vectors.md §4.4, §5."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    cosigned_message,
    generate_cosigner,
    parse_cosignature,
    parse_cosigner_key,
    verify_cosignature,
)
from vigil.core.note import (
    Ed25519Signer,
    Note,
    Signature,
    format_note,
    format_signature_line,
    generate_signer,
    parse_note,
    parse_signature_line,
    parse_verifier_key,
    sign_note,
    verify_note,
)
from vigil.errors import FormatError, SignatureError, UnsupportedError

SKYLIGHT = "sunlight-skylight-testdata"
WITNESS_CHECKPOINT = (
    "witness/000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706/checkpoint"
)
WITNESS2_CHECKPOINT = (
    "witness2/88ad7a28caeb0b2aa890fdf0304c2fcaf59fca2ee140134ff8c1300bac493482/checkpoint"
)
MIRROR_CHECKPOINT = (
    "witness/mirror/000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706/checkpoint"
)
TIMESTAMP = 1767139200  # 2025-12-31T00:00:00Z, from sunlight cmd/skylight/testdata/gen.go

# (seed string, pubkey hex, vkey, file, signature line) — vectors.md §5.
COSIGNERS = {
    "witness.example.org": (
        "skylight test witness key",
        "52cddf28a449f16454026dae787f0a2637668ce4a32edc969f8fed7076f2a50d",
        "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN",
        WITNESS_CHECKPOINT,
        "— witness.example.org uKLPIAAAAABpVGeAhm2bOvKc3LaB9PFN1ruG19Y5yqslmcAAbhftnn1Zznmo0LXFZq4L"
        "GvqKqLX8jWlwLKasxEGTLIqAVusneCBmBw==",
    ),
    "witness2.example.org": (
        "skylight test witness2 key",
        "867b7e971e41677ad087ea41e4bd2009e634e0998cc0e77bc959ba0bb3fdb8bd",
        "witness2.example.org+2e55b896+BIZ7fpceQWd60IfqQeS9IAnmNOCZjMDne8lZuguz/bi9",
        WITNESS2_CHECKPOINT,
        "— witness2.example.org LlW4lgAAAABpVGeAN/uFWqfjdU94rrKxFycCggM0Sa1L5tOJCJdYBwJ41CQsgKWA6B0"
        "+vywok3cPI3JIzuPeR+VotuYe/eNy0+30Dw==",
    ),
    "mirror.example.org": (
        "skylight test mirror key",
        "00238dc87d1b2633d2c26c271ec02e16dd02dcf6a2fd2e9dbcd2975bcca7de0e",
        "mirror.example.org+3fb148ef+BAAjjch9GyYz0sJsJx7ALhbdAtz2ov0unbzSl1vMp94O",
        MIRROR_CHECKPOINT,
        "— mirror.example.org P7FI7wAAAABpVGeAjA1S4pJm6MbcXjX7UUImu4azZtrfcVW2uyr/LXIYlwEJzXC0N0Ei"
        "ZkbqfLdXt/4gVEEuGmxJjAfXKMCISpsJAg==",
    ),
}
ROME_TEXT = "rome2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n"
HASH_B64 = "lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0="

# transparency-dev/formats note/note_cosigv1_test.go.
TIMESTAMP_VECTOR = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJ"
    "XORmnFBOBA=="
)
WRONG_TYPE_VECTOR = (
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)


def _cosigner(name: str) -> CosignatureSigner:
    seed = hashlib.sha256(COSIGNERS[name][0].encode()).digest()
    return CosignatureSigner(name, seed)


def _signature(b64: str, name: str = "x.example") -> Signature:
    raw = base64.b64decode(b64)
    return Signature(name, raw[:4], raw[4:])


class TestSkylightVectors:
    @pytest.mark.parametrize("name", sorted(COSIGNERS))
    def test_keys_from_seeds(self, name: str) -> None:
        _, pub_hex, vkey, _, _ = COSIGNERS[name]
        cosigner = _cosigner(name)
        assert cosigner.public_key.hex() == pub_hex
        assert cosigner.vkey == vkey
        verifier = parse_verifier_key(vkey)
        assert isinstance(verifier, CosignatureVerifier)
        assert verifier == cosigner.verifier()
        assert verifier.vkey == vkey

    @pytest.mark.parametrize("name", sorted(COSIGNERS))
    def test_checkpoint_files_verify(self, vectors_dir: Path, name: str) -> None:
        _, _, vkey, path, line = COSIGNERS[name]
        data = (vectors_dir / SKYLIGHT / path).read_bytes()
        result = verify_note(data, [parse_verifier_key(vkey)])
        assert [(s.name, s.timestamp) for s in result.verified] == [(name, TIMESTAMP)]
        assert format_signature_line(parse_note(data).signatures[-1]) == line

    @pytest.mark.parametrize("name", sorted(COSIGNERS))
    def test_resigning_reproduces_line(self, vectors_dir: Path, name: str) -> None:
        _, _, _, path, line = COSIGNERS[name]
        text = parse_note((vectors_dir / SKYLIGHT / path).read_bytes()).text
        signature = _cosigner(name).sign_checkpoint(text, TIMESTAMP)
        assert format_signature_line(signature) == line

    def test_witness_line_decoding(self) -> None:
        sig = parse_signature_line(COSIGNERS["witness.example.org"][4])
        assert sig.key_hash.hex() == "b8a2cf20"
        assert len(sig.signature) == 72
        assert sig.signature[:8].hex() == "0000000069546780"
        cosig = parse_cosignature(sig)
        assert cosig.timestamp == TIMESTAMP
        assert cosig.to_bytes() == sig.signature

    def test_signed_message(self) -> None:
        assert cosigned_message(ROME_TEXT, TIMESTAMP) == (
            b"cosignature/v1\ntime 1767139200\n"
            b"rome2026h1.example.org\n300\nlCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=\n"
        )
        sig = parse_cosignature(parse_signature_line(COSIGNERS["witness.example.org"][4]))
        pub = _cosigner("witness.example.org").public_key
        import nacl.signing

        nacl.signing.VerifyKey(pub).verify(cosigned_message(ROME_TEXT, TIMESTAMP), sig.signature)

    def test_ecdsa_sth_line_is_ignored(self, vectors_dir: Path) -> None:
        # §5.1: the RFC 6962 STH (type 0x05) line parses and is left unverified.
        data = (vectors_dir / SKYLIGHT / WITNESS_CHECKPOINT).read_bytes()
        result = verify_note(data, [_cosigner("witness.example.org").verifier()])
        assert [s.key_id for s in result.unverified] == ["rome2026h1.example.org+91507526"]
        tree = (vectors_dir / SKYLIGHT / "tree/checkpoint").read_bytes()
        assert len(parse_note(tree).signatures) == 1
        with pytest.raises(SignatureError, match="no signature by a trusted key"):
            verify_note(tree, [_cosigner("witness.example.org").verifier()])

    def test_cosignature_for_other_checkpoint_fails(self, vectors_dir: Path) -> None:
        # witness2 cosigned the milan checkpoint; moving its line to rome fails.
        line = COSIGNERS["witness2.example.org"][4]
        data = (ROME_TEXT + "\n" + line + "\n").encode()
        with pytest.raises(SignatureError, match=r"witness2\.example\.org\+2e55b896"):
            verify_note(data, [_cosigner("witness2.example.org").verifier()])


class TestSigsumVector:
    def test_to_cosigned_data(self) -> None:
        # sigsum-py tree_test.py to_cosigned_data(key_hash=ee*32, ts=1234567).
        cp = Checkpoint("sigsum.org/v1/tree/" + "ee" * 32, 10, b"\xcc" * 32)
        assert (
            cosigned_message(format_checkpoint(cp), 1234567)
            == (
                "cosignature/v1\ntime 1234567\nsigsum.org/v1/tree/" + "ee" * 32 + "\n10\n"
                "zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMw=\n"
            ).encode()
        )


class TestTimestampVectors:
    def test_timestamp_decoding(self) -> None:
        sig = _signature(TIMESTAMP_VECTOR)
        assert sig.key_hash.hex() == "646846b9"
        assert parse_cosignature(sig).timestamp == 1727964367

    def test_wrong_type(self) -> None:
        sig = _signature(WRONG_TYPE_VECTOR)
        assert len(sig.signature) == 64
        with pytest.raises(FormatError, match="wrong type"):
            parse_cosignature(sig)

    def test_plain_signature_under_cosignature_key_rejected(self) -> None:
        # The same Ed25519 key signs the text plainly (type 0x01 layout) but the
        # line carries the cosigner's key ID: a known key, the wrong type.
        seed = bytes([7]) * 32
        cosigner = CosignatureSigner("w.example", seed)
        plain = Ed25519Signer("w.example", seed).sign(ROME_TEXT.encode())
        forged = Note(ROME_TEXT, (Signature("w.example", cosigner.key_hash, plain),))
        with pytest.raises(SignatureError, match="plain Ed25519") as info:
            verify_note(forged, [cosigner.verifier()])
        assert "w.example+" + cosigner.key_hash.hex() in str(info.value)
        with pytest.raises(FormatError, match="wrong type"):
            verify_cosignature(ROME_TEXT, forged.signatures[0], cosigner.verifier())

    def test_types_use_different_key_ids(self) -> None:
        seed = bytes([7]) * 32
        cosigner = CosignatureSigner("w.example", seed)
        plain = Ed25519Signer("w.example", seed)
        assert cosigner.key_hash != plain.key_hash
        # A plain verifier for the same key ignores the cosignature entirely.
        sig = cosigner.sign_checkpoint(ROME_TEXT, 5)
        with pytest.raises(SignatureError, match="no signature by a trusted key"):
            verify_note(Note(ROME_TEXT, (sig,)), [plain.verifier()])
        # A plain signature is ignored by the cosignature verifier.
        with pytest.raises(SignatureError, match="no signature by a trusted key"):
            verify_note(sign_note(ROME_TEXT, [plain]), [cosigner.verifier()])


class TestSignVerify:
    def test_round_trip_with_extensions(self) -> None:
        cosigner = generate_cosigner("w.example")
        cp = Checkpoint("log.example", 7, b"\x01" * 32, ("Extendo",))
        sig = cosigner.sign_checkpoint(cp, 1700000000)
        text = format_checkpoint(cp)
        assert verify_cosignature(text, sig, cosigner.verifier()) == 1700000000
        # The extension line is covered.
        with pytest.raises(SignatureError, match="does not verify"):
            verify_cosignature(text.replace("Extendo", "Extend@"), sig, cosigner.verifier())
        with pytest.raises(SignatureError, match="time 1700000000"):
            verify_note(Note(text.replace("Extendo", "Extend@"), (sig,)), [cosigner.verifier()])

    def test_timestamp_is_covered(self) -> None:
        cosigner = generate_cosigner("w.example")
        sig = cosigner.sign_checkpoint(ROME_TEXT, 100)
        moved = Cosignature(101, parse_cosignature(sig).signature).to_bytes()
        with pytest.raises(SignatureError):
            verify_cosignature(
                ROME_TEXT, Signature(sig.name, sig.key_hash, moved), cosigner.verifier()
            )

    def test_timestamp_bounds(self) -> None:
        cosigner = generate_cosigner("w.example")
        for ts in (0, MAX_TIMESTAMP):
            sig = cosigner.sign_checkpoint(ROME_TEXT, ts)
            assert verify_cosignature(ROME_TEXT, sig, cosigner.verifier()) == ts
            assert (
                verify_note(Note(ROME_TEXT, (sig,)), [cosigner.verifier()]).verified[0].timestamp
                == ts
            )
        for bad in (-1, MAX_TIMESTAMP + 1):
            with pytest.raises(FormatError, match="out of range"):
                cosigner.sign_checkpoint(ROME_TEXT, bad)
            with pytest.raises(FormatError, match="out of range"):
                cosigned_message(ROME_TEXT, bad)
        with pytest.raises(TypeError):
            cosigner.sign_checkpoint(ROME_TEXT, True)

    def test_timestamp_over_2_63_in_a_line(self) -> None:
        cosigner = generate_cosigner("w.example")
        body = (2**63).to_bytes(8, "big") + bytes(64)
        sig = Signature("w.example", cosigner.key_hash, body)
        with pytest.raises(FormatError, match="exceeds"):
            parse_cosignature(sig)
        assert not cosigner.verifier().verify(ROME_TEXT.encode(), body)
        with pytest.raises(SignatureError, match="exceeds"):
            verify_note(Note(ROME_TEXT, (sig,)), [cosigner.verifier()])

    def test_only_checkpoints_are_cosigned(self) -> None:
        cosigner = generate_cosigner("w.example")
        for text in ("hello\n", "log\n1\nYmFuYW5hcw==\n", "log\n1\n" + HASH_B64):
            with pytest.raises(FormatError):
                cosigner.sign_checkpoint(text, 1)
        with pytest.raises(TypeError):
            cosigner.sign_checkpoint(ROME_TEXT.encode(), 1)  # type: ignore[arg-type]

    def test_cosigner_is_not_a_note_signer(self) -> None:
        with pytest.raises(TypeError):
            sign_note(ROME_TEXT, [generate_cosigner("w.example")])  # type: ignore[list-item]

    def test_verify_cosignature_wrong_key(self) -> None:
        a, b = generate_cosigner("a.example"), generate_cosigner("b.example")
        sig = a.sign_checkpoint(ROME_TEXT, 1)
        with pytest.raises(SignatureError, match=r"by key a\.example\+"):
            verify_cosignature(ROME_TEXT, sig, b.verifier())
        with pytest.raises(TypeError):
            verify_cosignature(ROME_TEXT, sig, generate_signer("a.example").verifier())  # type: ignore[arg-type]

    def test_two_cosignatures_by_one_key(self) -> None:
        # Both verify; the key is listed once, with its first timestamp.
        cosigner = generate_cosigner("w.example")
        sigs = (cosigner.sign_checkpoint(ROME_TEXT, 2), cosigner.sign_checkpoint(ROME_TEXT, 1))
        result = verify_note(format_note(Note(ROME_TEXT, sigs)), [cosigner.verifier()])
        assert [s.timestamp for s in result.verified] == [2]

    def test_cosignature_model(self) -> None:
        with pytest.raises(FormatError, match="63 bytes"):
            Cosignature(1, bytes(63))
        with pytest.raises(FormatError, match="out of range"):
            Cosignature(-1, bytes(64))
        with pytest.raises(TypeError):
            parse_cosignature(b"\x00" * 76)  # type: ignore[arg-type]


class TestCosignerKeys:
    def test_round_trip(self) -> None:
        cosigner = _cosigner("witness.example.org")
        assert cosigner.skey.startswith("PRIVATE+KEY+witness.example.org+b8a2cf20+B")
        assert parse_cosigner_key(cosigner.skey) == cosigner
        assert cosigner.seed.hex() not in repr(cosigner)

    def test_manglings_rejected(self) -> None:
        skey = _cosigner("witness.example.org").skey
        n = len(skey)
        for i in range(n + 1):
            for j in range(i + 1, n + 1):
                if (i, j) != (0, n):
                    with pytest.raises(FormatError):
                        parse_cosigner_key(skey[i:j])
        raw = bytearray(skey.encode())
        for i in range(len(raw)):
            raw[i] += 1
            with pytest.raises(FormatError):
                parse_cosigner_key(raw.decode())
            raw[i] -= 1

    def test_plain_signer_key_rejected(self) -> None:
        with pytest.raises(UnsupportedError, match="want 0x04"):
            parse_cosigner_key(generate_signer("a.example").skey)

    def test_vkey_wrong_length(self) -> None:
        from vigil.core.note import key_hash

        key = b"\x04" + bytes(31)
        vkey = f"w+{key_hash('w', key).hex()}+{base64.b64encode(key).decode()}"
        with pytest.raises(FormatError, match="31 bytes, want 32"):
            parse_verifier_key(vkey)

    def test_generate_is_random(self) -> None:
        assert generate_cosigner("a").seed != generate_cosigner("a").seed
