"""Processes of the demo federation: ``vigil`` commands and servers on loopback.

:class:`Commands` runs the ``vigil`` command line as real subprocesses, the
way each party would type it (the same Python, ``-m vigil``), in the demo's
working directory, and records what it ran. :class:`Servers` starts
long-running ``vigil log serve`` / ``vigil witness serve`` processes and
stops every one of them when its ``with`` block ends, whatever ends it
(a failed step, an exception, Ctrl-C): SIGTERM, then SIGKILL after a grace
period. On Linux each server also gets ``PR_SET_PDEATHSIG``, so it dies
with the demo even if the demo itself is killed with SIGKILL.

:func:`free_ports` picks loopback ports before anything starts, because the
charter has to name the servers' URLs before the servers exist.
"""

from __future__ import annotations

import contextlib
import ctypes
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from vigil.errors import ConfigError

__all__ = [
    "CommandError",
    "Commands",
    "Server",
    "Servers",
    "free_ports",
    "port_open",
]

_COMMAND_TIMEOUT_S = 120.0
_START_TIMEOUT_S = 30.0
_STOP_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


class CommandError(ConfigError):
    """A command of the story did not do what it should (output in the message)."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _vigil_command() -> list[str]:
    return [sys.executable, "-m", "vigil"]


@dataclass
class Commands:
    """Runs ``vigil`` commands as subprocesses in ``workdir``.

    Attributes:
        workdir: The working directory (file arguments are relative to it).
        echo: Called with each command line before it runs (for the narrative).
        ran: How many commands ran.
    """

    workdir: Path
    echo: Callable[[str], None] = field(default=lambda line: None)
    ran: int = 0

    def run(
        self, *args: str, expect: Sequence[int] = (0,), quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``vigil ARGS``; CommandError unless its exit code is in ``expect``."""
        if not quiet:
            self.echo("vigil " + shlex.join(args))
        self.ran += 1
        try:
            result = subprocess.run(
                [*_vigil_command(), *args], cwd=self.workdir, capture_output=True, text=True,
                timeout=_COMMAND_TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CommandError(f"vigil {shlex.join(args)}: no answer in {exc.timeout} s") from exc
        if result.returncode not in expect:
            output = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise CommandError(
                f"vigil {shlex.join(args)}: exit {result.returncode}, expected "
                f"{' or '.join(map(str, expect))}\n{output}"
            )
        return result

    def run_all(self, commands: Sequence[Sequence[str]]) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands at the same time (each must exit 0); results in order."""
        for args in commands:
            self.echo("vigil " + shlex.join(args))
        processes = [
            subprocess.Popen(
                [*_vigil_command(), *args], cwd=self.workdir, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            for args in commands
        ]
        results = []
        try:
            for args, process in zip(commands, processes, strict=True):
                out, err = process.communicate(timeout=_COMMAND_TIMEOUT_S)
                self.ran += 1
                result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
                if result.returncode != 0:
                    raise CommandError(
                        f"vigil {shlex.join(args)}: exit {result.returncode}\n"
                        f"{(err.strip() or out.strip())[-2000:]}"
                    )
                results.append(result)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        return results


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the demo process dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    """One server process: its name, URL, process and output file."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def tail(self, limit: int = 1500) -> str:
        """The end of what the server wrote (for error messages)."""
        try:
            return self.output.read_text(encoding="utf-8", errors="replace")[-limit:]
        except OSError:
            return ""


class Servers:
    """Starts servers and stops all of them when the ``with`` block ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Server] = []

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(self, name: str, args: Sequence[str], port: int, output: Path) -> Server:
        """Run ``vigil ARGS`` (a ``serve`` command on ``port``) until it prints its URL."""
        with output.open("ab") as sink:
            process = subprocess.Popen(
                [*_vigil_command(), *args], cwd=self.workdir, stdout=sink,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops it
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        server = Server(name, f"http://127.0.0.1:{port}", port, process, output)
        self.started.append(server)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(
                    f"{name} exited with {process.returncode} while starting:\n{server.tail()}"
                )
            if "listening on " in server.tail(100_000) and port_open(port):
                return server
            time.sleep(0.05)
        raise CommandError(f"{name} did not start in {_START_TIMEOUT_S:.0f} s:\n{server.tail()}")

    def stop(self, server: Server) -> None:
        """SIGTERM, then SIGKILL after a grace period; waits for the process to end."""
        process = server.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()

    def stop_all(self) -> None:
        """Stop every server started, newest first (all get SIGTERM at once)."""
        running = [s for s in reversed(self.started) if s.process.poll() is None]
        for server in running:
            with contextlib.suppress(ProcessLookupError):
                server.process.send_signal(signal.SIGTERM)
        for server in running:
            self.stop(server)

    def __iter__(self) -> Iterator[Server]:
        return iter(self.started)

