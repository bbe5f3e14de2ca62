"""Fetching a log's public resources over HTTP: tiles, checkpoint, status answers.

:class:`HttpFetcher` is the only place the monitor and the witness import an
HTTP library. It caps every response while streaming and lets only
:class:`~vigil.errors.TransportError` escape; "not there" (404) is None.
Moved here from ``vigil.monitor.fetch`` (which re-exports it) so that the
auditing witness, a layer below the monitor, reads tiles with the same code.
TODO(issue 6): share one Fetcher Protocol with ``vigil.client.fetch``.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from vigil.errors import TransportError

__all__ = ["Fetcher", "HttpFetcher"]

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class Fetcher(Protocol):
    """Reads resources of one log by path (``checkpoint``, ``tile/...``, ``api/v1/...``)."""

    def fetch(self, path: str, *, max_bytes: int = MAX_RESPONSE_BYTES) -> bytes | None:
        """The resource's bytes, or None if the log says it does not exist (404).

        Raises:
            TransportError: anything else went wrong (network, status, size cap).
        """
        ...


class HttpFetcher:
    """A :class:`Fetcher` over HTTP(S).

    Args:
        url: The log's URL prefix (``https://log.example.org/vigil``).
        timeout_s: Per-request timeout.
    """

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def fetch(self, path: str, *, max_bytes: int = MAX_RESPONSE_BYTES) -> bytes | None:
        """GET ``<url>/<path>``; see :class:`Fetcher`."""
        target = f"{self.url}/{path}"
        try:
            with self._http.stream("GET", target) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    response.read()
                    raise TransportError(
                        f"GET {target}: HTTP {response.status_code}: {response.text[:300]}"
                    )
                chunks = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise TransportError(f"GET {target}: response exceeds {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {target}: {exc}") from exc
