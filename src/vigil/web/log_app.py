"""The log server's HTTP API (Starlette ASGI app).

Read path (c2sp.org/tlog-tiles, served byte-identical to the tiles directory):

* ``GET /checkpoint`` — ``text/plain; charset=utf-8``, not cached;
* ``GET /tile/<L>/<N>[.p/<W>]`` and ``GET /tile/entries/<N>[.p/<W>]`` —
  ``application/octet-stream``; full tiles immutable and cached for a year,
  partial tiles for a minute.

JSON API under ``/api/v1`` (documented in :mod:`vigil.web.log_openapi`, served
at ``/openapi.json``): submissions, entries by index or leaf hash, inclusion
and consistency proofs, and search. Hashes are lowercase hex where they
identify something (``leaf_hash``) and standard base64 inside proofs (as in
c2sp.org/tlog-proof); entries are the base64 of their exact bytes.

Handlers cap the body while it streams in (before parsing), parse, call one
:class:`~vigil.log.service.LogService` method and render; errors are rendered
by :func:`vigil.web.errors.error_response` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.core.bundle import format_bundle
from vigil.core.encoding import b64encode, parse_decimal
from vigil.core.statusmap import RecordProof, format_absence_proof, format_record_proof
from vigil.errors import FormatError
from vigil.log.errors import NotFoundError, TooLargeError
from vigil.log.kinds import KEY_DIGEST, KEY_REPOSITORY, KEY_SIGNER, IndexKey
from vigil.log.sequencer import Published
from vigil.log.service import LogService, SubmitOutcome
from vigil.log.status import StatusReader
from vigil.log.storage.base import StoredEntry
from vigil.web.body import read_capped_body
from vigil.web.compress import compressed_json
from vigil.web.errors import error_response
from vigil.web.log_openapi import openapi_document

__all__ = ["CHECKPOINT_CACHE", "FULL_TILE_CACHE", "PARTIAL_TILE_CACHE", "create_app"]

_log = logging.getLogger(__name__)

CHECKPOINT_CACHE = "no-cache"
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "public, max-age=60"

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_JSON = "application/json"


class JSONResponse(Response):
    """A JSON response encoded with orjson."""

    media_type = _JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


Handler = Callable[[Request], Awaitable[Response]]


def _render_error(exc: BaseException) -> Response:
    error = error_response(exc)
    if error.status >= 500 and error.code == "internal":
        _log.error("internal error: %r", exc, exc_info=exc)
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _endpoint(handler: Handler) -> Handler:
    """Wrap a handler so every exception becomes the mapped error response."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return _render_error(exc)

    wrapped.__name__ = handler.__name__
    return wrapped


async def _read_body(request: Request, max_bytes: int) -> bytes:
    return await read_capped_body(request, max_bytes, TooLargeError)


def _query_int(request: Request, name: str, *, default: int | None = None) -> int:
    value = request.query_params.get(name)
    if value is None:
        if default is None:
            raise FormatError(f"query parameter {name!r} is required")
        return default
    return parse_decimal(value, what=f"query parameter {name}", max_value=2**63 - 1)


def _leaf_hash(text: str) -> bytes:
    if _HEX_HASH.fullmatch(text) is None:
        raise FormatError(f"leaf hash {text[:80]!r}: want 64 lowercase hex digits")
    return bytes.fromhex(text)


def _proof(hashes: list[bytes]) -> list[str]:
    return [b64encode(h) for h in hashes]


def _checkpoint_fields(published: Published) -> dict[str, Any]:
    return {"tree_size": published.size, "checkpoint": published.note.decode("utf-8")}


def _entry_json(entry: StoredEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "leaf_hash": entry.leaf_hash.hex(),
        "entry": b64encode(entry.data),
    }


