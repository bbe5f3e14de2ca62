"""The witness server's HTTP API (Starlette ASGI app), c2sp.org/tlog-witness.

The submission prefix and the monitoring prefix are both the server root:

* ``POST /add-checkpoint`` — the request body of the spec; answers 200 with
  the cosignature line(s) (``text/plain; charset=utf-8``), or 409 with the
  known size as ``text/x.tlog.size``, or a JSON error
  ``{"error": CODE, "message": TEXT}`` with the status the spec requires
  (see :func:`vigil.web.errors.witness_error_response`).
* ``GET /<origin hash>/checkpoint`` — the latest cosigned checkpoint of the
  log whose origin's SHA-256 is the lowercase hex ``<origin hash>``, with the
  log's verified signature(s) and this witness's cosignature ("Monitor
  Retrieval Mechanism"); 404 if it never cosigned one. Not cached.
* ``GET /`` — JSON: the witness's name, vkey, and per log the origin, origin
  hash, latest cosigned size and timestamp (for operators and gossip).
* ``GET /evidence[?origin=O][&limit=N]`` — JSON: validly signed checkpoints
  the witness refused as inconsistent (evidence of log misbehaviour), with
  the request bodies in base64.

Bodies are capped while they stream in, before parsing.

``POST /add-checkpoint`` is the one hot route (every log posts every
checkpoint): it is served by a plain ASGI function ahead of the Starlette
router (no Request object, no routing, no middleware stack), and the
service's work runs on the event loop with the durable write handed to the
store's group commit (:meth:`WitnessService.begin_add_checkpoint`), not in
the thread pool: a pool hop per request cost more CPU than the request's
own signature check and signing. What could block (an audited log, a busy
origin, evidence to store) still goes to the thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from vigil.core.encoding import b64encode
from vigil.core.tlog_witness import SIZE_CONTENT_TYPE, format_cosignature_lines, format_size_body
from vigil.errors import FormatError
from vigil.web.body import ClientGoneError, read_capped_asgi_body, read_capped_body
from vigil.web.errors import witness_error_response
from vigil.witness.errors import BodyTooLargeError, OldSizeConflictError
from vigil.witness.service import WitnessService, origin_hash

__all__ = ["create_app"]

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_TEXT = "text/plain; charset=utf-8"
_ADD_CHECKPOINT = "/add-checkpoint"


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, media_type="application/json",
        headers=headers,
    )


def _render_error(exc: Exception) -> Response:
    if isinstance(exc, OldSizeConflictError):
        # Exactly this Content-Type: a media_type= would get "; charset=utf-8" appended.
        return Response(
            format_size_body(exc.known_size), status_code=409,
            headers={"Content-Type": SIZE_CONTENT_TYPE},
        )
    error = witness_error_response(exc)
    headers = {} if error.retry_after_s is None else {"Retry-After": str(error.retry_after_s)}
    return _json(error.body(), error.status, headers)


async def _read_body(request: Request, max_bytes: int) -> bytes:
    return await read_capped_body(request, max_bytes, BodyTooLargeError)


async def _add_checkpoint(service: WitnessService, body: bytes) -> Response | bytes:
    """The cosignature lines for a request body, or the error response."""
    try:
        pending = service.begin_add_checkpoint(body)
        if pending is None:
            signatures = await run_in_threadpool(service.add_checkpoint, body)
        else:
            signatures = await asyncio.wrap_future(pending)
    except Exception as exc:
        return _render_error(exc)
    return format_cosignature_lines(signatures)


def _fast_add_checkpoint(service: WitnessService, app: ASGIApp) -> ASGIApp:
    """``app`` with ``POST /add-checkpoint`` answered by plain ASGI code."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != _ADD_CHECKPOINT
            or scope["method"] != "POST"
        ):
            await app(scope, receive, send)
            return
        try:
            body = await read_capped_asgi_body(
                scope, receive, service.max_body_bytes, BodyTooLargeError
            )
        except ClientGoneError:
            return  # nobody to answer
        except Exception as exc:
            await _render_error(exc)(scope, receive, send)
            return
        answer = await _add_checkpoint(service, body)
        if isinstance(answer, Response):
            await answer(scope, receive, send)
            return
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", _TEXT.encode()),
                (b"content-length", b"%d" % len(answer)),
            ],
        })
        await send({"type": "http.response.body", "body": answer})

    return serve


def create_app(service: WitnessService) -> ASGIApp:
    """Build the ASGI app for one witness service (closes its store on shutdown)."""

    async def add_checkpoint(request: Request) -> Response:
        # Reached only by requests the fast route passes on (other methods: 405).
        try:
            body = await _read_body(request, service.max_body_bytes)
        except Exception as exc:
            return _render_error(exc)
        answer = await _add_checkpoint(service, body)
        if isinstance(answer, Response):
            return answer
        return Response(answer, media_type=_TEXT)

    async def checkpoint(request: Request) -> Response:
        hash_hex = request.path_params["origin_hash"]
        try:
            if not _HEX_HASH.fullmatch(hash_hex):
                raise FormatError(
                    f"origin hash {hash_hex[:70]!r}: want 64 lowercase hex digits"
                )
            note = service.latest_checkpoint(hash_hex)
        except Exception as exc:
            return _render_error(exc)
        return Response(note, media_type=_TEXT, headers={"Cache-Control": "no-cache"})

    async def info(request: Request) -> Response:
        states = {state.origin: state for state in service.latest_states()}
        logs = []
        for origin in service.origins:
            state = states.get(origin)
            logs.append({
                "origin": origin,
                "origin_hash": origin_hash(origin),
                "size": None if state is None else state.size,
                "timestamp": None if state is None else state.timestamp,
            })
        return _json({"name": service.name, "vkey": service.vkey, "logs": logs})

    async def evidence(request: Request) -> Response:
        try:
            limit_text = request.query_params.get("limit", "100")
            if not limit_text.isdigit() or len(limit_text) > 6:
                raise FormatError(f"limit {limit_text[:20]!r}: want a number")
            records = await run_in_threadpool(
                service.evidence, request.query_params.get("origin"), limit=int(limit_text)
            )
        except Exception as exc:
            return _render_error(exc)
        return _json({
            "evidence": [
                {
                    "id": r.id,
                    "origin": r.origin,
                    "received_at": r.received_at,
                    "reason": r.reason,
                    "request": b64encode(r.request),
                }
                for r in records
            ]
        })

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            service.close()

    app = Starlette(
        routes=[
            Route(_ADD_CHECKPOINT, add_checkpoint, methods=["POST"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
            Route("/evidence", evidence, methods=["GET"]),
            Route("/", info, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return _fast_add_checkpoint(service, app)
