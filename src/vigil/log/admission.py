"""Admission off the event loop, on a few threads.

Checking an entry costs one Ed25519 verification (libsodium, which runs
without the GIL) plus some Python. :class:`Admission` runs that work on
threads so that the event loop keeps serving HTTP and signature checks of
concurrent requests overlap:

* a **batch** is parsed with the fast path of :mod:`vigil.log.fastparse` and
  its items are checked in contiguous chunks, one per thread; if any item
  needs the strict parser, the whole batch goes through the strict path
  (``strict_batch``) instead, so outcomes and messages are exactly those of
  the strict path, and a batch reports its first bad entry (lowest
  position);
* **single entries** arriving together (in one turn of the event loop) are
  checked as one job, which pays the thread hand-off once for all of them.

Python itself still runs one thread at a time; to use more cores, run
front-end processes (:mod:`vigil.log.frontend`).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vigil.errors import VigilError
from vigil.log.entry import EntryValidator, ValidatedEntry
from vigil.log.fastparse import batch_items

__all__ = ["Admission"]

_CHUNK_MIN = 64  # smaller batches are not worth splitting across threads
_SINGLES_PER_JOB = 256


class _NeedsStrict(Exception):
    """An item the fast path cannot decide (internal: redo the batch strictly)."""


class Admission:
    """Runs :class:`EntryValidator` work on a thread pool; see the module docstring.

    Args:
        validator: Entry admission.
        strict_batch: The strict batch path (parses and checks a body, raising
            the reference errors); used when the fast path can't decide.
        max_batch_entries: Most entries in one batch.
        threads: Worker threads (default: one per CPU, at most 4).
    """

    def __init__(
        self,
        *,
        validator: EntryValidator,
        strict_batch: Callable[[bytes], list[ValidatedEntry]],
        max_batch_entries: int,
        threads: int | None = None,
    ) -> None:
        self._validator = validator
        self._strict_batch = strict_batch
        self._max_batch = max_batch_entries
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="vigil-admit")
        self._singles: list[tuple[bytes, asyncio.Future[ValidatedEntry]]] = []

    def close(self) -> None:
        """Stop the threads (queued jobs are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- batches -------------------------------------------------------------------

    def _check_chunk(self, items: Sequence[Any], first: int) -> list[ValidatedEntry]:
        """Check items (at positions ``first...``); raise the first error, with its position."""
        validator = self._validator
        parsed = []
        for item in items:
            one = validator.parse_object(item)
            if one is None:
                raise _NeedsStrict()
            parsed.append(one)
        admitted = []
        for offset, (envelope, entry) in enumerate(parsed):
            try:
                admitted.append(validator.validate_envelope(envelope, entry=entry))
            except VigilError as exc:
                # Every admission error takes just a message; keep its class (status).
                raise type(exc)(f"batch entries[{first + offset}]: {exc}") from exc
        return admitted

    async def admit_batch(self, body: bytes) -> list[ValidatedEntry]:
        """Admit a batch body ``{"entries": [...]}``: all or nothing.

        Raises:
            whatever the strict batch path raises for this body.
        """
        loop = asyncio.get_running_loop()
        items = batch_items(body, max_entries=self._max_batch)
        if items is None:
            return await loop.run_in_executor(self._executor, self._strict_batch, body)
        chunks = min(self._threads, max(1, len(items) // _CHUNK_MIN))
        step = -(-len(items) // chunks)
        jobs = [
            loop.run_in_executor(self._executor, self._check_chunk, items[i : i + step], i)
            for i in range(0, len(items), step)
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        if any(isinstance(r, _NeedsStrict) for r in results):
            return await loop.run_in_executor(self._executor, self._strict_batch, body)
        admitted: list[ValidatedEntry] = []
        for result in results:  # in position order: the first error is the strict one
            if isinstance(result, BaseException):
                raise result
            admitted.extend(result)
        return admitted

    # -- single entries --------------------------------------------------------------

    async def admit(self, body: bytes) -> ValidatedEntry:
        """Admit one envelope body (see :meth:`EntryValidator.validate`).

        Raises:
            whatever :meth:`EntryValidator.validate` raises.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ValidatedEntry] = loop.create_future()
        if not self._singles:
            loop.call_soon(self._flush_singles, loop)
        self._singles.append((body, future))
        return await future

    def _flush_singles(self, loop: asyncio.AbstractEventLoop) -> None:
        singles, self._singles = self._singles, []
        # Spread the turn's entries over the threads.
        per_job = min(_SINGLES_PER_JOB, -(-len(singles) // self._threads))
        for start in range(0, len(singles), per_job):
            chunk = singles[start : start + per_job]
            try:
                job = loop.run_in_executor(
                    self._executor, self._check_singles, [body for body, _ in chunk]
                )
            except RuntimeError as exc:  # shut down
                for _, future in chunk:
                    future.set_exception(exc)
                continue
            job.add_done_callback(functools.partial(_deliver, chunk=chunk))

    def _check_singles(self, bodies: Sequence[bytes]) -> list[ValidatedEntry | BaseException]:
        results: list[ValidatedEntry | BaseException] = []
        for body in bodies:
            try:
                results.append(self._validator.validate(body))
            except Exception as exc:
                results.append(exc)
        return results


def _deliver(
    done: asyncio.Future[list[ValidatedEntry | BaseException]],
    chunk: Sequence[tuple[bytes, asyncio.Future[ValidatedEntry]]],
) -> None:
    cancelled = RuntimeError("admission was cancelled")
    error = cancelled if done.cancelled() else done.exception()
    for position, (_, future) in enumerate(chunk):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
            continue
        result = done.result()[position]
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
