"""The auditor against in-memory logs that lie in different ways."""

from __future__ import annotations

import pytest

from charterkit import CharterSpec, Repo, Sim, key, release, sign_charter
from vigil.core import merkle
from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.dsse import format_envelope
from vigil.core.encoding import b64encode
from vigil.core.note import generate_signer, sign_note
from vigil.core.statusmap import replay_root
from vigil.core.tiles import TILE_WIDTH, TileID, format_entry_bundle, tile_path
from vigil.errors import SplitViewError
from vigil.monitor.audit import audit_log

ORIGIN = "memory.example/log"
LOG_KEY = generate_signer(ORIGIN, seed=bytes(range(32)))
BOARD, PUB = key("board"), key("pub")
SPEC = CharterSpec(foundation=[BOARD], repositories=[Repo("oss", [PUB])])


class MemoryLog:
    """Serves entry bundles and checkpoints; may sign whatever status root it likes."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        self.served: dict[str, bytes] = {}
        self.publish(len(entries))

    def note(self, size: int, *, status: bytes | str | None = "honest",
             root: bytes | None = None) -> bytes:
        leaves = [merkle.hash_leaf(e) for e in self.entries[:size]]
        tree_root = root or merkle.root_from_leaf_hashes(leaves)
        if status == "honest":
            status = replay_root(self.entries[:size])
        extensions = () if status is None else (f"vigil-status-map {b64encode(status)}",)
        assert not isinstance(status, str)
        return sign_note(format_checkpoint(Checkpoint(ORIGIN, size, tree_root, extensions)),
                         [LOG_KEY])

    def publish(self, size: int, **kwargs: object) -> None:
        self.served["checkpoint"] = self.note(size, **kwargs)  # type: ignore[arg-type]
        for start in range(0, size, TILE_WIDTH):
            bundle = self.entries[start : min(size, start + TILE_WIDTH)]
            tile = TileID(0, start // TILE_WIDTH, len(bundle), entries=True)
            self.served[tile_path(tile)] = format_entry_bundle(bundle)

    def fetch(self, path: str, *, max_bytes: int = 0) -> bytes | None:
        return self.served.get(path)


def honest_entries(count: int = 300) -> list[bytes]:
    sim = Sim()
    sim.submit(sign_charter(SPEC.text(), [BOARD]))
    for version in range(1, count):
        sim.submit(release("oss", version, [PUB]))
    return sim.entries


def run(log: MemoryLog, checkpoints: tuple[bytes, ...] = ()) -> object:
    progress: list[tuple[int, int]] = []
    report = audit_log(log, origin=ORIGIN, log_key=LOG_KEY.verifier(), checkpoints=checkpoints,
                       progress=lambda done, total: progress.append((done, total)))
    assert progress[-1] == (report.size, report.size)
    return report


def test_honest_log_across_bundles() -> None:
    entries = honest_entries()
    log = MemoryLog(entries)
    report = run(log, (log.note(1), log.note(257)))
    assert report.lie is None  # type: ignore[attr-defined]
    assert [c.size for c in report.checks] == [1, 257, 300]  # type: ignore[attr-defined]


def test_accepted_entry_the_rules_refuse() -> None:
    entries = honest_entries(5)
    entries.append(format_envelope(release("oss", 2, [PUB])))  # a downgrade
    report = run(MemoryLog(entries))
    assert report.lie is not None and report.lie.index == 5  # type: ignore[attr-defined]
    assert "accepted an entry its rules refuse" in report.lie.what  # type: ignore[attr-defined]


def test_older_checkpoint_with_a_wrong_map() -> None:
    entries = honest_entries(10)
    log = MemoryLog(entries)
    good, bad = log.note(3), log.note(6, status=bytes(32))
    report = run(log, (good, bad))
    assert report.lie is not None  # type: ignore[attr-defined]
    assert report.lie.index == 3 and "entries 3 to 5" in report.lie.what  # type: ignore[attr-defined]


def test_missing_status_line_is_a_lie() -> None:
    log = MemoryLog(honest_entries(4))
    log.publish(4, status=None)
    report = run(log)
    assert report.lie is not None and "signs status map root none" in report.lie.what  # type: ignore[attr-defined]


def test_entries_that_do_not_match_the_tree() -> None:
    log = MemoryLog(honest_entries(4))
    log.publish(4, root=bytes(32))
    report = run(log)
    assert report.lie is not None and report.lie.index is None  # type: ignore[attr-defined]
    assert "do not hash to its checkpoint" in report.lie.what  # type: ignore[attr-defined]


def test_two_checkpoints_for_one_size_are_a_split_view() -> None:
    log = MemoryLog(honest_entries(4))
    with pytest.raises(SplitViewError, match="two different checkpoints for tree size 2") as info:
        run(log, (log.note(2), log.note(2, root=bytes(32))))
    assert info.value.first and info.value.second
