"""The witness service: applies the pure decision under a lock, signs, stores, releases.

:meth:`WitnessService.add_checkpoint` is c2sp.org/tlog-witness
"add-checkpoint"; the HTTP layer (:mod:`vigil.web.witness_app`) only caps the
body, calls it and renders the result or the exception.

Procedure of one request (after sunlight's witness ``updateCheckpoint``):

1. Parse the body strictly (400). Look up the log by the checkpoint's origin
   line (404).
2. Take the origin's lock: requests for one log are decided one at a time,
   requests for different logs run in parallel.
3. Decide with :func:`vigil.witness.state.decide` against the state in
   memory (loaded from the store at startup and updated only after each
   successful write). A rejection that is evidence of log misbehaviour is
   stored before answering.
4. If an auditor is configured (:class:`CheckpointAuditor`), let it check
   the new entries; it may refuse (422, and the request is kept as evidence
   like an inconsistent checkpoint) or be unable to read them (503).
5. Cosign a *re-encoding of the parsed checkpoint* (never the received
   bytes), with a timestamp that never goes below the previous one for the
   log.
6. Compare-and-swap the new state (the checkpoint text, the verified log
   signatures and the new cosignature) into the store, durably. A lost swap
   (another process changed the state) answers 409 with the stored size.
7. Only now release the cosignature.

A crash before step 6 finishes leaves the old state and no cosignature was
released; a crash after it leaves the new state, and the log retries and gets
a fresh cosignature for the same checkpoint. Either way, no size ever gets a
second root and the state never goes backwards.

:meth:`WitnessService.begin_add_checkpoint` is the same procedure for an
event loop: steps 1-5 run at once (CPU only: parse, one signature check and
a consistency proof, one signature), step 6 is handed to the store's group
commit, and the origin's lock is released when the write is durable, on the
store's committer thread, which then releases the cosignature through the
returned future. Whatever would block (the origin's lock is taken, an
auditor, evidence to store) it leaves to :meth:`~WitnessService.add_checkpoint`,
which the caller then runs in a thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import CosignatureSigner
from vigil.core.note import Note, Signature, format_note
from vigil.core.tlog_witness import (
    MAX_ADD_CHECKPOINT_BYTES,
    AddCheckpointRequest,
    parse_add_checkpoint,
)
from vigil.errors import ConflictError, FormatError, StorageError
from vigil.witness.errors import AuditError, OldSizeConflictError, UnknownLogError
from vigil.witness.state import (
    Conflict,
    Cosign,
    LatestCheckpoint,
    Reject,
    WitnessedLog,
    decide,
    request_origin,
)
from vigil.witness.storage import Evidence, WitnessStore

__all__ = ["CheckpointAuditor", "WitnessService", "origin_hash"]

Cosignatures = tuple[Signature, ...]

_log = logging.getLogger(__name__)


def origin_hash(origin: str) -> str:
    """Lowercase hex SHA-256 of an origin: the monitoring path segment (tlog-witness)."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class CheckpointAuditor(Protocol):
    """Checks a log's new entries before the witness cosigns (auditing mode).

    Hook for an auditing witness (DESIGN.md "Only witnesses that audit ... can
    vouch for the status map"; issue 5 "Auditing mode"): called in step 4,
    after the checkpoint was found consistent with the previous one and
    before signing, under the origin's lock. An implementation fetches the
    entries ``[previous size, checkpoint.size)`` from ``log.url`` (tiles),
    checks that they hash to ``checkpoint.root_hash`` together with the
    previous tree, replays them against the charter and the status map it
    maintains, and raises :class:`vigil.witness.errors.AuditError` (422) if
    the checkpoint's ``vigil-status-map`` line or any entry is wrong. It must
    not change its own state unless the witness then cosigns (it is told by
    :meth:`committed`).

    The implementation is :class:`vigil.witness.audit.TileAuditor`. Every
    :class:`~vigil.witness.errors.AuditError` is evidence of log misbehaviour
    (the service keeps the request); any other error (the log's tiles are
    unreachable: :class:`~vigil.errors.TransportError`) only refuses.
    """

    def audit(
        self, log: WitnessedLog, previous: LatestCheckpoint | None, checkpoint: Checkpoint
    ) -> None:
        """Raise AuditError to refuse ``checkpoint``."""
        ...

    def committed(self, log: WitnessedLog, checkpoint: Checkpoint) -> None:
        """``checkpoint`` was cosigned and stored: advance the audited state."""
        ...


