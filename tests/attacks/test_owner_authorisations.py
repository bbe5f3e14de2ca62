"""Threat: someone other than the janitor quorum sets package owners through the log (ADR 0013).

Owner authorisations are log entries (Conex's "authorisation file signed by
janitors"): they set the owners of packages of one repository, need the
repository's janitor quorum (2 of 3 in tests/ownerkit.py), and carry a
per-repository counter so that an old one cannot be replayed. Each refusal
leaves the map, its saved state and the log unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest

from charterkit import Sim, revocation
from ownerkit import (
    ALICE,
    BOARD,
    FIRST,
    J1,
    J2,
    J3,
    M1,
    MALLORY,
    PUB,
    owned_scenario,
    publish,
    with_changed,
)
from vigil.core.dsse import Envelope, sign_envelope
from vigil.core.intoto import PAYLOAD_TYPE_INTOTO
from vigil.core.note import Ed25519Signer
from vigil.core.owners import OwnerApprovalError
from vigil.core.statements import owners_statement, parse_owners
from vigil.core.statusmap import StatusMap
from vigil.errors import FormatError, PolicyError, RollbackError, ThresholdError


def authorise(
    counter: int, packages: Mapping[str, Sequence[str]], signers: Sequence[Ed25519Signer],
    repository: str = "oss",
) -> Envelope:
    statement = owners_statement(repository=repository, counter=counter, packages=packages)
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


@contextmanager
def unchanged(sim: Sim) -> Iterator[None]:
    saved, entries = sim.state.export_state(), list(sim.entries)
    yield
    assert sim.state.export_state() == saved and sim.entries == entries


MALLORY_OWNS_FOO = {"foo": [MALLORY.vkey]}


# -- refused ------------------------------------------------------------------------------


def test_a_single_janitor_under_quorum_2() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(
        ThresholdError, match=r"owners authorisation 1 of 'oss': janitors \(team 'janitors'\): "
        r"1 of 2"
    ):
        sim.submit(authorise(1, MALLORY_OWNS_FOO, [J1]))


def test_the_same_janitor_twice_counts_once() -> None:
    sim = owned_scenario()
    envelope = authorise(1, MALLORY_OWNS_FOO, [J1])
    doubled = Envelope(envelope.payload_type, envelope.payload, envelope.signatures * 2)
    with unchanged(sim), pytest.raises(ThresholdError, match="1 of 2"):
        sim.submit(doubled)


def test_a_non_janitor() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(
        PolicyError, match=r"signed by own-mallory .*, own-alice .*none of whom is a janitor"
    ):
        sim.submit(authorise(1, MALLORY_OWNS_FOO, [MALLORY, ALICE]))
    with unchanged(sim), pytest.raises(PolicyError, match="none of whom is a janitor"):
        sim.submit(authorise(1, MALLORY_OWNS_FOO, [PUB, BOARD]))


def test_a_replayed_older_authorisation() -> None:
    sim = owned_scenario()
    old = authorise(1, MALLORY_OWNS_FOO, [J1, J2])
    sim.submit(old)
    sim.submit(authorise(2, {"foo": [ALICE.vkey]}, [J2, J3]))
    with unchanged(sim), pytest.raises(
        RollbackError, match=r"counter 1 is not above the latest authorisation's 2 \(index 3\)"
    ):
        sim.submit(old)
    with unchanged(sim), pytest.raises(PolicyError, match="counter 4 skips 3"):
        sim.submit(authorise(4, MALLORY_OWNS_FOO, [J1, J2]))


def test_a_revoked_janitor_key() -> None:
    sim = owned_scenario()
    sim.submit(revocation(J2, [BOARD]))
    with unchanged(sim), pytest.raises(PolicyError, match=r"signed by own-j2 .*revoked"):
        sim.submit(authorise(1, MALLORY_OWNS_FOO, [J1, J2]))


def test_a_repository_without_janitors_or_an_unknown_team() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="names no janitors for 'plain'"):
        sim.submit(authorise(1, MALLORY_OWNS_FOO, [J1, J2], repository="plain"))
    with unchanged(sim), pytest.raises(PolicyError, match="unknown team 'ghosts'"):
        sim.submit(authorise(1, {"foo": ["team:ghosts"]}, [J1, J2]))
    with unchanged(sim), pytest.raises(PolicyError, match="cannot contain '/'"):
        sim.submit(authorise(1, {"a/b": [ALICE.vkey]}, [J1, J2]))


@pytest.mark.parametrize(
    ("predicate", "message"),
    [
        ({"repository": "oss", "counter": 0, "packages": {"foo": []}}, "counter: got 0"),
        ({"repository": "oss", "counter": 1, "packages": {}}, "want an object of 1 to"),
        ({"repository": "oss", "counter": 1, "packages": {"foo": ["nobody"]}},
         r"packages\['foo'\]\[0\]: verifier key 'nobody'"),
        ({"repository": "oss", "counter": 1, "packages": {"foo": ["team:x", "team:x"]}},
         "an owner is listed twice"),
        ({"repository": "oss", "counter": 1, "packages": {"-x": []}}, "not a package name"),
        ({"repository": "oss", "counter": 1, "packages": {"foo": []}, "x": 1}, "unknown field"),
    ],
)
def test_the_parser_is_strict(predicate: dict[str, object], message: str) -> None:
    from vigil.core.intoto import build_statement
    from vigil.core.statements import OWNERS_PREDICATE_TYPE

    statement = build_statement(
        owners_statement(repository="oss", counter=1, packages={"foo": []}).subjects,
        OWNERS_PREDICATE_TYPE, predicate,
    )
    with pytest.raises(FormatError, match=message):
        parse_owners(statement)


def test_the_subject_must_be_the_repository() -> None:
    from vigil.core.intoto import Subject, build_statement
    from vigil.core.statements import OWNERS_PREDICATE_TYPE

    statement = build_statement(
        [Subject("other", {"sha256": "00" * 32})], OWNERS_PREDICATE_TYPE,
        {"repository": "oss", "counter": 1, "packages": {"foo": []}},
    )
    with pytest.raises(FormatError, match="want exactly one subject, the repository"):
        parse_owners(statement)


# -- accepted, then used ------------------------------------------------------------------


def test_a_quorum_sets_owners_and_releases_are_judged_by_them() -> None:
    sim = owned_scenario()
    # The charter says foo is Alice's; the janitors hand it to M1 and make bar unowned.
    sim.submit(authorise(1, {"foo": [M1.vkey], "bar": []}, [J1, J3]))
    with unchanged(sim), pytest.raises(
        OwnerApprovalError, match=r"package 'foo' \(changed\) needs a signature by an owner "
        r"\(own-m1"
    ):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, M1]))
    # bar has no owner now: M1 (of team mirage, its charter owner) no longer suffices.
    changed = with_changed(with_changed(FIRST, "foo"), "bar")
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'bar' \(changed\) has no owner"):
        sim.submit(publish(3, changed, [PUB, M1]))
    sim.submit(publish(3, changed, [PUB, J1, J2]))
    # baz was not named: the charter's owners still apply.
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'baz' \(changed\)"):
        sim.submit(publish(4, with_changed(changed, "baz"), [PUB, MALLORY]))


def test_later_authorisations_override_earlier_ones_per_package() -> None:
    sim = owned_scenario()
    sim.submit(authorise(1, {"foo": [MALLORY.vkey], "baz": [MALLORY.vkey]}, [J1, J2]))
    sim.submit(authorise(2, {"foo": ["team:mirage"]}, [J1, J2]))
    sim.submit(publish(2, with_changed(with_changed(FIRST, "foo"), "baz"), [PUB, M1, MALLORY]))


def test_a_restart_keeps_the_authorisations() -> None:
    sim = owned_scenario()
    sim.submit(authorise(1, {"foo": [M1.vkey]}, [J1, J2]))
    saved = sim.state.export_state()
    sim.state = StatusMap.restore_state(saved, lambda i: sim.entries[i])
    assert sim.state.export_state() == saved
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"own-m1"):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    with unchanged(sim), pytest.raises(RollbackError):
        sim.submit(authorise(1, {"foo": [M1.vkey]}, [J1, J2]))
    # A saved table that its entry contradicts is refused.
    forged = saved.replace(M1.vkey.encode(), MALLORY.vkey.encode())
    assert forged != saved
    with pytest.raises(FormatError, match="is not owners authorisation 1 of 'oss'"):
        StatusMap.restore_state(forged, lambda i: sim.entries[i])


def test_an_auditor_names_an_authorisation_a_lying_log_took() -> None:
    """A log that logged one janitor's authorisation is caught by replay (vigil audit, auditing
    witnesses): the entry is a violation, and the owners stay the charter's."""
    from charterkit import sign_charter
    from ownerkit import SPEC
    from vigil.core.dsse import format_envelope
    from vigil.core.statusmap import Replayer

    entries = [
        sign_charter(SPEC.text(), [BOARD]),
        publish(1, FIRST, [PUB, J1, J2]),
        authorise(1, MALLORY_OWNS_FOO, [J1]),  # under quorum: an honest log refuses it
        publish(2, with_changed(FIRST, "foo"), [PUB, MALLORY]),  # judged by the charter: Alice's
    ]
    replayer = Replayer()
    replayer.extend(format_envelope(e) for e in entries)
    assert [v.index for v in replayer.violations] == [2, 3]
    assert isinstance(replayer.violations[0].error, ThresholdError)
    assert isinstance(replayer.violations[1].error, OwnerApprovalError)
    assert "own-alice" in str(replayer.violations[1].error)
