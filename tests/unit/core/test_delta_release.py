"""Delta releases (ADR 0012): the release predicate's ``artifacts``/``removed`` fields, strictly."""

from __future__ import annotations

from typing import Any

import pytest

from charterkit import T0
from vigil.core.intoto import Subject, build_statement
from vigil.core.statements import (
    MAX_REMOVED,
    RELEASE_PREDICATE_TYPE,
    parse_release,
    release_statement,
)
from vigil.errors import FormatError

STATE = Subject("repodata/repomd.xml", {"sha256": "ab" * 32})
FOO = Subject("x86_64/foo-2.0-1.x86_64.rpm", {"sha256": "cd" * 32})


def statement(listed: list[Subject] | None = None, **extra: Any) -> Any:
    predicate = {
        "repository": "oss", "version": 2, "format": "rpm-md",
        "published": "2024-11-22T10:00:00Z", **extra,
    }
    return build_statement([STATE, *(listed or [])], RELEASE_PREDICATE_TYPE, predicate)


def test_a_delta_round_trips() -> None:
    built = release_statement(
        repository="oss", version=2, format="rpm-md", published_s=T0, state=STATE,
        artifacts=[FOO], delta=True, removed=["x86_64/foo-1.0-1.x86_64.rpm", "a/bar-1-1.x.rpm"],
    )
    release = parse_release(built)
    assert release.delta and release.artifacts == (FOO,)
    assert release.removed == ("a/bar-1-1.x.rpm", "x86_64/foo-1.0-1.x86_64.rpm")  # sorted
    assert built.predicate["artifacts"] == "delta"


def test_a_full_release_has_no_delta_fields() -> None:
    release = parse_release(statement([FOO]))
    assert not release.delta and release.removed == ()
    assert "artifacts" not in release_statement(
        repository="oss", version=2, format="rpm-md", published_s=T0, state=STATE,
    ).predicate


def test_a_delta_may_change_nothing_but_the_metadata() -> None:
    release = parse_release(statement(artifacts="delta"))
    assert release.delta and release.artifacts == () and release.removed == ()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"artifacts": "full"}, r"artifacts: got 'full', want 'delta' \(leave the field out"),
        ({"artifacts": True}, r"artifacts: got 'True', want 'delta'"),
        ({"removed": ["a"]}, r"'removed' needs \"artifacts\": \"delta\""),
        ({"artifacts": "delta", "removed": []}, r"removed: 0 names, want 1 to"),
        ({"artifacts": "delta", "removed": "a"}, r"removed: want an array"),
        ({"artifacts": "delta", "removed": ["b", "a"]}, r"removed\[1\]: 'a' is not after 'b'"),
        ({"artifacts": "delta", "removed": ["a", "a"]}, r"removed\[1\]: 'a' is not after 'a'"),
        ({"artifacts": "delta", "removed": ["a", 7]}, r"removed\[1\]: want an artifact name"),
        ({"artifacts": "delta", "removed": [""]}, r"removed\[0\]: want an artifact name"),
        ({"artifacts": "delta", "removed": ["x" * 1025]}, r"removed\[0\]: want an artifact name"),
        ({"artifacts": "delta", "removed": ["a\nb"]}, r"removed\[0\]: contains a control"),
        ({"artifacts": "delta", "removed": [f"n{i:05d}" for i in range(MAX_REMOVED + 1)]},
         rf"removed: {MAX_REMOVED + 1} names, want 1 to {MAX_REMOVED}"),
        ({"artifacts": "delta", "removed": [FOO.name]},
         r"removed: 'x86_64/foo-2.0-1.x86_64.rpm' is also listed as an artifact"),
        ({"artifacts": "delta", "deleted": ["a"]}, r"unknown field\(s\) 'deleted'"),
    ],
)
def test_the_parser_is_strict(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_release(statement([FOO], **extra))


def test_the_builder_refuses_removals_in_a_full_release() -> None:
    with pytest.raises(ValueError, match="need delta=True"):
        release_statement(
            repository="oss", version=2, format="rpm-md", published_s=T0, state=STATE,
            removed=["a"],
        )
