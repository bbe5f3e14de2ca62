"""The status map for front-end processes (``vigil log serve --workers N``).

The status map lives in the sequencer process (it judges entries at commit
time). Front ends answer ``/api/v1/status`` and ``/api/v1/bundle`` too, so
the sequencer process relays, with each publication and *before* it, the
records that changed since the last one (:class:`MapRelay`); each front end
keeps the records and the map of every recent published root
(:class:`FrontendMaps`). Replaying entries in every front end would verify
every signature again per process; a delta is a few records.

A change is "set name to these record bytes" (or remove it): applying one
twice changes nothing, so a front end that connects while a publication is
under way may receive a change both in its full copy and after it.

A front end recomputes the map root from the records it holds and keeps a
snapshot only if it equals the root the sequencer process announced: a bug
in the relay cannot make a front end serve a map the checkpoint does not sign.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from vigil.core import merkle
from vigil.core.statusmap import MapSnapshot

__all__ = ["FrontendMaps", "MapRelay"]

_log = logging.getLogger(__name__)
_KEPT = 16

MapMessage = tuple[str, bytes, int, list[tuple[str, bytes | None]], tuple[int, ...]]
"""``("map", root, size, changes, charter_indexes)``."""


class MapRelay:
    """Sequencer side: turns published map snapshots into change messages.

    Args:
        snapshot: The map of a published root (the charter log's cache).
        charter_indexes: The log indexes of the charter versions so far.
    """

    def __init__(
        self,
        snapshot: Callable[[bytes], MapSnapshot | None],
        charter_indexes: Callable[[], tuple[int, ...]],
    ) -> None:
        self._snapshot = snapshot
        self._charter_indexes = charter_indexes
        self._records: dict[str, bytes] = {}
        self._last: tuple[bytes, int] | None = None
        self._lock = threading.Lock()

    def changes(self, root: bytes | None) -> MapMessage | None:
        """The message for a newly published ``root`` (None if there is no map)."""
        if root is None:
            return None
        snapshot = self._snapshot(root)
        if snapshot is None:
            _log.error("map relay: no snapshot of the published root")
            return None
        with self._lock:
            current = dict(zip(snapshot.names, snapshot.leaves, strict=True))
            changes: list[tuple[str, bytes | None]] = [
                (name, leaf) for name, leaf in current.items()
                if self._records.get(name) != leaf
            ]
            changes += [(name, None) for name in self._records if name not in current]
            self._records = current
            self._last = (snapshot.root, snapshot.size)
            return ("map", snapshot.root, snapshot.size, changes, self._charter_indexes())

    def full(self) -> MapMessage | None:
        """Every record of the last relayed map, for a front end that just connected."""
        with self._lock:
            if self._last is None:
                return None
            root, size = self._last
            return ("map", root, size, list(self._records.items()), self._charter_indexes())


class FrontendMaps:
    """Front-end side: the records, and the snapshots of recent published roots.

    Offers what :class:`vigil.log.status.StatusReader` needs: :meth:`snapshot`
    and :attr:`charter_indexes`.
    """

    def __init__(self) -> None:
        self._records: dict[str, bytes] = {}
        self._names: list[str] = []
        self._snapshots: OrderedDict[bytes, MapSnapshot] = OrderedDict()
        self._charter_indexes: tuple[int, ...] = ()
        self._lock = threading.Lock()

    @property
    def charter_indexes(self) -> tuple[int, ...]:
        """The log indexes of the charter versions, as last relayed."""
        return self._charter_indexes

    def snapshot(self, root: bytes) -> MapSnapshot | None:
        """The map whose root is ``root``, if kept."""
        with self._lock:
            return self._snapshots.get(root)

    def apply(self, message: Any) -> None:
        """Apply a ``("map", ...)`` message from the sequencer process."""
        _, root, size, changes, charter_indexes = message
        with self._lock:
            for name, leaf in changes:
                if leaf is None:
                    if self._records.pop(name, None) is not None:
                        self._names.pop(bisect.bisect_left(self._names, name))
                    continue
                if name not in self._records:
                    bisect.insort(self._names, name)
                self._records[name] = leaf
            names = tuple(self._names)
            leaves = tuple(self._records[n] for n in names)
            if merkle.root_from_leaf_hashes([merkle.hash_leaf(x) for x in leaves]) != root:
                _log.critical("map relay: records do not give the announced root; not serving it")
                return
            self._snapshots[root] = MapSnapshot(size, names, leaves, root)
            self._snapshots.move_to_end(root)
            while len(self._snapshots) > _KEPT:
                self._snapshots.popitem(last=False)
            self._charter_indexes = tuple(charter_indexes)
