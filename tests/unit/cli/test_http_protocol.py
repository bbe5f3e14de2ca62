"""The servers' HTTP protocol sends each turn's writes (a response's head and body) as one."""

from __future__ import annotations

import asyncio
from typing import Any

from vigil.cli.http_protocol import CoalescingHttpToolsProtocol, _CoalescedWrites


class RecordingTransport:
    """Stands in for the socket transport under the adapter: records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 9)}.get(name, default)


async def _turn() -> None:
    await asyncio.sleep(0)


def test_writes_in_one_turn_go_out_together_at_its_end() -> None:
    async def scenario() -> list[list[bytes]]:
        real = RecordingTransport()
        writes = _CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        writes.write(b"{}")
        seen = [list(real.writes)]  # nothing sent yet
        await _turn()
        seen.append(list(real.writes))
        writes.write(b"next")
        await _turn()
        seen.append(list(real.writes))
        return seen

    before, after, later = asyncio.run(scenario())
    assert before == []
    assert after == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert later == [*after, b"next"]


def test_close_sends_what_is_pending_first() -> None:
    async def scenario() -> RecordingTransport:
        real = RecordingTransport()
        writes = _CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"last answer")
        writes.close()
        await _turn()  # the scheduled flush finds nothing left
        return real

    real = asyncio.run(scenario())
    assert real.writes == [b"last answer"]
    assert real.closed


def test_writes_to_a_closing_transport_are_dropped_and_the_rest_is_passed_on() -> None:
    async def scenario() -> tuple[RecordingTransport, Any]:
        real = RecordingTransport()
        writes = _CoalescedWrites(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        writes.write(b"too late")
        real.closed = True  # the peer went away before the turn ended
        await _turn()
        return real, writes.get_extra_info("peername")

    real, peer = asyncio.run(scenario())
    assert real.writes == []
    assert peer == ("127.0.0.1", 9)


def test_the_servers_use_the_protocol() -> None:
    import uvicorn

    from vigil.cli.serving import UVICORN_OPTIONS

    config = uvicorn.Config(app=lambda scope, receive, send: None, **UVICORN_OPTIONS)
    config.load()
    assert config.http_protocol_class is CoalescingHttpToolsProtocol
