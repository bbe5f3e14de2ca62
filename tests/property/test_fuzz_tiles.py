"""Fuzzing the tile parsers: total, canonical, and round-tripping.

Every parser in :mod:`vigil.core.tiles` (``parse_tile_path``,
``parse_tile_index``, ``parse_hash_tile``, ``parse_entry_bundle``) must, on any
input, random or a mutation of a valid encoding, either return a value or
raise ``FormatError``: never another exception, never a hang. Accepted text is
canonical (the only spelling of a tile is the one :func:`tile_path` writes)
and accepted bytes re-encode to themselves.

Hypothesis costs about half a millisecond per example, so it draws only the
small structured values (tile coordinates, widths, counts: where its boundary
bias helps) and a seed; each example then checks a batch of cheap
pseudo-random inputs and mutations of a valid encoding. The two fuzz tests
run ``VIGIL_FUZZ_EXAMPLES`` examples each (10,000 in CI).
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from fuzzing import fuzz_settings
from vigil.core.merkle import MAX_TREE_SIZE, hash_leaf
from vigil.core.tiles import (
    MAX_ENTRY_BYTES,
    MAX_TILE_LEVEL,
    TILE_WIDTH,
    TileID,
    format_entry_bundle,
    format_hash_tile,
    format_tile_index,
    parse_entry_bundle,
    parse_hash_tile,
    parse_tile_index,
    parse_tile_path,
    tile_path,
)
from vigil.errors import FormatError

MUTATIONS_PER_EXAMPLE = 8

# --- Strategies -------------------------------------------------------------

indexes = st.one_of(
    st.integers(0, 2000),
    st.integers(0, MAX_TREE_SIZE),
    st.sampled_from([999, 1000, 999_999, 1_000_000, MAX_TREE_SIZE]),
)


@st.composite
def tile_ids(draw: st.DrawFn) -> TileID:
    entries = draw(st.booleans())
    level = 0 if entries else draw(st.integers(0, MAX_TILE_LEVEL))
    width = draw(st.one_of(st.just(TILE_WIDTH), st.integers(1, TILE_WIDTH)))
    return TileID(level, draw(indexes), width, entries=entries)


# Characters that matter to the path grammar, plus look-alikes: other
# Unicode digits, whitespace, NUL, upper case.
PATH_CHARS = "tile/entrisx.p0123456789-+ \n\x00X٣०"
ENTRY_SIZES = (0, 1, 2, 31, 32, 33, 255, 256, 257, 300)


def random_text(rng: random.Random) -> str:
    """Random text, mostly from the grammar's characters, sometimes any code point."""
    size = rng.randint(0, 50)
    if rng.random() < 0.8:
        return "".join(rng.choice(PATH_CHARS) for _ in range(size))
    return (
        "".join(chr(rng.randrange(0x110000)) for _ in range(size))
        .encode("utf-8", "surrogatepass")
        .decode("utf-8", "replace")
    )


def random_entries(rng: random.Random) -> list[bytes]:
    """1 to 20 entries with lengths around the interesting boundaries."""
    count = rng.choice([1, 2, 3, rng.randint(1, 20)])
    sizes = [
        rng.choice(ENTRY_SIZES) if rng.random() < 0.7 else rng.randint(0, 80) for _ in range(count)
    ]
    if rng.random() < 0.01:
        sizes[0] = MAX_ENTRY_BYTES
    return [rng.randbytes(size) for size in sizes]


