"""Reading request bodies under a size cap, for every Vigil server.

The cap is applied to the declared Content-Length before anything is read and
again while the body streams in, so an oversized or lying client costs at most
``max_bytes`` of memory.
"""

from __future__ import annotations

from starlette.requests import Request

from vigil.errors import FormatError

__all__ = ["read_capped_body"]


async def read_capped_body(
    request: Request, max_bytes: int, too_large: type[FormatError]
) -> bytes:
    """The request body, or ``too_large`` as soon as it exceeds ``max_bytes``.

    Raises:
        FormatError: a Content-Length that is not a decimal number.
        too_large: the declared or streamed body exceeds ``max_bytes`` (each
            server maps its own class to 413).
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise FormatError(f"Content-Length {declared[:20]!r} is not a number")
        if int(declared) > max_bytes:
            raise too_large(f"request body: {declared} bytes exceeds the limit of {max_bytes}")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_bytes:
            raise too_large(f"request body: exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
