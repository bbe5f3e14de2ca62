"""Tiled transparency logs (c2sp.org/tlog-tiles): paths, tiles, entry bundles.

Implements, from the C2SP tlog-tiles specification:

* tile paths ``tile/<L>/<N>[.p/<W>]`` and entry bundle paths
  ``tile/entries/<N>[.p/<W>]`` ("Merkle Tree", "Log entries"), formatted and
  parsed strictly: one canonical spelling per tile, everything else is a
  :class:`~vigil.errors.FormatError`;
* the tile inventory of a tree size and the tiles that change between two
  sizes ("Partial Tiles");
* hash tiles (concatenated 32-byte hashes) and entry bundles (big-endian
  uint16 length-prefixed entries), with size caps applied before parsing;
* :class:`TileReader`, which turns a tile fetcher into a
  :data:`vigil.core.prove.NodeReader`, so that :mod:`vigil.core.prove` builds
  inclusion and consistency proofs from tiles, reading about one tile per
  tile level.

Tile geometry: a tile at level ``L`` holds up to 256 hashes of tree level
``8 * L``; hash ``i`` of tile ``N`` is the full subtree ``(8 * L, 256 * N + i)``
(see :mod:`vigil.core.merkle`). Tree nodes at levels between multiples of 8 are
recomputed from the tile's hashes.

This module does no I/O (the fetcher is the caller's), does not read the clock,
and does not authenticate tiles: verify proofs built from them against a
verified checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.core.merkle import HASH_SIZE, MAX_TREE_SIZE, root_from_leaf_hashes
from vigil.errors import FormatError

__all__ = [
    "MAX_ENTRY_BUNDLE_BYTES",
    "MAX_ENTRY_BYTES",
    "MAX_TILE_INDEX",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileFetcher",
    "TileID",
    "TileReader",
    "format_entry_bundle",
    "format_hash_tile",
    "format_tile_index",
    "parse_entry_bundle",
    "parse_hash_tile",
    "parse_tile_index",
    "parse_tile_path",
    "tile_path",
    "tiles_changed",
    "tiles_for_size",
]

TILE_HEIGHT = 8
"""Tree levels spanned by one tile (c2sp.org/tlog-tiles: 256-hash tiles)."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile, and entries in a full entry bundle (256)."""

MAX_TILE_LEVEL = 63
"""Largest tile level ``<L>`` a path may carry ("between 0 and 63")."""

MAX_TILE_INDEX = MAX_TREE_SIZE
"""Largest tile index accepted: tree sizes are uint64, so no tile index exceeds this."""

MAX_ENTRY_BYTES = 0xFFFF
"""Largest entry an entry bundle can hold (uint16 length prefix)."""

MAX_ENTRY_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_BYTES)
"""Largest possible entry bundle: 256 entries of 65535 bytes with their prefixes."""

_MAX_INDEX_ELEMENTS = 7  # 2**64 - 1 has 20 digits: 7 groups of 3
_MAX_PATH_CHARS = 96
_DIGITS = frozenset("0123456789")

TileFetcher = Callable[[Sequence["TileID"]], Sequence[bytes]]
"""Fetches the given tiles and returns their bytes in the same order."""


