"""Witness collection for the log: ask every witness of a tlog-policy, publish on quorum.

:class:`WitnessCollector` is the log's :class:`~vigil.log.signing.CosignatureCollector`.
For every checkpoint the sequencer signs, it:

1. sends c2sp.org/tlog-witness ``add-checkpoint`` to every witness of the
   policy that has a URL, concurrently (one worker thread per witness, one
   keep-alive HTTP client), with the size the witness is believed to hold
   and a consistency proof from it;
2. on 409, takes the size from the ``text/x.tlog.size`` body and resends
   once more with a proof from that size (the first request after a restart
   usually gets a 409: the collector starts believing every witness holds 0);
3. verifies every returned cosignature line against the witness's key from
   the policy (lines by other keys are ignored, a bad line by the witness's
   key fails that witness);
4. returns as soon as the policy's quorum is met, after waiting at most
   ``linger_s`` more for the other witnesses (so that on a healthy network
   every witness's cosignature is published);
5. if the quorum is not met within ``timeout_s``, raises
   :class:`~vigil.log.signing.CosigningError`: the sequencer then does NOT
   publish the checkpoint and retries later (with new entries, if any),
   while ``/checkpoint`` keeps serving the previous cosigned checkpoint.
   One exception: a checkpoint of the empty tree (size 0) commits to nothing
   and is consistent with every tree, so it is published with whatever
   cosignatures arrived; a new log can start while its witnesses are down.

A slow or dead witness never stalls the log when the quorum can be met
without it: the collector does not wait for it, and while a request to a
witness is still outstanding from an earlier round it is skipped (so a
black-holed witness ties up one thread, not one per checkpoint).

I/O (httpx) and threads; the formats are in :mod:`vigil.core.tlog_witness`,
the quorum rule in :mod:`vigil.core.policy`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx

from vigil.core.checkpoint import Checkpoint
from vigil.core.cosignature import verify_cosignature
from vigil.core.note import Signature, VerifiedSignature, parse_note
from vigil.core.policy import Policy, PolicyWitness, evaluate_quorum
from vigil.core.tlog_witness import (
    MAX_RESPONSE_BYTES,
    SIZE_CONTENT_TYPE,
    format_add_checkpoint,
    parse_cosignature_lines,
    parse_size_body,
)
from vigil.errors import FormatError, TransportError, VigilError
from vigil.log.signing import ConsistencyProver, CosigningError

__all__ = ["WitnessCollector", "WitnessFailure"]

_log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 3  # first try, a resend after 409, and one more if the size moved again


class WitnessFailure(VigilError):
    """One witness did not cosign (refused, unreachable, or answered nonsense)."""

    def __init__(self, message: str, *, witness: str, status: int | None = None) -> None:
        super().__init__(message)
        self.witness = witness
        self.status = status


@dataclass(slots=True)
class _WitnessState:
    witness: PolicyWitness
    url: str
    known_size: int = 0
    busy: bool = False


class WitnessCollector:
    """Collects cosignatures from the witnesses of a tlog-policy (module docstring).

    Args:
        policy: The log's witness policy (witness keys, URLs and quorum).
        timeout_s: Longest a round may take, retries included.
        linger_s: After the quorum is met, how long to wait for the other
            witnesses' answers.
        transport: An httpx transport (tests); default: real HTTP.
        clock: Monotonic seconds (tests).
    """

    def __init__(
        self,
        *,
        policy: Policy,
        timeout_s: float = 5.0,
        linger_s: float = 0.05,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._timeout_s = timeout_s
        self._linger_s = linger_s
        self._clock = clock
        self._lock = threading.Lock()
        self._states = [
            _WitnessState(w, w.url.rstrip("/")) for w in policy.witnesses if w.url is not None
        ]
        for witness in policy.witnesses:
            if witness.url is None:
                _log.warning("witness %s has no URL in the policy; never asked", witness.name)
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max(4, 2 * len(self._states))),
            transport=transport,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self._states)), thread_name_prefix="vigil-witness"
        )

    def close(self) -> None:
        """Stop the workers (without waiting for outstanding requests) and the client."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def collect(
        self, note: bytes, checkpoint: Checkpoint, prove: ConsistencyProver
    ) -> Sequence[Signature]:
        """Cosignatures for ``note``, once the quorum is met.

        Raises:
            CosigningError: the quorum was not met within ``timeout_s`` (and
                the checkpoint is not of the empty tree).
        """
        text = parse_note(note).text
        deadline = self._clock() + self._timeout_s
        futures: dict[Future[Signature], _WitnessState] = {}
        skipped = []
        with self._lock:
            for state in self._states:
                if state.busy:
                    skipped.append(state.witness.name)
                    continue
                state.busy = True
                futures[self._pool.submit(
                    self._ask, state, note, text, checkpoint, prove, deadline
                )] = state
        collected: list[Signature] = []
        verified: list[VerifiedSignature] = []
        failures: list[str] = [f"{name}: previous request still outstanding" for name in skipped]
        pending = set(futures)
        met_at: float | None = None
        while pending:
            now = self._clock()
            limit = deadline if met_at is None else min(deadline, met_at + self._linger_s)
            if now >= limit:
                break
            done, pending = wait(pending, timeout=limit - now, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    signature = future.result()
                except VigilError as exc:
                    failures.append(str(exc))
                    continue
                collected.append(signature)
                # Verified by _ask against this witness's key (timestamp unused here).
                verified.append(VerifiedSignature(
                    signature.name, signature.key_hash, signature.signature, None
                ))
            if met_at is None and evaluate_quorum(self.policy, verified).met:
                met_at = self._clock()
        result = evaluate_quorum(self.policy, verified)
        if result.met or checkpoint.size == 0:
            if not result.met:
                _log.warning(
                    "publishing the empty tree without a witness quorum: %s", result.describe()
                )
            return collected
        failures += [f"{futures[f].witness.name}: no answer in time" for f in pending]
        raise CosigningError(
            f"checkpoint {checkpoint.origin} size {checkpoint.size}: witness "
            f"{result.describe()}; failures: {'; '.join(failures) or 'none'}"
        )

    def _ask(
        self,
        state: _WitnessState,
        note: bytes,
        text: str,
        checkpoint: Checkpoint,
        prove: ConsistencyProver,
        deadline: float,
    ) -> Signature:
        """One witness, with resends after 409 (runs in a worker thread)."""
        name = state.witness.name
        try:
            old = state.known_size
            for _ in range(_MAX_ATTEMPTS):
                if old > checkpoint.size:
                    raise WitnessFailure(
                        f"{name}: holds size {old}, larger than this checkpoint's "
                        f"{checkpoint.size} (a fork or a lost log state?)",
                        witness=name,
                    )
                proof = prove(old, checkpoint.size) if 0 < old < checkpoint.size else []
                body = format_add_checkpoint(old, proof, note)
                status, content_type, data = self._post(state, body, deadline)
                if status == 200:
                    signature = self._verify(state, text, data)
                    state.known_size = checkpoint.size
                    return signature
                if status == 409:
                    if content_type.split(";")[0].strip() != SIZE_CONTENT_TYPE:
                        raise WitnessFailure(
                            f"{name}: 409 with Content-Type {content_type!r} "
                            f"(want {SIZE_CONTENT_TYPE})", witness=name, status=409,
                        )
                    try:
                        known = parse_size_body(data)
                    except FormatError as exc:
                        raise WitnessFailure(f"{name}: {exc}", witness=name, status=409) from exc
                    if known == old:
                        raise WitnessFailure(
                            f"{name}: 409 names the size that was sent ({old})",
                            witness=name, status=409,
                        )
                    state.known_size = old = known
                    continue
                raise WitnessFailure(
                    f"{name}: HTTP {status}: {data[:200].decode('utf-8', 'replace')!r}",
                    witness=name, status=status,
                )
            raise WitnessFailure(f"{name}: size kept changing (409 {old})", witness=name)
        finally:
            with self._lock:
                state.busy = False

    def _post(self, state: _WitnessState, body: bytes, deadline: float) -> tuple[int, str, bytes]:
        remaining = deadline - self._clock()
        name = state.witness.name
        if remaining <= 0:
            raise WitnessFailure(f"{name}: no time left in this round", witness=name)
        try:
            with self._client.stream(
                "POST", state.url + "/add-checkpoint", content=body,
                timeout=httpx.Timeout(remaining),
            ) as response:
                chunks = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > MAX_RESPONSE_BYTES:
                        raise TransportError(
                            f"{name}: response exceeds {MAX_RESPONSE_BYTES} bytes"
                        )
                    chunks.append(chunk)
                return (
                    response.status_code,
                    response.headers.get("content-type", ""),
                    b"".join(chunks),
                )
        except httpx.HTTPError as exc:
            raise WitnessFailure(f"{name}: {type(exc).__name__}: {exc}", witness=name) from exc
        except TransportError as exc:
            raise WitnessFailure(str(exc), witness=name) from exc

    @staticmethod
    def _verify(state: _WitnessState, text: str, data: bytes) -> Signature:
        """The witness's own cosignature among the returned lines, verified."""
        verifier = state.witness.verifier
        name = state.witness.name
        try:
            lines = parse_cosignature_lines(data)
        except FormatError as exc:
            raise WitnessFailure(f"{name}: {exc}", witness=name, status=200) from exc
        for line in lines:
            if line.name == verifier.name and line.key_hash == verifier.key_hash:
                try:
                    verify_cosignature(text, line, verifier)
                except VigilError as exc:
                    raise WitnessFailure(f"{name}: {exc}", witness=name, status=200) from exc
                return line
        raise WitnessFailure(
            f"{name}: 200 without a cosignature by {verifier.name}+{verifier.key_hash.hex()}",
            witness=name, status=200,
        )
