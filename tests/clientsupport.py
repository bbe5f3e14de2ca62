"""A real federation on loopback for client tests: log and witness processes, mirrors.

:func:`start_federation` writes a charter (2-of-3 foundation, the log, the
three witnesses started here with a 2-of-3 quorum, repositories ``oss`` and
``fast``), initialises the log with it (``vigil log init --key --charter``),
starts three ``vigil witness serve`` and one ``vigil log serve`` and returns a
:class:`Federation` whose :meth:`~Federation.verify` runs ``vigil verify`` as
a user would. :class:`Mirror` is an HTTP server in the test process that
answers whatever its handler says (a frozen or tampering mirror).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from charterkit import CharterSpec, Repo, rebuild, release, sign_charter
from clientkit import BOARD, LOG_KEY, ORIGIN, PUB, RB1, RB2, charter_spec, digest_of, metadata
from logsupport import ServerProcess, vigil
from vigil.core.dsse import Envelope, format_envelope
from witnesssupport import WitnessProcess, init_witness, write_policy

FAST = "fast"
"""A repository with a 4-second freshness window (for freshness attacks)."""


@dataclass
class Federation:
    """A running federation; see the module docstring."""

    root: Path
    spec: CharterSpec
    log_dir: Path
    log: ServerProcess
    witnesses: list[WitnessProcess]
    witness_dirs: list[Path]
    charter_file: Path
    state_dir: Path
    witness_vkeys: list[str]
    extra: list[Any] = field(default_factory=list)

    def submit(self, envelope: Envelope, status: int = 200) -> dict[str, Any]:
        response = httpx.post(self.log.url + "/api/v1/entries", content=format_envelope(envelope),
                              timeout=30)
        assert response.status_code == status, response.text
        return dict(response.json())

    def metadata_file(self, version: int, variant: str = "", name: str = "oss") -> Path:
        path = self.root / "repos" / name / f"v{version}{variant}" / "repodata" / "repomd.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(metadata(version, variant))
        return path

    def verify(
        self, metadata_path: Path, *args: str, repo: str = "oss", url: str | None = None,
        state_dir: Path | None = None, json_output: bool = True,
    ) -> tuple[int, Any]:
        """Run `vigil verify`; returns (exit code, parsed JSON or the text output)."""
        command = [
            "verify", "--repo", repo, "--metadata", str(metadata_path),
            "--charter", str(self.charter_file), "--state-dir", str(state_dir or self.state_dir),
            "--url", url or self.log.url, *args,
        ]
        if json_output:
            command.append("--json")
        result = vigil(*command, check=False)
        if json_output:
            assert result.stdout.strip(), result.stderr
            return result.returncode, json.loads(result.stdout)
        return result.returncode, result.stdout + result.stderr

    def publish(self, version: int, *, repo: str = "oss", rebuilders: Sequence[Any] = (RB1,),
                variant: str = "") -> Path:
        """Log release ``version`` (signed by the publisher) and rebuild attestations."""
        path = self.metadata_file(version, variant, repo)
        digest = digest_of(path.read_bytes())
        self.submit(release(repo, version, [PUB], digest=digest, published_s=int(time.time())))
        for rebuilder in rebuilders:
            self.submit(rebuild(repo, version, [rebuilder], digest=digest))
        return path

    def stop(self) -> None:
        self.log.stop()
        for witness in self.witnesses:
            witness.stop()
        for item in self.extra:
            item.stop()


def start_federation(
    root: Path, *, spec: CharterSpec | None = None, log_args: Sequence[str] = ()
) -> Federation:
    """Keys, witnesses, charter, log; everything running (see the module docstring)."""
    root.mkdir(parents=True, exist_ok=True)
    key_file = root / "log.key"
    key_file.write_text(LOG_KEY.skey + "\n")
    witness_dirs = [root / f"w{i}" for i in range(3)]
    vkeys = [init_witness(d, f"w{i}.test.example", [(ORIGIN, LOG_KEY.vkey)])
             for i, d in enumerate(witness_dirs)]
    # Keep a pristine copy of each witness (same key, empty state): the split
    # view test runs a compromised twin of two witnesses from it.
    for directory in witness_dirs:
        shutil.copytree(directory, directory.with_name(directory.name + "-pristine"))
    spec = spec or charter_spec(
        witnesses=vkeys,
        extra_repositories=[Repo(FAST, [PUB], rebuilders=[RB1, RB2], rebuilds_required=1,
                                 freshness_s=4)],
    )
    charter_file = root / "charter.dsse.json"
    charter_file.write_bytes(format_envelope(sign_charter(spec.text(), BOARD[:2])))
    log_dir = root / "log"
    vigil("log", "init", str(log_dir), "--origin", ORIGIN, "--key", str(key_file),
          "--charter", str(charter_file))
    witnesses = [WitnessProcess(d) for d in witness_dirs]
    write_policy(log_dir, LOG_KEY.vkey, [(k, w.url) for k, w in zip(vkeys, witnesses,
                                                                     strict=True)],
                 submit_wait_s=10.0)
    log = ServerProcess(log_dir, *log_args)
    log.wait_ready()
    return Federation(root, spec, log_dir, log, witnesses, witness_dirs, charter_file,
                      root / "state", vkeys)


def start_fork(federation: Federation, name: str = "fork") -> tuple[ServerProcess, list[Any]]:
    """A second log with the same key and charter, cosigned by twins of w0 and w1
    (their keys stolen, their state empty): a split view that meets the quorum."""
    root = federation.root / name
    twins = []
    urls = []
    for i in (0, 1):
        directory = root / f"w{i}-twin"
        shutil.copytree(federation.witness_dirs[i].with_name(f"w{i}-pristine"), directory)
        twin = WitnessProcess(directory)
        twins.append(twin)
        urls.append(twin.url)
    log_dir = root / "log"
    vigil("log", "init", str(log_dir), "--origin", ORIGIN, "--key",
          str(federation.root / "log.key"), "--charter", str(federation.charter_file))
    vkeys = federation.witness_vkeys[:2]
    write_policy(log_dir, LOG_KEY.vkey, list(zip(vkeys, urls, strict=True)), submit_wait_s=10.0)
    log = ServerProcess(log_dir)
    log.wait_ready()
    return log, twins


class Mirror:
    """An HTTP server on loopback whose answers come from ``handler(path) -> (status, body)``."""

    def __init__(self, handler: Callable[[str], tuple[int, bytes]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = handler(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def proxy(upstream: str, change: Callable[[dict[str, Any]], None]) -> Mirror:
    """A mirror that fetches each bundle from ``upstream`` and edits it with ``change``."""

    def handler(path: str) -> tuple[int, bytes]:
        response = httpx.get(upstream + path, timeout=30)
        if response.status_code != 200:
            return response.status_code, response.content
        document = response.json()
        change(document)
        return 200, json.dumps(document).encode()

    return Mirror(handler)

