"""Integration: tiles written chunk by chunk equal tiles computed from the whole tree."""

from __future__ import annotations

import random

import pytest

from vigil.core.merkle import MerkleTree, hash_leaf
from vigil.core.tiles import (
    TILE_WIDTH,
    TileID,
    format_entry_bundle,
    tiles_for_size,
)
from vigil.log.errors import LogStateError
from vigil.log.integrate import TreeBuilder
from vigil.log.storage.base import StoredEntry


def entries(count: int) -> list[tuple[bytes, bytes]]:
    return [(hash_leaf(d), d) for d in (f"e{i}".encode() for i in range(count))]


def expected_tile(tree: MerkleTree, tile: TileID) -> bytes:
    """A tile straight from the definition: node hashes at level 8L."""
    first = tile.index * TILE_WIDTH
    return b"".join(tree.node(8 * tile.level, first + i) for i in range(tile.width))


def build(sizes: list[int]) -> tuple[TreeBuilder, dict[TileID, bytes]]:
    builder = TreeBuilder.empty()
    written: dict[TileID, bytes] = {}
    data = entries(sum(sizes))
    start = 0
    for size in sizes:
        result = builder.integrate(start, data[start : start + size])
        for tile, blob in result.tiles:
            written[tile] = blob
        builder = result.builder
        start += size
    return builder, written


@pytest.mark.parametrize(
    "sizes",
    [[1], [255], [256], [257], [1, 255, 1], [300, 65236, 1], [65536], [70000]],
)
def test_tiles_match_the_definition(sizes: list[int]) -> None:
    builder, written = build(sizes)
    total = sum(sizes)
    data = entries(total)
    tree = MerkleTree(h for h, _ in data)
    assert builder.size == total
    assert builder.root() == tree.root()
    for tile in tiles_for_size(total):
        assert written[tile] == expected_tile(tree, tile), tile
        if tile.level == 0:
            bundle = tile.entry_bundle()
            entries_in = [d for _, d in data[tile.start : tile.end]]
            assert written[bundle] == format_entry_bundle(entries_in)


def test_random_chunking_gives_identical_tiles() -> None:
    rng = random.Random(7)
    total = 5000
    sizes = []
    while sum(sizes) < total:
        sizes.append(min(rng.randint(1, 700), total - sum(sizes)))
    _, chunked = build(sizes)
    _, whole = build([total])
    for tile in tiles_for_size(total):
        assert chunked[tile] == whole[tile]


def test_integrate_leaves_the_old_builder_unchanged() -> None:
    builder, _ = build([300])
    root = builder.root()
    builder.integrate(300, entries(400)[300:])
    assert builder.size == 300 and builder.root() == root
    with pytest.raises(ValueError, match="integrate at 5"):
        builder.integrate(5, entries(1))


def loader(written: dict[TileID, bytes], data: list[tuple[bytes, bytes]]):  # type: ignore[no-untyped-def]
    def read_entries(start: int, end: int) -> list[StoredEntry]:
        return [StoredEntry(i, *data[i]) for i in range(start, min(end, len(data)))]

    return written.get, read_entries


@pytest.mark.parametrize("size", [0, 1, 256, 1000, 65536 + 300])
def test_load_restores_the_builder(size: int) -> None:
    builder, written = build([size] if size else [])
    data = entries(size)
    read_tile, read_entries = loader(written, data)
    loaded = TreeBuilder.load(builder.state(), read_tile=read_tile, read_entries=read_entries)
    assert loaded.size == size and loaded.root() == builder.root()
    more = entries(size + 600)[size:]
    a = builder.integrate(size, more)
    b = loaded.integrate(size, more)
    assert a.tiles == b.tiles


def test_load_falls_back_to_full_tiles_when_a_partial_tile_is_missing() -> None:
    builder, written = build([256 * 3 + 5])
    del written[TileID(1, 0, 3)]
    read_tile, read_entries = loader(written, entries(256 * 3 + 5))
    loaded = TreeBuilder.load(builder.state(), read_tile=read_tile, read_entries=read_entries)
    assert loaded.root() == builder.root()


def test_load_refuses_tiles_of_another_tree() -> None:
    builder, written = build([600])
    # The level-1 edge tile on disk (a tiles directory of another log, or corrupted).
    written[TileID(1, 0, 2)] = bytes(64)
    read_tile, read_entries = loader(written, entries(600))
    with pytest.raises(LogStateError, match="does not match"):
        TreeBuilder.load(builder.state(), read_tile=read_tile, read_entries=read_entries)


def test_load_refuses_missing_tiles() -> None:
    builder, written = build([600])
    del written[TileID(1, 0, 2)]  # the fallback then needs the full tiles below
    del written[TileID(0, 0)]
    read_tile, read_entries = loader(written, entries(600))
    with pytest.raises(LogStateError, match="tile/0/000 is missing"):
        TreeBuilder.load(builder.state(), read_tile=read_tile, read_entries=read_entries)
