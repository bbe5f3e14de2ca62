"""Signed notes (c2sp.org/signed-note) against Go sumdb/note vectors (vectors.md §4.1, §4.2)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import FrozenInstanceError

import pytest

from vigil.core import note
from vigil.core.cosignature import CosignatureVerifier
from vigil.core.note import (
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    Signature,
    VerifiedNote,
    Verifier,
    format_note,
    format_signature_line,
    generate_signer,
    key_hash,
    parse_note,
    parse_signature_line,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    verify_note,
)
from vigil.errors import ConfigError, FormatError, SignatureError, UnsupportedError

# golang/mod sumdb/note/note_test.go (vectors.md §4.1).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_PUB = bytes.fromhex("1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6")
PETER_SEED = bytes.fromhex("810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173")
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_PUB = bytes.fromhex("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29")
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
PETER_NOTE = (TEXT + "\n" + PETER_SIG).encode()

# C2SP signed-note.md example (vectors.md §4.2).
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmR"
    "KuwHjG1Yu72IneyaQM=\n"
).encode()


@pytest.fixture(scope="module")
def peter() -> Verifier:
    return parse_verifier_key(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> Verifier:
    return parse_verifier_key(ENOCH_VKEY)


def _b(text: str) -> bytes:
    return text.encode()


def _insert_bytes(line: str, offset: int, data: str) -> str:
    """Go's ``s[:offset] + data + s[offset:]``: offsets count UTF-8 bytes."""
    raw = line.encode()
    return (raw[:offset] + data.encode() + raw[offset:]).decode()


# --------------------------------------------------------------------------- #
# Keys
# --------------------------------------------------------------------------- #


