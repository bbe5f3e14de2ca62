"""One HTTP request per repository: fetch its verification bundle from any server.

Servers are tried in order (the repository's mirrors, the charter's log URLs,
the configured mirrors). Nothing a server says is trusted here:
:mod:`vigil.client.checks` verifies the bundle. A server that fails
(connection, status, size) yields a :class:`TransportError` naming the reason
and the caller moves on to the next.

The standard library's ``http.client`` does the work: a package-manager hook
starts ``vigil verify`` on every refresh, and httpx alone costs more to import
(about 90 ms here) than the whole verification. Bodies are capped at
:data:`~vigil.core.bundle.MAX_BUNDLE_BYTES` on the wire and after gzip
decoding; redirects are not followed; connections are kept per server and
thread, so ``--all`` reuses them.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from vigil.core.bundle import MAX_BUNDLE_BYTES
from vigil.errors import TransportError

__all__ = ["Fetched", "Fetcher"]

_USER_AGENT = "vigil-verify"


@dataclass(frozen=True, slots=True)
class Fetched:
    """A bundle as fetched.

    Attributes:
        data: The (decompressed) bundle bytes.
        url: The server that gave it.
        transferred: Bytes of the body received on the wire.
    """

    data: bytes
    url: str
    transferred: int


class Fetcher:
    """Fetches bundles, keeping one connection per server and thread.

    Args:
        timeout_s: Per-request timeout (connect and each read).
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()

    def bundles(
        self, servers: Sequence[str], repository: str, *, size: int, charter_version: int
    ) -> Iterator[Fetched | TransportError]:
        """Ask each server in turn for the bundle of ``repository`` (lazily: the
        caller stops at the first acceptable answer).

        Raises:
            TransportError: there is no server to ask.
        """
        if not servers:
            raise TransportError(
                f"no server to ask for {repository!r}: the charter names no log URL and no "
                "mirror is configured"
            )
        query = urlencode({"size": size, "charter": charter_version})
        path = f"/api/v1/bundle/{quote(repository, safe='')}?{query}"
        for server in servers:
            try:
                yield self._get(server, path)
            except TransportError as exc:
                yield TransportError(f"{server}: {exc}")

    def _connection(self, server: str) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {server[:80]!r}")
        connections: dict[str, http.client.HTTPConnection] = getattr(
            self._local, "connections", {}
        )
        self._local.connections = connections
        connection = connections.get(server)
        if connection is None:
            kind = http.client.HTTPSConnection if parts.scheme == "https" else \
                http.client.HTTPConnection
            connection = kind(parts.hostname, parts.port, timeout=self._timeout_s)
            connections[server] = connection
            with self._lock:
                self._all.append(connection)
        return connection, parts.path.rstrip("/")

    def _get(self, server: str, path: str) -> Fetched:
        connection, prefix = self._connection(server)
        headers = {"Accept-Encoding": "gzip", "User-Agent": _USER_AGENT}
        for attempt in (1, 2):  # a kept connection the server closed: reconnect once
            try:
                connection.request("GET", prefix + path, headers=headers)
                response = connection.getresponse()
                body = _read_capped(response)
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) \
                    as exc:
                connection.close()
                if attempt == 2:
                    raise TransportError(f"connection lost ({exc})") from exc
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if response.status != 200:
            raise TransportError(f"HTTP {response.status} {_message(body)}")
        data = body
        encoding = (response.getheader("Content-Encoding") or "identity").lower()
        if encoding == "gzip":
            data = _gunzip(body)
        elif encoding != "identity":
            raise TransportError(f"unsupported Content-Encoding {encoding[:40]!r}")
        return Fetched(data, server, len(body))


def _read_capped(response: http.client.HTTPResponse) -> bytes:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BUNDLE_BYTES:
        response.close()
        raise TransportError(f"answer of {declared} bytes, more than {MAX_BUNDLE_BYTES}")
    body = response.read(MAX_BUNDLE_BYTES + 1)
    if len(body) > MAX_BUNDLE_BYTES:
        response.close()
        raise TransportError(f"answer larger than {MAX_BUNDLE_BYTES} bytes")
    return body


def _gunzip(body: bytes) -> bytes:
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decoder.decompress(body, MAX_BUNDLE_BYTES + 1)
    except zlib.error as exc:
        raise TransportError(f"bad gzip body ({exc})") from exc
    if len(data) > MAX_BUNDLE_BYTES or decoder.unconsumed_tail:
        raise TransportError(f"answer larger than {MAX_BUNDLE_BYTES} bytes once decompressed")
    return data


def _message(body: bytes) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return str(value["message"])[:200]
    return body[:200].decode("utf-8", "replace")