class WitnessService:
    """A witness for a set of logs. See the module docstring.

    Args:
        signer: The witness's cosigner key.
        logs: The witnessed logs (unique origins).
        store: Durable state (see :mod:`vigil.witness.storage`).
        clock: POSIX time in seconds (tests pass a fake).
        auditor: Optional auditing hook.
        max_body_bytes: Cap on request bodies.
    """

    def __init__(
        self,
        *,
        signer: CosignatureSigner,
        logs: Sequence[WitnessedLog],
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
        auditor: CheckpointAuditor | None = None,
        max_body_bytes: int = MAX_ADD_CHECKPOINT_BYTES,
    ) -> None:
        self._signer = signer
        self._logs = {log.origin: log for log in logs}
        if len(self._logs) != len(logs):
            raise ValueError("witness: two logs with the same origin")
        self._by_hash = {origin_hash(origin): origin for origin in self._logs}
        self._store = store
        self._clock = clock
        self._auditor = auditor
        self.max_body_bytes = max_body_bytes
        self._locks = {origin: threading.Lock() for origin in self._logs}
        self._latest: dict[str, LatestCheckpoint] = {
            state.origin: state for state in store.all_latest()
        }

    @property
    def name(self) -> str:
        """The cosigner key name."""
        return self._signer.name

    @property
    def vkey(self) -> str:
        """The cosigner verifier key."""
        return self._signer.vkey

    @property
    def origins(self) -> list[str]:
        """The witnessed origins."""
        return sorted(self._logs)

    def add_checkpoint(self, body: bytes) -> Cosignatures:
        """Handle one add-checkpoint request body; see the module docstring.

        Blocks on the origin's lock, the auditor and the durable write.

        Returns:
            The cosignature line(s) to answer 200 with.

        Raises:
            FormatError: malformed body or checkpoint (400), including
                :class:`~vigil.witness.errors.BadRequestError` (old > size).
            UnknownLogError: unknown origin (404).
            SignatureError: no valid signature by the log's key (403).
            OldSizeConflictError: old size is not the stored size (409).
            ProofError, SplitViewError: inconsistent checkpoint, bad empty
                root, or a proof for old size 0 (422).
            AuditError: the auditor refused (422; kept as evidence).
            TransportError: the auditor could not read the log's entries (503).
            StorageError: the state could not be written (503).
        """
        # Step 1.
        log, request = self._parse(body)
        origin = log.origin
        # Step 2.
        with self._locks[origin]:
            latest = self._latest.get(origin)
            # Step 3.
            decision = self._decide(log, latest, request)
            if isinstance(decision, Reject):
                if decision.evidence:
                    self._keep_evidence(origin, str(decision.error), body)
                raise decision.error
            checkpoint = decision.checkpoint
            # Step 4.
            if self._auditor is not None:
                try:
                    self._auditor.audit(log, latest, checkpoint)
                except AuditError as exc:
                    self._keep_evidence(origin, str(exc), body)
                    raise
            # Step 5.
            staged = self._cosign(latest, decision)
            # Step 6.
            try:
                self._store.compare_and_swap(latest, staged.new)
            except ConflictError:
                raise self._lost_swap(origin) from None
            self._latest[origin] = staged.new
            if self._auditor is not None:
                self._auditor.committed(log, checkpoint)
        # Step 7.
        return (staged.cosignature,)

    def begin_add_checkpoint(self, body: bytes) -> Future[Cosignatures] | None:
        """:meth:`add_checkpoint` without blocking, for an event loop.

        Runs steps 1-5 now and hands step 6 to the store; the returned
        future gets the cosignature(s) once the new state is durable (or the
        exception :meth:`add_checkpoint` would raise for steps 6-7).
        Returns None, having changed nothing, where a step would block: the
        origin's lock is held by another request, an auditor is configured,
        or the refusal is evidence to store; the caller then runs
        :meth:`add_checkpoint` in a thread, which decides afresh.

        Raises:
            The refusals of steps 1-3 that need no write, as :meth:`add_checkpoint`.
        """
        if self._auditor is not None:
            return None
        # Step 1.
        log, request = self._parse(body)
        origin = log.origin
        # Step 2, without waiting.
        lock = self._locks[origin]
        if not lock.acquire(blocking=False):
            return None
        try:
            latest = self._latest.get(origin)
            # Step 3.
            decision = self._decide(log, latest, request)
            if isinstance(decision, Reject):
                if decision.evidence:
                    lock.release()
                    return None
                raise decision.error
            # Step 5.
            staged = self._cosign(latest, decision)
            # Step 6, handed over.
            swap = self._store.submit_swap(latest, staged.new)
        except BaseException:
            lock.release()
            raise
        result: Future[Cosignatures] = Future()

        def written(swap: Future[None]) -> None:  # on the store's committer thread
            try:
                try:
                    swap.result()
                except ConflictError:
                    raise self._lost_swap(origin) from None
                self._latest[origin] = staged.new
            except BaseException as exc:
                lock.release()
                result.set_exception(exc)
                return
            lock.release()
            # Step 7.
            result.set_result((staged.cosignature,))

        swap.add_done_callback(written)
        return result

    def _parse(self, body: bytes) -> tuple[WitnessedLog, AddCheckpointRequest]:
        """Step 1: the request and its log (FormatError, UnknownLogError)."""
        request = parse_add_checkpoint(body, max_bytes=self.max_body_bytes)
        origin = request_origin(request)
        log = self._logs.get(origin)
        if log is None:
            raise UnknownLogError(f"unknown log {origin[:100]!r}", origin=origin)
        return log, request

    @staticmethod
    def _decide(
        log: WitnessedLog, latest: LatestCheckpoint | None, request: AddCheckpointRequest
    ) -> Cosign | Reject:
        """Step 3, with a conflict raised as OldSizeConflictError."""
        decision = decide(log, latest, request)
        if isinstance(decision, Conflict):
            raise OldSizeConflictError(
                f"{log.origin}: old size {request.old_size} is not the size of the latest "
                f"cosigned checkpoint ({decision.known_size})",
                known_size=decision.known_size,
            )
        return decision

    def _cosign(self, latest: LatestCheckpoint | None, decision: Cosign) -> _Staged:
        """Step 5: cosign a re-encoding, with a timestamp that never goes back."""
        checkpoint = decision.checkpoint
        timestamp = max(int(self._clock()), 1)
        if latest is not None:
            timestamp = max(timestamp, latest.timestamp)
        text = format_checkpoint(checkpoint)
        cosignature = self._signer.sign_checkpoint(checkpoint, timestamp)
        note = format_note(Note(text, (*decision.log_signatures, cosignature)))
        new = LatestCheckpoint(
            checkpoint.origin, checkpoint.size, checkpoint.root_hash, note, timestamp
        )
        return _Staged(new, cosignature)

    def _lost_swap(self, origin: str) -> OldSizeConflictError:
        """Step 6 lost (another process moved on): reload the stored state."""
        stored = self._store.latest(origin)
        if stored is not None:
            self._latest[origin] = stored
        known = 0 if stored is None else stored.size
        return OldSizeConflictError(
            f"{origin}: the stored state changed concurrently (now size {known})",
            known_size=known,
        )

    def _keep_evidence(self, origin: str, reason: str, body: bytes) -> None:
        try:
            kept = self._store.add_evidence(origin, int(self._clock()), reason, body)
        except StorageError as exc:  # the refusal stands; losing evidence is not fatal
            _log.error("log %s misbehaved; evidence NOT kept (%s): %s", origin, exc, reason)
            return
        if kept:
            _log.warning("log %s misbehaved; evidence kept: %s", origin, reason)
        else:
            _log.warning("log %s misbehaved again; evidence cap reached: %s", origin, reason)

    def latest_checkpoint(self, hash_hex: str) -> bytes:
        """The latest cosigned checkpoint of the log whose origin hashes to ``hash_hex``.

        The note carries the verified log signature(s) and this witness's
        cosignature (tlog-witness "Monitor Retrieval Mechanism").

        Raises:
            UnknownLogError: no witnessed log has that origin hash, or it was
                never cosigned (404 either way, as the spec says).
        """
        origin = self._by_hash.get(hash_hex)
        state = None if origin is None else self._latest.get(origin)
        if origin is None or state is None:
            raise UnknownLogError(
                f"no cosigned checkpoint for origin hash {hash_hex[:64]!r}", origin=origin or ""
            )
        return state.note

    def latest_states(self) -> list[LatestCheckpoint]:
        """The latest cosigned state of every log that has one."""
        return [self._latest[o] for o in sorted(self._latest) if o in self._logs]

    def evidence(self, origin: str | None = None, *, limit: int = 100) -> list[Evidence]:
        """Stored evidence of log misbehaviour, in arrival order."""
        if origin is not None and origin not in self._logs:
            raise FormatError(f"evidence: {origin[:100]!r} is not a witnessed log")
        return self._store.evidence(origin, limit=limit)

    def close(self) -> None:
        """Close the store."""
        self._store.close()


@dataclass(frozen=True, slots=True)
class _Staged:
    """A cosigned state ready for step 6, and the cosignature to release after it."""

    new: LatestCheckpoint
    cosignature: Signature
