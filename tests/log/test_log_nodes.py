"""The proof node cache returns exactly the nodes the tiles define."""

from __future__ import annotations

import hashlib
import random

from vigil.core.merkle import MerkleTree
from vigil.core.prove import prove_inclusion
from vigil.core.tiles import TileID, TileReader, tiles_for_size
from vigil.log.nodes import NodeCache


def tiles_of(size: int) -> tuple[MerkleTree, dict[TileID, bytes]]:
    tree = MerkleTree(hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(size))
    tiles = {}
    for tile in tiles_for_size(size):
        first = tile.index * 256
        tiles[tile] = b"".join(tree.node(8 * tile.level, first + i) for i in range(tile.width))
    # Full tiles are also looked up without a width.
    for tile, data in list(tiles.items()):
        if not tile.is_partial:
            tiles[TileID(tile.level, tile.index)] = data
    return tree, tiles


def test_nodes_from_pyramids_and_tiles_agree_with_the_tree() -> None:
    size = 70_000  # full level-0 and level-1 tiles, partial edges
    tree, tiles = tiles_of(size)
    fetched: list[TileID] = []

    def fetch(ids: list[TileID]) -> list[bytes]:
        fetched.extend(ids)
        return [tiles[t] for t in ids]

    cache = NodeCache(max_nodes=1000, max_pyramids=8)
    reader = cache.reader(size, fetch)
    rng = random.Random(7)
    reference = TileReader(size, fetch)
    for _ in range(300):
        level = rng.randrange(0, 17)
        count = size >> level
        if count == 0:
            continue
        node = (level, rng.randrange(count))
        assert reader([node]) == reference([node]) == [tree.node(*node)], node
    for index in (0, 255, 256, 65535, 65536, 69_999):
        assert prove_inclusion(index, size, reader) == prove_inclusion(index, size, reference)


def test_pyramids_are_reused() -> None:
    size = 1024
    _, tiles = tiles_of(size)
    fetched: list[TileID] = []

    def fetch(ids: list[TileID]) -> list[bytes]:
        fetched.extend(ids)
        return [tiles[t] for t in ids]

    reader = NodeCache().reader(size, fetch)
    reader([(3, 5), (2, 9), (7, 0)])
    assert fetched == [TileID(0, 0)]  # one tile read, all three nodes from its pyramid
