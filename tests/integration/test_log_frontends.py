"""`vigil log serve --workers N`: front-end processes feeding one sequencer process."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from pathlib import Path

import httpx

from logsupport import ServerProcess, entry_bytes, vigil
from vigil.core.checkpoint import verify_checkpoint
from vigil.core.merkle import hash_leaf
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.core.proof import verify_inclusion
from vigil.log.config import parse_config

ORIGIN = "frontends.example/log"


def frontend_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"serve-frontend" in cmdline:
                pids.append(int(entry.name))
    return pids


def test_front_ends_submit_read_and_die_with_the_sequencer(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    vigil("log", "init", str(directory), "--origin", ORIGIN)
    config = parse_config((directory / "config.toml").read_text())
    key = parse_verifier_key(config.public_key)
    assert isinstance(key, Ed25519Verifier)
    server = ServerProcess(directory, "--workers", "2")
    try:
        server.wait_ready()
        with httpx.Client(timeout=30) as http:
            # A single entry: answered with its checkpoint and proof.
            data = entry_bytes("fe-single")
            single = http.post(server.url + "/api/v1/entries", content=data)
            assert single.status_code == 200, single.text
            result = single.json()
            checkpoint = verify_checkpoint(
                result["checkpoint"].encode(), origin=ORIGIN, log_verifier=key
            ).checkpoint
            verify_inclusion(
                result["index"], checkpoint.size, hash_leaf(data),
                [base64.b64decode(h) for h in result["inclusion_proof"]],
                checkpoint.root_hash,
            )
            # A batch, then duplicates, through whichever front end answers.
            batch = [entry_bytes(f"fe-batch-{i}") for i in range(50)]
            body = {"entries": [json.loads(e) for e in batch]}
            answer = http.post(server.url + "/api/v1/entries:batch", json=body)
            assert answer.status_code == 200, answer.text
            indexes = [item["index"] for item in answer.json()["entries"]]
            assert sorted(indexes) == list(range(1, 51))
            again = http.post(server.url + "/api/v1/entries:batch", json=body)
            assert [item["index"] for item in again.json()["entries"]] == indexes
            # No wait: 202 as soon as it is sequenced.
            quick = http.post(server.url + "/api/v1/entries?wait_ms=0",
                              content=entry_bytes("fe-quick"))
            assert quick.status_code in (200, 202), quick.text
            # Reads: entry, proof by index, refusals with the usual errors.
            for _ in range(20):  # each request may reach another front end
                size = int(http.get(server.url + "/checkpoint").text.split("\n")[1])
                if size >= 52:
                    break
                time.sleep(0.1)
            entry = http.get(server.url + "/api/v1/entries/0")
            assert entry.status_code == 200
            assert base64.b64decode(entry.json()["entry"]) == data
            proof = http.get(server.url + "/api/v1/proof/inclusion?index=1")
            assert proof.status_code == 200, proof.text
            bad = http.post(server.url + "/api/v1/entries", content=b"{}")
            assert bad.status_code == 400
            assert bad.json()["error"] == "malformed"
        frontends = frontend_pids(server.process.pid)
        assert len(frontends) == 2
        # The sequencer process dies: the front ends exit and free the port.
        os.kill(server.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            Path(f"/proc/{pid}").exists() and b"Z" not in _state(pid) for pid in frontends
        ):
            time.sleep(0.05)
        assert not any(Path(f"/proc/{pid}").exists() and b"Z" not in _state(pid)
                       for pid in frontends)
        server.kill()
        # A restarted server (no workers) has every acknowledged entry.
        restarted = ServerProcess(directory)
        try:
            restarted.wait_ready()
            size = int(httpx.get(restarted.url + "/checkpoint").text.split("\n")[1])
            assert size == 52
        finally:
            restarted.stop()
    finally:
        server.kill()


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"Z"
