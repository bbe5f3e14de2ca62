"""A client for the log's HTTP API that verifies everything it receives.

Every answer is checked before it is returned: the checkpoint's signature by
the log key (and its origin), each entry's leaf hash over its exact bytes, its
DSSE signatures, and inclusion or consistency proofs against the verified
checkpoint. Nothing unverified is returned.

Transport failures (connection, timeout, 5xx, oversized answer) raise
:class:`~vigil.errors.TransportError`; the log refusing a submission raises
:class:`~vigil.log.errors.RejectedError`; a missing entry
:class:`~vigil.log.errors.NotFoundError`; a bad signature or proof the usual
:class:`~vigil.errors.VerificationError` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from vigil.core import merkle
from vigil.core.checkpoint import Checkpoint, VerifiedCheckpoint, verify_checkpoint
from vigil.core.dsse import format_envelope, pae, parse_envelope
from vigil.core.encoding import b64decode_strict
from vigil.core.intoto import parse_statement
from vigil.core.note import Verifier, parse_verifier_key
from vigil.core.proof import verify_consistency, verify_inclusion
from vigil.errors import FormatError, ProofError, SignatureError, TransportError
from vigil.log.errors import NotFoundError, RejectedError

__all__ = ["LogClient", "SubmitReceipt", "VerifiedEntry"]

_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class VerifiedEntry:
    """An entry proven to be in the log.

    Attributes:
        index: Its leaf index.
        leaf_hash: ``hash_leaf(data)``.
        data: The entry bytes (canonical DSSE JSON).
        signers: The verifier keys whose signatures verified.
        checkpoint: The verified checkpoint the inclusion proof checks against.
    """

    index: int
    leaf_hash: bytes
    data: bytes
    signers: tuple[str, ...]
    checkpoint: VerifiedCheckpoint


@dataclass(frozen=True, slots=True)
class SubmitReceipt:
    """The log's answer to a submission, verified.

    Attributes:
        index: The entry's index.
        leaf_hash: Its leaf hash (checked against what was sent).
        checkpoint: The verified covering checkpoint, or None if the log
            answered 202 (sequenced, not yet in a checkpoint).
    """

    index: int
    leaf_hash: bytes
    checkpoint: VerifiedCheckpoint | None


def verify_entry_signatures(data: bytes) -> tuple[str, ...]:
    """Check an entry's DSSE signatures under the keys its keyids name.

    Returns:
        The signer verifier keys.

    Raises:
        FormatError: the entry is not a canonical DSSE envelope, or a keyid
            is not a verifier key.
        SignatureError: a signature does not verify.
    """
    envelope = parse_envelope(data)
    if format_envelope(envelope) != data:
        raise FormatError("entry: not the canonical encoding of its envelope")
    message = pae(envelope.payload_type, envelope.payload)
    signers = []
    for position, signature in enumerate(envelope.signatures):
        verifier = parse_verifier_key(signature.keyid)
        if not verifier.verify(message, signature.sig):
            raise SignatureError(f"entry signature {position} by {signature.keyid[:80]}: invalid")
        signers.append(signature.keyid)
    return tuple(signers)


def _hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FormatError(f"{what}: want a list of base64 strings")
    return [b64decode_strict(v, what=what) for v in value]


def _int(document: dict[str, Any], name: str) -> int:
    value = document.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FormatError(f"response {name}: want a non-negative integer (got {value!r})")
    return value


def _str(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise FormatError(f"response {name}: want a string")
    return value


class LogClient:
    """Talks to one log and verifies its answers.

    Args:
        url: The log's URL prefix (e.g. ``http://127.0.0.1:8080``).
        origin: The log's checkpoint origin.
        log_key: The log's verifier key.
        timeout_s: Per-request timeout.
    """

    def __init__(self, url: str, *, origin: str, log_key: Verifier, timeout_s: float = 60) -> None:
        self._url = url.rstrip("/")
        self._origin = origin
        self._key = log_key
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> LogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        try:
            with self._http.stream(method, self._url + path, **kwargs) as response:
                chunks = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > _MAX_RESPONSE_BYTES:
                        raise TransportError(
                            f"{path}: response exceeds {_MAX_RESPONSE_BYTES} bytes"
                        )
                    chunks.append(chunk)
                status = response.status_code
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {self._url}{path}: {exc}") from exc
        body = b"".join(chunks)
        if status in (200, 202):
            return status, body
        message = body[:2000].decode("utf-8", "replace")
        code = ""
        try:
            error = orjson.loads(body)
            if isinstance(error, dict):
                message = str(error.get("message", message))
                code = str(error.get("error", ""))
        except orjson.JSONDecodeError:
            pass
        if status == 404:
            raise NotFoundError(f"{path}: {message}")
        if 400 <= status < 500:
            raise RejectedError(f"log refused the request ({status} {code}): {message}",
                                status=status, code=code)
        raise TransportError(f"{method} {path}: HTTP {status}: {message}")

    def _json(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        status, body = self._request(method, path, **kwargs)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FormatError(f"{path}: response is not JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise FormatError(f"{path}: response is not a JSON object")
        return status, document

    def _verify_checkpoint(self, note: bytes) -> VerifiedCheckpoint:
        return verify_checkpoint(note, origin=self._origin, log_verifier=self._key)

    # -- operations ----------------------------------------------------------------

    def checkpoint(self) -> VerifiedCheckpoint:
        """Fetch and verify the latest checkpoint."""
        _, note = self._request("GET", "/checkpoint")
        return self._verify_checkpoint(note)

    def submit(self, envelope_json: bytes) -> SubmitReceipt:
        """Submit one envelope and verify the receipt.

        Procedure: (1) compute the leaf hash of the canonical envelope
        locally; (2) post; (3) the answer's leaf hash must equal it; (4) if the
        log answered 200, verify the checkpoint and the inclusion proof.

        Raises:
            FormatError: the file is not a DSSE envelope, or the answer is
                malformed.
            RejectedError: the log refused it (with its status and reason).
            VerificationError: the receipt does not verify.
        """
        data = format_envelope(parse_envelope(envelope_json))
        leaf_hash = merkle.hash_leaf(data)
        status, document = self._json(
            "POST", "/api/v1/entries", content=data,
            headers={"Content-Type": "application/json"},
        )
        index = _int(document, "index")
        if _str(document, "leaf_hash") != leaf_hash.hex():
            raise ProofError(
                f"submission: log answered leaf hash {document.get('leaf_hash')!r}, "
                f"want {leaf_hash.hex()}"
            )
        if status == 202:
            return SubmitReceipt(index, leaf_hash, None)
        verified = self._verify_checkpoint(_str(document, "checkpoint").encode("utf-8"))
        self._check_inclusion(
            index, leaf_hash, document.get("inclusion_proof"), verified.checkpoint
        )
        return SubmitReceipt(index, leaf_hash, verified)

    def _check_inclusion(
        self, index: int, leaf_hash: bytes, proof: Any, checkpoint: Checkpoint
    ) -> None:
        verify_inclusion(
            index, checkpoint.size, leaf_hash,
            _hashes(proof, "inclusion proof"), checkpoint.root_hash,
        )

    def _verified_entry(self, document: dict[str, Any]) -> VerifiedEntry:
        index = _int(document, "index")
        data = b64decode_strict(_str(document, "entry"), what="entry")
        leaf_hash = merkle.hash_leaf(data)
        if _str(document, "leaf_hash") != leaf_hash.hex():
            raise ProofError(f"entry {index}: leaf hash does not match the entry bytes")
        signers = verify_entry_signatures(data)
        verified = self._verify_checkpoint(_str(document, "checkpoint").encode("utf-8"))
        self._check_inclusion(
            index, leaf_hash, document.get("inclusion_proof"), verified.checkpoint
        )
        return VerifiedEntry(index, leaf_hash, data, signers, verified)

    def get(self, index: int) -> VerifiedEntry:
        """Fetch entry ``index`` with its proof, and verify both."""
        _, document = self._json("GET", f"/api/v1/entries/{index}")
        entry = self._verified_entry(document)
        if entry.index != index:
            raise ProofError(f"asked for entry {index}, got entry {entry.index}")
        return entry

    def get_by_leaf_hash(self, leaf_hash: bytes) -> VerifiedEntry:
        """Fetch the entry with ``leaf_hash`` and verify it."""
        _, document = self._json("GET", f"/api/v1/entries/by-leaf-hash/{leaf_hash.hex()}")
        entry = self._verified_entry(document)
        if entry.leaf_hash != leaf_hash:
            raise ProofError(
                f"asked for leaf hash {leaf_hash.hex()}, got {entry.leaf_hash.hex()}"
            )
        return entry

    def prove_inclusion(self, leaf_hash: bytes) -> tuple[int, VerifiedCheckpoint]:
        """Prove that ``leaf_hash`` is in the latest checkpoint; returns its index."""
        _, document = self._json(
            "GET", "/api/v1/proof/inclusion", params={"leaf_hash": leaf_hash.hex()}
        )
        index = _int(document, "index")
        if _str(document, "leaf_hash") != leaf_hash.hex():
            raise ProofError("inclusion proof: for another leaf hash")
        verified = self._verify_checkpoint(_str(document, "checkpoint").encode("utf-8"))
        if _int(document, "tree_size") != verified.checkpoint.size:
            raise ProofError("inclusion proof: tree size differs from the checkpoint's")
        self._check_inclusion(
            index, leaf_hash, document.get("inclusion_proof"), verified.checkpoint
        )
        return index, verified

    def prove_consistency(self, old_note: bytes) -> tuple[VerifiedCheckpoint, VerifiedCheckpoint]:
        """Verify that the latest checkpoint extends an older one.

        Args:
            old_note: A checkpoint note of this log saved earlier.

        Returns:
            (old, new) verified checkpoints.
        """
        old = self._verify_checkpoint(old_note)
        old_size = old.checkpoint.size
        new = self.checkpoint()
        new_size = new.checkpoint.size
        if new_size < old_size:
            raise ProofError(f"log's checkpoint of size {new_size} is older than {old_size}")
        if old_size == 0 or old_size == new_size:
            if old_size == new_size and old.checkpoint.root_hash != new.checkpoint.root_hash:
                raise ProofError(f"two different roots for tree size {old_size}")
            return old, new
        _, document = self._json(
            "GET", "/api/v1/proof/consistency", params={"old": old_size, "new": new_size}
        )
        verify_consistency(
            old_size, new_size, _hashes(document.get("proof"), "consistency proof"),
            old.checkpoint.root_hash, new.checkpoint.root_hash,
        )
        return old, new

    def search(
        self, key_type: str, value: str, *, page_token: str | None = None, limit: int = 100
    ) -> tuple[list[VerifiedEntry], str | None]:
        """One page of search results, each entry verified.

        Each entry must also match the query where the client can check it:
        a ``signer`` result must carry a valid signature by that key, a
        ``digest`` result must name that digest in its statement.
        """
        params: dict[str, Any] = {key_type: value, "limit": limit}
        if page_token is not None:
            params["page_token"] = page_token
        _, document = self._json("GET", "/api/v1/search", params=params)
        verified = self._verify_checkpoint(_str(document, "checkpoint").encode("utf-8"))
        items = document.get("entries")
        if not isinstance(items, list):
            raise FormatError("search: entries must be a list")
        results = []
        for item in items:
            if not isinstance(item, dict):
                raise FormatError("search: entry must be an object")
            item = {**item, "checkpoint": _str(document, "checkpoint")}
            entry = self._verified_entry(item)
            if entry.checkpoint.checkpoint != verified.checkpoint:
                raise ProofError("search: entries proven against different checkpoints")
            if key_type == "signer" and value not in entry.signers:
                raise ProofError(f"search: entry {entry.index} is not signed by {value[:60]}")
            if key_type == "digest" and not _has_digest(entry.data, value):
                raise ProofError(f"search: entry {entry.index} has no subject {value[:80]}")
            results.append(entry)
        token = document.get("next_page_token")
        if token is not None and not isinstance(token, str):
            raise FormatError("search: next_page_token must be a string or null")
        return results, token


def _has_digest(data: bytes, value: str) -> bool:
    algorithm, _, digest = value.partition(":")
    statement = parse_statement(parse_envelope(data).payload)
    return any(subject.digest.get(algorithm) == digest for subject in statement.subjects)
