"""c2sp.org/tlog-tiles: paths, inventory, hash tiles, entry bundles, TileReader."""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from vigil.core import prove
from vigil.core.merkle import MerkleTree, hash_leaf
from vigil.core.proof import verify_consistency, verify_inclusion
from vigil.core.tiles import (
    MAX_ENTRY_BUNDLE_BYTES,
    MAX_ENTRY_BYTES,
    MAX_TILE_INDEX,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileID,
    TileReader,
    format_entry_bundle,
    format_hash_tile,
    format_tile_index,
    parse_entry_bundle,
    parse_hash_tile,
    parse_tile_index,
    parse_tile_path,
    tile_path,
    tiles_changed,
    tiles_for_size,
)
from vigil.errors import FormatError

SKYLIGHT_MIRROR = (
    "sunlight-skylight-testdata/witness/mirror/"
    "000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706"
)


def test_constants() -> None:
    assert (TILE_HEIGHT, TILE_WIDTH, MAX_ENTRY_BYTES) == (8, 256, 65535)
    assert MAX_TILE_INDEX == 2**64 - 1


class TestTileIndex:
    @pytest.mark.parametrize(
        ("index", "text"),
        [
            (0, "000"),
            (5, "005"),
            (999, "999"),
            (1000, "x001/000"),
            (1234067, "x001/x234/067"),  # spec example
            (19669, "x019/669"),  # Rekor v2 example, vectors.md §6.2
            (2**64 - 1, "x018/x446/x744/x073/x709/x551/615"),
        ],
    )
    def test_round_trip(self, index: int, text: str) -> None:
        assert format_tile_index(index) == text
        assert parse_tile_index(text) == index

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "0",
            "00",
            "0000",
            "x000",  # last element must not carry x
            "001/002",  # missing x prefix
            "x000/005",  # non-canonical leading element
            "x000/x001/005",
            "x01/005",
            "x0001/005",
            "X001/005",
            "x001//005",
            "x001/005/",
            "/005",
            "+01",
            "-01",
            " 01",
            "0a1",
            "٠٠١",  # Arabic-Indic digits are digits to str.isdigit, not to the spec
            "x018/x446/x744/x073/x709/x551/616",  # 2**64
            "x001/x001/x001/x001/x001/x001/x001/001",  # too many elements
        ],
    )
    def test_rejects(self, text: str) -> None:
        with pytest.raises(FormatError, match="tile index"):
            parse_tile_index(text)

    def test_format_rejects_out_of_range(self) -> None:
        with pytest.raises(ValueError):
            format_tile_index(-1)
        with pytest.raises(ValueError):
            format_tile_index(2**64)