class TestKeys:
    def test_peter_vkey_decodes(self, peter: Verifier) -> None:
        assert isinstance(peter, Ed25519Verifier)
        assert peter.name == "PeterNeumann"
        assert peter.key_hash == bytes.fromhex("c74f20a3")
        assert peter.public_key == PETER_PUB
        assert peter.vkey == PETER_VKEY

    def test_key_hash_definition(self) -> None:
        want = hashlib.sha256(b"PeterNeumann\n\x01" + PETER_PUB).digest()[:4]
        assert key_hash("PeterNeumann", b"\x01" + PETER_PUB) == want == bytes.fromhex("c74f20a3")

    def test_peter_skey(self) -> None:
        signer = parse_signer_key(PETER_SKEY)
        assert signer.seed == PETER_SEED
        assert signer.public_key == PETER_PUB
        assert signer.skey == PETER_SKEY
        assert signer.vkey == PETER_VKEY
        assert signer.verifier() == parse_verifier_key(PETER_VKEY)

    def test_enoch_is_the_zero_seed_key(self, enoch: Verifier) -> None:
        # example_test.go generates EnochRoot with an all-zero reader.
        signer = generate_signer("EnochRoot", bytes(32))
        assert signer.vkey == ENOCH_VKEY
        assert signer.public_key == ENOCH_PUB
        assert signer.verifier() == enoch

    def test_generate_signer_random(self) -> None:
        a, b = generate_signer("a.example"), generate_signer("a.example")
        assert a.seed != b.seed
        assert parse_signer_key(a.skey) == a
        assert parse_verifier_key(a.vkey) == a.verifier()

    def test_seed_not_in_repr(self) -> None:
        signer = parse_signer_key(PETER_SKEY)
        assert PETER_SEED.hex() not in repr(signer)
        assert repr(PETER_SEED) not in repr(signer)

    def test_signer_and_verifier(self) -> None:
        # note_test.go testSignerAndVerifier.
        signer = generate_signer("EnochRoot")
        verifier = parse_verifier_key(signer.vkey)
        assert signer.name == verifier.name == "EnochRoot"
        assert signer.key_hash == verifier.key_hash
        msg = bytearray(b"hi")
        sig = bytearray(signer.sign(bytes(msg)))
        assert verifier.verify(bytes(msg), bytes(sig))
        sig[0] ^= 1
        assert not verifier.verify(bytes(msg), bytes(sig))
        sig[0] ^= 1
        msg[0] ^= 1
        assert not verifier.verify(bytes(msg), bytes(sig))
        assert not verifier.verify(b"hi", bytes(sig[:63]))
        assert not verifier.verify(b"hi", bytes(sig) + b"\x00")

    def test_new_verifier_rejects_every_proper_substring(self) -> None:
        # TestNewVerifier: every proper substring (the vkey is ASCII).
        n = len(PETER_VKEY)
        for i in range(n + 1):
            for j in range(i + 1, n + 1):
                if (i, j) == (0, n):
                    continue
                with pytest.raises(FormatError):
                    parse_verifier_key(PETER_VKEY[i:j])

    def test_new_verifier_rejects_every_byte_increment(self) -> None:
        raw = bytearray(PETER_VKEY.encode())
        for i in range(len(raw)):
            raw[i] += 1
            with pytest.raises(FormatError):
                parse_verifier_key(raw.decode())
            raw[i] -= 1

    def test_new_verifier_wrong_key_length_with_consistent_hash(self) -> None:
        # Go rejects it for the key length; its base64 is also not canonical.
        vkey = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        with pytest.raises(FormatError):
            parse_verifier_key(vkey)
        # The same with canonical base64 and a consistent key ID.
        key = b"\x01" + PETER_PUB + b"BAD"
        vkey = (
            f"PeterNeumann+{key_hash('PeterNeumann', key).hex()}+{base64.b64encode(key).decode()}"
        )
        with pytest.raises(FormatError, match="Ed25519 public key is 35 bytes, want 32"):
            parse_verifier_key(vkey)

    def test_new_verifier_unknown_algorithm_with_consistent_hash(self) -> None:
        vkey = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        with pytest.raises(UnsupportedError, match="type 0x65"):
            parse_verifier_key(vkey)

    @pytest.mark.parametrize("alg", [0x02, 0x03, 0x05, 0x06, 0xFF])
    def test_other_signature_types_unsupported(self, alg: int) -> None:
        key = bytes([alg]) + PETER_PUB
        vkey = f"x.example+{key_hash('x.example', key).hex()}+{base64.b64encode(key).decode()}"
        with pytest.raises(UnsupportedError, match=f"0x{alg:02x}"):
            parse_verifier_key(vkey)

    def test_cosignature_vkey_dispatch(self) -> None:
        key = b"\x04" + PETER_PUB
        vkey = f"w.example+{key_hash('w.example', key).hex()}+{base64.b64encode(key).decode()}"
        verifier = parse_verifier_key(vkey)
        assert isinstance(verifier, CosignatureVerifier)
        assert verifier.vkey == vkey

    @pytest.mark.parametrize(
        "vkey",
        [
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper hex
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",  # padding
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ",
            " PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",  # URL-safe
            "PeterNeumann+c74f20a3",
            "PeterNeumann",
            "",
            "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+0xc74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+",
        ],
    )
    def test_verifier_key_malformed(self, vkey: str) -> None:
        with pytest.raises(FormatError):
            parse_verifier_key(vkey)

    def test_new_signer_rejects_manglings(self) -> None:
        # TestNewSigner: proper substrings and byte increments.
        n = len(PETER_SKEY)
        for i in range(n + 1):
            for j in range(i + 1, n + 1):
                if (i, j) == (0, n):
                    continue
                with pytest.raises(FormatError):
                    parse_signer_key(PETER_SKEY[i:j])
        raw = bytearray(PETER_SKEY.encode())
        for i in range(len(raw)):
            raw[i] += 1
            with pytest.raises(FormatError):
                parse_signer_key(raw.decode())
            raw[i] -= 1

    def test_signer_key_errors_never_echo_the_seed(self) -> None:
        seed_b64 = PETER_SKEY.rsplit("+", 1)[1]
        bad = [
            PETER_SKEY.replace("c74f20a3", "c74f20a4"),
            PETER_SKEY.replace("PRIVATE", "PRIVATF"),
            PETER_SKEY[:-1],
            PETER_SKEY.replace("PeterNeumann", "Peter Neumann"),
        ]
        for skey in bad:
            with pytest.raises(FormatError) as info:
                parse_signer_key(skey)
            assert seed_b64[:12] not in str(info.value)

    def test_signer_key_key_id_checked_against_derived_key(self) -> None:
        with pytest.raises(FormatError, match="got c74f20a4, want c74f20a3"):
            parse_signer_key(PETER_SKEY.replace("c74f20a3", "c74f20a4"))

    def test_cosigner_skey_is_not_a_note_signer_key(self) -> None:
        from vigil.core.cosignature import generate_cosigner

        with pytest.raises(UnsupportedError, match="parse_cosigner_key"):
            parse_signer_key(generate_cosigner("w.example", bytes(32)).skey)

    @pytest.mark.parametrize(
        "name",
        [
            "",
            "a+b",
            "a b",
            "a\tb",
            "a\nb",
            "a\rb",
            "a\x01b",
            "a\x1fb",
            "a\u0085b",  # NEL
            "a\u00a0b",  # NO-BREAK SPACE
            "a\u1680b",
            "a\u2000b",
            "a\u200ab",
            "a\u2028b",
            "a\u2029b",
            "a\u202fb",
            "a\u205fb",
            "a\u3000b",
            "a\ud800b",  # lone surrogate
        ],
    )
    def test_invalid_key_names(self, name: str) -> None:
        with pytest.raises(FormatError):
            note.check_key_name(name)
        with pytest.raises(FormatError):
            generate_signer(name, bytes(32))

    @pytest.mark.parametrize(
        "name",
        ["example.com/foo", "sigsum.org/v1/tree/4d6d", "名前", "a\u200bb", "a\x7fb", "—", "a=b"],
    )
    def test_valid_key_names(self, name: str) -> None:
        # Matches Go isValidName: U+200B is not White_Space; DEL is not below U+0020.
        note.check_key_name(name)
        signer = generate_signer(name, bytes(32))
        assert parse_verifier_key(signer.vkey) == signer.verifier()

    def test_key_name_type(self) -> None:
        with pytest.raises(TypeError):
            note.check_key_name(b"name")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            parse_verifier_key(PETER_VKEY.encode())  # type: ignore[arg-type]

    def test_key_sizes(self) -> None:
        with pytest.raises(FormatError, match="got 31 bytes, want 32"):
            Ed25519Verifier("a", bytes(31))
        with pytest.raises(FormatError, match="got 33 bytes, want 32"):
            Ed25519Signer("a", bytes(33))
        with pytest.raises(TypeError):
            Ed25519Verifier("a", bytearray(32))  # type: ignore[arg-type]

    def test_verifier_is_frozen(self, peter: Verifier) -> None:
        with pytest.raises(FrozenInstanceError):
            peter.name = "Mallory"  # type: ignore[misc]


