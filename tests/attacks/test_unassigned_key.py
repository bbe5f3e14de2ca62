"""Threat: a key the charter did not assign publishes, attests or warns."""

from __future__ import annotations

import pytest
from rolesupport import MALLORY, OBS1, OBS2, RB1, SOLO, scenario, unchanged

from charterkit import rebuild, release
from vigil.errors import PolicyError


def test_unknown_key_cannot_publish() -> None:
    sim = scenario()
    with (
        unchanged(sim),
        pytest.raises(PolicyError, match=r"mallory .* none of whom is a publisher of 'oss'"),
    ):
        sim.submit(release("oss", 2, [MALLORY]))


def test_publisher_of_another_repository_cannot_publish() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="none of whom is a publisher of 'oss'"):
        sim.submit(release("oss", 2, [SOLO]))
    with unchanged(sim), pytest.raises(PolicyError, match="publisher of 'home'"):
        sim.submit(release("home", 2, [OBS1, OBS2], format="deb"))


def test_rebuilder_cannot_publish_and_publisher_cannot_attest() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="none of whom is a publisher"):
        sim.submit(release("oss", 2, [RB1]))
    with unchanged(sim), pytest.raises(PolicyError, match="not a registered rebuilder of 'oss'"):
        sim.submit(rebuild("oss", 1, [OBS1]))


def test_repository_not_in_charter() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(PolicyError, match="does not name repository 'extra'"):
        sim.submit(release("extra", 1, [OBS1, OBS2]))


def test_release_in_the_wrong_format() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(PolicyError, match=r"format rpm-md, but .* says deb"):
        sim.submit(release("home", 2, [SOLO], format="rpm-md"))
