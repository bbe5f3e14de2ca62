"""A standard charter scenario for the role attack tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from charterkit import CharterSpec, Repo, Sim, key, release, sign_charter

ALICE, BOB, CAROL = key("alice"), key("bob"), key("carol")
OBS1, OBS2, OBS3 = key("obs1"), key("obs2"), key("obs3")
SOLO = key("solo")
RB1, RB2 = key("rb1"), key("rb2")
SEC1, SEC2 = key("sec1"), key("sec2")
MALLORY = key("mallory")

SPEC = CharterSpec(
    foundation=[ALICE, BOB, CAROL],
    threshold=2,
    repositories=[
        # "oss" needs two of three publishers; "home" has one publisher.
        Repo("oss", [OBS1, OBS2, OBS3], 2, rebuilders=[RB1, RB2], rebuilds_required=1),
        Repo("home", [SOLO], 1, format="deb"),
    ],
    security=[SEC1, SEC2],
    security_threshold=2,
)


def scenario(grace_s: int | None = None) -> Sim:
    """Charter v1 at index 0, release 1 of both repositories."""
    sim = Sim()
    spec = SPEC
    if grace_s is not None:
        repos = [replace(r, grace_s=grace_s) for r in SPEC.repositories]
        spec = replace(SPEC, repositories=repos)
    sim.submit(sign_charter(spec.text(), [ALICE, BOB]))
    sim.submit(release("oss", 1, [OBS1, OBS2]))
    sim.submit(release("home", 1, [SOLO], format="deb"))
    return sim


@contextmanager
def unchanged(sim: Sim) -> Iterator[None]:
    """Assert that the block leaves the map and the log exactly as they were."""
    root, size, entries = sim.state.root(), sim.state.size, list(sim.entries)
    records = list(sim.state.records())
    yield
    assert sim.state.root() == root
    assert sim.state.size == size and sim.entries == entries
    assert list(sim.state.records()) == records

