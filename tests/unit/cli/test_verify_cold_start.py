"""``vigil verify`` starts on every package-manager refresh (issue 6: <= 150 ms
including the interpreter), so its path imports only what it uses. These
tests run it in a fresh interpreter and list what got imported: a stray
top-level import of a server package, httpx, rich or http.client fails here,
not as a slow benchmark weeks later."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from clientkit import REPO, charter_spec, signed_charter
from vigil.core.dsse import format_envelope

_RUN = """
import json, sys
from vigil.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as handle:
    json.dump(sorted(sys.modules), handle)
sys.exit(code)
"""

NEVER = (
    "vigil.log", "vigil.web", "vigil.witness", "vigil.monitor", "vigil.roles",
    "vigil._internal", "vigil.cli.log", "vigil.cli.witness", "vigil.cli.demo",
    "httpx", "starlette", "uvicorn", "rich", "http.client", "email", "ssl",
    "concurrent.futures", "_strptime", "textwrap",
)
"""Modules (and their submodules) ``vigil verify --json --repo`` over http never needs."""


def _closed_port() -> int:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    listener.close()
    return port


@pytest.fixture
def config(tmp_path: Path) -> Path:
    charter = tmp_path / "charter.dsse.json"
    charter.write_bytes(format_envelope(signed_charter(charter_spec())))
    metadata = tmp_path / "repomd.xml"
    metadata.write_bytes(b'<?xml version="1.0"?>\n<repomd><revision>1</revision></repomd>\n')
    path = tmp_path / "config.toml"
    path.write_text(
        f'charter = "{charter}"\nstate_dir = "{tmp_path / "state"}"\n'
        f'mirrors = ["http://127.0.0.1:{_closed_port()}"]\n\n'
        f'[[repository]]\nname = "{REPO}"\nmetadata = "{metadata}"\n'
    )
    return path


def imported_by(tmp_path: Path, *args: str) -> tuple[int, str, set[str]]:
    listing = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", _RUN, str(listing), *args],
                            capture_output=True, text=True, timeout=60, check=False)
    assert listing.exists(), result.stderr
    return result.returncode, result.stdout, set(json.loads(listing.read_text()))


def test_verify_imports_only_the_client_path(config: Path, tmp_path: Path) -> None:
    code, out, modules = imported_by(tmp_path, "verify", "--config", str(config), "--json",
                                     "--repo", REPO)
    # The run went all the way: charter, state, metadata, fetch (refused).
    assert code == 3 and json.loads(out)["verdict"] == "unavailable"
    assert {"vigil.client.run", "vigil.client.http11", "vigil.core.charter"} <= modules
    stray = sorted(m for m in modules for never in NEVER
                   if m == never or m.startswith(never + "."))
    assert stray == []


def test_human_output_needs_no_rich_either(config: Path, tmp_path: Path) -> None:
    code, out, modules = imported_by(tmp_path, "verify", "--config", str(config),
                                     "--repo", REPO)
    assert code == 3 and "UNAVAILABLE" in out
    assert {"vigil.client.run", "vigil.cli.verify"} <= modules
    assert not any(m == "rich" or m.startswith("rich.") for m in modules)
