"""Charter teams, per-package owners and janitors: strict parsing with line numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from charterkit import CharterSpec, Repo
from ownerkit import ALICE, BOARD, J1, J2, J3, M1, M2, PUB, SPEC
from vigil.core.charter import Charter, parse_charter
from vigil.core.owners import (
    Owner,
    Ownership,
    PackageChange,
    Team,
    package_changes,
)
from vigil.errors import FormatError


def with_oss(**changes: object) -> CharterSpec:
    return replace(SPEC, repositories=[replace(SPEC.repositories[0], **changes)])


def parse(spec: CharterSpec) -> Charter:
    return parse_charter(spec.text())


def line_of(spec: CharterSpec, fragment: str) -> int:
    lines = spec.text().decode().split("\n")
    return next(n for n, line in enumerate(lines, start=1) if fragment in line)


def test_parses_teams_owners_and_janitors() -> None:
    charter = parse(SPEC)
    assert list(charter.teams) == ["janitors", "mirage"]
    assert charter.teams["mirage"].keys == (M1.verifier(), M2.verifier())
    ownership = charter.repositories["oss"].ownership
    assert ownership is not None
    assert ownership.janitors.name == "janitors" and ownership.janitor_threshold == 2
    assert list(ownership.packages) == ["foo", "bar", "baz"]
    assert ownership.owners("foo") == (Owner(key=ALICE.verifier()),)
    assert ownership.owners("bar") == (Owner(team=charter.teams["mirage"]),)
    assert ownership.owners("nope") == ()
    assert charter.repositories["plain"].ownership is None
    assert ownership.approved_by_owner("baz", [M2.vkey])
    assert not ownership.approved_by_owner("foo", [M2.vkey, PUB.vkey])


def test_janitors_without_an_owners_table() -> None:
    ownership = parse(with_oss(owners=())).repositories["oss"].ownership
    assert ownership is not None and dict(ownership.packages) == {}


@pytest.mark.parametrize(
    ("changes", "fragment", "message"),
    [
        ({"owners": [("foo", ["team:nope"])]}, '"foo"',
         r"owners foo\[0\]\): unknown team 'nope' \(teams: 'janitors', 'mirage'\)"),
        ({"janitors": "nope"}, "janitors = ", r"janitors\): unknown team 'nope'"),
        ({"owners": [("foo", [])]}, '"foo"', "want at least one owner"),
        ({"owners": [("foo", ["alice+00000000+AQ"])]}, '"foo"', r"foo\[0\]\): not a verifier key"),
        ({"janitor_threshold": 1}, "janitor_threshold", "got 1, want 2 to 3 .*a single janitor "
         "cannot modify packages"),
        ({"janitor_threshold": 4}, "janitor_threshold", "got 4, want 2 to 3"),
        ({"janitor_threshold": None}, "[[repository]]", "missing required key 'janitor_threshold'"),
        ({"janitors": None}, "[repository.owners]", "package owners need a janitor team"),
        ({"janitors": None, "owners": ()}, "janitor_threshold", "need a janitor team"),
        ({"owners": [("foo", [ALICE.vkey, ALICE.vkey])]}, '"foo"',
         r"foo\[1\]\): owner own-alice \([0-9a-f]{8}\) is listed twice"),
        ({"owners": [("foo", ["team:mirage", "team:mirage"])]}, '"foo"', "listed twice"),
        ({"owners": [("x86_64/foo", [ALICE.vkey])]}, '"x86_64/foo"',
         "rpm-md package names cannot contain '/'"),
        ({"owners": [("foo", ["team:mirage"]), ("foo", [ALICE.vkey])]}, None,
         "invalid TOML"),
    ],
)
def test_refuses(changes: dict[str, object], fragment: str | None, message: str) -> None:
    spec = with_oss(**changes)
    with pytest.raises(FormatError, match=message) as info:
        parse(spec)
    if fragment is not None:
        assert f"charter line {line_of(spec, fragment)} " in str(info.value)


def test_refuses_bad_teams() -> None:
    twice = replace(SPEC, teams=[*SPEC.teams, ("mirage", [ALICE])])
    with pytest.raises(FormatError, match=r"\(team 'mirage' name\): team 'mirage' is listed twice"):
        parse(twice)
    same_key = replace(SPEC, teams=[("janitors", [J1, J2, J1]), ("mirage", [M1])])
    with pytest.raises(FormatError, match=r"keys\[2\]\): key own-j1 .* listed twice"):
        parse(same_key)
    empty = replace(SPEC, teams=[("janitors", []), ("mirage", [M1])])
    with pytest.raises(FormatError, match="team 'janitors' keys\\): want at least one key"):
        parse(empty)
    bad_name = replace(SPEC, teams=[("-x", [J1])])
    with pytest.raises(FormatError, match="not a valid name"):
        parse(bad_name)
    extra = replace(SPEC, extra="[[team]]\nname = \"x\"\nkeys = []\nthreshold = 1\n")
    with pytest.raises(FormatError, match=r"want at least one key|unknown key"):
        parse(extra)


def test_one_janitor_alone_may_be_the_quorum() -> None:
    spec = replace(with_oss(janitors="solo", janitor_threshold=1),
                   teams=[*SPEC.teams, ("solo", [J3])])
    ownership = parse(spec).repositories["oss"].ownership
    assert ownership is not None and ownership.janitor_threshold == 1


def test_ownership_model_invariants() -> None:
    janitors = Team("j", (J1.verifier(), J2.verifier()))
    with pytest.raises(FormatError, match="want 2 to 2"):
        Ownership({}, janitors, 1)
    with pytest.raises(FormatError, match="want at least one owner"):
        Ownership({"foo": ()}, janitors, 2)
    with pytest.raises(FormatError, match="exactly one of a key or a team"):
        Owner()
    with pytest.raises(FormatError, match="listed twice"):
        Team("t", (J1.verifier(), J1.verifier()))
    with pytest.raises(FormatError, match="want at least one key"):
        Team("t", ())
    unrelated = CharterSpec(foundation=[BOARD], repositories=[Repo("x", [PUB])])
    assert parse(unrelated).teams == {}


def test_package_changes() -> None:
    old = {"a/foo-1-1.x86_64.rpm": "01", "a/foo-1-1.src.rpm": "02", "a/bar-1-1.x86_64.rpm": "03",
           "README": "04"}
    new = {"a/foo-1-1.x86_64.rpm": "01", "a/foo-1-1.src.rpm": "05", "a/baz-1-1.x86_64.rpm": "06"}
    assert package_changes("rpm-md", old, new) == [
        PackageChange("README", "removed"),
        PackageChange("bar", "removed"),
        PackageChange("baz", "added"),
        PackageChange("foo", "changed"),
    ]
    # A rename inside a package is a change; the same set in another order is none.
    assert package_changes("rpm-md", new, dict(reversed(list(new.items())))) == []
    moved = {"b/foo-1-1.x86_64.rpm": "01", "a/foo-1-1.src.rpm": "05", "a/baz-1-1.x86_64.rpm": "06"}
    assert package_changes("rpm-md", new, moved) == [PackageChange("foo", "changed")]
    with pytest.raises(FormatError, match="'README'"):
        package_changes("rpm-md", {}, old)
