"""Fuzz: delta releases (ADR 0012) and owner authorisations (ADR 0013) fail only with FormatError.

Byte mutations of valid statements (the format's own tokens included) must
either parse into a model that builds back to a statement the parser accepts
again, or raise FormatError: never another exception.
"""

from __future__ import annotations

import contextlib

from hypothesis import given

from charterkit import T0, key
from fuzzing import fuzz_settings, mutations
from vigil.core.intoto import Subject, parse_statement
from vigil.core.statements import (
    owners_statement,
    parse_owners,
    parse_release,
    release_statement,
)
from vigil.errors import FormatError

ALICE = key("fuzz-alice")
SEEDS = [
    release_statement(
        repository="oss", version=2, format="rpm-md", published_s=T0,
        state=Subject("repodata/repomd.xml", {"sha256": "ab" * 32}),
        artifacts=[Subject("x86_64/foo-2-1.x86_64.rpm", {"sha256": "cd" * 32})],
        delta=True, removed=["x86_64/bar-1-1.x86_64.rpm", "x86_64/foo-1-1.x86_64.rpm"],
    ).raw,
    owners_statement(repository="oss", counter=3,
                     packages={"foo": [ALICE.vkey, "team:mirage"], "bar": []}).raw,
]
TOKENS = [b'"delta"', b'"full"', b'"removed"', b'"artifacts"', b"[]", b'"a"', b",", b'"team:',
          b'"counter"', b'"packages"', b"0", b"-1", b"{}", b'"x86_64/foo-2-1.x86_64.rpm"']


@fuzz_settings
@given(mutations(SEEDS, TOKENS))
def test_mutated_statements(raw: bytes) -> None:
    with contextlib.suppress(FormatError):
        statement = parse_statement(raw)
        with contextlib.suppress(FormatError):
            release = parse_release(statement)
            again = release_statement(
                repository=release.repository, version=release.version, format=release.format,
                published_s=release.published_s, state=release.state,
                artifacts=release.artifacts, delta=release.delta, removed=release.removed,
            )
            assert parse_release(again) == release
        with contextlib.suppress(FormatError):
            owners = parse_owners(statement)
            rebuilt = owners_statement(repository=owners.repository, counter=owners.counter,
                                       packages=owners.packages)
            assert parse_owners(rebuilt) == owners