class TestTilePath:
    @pytest.mark.parametrize(
        ("tile", "path"),
        [
            (TileID(0, 1234067), "tile/0/x001/x234/067"),
            (TileID(0, 1234067, entries=True), "tile/entries/x001/x234/067"),
            (TileID(0, 0), "tile/0/000"),
            (TileID(0, 1, 44), "tile/0/001.p/44"),
            (TileID(1, 0, 1), "tile/1/000.p/1"),
            (TileID(0, 1, 44, entries=True), "tile/entries/001.p/44"),
            (TileID(63, 1000, 255), "tile/63/x001/000.p/255"),
            (TileID(0, 19669, entries=True), "tile/entries/x019/669"),
        ],
    )
    def test_round_trip(self, tile: TileID, path: str) -> None:
        assert tile_path(tile) == path
        assert str(tile) == path
        assert parse_tile_path(path) == tile

    @pytest.mark.parametrize(
        "path",
        [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "/tile/0/000",
            "tile/0/000/",
            "tiles/0/000",
            "Tile/0/000",
            "tile//000",
            "tile/00/000",  # leading zero in level
            "tile/01/000",
            "tile/64/000",  # level out of range
            "tile/-1/000",
            "tile/+1/000",
            "tile/data/000",  # Go sumdb data tiles are not C2SP
            "tile/entry/000",
            "tile/3/5/x123/x456/078",  # Go form with height
            "tile/0/123/456/078",  # missing x prefixes
            "tile/0/x000/001",
            "tile/0/1",
            "tile/0/001.p",
            "tile/0/001.p/",
            "tile/0/001.p/0",  # width 0
            "tile/0/001.p/256",  # a full tile has no .p suffix
            "tile/0/001.p/044",  # leading zero in width
            "tile/0/001.p/44/",
            "tile/0/001.p/44.p/3",
            "tile/0/001.P/44",
            "tile/0/001.p.p/44",
            "tile/0/x001.p/44",
            "tile/0/.p/44",
            "tile/entries/001.p/1000",
            "tile/0/001\n",
            "tile/0/००१",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/" + "x001/" * 40 + "001",
        ],
    )
    def test_rejects(self, path: str) -> None:
        with pytest.raises(FormatError):
            parse_tile_path(path)

    def test_tile_id_invariants(self) -> None:
        with pytest.raises(FormatError, match="tile level: out of range"):
            TileID(64, 0)
        with pytest.raises(FormatError, match="tile level: out of range"):
            TileID(-1, 0)
        with pytest.raises(FormatError, match="entry bundle: level must be 0"):
            TileID(1, 0, entries=True)
        with pytest.raises(FormatError, match="tile index: out of range"):
            TileID(0, -1)
        with pytest.raises(FormatError, match="tile index: out of range"):
            TileID(0, 2**64)
        with pytest.raises(FormatError, match="tile width: out of range"):
            TileID(0, 0, 0)
        with pytest.raises(FormatError, match="tile width: out of range"):
            TileID(0, 0, 257)
        with pytest.raises(TypeError):
            TileID(True, 0)
        with pytest.raises(TypeError):
            TileID(0, 0, entries=1)  # type: ignore[arg-type]
        with pytest.raises(AttributeError):
            TileID(0, 0).level = 1  # type: ignore[misc]

    def test_tile_geometry(self) -> None:
        tile = TileID(1, 2, 17)
        assert tile.is_partial
        assert tile.start == 2 * 256**2
        assert tile.end == tile.start + 17 * 256
        assert not TileID(0, 3).is_partial
        assert (TileID(0, 3).start, TileID(0, 3).end) == (768, 1024)
        assert TileID(0, 1, 44).entry_bundle() == TileID(0, 1, 44, entries=True)
        with pytest.raises(ValueError, match="only level-0 hash tiles"):
            TileID(1, 0).entry_bundle()
        with pytest.raises(ValueError, match="only level-0 hash tiles"):
            TileID(0, 0, entries=True).entry_bundle()


class TestInventory:
    def test_spec_example_70000(self) -> None:
        tiles = tiles_for_size(70_000)
        assert len(tiles) == 277
        level0 = [t for t in tiles if t.level == 0]
        assert level0[:273] == [TileID(0, i) for i in range(273)]
        assert level0[273:] == [TileID(0, 273, 112)]
        assert [t for t in tiles if t.level == 1] == [TileID(1, 0), TileID(1, 1, 17)]
        assert [t for t in tiles if t.level == 2] == [TileID(2, 0, 1)]

    def test_spec_example_256(self) -> None:
        assert tiles_for_size(256) == [TileID(0, 0), TileID(1, 0, 1)]

    def test_skylight_300(self) -> None:
        assert [tile_path(t) for t in tiles_for_size(300)] == [
            "tile/0/000",
            "tile/0/001.p/44",
            "tile/1/000.p/1",
        ]

    def test_small_sizes(self) -> None:
        assert tiles_for_size(0) == []
        assert tiles_for_size(1) == [TileID(0, 0, 1)]
        assert tiles_for_size(255) == [TileID(0, 0, 255)]
        with pytest.raises(ValueError):
            tiles_for_size(-1)

    def test_partial_width_formula(self) -> None:
        for size in [1, 300, 65_535, 65_536, 70_000, 16_777_217]:
            partial = {t.level: t.width for t in tiles_for_size(size) if t.is_partial}
            for level in range(5):
                width = (size // 256**level) % 256
                assert partial.get(level, 0) == width

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (0, 0),
            (0, 1),
            (1, 1),
            (100, 101),
            (255, 256),
            (256, 257),
            (300, 600),
            (1023, 1025),
            (65_535, 65_537),
            (70_000, 140_000),
            (0, 70_000),
            (257, 300),
        ],
    )
    def test_changed_is_the_inventory_difference(self, old: int, new: int) -> None:
        changed = tiles_changed(old, new)
        want = [t for t in tiles_for_size(new) if t not in set(tiles_for_size(old))]
        assert changed == want

    def test_changed_examples(self) -> None:
        assert tiles_changed(300, 300) == []
        assert tiles_changed(256, 300) == [TileID(0, 1, 44)]
        assert tiles_changed(255, 256) == [TileID(0, 0), TileID(1, 0, 1)]
        with pytest.raises(ValueError):
            tiles_changed(5, 4)
        with pytest.raises(ValueError):
            tiles_changed(0, 2**64)


