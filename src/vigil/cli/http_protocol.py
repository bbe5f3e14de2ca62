"""uvicorn's HTTP protocol, with each response sent in one write.

uvicorn writes a response's head and its body with two ``transport.write``
calls, and uvloop sends each at once: two TCP segments per answer, each a
system call that on loopback also runs the receiver's side of TCP. For the
log's small, hot answers (a proof, a submission's index) that second send
was about a fifth of a front end's event-loop time.

:class:`CoalescingHttpToolsProtocol` gives uvicorn a transport that collects
the writes made in one turn of the event loop and sends them together at the
end of that turn. Nothing else changes: closing sends what is pending
first, and every other transport call goes to the real transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]


class _CoalescedWrites:
    """A transport whose writes in one turn of the event loop go out as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through :class:`_CoalescedWrites`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