def mutate_text(rng: random.Random, text: str) -> str:
    """Apply 1 to 3 random edits drawn from the grammar's characters."""
    for _ in range(rng.randint(1, 3)):
        position = rng.randint(0, len(text))
        piece = "".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(1, 3)))
        operation = rng.randrange(5)
        if operation == 0:
            text = text[:position] + piece + text[position + 1 :]
        elif operation == 1:
            text = text[:position] + piece + text[position:]
        elif operation == 2:
            text = text[:position] + text[position + 1 :]
        elif operation == 3:
            text = text[:position]
        else:
            text = text[:position] + text[position : position + 4] * 2 + text[position + 4 :]
    return text


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Apply 1 to 3 random edits: bit flips, splices, truncation, duplication."""
    for _ in range(rng.randint(1, 3)):
        position = rng.randint(0, len(data))
        operation = rng.randrange(6)
        if operation == 0 and data:
            position = min(position, len(data) - 1)
            flipped = data[position] ^ (1 << rng.randrange(8))
            data = data[:position] + bytes([flipped]) + data[position + 1 :]
        elif operation == 1:
            data = data[:position] + rng.randbytes(rng.randint(1, 3)) + data[position:]
        elif operation == 2:
            data = data[:position] + data[position + rng.randint(1, 3) :]
        elif operation == 3:
            data = data[:position]
        elif operation == 4:
            data = data[:position] + data[position : position + 40] * 2 + data[position + 40 :]
        else:
            # A plausible but wrong length prefix.
            data = data[:position] + rng.randrange(0x10000).to_bytes(2, "big") + data[position:]
    return data


# --- Checks shared by the fuzz tests -----------------------------------------


def check_tile_path(path: str) -> None:
    try:
        tile = parse_tile_path(path)
    except FormatError:
        return
    assert tile_path(tile) == path


def check_tile_index(text: str) -> None:
    try:
        index = parse_tile_index(text)
    except FormatError:
        return
    assert format_tile_index(index) == text


def check_hash_tile(data: bytes, width: int) -> None:
    try:
        hashes = parse_hash_tile(data, width)
    except FormatError:
        return
    assert len(hashes) == width
    assert format_hash_tile(hashes) == data


def check_entry_bundle(data: bytes, count: int | None) -> None:
    try:
        entries = parse_entry_bundle(data, count)
    except FormatError:
        return
    assert 1 <= len(entries) <= TILE_WIDTH
    assert count is None or len(entries) == count
    assert all(len(entry) <= MAX_ENTRY_BYTES for entry in entries)
    # No trailing data and no ambiguity: the bundle re-encodes to itself.
    assert format_entry_bundle(entries) == data


# --- Fuzz tests ---------------------------------------------------------------


def random_tile(rng: random.Random, index: int) -> TileID:
    """A tile at ``index`` with level and width biased towards the boundaries."""
    entries = rng.random() < 0.3
    level = 0 if entries else rng.choice([0, 1, 2, 7, 8, 9, 62, 63, rng.randint(0, 63)])
    width = rng.choice([1, 2, 9, 10, 99, 100, 254, 255, 256, 256, rng.randint(1, 256)])
    return TileID(level, index, width, entries=entries)


@fuzz_settings
@given(indexes, st.integers(0, 2**32 - 1))
def test_fuzz_tile_paths_and_indexes(index: int, seed: int) -> None:
    rng = random.Random(seed)
    tile = random_tile(rng, index)
    path = tile_path(tile)
    index_text = format_tile_index(tile.index)
    # Round trips.
    assert parse_tile_path(path) == tile
    assert parse_tile_index(index_text) == tile.index
    # Random text.
    noise = random_text(rng)
    check_tile_path(noise)
    check_tile_index(noise)
    check_tile_path("tile/0/" + noise)
    # Mutations of valid encodings.
    for _ in range(MUTATIONS_PER_EXAMPLE):
        check_tile_path(mutate_text(rng, path))
        check_tile_index(mutate_text(rng, index_text))


@fuzz_settings
@given(st.integers(0, 2**32 - 1), st.one_of(st.none(), st.integers(-1, 300)))
def test_fuzz_entry_bundles_and_hash_tiles(seed: int, count: int | None) -> None:
    rng = random.Random(seed)
    entries = random_entries(rng)
    bundle = format_entry_bundle(entries)
    hashes = [hash_leaf(entry) for entry in entries]
    tile = format_hash_tile(hashes)
    width = len(hashes)
    # Round trips.
    assert parse_entry_bundle(bundle) == entries
    assert parse_entry_bundle(bundle, len(entries)) == entries
    assert parse_hash_tile(tile, width) == hashes
    # Random bytes, with random and with matching counts / widths.
    noise = rng.randbytes(rng.choice([0, 1, 2, 32, rng.randint(0, 600)]))
    check_entry_bundle(noise, count)
    check_entry_bundle(noise, None)
    check_hash_tile(noise, count if count is not None else width)
    check_hash_tile(noise, len(noise) // 32)
    # Mutations of valid encodings.
    for _ in range(MUTATIONS_PER_EXAMPLE):
        check_entry_bundle(mutate_bytes(rng, bundle), rng.choice([None, len(entries), count]))
        check_hash_tile(mutate_bytes(rng, tile), rng.choice([width, width + 1, 256]))


# --- Round trips over the whole value space (ordinary hypothesis settings) ----


@given(tile_ids())
def test_tile_path_round_trip(tile: TileID) -> None:
    assert parse_tile_path(tile_path(tile)) == tile


@given(indexes)
def test_tile_index_round_trip(index: int) -> None:
    assert parse_tile_index(format_tile_index(index)) == index


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=TILE_WIDTH))
def test_hash_tile_round_trip(hashes: list[bytes]) -> None:
    assert parse_hash_tile(format_hash_tile(hashes), len(hashes)) == hashes


@given(st.lists(st.binary(max_size=70), min_size=1, max_size=TILE_WIDTH))
def test_entry_bundle_round_trip(entries: list[bytes]) -> None:
    assert parse_entry_bundle(format_entry_bundle(entries), len(entries)) == entries