def create_app(service: LogService, status: StatusReader | None = None) -> ASGIApp:
    """Build the ASGI app for one log service.

    The app's lifespan starts the sequencer on startup and stops it (and
    closes storage) on shutdown. ``status`` serves ``/api/v1/status/...``
    (without it that answers 404).
    """
    limits = service.config.limits
    single_max = limits.max_entry_bytes * 2 + 4096

    def outcome_json(outcome: SubmitOutcome) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = [
            {"index": index, "leaf_hash": leaf_hash.hex()}
            for index, leaf_hash in zip(outcome.indexes, outcome.leaf_hashes, strict=True)
        ]
        if outcome.published is not None:
            # Neighbouring entries' proofs share most hashes: encode each once.
            encoded: dict[bytes, str] = {}
            for item, proof in zip(items, outcome.proofs, strict=True):
                item["inclusion_proof"] = [
                    encoded.get(h) or encoded.setdefault(h, b64encode(h)) for h in proof
                ]
        return items

    def wait_s(request: Request) -> float | None:
        """The optional ``wait_ms`` query parameter (capped by the server's wait)."""
        if "wait_ms" not in request.query_params:
            return None
        return _query_int(request, "wait_ms") / 1000

    async def submit_entry(request: Request) -> Response:
        wait = wait_s(request)
        body = await _read_body(request, single_max)
        entry = await service.admit_async(body)
        outcome = await service.submit([entry], wait_s=wait)
        content = outcome_json(outcome)[0]
        if outcome.published is None:
            return JSONResponse(content, status_code=202)
        content.update(_checkpoint_fields(outcome.published))
        return JSONResponse(content)

    async def submit_batch(request: Request) -> Response:
        wait = wait_s(request)
        body = await _read_body(request, limits.max_body_bytes)
        entries = await service.admit_batch_async(body)
        outcome = await service.submit(entries, wait_s=wait)
        content: dict[str, Any] = {"entries": outcome_json(outcome)}
        if outcome.published is None:
            return JSONResponse(content, status_code=202)
        content.update(_checkpoint_fields(outcome.published))
        return JSONResponse(content)

    async def checkpoint(request: Request) -> Response:
        return Response(
            service.published.note,
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": CHECKPOINT_CACHE},
        )

    async def tile(request: Request) -> Response:
        path = "tile/" + request.path_params["path"]
        tile_id, data = await run_in_threadpool(service.tile, path)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "Cache-Control": PARTIAL_TILE_CACHE if tile_id.is_partial else FULL_TILE_CACHE
            },
        )

    def entry_with_proof(entry: StoredEntry) -> dict[str, Any]:
        published = service.published
        proof = service.inclusion_proofs([entry.index], published.size)[0]
        content = _entry_json(entry)
        content["inclusion_proof"] = _proof(proof)
        content.update(_checkpoint_fields(published))
        return content

    async def get_entry(request: Request) -> Response:
        index = parse_decimal(
            request.path_params["index"], what="entry index", max_value=2**63 - 1
        )

        def work() -> dict[str, Any]:
            return entry_with_proof(service.entry(index))

        return JSONResponse(await run_in_threadpool(work))

    async def get_entry_by_leaf_hash(request: Request) -> Response:
        leaf_hash = _leaf_hash(request.path_params["leaf_hash"])

        def work() -> dict[str, Any]:
            return entry_with_proof(service.entry_by_leaf_hash(leaf_hash))

        return JSONResponse(await run_in_threadpool(work))

    async def inclusion_proof(request: Request) -> Response:
        published = service.published
        size = _query_int(request, "tree_size", default=published.size)
        text_index = request.query_params.get("index")
        text_hash = request.query_params.get("leaf_hash")
        if (text_index is None) == (text_hash is None):
            raise FormatError("inclusion proof: give exactly one of 'index' and 'leaf_hash'")

        def work() -> dict[str, Any]:
            if text_hash is not None:
                entry = service.entry_by_leaf_hash(_leaf_hash(text_hash))
                index, leaf_hash = entry.index, entry.leaf_hash
            else:
                index = _query_int(request, "index")
                if index >= min(size, published.size):
                    raise FormatError(
                        f"inclusion proof: leaf index {index} is not in a tree of size {size}"
                    )
                leaf_hash = service.leaf_hash(index)
            proof = service.inclusion_proofs([index], size)[0]
            content: dict[str, Any] = {
                "index": index,
                "leaf_hash": leaf_hash.hex(),
                "tree_size": size,
                "inclusion_proof": _proof(proof),
            }
            if size == published.size:
                content["checkpoint"] = published.note.decode("utf-8")
            return content

        if text_hash is None:
            # By index: tiles only (cached in memory), cheaper than a thread hop.
            return JSONResponse(work())
        return JSONResponse(await run_in_threadpool(work))

    async def consistency_proof(request: Request) -> Response:
        published = service.published
        old = _query_int(request, "old")
        new = _query_int(request, "new", default=published.size)
        proof = await run_in_threadpool(service.consistency_proof, old, new)
        content: dict[str, Any] = {"old": old, "new": new, "proof": _proof(proof)}
        if new == published.size:
            content["checkpoint"] = published.note.decode("utf-8")
        return JSONResponse(content)

    async def search(request: Request) -> Response:
        given = [
            (key_type, request.query_params[key_type])
            for key_type in (KEY_DIGEST, KEY_SIGNER, KEY_REPOSITORY)
            if key_type in request.query_params
        ]
        if len(given) != 1:
            raise FormatError("search: give exactly one of 'digest', 'signer', 'repository'")
        key_type, value = given[0]
        if not value or len(value) > 1024:
            raise FormatError(f"search {key_type}: want 1 to 1024 characters")
        if key_type == KEY_DIGEST and ":" not in value:
            raise FormatError(f"search digest {value[:80]!r}: want ALGORITHM:VALUE")
        token = request.query_params.get("page_token")
        after = -1 if token is None else parse_decimal(
            token, what="search page_token", max_value=2**63 - 1
        )
        limit = _query_int(request, "limit", default=limits.max_search_results)
        if limit < 1:
            raise FormatError("search limit: want at least 1")
        page = await run_in_threadpool(
            lambda: service.search(IndexKey(key_type, value), after=after, limit=limit)
        )
        results = []
        for entry, proof in zip(page.entries, page.proofs, strict=True):
            item = _entry_json(entry)
            item["inclusion_proof"] = _proof(proof)
            results.append(item)
        content: dict[str, Any] = {
            "entries": results,
            "next_page_token": None if page.next_after is None else str(page.next_after),
        }
        content.update(_checkpoint_fields(page.published))
        return JSONResponse(content)

    def status_reader(request: Request, what: str) -> tuple[StatusReader, str]:
        repository = str(request.path_params["repository"])
        if len(repository) > 1024:
            raise FormatError(f"{what}: repository name longer than 1024 characters")
        if status is None:
            raise NotFoundError("this log keeps no status map")
        return status, repository

    async def get_status(request: Request) -> Response:
        reader, repository = status_reader(request, "status")

        def work() -> dict[str, Any]:
            answer = reader.status(repository)
            content: dict[str, Any] = {"repository": repository}
            content.update(_checkpoint_fields(answer.published))
            if isinstance(answer.proof, RecordProof):
                content["record"] = format_record_proof(answer.proof)
            else:
                content["absence"] = format_absence_proof(answer.proof)
            entries = []
            for entry, proof in zip(answer.entries, answer.proofs, strict=True):
                item = _entry_json(entry)
                item["inclusion_proof"] = _proof(proof)
                entries.append(item)
            content["entries"] = entries
            return content

        return JSONResponse(await run_in_threadpool(work))

    async def get_bundle(request: Request) -> Response:
        reader, repository = status_reader(request, "bundle")
        old_size = _query_int(request, "size", default=0)
        charter_version = _query_int(request, "charter", default=0)
        body = await run_in_threadpool(
            lambda: format_bundle(
                reader.bundle(repository, old_size=old_size, charter_version=charter_version)
            )
        )
        return compressed_json(body, request.headers.get("accept-encoding", ""))

    document = orjson.dumps(openapi_document(service.config))

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=_JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "not-found", 405: "method-not-allowed"}
        return JSONResponse(
            {"error": codes.get(exc.status_code, "malformed"), "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,  # 405 carries Allow (RFC 9110 §15.5.6)
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    routes = [
        Route("/checkpoint", _endpoint(checkpoint), methods=["GET"]),
        Route("/tile/{path:path}", _endpoint(tile), methods=["GET"]),
        Route("/api/v1/entries", _endpoint(submit_entry), methods=["POST"]),
        Route("/api/v1/entries:batch", _endpoint(submit_batch), methods=["POST"]),
        Route(
            "/api/v1/entries/by-leaf-hash/{leaf_hash}",
            _endpoint(get_entry_by_leaf_hash),
            methods=["GET"],
        ),
        Route("/api/v1/entries/{index}", _endpoint(get_entry), methods=["GET"]),
        Route("/api/v1/proof/inclusion", _endpoint(inclusion_proof), methods=["GET"]),
        Route("/api/v1/proof/consistency", _endpoint(consistency_proof), methods=["GET"]),
        Route("/api/v1/search", _endpoint(search), methods=["GET"]),
        Route("/api/v1/status/{repository:path}", _endpoint(get_status), methods=["GET"]),
        Route("/api/v1/bundle/{repository:path}", _endpoint(get_bundle), methods=["GET"]),
        Route("/openapi.json", _endpoint(openapi), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan
    )
    # The hot endpoints skip Starlette's middleware and routing: each handler
    # already renders every exception itself (_endpoint), so the middleware
    # has nothing to add there, and these requests are most of the load.
    fast: dict[tuple[str, str], Handler] = {
        ("POST", "/api/v1/entries"): _endpoint(submit_entry),
        ("POST", "/api/v1/entries:batch"): _endpoint(submit_batch),
        ("GET", "/api/v1/proof/inclusion"): _endpoint(inclusion_proof),
    }

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = fast.get((scope["method"], scope["path"]))
            if handler is not None:
                response = await handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await app(scope, receive, send)

    return asgi
