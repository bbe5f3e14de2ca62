"""Threat: a publisher, another package's owner or a lone janitor changes a package (Conex).

The charter (tests/ownerkit.py) gives "oss" package owners and a janitor
quorum of 2 of 3. Each refused release leaves the map and the log unchanged;
the refusal is a PolicyError (the log answers 422 ``rejected``) naming the
package and what was missing.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from rolesupport import unchanged

from charterkit import Sim, key, release, revocation, sign_charter
from ownerkit import (
    ALICE,
    BOARD,
    FIRST,
    J1,
    J2,
    J3,
    M1,
    M2,
    MALLORY,
    OWNERS,
    PUB,
    SPEC,
    owned_scenario,
    publish,
    rpm,
    with_changed,
)
from vigil.core.dsse import Envelope, add_signatures, sign_envelope
from vigil.core.intoto import PAYLOAD_TYPE_INTOTO
from vigil.core.note import generate_signer
from vigil.core.owners import OwnerApprovalError
from vigil.core.statusmap import StatusMap, StatusRecord
from vigil.errors import FormatError, PolicyError, ThresholdError


def latest_version(sim: Sim) -> int:
    record = sim.record("oss")
    assert isinstance(record, StatusRecord) and record.latest is not None
    return record.latest.version


# -- refused ------------------------------------------------------------------------------


def test_publisher_changes_an_owned_package_without_its_owner() -> None:
    sim = owned_scenario()
    changed = with_changed(FIRST, "foo")
    with (
        unchanged(sim),
        pytest.raises(OwnerApprovalError, match=r"package 'foo' \(changed\) needs a signature "
                      r"by an owner \(own-alice \([0-9a-f]{8}\)\) or by 2 of 3 janitors") as info,
    ):
        sim.submit(publish(2, changed, [PUB]))
    assert (info.value.package, info.value.change) == ("foo", "changed")
    assert "signed: nobody" in str(info.value)


def test_owner_of_one_package_changes_another() -> None:
    sim = owned_scenario()
    # ALICE owns foo and baz, not bar (team mirage owns bar).
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"package 'bar' \(changed\)"):
        sim.submit(publish(2, with_changed(FIRST, "bar"), [PUB, ALICE]))
    # A team member owns bar, not foo.
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"package 'foo' \(changed\)"):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, M1]))


def test_single_janitor_where_the_quorum_is_two() -> None:
    sim = owned_scenario()
    with (
        unchanged(sim),
        pytest.raises(OwnerApprovalError, match=r"janitors: 1 of 2 required signatures; "
                      r"signed: own-j1"),
    ):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, J1]))


def _twice(envelope: Envelope) -> Envelope:
    """The envelope with a second, identical signature by ``signer``."""
    return Envelope(envelope.payload_type, envelope.payload,
                    (*envelope.signatures, envelope.signatures[-1]))


def test_the_same_janitor_key_signing_twice_counts_once() -> None:
    sim = owned_scenario()
    twice = _twice(publish(2, with_changed(FIRST, "foo"), [PUB, J1]))
    assert len(twice.signatures) == 3
    with unchanged(sim), pytest.raises(OwnerApprovalError, match="1 of 2 required"):
        sim.submit(twice)
    # One janitor key under a second name is another verifier key: it counts for nothing.
    alias = generate_signer("own-j1-alias", seed=_seed_of("own-j1"))
    assert alias.verifier().public_key == J1.verifier().public_key
    with unchanged(sim), pytest.raises(OwnerApprovalError, match="1 of 2 required"):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, J1, alias]))


def _seed_of(name: str) -> bytes:
    return hashlib.sha256(f"charterkit/{name}/1".encode()).digest()


def test_revoked_owner_key_does_not_count() -> None:
    sim = owned_scenario()
    sim.submit(revocation(ALICE, [ALICE]))
    with unchanged(sim), pytest.raises(PolicyError, match=r"own-alice .* a key revoked"):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    # Revoked in the charter instead: the same.
    sim = owned_scenario()
    sim.submit(sign_charter(SPEC.next(revoked=[(ALICE, 2)]).text(), [BOARD]))
    with unchanged(sim), pytest.raises(PolicyError, match="a key revoked from index 2"):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))


def test_new_package_name_needs_the_janitor_quorum() -> None:
    sim = owned_scenario()
    added = [*FIRST, rpm("qux")]
    for signers in ([PUB], [PUB, ALICE, M1], [PUB, J3]):
        with (
            unchanged(sim),
            pytest.raises(OwnerApprovalError, match=r"package 'qux' \(added\) has no owner, so "
                          r"it needs 2 of 3 janitors \(team 'janitors'\)"),
        ):
            sim.submit(publish(2, added, signers))


def test_removing_a_package_needs_approval() -> None:
    sim = owned_scenario()
    without_bar = [a for a in FIRST if "/bar-" not in a[0]]
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'bar' \(removed\)"):
        sim.submit(publish(2, without_bar, [PUB]))
    sim.submit(publish(2, without_bar, [PUB, M2]))


def test_an_artifact_that_names_no_package_is_refused() -> None:
    sim = owned_scenario()
    odd = [*FIRST, ("x86_64/README", b"\x01" * 32)]
    with (
        unchanged(sim),
        pytest.raises(PolicyError, match=r"'x86_64/README': not named NAME-VERSION-RELEASE.ARCH"
                      r".rpm; 'oss' has package owners"),
    ):
        sim.submit(publish(2, odd, [PUB, J1, J2, J3]))


def test_a_release_without_artifacts_is_refused() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="must list its artifacts"):
        sim.submit(publish(2, [], [PUB, J1, J2]))


def test_owners_do_not_replace_the_publishers() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="none of whom is a publisher"):
        sim.submit(publish(2, with_changed(FIRST, "foo"), [ALICE, J1, J2]))
    with unchanged(sim), pytest.raises(PolicyError, match="none of whom is a publisher"):
        sim.submit(publish(2, FIRST, [MALLORY]))


def test_publisher_threshold_still_applies() -> None:
    other = key("own-pub2")
    oss = replace(SPEC.repositories[0], publishers=[PUB, other], publisher_threshold=2)
    spec = replace(SPEC, repositories=[oss])
    sim = Sim()
    sim.submit(sign_charter(spec.text(), [BOARD]))
    with pytest.raises(ThresholdError, match="publishers: 1 of 2"):
        sim.submit(publish(1, FIRST, [PUB, J1, J2]))
    sim.submit(publish(1, FIRST, [PUB, other, J1, J2]))


# -- accepted -----------------------------------------------------------------------------


def test_owner_changes_their_package() -> None:
    sim = owned_scenario()
    sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    assert latest_version(sim) == 2


def test_team_member_changes_the_team_package() -> None:
    sim = owned_scenario()
    sim.submit(publish(2, with_changed(FIRST, "bar"), [PUB, M2]))
    # baz is owned by ALICE or the team: either suffices.
    sim.submit(publish(3, with_changed(with_changed(FIRST, "bar"), "baz"), [PUB, M1]))
    assert latest_version(sim) == 3


def test_janitor_quorum_changes_anything() -> None:
    sim = owned_scenario()
    everything = [*with_changed(with_changed(FIRST, "foo"), "bar"), rpm("qux")]
    sim.submit(publish(2, everything, [PUB, J3, J1]))
    assert latest_version(sim) == 2


def test_unchanged_packages_need_nothing() -> None:
    sim = owned_scenario()
    # Only foo changes: its owner suffices, bar and baz need nobody.
    sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    # Nothing changes (a metadata-only release): the publisher alone.
    sim.submit(publish(3, with_changed(FIRST, "foo"), [PUB]))
    # Artifact order does not matter.
    sim.submit(publish(4, list(reversed(with_changed(FIRST, "foo"))), [PUB]))
    assert latest_version(sim) == 4


def test_repository_without_owners_is_unaffected() -> None:
    sim = owned_scenario()
    sim.submit(publish(1, [rpm("anything")], [PUB], repository="plain"))
    sim.submit(publish(2, [("odd-name", b"\x02" * 32)], [PUB], repository="plain"))
    sim.submit(release("plain", 3, [PUB]))


def test_owners_added_by_a_later_charter_compare_with_the_release_before() -> None:
    sim = Sim()
    plain = [replace(r, janitors=None, janitor_threshold=None, owners=())
             for r in SPEC.repositories]
    v1 = replace(SPEC, repositories=plain)
    sim.submit(sign_charter(v1.text(), [BOARD]))
    # Before owners: an artifact that names no package is fine.
    sim.submit(publish(1, [*FIRST, ("x86_64/README", b"\x01" * 32)], [PUB]))
    v2 = v1.next(repositories=SPEC.repositories)
    sim.submit(sign_charter(v2.text(), [BOARD]))
    # Dropping the unnamed artifact needs the janitors (it is owned by nobody).
    with pytest.raises(OwnerApprovalError, match=r"'x86_64/README' \(removed\) has no owner"):
        sim.submit(publish(2, FIRST, [PUB, ALICE]))
    sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, J1, J2]))
    sim.submit(publish(3, with_changed(with_changed(FIRST, "foo"), "foo", "3.0"), [PUB, ALICE]))


def test_a_restored_map_still_knows_the_latest_artifacts() -> None:
    sim = owned_scenario()
    sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    state = StatusMap.restore_state(sim.state.export_state(), lambda i: sim.entries[i])
    sim.state = state
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'foo' \(changed\)"):
        sim.submit(publish(3, FIRST, [PUB]))
    sim.submit(publish(3, with_changed(with_changed(FIRST, "foo"), "bar"), [PUB, M1]))


def test_a_restored_map_checks_the_release_entries_it_reads() -> None:
    sim = owned_scenario()
    sim.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]))
    saved = sim.state.export_state()
    # A state file whose entries were swapped under it: release 1 read for index 2.
    with pytest.raises(FormatError, match="entry 2 is not release 2 of 'oss'"):
        StatusMap.restore_state(saved, lambda i: sim.entries[min(i, 1)])


def test_an_owner_adds_a_signature_to_a_publisher_envelope() -> None:
    """The signing workflow: the publisher signs, the owner adds theirs, the log accepts."""
    sim = owned_scenario()
    envelope = publish(2, with_changed(FIRST, "baz"), [PUB])
    with unchanged(sim), pytest.raises(OwnerApprovalError):
        sim.submit(envelope)
    sim.submit(add_signatures(envelope, [ALICE]))
    assert OWNERS[2][0] == "baz"


def test_unsigned_by_anyone_is_still_refused() -> None:
    sim = owned_scenario()
    envelope = sign_envelope(PAYLOAD_TYPE_INTOTO, publish(2, FIRST, [PUB]).payload, [J1, J2])
    with unchanged(sim), pytest.raises(PolicyError, match="none of whom is a publisher"):
        sim.submit(envelope)
