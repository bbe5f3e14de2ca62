"""Proof construction from a batched NodeReader (vigil.core.prove)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from vigil.core.merkle import EMPTY_ROOT, MerkleTree, hash_leaf
from vigil.core.proof import verify_consistency, verify_inclusion
from vigil.core.prove import (
    consistency_nodes,
    inclusion_nodes,
    prove_consistency,
    prove_inclusion,
    root_at,
    root_nodes,
)
from vigil.errors import FormatError

LEAVES = [hash_leaf(b"leaf %d" % i) for i in range(70)]
TREE = MerkleTree(LEAVES)


class CountingReader:
    """Records every batch it is asked for."""

    def __init__(self, tree: MerkleTree) -> None:
        self.tree = tree
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(ids))
        return self.tree.read_nodes(ids)


def test_inclusion_matches_tree_and_verifies() -> None:
    for size in range(1, 70):
        root = TREE.root(size)
        for index in range(size):
            reader = CountingReader(TREE)
            proof = prove_inclusion(index, size, reader)
            assert proof == TREE.inclusion_proof(index, size)
            verify_inclusion(index, size, LEAVES[index], proof, root)
            assert len(reader.calls) == (1 if size > 1 else 0)


def test_consistency_matches_tree_and_verifies() -> None:
    for size2 in range(1, 70):
        for size1 in range(1, size2 + 1):
            reader = CountingReader(TREE)
            proof = prove_consistency(size1, size2, reader)
            assert proof == TREE.consistency_proof(size1, size2)
            verify_consistency(size1, size2, proof, TREE.root(size1), TREE.root(size2))
            assert len(reader.calls) <= 1


def test_root_at() -> None:
    for size in range(70):
        reader = CountingReader(TREE)
        assert root_at(size, reader) == TREE.root(size)
        assert len(reader.calls) == (1 if size else 0)
    assert root_at(0, TREE.read_nodes) == EMPTY_ROOT


def test_node_lists() -> None:
    # Size 6 = (2,0) + (1,2); leaf 4's proof: leaf 5, then the left subtree.
    assert root_nodes(6) == [(2, 0), (1, 2)]
    assert root_nodes(0) == []
    assert inclusion_nodes(4, 6) == [(0, 5), (2, 0)]
    # Leaf 0 in size 7: sibling 1, then (1,1), then the ephemeral [4, 7).
    assert inclusion_nodes(0, 7) == [(0, 1), (1, 1), (1, 2), (0, 6)]
    # vectors.md §6.1: index 299 of 300 reads one level-0 tile and tile/1.
    assert inclusion_nodes(299, 300) == [(0, 298), (1, 148), (3, 36), (5, 8), (8, 0)]
    assert consistency_nodes(4, 4) == []
    assert consistency_nodes(4, 8) == [(2, 1)]
    assert consistency_nodes(3, 8) == [(0, 2), (0, 3), (1, 0), (2, 1)]


def test_argument_errors() -> None:
    for index, size in [(0, 0), (5, 5), (-1, 3), (0, 2**64)]:
        with pytest.raises(ValueError, match="want 0 <= index < size"):
            prove_inclusion(index, size, TREE.read_nodes)
    for size1, size2 in [(0, 0), (0, 5), (5, 4), (1, 2**64)]:
        with pytest.raises(ValueError, match="want 0 < size1 <= size2"):
            prove_consistency(size1, size2, TREE.read_nodes)
    with pytest.raises(ValueError, match="want 0 <= size"):
        root_at(-1, TREE.read_nodes)
    assert prove_consistency(7, 7, TREE.read_nodes) == []


def test_misbehaving_readers() -> None:
    def short(ids: Sequence[tuple[int, int]]) -> list[bytes]:
        return TREE.read_nodes(ids)[:-1]

    def truncated(ids: Sequence[tuple[int, int]]) -> list[bytes]:
        return [h[:31] for h in TREE.read_nodes(ids)]

    with pytest.raises(ValueError, match=r"node reader: returned 2 hashes for 3 nodes"):
        prove_inclusion(0, 8, short)
    with pytest.raises(FormatError, match=r"node \(level 0, index 1\) is 31 bytes \(want 32\)"):
        prove_inclusion(0, 8, truncated)


def test_reader_errors_propagate() -> None:
    class Unavailable(Exception):
        pass

    def failing(ids: Sequence[tuple[int, int]]) -> list[bytes]:
        raise Unavailable("tile server down")

    with pytest.raises(Unavailable):
        prove_inclusion(3, 9, failing)


def test_large_sizes_need_only_log_nodes() -> None:
    # Planning works for any uint64 size without touching leaves.
    size = 2**64 - 1
    # 63 full siblings plus an ephemeral sibling made of 63 subtrees.
    assert len(inclusion_nodes(12345, size)) == 126
    assert len(root_nodes(size)) == 64
    assert len(consistency_nodes(2**40 + 3, size)) < 2 * 64
