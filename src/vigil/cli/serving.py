"""What `vigil log serve` and `vigil witness serve` share: logging, the socket, uvicorn."""

from __future__ import annotations

import logging
import socket
from typing import Any

from vigil.errors import ConfigError

__all__ = ["UVICORN_OPTIONS", "configure_logging", "listen", "run_uvicorn", "shown_address"]

# No per-request work the servers don't use: they read no X-Forwarded-*
# headers and needn't name their server software.
# Each response goes out in one write (vigil.cli.http_protocol); named, so that
# uvicorn is imported only by a command that serves.
UVICORN_OPTIONS: dict[str, Any] = {
    "proxy_headers": False,
    "server_header": False,
    "http": "vigil.cli.http_protocol:CoalescingHttpToolsProtocol",
}


def configure_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr, as operators read them."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket the server (or its front-end processes) can inherit.

    Raises:
        ConfigError: the address cannot be bound, naming it.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


def shown_address(sock: socket.socket) -> tuple[str, int]:
    """The bound host as a URL shows it (``[::1]``) and the port (the real one for port 0)."""
    host, port = sock.getsockname()[:2]
    return (f"[{host}]" if ":" in host else host), port


def run_uvicorn(app: Any, sock: socket.socket, *, graceful_s: int) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM, printing the URL first (tests wait on it)."""
    import uvicorn

    host, port = shown_address(sock)
    print(f"listening on http://{host}:{port}", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on",
            timeout_graceful_shutdown=graceful_s, **UVICORN_OPTIONS,
        )
    )
    server.run(sockets=[sock])
