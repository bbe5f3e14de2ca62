"""Threat: roll a repository back (the Arch downgrade concern), replay or fork a version."""

from __future__ import annotations

import pytest
from rolesupport import OBS1, OBS2, OBS3, scenario, unchanged

from charterkit import T0, release, state_digest
from vigil.core.dsse import Envelope
from vigil.core.statusmap import DuplicateEntryError, EquivocationError
from vigil.errors import RollbackError


def test_lower_version_refused() -> None:
    sim = scenario()
    sim.submit(release("oss", 5, [OBS1, OBS2]))
    with (
        unchanged(sim),
        pytest.raises(RollbackError, match="downgrade refused: not above the latest version 5"),
    ):
        sim.submit(release("oss", 4, [OBS1, OBS2]))


def test_replayed_old_release_refused() -> None:
    sim = scenario()
    old = release("oss", 2, [OBS1, OBS2, OBS3])
    sim.submit(old)
    sim.submit(release("oss", 3, [OBS1, OBS2]))
    replay = Envelope(old.payload_type, old.payload, old.signatures[1:])
    with unchanged(sim), pytest.raises(RollbackError, match="not above the latest version 3"):
        sim.submit(replay)


def test_replayed_release_in_grace_is_named_a_replay() -> None:
    sim = scenario(grace_s=86400)
    old = release("oss", 2, [OBS1, OBS2, OBS3])
    old_index = sim.submit(old)
    sim.submit(release("oss", 3, [OBS1, OBS2]))
    # The same signed statement in a new envelope (a subset of its signatures).
    replay = Envelope(old.payload_type, old.payload, old.signatures[1:])
    with (
        unchanged(sim),
        pytest.raises(RollbackError, match=f"replay of the release logged at index {old_index}"),
    ):
        sim.submit(replay)


def test_same_version_other_digest_is_evidence() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(EquivocationError, match="kept as evidence") as info:
        sim.submit(release("oss", 1, [OBS1, OBS2], digest=state_digest("oss", 1, "evil")))
    assert info.value.existing_index == 1
    assert info.value.digest == state_digest("oss", 1, "evil")


def test_same_release_twice_is_a_duplicate() -> None:
    sim = scenario()
    with unchanged(sim), pytest.raises(DuplicateEntryError, match="already logged at index 1"):
        sim.submit(release("oss", 1, [OBS2, OBS3]))


def test_publication_time_cannot_go_backwards() -> None:
    sim = scenario()
    sim.submit(release("oss", 2, [OBS1, OBS2], published_s=T0 + 10_000))
    with unchanged(sim), pytest.raises(RollbackError, match="before the latest release"):
        sim.submit(release("oss", 3, [OBS1, OBS2], published_s=T0 + 9_999))
