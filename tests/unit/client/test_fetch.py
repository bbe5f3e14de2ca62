"""The client's transport against a real server on loopback: framing, caps,
keep-alive, and the malformed answers a hostile mirror could send."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from vigil.client.fetch import Fetcher
from vigil.client.http11 import MAX_HEADERS, Connection
from vigil.core.bundle import MAX_BUNDLE_BYTES
from vigil.errors import TransportError


@dataclass
class Server:
    """Answers each request with the next scripted reply (bytes, and whether to
    close the connection after it); records requests and connections."""

    replies: list[tuple[bytes, bool]]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    listener: socket.socket = field(default_factory=socket.socket)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        buffer = b""
        while self.replies:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            request, _, buffer = buffer.partition(b"\r\n\r\n")
            self.requests.append(request)
            reply, close = self.replies.pop(0)
            conn.sendall(reply)
            if close:
                return


Serve = Callable[..., Server]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[Server] = []

    def start(*replies: bytes | tuple[bytes, bool]) -> Server:
        server = Server([r if isinstance(r, tuple) else (r, False) for r in replies])
        server.listener.bind(("127.0.0.1", 0))
        server.listener.listen()
        threading.Thread(target=server.serve, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.listener.close()


def ok(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


def fetch(url: str, *, size: int = 0) -> bytes:
    fetcher = Fetcher(5.0)
    try:
        (got,) = list(fetcher.bundles([url], "repo/x", size=size, charter_version=3))
    finally:
        fetcher.close()
    if isinstance(got, TransportError):
        raise got
    return got.data


def test_request_and_content_length_body(serve: Serve) -> None:
    server = serve(ok(b'{"a": 1}'))
    assert fetch(server.url, size=7) == b'{"a": 1}'
    line, *headers = server.requests[0].decode().split("\r\n")
    assert line == "GET /api/v1/bundle/repo%2Fx?size=7&charter=3 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.url.rsplit(':', 1)[1]}" in headers
    assert "Accept-Encoding: gzip" in headers


def test_gzip_and_chunked_bodies(serve: Serve) -> None:
    packed = gzip.compress(b"bundle" * 100)
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
               + b"".join(b"%x;ext=1\r\n%s\r\n" % (len(packed[i:i + 50]), packed[i:i + 50])
                          for i in range(0, len(packed), 50))
               + b"0\r\nTrailer: x\r\n\r\n")
    server = serve(chunked)
    assert fetch(server.url) == b"bundle" * 100


def test_kept_connection_is_reused_and_reopened_when_the_server_closed_it(
    serve: Serve,
) -> None:
    server = serve(ok(b"one"), (ok(b"two"), True), ok(b"three"))
    connection = Connection("http", "127.0.0.1", int(server.url.rsplit(":", 1)[1]), 5.0)
    try:
        got = [connection.get(f"/{n}", {}, max_bytes=100).body for n in range(3)]
    finally:
        connection.close()
    assert got == [b"one", b"two", b"three"]
    assert server.connections == 2  # the first two on one connection


def test_error_status_carries_the_servers_message(serve: Serve) -> None:
    body = json.dumps({"error": "unknown", "message": "no repository 'x'"}).encode()
    server = serve(ok(body).replace(b"200 OK", b"404 Not Found"))
    with pytest.raises(TransportError, match="HTTP 404 no repository 'x'"):
        fetch(server.url)


def test_redirects_are_not_followed(serve: Serve) -> None:
    server = serve(b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\n"
                   b"Content-Length: 0\r\n\r\n")
    with pytest.raises(TransportError, match="HTTP 302"):
        fetch(server.url)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BUNDLE_BYTES + 1),
         "more than"),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (MAX_BUNDLE_BYTES + 1), "larger than"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         + b"%x\r\n" % (MAX_BUNDLE_BYTES + 1), "larger than"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n"
         + gzip.compress(bytes(MAX_BUNDLE_BYTES + 1)), "once decompressed"),
    ],
    ids=["declared", "until-close", "chunked", "gzip-bomb"],
)
def test_oversized_answers_are_refused(serve: Serve, reply: bytes, message: str) -> None:
    server = serve((reply, True))
    with pytest.raises(TransportError, match=message):
        fetch(server.url)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", "header lines"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 9000 + b"\r\n\r\n", "header line longer"),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "folding"),
        (b"HTTP/1.1 200 OK\r\nBad header\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
         "conflicting Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "after 3 of 10"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", "line end"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 0\r\n\r\n",
         "Content-Encoding"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
         "bad gzip"),
        (b"", "closed before a response"),
    ],
)
def test_malformed_answers_are_transport_errors(
    serve: Serve, reply: bytes, message: str
) -> None:
    server = serve((reply, True))
    with pytest.raises(TransportError, match=message):
        fetch(server.url)


def test_unreachable_server_and_bad_urls() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with pytest.raises(TransportError, match="ConnectionRefused"):
        fetch(f"http://127.0.0.1:{port}")
    for url in ("ftp://x.example", "http://x.example:99999", "http://x.example/a b",
                "http://x.example/a\r\nX: y"):
        with pytest.raises(TransportError, match="not an http"):
            fetch(url)


def test_interim_responses_are_skipped(serve: Serve) -> None:
    server = serve(b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                   + ok(b"final"))
    assert fetch(server.url) == b"final"
