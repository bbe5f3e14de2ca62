"""The fast JSON path (orjson) decides exactly as the strict parser, or defers to it.

``parse_compact_json_object`` may only answer for inputs the strict parser
accepts, with the same value (keys in the same order); ``parse_json_object``
(fast path, then strict) must accept and refuse exactly what
``parse_json_object_strict`` does, with the same message. Checked on the
shared byte mutations of compact seeds (the inputs the fast path answers
for, and their near misses: duplicate keys, other number spellings, escapes,
deep nesting), on generated JSON values, and on the cases that need a proof
in ``vigil.core.encoding``'s docstring.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import fuzz_settings, mutations
from vigil.core.dsse import format_envelope, sign_envelope
from vigil.core.encoding import (
    MAX_JSON_DEPTH,
    parse_compact_json_object,
    parse_json_object,
    parse_json_object_strict,
)
from vigil.core.intoto import STATEMENT_TYPE_V1, parse_statement
from vigil.core.note import generate_signer
from vigil.errors import FormatError

MAX_BYTES = 4096


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _nested(depth: int) -> bytes:
    """A compact object whose deepest value sits at ``depth`` (the strict walk's count)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


SIGNER = generate_signer("fuzz.example", bytes([7]) * 32)
STATEMENT = _compact({
    "_type": STATEMENT_TYPE_V1,
    "subject": [{"name": "repomd.xml", "digest": {"sha256": "a" * 64}}],
    "predicateType": "https://vigil.example/release/v1",
    "predicate": {"version": 3, "when": "2026-11-22T08:00:00Z", "list": [1, 2.5, None, True,
                                                                         "ü\n\"\\\u2028"]},
})
SEEDS = [
    STATEMENT,
    format_envelope(sign_envelope("application/vnd.in-toto+json", STATEMENT, [SIGNER])),
    b'{"a":18446744073709551615,"b":-9223372036854775808,"c":-0.0,"d":1e-7,"e":[]}',
    b'{"s":"\\u0000\\u001f\\b\\f\\n\\r\\t","t":"\x7f\xc3\xa9"}',
    _nested(MAX_JSON_DEPTH - 1),
    _nested(MAX_JSON_DEPTH),
    b'{"a":' + b"[" * 40 + b"{}" + b"]" * 40 + b',"b":' + b"[" * 30 + b"]" * 30 + b"}",
]
TOKENS = [
    b'"a":1,', b',"a":2', b'"a"', b"{", b"}", b"[", b"]", b",", b":", b" ", b"\\u0041",
    b"\\ud800", b"\\udc00", b"1e400", b"NaN", b"-0", b"1.0", b"1E5", b"0.10",
    b"123456789012345678901234567890", b"18446744073709551616", b"\xed\xa0\x80", b"\xef\xbb\xbf",
    b"\x00", b"\n", b'{"a":' * 8, b"}" * 8,
]


def _outcome(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        value = parse(data, what="doc", max_bytes=MAX_BYTES)
    except FormatError as exc:
        return "refused", str(exc)
    except ValueError as exc:  # the strict parser's one bare error (huge integers)
        return "bare ValueError", str(exc)
    return "value", (value, json.dumps(value))  # the text compares key order too


def check_agreement(data: bytes) -> None:
    strict = _outcome(parse_json_object_strict, data)
    fast = parse_compact_json_object(data, max_bytes=MAX_BYTES)
    if fast is not None:
        assert strict == ("value", (fast, json.dumps(fast)))
        assert orjson.dumps(fast) == data
    assert _outcome(parse_json_object, data) == strict


@fuzz_settings
@given(mutations(SEEDS, TOKENS))
def test_fast_path_agrees_on_mutated_inputs(data: bytes) -> None:
    check_agreement(data)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=10,
)


@settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 2000))
@given(st.dictionaries(st.text(max_size=4), _values, max_size=4))
def test_fast_path_agrees_on_generated_values(value: dict[str, Any]) -> None:
    try:
        data = _compact(value)
    except UnicodeEncodeError:
        return  # a lone surrogate: not encodable, nothing to parse
    check_agreement(data)
    check_agreement(json.dumps(value).encode())  # ASCII escapes, spaces: the strict path


@pytest.mark.parametrize(
    "data",
    [
        # Duplicate keys: orjson keeps the last one; its re-encoding differs.
        b'{"a":1,"a":1}',
        b'{"a":{"b":1,"b":2}}',
        # Numbers the strict parser refuses, or reads otherwise (2**64: an int, not a float).
        b'{"a":123456789012345678901234567890123456789012345}',
        b'{"a":18446744073709551616}',
        b'{"a":1e400}',
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        # Lone surrogates, escaped and raw; a byte order mark.
        b'{"a":"\\ud800"}',
        b'{"a":"\xed\xa0\x80"}',
        b'\xef\xbb\xbf{"a":1}',
        # Nesting just over the limit, in compact form.
        _nested(MAX_JSON_DEPTH + 1),
        b'{"a":' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}",
        # Not an object; too large.
        b"[1]",
        b'"a"',
        b'{"a":"' + b"x" * MAX_BYTES + b'"}',
    ],
)
def test_near_misses_are_left_to_the_strict_parser(data: bytes) -> None:
    """Each input here is refused by the strict parser, or (2**64) read as
    another value than orjson's; the fast path must not answer for any."""
    assert parse_compact_json_object(data, max_bytes=MAX_BYTES) is None
    check_agreement(data)


@pytest.mark.parametrize(
    "data",
    [
        *SEEDS[:5],
        _nested(MAX_JSON_DEPTH),
        SEEDS[6],
        b'{"a":' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}",
    ],
)
def test_compact_inputs_take_the_fast_path(data: bytes) -> None:
    assert parse_compact_json_object(data, max_bytes=MAX_BYTES) is not None
    check_agreement(data)


@fuzz_settings
@given(mutations([STATEMENT], TOKENS))
def test_statement_parser_agrees_with_its_strict_path(data: bytes) -> None:
    """parse_statement skips its re-encoding check only for fast-path input."""
    try:
        statement = parse_statement(data)
    except FormatError as exc:
        fast = parse_compact_json_object(data, max_bytes=len(data))
        assert fast is None or not str(exc).startswith("in-toto statement: invalid JSON")
        return
    assert statement.raw == data
    document = parse_json_object_strict(data, what="x", max_bytes=len(data))
    json.dumps(document, ensure_ascii=False, allow_nan=False).encode()  # re-encodable
