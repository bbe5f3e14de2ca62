"""Load generation for ``bench/log.py``: signed entries and a lean HTTP/1.1 client.

The client is a few lines of asyncio over raw sockets (keep-alive, requests
pre-built as bytes) so that the load generator, which shares the machine's two
cores with the server, spends as little CPU as possible per request: a general
HTTP client library would cost more than the server work being measured.

Entries are signed before any timed phase, in worker processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import orjson

from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, format_envelope, sign_envelope
from vigil.core.intoto import STATEMENT_TYPE_V1
from vigil.core.note import Ed25519Signer, generate_signer
from vigil.log.kinds import ARTIFACT_PREDICATE_TYPE

__all__ = [
    "Client",
    "Result",
    "make_entries",
    "run_requests",
    "signers",
]

SIGNERS = 16


def signers(count: int = SIGNERS) -> list[Ed25519Signer]:
    """Deterministic bench signers."""
    return [
        generate_signer(f"bench{i}.example", seed=hashlib.sha256(b"bench/%d" % i).digest())
        for i in range(count)
    ]


def statement(tag: str, number: int) -> bytes:
    """A statement about one artifact, compact JSON like a typical producer's."""
    name = f"pkg-{tag}-{number}"
    document = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [
            {"name": name, "digest": {"sha256": hashlib.sha256(name.encode()).hexdigest()}}
        ],
        "predicateType": ARTIFACT_PREDICATE_TYPE,
        "predicate": {"description": f"release {number} of {name}"},
    }
    return orjson.dumps(document)


def _sign_range(args: tuple[str, int, int]) -> list[bytes]:
    tag, start, end = args
    keys = signers()
    return [
        format_envelope(
            sign_envelope(PAYLOAD_TYPE_INTOTO, statement(tag, n), [keys[n % len(keys)]])
        )
        for n in range(start, end)
    ]


def make_entries(tag: str, count: int, *, workers: int = 2) -> list[bytes]:
    """``count`` distinct signed entries (canonical DSSE envelope JSON), signed in parallel."""
    step = max(1, -(-count // (workers * 8)))
    ranges = [(tag, start, min(count, start + step)) for start in range(0, count, step)]
    with ProcessPoolExecutor(workers) as pool:
        return [entry for chunk in pool.map(_sign_range, ranges) for entry in chunk]


@dataclass
class Result:
    """What one run of requests produced."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    started_s: list[float] = field(default_factory=list)  # per request (perf_counter)
    checkpoints: list[tuple[float, int]] = field(default_factory=list)  # (seen at, size)
    elapsed_s: float = 0.0

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> Client:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one pre-built request; return (status, body)."""
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
        body = await self._reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self._writer.close()


def post(path: str, body: bytes) -> bytes:
    """A pre-built POST request."""
    return (
        f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


def get(path: str) -> bytes:
    """A pre-built GET request."""
    return f"GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()


async def _poll_checkpoints(host: str, port: int, result: Result, stop: asyncio.Event) -> None:
    """Record when each tree size is first seen at /checkpoint (every 10 ms).

    After ``stop``, keeps polling until the size has not changed for 1.5 s.
    """
    client = await Client.connect(host, port)
    request = get("/checkpoint")
    last = -1
    changed = time.perf_counter()
    try:
        while True:
            _, body = await client.request(request)
            size = int(body.split(b"\n")[1])
            now = time.perf_counter()
            if size != last:
                result.checkpoints.append((now, size))
                last = size
                changed = now
            if stop.is_set() and now - changed > 1.5:  # the last entries are published
                return
            await asyncio.sleep(0.01)
    finally:
        client.close()


async def _run(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    keep_bodies: bool,
    poll: bool = False,
) -> Result:
    result = Result()
    position = 0

    async def worker() -> None:
        nonlocal position
        client = await Client.connect(host, port)
        try:
            while position < len(requests):
                raw = requests[position]
                position += 1
                started = time.perf_counter()
                status, body = await client.request(raw)
                result.latencies_s.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if keep_bodies:
                    result.started_s.append(started)
                    result.bodies.append(body)
        finally:
            client.close()

    stop = asyncio.Event()
    poller = asyncio.ensure_future(_poll_checkpoints(host, port, result, stop)) if poll else None
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    if poller is not None:
        stop.set()
        await poller
    return result


def run_requests(
    url: str,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    keep_bodies: bool = False,
    poll_checkpoints: bool = False,
) -> Result:
    """Send ``requests`` over ``concurrency`` keep-alive connections; wait for all answers.

    With ``keep_bodies``, also each answer and its request's start time; with
    ``poll_checkpoints``, also when each tree size was first published.
    """
    hostport = url.removeprefix("http://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is optional
        runner = asyncio.run
    return runner(
        _run(host, int(port), requests, concurrency, keep_bodies, poll_checkpoints)
    )
