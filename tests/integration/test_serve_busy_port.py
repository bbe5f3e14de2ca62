"""`vigil log serve` and `vigil witness serve` on a port already taken: a clear error, exit 2.

The operator's mistake (a second server on the same port) must say which
address could not be bound, not end in a traceback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from logsupport import vigil

EXIT_USAGE = 2


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_log_serve_on_a_busy_port_names_the_address(tmp_path: Path, busy_port: int) -> None:
    vigil("log", "init", str(tmp_path / "log"), "--origin", "test.example/busy")
    result = vigil("log", "serve", str(tmp_path / "log"), "--host", "127.0.0.1",
                   "--port", str(busy_port), check=False, timeout=30)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr


def test_witness_serve_on_a_busy_port_names_the_address(tmp_path: Path, busy_port: int) -> None:
    vigil("witness", "init", str(tmp_path / "w"), "--name", "w.example")
    result = vigil("witness", "serve", str(tmp_path / "w"), "--host", "127.0.0.1",
                   "--port", str(busy_port), check=False, timeout=30)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr
