"""Helpers shared by the log tests: signed entries, log directories, server processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, Envelope, format_envelope, sign_envelope
from vigil.core.intoto import STATEMENT_TYPE_V1
from vigil.core.note import Ed25519Signer, generate_signer
from vigil.log.kinds import ARTIFACT_PREDICATE_TYPE

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("VIGIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
# How to run the CLI; VIGIL_TEST_CLI overrides it (e.g. a wrapper script).
CLI = [sys.executable, *os.environ.get("VIGIL_TEST_CLI", "-m vigil").split()]


def signer(name: str = "alice.example", number: int = 1) -> Ed25519Signer:
    """A deterministic test signer."""
    return generate_signer(name, seed=hashlib.sha256(f"{name}/{number}".encode()).digest())


def statement(
    name: str,
    *,
    predicate_type: str = ARTIFACT_PREDICATE_TYPE,
    predicate: dict[str, Any] | None = None,
    digest: str | None = None,
) -> bytes:
    """An in-toto statement about one artifact."""
    value = digest or hashlib.sha256(name.encode()).hexdigest()
    document = {
        "_type": STATEMENT_TYPE_V1,
        "subject": [{"name": name, "digest": {"sha256": value}}],
        "predicateType": predicate_type,
        "predicate": predicate if predicate is not None else {"description": name},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def envelope(
    payload: bytes,
    signers: Sequence[Ed25519Signer],
    *,
    payload_type: str = PAYLOAD_TYPE_INTOTO,
) -> Envelope:
    """A DSSE envelope whose keyids are the signers' full verifier keys."""
    return sign_envelope(payload_type, payload, signers)


def entry_bytes(name: str, signers: Sequence[Ed25519Signer] | None = None, **kwargs: Any) -> bytes:
    """A signed artifact entry, as JSON bytes."""
    return format_envelope(envelope(statement(name, **kwargs), signers or [signer()]))


def pg_available() -> bool:
    """Whether the test PostgreSQL server answers."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema in the test database; yields a URL whose search_path is it."""
    if not pg_available():
        pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL}: start it (.ci/run does)")
    name = "vigil_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    try:
        yield f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def vigil(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a subprocess."""
    result = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"vigil {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


class ListeningProcess:
    """A `vigil ... serve` subprocess that prints "listening on URL" (log, witness)."""

    def __init__(
        self, command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = log_path
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _close()
        self.process = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, stderr=self._log, cwd=ROOT,
            env=None if env is None else {**os.environ, **env},
        )
        self.url = self._read_url(timeout_s=30)

    def _read_url(self, timeout_s: float) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        os.set_blocking(self.process.stdout.fileno(), False)
        buffer = b""
        while time.monotonic() < deadline:
            chunk = self.process.stdout.read()
            if chunk:
                buffer += chunk
                for line in buffer.decode(errors="replace").splitlines():
                    if line.startswith("listening on "):
                        return line.removeprefix("listening on ").strip()
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("server did not report its address in time")

    def kill(self) -> None:
        """SIGKILL, no cleanup."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self._close()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._close()
        return self.process.returncode

    def _close(self) -> None:
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.stdout.close()
        if not self._log.closed:
            self._log.close()


class ServerProcess(ListeningProcess):
    """A `vigil log serve` subprocess on an ephemeral loopback port."""

    def __init__(
        self,
        directory: Path,
        *extra: str,
        log_path: Path | None = None,
        cli: Sequence[str] = CLI,
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        super().__init__(
            [*cli, "log", "serve", str(directory), "--host", "127.0.0.1", "--port", "0", *extra],
            log_path or directory / "server.log", env,
        )

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Poll /checkpoint until it answers 200."""
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/checkpoint", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("server not ready in time")
