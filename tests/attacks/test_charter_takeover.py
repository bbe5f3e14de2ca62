"""Threat: take over the charter (new keys appoint themselves) or impose one on a new board."""

from __future__ import annotations

import pytest
from rolesupport import ALICE, BOB, CAROL, MALLORY, OBS1, OBS2, SPEC, scenario, unchanged

from charterkit import key, release, sign_charter
from vigil.core.statusmap import DuplicateEntryError
from vigil.errors import PolicyError, RollbackError, ThresholdError

EVE = key("eve")


def test_update_signed_only_by_the_new_foundation() -> None:
    sim = scenario()
    takeover = SPEC.next(foundation=[MALLORY, EVE])
    with (
        unchanged(sim),
        pytest.raises(ThresholdError, match=r"foundation of v1 \(the current charter\): 0 of 2"),
    ):
        sim.submit(sign_charter(takeover.text(), [MALLORY, EVE]))


def test_update_signed_only_by_the_old_foundation() -> None:
    sim = scenario()
    handover = SPEC.next(foundation=[ALICE, MALLORY, EVE])
    with unchanged(sim), pytest.raises(ThresholdError, match="its own foundation: 1 of 2"):
        sim.submit(sign_charter(handover.text(), [BOB, CAROL, ALICE]))
    # With the new members' consent it goes through and applies from its index.
    index = sim.submit(sign_charter(handover.text(), [BOB, ALICE, EVE]))
    assert sim.state.charter_index == index


def test_a_second_genesis_is_refused() -> None:
    sim = scenario()
    rival = SPEC.__class__(foundation=[MALLORY], repositories=SPEC.repositories)
    with unchanged(sim), pytest.raises(RollbackError, match="not above the current version 1"):
        sim.submit(sign_charter(rival.text(), [MALLORY]))


def test_skipping_a_version_or_replaying_one() -> None:
    sim = scenario()
    v2 = SPEC.next()
    v3 = v2.next()
    with unchanged(sim), pytest.raises(PolicyError, match="versions step by one"):
        sim.submit(sign_charter(v3.text(), [ALICE, BOB]))
    sim.submit(sign_charter(v2.text(), [ALICE, BOB]))
    with unchanged(sim), pytest.raises(DuplicateEntryError, match="already in force"):
        sim.submit(sign_charter(v2.text(), [ALICE, CAROL]))


def test_new_charter_applies_from_its_index() -> None:
    sim = scenario()
    # v2 removes obs1 from "oss": it can no longer contribute.
    repos = list(SPEC.repositories)
    repos[0] = repos[0].__class__("oss", [OBS2, key("obs4")], 2)
    sim.submit(sign_charter(SPEC.next(repositories=repos).text(), [ALICE, BOB]))
    with unchanged(sim), pytest.raises(ThresholdError, match="1 of 2"):
        sim.submit(release("oss", 2, [OBS1, OBS2]))
