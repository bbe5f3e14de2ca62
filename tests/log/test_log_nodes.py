"""The proof node cache returns exactly the nodes the tiles define, also from stored
pyramids, and never from a damaged or misplaced one."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from vigil.core.merkle import MerkleTree
from vigil.core.prove import prove_inclusion
from vigil.core.tiles import TileID, TileReader, tiles_for_size
from vigil.log import nodes as nodes_module
from vigil.log.nodes import PYRAMID_BYTES, NodeCache, parse_pyramid
from vigil.log.tiledir import TileDir


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


def test_stored_pyramids_give_the_same_nodes_without_tiles_or_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 70_000
    tree, tiles = tiles_of(size)
    directory = TileDir(tmp_path / "tiles")
    directory.write_tiles([(t, d) for t, d in tiles.items() if not t.is_partial])
    records = tmp_path / "tiles.pyramids" / "level-0"
    assert records.stat().st_size == (size // 256) * PYRAMID_BYTES
    monkeypatch.setattr(nodes_module, "_pyramid", lambda tile: pytest.fail("hashed a tile"))

    def fetch(ids: list[TileID]) -> list[bytes]:
        assert all(t.is_partial for t in ids), f"read full tiles {ids}"
        return [tiles[t] for t in ids]

    reader = NodeCache(max_pyramids=8).reader(size, fetch, directory.load_pyramid)
    rng = random.Random(8)
    for _ in range(300):
        level = rng.randrange(0, 16)
        node = (level, rng.randrange(65536 >> level))  # in full tiles
        assert reader([node]) == [tree.node(*node)], node


def test_a_proof_looks_up_each_tile_pyramid_once(tmp_path: Path) -> None:
    """A proof takes a node per level from each tile it crosses: one lookup per tile,
    even with no room in the cache to keep any."""
    size = 70_000
    _, tiles = tiles_of(size)
    directory = TileDir(tmp_path / "tiles")
    directory.write_tiles([(t, d) for t, d in tiles.items() if not t.is_partial])
    loads: list[TileID] = []

    def load(tile: TileID) -> bytes | None:
        loads.append(tile)
        return directory.load_pyramid(tile)

    fetch = lambda ids: [tiles[t] for t in ids]  # noqa: E731
    cache = NodeCache(max_pyramids=0)
    reference = TileReader(size, fetch)
    for index in (5, 40_000, 65_535):
        loads.clear()
        proof = prove_inclusion(index, size, cache.reader(size, fetch, load))
        assert proof == prove_inclusion(index, size, reference)
        assert len(loads) == len(set(loads))  # once each
        assert TileID(0, index // 256) in loads and TileID(1, index // 65536) in loads


def test_a_torn_damaged_or_misplaced_pyramid_is_computed_again(tmp_path: Path) -> None:
    size = 1280
    tree, tiles = tiles_of(size)
    directory = TileDir(tmp_path / "tiles")
    directory.write_tiles([(TileID(0, i), tiles[TileID(0, i)]) for i in (0, 1, 2, 3)])
    records = tmp_path / "tiles.pyramids" / "level-0"
    data = bytearray(records.read_bytes())
    first = bytes(data[:PYRAMID_BYTES])
    assert parse_pyramid(TileID(0, 0), first) is not None
    data[PYRAMID_BYTES : 2 * PYRAMID_BYTES] = first  # tile 0's record where tile 1's belongs
    data[2 * PYRAMID_BYTES + 100] ^= 1  # a flipped bit in tile 2's
    records.write_bytes(bytes(data[:-1]))  # tile 3's torn
    fresh = TileDir(tmp_path / "tiles")  # another process: maps the file anew
    assert fresh.load_pyramid(TileID(0, 0)) is not None
    for index in (1, 2, 3, 4):  # tile 4 has no record at all
        assert fresh.load_pyramid(TileID(0, index)) is None
    fetch = lambda ids: [tiles[t] for t in ids]  # noqa: E731
    reader = NodeCache().reader(size, fetch, fresh.load_pyramid)
    reference = TileReader(size, fetch)
    for index in (100, 300, 600, 900, 1100):
        assert prove_inclusion(index, size, reader) == prove_inclusion(index, size, reference)
    assert reader([(7, i) for i in range(5)]) == [tree.node(7, i) for i in range(5)]


def test_a_reader_sees_records_written_after_it_mapped_the_file(tmp_path: Path) -> None:
    _, tiles = tiles_of(1024)
    writer, reader = TileDir(tmp_path / "tiles"), TileDir(tmp_path / "tiles")
    writer.write_tiles([(TileID(0, 0), tiles[TileID(0, 0)])])
    assert reader.load_pyramid(TileID(0, 0)) is not None
    assert reader.load_pyramid(TileID(0, 2)) is None
    writer.write_tiles([(TileID(0, 2), tiles[TileID(0, 2)])])
    levels = reader.load_pyramid(TileID(0, 2))
    assert levels is not None and levels[:8192] == tiles[TileID(0, 2)]
    assert reader.load_pyramid(TileID(0, 1)) is None  # the hole between


def test_only_full_hash_tiles_get_pyramids(tmp_path: Path) -> None:
    _, tiles = tiles_of(300)
    directory = TileDir(tmp_path / "tiles")
    directory.write_tiles([(TileID(0, 1, 44), tiles[TileID(0, 1, 44)]),
                           (TileID(0, 0, entries=True), b"bundle"),
                           (TileID(0, 0), tiles[TileID(0, 0)])])
    written = sorted(p.name for p in (tmp_path / "tiles.pyramids").iterdir())
    assert written == ["level-0"]
    assert (tmp_path / "tiles.pyramids" / "level-0").stat().st_size == PYRAMID_BYTES


def test_a_pyramid_that_cannot_be_written_does_not_fail_the_tiles(tmp_path: Path) -> None:
    _, tiles = tiles_of(256)
    (tmp_path / "blocked").write_text("a file where the pyramids directory would go")
    directory = TileDir(tmp_path / "tiles", pyramids=tmp_path / "blocked")
    directory.write_tiles([(TileID(0, 0), tiles[TileID(0, 0)])])
    assert (tmp_path / "tiles" / "tile" / "0" / "000").read_bytes() == tiles[TileID(0, 0)]
    assert directory.load_pyramid(TileID(0, 0)) is None
