"""Role statement predicates: strict parsing, builders that round-trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from charterkit import T0, key, state_digest
from vigil.core.intoto import Subject, build_statement, parse_statement
from vigil.core.statements import (
    ADVISORY_PREDICATE_TYPE,
    REBUILD_PREDICATE_TYPE,
    RELEASE_PREDICATE_TYPE,
    REVOCATION_PREDICATE_TYPE,
    RebuildResult,
    advisory_statement,
    format_time,
    parse_advisory,
    parse_rebuild,
    parse_release,
    parse_revocation,
    parse_time,
    rebuild_statement,
    release_statement,
    revocation_statement,
)
from vigil.errors import FormatError

STATE = Subject("repodata/repomd.xml", {"sha256": state_digest("oss", 1).hex()})


def mutate(statement_bytes: bytes, **changes: Any) -> Any:
    document = json.loads(statement_bytes)
    for name, value in changes.items():
        if value is None:
            document["predicate"].pop(name, None)
        else:
            document["predicate"][name] = value
    return parse_statement(json.dumps(document).encode())


def test_time_is_one_spelling_per_instant() -> None:
    assert format_time(T0) == "2023-11-14T22:13:20Z"
    assert parse_time("2023-11-14T22:13:20Z", what="t") == T0
    assert parse_time("2024-02-29T23:59:59Z", what="t") == 1709251199
    assert parse_time("1969-12-31T23:59:59Z", what="t") == -1
    for bad in ("2023-11-14T22:13:20+00:00", "2023-11-14t22:13:20z", "2023-11-14T22:13:20.5Z",
                "2023-02-30T00:00:00Z", "2023-11-14 22:13:20Z", 5, "2023-02-29T00:00:00Z",
                "2023-11-14T24:00:00Z", "2023-11-14T23:60:00Z", "2023-11-14T23:59:60Z",
                "2023-13-01T00:00:00Z", "0000-01-01T00:00:00Z", "٢٠٢٣-11-14T22:13:20Z"):
        with pytest.raises(FormatError, match="t: "):
            parse_time(bad, what="t")


class TestRelease:
    def build(self, **kwargs: Any) -> Any:
        values: dict[str, Any] = {
            "repository": "oss", "version": 1, "format": "rpm-md", "published_s": T0,
            "state": STATE,
        }
        values.update(kwargs)
        return release_statement(**values)

    def test_round_trip(self) -> None:
        artifact = Subject("x86_64/foo.rpm", {"sha256": "cd" * 32})
        parsed = parse_release(self.build(artifacts=[artifact]))
        assert (parsed.repository, parsed.version, parsed.format) == ("oss", 1, "rpm-md")
        assert parsed.published_s == T0 and parsed.digest == state_digest("oss", 1)
        assert parsed.artifacts == (artifact,)

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"version": 0}, "version: got 0, want 1 to"),
            ({"version": "2"}, "version: want an integer"),
            ({"version": True}, "version: want an integer"),
            ({"format": "zip"}, "format: got 'zip'"),
            ({"published": "yesterday"}, "published: 'yesterday' is not a UTC time"),
            ({"repository": "a b"}, "repository: 'a b' is not a repository name"),
            ({"repository": None}, "missing required field 'repository'"),
            ({"channel": "beta"}, r"unknown field\(s\) 'channel'"),
        ],
    )
    def test_strict(self, changes: dict[str, Any], message: str) -> None:
        with pytest.raises(FormatError, match=message):
            parse_release(mutate(self.build().raw, **changes))

    def test_subjects(self) -> None:
        no_sha = Subject("repomd.xml", {"sha512": "ab" * 64})
        with pytest.raises(FormatError, match="has no sha256 digest"):
            self.build(state=no_sha)
        twice = [Subject("a.rpm", {"sha256": "cd" * 32})] * 2
        with pytest.raises(FormatError, match=r"'a\.rpm': listed twice"):
            self.build(artifacts=twice)
        other = build_statement([STATE], REBUILD_PREDICATE_TYPE, {})
        with pytest.raises(FormatError, match="predicateType"):
            parse_release(other)


class TestRebuild:
    def build(self, results: list[RebuildResult]) -> Any:
        return rebuild_statement(
            repository="oss", version=3, release_digest=state_digest("oss", 3),
            builder="https://rb.example/", results=results,
            inputs=[Subject("foo.buildinfo", {"sha256": "ee" * 32})],
        )

    def test_outcomes(self) -> None:
        ok = RebuildResult("a.rpm", "reproduced", {"sha256": "aa" * 32})
        bad = RebuildResult("b.rpm", "mismatch", {"sha256": "bb" * 32})
        failed = RebuildResult("c.rpm", "failed", {})
        parsed = parse_rebuild(self.build([ok]))
        assert parsed.outcome == "reproduced" and parsed.release_digest == state_digest("oss", 3)
        assert parsed.inputs[0].name == "foo.buildinfo"
        assert parse_rebuild(self.build([ok, failed])).outcome == "failed"
        assert parse_rebuild(self.build([ok, failed, bad])).outcome == "mismatch"

    def test_strict(self) -> None:
        with pytest.raises(FormatError, match="a reproduced artifact needs its digest"):
            self.build([RebuildResult("a.rpm", "reproduced", {})])
        with pytest.raises(FormatError, match="want at least one result"):
            self.build([])
        raw = self.build([RebuildResult("a.rpm", "failed", {})]).raw
        with pytest.raises(FormatError, match="result: got 'fine'"):
            parse_rebuild(mutate(raw, results=[{"name": "a", "result": "fine"}]))
        with pytest.raises(FormatError, match="listed twice"):
            parse_rebuild(mutate(raw, results=[{"name": "a", "result": "failed"}] * 2))


class TestAdvisory:
    def build(self, **kwargs: Any) -> Any:
        values: dict[str, Any] = {
            "id": "VSA-1", "repository": "oss", "action": "block",
            "release_digest": state_digest("oss", 1), "introduced": 1, "fixed": 3,
            "packages": ["foo"], "summary": "foo is bad",
            "osv": {"id": "VSA-1", "summary": "foo", "aliases": ["CVE-2024-1"]},
        }
        values.update(kwargs)
        return advisory_statement(**values)

    def test_round_trip_and_range(self) -> None:
        parsed = parse_advisory(self.build())
        assert (parsed.id, parsed.action) == ("VSA-1", "block")
        assert (parsed.introduced, parsed.fixed) == (1, 3)
        assert parsed.packages == ("foo",) and parsed.osv is not None
        assert parsed.affects(1) and parsed.affects(2) and not parsed.affects(3)
        withdraw = parse_advisory(self.build(id="VSA-2", action="withdraw", withdraws="VSA-1",
                                             osv=None))
        assert withdraw.withdraws == "VSA-1" and not withdraw.affects(1)

    def test_strict(self) -> None:
        with pytest.raises(FormatError, match="fixed: got 1, want 2 to"):
            self.build(introduced=1, fixed=1)
        with pytest.raises(FormatError, match="action withdraw needs 'withdraws'"):
            self.build(action="withdraw")
        with pytest.raises(FormatError, match="cannot withdraw itself"):
            self.build(withdraws="VSA-1")
        with pytest.raises(FormatError, match="differs from the advisory id"):
            self.build(osv={"id": "OTHER"})
        with pytest.raises(FormatError, match=r"osv: unknown field\(s\) 'exploit'"):
            self.build(osv={"exploit": "..."})
        with pytest.raises(FormatError, match="is not an advisory id"):
            self.build(id="../etc")
        raw = self.build().raw
        with pytest.raises(FormatError, match="missing required field 'affected'"):
            parse_advisory(mutate(raw, affected=None))


class TestRevocation:
    def test_round_trip(self) -> None:
        mallory = key("mallory")
        parsed = parse_revocation(revocation_statement(key=mallory.vkey, from_index=5, reason="x"))
        assert parsed.key == mallory.vkey and parsed.from_index == 5
        assert parsed.verifier == mallory.verifier()

    def test_subject_must_be_the_key(self) -> None:
        mallory, other = key("mallory"), key("other")
        good = revocation_statement(key=mallory.vkey)
        document = json.loads(good.raw)
        document["predicate"]["key"] = other.vkey
        with pytest.raises(FormatError, match="want exactly one subject, the key"):
            parse_revocation(parse_statement(json.dumps(document).encode()))
        assert good.predicate_type == REVOCATION_PREDICATE_TYPE


def test_predicate_types_are_distinct() -> None:
    types = {RELEASE_PREDICATE_TYPE, REBUILD_PREDICATE_TYPE, ADVISORY_PREDICATE_TYPE,
             REVOCATION_PREDICATE_TYPE}
    assert len(types) == 4
