"""Charters in words a board member reads, and signing one holder at a time."""

from __future__ import annotations

import pytest

from charterkit import CharterSpec, Repo, key, sign_charter
from vigil.core.charter import parse_charter, parse_signed_charter
from vigil.errors import FormatError
from vigil.roles.charter import (
    add_charter_signature,
    charter_template,
    describe_changes,
    describe_charter,
    format_duration,
    signature_status,
)

ALICE, BOB, CAROL, DAVE = key("alice"), key("bob"), key("carol"), key("dave")
PUB, PUB2, RB, SEC = key("pub"), key("pub2"), key("rb"), key("sec")
V1 = CharterSpec(
    foundation=[ALICE, BOB, CAROL], threshold=2,
    repositories=[Repo("oss", [PUB], rebuilders=[RB], rebuilds_required=1, grace_s=21600)],
    security=[SEC],
)


def test_durations() -> None:
    assert [format_duration(s) for s in (1, 59, 60, 5400, 3600, 86400, 172800)] == [
        "1 second", "59 seconds", "1 minute", "90 minutes", "1 hour", "1 day", "2 days",
    ]


def test_describe_charter() -> None:
    text = "\n".join(describe_charter(parse_charter(V1.text())))
    assert "Charter 'example', version 1" in text
    assert "Foundation: 2 of 3 keys must sign every change" in text
    assert "Repository 'oss' (rpm-md): a release needs 1 of 1 publisher signatures" in text
    assert "1 of these rebuilders to report the same bits: rb (" in text
    assert "newer than 1 day, they refuse it" in text
    assert "stays acceptable for 6 hours" in text
    assert "Security team: 1 of 1 keys" in text


def test_describe_changes() -> None:
    v2 = V1.next(
        foundation=[ALICE, BOB, DAVE], threshold=3,
        repositories=[
            Repo("oss", [PUB, PUB2], 2, rebuilders=[RB], rebuilds_required=0, stale="warn"),
            Repo("updates", [PUB]),
        ],
        revoked=[(CAROL, 12)],
    )
    lines = describe_changes(parse_charter(V1.text()), parse_charter(v2.text()))
    text = "\n".join(lines)
    assert "Foundation: adds dave (" in text and "Foundation: removes carol (" in text
    assert "signatures needed go from 2 to 3" in text
    assert "Repository 'oss' publishers: adds pub2" in text
    assert "publisher signatures needed go from 1 to 2" in text
    assert "required reproduced rebuilds go from 1 to 0" in text
    assert "a stale view now means warn (was reject)" in text
    assert "Adds repository 'updates'" in text
    assert "Revokes carol (" in text and "from log entry 12" in text
    bad = CharterSpec(**{**v2.__dict__, "previous": bytes(32)})
    warning = describe_changes(parse_charter(V1.text()), parse_charter(bad.text()))
    assert any("it would be refused" in line for line in warning)


def test_signing_in_separate_steps() -> None:
    text = V1.text()
    envelope = add_charter_signature(text, None, ALICE)
    status = signature_status(parse_signed_charter(envelope), None)
    assert "its own foundation: NOT met, 1 of 2" in status[0]
    envelope = add_charter_signature(text, envelope, BOB)
    assert "met, 2 of 2" in signature_status(parse_signed_charter(envelope), None)[0]
    with pytest.raises(FormatError, match="already signed"):
        add_charter_signature(text, envelope, BOB)
    other = V1.next().text()
    with pytest.raises(FormatError, match="carries charter example v1"):
        add_charter_signature(other, envelope, CAROL)
    v2 = V1.next(foundation=[ALICE, DAVE])
    status = signature_status(
        parse_signed_charter(sign_charter(v2.text(), [DAVE])), parse_charter(text)
    )
    assert status[0].startswith("the foundation of version 1: NOT met")
    assert status[1].startswith("its own foundation: NOT met")


def test_template_parses() -> None:
    data = charter_template("distro", [ALICE.vkey, BOB.vkey], 2)
    assert parse_charter(data).foundation.threshold == 2
    with pytest.raises(FormatError, match="threshold"):
        charter_template("distro", [ALICE.vkey], 2)


def test_describe_owners_teams_and_janitors() -> None:
    from ownerkit import SPEC

    text = "\n".join(describe_charter(parse_charter(SPEC.text())))
    assert "Team 'janitors': own-j1 (" in text and "Team 'mirage': own-m1 (" in text
    assert "a release that adds, changes or removes a package also needs the signature of one "\
        "of that package's owners, or of the janitors" in text
    assert "2 of the 3 janitors of team 'janitors' together can change any package; one "\
        "janitor alone cannot" in text
    assert "Package 'foo': owned by own-alice (" in text
    assert "Package 'baz': owned by own-alice (" in text
    assert "or any member of team 'mirage'." in text
    assert "A package not listed below (a new name) needs the janitors." in text
    plain = text.split("Repository 'plain'")[1]
    assert "Package owners" not in plain


def test_describe_owner_changes() -> None:
    from dataclasses import replace

    from ownerkit import ALICE, J1, J2, M1, SPEC

    oss = SPEC.repositories[0]
    v2 = SPEC.next(
        teams=[("janitors", [J1, J2]), ("mirage", [M1]), ("core", [ALICE])],
        repositories=[
            replace(oss, janitor_threshold=2,
                    owners=[("foo", ("team:core",)), ("qux", (ALICE.vkey,))]),
            replace(SPEC.repositories[1], janitors="janitors", janitor_threshold=2),
        ],
    )
    text = "\n".join(describe_changes(parse_charter(SPEC.text()), parse_charter(v2.text())))
    assert "Adds team 'core': own-alice (" in text
    assert "Team 'janitors': removes own-j3 (" in text
    assert "Team 'mirage': removes own-m2 (" in text
    assert "package 'foo' is now owned by any member of team 'core' (was own-alice (" in text
    assert "package 'qux' gets owners: own-alice (" in text
    assert "package 'bar' loses its owners (only the janitors can change it)" in text
    assert "Repository 'plain': starts requiring package owners' approval:" in text
    back = "\n".join(describe_changes(parse_charter(v2.text()), parse_charter(SPEC.text())))
    assert "Repository 'plain': drops package owners and janitors" in back
    assert "Removes team 'core'." in back


def test_template_mentions_owners() -> None:
    text = charter_template("distro", [ALICE.vkey], 1).decode()
    assert "[repository.owners]" in text and "[[team]]" in text


def test_describe_a_lone_janitor() -> None:
    from dataclasses import replace

    from ownerkit import J1, SPEC

    solo = replace(SPEC, teams=[("Solo", [J1]), ("mirage", [PUB])], repositories=[
        replace(SPEC.repositories[0], janitors="Solo", janitor_threshold=1, owners=())])
    text = "\n".join(describe_charter(parse_charter(solo.text())))
    assert "Janitors: the janitor (team 'Solo', own-j1 (" in text
    assert "alone can change any package." in text
