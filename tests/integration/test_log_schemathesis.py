"""Property-based API testing of the live log server against its OpenAPI document.

Runs schemathesis (a dev dependency) with every check except
``positive_data_acceptance``: a schema cannot express "the signature verifies",
so schema-valid submissions are legitimately refused (400/403/422).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from logsupport import ServerProcess, entry_bytes, vigil


def test_schemathesis_finds_no_server_error_or_schema_violation(tmp_path: Path) -> None:
    executable = str(Path(sys.executable).parent / "schemathesis")
    assert Path(executable).exists(), "schemathesis is a dev dependency: pip install -e .[dev]"
    directory = tmp_path / "log"
    vigil("log", "init", str(directory), "--origin", "st.example/log")
    server = ServerProcess(directory)
    try:
        server.wait_ready()
        for i in range(20):
            httpx.post(server.url + "/api/v1/entries", content=entry_bytes(f"st-{i}"), timeout=30)
        result = subprocess.run(
            [executable, "run", server.url + "/openapi.json",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
             "--max-examples", "25", "--seed", "1", "--request-timeout", "20",
             "--no-color"],
            capture_output=True, text=True, timeout=400,
        )
        assert result.returncode == 0, result.stdout[:6000] + result.stderr[-2000:]
    finally:
        server.stop()