class TestHashTiles:
    def test_round_trip(self) -> None:
        hashes = [hash_leaf(bytes([i])) for i in range(44)]
        data = format_hash_tile(hashes)
        assert len(data) == 44 * 32
        assert parse_hash_tile(data, 44) == hashes

    def test_errors(self) -> None:
        with pytest.raises(FormatError, match=r"hash tile of width 2: got 63 bytes, want 64"):
            parse_hash_tile(bytes(63), 2)
        with pytest.raises(FormatError, match=r"hash tile of width 256: got 0 bytes, want 8192"):
            parse_hash_tile(b"", 256)
        with pytest.raises(FormatError, match="width out of range"):
            parse_hash_tile(b"", 0)
        with pytest.raises(FormatError, match="width out of range"):
            parse_hash_tile(bytes(257 * 32), 257)
        with pytest.raises(FormatError, match="got 0 hashes"):
            format_hash_tile([])
        with pytest.raises(FormatError, match="got 257 hashes"):
            format_hash_tile([bytes(32)] * 257)
        with pytest.raises(FormatError, match=r"hash 1 is 31 bytes"):
            format_hash_tile([bytes(32), bytes(31)])

    def test_skylight_tiles_parse(self, vectors_dir: Path) -> None:
        mirror = vectors_dir / SKYLIGHT_MIRROR
        for tile in tiles_for_size(300):
            hashes = parse_hash_tile((mirror / tile_path(tile)).read_bytes(), tile.width)
            assert len(hashes) == tile.width


class TestEntryBundles:
    def test_vector(self) -> None:
        # vectors.md §6.4
        bundle = format_entry_bundle([b"record 0", b"record 1"])
        assert bundle.hex() == "0008" + b"record 0".hex() + "0008" + b"record 1".hex()
        assert parse_entry_bundle(bundle) == [b"record 0", b"record 1"]
        assert parse_entry_bundle(bundle, 2) == [b"record 0", b"record 1"]

    def test_edge_entries(self) -> None:
        entries = [b"", bytes(MAX_ENTRY_BYTES), b"x"]
        assert parse_entry_bundle(format_entry_bundle(entries), 3) == entries
        full = [b"%d" % i for i in range(256)]
        assert parse_entry_bundle(format_entry_bundle(full)) == full

    def test_parse_errors(self) -> None:
        bundle = format_entry_bundle([b"record 0", b"record 1"])
        with pytest.raises(FormatError, match=r"got 2 entries, want 3"):
            parse_entry_bundle(bundle, 3)
        with pytest.raises(FormatError, match=r"trailing bytes at offset 10 after 1 entries"):
            parse_entry_bundle(bundle, 1)
        with pytest.raises(FormatError, match=r"entry 1 at offset 10: truncated \(got 7 bytes"):
            parse_entry_bundle(bundle[:-1])
        with pytest.raises(FormatError, match=r"entry 2 at offset 20: truncated length prefix"):
            parse_entry_bundle(bundle + b"\x00")
        with pytest.raises(FormatError, match="empty"):
            parse_entry_bundle(b"")
        with pytest.raises(FormatError, match="got 0 entries, want 1"):
            parse_entry_bundle(b"", 1)
        with pytest.raises(FormatError, match="count out of range"):
            parse_entry_bundle(bundle, 0)
        with pytest.raises(FormatError, match="count out of range"):
            parse_entry_bundle(bundle, 257)
        with pytest.raises(FormatError, match="trailing bytes"):
            parse_entry_bundle(b"\x00\x00" * 257)
        with pytest.raises(FormatError, match="exceeds the maximum"):
            parse_entry_bundle(bytes(MAX_ENTRY_BUNDLE_BYTES + 1))

    def test_format_errors(self) -> None:
        with pytest.raises(FormatError, match=r"entry 1 is 65536 bytes \(want <= 65535\)"):
            format_entry_bundle([b"", bytes(65536)])
        with pytest.raises(FormatError, match="got 0 entries"):
            format_entry_bundle([])
        with pytest.raises(FormatError, match="got 257 entries"):
            format_entry_bundle([b""] * 257)
        with pytest.raises(TypeError):
            format_entry_bundle(b"record")  # type: ignore[arg-type]


