"""Threat: a compromised key keeps signing after it was revoked."""

from __future__ import annotations

import pytest
from rolesupport import ALICE, BOB, MALLORY, OBS1, OBS2, OBS3, SPEC, scenario, unchanged

from charterkit import artifact, release, revocation, sign_charter
from vigil.core.statusmap import DuplicateEntryError
from vigil.errors import PolicyError, ThresholdError


def test_self_revocation_stops_the_key() -> None:
    sim = scenario()
    index = sim.submit(revocation(OBS1, [OBS1]))
    assert sim.state.record("").revoked[0].index == index
    with (
        unchanged(sim),
        pytest.raises(PolicyError, match=f"obs1 .* a key revoked from index {index}"),
    ):
        sim.submit(release("oss", 2, [OBS1, OBS2]))
    with unchanged(sim), pytest.raises(PolicyError, match="a key revoked"):
        sim.submit(artifact("anything", [OBS1]))
    sim.submit(release("oss", 2, [OBS2, OBS3]))


def test_foundation_revokes_with_its_threshold() -> None:
    sim = scenario()
    with (
        unchanged(sim),
        pytest.raises(ThresholdError, match="foundation of charter example v1: 1 of 2"),
    ):
        sim.submit(revocation(OBS1, [ALICE]))
    with (
        unchanged(sim),
        pytest.raises(PolicyError, match="signed by the key itself or by the foundation"),
    ):
        sim.submit(revocation(OBS1, [MALLORY]))
    sim.submit(revocation(OBS1, [ALICE, BOB], from_index=2))
    with unchanged(sim), pytest.raises(DuplicateEntryError, match="already revoked"):
        sim.submit(revocation(OBS1, [OBS1]))


def test_revocation_cannot_start_in_the_future() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="from_index 99 is after"):
        sim.submit(revocation(OBS1, [OBS1], from_index=99))


def test_charter_revoked_list() -> None:
    sim = scenario()
    v2 = SPEC.next(revoked=[(OBS1, 0)])
    sim.submit(sign_charter(v2.text(), [ALICE, BOB]))
    with unchanged(sim), pytest.raises(PolicyError, match="a key revoked from index 0"):
        sim.submit(release("oss", 2, [OBS1, OBS2]))
