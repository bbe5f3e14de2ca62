"""Auditing witnesses on loopback against real charter logs (issue 5 "Auditing mode").

The attack: a tampered log build (tests/tampered_log.py) signs a status map
that hides a newer release and an advisory. A witness that only checks
consistency cosigns it; an auditing witness replays the entries from the
log's tiles, recomputes the map and refuses (422, evidence kept). With a
quorum of two auditing witnesses the tampered log cannot publish at all.

And the honest case: an auditing witness cosigns every checkpoint of a log
with releases, rebuilds, advisories and a charter update, and after SIGKILL
and a restart rebuilds its state from the tiles and keeps cosigning.
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from charterkit import (
    Repo,
    advisory,
    one_repository,
    rebuild,
    release,
    sign_charter,
)
from logsupport import ROOT, ServerProcess, vigil
from vigil.core.checkpoint import parse_checkpoint
from vigil.core.dsse import Envelope, format_envelope
from vigil.core.note import parse_note
from vigil.core.policy import Policy, parse_policy, verify_policy_checkpoint
from vigil.log.config import format_config, parse_config
from vigil.witness import origin_hash
from witnesssupport import WitnessProcess

ORIGIN = "test.example/audited"
SPEC, BOARD, PUB, RB, SEC = one_repository("wa")
TAMPERED = [sys.executable, str(ROOT / "tests" / "tampered_log.py")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Deployment:
    log_dir: Path
    log: ServerProcess
    log_port: int
    cli: list[str] | None
    witnesses: list[WitnessProcess]
    names: list[str]
    policy: Policy

    def submit(self, envelope: Envelope) -> httpx.Response:
        return httpx.post(self.log.url + "/api/v1/entries", content=format_envelope(envelope),
                          timeout=30)

    def cosigners(self, note: bytes) -> list[str]:
        verified = verify_policy_checkpoint(self.policy, note)
        return sorted(p.name for c in verified.cosignatures
                      if (p := self.policy.witness_for(c)))

    def published_size(self) -> int:
        note = httpx.get(self.log.url + "/checkpoint", timeout=10).content
        return parse_checkpoint(parse_note(note).text).size

    def witness_size(self, number: int) -> int:
        response = httpx.get(f"{self.witnesses[number].url}/{origin_hash(ORIGIN)}/checkpoint",
                             timeout=10)
        assert response.status_code == 200, response.text
        return parse_checkpoint(parse_note(response.content).text).size


def deploy(tmp_path: Path, *, audits: list[bool], quorum: list[int],
           cli: list[str] | None = None) -> Deployment:
    """A charter log and witnesses (``audits[i]``: witness i audits); the log's
    policy requires every witness numbered in ``quorum``."""
    log_dir = tmp_path / "log"
    charter_file = tmp_path / "charter.json"
    charter_file.write_bytes(format_envelope(sign_charter(SPEC.text(), [BOARD])))
    vigil("log", "init", str(log_dir), "--origin", ORIGIN, "--charter", str(charter_file))
    config = parse_config((log_dir / "config.toml").read_text())
    log_port = free_port()
    extra: dict[str, Any] = {}
    if cli is not None:
        extra = {"cli": cli, "env": {"VIGIL_TAMPER_HIDE": "oss"}}
    witnesses, keys, names = [], [], []
    for number, audit in enumerate(audits):
        directory = tmp_path / f"w{number}"
        out = vigil("witness", "init", str(directory), "--name", f"witness.example/w{number}")
        keys.append(out.stdout.split("witness key: ", 1)[1].strip())
        url = ["--url", f"http://127.0.0.1:{log_port}"] + (["--audit"] if audit else [])
        vigil("witness", "add-log", str(directory), "--origin", ORIGIN,
              "--vkey", config.public_key, *url)
        witnesses.append(WitnessProcess(directory))
        names.append(f"w{number}")
    text = f"log {config.public_key}\n" + "".join(
        f"witness w{i} {k} {w.url}\n"
        for i, (k, w) in enumerate(zip(keys, witnesses, strict=True))
    ) + f"group required {len(quorum)} " + " ".join(f"w{i}" for i in quorum) \
        + "\nquorum required\n"
    (log_dir / "witnesses.policy").write_text(text)
    config = replace(
        config,
        sequencer=replace(config.sequencer, checkpoint_interval_s=0.05, submit_wait_s=3.0),
        witnesses=replace(config.witnesses, policy_file="witnesses.policy", timeout_s=3.0),
    )
    (log_dir / "config.toml").write_text(format_config(config))
    log = ServerProcess(log_dir, "--port", str(log_port), **extra)
    deployment = Deployment(log_dir, log, log_port, cli, witnesses, names, parse_policy(text))
    log.wait_ready()
    return deployment


@pytest.fixture
def stack() -> Iterator[list[Deployment]]:
    deployments: list[Deployment] = []
    yield deployments
    for deployment in deployments:
        deployment.log.stop()
        for witness in deployment.witnesses:
            witness.stop()


def evidence(witness: WitnessProcess) -> list[dict[str, Any]]:
    out = vigil("witness", "evidence", str(witness.directory)).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_auditing_witnesses_refuse_a_map_that_hides_a_release(
    tmp_path: Path, stack: list[Deployment]
) -> None:
    # w0 and w1 audit and the policy requires both; w2 only checks consistency.
    d = deploy(tmp_path, audits=[True, True, False], quorum=[0, 1], cli=TAMPERED)
    stack.append(d)
    first = d.submit(release("oss", 1, [PUB]))  # the record the tampered log freezes
    assert first.status_code == 200, first.text
    assert d.cosigners(first.json()["checkpoint"].encode()) == ["w0", "w1", "w2"]
    published = d.published_size()

    # The lie: release 2 and an advisory, hidden from the signed map.
    assert d.submit(release("oss", 2, [PUB])).status_code == 202
    assert d.submit(advisory("oss", "VSA-1", [SEC], version=2)).status_code == 202
    deadline = time.monotonic() + 30
    while d.witness_size(2) < published + 2:
        assert time.monotonic() < deadline, "the non-auditing witness never cosigned"
        time.sleep(0.1)

    # The non-auditing witness cosigned the lie; the auditors did not, so the
    # log could not publish it.
    assert d.published_size() == published
    assert d.witness_size(0) == d.witness_size(1) == published
    for witness in d.witnesses[:2]:
        kept = evidence(witness)
        assert kept, "the auditing witness kept no evidence"
        assert "signs vigil-status-map root" in kept[0]["reason"]
        assert "the log's status map is not what its entries make it" in kept[0]["reason"]
        # The same request again: a 422 with a clear message, every time.
        response = witness.post(base64.b64decode(kept[0]["request"]))
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "bad-proof"
        assert "replaying entries [0, " in response.json()["message"]
    assert evidence(d.witnesses[2]) == []


def test_auditing_witness_follows_an_honest_log_and_survives_sigkill(
    tmp_path: Path, stack: list[Deployment]
) -> None:
    d = deploy(tmp_path, audits=[True, False], quorum=[0])
    stack.append(d)

    def published(envelope: Envelope) -> None:
        response = d.submit(envelope)
        assert response.status_code == 200, response.text
        assert "w0" in d.cosigners(response.json()["checkpoint"].encode())

    published(release("oss", 1, [PUB]))
    published(rebuild("oss", 1, [RB]))
    published(release("oss", 2, [PUB]))
    published(advisory("oss", "VSA-1", [SEC], version=2))
    spec2 = SPEC.next(repositories=[Repo("oss", [PUB, RB], rebuilders=[RB])])
    published(sign_charter(spec2.text(), [BOARD]))
    published(release("oss", 3, [RB]))  # a publisher only under charter v2

    d.witnesses[0].kill()
    d.witnesses[0] = WitnessProcess(d.witnesses[0].directory, port=d.witnesses[0].port)
    published(rebuild("oss", 3, [RB]))
    published(release("oss", 4, [PUB]))
    log_text = (d.witnesses[0].directory / "server.log").read_text()
    assert "audited state rebuilt from 7 entries" in log_text  # after the restart
    assert evidence(d.witnesses[0]) == []