def tile_store(tree: MerkleTree) -> dict[TileID, bytes]:
    """Every hash tile of ``tree`` at every width, as a log would have served them."""
    store = {}
    level = 0
    while (count := tree.size >> (TILE_HEIGHT * level)) > 0:
        for index in range(-(-count // TILE_WIDTH)):
            hashes = [
                tree.node(TILE_HEIGHT * level, index * TILE_WIDTH + i)
                for i in range(min(TILE_WIDTH, count - index * TILE_WIDTH))
            ]
            for width in range(1, len(hashes) + 1):
                store[TileID(level, index, width)] = b"".join(hashes[:width])
        level += 1
    return store


class Fetcher:
    def __init__(self, store: dict[TileID, bytes]) -> None:
        self.store = store
        self.calls: list[list[TileID]] = []

    def __call__(self, tiles: Sequence[TileID]) -> list[bytes]:
        self.calls.append(list(tiles))
        return [self.store[tile] for tile in tiles]


class TestTileReader:
    def test_skylight_real_tiles(self, vectors_dir: Path) -> None:
        mirror = vectors_dir / SKYLIGHT_MIRROR
        fetched: list[list[TileID]] = []

        def fetch(tiles: Sequence[TileID]) -> list[bytes]:
            fetched.append(list(tiles))
            return [(mirror / tile_path(tile)).read_bytes() for tile in tiles]

        reader = TileReader(300, fetch)
        assert reader.size == 300
        root = base64.b64decode("gw31yQrqZZCcEOPrzX+bpy3nJ6QgngTKn8G1m0i62uU=")
        assert prove.root_at(300, reader) == root
        assert fetched == [[TileID(1, 0, 1), TileID(0, 1, 44)]]

        tree = MerkleTree([hash_leaf(b"record %d" % i) for i in range(300)])
        inclusion = prove.prove_inclusion(299, 300, TileReader(300, fetch))
        assert inclusion == tree.inclusion_proof(299, 300)
        assert [base64.b64encode(h).decode() for h in inclusion] == [
            "oJeCE4EcZnD3TghM2hxVfAALwF5llUkBn6elkggA9lg=",
            "G4eeV6kFVP/E3WDpTS13Y8MluAOSE4lmh/6gzH+LKXY=",
            "BwAl1lkfH1Fu+RLO5xSCcQc32AVTRaXrDkBtCAGGR9g=",
            "M96OAKgNKtJ00jDbUN3xCuKP3nVQYySodLLmyR3zgK0=",
            "3JNJ+Xh+0Ahtptl/Z5xRpRmPmORW6Vsdh/o6vAEv7DE=",
        ]
        verify_inclusion(299, 300, hash_leaf(b"record 299"), inclusion, root)

        consistency = prove.prove_consistency(257, 300, TileReader(300, fetch))
        assert [base64.b64encode(h).decode() for h in consistency] == [
            "rUAG1i3BEkDkzWyMjguVIMzPm78bih9kodDEVwxQkls=",
            "E8hKtxS7AnK1sf/NfecfxYZa1CAf8psSZE04ZllCYP0=",
            "kasamZQ4HpdKO0SYiugJIDAq2HOcsCMsyoQ0uj69xVw=",
            "rgNv9wDY3hnJrf5ecZDdc5cYfDQl20595Njfu8KZ6ms=",
            "YEuFURczV07bb1QecTYD8jKmOnXRo1yUQiN5YQ1EerE=",
            "F1T/sISqhYq7KDRfryAsJLPTgnGshxubXcuhQTyN54s=",
            "+JzqYfQRUx3OS3GjUmYpnpjP+yrz0BVBFheziie6VwA=",
            "3JNJ+Xh+0Ahtptl/Z5xRpRmPmORW6Vsdh/o6vAEv7DE=",
        ]
        root257 = base64.b64decode("e8lTONnrdW/d1vzeOGps12khFsE79avvFd+35TWOaK4=")
        verify_consistency(257, 300, consistency, root257, root)
        # Every tile read exists for size 300, and each proof took one fetch.
        assert all(len(call) <= 2 for call in fetched)
        assert {t for call in fetched for t in call} <= set(tiles_for_size(300))

        # A leaf in the first, full tile needs tile/0/000 and tile/1/000.p/1.
        reader = TileReader(300, fetch)
        assert reader.tiles_for_nodes(prove.inclusion_nodes(3, 300)) == [
            TileID(0, 0),
            TileID(0, 1, 44),
        ]

    def test_matches_tree_across_tile_boundaries(self) -> None:
        tree = MerkleTree([hash_leaf(i.to_bytes(4, "big")) for i in range(70_000)])
        fetcher = Fetcher(tile_store(tree))
        rng = random.Random(2024)
        sizes = [1, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 70_000]
        sizes += [rng.randrange(1, 70_001) for _ in range(8)]
        for size in sizes:
            reader = TileReader(size, fetcher)
            assert prove.root_at(size, reader) == tree.root(size)
            indexes = {0, size - 1, size // 2, rng.randrange(size)}
            for index in indexes:
                fetcher.calls.clear()
                proof = prove.prove_inclusion(index, size, TileReader(size, fetcher))
                assert proof == tree.inclusion_proof(index, size), (index, size)
                tiles = [t for call in fetcher.calls for t in call]
                assert len(fetcher.calls) <= 1
                # About one tile per level: the leaf's path, plus the partial
                # right-edge tile where the proof needs an ephemeral node.
                for level in {t.level for t in tiles}:
                    assert sum(t.level == level for t in tiles) <= 2
                assert set(tiles) <= set(tiles_for_size(size))
            for size1 in {1, size // 3 or 1, size - 1 or 1, size}:
                proof = prove.prove_consistency(size1, size, TileReader(size, fetcher))
                assert proof == tree.consistency_proof(size1, size), (size1, size)

    def test_caches_tiles(self) -> None:
        tree = MerkleTree([hash_leaf(i.to_bytes(4, "big")) for i in range(600)])
        fetcher = Fetcher(tile_store(tree))
        reader = TileReader(600, fetcher)
        prove.prove_inclusion(10, 600, reader)
        prove.prove_inclusion(11, 600, reader)
        prove.root_at(600, reader)
        fetched = [t for call in fetcher.calls for t in call]
        assert len(fetched) == len(set(fetched))

    def test_rejects_nodes_outside_the_tree(self) -> None:
        reader = TileReader(300, Fetcher({}))
        for node in [(0, 300), (9, 0), (-1, 0), (0, -1), (2, 75)]:
            with pytest.raises(ValueError, match="is not a full subtree"):
                reader([node])
        with pytest.raises(ValueError):
            TileReader(-1, Fetcher({}))

    def test_bad_tiles(self) -> None:
        tree = MerkleTree([hash_leaf(i.to_bytes(4, "big")) for i in range(300)])
        store = tile_store(tree)
        store[TileID(0, 1, 44)] = store[TileID(0, 1, 44)][:-1]
        with pytest.raises(FormatError, match=r"tile/0/001.p/44: hash tile of width 44"):
            prove.prove_inclusion(299, 300, TileReader(300, Fetcher(store)))

        def short(tiles: Sequence[TileID]) -> list[bytes]:
            return []

        with pytest.raises(ValueError, match=r"tile fetcher: returned 0 tiles for 2 requested"):
            prove.prove_inclusion(299, 300, TileReader(300, short))

    def test_forged_tile_is_caught_by_verification(self) -> None:
        tree = MerkleTree([hash_leaf(i.to_bytes(4, "big")) for i in range(300)])
        store = tile_store(tree)
        forged = bytearray(store[TileID(0, 1, 44)])
        forged[0] ^= 1
        store[TileID(0, 1, 44)] = bytes(forged)
        proof = prove.prove_inclusion(299, 300, TileReader(300, Fetcher(store)))
        with pytest.raises(Exception, match="does not match"):
            verify_inclusion(299, 300, tree.node(0, 299), proof, tree.root())
