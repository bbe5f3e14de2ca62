"""Fuzz and round-trip properties: DSSE envelopes and in-toto statements.

Every input either parses or raises FormatError (vigil.errors), nothing else;
formatting then parsing gives back an equal value; and thresholds count
distinct keys whatever the envelope repeats.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, mutations
from vigil.core.dsse import (
    DsseSignature,
    Envelope,
    evaluate_envelope,
    format_envelope,
    parse_envelope,
    sign_envelope,
)
from vigil.core.intoto import (
    STATEMENT_TYPE_V1,
    Statement,
    Subject,
    build_statement,
    parse_statement,
)
from vigil.core.note import generate_signer
from vigil.errors import FormatError

# Round trips are properties of the formatter, not parser fuzzing: fewer examples.
roundtrip_settings = settings(max_examples=min(FUZZ_EXAMPLES, 1000), deadline=None)

SIGNERS = [generate_signer(f"signer{i}.example", bytes([i + 1]) * 32) for i in range(4)]
VERIFIERS = [s.verifier() for s in SIGNERS]

_INTERESTING = [
    b'"',
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"=",
    b"-",
    b"_",
    b"\n",
    b"\x00",
    b"\xff",
    b"\xe2\x80\x94",
    b"null",
    b"1e999",
    b'"payload"',
    b'"signatures"',
    b'"keyid"',
    b'"sig"',
    b'"_type"',
    b'"subject"',
    b'"digest"',
    b'"sha256"',
    b'"predicate"',
]


def parses_or_format_error(parse: Any, data: bytes) -> None:
    with contextlib.suppress(FormatError):
        parse(data)


def statement_parses_or_format_error(data: bytes) -> None:
    """As parses_or_format_error, and a parsed statement is one the public
    constructors (which check every invariant) build equal: the parser skips
    their second pass, so it must never build what they would refuse."""
    try:
        statement = parse_statement(data)
    except FormatError:
        return
    rebuilt = Statement(
        subjects=tuple(Subject(name=s.name, digest=dict(s.digest)) for s in statement.subjects),
        predicate_type=statement.predicate_type,
        predicate=dict(statement.predicate),
        raw=statement.raw,
    )
    assert rebuilt == statement
    assert type(statement.predicate) is type(rebuilt.predicate)


# Seeds -------------------------------------------------------------------------------

SHA256 = "a" * 64
STATEMENT_SEEDS = [
    json.dumps(
        {
            "_type": STATEMENT_TYPE_V1,
            "subject": [
                {"name": "repomd.xml", "digest": {"sha256": SHA256}},
                {"digest": {"sha512": "b" * 128, "gitCommit": "c" * 40}},
            ],
            "predicateType": "https://vigil.example/release/v1",
            "predicate": {"version": "1.0", "list": [1, 2.5, None, True, "ü"]},
        }
    ).encode(),
    b'{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"x":"y"}}],'
    b'"predicateType":"a:b"}',
]
ENVELOPE_SEEDS = [
    format_envelope(sign_envelope("application/vnd.in-toto+json", seed, SIGNERS[:2]))
    for seed in STATEMENT_SEEDS
] + [
    b'{"payload":"","payloadType":"t","signatures":[{"sig":""}]}',
    b'{"payloadType":"t","payload":"YQ==","signatures":[{"keyid":"k","sig":"YQ=="}]}',
]

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="a=+/_-\u00e9\u2014\x00", max_size=6)
)
_b64_values = st.sampled_from(["", "YQ==", "YQ", "YR==", "-_8=", "_w==", " YQ=="]) | _json_scalars
json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "sha256", "name", ""]), children, max_size=3)
    ),
    max_leaves=6,
)


# DSSE --------------------------------------------------------------------------------


@fuzz_settings
@given(st.binary(max_size=512))
def test_parse_envelope_random_bytes(data: bytes) -> None:
    parses_or_format_error(parse_envelope, data)


@fuzz_settings
@given(mutations(ENVELOPE_SEEDS, _INTERESTING))
def test_parse_envelope_mutated(data: bytes) -> None:
    parses_or_format_error(parse_envelope, data)


@fuzz_settings
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "payload": _b64_values,
            "payloadType": _json_scalars,
            "signatures": st.lists(
                st.fixed_dictionaries(
                    {}, optional={"keyid": _json_scalars, "sig": _b64_values, "x": st.none()}
                ),
                max_size=3,
            )
            | _json_scalars,
            "extra": st.none(),
        },
    )
)
def test_parse_envelope_random_json(document: dict[str, Any]) -> None:
    parses_or_format_error(parse_envelope, json.dumps(document).encode())


envelopes = st.builds(
    Envelope,
    payload_type=st.text(min_size=1, max_size=40),
    payload=st.binary(max_size=200),
    signatures=st.lists(
        st.builds(DsseSignature, keyid=st.text(max_size=30), sig=st.binary(max_size=80)),
        min_size=1,
        max_size=5,
    ).map(tuple),
)


@roundtrip_settings
@given(envelopes)
def test_envelope_round_trip(envelope: Envelope) -> None:
    data = format_envelope(envelope)
    assert parse_envelope(data) == envelope
    assert format_envelope(parse_envelope(data)) == data


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=64),
    signer_indexes=st.lists(st.integers(0, len(SIGNERS) - 1), min_size=1, max_size=8),
    threshold=st.integers(1, len(SIGNERS)),
)
def test_threshold_counts_distinct_keys(
    payload: bytes, signer_indexes: list[int], threshold: int
) -> None:
    # Envelopes that repeat signers (and so signatures) any number of times.
    envelope = sign_envelope("t", payload, [SIGNERS[i] for i in signer_indexes])
    result = evaluate_envelope(envelope, VERIFIERS, threshold=threshold)
    distinct = sorted(set(signer_indexes))
    assert result.signed == tuple(VERIFIERS[i].name for i in distinct)
    assert result.met == (len(distinct) >= threshold)
    assert result.invalid == ()


# in-toto statements ------------------------------------------------------------------


@fuzz_settings
@given(st.binary(max_size=512))
def test_parse_statement_random_bytes(data: bytes) -> None:
    statement_parses_or_format_error(data)


@fuzz_settings
@given(mutations(STATEMENT_SEEDS, _INTERESTING))
def test_parse_statement_mutated(data: bytes) -> None:
    statement_parses_or_format_error(data)


@fuzz_settings
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "_type": st.sampled_from([STATEMENT_TYPE_V1, "x"]) | json_values,
            "subject": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": json_values,
                        "digest": st.dictionaries(
                            st.sampled_from(["sha256", "sha512", "gitCommit", "x", ""]),
                            st.sampled_from([SHA256, "b" * 128, "c" * 40, "A"]) | json_values,
                            max_size=3,
                        )
                        | json_values,
                    },
                ),
                max_size=3,
            )
            | json_values,
            "predicateType": st.sampled_from(["https://a/b", "nope"]) | json_values,
            "predicate": json_values,
        },
    )
)
def test_parse_statement_random_json(document: dict[str, Any]) -> None:
    statement_parses_or_format_error(json.dumps(document).encode())


_DIGEST_LENGTHS = {"sha256": 32, "sha512": 64, "sha1": 20, "gitCommit": 20}
hex_digests = st.tuples(st.sampled_from(sorted(_DIGEST_LENGTHS)), st.integers(0, 2**512 - 1)).map(
    lambda pair: (
        pair[0],
        (pair[1] % 256 ** _DIGEST_LENGTHS[pair[0]]).to_bytes(_DIGEST_LENGTHS[pair[0]], "big").hex(),
    )
)
subjects = st.builds(
    Subject,
    name=st.none() | st.text(max_size=20),
    digest=st.lists(hex_digests, min_size=1, max_size=3).map(dict),
)


@roundtrip_settings
@given(
    st.lists(subjects, min_size=1, max_size=4),
    st.sampled_from(["https://vigil.example/release/v1", "urn:x", "a+b.c-d:e"]),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
def test_statement_round_trip(
    subject_list: list[Subject], predicate_type: str, predicate: dict[str, Any]
) -> None:
    statement = build_statement(subject_list, predicate_type, predicate)
    assert statement.subjects == tuple(subject_list)
    assert statement.predicate == predicate
    assert parse_statement(statement.raw) == statement


def test_mutation_strategy_keeps_seeds_valid() -> None:
    for seed in ENVELOPE_SEEDS:
        parse_envelope(seed)
    for seed in STATEMENT_SEEDS:
        parse_statement(seed)
    assert base64.b64decode(json.loads(ENVELOPE_SEEDS[0])["payload"]) == STATEMENT_SEEDS[0]