# --------------------------------------------------------------------------- #
# Signing (TestSign)
# --------------------------------------------------------------------------- #


class TestSign:
    def test_reproduces_go_note_byte_exactly(self) -> None:
        assert sign_note(TEXT, [parse_signer_key(PETER_SKEY)]) == PETER_NOTE

    def test_reproduces_enoch_signature_line(self) -> None:
        out = sign_note(TEXT, [generate_signer("EnochRoot", bytes(32))])
        assert out == _b(TEXT + "\n" + ENOCH_SIG)

    def test_two_signers_in_order(self) -> None:
        signers = [parse_signer_key(PETER_SKEY), generate_signer("EnochRoot", bytes(32))]
        assert sign_note(TEXT, signers) == _b(TEXT + "\n" + PETER_SIG + ENOCH_SIG)

    def test_text_must_end_in_newline(self) -> None:
        with pytest.raises(FormatError, match="newline"):
            sign_note("abc", [parse_signer_key(PETER_SKEY)])

    @pytest.mark.parametrize("text", ["a\x00\n", "a\rb\n", "\tx\n", "x\x1b\n", "\ud800\n"])
    def test_text_must_be_note_text(self, text: str) -> None:
        with pytest.raises(FormatError):
            sign_note(text, [parse_signer_key(PETER_SKEY)])

    def test_no_signers(self) -> None:
        with pytest.raises(ValueError, match="no signers"):
            sign_note(TEXT, [])

    def test_duplicate_signers(self) -> None:
        signer = parse_signer_key(PETER_SKEY)
        with pytest.raises(ValueError, match=r"PeterNeumann\+c74f20a3 given twice"):
            sign_note(TEXT, [signer, signer])

    def test_not_a_signer(self) -> None:
        with pytest.raises(TypeError):
            sign_note(TEXT, [PETER_SKEY])  # type: ignore[list-item]

    @pytest.mark.parametrize("text", ["\n", "a\n\n", "a\n\n\nb\n", "a\n\n— x AAAAAAA=\n", "\x7f\n"])
    def test_any_note_text_round_trips(self, text: str) -> None:
        # The text ends at the LAST blank line, so text with blank lines or
        # lines that look like signatures survives signing and parsing.
        signer = parse_signer_key(PETER_SKEY)
        verified = verify_note(sign_note(text, [signer]), [signer.verifier()])
        assert verified.text == text


