"""The log's commit gate with package owners, across a restart from the saved map state."""

from __future__ import annotations

from pathlib import Path

import pytest

from charterkit import release, sign_charter
from charterlog import Log, count_replays
from ownerkit import ALICE, BOARD, FIRST, J1, J2, M1, PUB, SPEC, publish, rpm, with_changed
from vigil.core.owners import OwnerApprovalError
from vigil.core.statusmap import replay_root
from vigil.errors import PolicyError


def test_restored_state_reads_the_latest_artifacts_from_the_tiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.log import charter_policy

    monkeypatch.setattr(charter_policy, "SAVE_EVERY_ENTRIES", 2)
    state_file = tmp_path / "statusmap.json"
    first = Log(tmp_path, state_file=state_file)
    try:
        first.submit(sign_charter(SPEC.text(), [BOARD]), publish(1, FIRST, [PUB, J1, J2]))
        assert state_file.exists()
    finally:
        first.stop()
    replayed = count_replays(monkeypatch)
    second = Log(tmp_path, state_file=state_file)
    try:
        assert replayed == []  # nothing replayed: the artifacts came from entry 1
        changed = with_changed(FIRST, "foo")
        with pytest.raises(OwnerApprovalError, match=r"package 'foo' \(changed\)"):
            second.submit(publish(2, changed, [PUB]))
        assert second.submit(publish(2, changed, [PUB, ALICE])) == [2]
        assert second.root() == replay_root(second.stored())
    finally:
        second.stop()


def test_a_restart_keeps_the_artifact_set_of_a_chain_of_deltas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0012: the set depends on every delta since the last full release, so the
    saved state carries it; after a restart nothing is replayed and the next
    delta is judged against the whole chain."""
    from vigil.log import charter_policy

    monkeypatch.setattr(charter_policy, "SAVE_EVERY_ENTRIES", 1)
    state_file = tmp_path / "statusmap.json"
    first = Log(tmp_path, state_file=state_file)
    try:
        first.submit(sign_charter(SPEC.text(), [BOARD]), publish(1, FIRST, [PUB, J1, J2]))
        first.submit(release("oss", 2, [PUB, ALICE], artifacts=[rpm("foo", "2.0")],
                             removed=[rpm("foo")[0]], delta=True))
        first.submit(release("oss", 3, [PUB, J1, J2], artifacts=[rpm("qux")], delta=True))
        first.submit(release("oss", 4, [PUB, M1], removed=[rpm("bar")[0]], delta=True))
    finally:
        first.stop()
    replayed = count_replays(monkeypatch)
    second = Log(tmp_path, state_file=state_file)
    try:
        assert replayed == []
        with pytest.raises(OwnerApprovalError, match=r"package 'qux' \(changed\)"):
            second.submit(release("oss", 5, [PUB], artifacts=[rpm("qux", "2.0")], delta=True))
        with pytest.raises(PolicyError, match=r"removes 'x86_64/bar-1\.0-1\.x86_64\.rpm'"):
            second.submit(release("oss", 5, [PUB, J1, J2], removed=[rpm("bar")[0]], delta=True))
        assert second.submit(
            release("oss", 5, [PUB, J1, J2], artifacts=[rpm("qux", "2.0")], delta=True)
        ) == [5]
        assert second.root() == replay_root(second.stored())
    finally:
        second.stop()
