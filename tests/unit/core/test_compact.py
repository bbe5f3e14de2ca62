"""Compact ranges: frontier hashes, roots, visited nodes, stored state."""

from __future__ import annotations

import itertools

import pytest

from vigil.core.compact import CompactRange
from vigil.core.merkle import EMPTY_ROOT, MerkleTree, hash_leaf, root_from_leaf_hashes
from vigil.errors import FormatError

LEAVES = [hash_leaf(b"record %d" % i) for i in range(300)]
TREE = MerkleTree(LEAVES)


def full_nodes(size: int) -> set[tuple[int, int, bytes]]:
    """Every full subtree of the tree of ``size``."""
    return {
        (level, index, TREE.node(level, index))
        for level in range(size.bit_length())
        for index in range(size >> level)
    }


def range_of(size: int) -> CompactRange:
    """A compact range over the first ``size`` leaves."""
    cr = CompactRange()
    cr.extend(LEAVES[:size])
    return cr


def test_empty() -> None:
    cr = CompactRange()
    assert cr.size == 0
    assert cr.hashes == ()
    assert cr.root() == EMPTY_ROOT
    cr.extend([])
    assert cr.size == 0


@pytest.mark.parametrize("size", [1, 2, 3, 6, 7, 8, 255, 256, 257, 300])
def test_frontier_and_root(size: int) -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:size])
    assert cr.size == size
    assert cr.root() == root_from_leaf_hashes(LEAVES[:size]) == TREE.root(size)
    # One hash per set bit of size, largest subtree first.
    want, begin = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            want.append(TREE.node(level, begin >> level))
            begin += 1 << level
    assert list(cr.hashes) == want


def test_append_one_by_one_matches_extend() -> None:
    one, batch = CompactRange(), CompactRange()
    for size, leaf in enumerate(LEAVES[:100], start=1):
        one.append(leaf)
        assert one.size == size
        assert one.root() == TREE.root(size)
    batch.extend(LEAVES[:40])
    batch.extend(LEAVES[40:41])
    batch.extend(LEAVES[41:100])
    assert one == batch
    assert one.hashes == batch.hashes


def test_visit_reports_exactly_the_new_full_nodes() -> None:
    splits = [0, 1, 2, 5, 8, 9, 100, 255, 256, 257, 299, 300]
    cr = CompactRange()
    seen: list[tuple[int, int, bytes]] = []
    for begin, end in itertools.pairwise(splits):
        before = len(seen)
        cr.extend(LEAVES[begin:end], lambda level, index, h: seen.append((level, index, h)))
        batch = seen[before:]
        assert set(batch) == full_nodes(end) - full_nodes(begin)
        assert len(batch) == len(set(batch))
        # Level 0 first, each level left to right.
        assert batch == sorted(batch, key=lambda node: (node[0], node[1]))
    assert set(seen) == full_nodes(300)


def test_level_visits_are_one_per_level_and_cover_the_same_nodes() -> None:
    splits = [0, 1, 2, 5, 8, 9, 100, 255, 256, 257, 299, 300]
    cr = CompactRange()
    for begin, end in itertools.pairwise(splits):
        calls: list[tuple[int, int, list[bytes]]] = []

        def visit(level: int, first: int, hashes: list[bytes]) -> None:
            calls.append((level, first, hashes))  # noqa: B023 - called before the next loop

        cr.extend_levels(LEAVES[begin:end], visit)
        levels = [level for level, _, _ in calls]
        assert levels == sorted(set(levels))  # lowest first, once each
        assert all(hashes for _, _, hashes in calls)
        nodes = {
            (level, first + offset, h)
            for level, first, hashes in calls
            for offset, h in enumerate(hashes)
        }
        assert nodes == full_nodes(end) - full_nodes(begin)
        assert cr.root() == TREE.root(end)


def test_visit_on_append() -> None:
    cr = CompactRange.from_state(7, range_of(7).hashes)
    seen: list[tuple[int, int, bytes]] = []
    cr.append(LEAVES[7], lambda level, index, h: seen.append((level, index, h)))
    assert [(level, index) for level, index, _ in seen] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert seen[-1][2] == TREE.node(3, 0)


def test_from_state_round_trip() -> None:
    for size in [0, 1, 6, 255, 256, 257]:
        original = range_of(size)
        restored = CompactRange.from_state(size, original.hashes)
        assert restored == original
        restored.extend(LEAVES[size:300])
        assert restored.root() == TREE.root(300)


def test_from_state_validation() -> None:
    hashes = range_of(6).hashes
    with pytest.raises(FormatError, match=r"compact range of size 7: got 2 hashes, want 3"):
        CompactRange.from_state(7, hashes)
    with pytest.raises(FormatError, match=r"compact range of size 6: hash 1 is 31 bytes"):
        CompactRange.from_state(6, [hashes[0], hashes[1][:31]])
    with pytest.raises(FormatError, match="tree size out of range"):
        CompactRange.from_state(-1, [])
    with pytest.raises(FormatError, match="tree size out of range"):
        CompactRange.from_state(2**64, [])
    with pytest.raises(TypeError):
        CompactRange.from_state(1, LEAVES[0])  # type: ignore[arg-type]


def test_bad_leaf_leaves_state_unchanged() -> None:
    cr = range_of(5)
    before = cr.copy()
    with pytest.raises(FormatError, match=r"leaf hash 1 is 33 bytes"):
        cr.extend([LEAVES[5], LEAVES[6] + b"x"])
    with pytest.raises(FormatError):
        cr.append(b"")
    with pytest.raises(TypeError):
        cr.extend(LEAVES[5])  # type: ignore[arg-type]
    assert cr == before


def test_failing_visitor_leaves_state_unchanged() -> None:
    cr = range_of(5)
    before = cr.copy()

    def visit(level: int, index: int, value: bytes) -> None:
        if level == 2:
            raise RuntimeError("storage full")

    with pytest.raises(RuntimeError):
        cr.extend(LEAVES[5:9], visit)
    assert cr == before


def test_overflow() -> None:
    top = CompactRange.from_state(2**64 - 1, [LEAVES[0]] * 64)
    with pytest.raises(OverflowError, match="exceeds"):
        top.append(LEAVES[1])
    assert top.size == 2**64 - 1


def test_copy_is_independent_and_unhashable() -> None:
    cr = range_of(3)
    other = cr.copy()
    other.append(LEAVES[3])
    assert cr.size == 3
    assert other.size == 4
    assert cr != other
    assert cr != "not a range"
    assert repr(cr) == "CompactRange(size=3)"
    with pytest.raises(TypeError):
        hash(cr)


def test_keeps_no_reference_to_caller_buffers() -> None:
    leaves = [bytearray(leaf) for leaf in LEAVES[:7]]
    cr = CompactRange()
    cr.extend(leaves)  # type: ignore[arg-type]
    for leaf in leaves:
        leaf[0] ^= 1
    assert cr.root() == TREE.root(7)
    assert all(type(h) is bytes for h in cr.hashes)
