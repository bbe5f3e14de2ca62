"""The log's commit gate with package owners, across a restart from the saved map state."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from charterkit import sign_charter
from charterlog import Log
from ownerkit import ALICE, BOARD, FIRST, J1, J2, PUB, SPEC, publish, with_changed
from vigil.core.owners import OwnerApprovalError
from vigil.core.statusmap import replay_root


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
    replayed: list[int] = []
    original = charter_policy.CharterLog._replay

    def counting(self: charter_policy.CharterLog, start: int, entries: Sequence[bytes]) -> None:
        replayed.extend(range(start, start + len(entries)))
        original(self, start, entries)

    monkeypatch.setattr(charter_policy.CharterLog, "_replay", counting)
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
