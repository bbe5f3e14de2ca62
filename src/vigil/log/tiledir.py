"""The tiles directory: c2sp.org/tlog-tiles resources as files, written crash-safely.

Layout under the directory, exactly the URL paths of tlog-tiles so any static
web server can serve it::

    checkpoint
    tile/<L>/<N>[.p/<W>]          hash tiles
    tile/entries/<N>[.p/<W>]      entry bundles (uncompressed)

Every file is written to a temporary name in its final directory, fsynced,
renamed into place and the directory fsynced, so a reader (or a crash) sees
either the old file or the whole new one. Tile contents are a deterministic
function of the log's entries, so rewriting a tile after a crash writes the
same bytes; partial tiles are kept (their paths differ by width), as
tlog-tiles requires for sizes that had a checkpoint.

Beside it, in ``<directory>.pyramids/level-<L>`` (not served: no tlog-tiles
resource), each full hash tile's *pyramid*: the tile's hashes and the
nodes of the seven tree levels above them, with a checksum
(:func:`vigil.log.nodes.format_pyramid`), one fixed-size record per tile at
offset ``index * PYRAMID_BYTES``, written with each full tile so that
proofs need not hash it (ADR 0015). Readers map the file (:mod:`mmap`):
every process shares the page cache and a proof slices its record with no
system call. Pyramids are derived data: written without fsync, and a
record that is missing, torn or damaged (its checksum) is computed again.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vigil.core.tiles import TILE_WIDTH, TileID, tile_path
from vigil.errors import StorageError
from vigil.log.nodes import PYRAMID_BYTES, format_pyramid, parse_pyramid

__all__ = ["CHECKPOINT_PATH", "TileDir"]

_log = logging.getLogger(__name__)

CHECKPOINT_PATH = "checkpoint"
_FSYNC_THREADS = 8


class TileDir:
    """Reads and writes one log's tiles directory.

    Args:
        root: The directory (created if missing).
        cache_bytes: How many bytes of tiles :meth:`read_tile` keeps in memory
            (least recently used first out). Tile contents never change for a
            given path, so caching needs no invalidation.
        pyramids: Where the pyramids go (default ``<root>.pyramids``).
    """

    def __init__(
        self, root: Path, *, cache_bytes: int = 64 * 1024 * 1024, pyramids: Path | None = None
    ) -> None:
        self.root = root
        self.pyramids = pyramids if pyramids is not None else root.with_name(
            root.name + ".pyramids"
        )
        self._pyramid_lock = threading.Lock()
        self._pyramid_maps: dict[int, mmap.mmap] = {}  # tile level -> read-only map
        self._cache: OrderedDict[TileID, bytes] = OrderedDict()
        self._cache_budget = cache_bytes
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        self._fsync_pool: ThreadPoolExecutor | None = None  # made by the first writer

    def create(self) -> None:
        """Create the directory."""
        try:
            (self.root / "tile").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"tiles directory {self.root}: cannot create ({exc})") from exc

    # -- writing -----------------------------------------------------------------

    def write_files(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Write files (relative path, contents) atomically and durably.

        Procedure: (1) write each to a temporary file in its directory;
        (2) fsync every temporary file; (3) rename each into place; (4) fsync
        every directory touched, so that the renames are durable before this
        returns. The fsyncs of steps 2 and 4 run concurrently on a few
        threads: one publication writes a few dozen files, and the file
        system flushes concurrent fsyncs together, where one after the
        other cost the sequencer a few milliseconds each.

        Raises:
            StorageError: a write, fsync or rename failed. Files already
                renamed stay (they are correct); temporary files are removed.
        """
        temps: list[tuple[Path, Path]] = []
        fds: list[int] = []
        dirs: set[Path] = set()
        created: set[Path] = set()
        try:
            # Step 1.
            for relative, data in files:
                target = self.root / relative
                parent = target.parent
                if parent not in dirs:
                    missing = parent
                    while not missing.is_dir():
                        created.add(missing)
                        missing = missing.parent
                    parent.mkdir(parents=True, exist_ok=True)
                    dirs.add(parent)
                temp = parent / f".tmp-{os.getpid()}-{secrets.token_hex(6)}"
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                fds.append(fd)
                temps.append((temp, target))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            # Step 2.
            self._fsync_all(fds)
            # Step 3.
            for temp, target in temps:
                os.replace(temp, target)
            temps = []
            # Step 4. New directories must themselves be durable entries of their parents.
            self._fsync_all_dirs(dirs | created | {d.parent for d in created})
        except OSError as exc:
            raise StorageError(f"tiles directory {self.root}: write failed ({exc})") from exc
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            for temp, _ in temps:
                with contextlib.suppress(OSError):
                    temp.unlink()

    def _fsync_all(self, fds: Sequence[int]) -> None:
        """fsync every file, concurrently if there are several (raises the first error)."""
        if len(fds) <= 1:
            for fd in fds:
                os.fsync(fd)
            return
        if self._fsync_pool is None:
            self._fsync_pool = ThreadPoolExecutor(_FSYNC_THREADS, thread_name_prefix="vigil-fsync")
        for _ in self._fsync_pool.map(os.fsync, fds):
            pass

    def _fsync_all_dirs(self, directories: set[Path]) -> None:
        fds = []
        try:
            for directory in directories:
                fds.append(os.open(directory, os.O_RDONLY | os.O_DIRECTORY))
            self._fsync_all(fds)
        finally:
            for fd in fds:
                os.close(fd)

    def write_tiles(self, tiles: Sequence[tuple[TileID, bytes]]) -> None:
        """Write tiles and entry bundles (see :meth:`write_files`), then the pyramids
        of the full hash tiles among them (see :meth:`write_pyramids`).

        A pyramid that cannot be written is only logged: proofs compute it.
        """
        self.write_files([(tile_path(tile), data) for tile, data in tiles])
        with self._cache_lock:
            for tile, data in tiles:
                self._remember(tile, data)
        try:
            self.write_pyramids(tiles)
        except StorageError as exc:
            _log.warning("%s", exc)

    def write_pyramids(self, tiles: Sequence[tuple[TileID, bytes]]) -> None:
        """Write the pyramid record of each full hash tile (not durably: derived data).

        Raises:
            StorageError: a write failed.
        """
        records: dict[int, list[tuple[int, bytes]]] = {}
        for tile, data in tiles:
            if not tile.entries and tile.width == TILE_WIDTH:
                records.setdefault(tile.level, []).append(
                    (tile.index * PYRAMID_BYTES, format_pyramid(tile, data))
                )
        try:
            for level, writes in records.items():
                self.pyramids.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._pyramid_file(level), os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    for offset, record in writes:
                        os.pwrite(fd, record, offset)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise StorageError(f"pyramids {self.pyramids}: write failed ({exc})") from exc

    def load_pyramid(self, tile: TileID) -> bytes | None:
        """Levels 0..7 of the full hash tile ``tile`` from its pyramid record, or None if
        there is no valid record for it."""
        end = (tile.index + 1) * PYRAMID_BYTES
        view = self._pyramid_map(tile.level, end)
        if view is None:
            return None
        with memoryview(view) as mapped:
            return parse_pyramid(tile, mapped[end - PYRAMID_BYTES : end])

    def _pyramid_file(self, level: int) -> Path:
        return self.pyramids / f"level-{level}"

    def _pyramid_map(self, level: int, end: int) -> mmap.mmap | None:
        """The level's file mapped to at least ``end`` bytes, mapped again as it grows."""
        with self._pyramid_lock:
            view = self._pyramid_maps.get(level)
            if view is not None and len(view) >= end:
                return view
            try:
                fd = os.open(self._pyramid_file(level), os.O_RDONLY)
            except OSError:
                return None
            try:
                size = os.fstat(fd).st_size
                if size < end:
                    return None
                view = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                return None
            finally:
                os.close(fd)
            self._pyramid_maps[level] = view  # the old map is unmapped when collected
            return view

    def write_checkpoint(self, note: bytes) -> None:
        """Atomically replace ``checkpoint`` (durable on return)."""
        self.write_files([(CHECKPOINT_PATH, note)])

    # -- reading -----------------------------------------------------------------

    def _remember(self, tile: TileID, data: bytes) -> None:
        if len(data) > self._cache_budget // 4:
            return
        previous = self._cache.pop(tile, None)
        if previous is not None:
            self._cached_bytes -= len(previous)
        self._cache[tile] = data
        self._cached_bytes += len(data)
        while self._cached_bytes > self._cache_budget:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= len(evicted)

    def read_tile(self, tile: TileID) -> bytes | None:
        """The bytes of a tile or entry bundle, or None if it is not there."""
        with self._cache_lock:
            cached = self._cache.get(tile)
            if cached is not None:
                self._cache.move_to_end(tile)
                return cached
        data = self.read_file(tile_path(tile))
        if data is not None:
            with self._cache_lock:
                self._remember(tile, data)
        return data

    def read_file(self, relative: str) -> bytes | None:
        """The bytes of a file under the directory, or None if it does not exist.

        ``relative`` must come from :func:`~vigil.core.tiles.tile_path` or be
        :data:`CHECKPOINT_PATH` (never from a request path unparsed).
        """
        try:
            return (self.root / relative).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(
                f"tiles directory {self.root}: cannot read {relative} ({exc})"
            ) from exc

    def read_checkpoint(self) -> bytes | None:
        """The published checkpoint, or None."""
        return self.read_file(CHECKPOINT_PATH)
