"""A charter log server on loopback (a real process), honest or a tampered build.

`charter_log` initialises a log whose entry 0 is a charter, shortens its
checkpoint interval so tests run quickly, and starts it as a real process:
the real `vigil log serve`, or tests/tampered_log.py with the environment that
selects its lie (e.g. ``{"VIGIL_TAMPER_HIDE": "oss"}``). ``charterlog.py`` is
the in-process variant.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from charterkit import sign_charter
from logsupport import ROOT, ServerProcess, vigil
from vigil.core.dsse import Envelope, format_envelope
from vigil.core.note import Ed25519Signer
from vigil.log.config import format_config, parse_config

TAMPERED = [sys.executable, str(ROOT / "tests" / "tampered_log.py")]


@dataclass
class CharterLogServer:
    directory: Path
    server: ServerProcess
    log_key: str

    @property
    def url(self) -> str:
        return self.server.url

    def submit(self, envelope: Envelope, status: int = 200) -> dict[str, Any]:
        """POST one envelope and check the answer's status."""
        response = httpx.post(self.url + "/api/v1/entries", content=format_envelope(envelope),
                              timeout=30)
        assert response.status_code == status, response.text
        return dict(response.json())

    def cli(self, *args: str, check: bool = True) -> Any:
        """A role command against this log."""
        return vigil(*args, "--url", self.url, "--log-key", self.log_key, check=check)

    def audit(self) -> Any:
        return vigil("audit", self.url, "--log-key", self.log_key, "--quiet", check=False)


@contextmanager
def charter_log(
    tmp_path: Path, name: str, *, origin: str, charter: bytes,
    board: Sequence[Ed25519Signer], tamper: Mapping[str, str] | None = None,
) -> Iterator[CharterLogServer]:
    """A running log with ``charter`` signed by ``board``; a tampered build if ``tamper``."""
    directory = tmp_path / name
    charter_file = tmp_path / f"{name}-charter.json"
    charter_file.write_bytes(format_envelope(sign_charter(charter, board)))
    vigil("log", "init", str(directory), "--origin", origin, "--charter", str(charter_file))
    config = parse_config((directory / "config.toml").read_text())
    config = replace(
        config, sequencer=replace(config.sequencer, checkpoint_interval_s=0.05, submit_wait_s=10.0)
    )
    (directory / "config.toml").write_text(format_config(config))
    extra: dict[str, Any] = {}
    if tamper is not None:
        extra = {"cli": TAMPERED, "env": dict(tamper)}
    server = ServerProcess(directory, **extra)
    try:
        server.wait_ready()
        yield CharterLogServer(directory, server, config.public_key)
    finally:
        server.stop()
