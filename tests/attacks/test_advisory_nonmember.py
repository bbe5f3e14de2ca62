"""Threat: someone outside the security team warns (or un-warns) about a repository."""

from __future__ import annotations

import pytest
from rolesupport import ALICE, MALLORY, OBS1, OBS2, SEC1, SEC2, SPEC, scenario, unchanged

from charterkit import CharterSpec, Sim, advisory, sign_charter, state_digest
from vigil.errors import PolicyError


def test_advisory_from_a_non_member() -> None:
    sim = scenario()
    with (
        unchanged(sim),
        pytest.raises(PolicyError, match=r"mallory .* not a member of the security team"),
    ):
        sim.submit(advisory("oss", "VSA-1", [MALLORY]))
    with unchanged(sim), pytest.raises(PolicyError, match="not a member of the security team"):
        sim.submit(advisory("oss", "VSA-1", [OBS1, OBS2]))


def test_withdrawal_from_a_non_member() -> None:
    sim = scenario()
    sim.submit(advisory("oss", "VSA-1", [SEC1, SEC2]))
    with unchanged(sim), pytest.raises(PolicyError, match="not a member"):
        sim.submit(advisory("oss", "VSA-2", [MALLORY], action="withdraw", withdraws="VSA-1"))
    assert [a.id for a in sim.state.record("oss").advisories] == ["VSA-1"]


def test_advisory_must_name_a_release_in_force() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="not in force"):
        sim.submit(advisory("oss", "VSA-1", [SEC1, SEC2], digest=state_digest("oss", 9)))


def test_charter_without_security_team() -> None:
    sim = Sim()
    spec = CharterSpec(foundation=[ALICE], repositories=SPEC.repositories)
    sim.submit(sign_charter(spec.text(), [ALICE]))
    with pytest.raises(PolicyError, match="names no security team"):
        sim.submit(advisory("oss", "VSA-1", [SEC1, SEC2]))
