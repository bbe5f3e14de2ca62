"""A cache of Merkle tree nodes for building proofs from tiles.

A full subtree's hash never changes once the subtree is complete (it doesn't
depend on the tree size), so every node computed for one proof can serve all
later proofs. :class:`NodeCache` keeps two kinds:

* single nodes, mostly those each integration completes (handed over by the
  sequencer, so proofs of fresh entries need no tile at all);
* **tile pyramids**: the first time a proof needs a node inside a full tile
  (c2sp.org/tlog-tiles: 256 hashes at tree level ``8L``), every node of the
  seven levels above it within the tile is taken at once and kept, so later
  proofs through that tile, and through the tiles above it, hash nothing.
  The sequencer stores each full tile's pyramid, the tile included, as a
  record (:func:`format_pyramid`, see :class:`vigil.log.tiledir.TileDir`),
  so a proof in a log of millions of entries, whose tile is not in the
  cache, slices it from a mapped file instead of reading the tile and
  hashing 254 nodes (about 180 us); without a valid record (a log older
  than them, a torn write) the pyramid is computed.

Nodes the cache cannot place (in partial tiles) are computed by
:class:`vigil.core.tiles.TileReader`. Both parts are bounded.

Thread-safe enough for its use: concurrent readers may compute a node twice,
never a wrong one. No I/O except through the fetcher given to :meth:`reader`.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence

from vigil.core.merkle import NODE_HASH_PREFIX
from vigil.core.prove import NodeReader
from vigil.core.tiles import TILE_HEIGHT, TILE_WIDTH, TileFetcher, TileID, TileReader

__all__ = ["PYRAMID_BYTES", "NodeCache", "PyramidLoader", "format_pyramid", "parse_pyramid"]

NodeID = tuple[int, int]
_HASH = 32
# A pyramid: levels 0..7 of a full tile (256 + 128 + ... + 2 hashes), one
# after the other; level k starts at _LEVEL_OFFSETS[k]. A stored record adds
# a CRC-32 of the tile's level, index and those levels, so a torn, damaged
# or misplaced record (our own file: no adversary writes it) is never used.
_LEVELS_BYTES = (2 * TILE_WIDTH - 2) * _HASH
_LEVEL_OFFSETS = [(2 * TILE_WIDTH - (TILE_WIDTH >> k) * 2) * _HASH for k in range(TILE_HEIGHT)]
_CRC_BYTES = 4
PYRAMID_BYTES = _LEVELS_BYTES + _CRC_BYTES

PyramidLoader = Callable[[TileID], "bytes | None"]


def _pyramid(tile: bytes) -> bytes:
    """Levels 0..7 of a full tile: 256, 128, ..., 2 hashes, concatenated."""
    sha = hashlib.sha256
    prefix = NODE_HASH_PREFIX
    levels = [tile]
    below = tile
    for _ in range(1, TILE_HEIGHT):
        level = b"".join(
            sha(prefix + below[i : i + 2 * _HASH]).digest()
            for i in range(0, len(below), 2 * _HASH)
        )
        levels.append(level)
        below = level
    return b"".join(levels)


def _record_checksum(tile: TileID, levels: bytes | memoryview) -> bytes:
    name = f"{tile.level}/{tile.index}\n".encode()
    return zlib.crc32(levels, zlib.crc32(name)).to_bytes(_CRC_BYTES, "big")


def format_pyramid(tile: TileID, data: bytes) -> bytes:
    """The pyramid record of the full hash tile ``tile`` whose bytes are ``data``."""
    levels = _pyramid(data)
    return levels + _record_checksum(tile, levels)


def parse_pyramid(tile: TileID, record: bytes | memoryview) -> bytes | None:
    """Levels 0..7 of ``tile`` from its pyramid record, or None if the record is not
    that tile's (wrong length or checksum: torn, damaged, misplaced, absent).

    ``record`` may be a view of a mapped file: it is checked in place and
    copied only once it is known good.
    """
    if len(record) != PYRAMID_BYTES:
        return None
    levels = record[:_LEVELS_BYTES]
    if _record_checksum(tile, levels) != bytes(record[_LEVELS_BYTES:]):
        return None
    return bytes(levels)


class NodeCache:
    """Nodes and tile pyramids shared by every proof; see the module docstring.

    Args:
        max_nodes: Single nodes kept (cleared when exceeded).
        max_pyramids: Tile pyramids kept (about 16 KB each; least recently
            used first out).
    """

    def __init__(self, max_nodes: int = 1 << 20, max_pyramids: int = 4096) -> None:
        self._nodes: dict[NodeID, bytes] = {}
        self._max = max_nodes
        self._pyramids: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._max_pyramids = max_pyramids
        self._lock = threading.Lock()

    def add(self, nodes: dict[NodeID, bytes]) -> None:
        """Remember full subtrees computed elsewhere (by integration; any thread)."""
        if len(self._nodes) + len(nodes) > self._max:
            self._nodes.clear()
        self._nodes.update(nodes)

    def _from_pyramid(
        self,
        node: NodeID,
        size: int,
        fetch: TileFetcher,
        load: PyramidLoader | None,
        seen: dict[tuple[int, int], bytes | None],
    ) -> bytes | None:
        """The node from the pyramid of its full tile, or None if that tile isn't full.

        ``seen`` holds the pyramids this read has looked up already: a proof
        takes up to eight nodes (one per level) from each tile it crosses, so
        each tile is looked up once per read, not once per node.
        """
        level, index = node
        tile_level, sub = divmod(level, TILE_HEIGHT)
        tile_index = index >> (TILE_HEIGHT - sub)
        key = (tile_level, tile_index)
        if key in seen:
            levels = seen[key]
        else:
            levels = seen[key] = self._tile_levels(key, size, fetch, load)
        if levels is None:
            return None
        offset = _LEVEL_OFFSETS[sub] + (index - (tile_index << (TILE_HEIGHT - sub))) * _HASH
        return levels[offset : offset + _HASH]

    def _tile_levels(
        self, key: tuple[int, int], size: int, fetch: TileFetcher, load: PyramidLoader | None
    ) -> bytes | None:
        """Levels 0..7 of the full tile ``key``: cached, loaded or computed; None if
        the tile is not full in the tree of ``size`` (or is malformed)."""
        tile_level, tile_index = key
        if (tile_index + 1) * TILE_WIDTH << (TILE_HEIGHT * tile_level) > size:
            return None  # a partial tile: its nodes come from the edge
        with self._lock:
            levels = self._pyramids.get(key)
            if levels is not None:
                self._pyramids.move_to_end(key)
                return levels
        levels = load(TileID(tile_level, tile_index)) if load is not None else None
        if levels is None:
            data = fetch([TileID(tile_level, tile_index)])[0]
            if len(data) != TILE_WIDTH * _HASH:
                return None  # let TileReader report the malformed tile
            levels = _pyramid(bytes(data))
        with self._lock:
            self._pyramids[key] = levels
            while len(self._pyramids) > self._max_pyramids:
                self._pyramids.popitem(last=False)
        return levels

    def reader(
        self, size: int, fetch: TileFetcher, load_pyramid: PyramidLoader | None = None
    ) -> NodeReader:
        """A node reader for the tree of ``size`` whose tiles ``fetch`` returns, and
        whose stored pyramids ``load_pyramid`` (if given) returns."""
        tiles = TileReader(size, fetch)
        nodes = self._nodes

        def read(ids: Sequence[NodeID]) -> list[bytes]:
            found: list[bytes | None] = []
            missing = []
            seen: dict[tuple[int, int], bytes | None] = {}
            for node in ids:
                value = nodes.get(node)
                if value is None:
                    value = self._from_pyramid(node, size, fetch, load_pyramid, seen)
                    if value is None:
                        missing.append(node)
                found.append(value)
            if not missing:
                return [value for value in found if value is not None]
            if len(nodes) + len(missing) > self._max:
                nodes.clear()
            computed = dict(zip(missing, tiles(missing), strict=True))
            nodes.update(computed)
            return [value or computed[node] for node, value in zip(ids, found, strict=True)]

        return read
