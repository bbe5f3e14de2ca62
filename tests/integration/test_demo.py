"""`vigil demo` as a user runs it: the whole story, in under a minute, nothing left running.

The demo needs rpmbuild, dpkg-deb, createrepo_c and apt-ftparchive (.ci/run
installs them).
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from rich.console import Console

from logsupport import CLI, ROOT
from toolsupport import need
from vigil.cli.demo.packages import BuildError
from vigil.cli.demo.story import DemoStory, Narrator

TIME_LIMIT_S = 60.0
SERVER = re.compile(r"listening on http://127\.0\.0\.1:(\d+) \(pid (\d+)\)")


@pytest.fixture(autouse=True)
def tools() -> None:
    for tool, package in (("rpmbuild", "rpm"), ("dpkg-deb", "dpkg"),
                          ("createrepo_c", "createrepo-c"), ("apt-ftparchive", "apt-utils")):
        need(tool, package)


def _env() -> dict[str, str]:
    # Wide enough that rich does not wrap the lines asserted on.
    return {**os.environ, "COLUMNS": "250"}


def _servers(output: str) -> list[tuple[int, int]]:
    """(port, pid) of each server the demo said it started."""
    return [(int(port), int(pid)) for port, pid in SERVER.findall(output)]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _assert_nothing_left(servers: list[tuple[int, int]]) -> None:
    assert servers, "the demo names its servers"
    for port, pid in servers:
        assert _gone(pid), f"server pid {pid} still running"
        assert _port_closed(port), f"port {port} still open"


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*CLI, "demo", "--workdir", str(tmp_path / "demo")], cwd=ROOT, env=_env(),
        capture_output=True, text=True, timeout=180, check=False,
    )
    elapsed = time.monotonic() - started
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert elapsed < TIME_LIMIT_S, f"the demo took {elapsed:.1f} s"
    for line in (
        "1. The foundation writes the charter",
        "bob signs it (vigil charter sign): 2 of 2 signatures, the threshold is met",
        "vigil charter verify: charter vigil-demo v1 is valid",
        "2. The log and three witnesses start on loopback",
        "quorum 2 of 3 met",
        "3. The publisher builds, publishes and logs",
        "built hello-vigil-1.0-1.noarch.rpm twice: byte-identical",
        "built hello-vigil_1.0_all.deb twice: byte-identical",
        "release demo-rpm v1 signed by publisher-rpm and logged at index 1",
        "release demo-deb v1 signed by publisher-deb and logged at index 2",
        "4. Two rebuilders rebuild from source and attest",
        '4 attestations, all "reproduced", logged at indexes 3, 4, 5, 6',
        "5. A user verifies both repositories",
        "✓ demo-rpm version 1: verified (exit 0): fresh, consistent, charter, current, "
        "authorized, reproduced, not-warned",
        "✓ demo-deb version 1: verified (exit 0)",
        "6. Three attacks",
        "6a. Metadata changed after publication",
        "6b. A replayed old repository state",
        "6c. A release the security team blocked",
        "Every step went as expected and every attack was caught",
    ):
        assert line in output, f"missing {line!r} in:\n{output}"
    assert "NOT AS EXPECTED" not in output
    # Each attack: the attacker's move, then the client's refusal with exit 1.
    attacks = output.split("6a. ", 1)[1]
    assert attacks.count("⚠ attack:") == 3
    assert attacks.count("✗ rejected by vigil verify (exit 1)") == 3
    # Version 2 was accepted before version 1 was replayed.
    replay = attacks.split("6b. ", 1)[1].split("6c. ", 1)[0]
    assert replay.index("✓ demo-rpm version 2: verified (exit 0)") < replay.index("✗ rejected")
    assert "✗ rejected by vigil verify (exit 1): current:" in replay
    blocked = attacks.split("6c. ", 1)[1]
    assert "✗ rejected by vigil verify (exit 1): not-warned: blocked by VSA-DEMO-1" in blocked
    _assert_nothing_left(_servers(output))
    assert (tmp_path / "demo" / "user" / "charter.dsse.json").is_file()


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*CLI, "demo"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    output = ""
    try:
        for line in process.stdout:
            output += line
            if "log log.demo.vigil.example listening on" in line:
                break
        servers = _servers(output)
        assert len(servers) == 4, output
        workdir = re.search(r"working directory: (\S+)", output)
        assert workdir is not None
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output += rest
    assert process.returncode == 130, output
    assert "interrupted" in output
    _assert_nothing_left(servers)
    assert not Path(workdir.group(1)).exists(), "the temporary directory is removed"


def test_self_check_still_runs() -> None:
    result = subprocess.run(
        [*CLI, "demo", "--self-check", "--entries", "200"], cwd=ROOT, env=_env(),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All checks passed and every attack was caught." in result.stdout
    assert result.stdout.count("✓ caught") == 5


def test_a_failed_step_stops_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: DemoStory) -> None:
        raise BuildError("rpmbuild exploded")

    monkeypatch.setattr(DemoStory, "publish", broken)
    out = io.StringIO()
    story = DemoStory(tmp_path, Narrator(Console(file=out, width=250), show_commands=False))
    assert story.run() == 1
    output = out.getvalue()
    assert "✗ NOT AS EXPECTED: the story stopped: rpmbuild exploded" in output
    assert "5. A user verifies" not in output
    _assert_nothing_left(_servers(output))
