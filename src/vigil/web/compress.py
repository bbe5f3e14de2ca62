"""gzip for JSON answers a client fetches on every run (verification bundles).

Proof hashes don't compress, but the base64 of base64 entries and the JSON
around them do: a typical bundle shrinks by about a third, which is what
keeps a client under its per-run transfer budget (issue 6: 8 KB).
"""

from __future__ import annotations

import gzip

from starlette.responses import Response

__all__ = ["compressed_json"]

_MIN_BYTES = 512  # below this the gzip header costs more than it saves


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def compressed_json(body: bytes, accept_encoding: str) -> Response:
    """``body`` as an application/json response, gzipped if the client accepts it."""
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "no-store"}
    if len(body) >= _MIN_BYTES and _accepts_gzip(accept_encoding):
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body, compresslevel=6, mtime=0)
    return Response(body, media_type="application/json", headers=headers)
