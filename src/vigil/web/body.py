"""Reading request bodies under a size cap, for every Vigil server.

The cap is applied to the declared Content-Length before anything is read and
again while the body streams in, so an oversized or lying client costs at most
``max_bytes`` of memory.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive, Scope

from vigil.errors import FormatError

__all__ = ["ClientGoneError", "read_capped_asgi_body", "read_capped_body"]


class ClientGoneError(Exception):
    """The client disconnected before its body arrived (there is nobody to answer)."""


async def read_capped_body(
    request: Request, max_bytes: int, too_large: type[FormatError]
) -> bytes:
    """The request body, or ``too_large`` as soon as it exceeds ``max_bytes``.

    Raises:
        FormatError: a Content-Length that is not a decimal number.
        too_large: the declared or streamed body exceeds ``max_bytes`` (each
            server maps its own class to 413).
    """
    _check_declared(request.headers.get("content-length"), max_bytes, too_large)
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise too_large(f"request body: exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_declared(declared: str | None, max_bytes: int, too_large: type[FormatError]) -> None:
    if declared is not None:
        if not declared.isdigit():
            raise FormatError(f"Content-Length {declared[:20]!r} is not a number")
        if int(declared) > max_bytes:
            raise too_large(f"request body: {declared} bytes exceeds the limit of {max_bytes}")


async def read_capped_asgi_body(
    scope: Scope, receive: Receive, max_bytes: int, too_large: type[FormatError]
) -> bytes:
    """:func:`read_capped_body` for a plain ASGI handler (no Request object).

    Raises:
        FormatError: as :func:`read_capped_body`.
        too_large: as :func:`read_capped_body`.
        ClientGoneError: the client disconnected first.
    """
    declared = None
    for name, value in scope["headers"]:
        if name == b"content-length":  # ASGI header names are lowercase
            declared = value.decode("latin-1")
            break
    _check_declared(declared, max_bytes, too_large)
    chunks = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError("client disconnected")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > max_bytes:
            raise too_large(f"request body: exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
