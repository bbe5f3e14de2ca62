"""A real log with three real witnesses on loopback, quorum 2 of 3.

One dead or black-holed witness: the log still publishes, without waiting
for it. Two dead: nothing new is published (submissions get 202 and
/checkpoint stays), until a witness comes back.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from logsupport import ServerProcess, entry_bytes, vigil
from vigil.core.freshness import verify_fresh_checkpoint
from vigil.core.policy import Policy, verify_policy_checkpoint
from vigil.errors import FreshnessError
from witnesssupport import WitnessProcess, init_witness, write_policy

ORIGIN = "log.example/witnessed-log"


@dataclass
class Deployment:
    log_dir: Path
    log: ServerProcess
    witnesses: list[WitnessProcess]
    policy: Policy

    def submit(self, name: str) -> httpx.Response:
        return httpx.post(self.log.url + "/api/v1/entries", content=entry_bytes(name), timeout=30)

    def checkpoint(self) -> bytes:
        return httpx.get(self.log.url + "/checkpoint", timeout=10).content


def setup_log(tmp_path: Path) -> tuple[Path, str]:
    log_dir = tmp_path / "log"
    out = vigil("log", "init", str(log_dir), "--origin", ORIGIN).stdout
    vkey = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("log key"))
    return log_dir, vkey


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    log_dir, log_vkey = setup_log(tmp_path)
    witnesses, keys = [], []
    for i in range(3):
        directory = tmp_path / f"w{i}"
        keys.append(init_witness(directory, f"witness.example/w{i}", [(ORIGIN, log_vkey)]))
        witnesses.append(WitnessProcess(directory))
    urls = [(k, w.url) for k, w in zip(keys, witnesses, strict=True)]
    policy = write_policy(log_dir, log_vkey, urls)
    deployment = Deployment(log_dir, ServerProcess(log_dir), witnesses, policy)
    try:
        deployment.log.wait_ready()
        yield deployment
    finally:
        deployment.log.stop()  # the current one: a test may have restarted it
        for witness in deployment.witnesses:
            witness.stop()


def cosigners(deployment: Deployment, note: bytes) -> list[str]:
    verified = verify_policy_checkpoint(deployment.policy, note)
    return sorted(p.name for c in verified.cosignatures if (p := deployment.policy.witness_for(c)))


def test_quorum_published_and_served(deployment: Deployment) -> None:
    response = deployment.submit("all-up")
    assert response.status_code == 200, response.text
    note = response.json()["checkpoint"].encode()
    assert cosigners(deployment, note) == ["w0", "w1", "w2"]
    assert deployment.checkpoint() == note
    # Fresh now; the same bytes replayed an hour later are stale.
    now = int(time.time())
    assert verify_fresh_checkpoint(deployment.policy, note, now=now, max_age_s=60).age_s <= 5
    with pytest.raises(FreshnessError):
        verify_fresh_checkpoint(deployment.policy, note, now=now + 3600, max_age_s=60)
    # After a log restart the collector believes every witness holds size 0:
    # each answers 409 with its size, and the resend carries a consistency proof.
    deployment.log.stop()
    deployment.log = ServerProcess(deployment.log_dir)
    deployment.log.wait_ready()
    response = deployment.submit("after-restart")
    assert response.status_code == 200, response.text
    assert cosigners(deployment, response.json()["checkpoint"].encode()) == ["w0", "w1", "w2"]


def test_one_dead_witness_does_not_stop_the_log(deployment: Deployment) -> None:
    deployment.witnesses[2].kill()
    response = deployment.submit("one-dead")
    assert response.status_code == 200, response.text
    assert cosigners(deployment, response.json()["checkpoint"].encode()) == ["w0", "w1"]


def test_two_dead_witnesses_withhold_the_checkpoint(deployment: Deployment) -> None:
    assert deployment.submit("before").status_code == 200
    before = deployment.checkpoint()
    deployment.witnesses[1].kill()
    deployment.witnesses[2].kill()
    response = deployment.submit("two-dead")
    # Sequenced (durably committed) but not in any published checkpoint.
    assert response.status_code == 202, response.text
    index = response.json()["index"]
    assert deployment.checkpoint() == before
    assert httpx.get(f"{deployment.log.url}/api/v1/entries/{index}").status_code == 404
    # A witness comes back (same port): the log publishes on its next retry.
    revived = WitnessProcess(deployment.witnesses[1].directory, deployment.witnesses[1].port)
    deployment.witnesses[1] = revived
    deadline = time.monotonic() + 15
    while deployment.checkpoint() == before:
        assert time.monotonic() < deadline, "not published after the witness came back"
        time.sleep(0.1)
    note = deployment.checkpoint()
    assert cosigners(deployment, note) == ["w0", "w1"]
    assert httpx.get(f"{deployment.log.url}/api/v1/entries/{index}").status_code == 200


def test_black_holed_witness_does_not_stall_publication(tmp_path: Path) -> None:
    """A witness that accepts connections and never answers costs no publication latency."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # never accepted, never answered
    try:
        log_dir, log_vkey = setup_log(tmp_path)
        witnesses, keys = [], []
        for i in range(2):
            directory = tmp_path / f"w{i}"
            keys.append(init_witness(directory, f"witness.example/w{i}", [(ORIGIN, log_vkey)]))
            witnesses.append(WitnessProcess(directory))
        hole_key = init_witness(tmp_path / "hole", "witness.example/hole", [])
        hole_url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        urls = [(k, w.url) for k, w in zip(keys, witnesses, strict=True)]
        write_policy(log_dir, log_vkey, [*urls, (hole_key, hole_url)])
        log = ServerProcess(log_dir)
        try:
            log.wait_ready()
            for i in range(5):
                start = time.monotonic()
                response = httpx.post(
                    log.url + "/api/v1/entries", content=entry_bytes(f"hole-{i}"), timeout=30
                )
                assert response.status_code == 200, response.text
                # The witness timeout is 1.5 s: publication must not wait for it.
                assert time.monotonic() - start < 1.0
        finally:
            log.stop()
            for witness in witnesses:
                witness.stop()
    finally:
        hole.close()
