"""Threat: a delta release (ADR 0012) sneaks a change past the package owners rule or the state.

A delta lists only what changed since the previous release; the status map
applies it to the repository's whole artifact set and judges the change as
the equivalent full release. Each refused delta leaves the map, its saved
state (which holds the artifact sets) and the log unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from charterkit import Sim, release
from ownerkit import ALICE, FIRST, J1, J2, M1, PUB, owned_scenario, rpm
from vigil.core.dsse import Envelope
from vigil.core.note import Ed25519Signer
from vigil.core.owners import OwnerApprovalError
from vigil.core.statusmap import StatusMap
from vigil.errors import FormatError, PolicyError

FOO_SRC = rpm("foo", arch="src")[0]


def delta(
    version: int, signers: Sequence[Ed25519Signer], *, listed: Sequence[tuple[str, bytes]] = (),
    removed: Sequence[str] = (), repository: str = "oss",
) -> Envelope:
    return release(repository, version, signers, artifacts=listed, delta=True, removed=removed)


@contextmanager
def unchanged(sim: Sim) -> Iterator[None]:
    """The map, the log and the saved state (with the artifact sets) stay as they were."""
    saved, entries = sim.state.export_state(), list(sim.entries)
    yield
    assert sim.state.export_state() == saved and sim.entries == entries


def artifacts(sim: Sim) -> dict[str, str]:
    restored = StatusMap.restore_state(sim.state.export_state(), lambda i: sim.entries[i])
    assert restored.export_state() == sim.state.export_state()
    return dict(json.loads(sim.state.export_state())["artifacts"][0][1])


# -- refused ------------------------------------------------------------------------------


def test_a_delta_changes_an_owned_package_without_its_owner() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"package 'foo' \(changed\)"):
        sim.submit(delta(2, [PUB], listed=[rpm("foo", "2.0")]))


def test_a_delta_removes_an_owned_package_without_approval() -> None:
    sim = owned_scenario()
    foo = [rpm("foo")[0], FOO_SRC]
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"package 'foo' \(removed\)"):
        sim.submit(delta(2, [PUB], removed=foo))


def test_removing_one_artifact_of_a_package_changes_the_package() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"package 'foo' \(changed\)"):
        sim.submit(delta(2, [PUB], removed=[FOO_SRC]))


def test_a_delta_adds_a_new_package_without_the_janitors() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'qux' \(added\) has no owner"):
        sim.submit(delta(2, [PUB, J1], listed=[rpm("qux")]))


def test_another_owner_cannot_approve_through_a_delta() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'foo' \(changed\)"):
        sim.submit(delta(2, [PUB, M1], listed=[rpm("foo", "2.0"), rpm("bar", "2.0")]))


def test_a_delta_as_the_first_release_is_refused() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(PolicyError, match=r"a delta release .* needs a previous"):
        sim.submit(delta(1, [PUB], listed=[rpm("x")], repository="plain"))


def test_a_delta_cannot_remove_what_the_repository_lacks() -> None:
    sim = owned_scenario()
    with unchanged(sim), pytest.raises(
        PolicyError, match=r"removes 'x86_64/gone-1.0-1.x86_64.rpm' and 1 more, which the"
    ):
        sim.submit(delta(2, [PUB, J1, J2], removed=[rpm("gone")[0], rpm("zz")[0]]))


def test_the_delta_chain_is_what_the_next_change_is_judged_against() -> None:
    """Foo 2.0 came in by a delta; putting foo 1.0 back is a change that needs Alice."""
    sim = owned_scenario()
    sim.submit(delta(2, [PUB, ALICE], listed=[rpm("foo", "2.0")], removed=[rpm("foo")[0]]))
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'foo' \(changed\)"):
        sim.submit(release("oss", 3, [PUB], artifacts=FIRST))


# -- accepted -----------------------------------------------------------------------------


def test_owners_approve_their_own_changes_in_a_delta() -> None:
    sim = owned_scenario()
    sim.submit(delta(2, [PUB, ALICE], listed=[rpm("foo", "2.0")], removed=[rpm("foo")[0]]))
    sim.submit(delta(3, [PUB, M1], listed=[rpm("bar", "2.0")], removed=[rpm("bar")[0]]))
    sim.submit(delta(4, [PUB, J1, J2], listed=[rpm("qux")]))
    sim.submit(delta(5, [PUB]))  # metadata only: no package changes, no approval
    assert sorted(artifacts(sim)) == sorted(
        [FOO_SRC, rpm("foo", "2.0")[0], rpm("bar", "2.0")[0], rpm("baz")[0], rpm("qux")[0]]
    )


def test_listing_an_unchanged_artifact_again_needs_no_approval() -> None:
    sim = owned_scenario()
    sim.submit(delta(2, [PUB], listed=[rpm("foo")]))


def test_a_full_release_after_deltas_replaces_the_set() -> None:
    sim = owned_scenario()
    sim.submit(delta(2, [PUB, J1, J2], listed=[rpm("qux")]))
    sim.submit(release("oss", 3, [PUB, J1, J2], artifacts=FIRST))
    assert sorted(artifacts(sim)) == sorted(name for name, _ in FIRST)


# -- restart ------------------------------------------------------------------------------


def test_a_restored_map_keeps_the_set_a_chain_of_deltas_built() -> None:
    sim = owned_scenario()
    sim.submit(delta(2, [PUB, ALICE], listed=[rpm("foo", "2.0")], removed=[rpm("foo")[0]]))
    sim.submit(delta(3, [PUB, J1, J2], listed=[rpm("qux")]))
    sim.submit(delta(4, [PUB, M1], removed=[rpm("bar")[0]]))
    want = sim.state.export_state()
    sim.state = StatusMap.restore_state(want, lambda i: sim.entries[i])
    assert sim.state.export_state() == want
    # Judged against the restored chain: qux exists (changing it needs the janitors)...
    with unchanged(sim), pytest.raises(OwnerApprovalError, match=r"'qux' \(changed\)"):
        sim.submit(delta(5, [PUB], listed=[rpm("qux", "2.0")]))
    # ... and bar is gone (removing it again is refused).
    with unchanged(sim), pytest.raises(PolicyError, match=r"removes 'x86_64/bar-1\.0"):
        sim.submit(delta(5, [PUB, J1, J2], removed=[rpm("bar")[0]]))
    sim.submit(delta(5, [PUB, J1, J2], listed=[rpm("qux", "2.0")]))


def test_a_restored_map_refuses_a_saved_set_its_latest_release_contradicts() -> None:
    sim = owned_scenario()
    sim.submit(delta(2, [PUB, J1, J2], listed=[rpm("qux")]))
    saved = sim.state.export_state()
    qux = rpm("qux")[0]
    for forged, message in (
        (saved.replace(qux.encode(), b"x86_64/quy-1.0-1.x86_64.rpm"),
         "the saved artifacts of 'oss' disagree with its latest release"),
        (saved.replace(b'"artifacts":[["oss",[', b'"artifacts":[["oss",[["' + FOO_SRC.encode()
                       + b'","00"],'), "artifacts of 'oss' repeated"),
        (saved.replace(b'"artifacts":[["oss"', b'"artifacts":[["ghost",[]],["oss"'),
         "artifacts saved for 'ghost', which has no release"),
    ):
        assert forged != saved
        with pytest.raises(FormatError, match=message):
            StatusMap.restore_state(forged, lambda i: sim.entries[i])


def test_a_version_1_state_file_cannot_restore_a_delta() -> None:
    """Files saved before deltas existed: the set comes from the latest entry, if full."""
    sim = owned_scenario()
    document = json.loads(sim.state.export_state())
    del document["artifacts"]
    document["vigil_statusmap"] = 1
    old = json.dumps(document).encode()
    assert StatusMap.restore_state(old, lambda i: sim.entries[i]).export_state() == \
        sim.state.export_state()
    sim.submit(delta(2, [PUB, J1, J2], listed=[rpm("qux")]))
    document = json.loads(sim.state.export_state())
    del document["artifacts"]
    document["vigil_statusmap"] = 1
    with pytest.raises(FormatError, match="version 1 file, but the latest release of 'oss'"):
        StatusMap.restore_state(json.dumps(document).encode(), lambda i: sim.entries[i])
