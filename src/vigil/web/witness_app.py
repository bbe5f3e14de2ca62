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
"""

from __future__ import annotations

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

from vigil.core.encoding import b64encode
from vigil.core.tlog_witness import SIZE_CONTENT_TYPE, format_cosignature_lines, format_size_body
from vigil.errors import FormatError
from vigil.web.body import read_capped_body
from vigil.web.errors import witness_error_response
from vigil.witness.errors import BodyTooLargeError, OldSizeConflictError
from vigil.witness.service import WitnessService, origin_hash

__all__ = ["create_app"]

_HEX_HASH = re.compile(r"[0-9a-f]{64}")
_TEXT = "text/plain; charset=utf-8"


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


def create_app(service: WitnessService) -> Starlette:
    """Build the ASGI app for one witness service (closes its store on shutdown)."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _read_body(request, service.max_body_bytes)
            signatures = await run_in_threadpool(service.add_checkpoint, body)
        except Exception as exc:
            return _render_error(exc)
        return Response(format_cosignature_lines(signatures), media_type=_TEXT)

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

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
            Route("/evidence", evidence, methods=["GET"]),
            Route("/", info, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
