"""One HTTP request per repository: fetch its verification bundle from any server.

Servers are tried in order (the repository's mirrors, the charter's log URLs,
the configured mirrors). Nothing a server says is trusted here:
:mod:`vigil.client.checks` verifies the bundle. A server that fails
(connection, status, size) yields a :class:`TransportError` naming the reason
and the caller moves on to the next.

The request goes through :mod:`vigil.client.http11`, a minimal HTTP/1.1
client over a socket: a package-manager hook starts ``vigil verify`` on every
refresh, and ``http.client`` (with the ``email`` package and ``ssl``) or httpx
cost more to import than the request takes. Bodies are capped at
:data:`~vigil.core.bundle.MAX_BUNDLE_BYTES` on the wire and after gzip
decoding; redirects are not followed; connections are kept per server and
thread, so ``--all`` reuses them.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from vigil.client.http11 import Connection
from vigil.core.bundle import MAX_BUNDLE_BYTES
from vigil.errors import TransportError

__all__ = ["Fetched", "Fetcher"]

_HEADERS = {"Accept-Encoding": "gzip", "User-Agent": "vigil-verify"}


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
        self._all: list[Connection] = []
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

    def _connection(self, server: str) -> tuple[Connection, str]:
        parts = urlsplit(server)
        try:
            port = parts.port
        except ValueError:
            port = -1
        prefix = parts.path.rstrip("/")
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1 \
                or not prefix.isascii() or not prefix.isprintable() or " " in prefix:
            raise TransportError(f"not an http(s) URL: {server[:80]!r}")
        connections: dict[str, Connection] = getattr(self._local, "connections", {})
        self._local.connections = connections
        connection = connections.get(server)
        if connection is None:
            connection = Connection(parts.scheme, parts.hostname, port, self._timeout_s)
            connections[server] = connection
            with self._lock:
                self._all.append(connection)
        return connection, prefix

    def _get(self, server: str, path: str) -> Fetched:
        connection, prefix = self._connection(server)
        response = connection.get(prefix + path, _HEADERS, max_bytes=MAX_BUNDLE_BYTES)
        body = response.body
        if response.status != 200:
            raise TransportError(f"HTTP {response.status} {_message(body)}")
        data = body
        encoding = response.headers.get("content-encoding", "identity").lower()
        if encoding == "gzip":
            data = _gunzip(body)
        elif encoding != "identity":
            raise TransportError(f"unsupported Content-Encoding {encoding[:40]!r}")
        return Fetched(data, server, len(body))


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
