"""The status map relayed to front-end processes: changes, idempotence, root check."""

from __future__ import annotations

from charterkit import Sim, rebuild, release, sign_charter
from charterlog import BOARD, PUB1, PUB2, RB, SPEC
from vigil.core.statusmap import MapSnapshot
from vigil.log.maprelay import FrontendMaps, MapRelay


def test_front_end_gets_every_published_map_and_changes_only() -> None:
    sim = Sim()
    snapshots: dict[bytes, MapSnapshot] = {}

    def publish() -> bytes:
        snapshot = sim.state.snapshot()
        assert snapshot is not None
        snapshots[snapshot.root] = snapshot
        return snapshot.root

    relay = MapRelay(snapshots.get, lambda: sim.state.charter_indexes)
    sim.submit(sign_charter(SPEC.text(), [BOARD]))
    first = relay.changes(publish())
    assert first is not None and first[3]  # every record is new
    sim.submit(release("oss", 1, [PUB1, PUB2]))
    second = relay.changes(publish())
    assert second is not None and [name for name, _ in second[3]] == ["oss"]
    front = FrontendMaps()
    full = relay.full()
    assert full is not None
    front.apply(full)
    front.apply(second)  # a change seen twice changes nothing
    sim.submit(rebuild("oss", 1, [RB]))
    third = relay.changes(publish())
    assert third is not None
    front.apply(third)
    for root in (second[1], third[1]):
        kept = front.snapshot(root)
        assert kept is not None and kept.leaves == snapshots[root].leaves
    assert front.charter_indexes == (0,)


def test_a_map_that_does_not_give_its_root_is_not_served() -> None:
    front = FrontendMaps()
    front.apply(("map", b"\x00" * 32, 1, [("", b"{}")], ()))
    assert front.snapshot(b"\x00" * 32) is None