# --------------------------------------------------------------------------- #
# Parsing and verification (TestOpen)
# --------------------------------------------------------------------------- #


class TestOpen:
    def test_one_verified_one_unverified(self, peter: Verifier) -> None:
        result = verify_note(_b(TEXT + "\n" + PETER_SIG + ENOCH_SIG), [peter])
        assert result.text == TEXT
        assert [s.key_id for s in result.verified] == ["PeterNeumann+c74f20a3"]
        assert [s.key_id for s in result.unverified] == ["EnochRoot+af0cfe78"]
        assert result.verified[0].timestamp is None
        assert format_signature_line(result.unverified[0]) + "\n" == ENOCH_SIG
        assert result.signature_by(peter) is result.verified[0]

    def test_both_verified(self, peter: Verifier, enoch: Verifier) -> None:
        result = verify_note(_b(TEXT + "\n" + PETER_SIG + ENOCH_SIG), [peter, enoch])
        assert [s.name for s in result.verified] == ["PeterNeumann", "EnochRoot"]
        assert result.unverified == ()

    def test_no_known_key(self, peter: Verifier) -> None:
        data = _b(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
        with pytest.raises(SignatureError, match="no signature by a trusted key") as info:
            verify_note(data, [])
        assert "PeterNeumann+c74f20a3, EnochRoot+af0cfe78" in str(info.value)
        assert parse_note(data).signatures  # it parsed fine: unverified, not malformed

    def test_unused_duplicated_verifier(self, peter: Verifier, enoch: Verifier) -> None:
        verify_note(_b(TEXT + "\n" + PETER_SIG), [enoch, peter, enoch])

    def test_ambiguous_verifiers(self, peter: Verifier) -> None:
        class Impostor(Verifier):
            name = "PeterNeumann"
            key_hash = bytes.fromhex("c74f20a3")

            def verify(self, msg: bytes, sig: bytes) -> bool:
                return True

        with pytest.raises(ConfigError, match=r"PeterNeumann\+c74f20a3"):
            verify_note(PETER_NOTE, [peter, Impostor()])

    def test_too_many_signatures(self, peter: Verifier) -> None:
        data = _b(TEXT + "\n" + PETER_SIG * 101)
        with pytest.raises(FormatError, match="101 signature lines"):
            verify_note(data, [peter])
        with pytest.raises(FormatError, match="101 signature lines"):
            verify_note(data, [])
        result = verify_note(_b(TEXT + "\n" + PETER_SIG * 100), [peter])
        assert len(result.verified) == 1

    def test_signature_cap_is_a_parameter(self) -> None:
        data = _b(TEXT + "\n" + PETER_SIG * 16)
        assert len(parse_note(data, max_signatures=16).signatures) == 16
        with pytest.raises(FormatError, match="want at most 15"):
            parse_note(data, max_signatures=15)

    def test_invalid_signature_rejects_note(self, peter: Verifier) -> None:
        bad = _insert_bytes(PETER_SIG, 60, "ABCD")
        with pytest.raises(
            SignatureError, match=r"invalid signature for key PeterNeumann\+c74f20a3"
        ):
            verify_note(_b(TEXT + "\n" + bad), [peter])

    def test_invalid_signature_rejects_note_even_with_a_good_one(
        self, peter: Verifier, enoch: Verifier
    ) -> None:
        bad_enoch = _insert_bytes(ENOCH_SIG, 60, "ABCD")
        with pytest.raises(SignatureError, match="EnochRoot"):
            verify_note(_b(TEXT + "\n" + PETER_SIG + bad_enoch), [peter, enoch])

    def test_duplicated_verified_and_unverified(self, peter: Verifier) -> None:
        enoch_abcd = _insert_bytes(ENOCH_SIG, 60, "ABCD")
        data = _b(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd)
        result = verify_note(data, [peter])
        assert [s.name for s in result.verified] == ["PeterNeumann"]
        assert [format_signature_line(s) + "\n" for s in result.unverified] == [
            ENOCH_SIG,
            enoch_abcd,
        ]
        assert base64.b64encode(
            result.unverified[1].key_hash + result.unverified[1].signature
        ).decode() == (
            "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5nABCD2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
            "33WWd1RvMc+QQ="
        )
        # The received note keeps every line.
        assert len(result.note.signatures) == 5
        assert format_note(result.note) == data

    @pytest.mark.parametrize(
        "message",
        [
            TEXT,
            TEXT + "\n",
            TEXT + "\n" + PETER_SIG[:-1],
            "\x01" + TEXT + "\n" + PETER_SIG,
            TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
            "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
            TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        ],
    )
    def test_malformed(self, peter: Verifier, message: str) -> None:
        with pytest.raises(FormatError):
            verify_note(_b(message), [peter])

    def test_malformed_leading_ff_byte(self, peter: Verifier) -> None:
        with pytest.raises(FormatError, match="invalid UTF-8 at byte 0"):
            verify_note(b"\xff" + PETER_NOTE, [peter])

    def test_other_name_or_other_id_is_ignored(self, peter: Verifier) -> None:
        # Spec: signatures sharing a name or ID (but not both) with a known key
        # are ignored. (Go's fixedVerifier cases, adapted: we do the lookup.)
        misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
        wrong_hash = PETER_SIG.replace("x08g", "xxxx")
        for line in (misnamed, wrong_hash):
            with pytest.raises(SignatureError, match="no signature by a trusted key"):
                verify_note(_b(TEXT + "\n" + line), [peter])
            result = verify_note(_b(TEXT + "\n" + line + PETER_SIG), [peter])
            assert len(result.unverified) == 1

    def test_grease_signatures_are_ignored(self, peter: Verifier) -> None:
        grease = [
            "— grease.example AAAAAAE=\n",
            "— PeterNeumann AAAAAAE=\n",  # known name, unknown ID
            "— x " + base64.b64encode(bytes.fromhex("c74f20a3") + bytes(64)).decode() + "\n",
            "— big.example " + base64.b64encode(bytes(4000)).decode() + "\n",
        ]
        data = _b(TEXT + "\n" + "".join(grease) + PETER_SIG)
        result = verify_note(data, [peter])
        assert len(result.verified) == 1 and len(result.unverified) == 4

    def test_second_different_bad_signature_by_known_key_rejected(self, peter: Verifier) -> None:
        # Deliberately stricter than Go, which skips later lines of a key it
        # has seen: the spec says signatures of known keys MUST be verified.
        raw = base64.b64decode(PETER_SIG.split()[2])
        forged = raw[:-1] + bytes([raw[-1] ^ 1])
        line = "— PeterNeumann " + base64.b64encode(forged).decode() + "\n"
        with pytest.raises(SignatureError, match="PeterNeumann"):
            verify_note(_b(TEXT + "\n" + PETER_SIG + line), [peter])

    def test_verify_accepts_parsed_note(self, peter: Verifier) -> None:
        assert verify_note(parse_note(PETER_NOTE), [peter]).text == TEXT

    def test_verify_type_errors(self, peter: Verifier) -> None:
        with pytest.raises(TypeError):
            verify_note(PETER_NOTE, [PETER_VKEY])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            verify_note(PETER_NOTE.decode(), [peter])  # type: ignore[arg-type]

    def test_verified_note_cannot_be_forged(self, peter: Verifier) -> None:
        with pytest.raises(TypeError, match="only by verify_note"):
            VerifiedNote(TEXT, (), (), parse_note(PETER_NOTE), object())

    def test_describe_failure_names_length(self, peter: Verifier) -> None:
        line = "— PeterNeumann " + base64.b64encode(bytes.fromhex("c74f20a3") + bytes(10)).decode()
        with pytest.raises(
            SignatureError, match="got 10 signature bytes after the key ID, want 64"
        ):
            verify_note(_b(TEXT + "\n" + line + "\n"), [peter])


class TestC2SPExample:
    def test_verifies(self) -> None:
        verifier = parse_verifier_key(C2SP_VKEY)
        result = verify_note(C2SP_NOTE, [verifier])
        assert result.text == "This is an example message.\n"
        assert result.verified[0].key_id == "example.com/foo+530d903a"

    def test_round_trip(self) -> None:
        assert format_note(parse_note(C2SP_NOTE)) == C2SP_NOTE


# --------------------------------------------------------------------------- #
# Syntax
# --------------------------------------------------------------------------- #


class TestSyntax:
    def test_round_trip(self) -> None:
        data = _b(TEXT + "\n" + PETER_SIG + ENOCH_SIG + PETER_SIG)
        parsed = parse_note(data)
        assert parsed.text == TEXT
        assert len(parsed.signatures) == 3
        assert format_note(parsed) == data

    def test_signature_fields(self) -> None:
        sig = parse_note(PETER_NOTE).signatures[0]
        assert sig.name == "PeterNeumann"
        assert sig.key_hash == bytes.fromhex("c74f20a3")
        assert len(sig.signature) == 64

    def test_text_ends_at_last_blank_line(self) -> None:
        data = b"a\n\nb\n\n\n" + PETER_SIG.encode()
        assert parse_note(data).text == "a\n\nb\n\n"

    def test_minimal_text_is_one_newline(self) -> None:
        assert parse_note(b"\n\n" + PETER_SIG.encode()).text == "\n"

    def test_empty_text_rejected(self) -> None:
        with pytest.raises(FormatError, match="no blank line"):
            parse_note(b"\n" + PETER_SIG.encode())

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            (b"", "no blank line"),
            (b"a\n\n", "no signature lines"),
            (b"a\n\n" + PETER_SIG.encode() + b"\n", "no signature lines"),
            (b"a\n\n- PeterNeumann AAAAAAE=\n", "em dash"),
            (b"a\n\n\xe2\x80\x94PeterNeumann AAAAAAE=\n", "em dash"),
            (b"a\n\n\xe2\x80\x94  AAAAAAE=\n", "empty"),
            (b"a\n\n\xe2\x80\x94 name\n", "no space"),
            (b"a\n\n\xe2\x80\x94 name \n", "at least 5"),
            (b"a\n\n\xe2\x80\x94 name AAAAAA==\n", "at least 5"),
            (b"a\n\n\xe2\x80\x94 name AAAAAAE= \n", "base64"),
            (b"a\n\n\xe2\x80\x94 name AAAAAAE\n", "base64"),
            (b"a\n\n\xe2\x80\x94 name AAAAAAF=\n", "not canonical"),
            (b"a\n\n\xe2\x80\x94 name AAAA AAE=\n", "base64"),
            (b"a\n\n\xe2\x80\x94 na+me AAAAAAE=\n", "key name"),
            (b"a\r\n\n\xe2\x80\x94 name AAAAAAE=\n", r"U\+000D"),
            (b"a\tb\n\n\xe2\x80\x94 name AAAAAAE=\n", r"U\+0009"),
            (b"a\n\n\xe2\x80\x94 name AAAAAAE=\r\n", r"U\+000D"),
            (b"a\xc0\xaf\n\n\xe2\x80\x94 name AAAAAAE=\n", "invalid UTF-8 at byte 1"),  # overlong
            (b"a\xed\xa0\x80\n\n\xe2\x80\x94 name AAAAAAE=\n", "invalid UTF-8"),  # surrogate
            (b"a\xf4\x90\x80\x80\n\n\xe2\x80\x94 name AAAAAAE=\n", "invalid UTF-8"),  # > U+10FFFF
            (b"a\n\n\xe2\x80\x94 n\xc2\xa0m AAAAAAE=\n", r"U\+00A0"),
        ],
    )
    def test_malformed(self, data: bytes, match: str) -> None:
        with pytest.raises(FormatError, match=match):
            parse_note(data)

    def test_signature_line_numbers_in_errors(self) -> None:
        with pytest.raises(FormatError, match="note signature line 2"):
            parse_note(b"a\n\n" + PETER_SIG.encode() + b"junk\n")

    def test_five_byte_signature_is_the_minimum(self) -> None:
        parsed = parse_note(b"a\n\n\xe2\x80\x94 name AAAAAAE=\n")
        assert parsed.signatures[0].signature == b"\x01"

    @pytest.mark.parametrize("char", ["\x7f", "\u0080", "\u009f", "\ufeff", "\ufffd", "\u2028"])
    def test_allowed_in_text(self, char: str) -> None:
        # Only ASCII controls below U+0020 other than newline are forbidden.
        data = ("x" + char + "\n\n" + PETER_SIG).encode()
        assert parse_note(data).text == "x" + char + "\n"

    def test_parse_note_type(self) -> None:
        with pytest.raises(TypeError):
            parse_note(PETER_NOTE.decode())  # type: ignore[arg-type]

    def test_signature_line_functions(self) -> None:
        sig = parse_signature_line(PETER_SIG[:-1])
        assert format_signature_line(sig) == PETER_SIG[:-1]
        with pytest.raises(FormatError):
            parse_signature_line(PETER_SIG)  # with its newline: not a line

    def test_model_invariants(self) -> None:
        sig = parse_note(PETER_NOTE).signatures[0]
        with pytest.raises(FormatError, match="newline"):
            Note("abc", (sig,))
        with pytest.raises(FormatError, match="no signatures"):
            Note("abc\n", ())
        with pytest.raises(TypeError):
            Note("abc\n", [sig])  # type: ignore[arg-type]
        with pytest.raises(FormatError, match="control character"):
            Note("a\x00\n", (sig,))
        with pytest.raises(FormatError, match="key ID must be 4 bytes"):
            Signature("a", b"\x00" * 3, b"x")
        with pytest.raises(FormatError, match="empty"):
            Signature("a", b"\x00" * 4, b"")
        with pytest.raises(FormatError, match="key name"):
            Signature("a b", b"\x00" * 4, b"x")

    def test_format_key_id(self) -> None:
        assert note.format_key_id("a", b"\x01\x02\x03\x04") == "a+01020304"
        with pytest.raises(FormatError):
            note.format_key_id("a", b"\x01")


def test_module_examples() -> None:
    import doctest

    from vigil.core import checkpoint, cosignature

    for module in (note, checkpoint, cosignature):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
