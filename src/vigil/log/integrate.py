"""Integration: growing the Merkle tree and computing the tiles that change.

:class:`TreeBuilder` holds what is needed to extend the tree of size ``size``:
its compact range (c2sp.org/tlog-tiles trees are RFC 6962 trees; the compact
range gives the root) and the *edge*: the hashes of the rightmost, not yet full
tile of every tile level, and the entries of the rightmost entry bundle.
:meth:`TreeBuilder.integrate` is a pure function of the builder and the new
entries: it returns a new builder and the tiles to write, and leaves the old
builder untouched, so a failed write can simply be retried.

How tile hashes arise: tile level ``L`` holds the tree nodes of level ``8L``.
Extending the compact range reports every newly completed node
(``visit(level, index, hash)``); those at levels that are multiples of 8 are
appended to the edge tile of their tile level::

    tree level 8  (tile level 1):  h0 h1 h2 ...   each = root of one full level-0 tile
    tree level 0  (tile level 0):  l0 l1 l2 ...   leaf hashes

When an edge tile reaches 256 hashes it is written as a full tile and a new
edge begins; the remainder is written as a partial tile ``.p/<width>``.

No I/O except through the callables given to :meth:`TreeBuilder.load`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat

from vigil.core.compact import CompactRange
from vigil.core.merkle import root_from_leaf_hashes
from vigil.core.prove import root_nodes
from vigil.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileID,
    TileReader,
    format_entry_bundle,
    parse_hash_tile,
    tile_path,
)
from vigil.errors import FormatError
from vigil.log.errors import LogStateError
from vigil.log.storage.base import StoredEntry, TreeState

__all__ = ["Integration", "TreeBuilder"]


@dataclass(frozen=True, slots=True)
class Integration:
    """The result of integrating a range of entries.

    Attributes:
        builder: The builder for the new size.
        tiles: Every tile and entry bundle that is new or wider, with its
            bytes, in an order safe to write (any order is; writes are
            idempotent).
        nodes: Every full subtree the new entries completed, ``(level,
            index) -> hash``, leaves included (proof construction can use
            them instead of recomputing them from tiles).
    """

    builder: TreeBuilder
    tiles: list[tuple[TileID, bytes]]
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)


class TreeBuilder:
    """Compact range plus edge tiles of a tree; see the module docstring."""

    __slots__ = ("_bundle", "_edges", "_range")

    def __init__(
        self, compact: CompactRange, edges: Sequence[Sequence[bytes]], bundle: Sequence[bytes]
    ) -> None:
        size = compact.size
        levels = 0
        while size >> (TILE_HEIGHT * levels):
            levels += 1
        edges = list(edges)[:levels] + [[] for _ in range(levels - len(edges))]
        for level, hashes in enumerate(edges):
            want = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
            if len(hashes) != want:
                raise ValueError(
                    f"tree builder of size {size}: edge tile at level {level} has "
                    f"{len(hashes)} hashes, want {want}"
                )
        if len(bundle) != size % TILE_WIDTH:
            raise ValueError(
                f"tree builder of size {size}: edge bundle has {len(bundle)} entries, "
                f"want {size % TILE_WIDTH}"
            )
        self._range = compact
        self._edges: list[list[bytes]] = [list(h) for h in edges]
        self._bundle: list[bytes] = list(bundle)

    @classmethod
    def empty(cls) -> TreeBuilder:
        """The builder of the empty tree."""
        return cls(CompactRange(), [], [])

    @property
    def size(self) -> int:
        """The tree size."""
        return self._range.size

    def root(self) -> bytes:
        """The root hash."""
        return self._range.root()

    def state(self) -> TreeState:
        """The storable tree state."""
        return TreeState(self._range.size, self._range.hashes)

    @classmethod
    def load(
        cls,
        state: TreeState,
        *,
        read_tile: Callable[[TileID], bytes | None],
        read_entries: Callable[[int, int], list[StoredEntry]],
    ) -> TreeBuilder:
        """Rebuild the builder of a stored tree state from storage and tiles.

        Procedure:

        1. Level-0 edge and edge bundle from the database (at most 255 entries):
           the database is the source of truth for entries.
        2. Each higher level's edge from its partial tile on disk, or, if that
           file is missing, from the full tiles of the level below.
        3. Check that the edges reproduce the stored compact range exactly
           (every frontier node, read through the tiles), so a tiles
           directory that doesn't belong to this database is caught here,
           before anything is appended to it.

        Raises:
            LogStateError: a needed tile is missing or malformed, or the tiles
                do not match the stored tree state.
        """
        size = state.size
        compact = CompactRange.from_state(size, state.hashes)
        # Step 1.
        width0 = size % TILE_WIDTH
        edge_entries = read_entries(size - width0, size)
        if len(edge_entries) != width0:
            raise LogStateError(
                f"tree of size {size}: database has {len(edge_entries)} of the "
                f"{width0} entries of the last bundle"
            )
        edges: list[list[bytes]] = [[e.leaf_hash for e in edge_entries]]
        bundle = [e.data for e in edge_entries]

        def need(tile: TileID) -> bytes:
            data = read_tile(tile)
            if data is None:
                raise LogStateError(f"tree of size {size}: tile {tile_path(tile)} is missing")
            return data

        def hashes_of(tile: TileID) -> list[bytes]:
            try:
                return parse_hash_tile(need(tile), tile.width)
            except FormatError as exc:
                raise LogStateError(f"tree of size {size}: {tile_path(tile)}: {exc}") from exc

        # Step 2.
        level = 1
        while count := size >> (TILE_HEIGHT * level):
            index, width = divmod(count, TILE_WIDTH)
            if not width:
                edges.append([])
            elif read_tile(TileID(level, index, width)) is not None:
                edges.append(hashes_of(TileID(level, index, width)))
            else:
                edges.append(
                    [
                        root_from_leaf_hashes(hashes_of(TileID(level - 1, index * TILE_WIDTH + i)))
                        for i in range(width)
                    ]
                )
            level += 1
        builder = cls(compact, edges, bundle)
        # Step 3.
        nodes = root_nodes(size)
        if nodes:
            reader = TileReader(size, lambda tiles: [builder._tile_bytes(t, need) for t in tiles])
            if list(reader(nodes)) != list(state.hashes):
                raise LogStateError(
                    f"tree of size {size}: the tiles directory does not match the "
                    "database's tree state (is it another log's?)"
                )
        return builder

    def edge_tiles(self) -> list[tuple[TileID, bytes]]:
        """The partial tiles and the partial entry bundle of this tree size."""
        size = self.size
        tiles: list[tuple[TileID, bytes]] = []
        for level, hashes in enumerate(self._edges):
            if hashes:
                index = (size >> (TILE_HEIGHT * level)) // TILE_WIDTH
                tiles.append((TileID(level, index, len(hashes)), b"".join(hashes)))
        if self._bundle:
            tiles.append(
                (
                    TileID(0, size // TILE_WIDTH, len(self._bundle), entries=True),
                    format_entry_bundle(self._bundle),
                )
            )
        return tiles

    def _tile_bytes(self, tile: TileID, read: Callable[[TileID], bytes]) -> bytes:
        """A hash tile of this tree: the edge from memory, full tiles via ``read``."""
        if tile.is_partial:
            hashes = self._edges[tile.level]
            if len(hashes) != tile.width:
                raise ValueError(f"{tile_path(tile)}: not this tree's edge tile")
            return b"".join(hashes)
        return read(tile)

    def integrate(self, start: int, entries: Sequence[tuple[bytes, bytes]]) -> Integration:
        """Append entries and compute the tiles that change.

        Args:
            start: Index of the first entry; must equal :attr:`size`.
            entries: ``(leaf hash, entry bytes)`` pairs in index order.

        Returns:
            The new builder and the tiles to write. ``self`` is unchanged.

        Raises:
            ValueError: ``start`` is not the tree size (a programming error).
            FormatError: a leaf hash is not 32 bytes or an entry is too large
                for an entry bundle.
        """
        if start != self.size:
            raise ValueError(f"integrate at {start}, but the tree has size {self.size}")
        if not entries:
            return Integration(self, [])
        compact = self._range.copy()
        new_hashes: dict[int, list[bytes]] = {}
        nodes: dict[tuple[int, int], bytes] = {}

        def visit(level: int, first: int, values: list[bytes]) -> None:
            if level % TILE_HEIGHT == 0:
                new_hashes[level // TILE_HEIGHT] = values
            ids = zip(repeat(level), range(first, first + len(values)))
            nodes.update(zip(ids, values, strict=True))

        compact.extend_levels([leaf for leaf, _ in entries], visit)
        tiles: list[tuple[TileID, bytes]] = []
        edges = [list(h) for h in self._edges]
        for level in sorted(new_hashes):
            if level == len(edges):
                edges.append([])
            first = (start >> (TILE_HEIGHT * level)) // TILE_WIDTH  # tile index of edges[level]
            edges[level] = _grow(edges[level], new_hashes[level], first, level, tiles, b"".join)
        bundle = _grow(
            list(self._bundle), [data for _, data in entries], start // TILE_WIDTH, 0, tiles,
            format_entry_bundle, entries=True,
        )
        return Integration(TreeBuilder(compact, edges, bundle), tiles, nodes)


def _grow(
    edge: list[bytes],
    new: list[bytes],
    tile_index: int,
    level: int,
    out: list[tuple[TileID, bytes]],
    encode: Callable[[Sequence[bytes]], bytes],
    *,
    entries: bool = False,
) -> list[bytes]:
    """Append ``new`` to an edge tile, emitting full tiles and the final partial one."""
    position = 0
    while position < len(new):
        take = min(TILE_WIDTH - len(edge), len(new) - position)
        edge.extend(new[position : position + take])
        position += take
        if len(edge) == TILE_WIDTH:
            out.append((TileID(level, tile_index, entries=entries), encode(edge)))
            tile_index += 1
            edge = []
    if edge:
        out.append((TileID(level, tile_index, len(edge), entries=entries), encode(edge)))
    return edge

