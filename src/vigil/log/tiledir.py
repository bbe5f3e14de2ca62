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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vigil.core.tiles import TileID, tile_path
from vigil.errors import StorageError

__all__ = ["CHECKPOINT_PATH", "TileDir"]

CHECKPOINT_PATH = "checkpoint"
_FSYNC_THREADS = 8


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
