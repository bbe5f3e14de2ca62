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
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from vigil.core.tiles import TileID, tile_path
from vigil.errors import StorageError

__all__ = ["CHECKPOINT_PATH", "TileDir"]

CHECKPOINT_PATH = "checkpoint"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TileDir:
    """Reads and writes one log's tiles directory.

    Args:
        root: The directory (created if missing).
        cache_bytes: How many bytes of tiles :meth:`read_tile` keeps in memory
            (least recently used first out). Tile contents never change for a
            given path, so caching needs no invalidation.
    """

    def __init__(self, root: Path, *, cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.root = root
        self._cache: OrderedDict[TileID, bytes] = OrderedDict()
        self._cache_budget = cache_bytes
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()

    def create(self) -> None:
        """Create the directory."""
        try:
            (self.root / "tile").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"tiles directory {self.root}: cannot create ({exc})") from exc

    # -- writing -----------------------------------------------------------------

    def write_files(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Write files (relative path, contents) atomically and durably.

        Procedure: (1) write each to a temporary file in its directory and
        fsync it; (2) rename each into place; (3) fsync every directory
        touched, so that the renames are durable before this returns.

        Raises:
            StorageError: a write, fsync or rename failed. Files already
                renamed stay (they are correct); temporary files are removed.
        """
        temps: list[tuple[Path, Path]] = []
        dirs: set[Path] = set()
        created: set[Path] = set()
        try:
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
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                temps.append((temp, target))
            for temp, target in temps:
                os.replace(temp, target)
            temps = []
            # New directories must themselves be durable entries of their parents.
            for directory in dirs | created | {d.parent for d in created}:
                _fsync_dir(directory)
        except OSError as exc:
            raise StorageError(f"tiles directory {self.root}: write failed ({exc})") from exc
        finally:
            for temp, _ in temps:
                with contextlib.suppress(OSError):
                    temp.unlink()

    def write_tiles(self, tiles: Sequence[tuple[TileID, bytes]]) -> None:
        """Write tiles and entry bundles (see :meth:`write_files`)."""
        self.write_files([(tile_path(tile), data) for tile, data in tiles])
        with self._cache_lock:
            for tile, data in tiles:
                self._remember(tile, data)

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
