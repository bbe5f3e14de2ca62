"""The pool of admitted entries waiting to be sequenced.

Submitters add validated entries as one :class:`Submission` (a request's
entries), which is resolved once, from the sequencer thread, when every one
of its entries has its index (after the durable commit of the batch that
holds the last of them) or with an exception if a commit failed. One
callback per submission, not one future per entry: a batch of a thousand
entries costs one wake-up of its waiter. Identical entries pending at the
same time share one :class:`Pending`, so a duplicate never takes two indexes.

The pool is bounded: when full, :meth:`Pool.add` raises
:class:`~vigil.log.errors.PushbackError` for the whole request and adds
nothing (HTTP 503 + Retry-After).

Thread-safe; no I/O.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from vigil.log.entry import ValidatedEntry
from vigil.log.errors import PushbackError

__all__ = ["Pending", "Pool", "Submission"]


class Submission:
    """The entries of one request and the callback told when all are resolved.

    ``on_done(submission)`` is called exactly once, from the thread that
    resolves the last entry (normally the sequencer's): then either
    :attr:`error` is set, or :attr:`indexes` holds every entry's index (an
    existing entry's index for a duplicate). It must be quick and must not
    raise (e.g. hand over to an event loop with ``call_soon_threadsafe``).

    Args:
        count: Number of entries.
        on_done: The callback.
    """

    __slots__ = ("_lock", "_on_done", "_remaining", "error", "indexes")

    def __init__(self, count: int, on_done: Callable[[Submission], None]) -> None:
        self.indexes: list[int] = [-1] * count
        self.error: BaseException | None = None
        self._remaining = count
        self._on_done: Callable[[Submission], None] | None = on_done
        self._lock = threading.Lock()

    def complete(self, indexes: Sequence[int]) -> None:
        """Resolve every entry at once (a remote sequencer's answer)."""
        with self._lock:
            if self._on_done is None:
                return
            self.indexes = list(indexes)
            self._remaining = 0
            on_done, self._on_done = self._on_done, None
        on_done(self)

    def fail(self, error: BaseException) -> None:
        """Resolve the submission with ``error`` (unless already resolved)."""
        self._settle(0, -1, error)

    def _settle(self, position: int, index: int, error: BaseException | None) -> None:
        with self._lock:
            if self._on_done is None:
                return  # already failed
            if error is not None:
                self.error = error
                self._remaining = 0
            else:
                self.indexes[position] = index
                self._remaining -= 1
            if self._remaining:
                return
            on_done, self._on_done = self._on_done, None
        on_done(self)


class Pending:
    """An entry in the pool and the submissions (with positions) waiting for it."""

    __slots__ = ("entry", "waiters")

    def __init__(self, entry: ValidatedEntry) -> None:
        self.entry = entry
        self.waiters: list[tuple[Submission, int]] = []


class Pool:
    """A bounded FIFO of pending entries, de-duplicated by leaf hash.

    Args:
        max_pending: Most entries waiting at once.
    """

    def __init__(self, *, max_pending: int) -> None:
        self._max = max_pending
        self._queue: OrderedDict[bytes, Pending] = OrderedDict()
        self._taken: dict[bytes, Pending] = {}  # being committed right now
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def add(self, entries: Sequence[ValidatedEntry], submission: Submission) -> None:
        """Queue ``entries`` for ``submission`` (entry ``i`` at its position ``i``).

        Raises:
            PushbackError: the pool cannot take them all (nothing is queued),
                or it is closed.
        """
        with self._cond:
            if self._closed:
                raise PushbackError("log is shutting down", retry_after_s=5)
            queue = self._queue
            taken = self._taken
            # Worst case first (every entry new), the exact count only near the cap.
            new = len(entries)
            if len(queue) + new > self._max:
                new = sum(
                    1
                    for e in dict.fromkeys(e.leaf_hash for e in entries)
                    if e not in queue and e not in taken
                )
                if len(queue) + new > self._max:
                    raise PushbackError(
                        f"log is busy: {len(queue)} entries waiting to be sequenced "
                        f"(limit {self._max}); retry shortly",
                        retry_after_s=1,
                    )
            added = False
            for position, entry in enumerate(entries):
                leaf_hash = entry.leaf_hash
                pending = queue.get(leaf_hash) or taken.get(leaf_hash)
                if pending is None:
                    pending = queue[leaf_hash] = Pending(entry)
                    added = True
                pending.waiters.append((submission, position))
            if added:
                self._cond.notify_all()

    def take(self, max_entries: int, *, timeout_s: float, linger_s: float) -> list[Pending]:
        """Remove up to ``max_entries`` pending entries, oldest first.

        Waits up to ``timeout_s`` for the first entry, then up to ``linger_s``
        more for the batch to fill. The entries stay known (for
        de-duplication) until :meth:`resolve`.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._queue and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            if linger_s > 0 and len(self._queue) < max_entries and not self._closed:
                linger_end = time.monotonic() + linger_s
                while len(self._queue) < max_entries and not self._closed:
                    remaining = linger_end - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            batch: list[Pending] = []
            queue = self._queue
            taken = self._taken
            while queue and len(batch) < max_entries:
                leaf_hash, pending = queue.popitem(last=False)
                taken[leaf_hash] = pending
                batch.append(pending)
            return batch

    def resolve(
        self,
        batch: Sequence[Pending],
        indexes: Mapping[bytes, int] | None,
        error: BaseException | None = None,
        *,
        refusals: Mapping[bytes, BaseException] | None = None,
    ) -> None:
        """Settle taken entries: each gets ``indexes[leaf hash]``, or all get ``error``.

        An entry in ``refusals`` (refused at commit time, e.g. by the charter
        gate) takes no index: its submissions fail with its refusal.

        The entries are forgotten first (under the lock, so no submission
        can join an entry after it was settled), then every waiting
        submission is told.
        """
        with self._cond:
            for pending in batch:
                self._taken.pop(pending.entry.leaf_hash, None)
        _settle(batch, indexes, error, refusals)

    def close(self, error: BaseException) -> None:
        """Refuse new entries; fail those still queued with ``error``."""
        with self._cond:
            self._closed = True
            remaining = list(self._queue.values())
            self._queue.clear()
            self._cond.notify_all()
        _settle(remaining, None, error)


def _settle(
    batch: Sequence[Pending],
    indexes: Mapping[bytes, int] | None,
    error: BaseException | None,
    refusals: Mapping[bytes, BaseException] | None = None,
) -> None:
    for pending in batch:
        failure = error
        if refusals and pending.entry.leaf_hash in refusals:
            failure = refusals[pending.entry.leaf_hash]
            index = -1
        else:
            index = -1 if indexes is None else indexes[pending.entry.leaf_hash]
        for submission, position in pending.waiters:
            submission._settle(position, index, failure)
