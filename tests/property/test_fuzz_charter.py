"""Fuzz: the charter, predicate and record parsers fail only with FormatError."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from charterkit import CharterSpec, Repo, key
from fuzzing import fuzz_settings
from vigil.core.charter import parse_charter
from vigil.core.intoto import Subject, build_statement
from vigil.core.statements import (
    ADVISORY_PREDICATE_TYPE,
    REBUILD_PREDICATE_TYPE,
    RELEASE_PREDICATE_TYPE,
    REVOCATION_PREDICATE_TYPE,
    parse_advisory,
    parse_rebuild,
    parse_release,
    parse_revocation,
)
from vigil.core.statusmap import parse_record
from vigil.errors import FormatError

VALID = CharterSpec(
    foundation=[key("a"), key("b")], threshold=2, repositories=[Repo("oss", [key("p")])],
    security=[key("s")],
).text()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=5),
    max_leaves=20,
)


@fuzz_settings
@given(st.integers(0, len(VALID) - 1), st.integers(0, len(VALID)), st.binary(max_size=30))
def test_charter_splices(start: int, end: int, junk: bytes) -> None:
    data = VALID[:start] + junk + VALID[max(start, end):]
    with contextlib.suppress(FormatError):
        parse_charter(data)


@fuzz_settings
@given(st.text(max_size=400))
def test_charter_text(text: str) -> None:
    with contextlib.suppress(FormatError):
        parse_charter(text.encode("utf-8", "surrogatepass"))


PARSERS = {
    RELEASE_PREDICATE_TYPE: parse_release,
    REBUILD_PREDICATE_TYPE: parse_rebuild,
    ADVISORY_PREDICATE_TYPE: parse_advisory,
    REVOCATION_PREDICATE_TYPE: parse_revocation,
}


@fuzz_settings
@given(st.sampled_from(sorted(PARSERS)), st.dictionaries(
    st.sampled_from(["repository", "version", "format", "published", "builder", "results",
                     "inputs", "id", "action", "affected", "withdraws", "summary", "osv",
                     "key", "from_index", "reason", "x"]), JSON, max_size=8))
def test_predicates(predicate_type: str, predicate: dict[str, object]) -> None:
    try:
        statement = build_statement([Subject("s", {"sha256": "00" * 32})], predicate_type,
                                    predicate)
    except FormatError:
        return
    with contextlib.suppress(FormatError):
        PARSERS[predicate_type](statement)


@fuzz_settings
@given(JSON)
def test_records(value: object) -> None:
    try:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return
    with contextlib.suppress(FormatError):
        parse_record(data)
