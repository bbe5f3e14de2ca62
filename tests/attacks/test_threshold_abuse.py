"""Threat: fewer distinct role keys than the charter requires."""

from __future__ import annotations

import pytest
from rolesupport import OBS1, OBS2, SEC1, scenario, unchanged

from charterkit import advisory, release
from vigil.core.dsse import Envelope, add_signatures
from vigil.core.note import generate_signer
from vigil.errors import ThresholdError


def test_one_maintainer_where_two_are_required() -> None:
    sim = scenario()
    with (
        unchanged(sim),
        pytest.raises(ThresholdError, match="publishers: 1 of 2 required signatures; signed: obs1"),
    ):
        sim.submit(release("oss", 2, [OBS1]))
    sim.submit(release("oss", 2, [OBS1, OBS2]))


def test_the_same_key_signing_twice_counts_once() -> None:
    sim = scenario()
    twice = add_signatures(release("oss", 2, [OBS1]), [OBS1])
    assert len(twice.signatures) == 2
    with unchanged(sim), pytest.raises(ThresholdError, match="1 of 2 required"):
        sim.submit(twice)


def test_one_key_under_a_second_name_counts_once() -> None:
    sim = scenario()
    alias = generate_signer("obs1-alias", seed=OBS1.seed)
    envelope: Envelope = add_signatures(release("oss", 2, [OBS1]), [alias])
    with unchanged(sim), pytest.raises(ThresholdError, match="1 of 2 required"):
        sim.submit(envelope)


def test_one_security_member_where_two_are_required() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(ThresholdError, match="security team: 1 of 2 required"):
        sim.submit(advisory("oss", "VSA-1", [SEC1]))
