"""The witness app's plain-ASGI ``POST /add-checkpoint`` route, driven in-process.

It bypasses Starlette's Request, so its body handling is tested here directly:
chunked bodies, the size cap before and while reading, a Content-Length that
is not a number, a client that leaves; other methods and paths still reach
the Starlette router. Status codes over real HTTP are in
tests/attacks/test_witness_protocol.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from vigil.web.witness_app import create_app
from vigil.witness import SQLiteWitnessStore, WitnessedLog, WitnessService
from witnesssupport import ORIGIN, Tree, cosigner, log_signer, request_body

LOG = log_signer()
WITNESS = cosigner()


def witness(tmp_path: Path) -> WitnessService:
    return WitnessService(
        signer=WITNESS, logs=[WitnessedLog(ORIGIN, (LOG.verifier(),))],
        store=SQLiteWitnessStore(tmp_path / "w.db"), clock=lambda: 1_700_000_000,
        max_body_bytes=4096,
    )


def call(
    service: WitnessService,
    chunks: list[bytes],
    *,
    method: str = "POST",
    path: str = "/add-checkpoint",
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect: bool = False,
) -> list[dict[str, Any]]:
    """Run one request through the app; returns the messages it sent."""
    if headers is None:
        headers = [(b"content-length", str(sum(map(len, chunks))).encode())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
    }
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": i + 1 < len(chunks)}
        for i, chunk in enumerate(chunks)
    ]
    if disconnect:
        incoming = incoming[:1]
        incoming[0]["more_body"] = True
        incoming.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(create_app(service)(scope, receive, send))
    return sent


def status_and_body(sent: list[dict[str, Any]]) -> tuple[int, bytes]:
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_body_in_chunks_is_cosigned(tmp_path: Path) -> None:
    body = request_body(LOG, Tree(), 0, 5)
    sent = call(witness(tmp_path), [body[:10], body[10:30], body[30:]])
    status, answer = status_and_body(sent)
    assert status == 200
    assert answer.startswith("\u2014 witness.example/w1 ".encode())
    assert (b"content-type", b"text/plain; charset=utf-8") in sent[0]["headers"]
    assert (b"content-length", str(len(answer)).encode()) in sent[0]["headers"]


def test_size_cap_and_content_length(tmp_path: Path) -> None:
    service = witness(tmp_path)
    big = b"old 0\n" + b"A" * 5000
    status, answer = status_and_body(call(service, [big]))
    assert (status, json.loads(answer)["error"]) == (413, "too-large")  # declared
    status, answer = status_and_body(call(service, [big[:3000], big[3000:]], headers=[]))
    assert (status, json.loads(answer)["error"]) == (413, "too-large")  # streamed
    status, answer = status_and_body(
        call(service, [b"old 0\n"], headers=[(b"content-length", b"6x")])
    )
    assert (status, json.loads(answer)["error"]) == (400, "malformed")
    status, answer = status_and_body(call(service, [b"old 0\n\nnot a note"]))
    assert (status, json.loads(answer)["error"]) == (400, "malformed")


def test_a_client_that_leaves_gets_nothing_and_changes_nothing(tmp_path: Path) -> None:
    service = witness(tmp_path)
    body = request_body(LOG, Tree(), 0, 5)
    assert call(service, [body[:10], body[10:]], disconnect=True) == []
    assert service.latest_states() == []


def test_other_routes_and_methods_reach_the_router(tmp_path: Path) -> None:
    service = witness(tmp_path)
    assert call(service, [b""], method="GET")[0]["status"] == 405
    status, answer = status_and_body(call(service, [b""], method="GET", path="/"))
    assert status == 200 and json.loads(answer)["name"] == WITNESS.name
