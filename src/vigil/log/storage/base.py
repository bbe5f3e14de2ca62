"""The log's storage interface and the contracts every implementation keeps.

One :class:`LogStorage` holds, for one log:

* **entries**: ``index → (leaf hash, entry bytes)``, indexes dense from 0,
  leaf hashes unique;
* **search keys**: ``(key type, key value, index)`` rows;
* **checkpoints**: every checkpoint note the log published, by tree size;
* **tree state**: the integrated tree size and its compact-range frontier
  (the hashes of the full subtrees covering ``[0, size)``), stored with the
  checkpoint of that size;
* **meta**: the log's origin and public key, so storage is never used for a
  second log by mistake.

Contracts (tested by ``tests/log/test_storage.py`` against every
implementation):

Durability
    A method that writes returns only after its data is durable (SQLite WAL
    with ``synchronous=FULL``; PostgreSQL commit with its default
    ``synchronous_commit``). A crash at any point leaves each write either
    wholly applied or not at all.
Atomicity
    :meth:`LogStorage.append_entries` commits a whole batch (entries and
    search rows) in one transaction; :meth:`LogStorage.store_checkpoint`
    stores a checkpoint and the tree state in one transaction.
Immutability
    An entry is never changed or removed once appended. A stored checkpoint's
    note *text* never changes; only its signature lines may be replaced (to add
    cosignatures). ``store_checkpoint`` refuses a different text for a stored
    size and a tree state smaller than the stored one (compare-and-swap on the
    tree size) with :class:`~vigil.errors.ConflictError`.
Concurrency
    Exactly one *sequencer* writes, guarded by
    :meth:`LogStorage.acquire_sequencer_lock` (exclusive across processes and
    hosts sharing the storage). Read methods may be called concurrently from
    any thread, also while the sequencer writes, and see only committed data.

Readers get storage through :func:`vigil.log.storage.open_storage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from vigil.core.merkle import HASH_SIZE
from vigil.log.kinds import IndexKey

__all__ = ["LogStorage", "NewEntry", "StoredEntry", "TreeState"]


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to append.

    Attributes:
        leaf_hash: ``hash_leaf(data)``.
        data: The entry bytes.
        index_keys: Its search keys.
    """

    leaf_hash: bytes
    data: bytes
    index_keys: tuple[IndexKey, ...] = ()

    def __post_init__(self) -> None:
        if len(self.leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash: got {len(self.leaf_hash)} bytes, want {HASH_SIZE}")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored.

    Attributes:
        index: Its 0-based leaf index.
        leaf_hash: ``hash_leaf(data)``.
        data: The entry bytes.
    """

    index: int
    leaf_hash: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class TreeState:
    """The integrated tree: its size and compact-range frontier.

    Attributes:
        size: Number of integrated leaves.
        hashes: The frontier: roots of the maximal full subtrees covering
            ``[0, size)``, left to right (one per set bit of ``size``).
    """

    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"tree state: size {self.size} is negative")
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"tree state of size {self.size}: got {len(self.hashes)} frontier hashes, "
                f"want {self.size.bit_count()}"
            )
        for value in self.hashes:
            if len(value) != HASH_SIZE:
                raise ValueError(f"tree state: frontier hash of {len(value)} bytes")


class LogStorage(Protocol):
    """Storage of one log. See the module docstring for the contracts."""

    @property
    def description(self) -> str:
        """Where the data lives, for messages (never includes passwords)."""
        ...

    def initialize(self, *, origin: str, public_key: str) -> None:
        """Create the schema if missing and bind it to this log.

        Raises:
            ConfigError: the storage belongs to another log (origin or key).
            StorageError: the database cannot be reached or written.
        """
        ...

    def acquire_sequencer_lock(self) -> None:
        """Become the only sequencer of this storage until :meth:`close`.

        Raises:
            SequencerLockedError: another process holds it; the message names
                the holder (host, pid, since when) and the lock's location.
        """
        ...

    def close(self) -> None:
        """Release the lock (if held) and every connection."""
        ...

    # -- sequencer (single writer) -------------------------------------------

    def entry_count(self) -> int:
        """Number of appended entries (the next index)."""
        ...

    def find_indexes(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """The indexes of those of ``leaf_hashes`` that are already stored."""
        ...

    def append_entries(self, start: int, entries: Sequence[NewEntry]) -> None:
        """Append ``entries`` at indexes ``start, start+1, ...`` in one transaction.

        Raises:
            ConflictError: ``start`` is not the current entry count, or a leaf
                hash is already stored (nothing is written).
        """
        ...

    def read_entries(self, start: int, end: int) -> list[StoredEntry]:
        """Entries with indexes in ``[start, end)`` (fewer if the log is shorter)."""
        ...

    def tree_state(self) -> TreeState | None:
        """The last stored tree state, or None for a new log."""
        ...

    def store_checkpoint(self, state: TreeState, note: bytes, text: str) -> None:
        """Store a checkpoint note of tree size ``state.size`` and the tree state.

        ``text`` is the note's text (what is signed). Storing again for the
        stored size replaces the note (new cosignatures) if ``text`` is equal.

        Raises:
            ConflictError: ``text`` differs from the stored one for this size,
                or ``state.size`` is below the stored tree size.
        """
        ...

    # -- readers ---------------------------------------------------------------

    def latest_checkpoint(self) -> bytes | None:
        """The note of the largest stored checkpoint."""
        ...

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint note of tree size ``size``."""
        ...

    def entry(self, index: int) -> StoredEntry | None:
        """The entry at ``index``."""
        ...

    def entry_by_leaf_hash(self, leaf_hash: bytes) -> StoredEntry | None:
        """The entry with this leaf hash."""
        ...

    def search(
        self, key: IndexKey, *, after: int, below: int, limit: int
    ) -> list[int]:
        """Indexes of entries with ``key``, ascending, in ``(after, below)``, at most ``limit``."""
        ...
