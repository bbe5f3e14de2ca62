"""The fast parsing paths decide exactly as the strict parsers, or defer to them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logsupport import entry_bytes, signer
from vigil.core.dsse import Envelope, format_envelope, parse_envelope
from vigil.errors import FormatError
from vigil.log.entry import reencode
from vigil.log.fastparse import (
    batch_items,
    envelope_from_bytes,
    envelope_from_object,
)

VALID = entry_bytes("fastparse", [signer("a.example"), signer("b.example")])


def strict(data: bytes) -> Envelope | None:
    try:
        return parse_envelope(data, max_signatures=8)
    except FormatError:
        return None


def test_canonical_body_takes_the_fast_path() -> None:
    parsed = envelope_from_bytes(VALID, max_signatures=8)
    assert parsed is not None
    assert parsed == (parse_envelope(VALID), VALID)


@pytest.mark.parametrize(
    "body",
    [
        # Duplicate keys: orjson keeps the last one, the strict parser refuses.
        VALID[:-1] + b',"payloadType":"x"}',
        VALID.replace(b'"sig":', b'"sig":"AAAA","sig":', 1),
        # Other spellings of an acceptable envelope go the strict way too.
        b" " + VALID,
        VALID.replace(b'{"payload"', b'{ "payload"', 1),
        VALID.replace(b'"keyid":', b'"\\u006beyid":', 1),
        # Too many signatures for the limit.
    ],
)
def test_non_canonical_bodies_are_left_to_the_strict_parser(body: bytes) -> None:
    assert envelope_from_bytes(body, max_signatures=8) is None


def test_signature_limit_is_left_to_the_strict_parser() -> None:
    assert envelope_from_bytes(VALID, max_signatures=1) is None


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """Small edits of a valid envelope: insert, delete or replace a few bytes."""
    body = bytearray(VALID)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(st.sampled_from(
            [b" ", b'"', b",", b"}", b"{", b"=", b"A", b"\\u0041", b'"keyid":"x",', b"1"]
        ))
        if kind == "insert":
            body[at:at] = chunk
        elif kind == "delete":
            del body[at : at + len(chunk)]
        else:
            body[at : at + len(chunk)] = chunk
    return bytes(body)


@settings(max_examples=400, deadline=None)
@given(body=mutations())
def test_fast_body_path_agrees_with_the_strict_parser(body: bytes) -> None:
    fast = envelope_from_bytes(body, max_signatures=8)
    if fast is not None:
        assert fast[0] == strict(body)
        assert fast[1] == body == format_envelope(fast[0])


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(
    field=st.sampled_from(["payload", "payloadType", "signatures", "keyid", "sig", "extra"]),
    value=json_values,
)
def test_fast_object_path_agrees_with_the_strict_parser(field: str, value: Any) -> None:
    item = json.loads(VALID)
    if field in ("keyid", "sig"):
        item["signatures"][0][field] = value
    else:
        item[field] = value
    fast = envelope_from_object(item, max_signatures=8)
    if fast is not None:
        envelope = strict(reencode(item))
        assert fast[0] == envelope
        assert envelope is not None and fast[1] == format_envelope(envelope)


def test_batch_items_need_the_exact_compact_shape() -> None:
    item = VALID
    assert batch_items(b'{"entries":[' + item + b"]}", max_entries=10) == [json.loads(item)]
    for body in (
        b'{"entries":[' + item + b'],"entries":[' + item + b"]}",  # duplicate key
        b'{"entries": [' + item + b"]}",  # whitespace
        b'{"entries":[]}',
        b'{"entries":[' + item + b"],\"x\":1}",
        b"[1]",
        b"not json",
    ):
        assert batch_items(body, max_entries=10) is None
    assert batch_items(b'{"entries":[' + item + b"," + item + b"]}", max_entries=1) is None
