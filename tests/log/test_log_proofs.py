"""Batched inclusion proofs equal the core's one-at-a-time proofs."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.merkle import hash_children
from vigil.core.prove import NodeID, prove_inclusion
from vigil.log.proofs import prove_inclusions


def leaf(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def node(level: int, index: int) -> bytes:
    if level == 0:
        return leaf(index)
    return hash_children(node(level - 1, 2 * index), node(level - 1, 2 * index + 1))


def reader(ids: list[NodeID]) -> list[bytes]:
    return [node(level, index) for level, index in ids]


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 300), data=st.data())
def test_batched_proofs_equal_single_proofs(size: int, data: st.DataObject) -> None:
    indexes = data.draw(st.lists(st.integers(0, size - 1), max_size=40))
    assert prove_inclusions(indexes, size, reader) == [
        prove_inclusion(i, size, reader) for i in indexes
    ]


def test_contiguous_range_near_the_edge_of_a_large_tree() -> None:
    cache: dict[NodeID, bytes] = {}

    def cached(ids: list[NodeID]) -> list[bytes]:
        out = []
        for level, index in ids:
            if (level, index) not in cache:
                cache[(level, index)] = (
                    leaf(index) if level == 0 else hash_children(
                        cached([(level - 1, 2 * index)])[0],
                        cached([(level - 1, 2 * index + 1)])[0],
                    )
                )
            out.append(cache[(level, index)])
        return out

    size = 70_001
    indexes = [*range(size - 1500, size - 500), 0, 1, 65535, 65536]
    random.Random(1).shuffle(indexes)
    assert prove_inclusions(indexes, size, cached) == [
        prove_inclusion(i, size, cached) for i in indexes
    ]


def test_out_of_range_index_is_refused() -> None:
    with pytest.raises(ValueError, match="leaf 5 in tree of size 5"):
        prove_inclusions([0, 1, 5], 5, reader)
