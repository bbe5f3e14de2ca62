"""Fuzz and round-trip properties: verification bundles (vigil.core.bundle).

Every input either parses or raises FormatError, nothing else; bundles format
and parse back to themselves; and the checks never raise on a parsed bundle,
however its fields were changed (a bad bundle is a failed check, not a crash).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from charterkit import rebuild, release
from clientkit import (
    PUB,
    RB1,
    REPO,
    MemoryLog,
    charter_of,
    charter_spec,
    digest_of,
    metadata,
    signed_charter,
)
from fuzzing import FUZZ_EXAMPLES, fuzz_settings, mutations
from vigil.client.checks import Trusted, verify_bundle
from vigil.core.bundle import format_bundle, parse_bundle
from vigil.errors import FormatError

roundtrip_settings = settings(max_examples=min(FUZZ_EXAMPLES, 500), deadline=None)
SPEC = charter_spec()


def _log() -> MemoryLog:
    log = MemoryLog()
    log.submit(signed_charter(SPEC))
    for version in (1, 2):
        log.submit(release(REPO, version, [PUB], digest=digest_of(metadata(version))))
        log.submit(rebuild(REPO, version, [RB1], digest=digest_of(metadata(version))))
    return log


LOG = _log()
BUNDLES = [LOG.bundle(), LOG.bundle(old_size=3), LOG.bundle("missing"), LOG.bundle(
    charter_version=0)]
SEEDS = [format_bundle(b) for b in BUNDLES]


def parses_or_format_error(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        parse_bundle(data)


@fuzz_settings
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    parses_or_format_error(data)


_TOKENS = [b"{", b"}", b"[", b"]", b",", b'"', b"0", b"-1", b"null", b"\\u0000", b"\xff",
           b'"entries":', b'"proof":[]']


@fuzz_settings
@given(mutations(SEEDS, _TOKENS))
def test_mutated(data: bytes) -> None:
    parses_or_format_error(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20)
    | st.sampled_from(["AAAA", "=", "A" * 43 + "=", "-1", "1e400"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            paths += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths += _paths(v, (*prefix, i))
    return paths


@fuzz_settings
@given(st.data())
def test_structural_changes(data: st.DataObject) -> None:
    """Replace or delete one field anywhere: parse or FormatError, and a parsed
    bundle gives a report, never an exception."""
    document = json.loads(data.draw(st.sampled_from(SEEDS)))
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON_VALUES)
    try:
        bundle = parse_bundle(json.dumps(document).encode())
    except FormatError:
        return
    report = verify_bundle(bundle, Trusted(charter_of(SPEC)), repository=REPO,
                           metadata_digest=digest_of(metadata(2)), now=int(time.time()))
    assert report.verdict in ("verified", "rejected", "stale")


@roundtrip_settings
@given(st.sampled_from(BUNDLES))
def test_round_trip(bundle: Any) -> None:
    assert parse_bundle(format_bundle(bundle)) == bundle


def test_caps() -> None:
    document = json.loads(SEEDS[0])
    document["entries"] = document["entries"] * 3000
    try:
        parse_bundle(json.dumps(document).encode())
    except FormatError as exc:
        assert "at most" in str(exc) or "ascending" in str(exc)
    else:
        raise AssertionError("an oversized entry list parsed")
    document = json.loads(SEEDS[0])
    document["extra"] = 1
    try:
        parse_bundle(json.dumps(document).encode())
    except FormatError as exc:
        assert "unknown key 'extra'" in str(exc)
    else:
        raise AssertionError("an unknown key parsed")