@dataclass(frozen=True, slots=True)
class TileID:
    """A hash tile ``tile/<level>/<index>[.p/<width>]`` or an entry bundle.

    Attributes:
        level: Tile level, 0..63; hash ``i`` of the tile is tree node
            ``(8 * level, 256 * index + i)``. Always 0 for entry bundles.
        index: Tile index within its level, 0..2**64-1.
        width: Number of hashes (or entries), 1..256; below 256 the tile is
            partial and its path ends in ``.p/<width>``.
        entries: True for the entry bundle ``tile/entries/<index>``, whose
            entries hash to the level-0 tile of the same index.

    Raises:
        FormatError: On construction, if a field is out of range.
    """

    level: int
    index: int
    width: int = TILE_WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        for name in ("level", "index", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"tile {name}: want int, got {type(value).__name__}")
        if not isinstance(self.entries, bool):
            raise TypeError(f"tile entries flag: want bool, got {type(self.entries).__name__}")
        if not 0 <= self.level <= MAX_TILE_LEVEL:
            raise FormatError(f"tile level: out of range (got {self.level}, want 0..63)")
        if self.entries and self.level != 0:
            raise FormatError(f"entry bundle: level must be 0 (got {self.level})")
        if not 0 <= self.index <= MAX_TILE_INDEX:
            raise FormatError(
                f"tile index: out of range (got {self.index}, want 0..{MAX_TILE_INDEX})"
            )
        if not 1 <= self.width <= TILE_WIDTH:
            raise FormatError(f"tile width: out of range (got {self.width}, want 1..256)")

    @property
    def is_partial(self) -> bool:
        """Whether the tile holds fewer than 256 hashes (entries)."""
        return self.width < TILE_WIDTH

    @property
    def start(self) -> int:
        """Index of the first leaf (entry) the tile covers."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def end(self) -> int:
        """One past the index of the last leaf (entry) the tile covers."""
        return self.start + (self.width << (TILE_HEIGHT * self.level))

    def entry_bundle(self) -> TileID:
        """Return the entry bundle whose entries hash to this level-0 tile.

        Raises:
            ValueError: This is not a level-0 hash tile.
        """
        if self.entries or self.level != 0:
            raise ValueError(f"{tile_path(self)}: only level-0 hash tiles have an entry bundle")
        return TileID(0, self.index, self.width, entries=True)

    def __str__(self) -> str:
        return tile_path(self)


def format_tile_index(index: int) -> str:
    """Encode a tile index as zero-padded 3-digit path elements, e.g. ``x001/x234/067``.

    Raises:
        ValueError: ``index`` is negative or above :data:`MAX_TILE_INDEX`.
    """
    if not 0 <= index <= MAX_TILE_INDEX:
        raise ValueError(f"tile index: out of range (got {index}, want 0..{MAX_TILE_INDEX})")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + group for group in groups[:-1]] + groups[-1:])


def _canonical_decimal(text: str, what: str, low: int, high: int) -> int:
    """Parse an ASCII decimal with no sign and no leading zero, within [low, high]."""
    if not text or len(text) > len(str(high)) or not _DIGITS.issuperset(text):
        raise FormatError(f"{what}: {text[:20]!r} is not a decimal in {low}..{high}")
    if len(text) > 1 and text[0] == "0":
        raise FormatError(f"{what}: {text!r} has a leading zero")
    value = int(text)
    if not low <= value <= high:
        raise FormatError(f"{what}: out of range (got {value}, want {low}..{high})")
    return value


def parse_tile_index(text: str) -> int:
    """Parse a tile index path such as ``x001/x234/067`` (c2sp.org/tlog-tiles).

    Strict: every element has exactly three ASCII digits, all but the last
    start with ``x``, the last does not, and the first is not ``x000`` (one
    index, one spelling).

    Raises:
        FormatError: The text is not the canonical encoding of an index in
            0..:data:`MAX_TILE_INDEX`.
    """
    if len(text) > 5 * _MAX_INDEX_ELEMENTS - 2:  # "xNNN/" per element, "NNN" last
        raise FormatError(f"tile index: too long ({len(text)} characters)")
    elements = text.split("/")
    if len(elements) > _MAX_INDEX_ELEMENTS:
        raise FormatError(
            f"tile index: {text!r} has {len(elements)} elements (want at most "
            f"{_MAX_INDEX_ELEMENTS})"
        )
    digits = []
    for position, element in enumerate(elements):
        last = position == len(elements) - 1
        group = element if last else element[1:]
        if not last and not element.startswith("x"):
            raise FormatError(f"tile index: element {element!r} of {text!r} lacks the x prefix")
        if len(group) != 3 or not _DIGITS.issuperset(group):
            raise FormatError(
                f"tile index: element {element!r} of {text!r} is not "
                f"{'3 digits' if last else 'x and 3 digits'}"
            )
        digits.append(group)
    if len(digits) > 1 and digits[0] == "000":
        raise FormatError(f"tile index: {text!r} is not canonical (leading x000 element)")
    value = int("".join(digits))
    if value > MAX_TILE_INDEX:
        raise FormatError(f"tile index: out of range (got {value}, want <= {MAX_TILE_INDEX})")
    return value


def tile_path(tile: TileID) -> str:
    """Return the path of a tile relative to the log prefix.

    For example ``tile/0/x001/x234/067``, ``tile/1/000.p/17`` or
    ``tile/entries/001.p/44``.
    """
    head = "tile/entries/" if tile.entries else f"tile/{tile.level}/"
    suffix = f".p/{tile.width}" if tile.width < TILE_WIDTH else ""
    return head + format_tile_index(tile.index) + suffix


def parse_tile_path(path: str) -> TileID:
    """Parse ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` strictly.

    Accepts exactly the paths :func:`tile_path` produces: ``L`` in 0..63 and
    ``W`` in 1..255 as decimals without leading zeros, ``N`` as canonical
    3-digit elements (:func:`parse_tile_index`), no leading or trailing slash.

    Raises:
        FormatError: ``path`` is not a canonical tile or entry bundle path.
    """
    if len(path) > _MAX_PATH_CHARS:
        raise FormatError(
            f"tile path: too long ({len(path)} characters, want <= {_MAX_PATH_CHARS})"
        )
    if not path.isascii():
        raise FormatError(f"tile path: {path!r} contains non-ASCII characters")
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise FormatError(f"tile path: {path!r} does not start with tile/<L>/ or tile/entries/")
    entries = parts[1] == "entries"
    level = 0 if entries else _canonical_decimal(parts[1], "tile path level", 0, MAX_TILE_LEVEL)
    rest = parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width = _canonical_decimal(rest[-1], "tile path width", 1, TILE_WIDTH - 1)
        rest = [*rest[:-2], rest[-2][:-2]]
    try:
        index = parse_tile_index("/".join(rest))
    except FormatError as exc:
        raise FormatError(f"tile path {path!r}: {exc}") from exc
    return TileID(level, index, width, entries=entries)


def _check_size(size: int, what: str) -> None:
    if not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError(f"{what}: tree size out of range (got {size}, want 0..{MAX_TREE_SIZE})")


def tiles_for_size(size: int) -> list[TileID]:
    """Return every hash tile of a tree of ``size``, by level then index.

    Full tiles, then the partial tile of width ``floor(size / 256**L) mod 256``
    if non-zero, for each level. The list has about ``size / 255`` items. For
    entry bundles use :meth:`TileID.entry_bundle` on the level-0 tiles.

    Raises:
        ValueError: ``size`` is not in 0..2**64-1.
    """
    _check_size(size, "tile inventory")
    tiles: list[TileID] = []
    level = 0
    while count := size >> (TILE_HEIGHT * level):
        full, width = divmod(count, TILE_WIDTH)
        tiles.extend(TileID(level, index) for index in range(full))
        if width:
            tiles.append(TileID(level, full, width))
        level += 1
    return tiles


def tiles_changed(old_size: int, new_size: int) -> list[TileID]:
    """Return the hash tiles of ``new_size`` that differ from those of ``old_size``.

    These are the tiles a log writes (and a mirror fetches) when growing from
    ``old_size`` to ``new_size``: tiles that are new or wider, at their new
    width, by level then index.

    Raises:
        ValueError: Unless ``0 <= old_size <= new_size <= 2**64 - 1``.
    """
    _check_size(new_size, "changed tiles")
    if not 0 <= old_size <= new_size:
        raise ValueError(
            f"changed tiles: want 0 <= old size <= new size (got {old_size}, {new_size})"
        )
    tiles: list[TileID] = []
    level = 0
    while True:
        old = old_size >> (TILE_HEIGHT * level)
        new = new_size >> (TILE_HEIGHT * level)
        if old == new:
            break
        for index in range(old >> TILE_HEIGHT, -(-new // TILE_WIDTH)):
            width = min(TILE_WIDTH, new - index * TILE_WIDTH)
            tiles.append(TileID(level, index, width))
        level += 1
    return tiles


def format_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """Concatenate 1 to 256 hashes into a hash tile.

    Raises:
        FormatError: The count is not 1..256 or a hash is not 32 bytes.
    """
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise FormatError(f"hash tile: got {len(hashes)} hashes, want 1..{TILE_WIDTH}")
    for position, value in enumerate(hashes):
        if len(value) != HASH_SIZE:
            raise FormatError(
                f"hash tile: hash {position} is {len(value)} bytes (want {HASH_SIZE})"
            )
    return b"".join(hashes)


def parse_hash_tile(data: bytes, width: int) -> list[bytes]:
    """Split a hash tile of ``width`` hashes into 32-byte hashes.

    Args:
        data: The tile bytes as served.
        width: The width the tile's path promises (256 for a full tile).

    Raises:
        FormatError: ``width`` is not 1..256, or ``data`` is not exactly
            ``32 * width`` bytes.
    """
    if not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"hash tile: width out of range (got {width}, want 1..{TILE_WIDTH})")
    if len(data) != width * HASH_SIZE:
        raise FormatError(
            f"hash tile of width {width}: got {len(data)} bytes, want {width * HASH_SIZE}"
        )
    data = bytes(data)
    return [data[offset : offset + HASH_SIZE] for offset in range(0, len(data), HASH_SIZE)]


def format_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Encode 1 to 256 entries as an entry bundle (uint16 big-endian length prefixes).

    Raises:
        FormatError: The count is not 1..256 or an entry exceeds 65535 bytes.
        TypeError: ``entries`` is a bytes-like object, not a sequence.
    """
    if isinstance(entries, bytes | bytearray | memoryview | str):
        raise TypeError(f"entry bundle: want a sequence of entries, got {type(entries).__name__}")
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise FormatError(f"entry bundle: got {len(entries)} entries, want 1..{TILE_WIDTH}")
    parts = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            raise FormatError(
                f"entry bundle: entry {position} is {len(entry)} bytes (want <= {MAX_ENTRY_BYTES})"
            )
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def parse_entry_bundle(data: bytes, count: int | None = None) -> list[bytes]:
    """Parse an entry bundle into its entries.

    Args:
        data: The bundle bytes (after any HTTP content decoding).
        count: The number of entries the bundle's path promises (its width),
            or None to accept any number from 1 to 256.

    Raises:
        FormatError: ``data`` exceeds :data:`MAX_ENTRY_BUNDLE_BYTES`, an entry
            is truncated, there are trailing bytes, or the number of entries is
            not ``count`` (or not 1..256); also if ``count`` is not 1..256.
    """
    if count is not None and not 1 <= count <= TILE_WIDTH:
        raise FormatError(f"entry bundle: count out of range (got {count}, want 1..{TILE_WIDTH})")
    if len(data) > MAX_ENTRY_BUNDLE_BYTES:
        raise FormatError(
            f"entry bundle: {len(data)} bytes exceeds the maximum of {MAX_ENTRY_BUNDLE_BYTES}"
        )
    data = bytes(data)
    limit = TILE_WIDTH if count is None else count
    entries: list[bytes] = []
    offset, total = 0, len(data)
    while offset < total:
        if len(entries) == limit:
            raise FormatError(
                f"entry bundle: {total - offset} trailing bytes at offset {offset} "
                f"after {limit} entries"
            )
        if total - offset < 2:
            raise FormatError(
                f"entry bundle: entry {len(entries)} at offset {offset}: truncated length prefix"
            )
        length = (data[offset] << 8) | data[offset + 1]
        start = offset + 2
        if total - start < length:
            raise FormatError(
                f"entry bundle: entry {len(entries)} at offset {offset}: truncated "
                f"(got {total - start} bytes, want {length})"
            )
        entries.append(data[start : start + length])
        offset = start + length
    if count is not None and len(entries) != count:
        raise FormatError(f"entry bundle: got {len(entries)} entries, want {count}")
    if not entries:
        raise FormatError("entry bundle: empty (want 1..256 entries)")
    return entries


class TileReader:
    """A :data:`~vigil.core.prove.NodeReader` over the hash tiles of one tree size.

    Maps each requested full subtree ``(level, index)`` to the tile at level
    ``level // 8`` that holds its level-``8 * (level // 8)`` descendants, at the
    width that tile has for ``size``; fetches every missing tile in one call to
    ``fetch_tiles``; and recomputes nodes between tile levels by hashing the
    tile's hashes. Tiles are cached for the reader's lifetime (create one
    reader per tree size and task).

    A proof for one leaf touches one tile per tile level, plus the right-edge
    partial tile of a level when the proof needs an ephemeral node there.

    Example::

        >>> from vigil.core import prove
        >>> reader = TileReader(300, fetch_tiles)  # doctest: +SKIP
        >>> proof = prove.prove_inclusion(299, 300, reader)  # doctest: +SKIP

    Tiles are not authenticated here: verify the proofs against a verified
    checkpoint of ``size``.
    """

    __slots__ = ("_cache", "_fetch", "_size")

    def __init__(self, size: int, fetch_tiles: TileFetcher) -> None:
        """Create a reader for the tree of ``size`` fetching tiles with ``fetch_tiles``.

        Raises:
            ValueError: ``size`` is not in 0..2**64-1.
        """
        _check_size(size, "tile reader")
        self._size = size
        self._fetch = fetch_tiles
        self._cache: dict[TileID, list[bytes]] = {}

    @property
    def size(self) -> int:
        """The tree size whose tiles are read."""
        return self._size

    def _locate(self, level: int, index: int) -> tuple[TileID, int, int]:
        """Return (tile, first position, count) holding node ``(level, index)``."""
        if level < 0 or index < 0 or (index + 1) << level > self._size:
            raise ValueError(
                f"tile reader for tree size {self._size}: node (level {level}, index {index}) "
                "is not a full subtree of the tree"
            )
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # position among the hashes of tree level 8 * tile_level
        tile_index = first >> TILE_HEIGHT
        hashes_at_level = self._size >> (TILE_HEIGHT * tile_level)
        width = min(TILE_WIDTH, hashes_at_level - tile_index * TILE_WIDTH)
        return TileID(tile_level, tile_index, width), first & (TILE_WIDTH - 1), 1 << height

    def tiles_for_nodes(self, ids: Sequence[tuple[int, int]]) -> list[TileID]:
        """Return the distinct tiles needed to read ``ids``, in first-use order.

        Raises:
            ValueError: A node is not a full subtree of the tree of ``size``.
        """
        tiles = dict.fromkeys(self._locate(level, index)[0] for level, index in ids)
        return list(tiles)

    def __call__(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the hashes of the full subtrees ``ids``, fetching tiles as needed.

        Raises:
            ValueError: A node is not a full subtree of the tree of ``size``, or
                the fetcher returns the wrong number of tiles.
            FormatError: A fetched tile does not have the size its width implies.
            Exception: Whatever ``fetch_tiles`` raises (e.g. TransportError).
        """
        located = [self._locate(level, index) for level, index in ids]
        missing = list(dict.fromkeys(tile for tile, _, _ in located if tile not in self._cache))
        if missing:
            blobs = self._fetch(missing)
            if len(blobs) != len(missing):
                raise ValueError(
                    f"tile fetcher: returned {len(blobs)} tiles for {len(missing)} requested"
                )
            parsed = {}
            for tile, blob in zip(missing, blobs, strict=True):
                try:
                    parsed[tile] = parse_hash_tile(blob, tile.width)
                except FormatError as exc:
                    raise FormatError(f"{tile_path(tile)}: {exc}") from exc
            self._cache.update(parsed)
        cache = self._cache
        result = []
        for tile, first, count in located:
            hashes = cache[tile]
            if count == 1:
                result.append(hashes[first])
            else:
                result.append(root_from_leaf_hashes(hashes[first : first + count]))
        return result
