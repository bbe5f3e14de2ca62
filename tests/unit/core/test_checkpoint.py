"""Checkpoints (c2sp.org/tlog-checkpoint): vectors.md §4.3 and §5, plus strictness."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from vigil.core.checkpoint import (
    MAX_EXTENSION_LINES,
    Checkpoint,
    VerifiedCheckpoint,
    format_checkpoint,
    parse_checkpoint,
    verify_checkpoint,
)
from vigil.core.cosignature import generate_cosigner
from vigil.core.note import (
    Note,
    format_note,
    generate_signer,
    parse_note,
    parse_signature_line,
    parse_verifier_key,
    sign_note,
    verify_note,
)
from vigil.errors import FormatError, SignatureError, VerificationError

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_ORIGIN = "go.sum database tree"
# transparency-dev/formats log/note_test.go (vectors.md §4.3).
SUMDB_TEXT_1 = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
SUMDB_SIG_1 = (
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEP"
    "WL+o3GeoWwOoAw=\n"
)
EXTRA_WITNESSES = [
    (
        "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT",
        "— monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2"
        "NbvAnaepM6Y+8ww=\n",
    ),
    (
        "bananas+cf639f13+AaPjhFnPCQnid/Ql32KWhmh+uk72FVRfK+2DLmO3BI3M",
        "— bananas z2OfE+2bbsBZ7NLgfuslc0v7NFW2QyexJ7fhePpoL2N/P7N/COd5S+JNHbQEAlYzz2C5sg0E+x/"
        "MggS1mDR6t3/9rQw=\n",
    ),
    (
        "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN",
        "— witness 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDb"
        "GgCdcpR8SVSoqAU=\n",
    ),
]
# FiloSottile/torchwood cmd/litewitness/testdata/sumdb.txt.
SUMDB_TEXT_2 = "go.sum database tree\n35225469\nvt5T6GaLCXvyHFl9VUvvItR43XZxfLgftEcTyO3eJCQ=\n"
SUMDB_SIG_2 = (
    "— sum.golang.org Az3grpukl5AXaVfYkLiDGORx/DN2nlcS5kZHR5uYOBV2KA2HgXpD+gu9HHONebHLAyaKbbTM75QTt"
    "PydhKCExixSfwQ=\n"
)
ROOT = base64.b64decode("lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0=")
HASH_B64 = "lCkHUpkmVBEms2r2T1K6Og69+wUuuN3MIEW1/ezu2v0="


def _skylight_checkpoints(vectors_dir: Path) -> list[Path]:
    base = vectors_dir / "sunlight-skylight-testdata"
    return sorted(p for p in base.rglob("checkpoint") if "decoy" not in p.read_text())


class TestParse:
    def test_sumdb_checkpoint(self) -> None:
        cp = parse_checkpoint(SUMDB_TEXT_1)
        assert cp == Checkpoint(
            SUMDB_ORIGIN,
            6476701,
            base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="),
        )
        assert format_checkpoint(cp) == SUMDB_TEXT_1

    def test_skylight_checkpoints(self, vectors_dir: Path) -> None:
        paths = _skylight_checkpoints(vectors_dir)
        assert len(paths) == 4  # tree, witness, witness2, mirror (decoys skipped)
        for path in paths:
            data = path.read_bytes()
            parsed = parse_note(data)
            cp = parse_checkpoint(parsed.text)
            assert cp.size == 300
            assert cp.origin.endswith("2026h1.example.org")
            assert format_checkpoint(cp) == parsed.text
            assert format_note(parsed) == data

    def test_extensions_round_trip(self) -> None:
        text = f"example.com/log\n5\n{HASH_B64}\next one\n — looks like a signature\n"
        cp = parse_checkpoint(text)
        assert cp.extensions == ("ext one", " — looks like a signature")
        assert format_checkpoint(cp) == text

    def test_size_zero_and_max(self) -> None:
        assert parse_checkpoint(f"o\n0\n{HASH_B64}\n").size == 0
        assert parse_checkpoint(f"o\n18446744073709551615\n{HASH_B64}\n").size == 2**64 - 1

    def test_origin_may_contain_spaces_and_unicode(self) -> None:
        assert parse_checkpoint(f"a log + — ü\n1\n{HASH_B64}\n").origin == "a log + — ü"

    def test_formats_vector_with_short_hash_is_rejected(self) -> None:
        # transparency-dev/formats accepts "bananas" as a hash; C2SP root hashes
        # are 32-byte SHA-256 values, and we enforce that.
        with pytest.raises(FormatError, match="root hash is 7 bytes, want 32"):
            parse_checkpoint("Log\n123\nYmFuYW5hcw==\n")

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            ("Head\n9944\n", "2 lines"),
            (f"\n9944\n{HASH_B64}\n", "origin"),
            ("Log\n123\nYmFuYW5hcw==", "newline"),
            (f"Log\n123\n{HASH_B64}", "newline"),
            ("", "newline"),
            ("\n", "1 lines"),
            (f"Log\n012\n{HASH_B64}\n", "not a canonical decimal"),
            (f"Log\n00\n{HASH_B64}\n", "not a canonical decimal"),
            (f"Log\n-1\n{HASH_B64}\n", "tree size"),
            (f"Log\n+1\n{HASH_B64}\n", "tree size"),
            (f"Log\n 1\n{HASH_B64}\n", "tree size"),
            (f"Log\n1 \n{HASH_B64}\n", "tree size"),
            (f"Log\n1.0\n{HASH_B64}\n", "tree size"),
            (f"Log\n1_000\n{HASH_B64}\n", "tree size"),
            (f"Log\n\u0663\n{HASH_B64}\n", "tree size"),  # ARABIC-INDIC DIGIT THREE
            (f"Log\n\n{HASH_B64}\n", "tree size"),
            (f"Log\n18446744073709551616\n{HASH_B64}\n", "exceeds"),
            ("Log\n1\n\n", "root hash"),
            ("Log\n1\n" + HASH_B64[:-1] + "\n", "root hash"),
            ("Log\n1\n" + HASH_B64 + " \n", "root hash"),
            ("Log\n1\n" + HASH_B64.replace("=", "") + "\n", "root hash"),
            ("Log\n1\n" + HASH_B64.replace("+", "-") + "\n", "root hash"),
            ("Log\n1\n" + HASH_B64[:-2] + "1=\n", "not canonical"),
            ("Log\n1\n" + base64.b64encode(bytes(31)).decode() + "\n", "31 bytes"),
            ("Log\n1\n" + base64.b64encode(bytes(33)).decode() + "\n", "33 bytes"),
            (f"Log\n1\n{HASH_B64}\n\n", "empty"),
            (f"Log\n1\n{HASH_B64}\next\n\n", "empty"),
            (f"Log\n1\n{HASH_B64}\n\next\n", "empty"),
            (f"L\rog\n1\n{HASH_B64}\n", "control character"),
            (f"Log\n1\n{HASH_B64}\ne\tx\n", "control character"),
            (f"Log\r\n1\n{HASH_B64}\n", "control character"),
            (f"L\ud800\n1\n{HASH_B64}\n", "surrogate"),
        ],
    )
    def test_malformed(self, text: str, match: str) -> None:
        with pytest.raises(FormatError, match=match):
            parse_checkpoint(text)

    def test_extension_cap(self) -> None:
        head = f"o\n1\n{HASH_B64}\n"
        text = head + "e\n" * MAX_EXTENSION_LINES
        assert len(parse_checkpoint(text).extensions) == MAX_EXTENSION_LINES
        with pytest.raises(FormatError, match="65 extension lines"):
            parse_checkpoint(text + "e\n")
        assert len(parse_checkpoint(text + "e\n", max_extensions=65).extensions) == 65

    def test_type(self) -> None:
        with pytest.raises(TypeError):
            parse_checkpoint(SUMDB_TEXT_1.encode())  # type: ignore[arg-type]


class TestModel:
    def test_invariants(self) -> None:
        with pytest.raises(FormatError, match="origin"):
            Checkpoint("", 1, ROOT)
        with pytest.raises(FormatError, match="newline"):
            Checkpoint("a\nb", 1, ROOT)
        with pytest.raises(FormatError, match="out of range"):
            Checkpoint("a", -1, ROOT)
        with pytest.raises(FormatError, match="out of range"):
            Checkpoint("a", 2**64, ROOT)
        with pytest.raises(TypeError):
            Checkpoint("a", True, ROOT)
        with pytest.raises(TypeError):
            Checkpoint("a", 1.0, ROOT)  # type: ignore[arg-type]
        with pytest.raises(FormatError, match="31 bytes"):
            Checkpoint("a", 1, ROOT[:31])
        with pytest.raises(TypeError):
            Checkpoint("a", 1, bytearray(ROOT))  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Checkpoint("a", 1, ROOT, ["ext"])  # type: ignore[arg-type]
        with pytest.raises(FormatError, match="line 4"):
            Checkpoint("a", 1, ROOT, ("",))
        with pytest.raises(FormatError, match="line 5"):
            Checkpoint("a", 1, ROOT, ("x", "y\nz"))

    def test_frozen_and_hashable(self) -> None:
        cp = Checkpoint("a", 1, ROOT, ("x",))
        assert hash(cp) == hash(Checkpoint("a", 1, ROOT, ("x",)))
        with pytest.raises(AttributeError):
            cp.size = 2  # type: ignore[misc]


class TestVerify:
    def test_sumdb(self) -> None:
        log = parse_verifier_key(SUMDB_VKEY)
        for text, sig in ((SUMDB_TEXT_1, SUMDB_SIG_1), (SUMDB_TEXT_2, SUMDB_SIG_2)):
            result = verify_checkpoint(
                (text + "\n" + sig).encode(), origin=SUMDB_ORIGIN, log_verifier=log
            )
            assert result.checkpoint == parse_checkpoint(text)
            assert result.log_signature.key_id == "sum.golang.org+033de0ae"
            assert result.cosignatures == ()

    def test_sumdb_with_plain_ed25519_witnesses(self) -> None:
        # Same note text, three extra type 0x01 signatures (formats note_test.go).
        data = (SUMDB_TEXT_1 + "\n" + SUMDB_SIG_1 + "".join(s for _, s in EXTRA_WITNESSES)).encode()
        log = parse_verifier_key(SUMDB_VKEY)
        witnesses = [parse_verifier_key(v) for v, _ in EXTRA_WITNESSES]
        result = verify_checkpoint(data, origin=SUMDB_ORIGIN, log_verifier=log, cosigners=witnesses)
        assert [s.name for s in result.cosignatures] == ["monkeys", "bananas", "witness"]
        assert all(s.timestamp is None for s in result.cosignatures)
        # Each witness signature verifies on its own too.
        for vkey, sig in EXTRA_WITNESSES:
            only = verify_note((SUMDB_TEXT_1 + "\n" + sig).encode(), [parse_verifier_key(vkey)])
            assert len(only.verified) == 1
        # Unlisted witnesses are ignored, not errors.
        partial = verify_checkpoint(
            data, origin=SUMDB_ORIGIN, log_verifier=log, cosigners=witnesses[:1]
        )
        assert len(partial.cosignatures) == 1
        assert len(partial.note.unverified) == 2

    def test_wrong_origin(self) -> None:
        log = parse_verifier_key(SUMDB_VKEY)
        with pytest.raises(VerificationError, match="wrong origin") as info:
            verify_checkpoint(
                (SUMDB_TEXT_1 + "\n" + SUMDB_SIG_1).encode(),
                origin="sum.golang.org",
                log_verifier=log,
            )
        assert not isinstance(info.value, SignatureError)

    def test_log_signature_required(self) -> None:
        log = generate_signer("log.example", bytes(32))
        witness = generate_cosigner("w.example", bytes([1]) * 32)
        text = f"log.example\n1\n{HASH_B64}\n"
        cosig = witness.sign_checkpoint(text, 1700000000)
        data = Note(text, (cosig,))
        with pytest.raises(SignatureError, match=r"no signature by log key log\.example\+"):
            verify_checkpoint(
                data,
                origin="log.example",
                log_verifier=log.verifier(),
                cosigners=[witness.verifier()],
            )

    def test_cosigned(self) -> None:
        log = generate_signer("log.example", bytes(32))
        w1 = generate_cosigner("w1.example", bytes([1]) * 32)
        w2 = generate_cosigner("w2.example", bytes([2]) * 32)
        cp = Checkpoint("log.example", 42, ROOT, ("ext",))
        text = format_checkpoint(cp)
        signed = parse_note(sign_note(text, [log]))
        cosigs = (w1.sign_checkpoint(cp, 1000), w2.sign_checkpoint(cp, 2000))
        data = format_note(Note(text, signed.signatures + cosigs))
        result = verify_checkpoint(
            data,
            origin="log.example",
            log_verifier=log.verifier(),
            cosigners=[w1.verifier(), w2.verifier()],
        )
        assert result.checkpoint == cp
        assert [(s.name, s.timestamp) for s in result.cosignatures] == [
            ("w1.example", 1000),
            ("w2.example", 2000),
        ]
        assert result.log_signature.timestamp is None

        # A bad cosignature by a listed cosigner rejects the checkpoint.
        bad = parse_signature_line(
            "— w2.example "
            + base64.b64encode(cosigs[1].key_hash + cosigs[1].signature[:-1] + b"\x00").decode()
        )
        tampered = Note(text, (*signed.signatures, cosigs[0], bad))
        with pytest.raises(SignatureError, match=r"w2\.example"):
            verify_checkpoint(
                tampered,
                origin="log.example",
                log_verifier=log.verifier(),
                cosigners=[w1.verifier(), w2.verifier()],
            )

    def test_signed_text_must_be_a_checkpoint(self) -> None:
        log = generate_signer("log.example", bytes(32))
        data = sign_note("log.example\nnot a size\nx\n", [log])
        with pytest.raises(FormatError, match="tree size"):
            verify_checkpoint(data, origin="log.example", log_verifier=log.verifier())

    def test_verified_checkpoint_cannot_be_forged(self) -> None:
        log = parse_verifier_key(SUMDB_VKEY)
        real = verify_checkpoint(
            (SUMDB_TEXT_1 + "\n" + SUMDB_SIG_1).encode(), origin=SUMDB_ORIGIN, log_verifier=log
        )
        with pytest.raises(TypeError, match="only by verify_checkpoint"):
            VerifiedCheckpoint(
                Checkpoint("evil", 1, ROOT), real.note, real.log_signature, (), object()
            )
