"""A minimal HTTP/1.1 client for one kind of request: ``GET`` with a capped body.

Why not ``http.client``: ``vigil verify`` runs on every package-manager
refresh and must start fast, and ``http.client`` imports the ``email``
package and ``ssl`` at import time (about 8 ms here, for one request over
loopback or a LAN). This module imports ``socket`` only, and ``ssl`` when a
URL is https. It speaks just enough of RFC 9112 to read one response safely:

* a status line ``HTTP/1.x NNN reason`` (interim 1xx responses are skipped);
* at most :data:`MAX_HEADERS` header lines of at most :data:`MAX_LINE_BYTES`
  each; obsolete line folding and conflicting ``Content-Length`` values are
  refused (RFC 9112 §5.2, §6.3);
* a body framed by ``Transfer-Encoding: chunked``, ``Content-Length`` or the
  end of the connection, never read beyond ``max_bytes`` (the cap applies
  while reading, before anything is buffered past it).

It does not follow redirects, send bodies, pipeline, or decode
``Content-Encoding`` (the caller does, under its own cap). Every failure is
a :class:`~vigil.errors.TransportError`; nothing here is trusted anyway: the
caller verifies what it receives.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from vigil.errors import TransportError

if TYPE_CHECKING:
    from io import BufferedReader

__all__ = ["MAX_HEADERS", "MAX_LINE_BYTES", "Connection", "Response"]

MAX_LINE_BYTES = 8192
MAX_HEADERS = 100
_MAX_INTERIM = 8
_NO_BODY = frozenset({204, 304})


class Response:
    """A response as received.

    Attributes:
        status: The status code.
        headers: Header values by lower-case name (repeated headers joined
            with ``", "``, RFC 9110 §5.3).
        body: The body (framing removed, content encoding kept).
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Connection:
    """One connection to ``scheme://host:port``, kept open between requests.

    Args:
        scheme: ``http`` or ``https``.
        host: The host name or address (as in the URL, without brackets).
        port: The port (None: the scheme's default).
        timeout_s: Timeout for connecting and for each read.
    """

    def __init__(self, scheme: str, host: str, port: int | None, timeout_s: float) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme {scheme!r}: want http or https")
        self._scheme = scheme
        self._host = host
        self._port = port or (443 if scheme == "https" else 80)
        self._timeout_s = timeout_s
        authority = f"[{host}]" if ":" in host else host
        self._host_header = authority if port is None else f"{authority}:{port}"
        self._socket: socket.socket | None = None
        self._reader: BufferedReader | None = None

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._reader is not None:
            self._reader.close()
        if self._socket is not None:
            self._socket.close()
        self._socket = self._reader = None

    def get(self, target: str, headers: dict[str, str], *, max_bytes: int) -> Response:
        """``GET target`` and read the response, its body capped at ``max_bytes``.

        A kept connection the server has closed in the meantime is reopened
        once (before any response byte was read, so nothing is repeated that
        the server answered).

        Requires: ``target`` is an origin-form request target of printable
        ASCII (``/path?query``); header names and values likewise.

        Raises:
            TransportError: connecting, sending or reading failed, the
                response is malformed, or its body is larger than
                ``max_bytes``.
        """
        request = _request(target, self._host_header, headers)
        for attempt in (1, 2):
            reused = self._socket is not None
            try:
                reader = self._send(request)
                line = reader.readline(MAX_LINE_BYTES + 1)
            except (BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if reused and attempt == 1:
                    continue
                raise TransportError(f"connection lost ({exc})") from exc
            except OSError as exc:
                self.close()
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
            if not line and reused and attempt == 1:
                self.close()  # the server closed the idle connection
                continue
            try:
                return self._read_response(reader, line, max_bytes)
            except TransportError:
                self.close()
                raise
            except OSError as exc:
                self.close()
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _send(self, request: bytes) -> BufferedReader:
        if self._socket is None:
            self._open()
        assert self._socket is not None and self._reader is not None
        self._socket.sendall(request)
        return self._reader

    def _open(self) -> None:
        # An ASCII host goes to getaddrinfo as bytes (which it takes, though
        # typeshed says str): as str it would load the idna codec (about 1 ms)
        # to encode what needs no encoding.
        host = self._host.encode("ascii") if self._host.isascii() else self._host
        sock = socket.create_connection((host, self._port),  # type: ignore[arg-type]
                                        timeout=self._timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._scheme == "https":
                import ssl  # only https URLs pay for it

                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        self._reader = sock.makefile("rb")

    def _read_response(self, reader: BufferedReader, line: bytes, max_bytes: int) -> Response:
        for _ in range(_MAX_INTERIM):
            status, keep_alive = _status(line)
            headers = _headers(reader)
            if not 100 <= status < 200:
                break
            line = reader.readline(MAX_LINE_BYTES + 1)
        else:
            raise TransportError(f"more than {_MAX_INTERIM} interim (1xx) responses")
        if headers.get("connection", "").lower() == "close":
            keep_alive = False
        elif "keep-alive" in headers.get("connection", "").lower():
            keep_alive = True
        if status in _NO_BODY:
            body = b""
        elif "transfer-encoding" in headers:
            body = _chunked(reader, headers["transfer-encoding"], max_bytes)
        elif "content-length" in headers:
            body = _exactly(reader, _content_length(headers["content-length"], max_bytes))
        else:  # framed by the end of the connection (RFC 9112 §6.3, item 8)
            body = reader.read(max_bytes + 1)
            keep_alive = False
            if len(body) > max_bytes:
                raise TransportError(f"answer larger than {max_bytes} bytes")
        if not keep_alive:
            self.close()
        return Response(status, headers, body)


def _request(target: str, host: str, headers: dict[str, str]) -> bytes:
    fields = {"Host": host, **headers}
    if not _token(target) or not all(_token(n) and v.isascii() and v.isprintable()
                                     for n, v in fields.items()):
        raise ValueError(f"request for {target[:80]!r}: not printable ASCII")
    lines = [f"GET {target} HTTP/1.1", *(f"{n}: {v}" for n, v in fields.items()), "", ""]
    return "\r\n".join(lines).encode("ascii")


def _token(text: str) -> bool:
    """Printable ASCII without spaces (a request target, a header name)."""
    return bool(text) and text.isascii() and text.isprintable() and " " not in text


def _status(line: bytes) -> tuple[int, bool]:
    """The status code and whether the connection persists by default."""
    if len(line) > MAX_LINE_BYTES:
        raise TransportError(f"status line longer than {MAX_LINE_BYTES} bytes")
    if not line:
        raise TransportError("connection closed before a response")
    version, _, rest = line.rstrip(b"\r\n").partition(b" ")
    code = rest[:3]
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit() \
            or rest[3:4] not in (b"", b" "):
        raise TransportError(f"not an HTTP/1.x status line: {line[:60]!r}")
    return int(code), version == b"HTTP/1.1"


def _headers(reader: BufferedReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = reader.readline(MAX_LINE_BYTES + 1)
        if len(line) > MAX_LINE_BYTES:
            raise TransportError(f"header line longer than {MAX_LINE_BYTES} bytes")
        if not line.endswith(b"\n"):
            raise TransportError("connection closed inside the headers")
        if line in (b"\r\n", b"\n"):
            return headers
        if line[:1] in (b" ", b"\t"):
            raise TransportError("obsolete header line folding")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise TransportError(f"malformed header line {line[:60]!r}")
        name, value = name.lower(), value.strip()
        if name == "content-length" and headers.get(name, value) != value:
            raise TransportError(f"conflicting Content-Length ({headers[name]}, {value})")
        headers[name] = f"{headers[name]}, {value}" if name in headers and \
            name != "content-length" else value
    raise TransportError(f"more than {MAX_HEADERS} header lines")


def _content_length(value: str, max_bytes: int) -> int:
    if not value.isdigit() or not value.isascii():
        raise TransportError(f"malformed Content-Length {value[:40]!r}")
    if len(value) > 19 or int(value) > max_bytes:
        raise TransportError(f"answer of {value[:40]} bytes, more than {max_bytes}")
    return int(value)


def _exactly(reader: BufferedReader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise TransportError(f"connection closed after {len(data)} of {size} body bytes")
    return data


def _chunked(reader: BufferedReader, encoding: str, max_bytes: int) -> bytes:
    if encoding.lower() != "chunked":
        raise TransportError(f"unsupported Transfer-Encoding {encoding[:40]!r}")
    chunks: list[bytes] = []
    total = 0
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        if not line.endswith(b"\n") or len(line) > MAX_LINE_BYTES:
            raise TransportError("malformed or truncated chunk size line")
        digits = line.split(b";", 1)[0].strip()
        if not digits or len(digits) > 16 or \
                digits.strip(b"0123456789abcdefABCDEF") != b"":
            raise TransportError(f"malformed chunk size {line[:40]!r}")
        size = int(digits, 16)
        if size == 0:
            break
        total += size
        if total > max_bytes:
            raise TransportError(f"answer larger than {max_bytes} bytes")
        chunks.append(_exactly(reader, size))
        if reader.readline(3) not in (b"\r\n", b"\n"):
            raise TransportError("chunk not followed by a line end")
    _headers(reader)  # trailer fields: read (bounded) and ignored
    return b"".join(chunks)
