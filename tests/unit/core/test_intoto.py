"""Unit tests for vigil.core.intoto (in-toto Statement v1)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from vigil.core.intoto import (
    PAYLOAD_TYPE_INTOTO,
    STATEMENT_TYPE_V1,
    Statement,
    Subject,
    build_statement,
    format_statement,
    parse_statement,
)
from vigil.errors import FormatError, UnsupportedError

SHA256 = hashlib.sha256(b"repomd.xml").hexdigest()
SHA512 = hashlib.sha512(b"repomd.xml").hexdigest()
PREDICATE_TYPE = "https://vigil.example/release/v1"


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [{"name": "repomd.xml", "digest": {"sha256": SHA256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"version": "1.2.3"},
    }
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return doc


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_payload_type_constant() -> None:
    assert PAYLOAD_TYPE_INTOTO == "application/vnd.in-toto+json"


def test_parse_valid_statement_keeps_raw_bytes() -> None:
    raw = encode(document())
    statement = parse_statement(raw)
    assert statement.raw == raw
    assert statement.predicate_type == PREDICATE_TYPE
    assert statement.predicate == {"version": "1.2.3"}
    assert statement.subjects == (Subject("repomd.xml", {"sha256": SHA256}),)


def test_spec_schema_example_shape() -> None:
    # statement.md schema, with the placeholders filled in.
    raw = (
        b'{"_type": "https://in-toto.io/Statement/v1",'
        b' "subject": [{"name": "_", "digest": {"sha256": "' + SHA256.encode() + b'"}}],'
        b' "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}'
    )
    statement = parse_statement(raw)
    assert statement.subjects[0].name == "_"
    assert statement.predicate == {}


def test_multiple_subjects_and_algorithms() -> None:
    subjects = [
        {"name": "a", "digest": {"sha256": SHA256, "sha512": SHA512}},
        {"digest": {"gitCommit": "a" * 40}},
        {"digest": {"gitCommit": "b" * 64, "customHash": "not-hex_but+printable="}},
    ]
    statement = parse_statement(encode(document(subject=subjects)))
    assert len(statement.subjects) == 3
    assert statement.subjects[1].name is None
    assert statement.subjects[0].digest["sha512"] == SHA512


def test_predicate_may_be_omitted() -> None:
    statement = parse_statement(encode(document(predicate=...)))
    assert statement.predicate == {}


def test_unknown_fields_are_ignored_but_kept_in_raw() -> None:
    doc = document(extension={"x": 1})
    doc["subject"][0]["uri"] = "pkg:rpm/foo"
    raw = encode(doc)
    statement = parse_statement(raw)
    assert b"extension" in statement.raw
    assert statement.subjects[0] == Subject("repomd.xml", {"sha256": SHA256})


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (document(_type=...), "missing required field '_type'"),
        (document(_type=1), "_type: want a string"),
        (document(_type="https://example.com/Statement/v1"), "_type: got"),
        (document(subject=...), "missing required field 'subject'"),
        (document(subject=[]), "want at least one subject"),
        (document(subject={"digest": {}}), "subject: want an array"),
        (document(subject=["x"]), "subject[0]: want an object"),
        (document(subject=[{"name": "a"}]), "subject[0]: missing required field 'digest'"),
        (document(subject=[{"digest": {}}]), "want at least one digest"),
        (document(subject=[{"digest": []}]), "digest: want an object"),
        (document(subject=[{"name": 5, "digest": {"sha256": SHA256}}]), "name: want a string"),
        (
            document(subject=[{"name": None, "digest": {"sha256": SHA256}}]),
            "name: want a string (got null)",
        ),
        (document(subject=[{"digest": {"sha256": SHA256.upper()}}]), "not lowercase hex"),
        (document(subject=[{"digest": {"sha256": SHA256[:-1]}}]), "got 63 hex characters, want 64"),
        (document(subject=[{"digest": {"sha512": SHA256}}]), "got 64 hex characters, want 128"),
        (document(subject=[{"digest": {"sha1": "0" * 39 + "g"}}]), "not lowercase hex"),
        (document(subject=[{"digest": {"gitCommit": "a" * 50}}]), "want 40 or 64"),
        (document(subject=[{"digest": {"shake256": "abc"}}]), "even number"),
        (document(subject=[{"digest": {"sha256": 5}}]), "want a string"),
        (document(subject=[{"digest": {"": "abcd"}}]), "algorithm name"),
        (document(subject=[{"digest": {"sha 256": "abcd"}}]), "algorithm name"),
        (document(subject=[{"digest": {"custom": ""}}]), "printable ASCII"),
        (document(subject=[{"digest": {"custom": "a b"}}]), "printable ASCII"),
        (document(predicateType=...), "missing required field 'predicateType'"),
        (document(predicateType=7), "predicateType: want a string"),
        (document(predicateType=""), "predicateType: URI has 0 characters"),
        (document(predicateType="not a uri"), "is not an absolute URI"),
        (document(predicateType="relative/path"), "is not an absolute URI"),
        (document(predicate=[]), "predicate: want an object (got array)"),
        (document(predicate=None), "predicate: want an object (got null)"),
        (document(predicate="x"), "predicate: want an object (got string)"),
    ],
)
def test_rejects_malformed(doc: Any, fragment: str) -> None:
    with pytest.raises(FormatError) as info:
        parse_statement(encode(doc))
    assert fragment in str(info.value)
    assert not isinstance(info.value, UnsupportedError)


@pytest.mark.parametrize(
    "statement_type",
    ["https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1.0"],
)
def test_other_statement_versions_are_unsupported(statement_type: str) -> None:
    with pytest.raises(UnsupportedError, match="unsupported version"):
        parse_statement(encode(document(_type=statement_type)))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"\xff",
        b'{"_type": "a", "_type": "b"}',
        b'{"_type": "https://in-toto.io/Statement/v1", "x": NaN}',
        b'{"a": ' + b"1" * 5000 + b"}",
        b'{"a": 1e999}',
        b'{"a": "\\ud800"}',
        b"[" * 100000,
    ],
)
def test_rejects_bad_json(raw: bytes) -> None:
    with pytest.raises(FormatError):
        parse_statement(raw)


def test_size_cap_applies_before_parsing() -> None:
    raw = encode(document())
    with pytest.raises(FormatError, match="exceeds the limit"):
        parse_statement(raw, max_bytes=len(raw) - 1)
    assert parse_statement(raw, max_bytes=len(raw)).raw == raw


def test_subject_cap() -> None:
    subjects = [{"digest": {"sha256": SHA256}}] * 3
    with pytest.raises(FormatError, match="got 3 subjects, want at most 2"):
        parse_statement(encode(document(subject=subjects)), max_subjects=2)


def test_format_and_build_round_trip() -> None:
    subjects = [Subject("repomd.xml", {"sha256": SHA256}), Subject(None, {"sha512": SHA512})]
    predicate = {"version": "1.2.3", "nested": {"list": [1, 2, "ü"]}}
    raw = format_statement(subjects, PREDICATE_TYPE, predicate)
    assert raw.startswith(b'{"_type":"https://in-toto.io/Statement/v1","subject":[')
    assert "ü".encode() in raw
    statement = build_statement(subjects, PREDICATE_TYPE, predicate)
    assert statement.raw == raw
    assert statement.subjects == tuple(subjects)
    assert statement.predicate == predicate
    assert parse_statement(raw) == statement


def test_format_rejects_bad_input() -> None:
    subject = Subject(None, {"sha256": SHA256})
    with pytest.raises(FormatError, match="at least one subject"):
        format_statement([], PREDICATE_TYPE, {})
    with pytest.raises(FormatError, match="absolute URI"):
        format_statement([subject], "nope", {})
    with pytest.raises(FormatError, match="not encodable"):
        format_statement([subject], PREDICATE_TYPE, {"x": float("nan")})
    with pytest.raises(FormatError, match="not encodable"):
        format_statement([subject], PREDICATE_TYPE, {"x": object()})


def test_models_enforce_invariants() -> None:
    with pytest.raises(FormatError, match="non-empty set of digests"):
        Subject("a", {})
    with pytest.raises(FormatError, match="got 3 hex characters"):
        Subject("a", {"sha256": "abc"})
    with pytest.raises(FormatError, match="non-empty tuple of subjects"):
        Statement((), PREDICATE_TYPE, {}, b"")
    with pytest.raises(FormatError, match="absolute URI"):
        Statement((Subject(None, {"sha256": SHA256}),), "x y", {}, b"")


def test_models_are_read_only() -> None:
    statement = parse_statement(encode(document()))
    with pytest.raises(TypeError):
        statement.predicate["version"] = "9"  # type: ignore[index]
    with pytest.raises(TypeError):
        statement.subjects[0].digest["sha256"] = "0" * 64  # type: ignore[index]
    with pytest.raises(AttributeError):
        statement.predicate_type = "x"  # type: ignore[misc]


def test_subject_digest_is_copied() -> None:
    digest = {"sha256": SHA256}
    subject = Subject("a", digest)
    digest["sha256"] = "0" * 64
    assert subject.digest["sha256"] == SHA256


def test_every_standard_hex_algorithm_passes_the_full_digest_check() -> None:
    """The parser's fast path accepts a digest of these algorithms on their
    lengths alone, without the name and length checks of the full check."""
    from vigil.core.intoto import HEX_DIGEST_LENGTHS, _check_digest

    for algorithm, lengths in HEX_DIGEST_LENGTHS.items():
        for length in lengths:
            _check_digest("digest", algorithm, "a" * length)  # does not raise
