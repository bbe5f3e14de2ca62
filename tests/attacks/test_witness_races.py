"""Atomic check-and-update under concurrency, and durability under SIGKILL (real processes).

Threat: the race in c2sp.org/tlog-witness "add-checkpoint" (two requests
checked against the same stored size, both stored: a rollback or two roots
for one size), and a crash between cosigning and storing.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

from vigil.core.checkpoint import verify_checkpoint
from vigil.core.cosignature import CosignatureVerifier
from vigil.core.note import parse_note, parse_verifier_key
from vigil.core.tlog_witness import parse_add_checkpoint, parse_cosignature_lines
from witnesssupport import Tree, WitnessProcess, init_witness, log_signer, request_body

LOGS = [log_signer(f"log.example/race{i}") for i in range(2)]


def forked(base: Tree, common: int, name: str) -> Tree:
    """A tree that shares the first ``common`` leaves of ``base`` and then differs."""
    tree = Tree(name)
    tree.leaves = list(base.grow(common).leaves[:common])
    return tree


def state_of(process: WitnessProcess, origin: str) -> tuple[int, bytes] | None:
    digest = hashlib.sha256(origin.encode()).hexdigest()
    response = httpx.get(f"{process.url}/{digest}/checkpoint", timeout=10)
    if response.status_code == 404:
        return None
    log = next(s for s in LOGS if s.name == origin)
    verified = verify_checkpoint(response.content, origin=origin, log_verifier=log.verifier())
    return verified.checkpoint.size, verified.checkpoint.root_hash


def test_concurrent_conflicting_requests_cosign_at_most_one_root(tmp_path: Path) -> None:
    log = LOGS[0]
    directory = tmp_path / "w"
    vkey = init_witness(directory, "example.com/race", [(log.name, log.vkey)])
    verifier = parse_verifier_key(vkey)
    assert isinstance(verifier, CosignatureVerifier)
    process = WitnessProcess(directory)
    try:
        base = Tree("base")
        assert process.post(request_body(log, base, 0, 10)).status_code == 200
        cosigned: dict[int, set[bytes]] = defaultdict(set)
        cosigned[10].add(base.root(10))
        stored = 10
        for round_number in range(4):
            # 48 requests, all from the stored size: forks at one size, forks at
            # other sizes, and honest growth to several sizes.
            bodies, trees = [], []
            for i in range(48):
                size = stored + 1 + (i % 6)
                tree = base if i % 3 == 0 else forked(base, stored, f"r{round_number}-{i}")
                trees.append(tree)
                bodies.append(request_body(log, tree, stored, size))

            async def storm(bodies: list[bytes] = bodies) -> list[httpx.Response]:
                limits = httpx.Limits(max_connections=64)
                async with httpx.AsyncClient(limits=limits, timeout=30) as client:
                    return list(await asyncio.gather(*(
                        client.post(process.url + "/add-checkpoint", content=b) for b in bodies
                    )))

            responses = asyncio.run(storm())
            statuses = sorted({r.status_code for r in responses})
            assert set(statuses) <= {200, 409}, statuses
            winners = [i for i, r in enumerate(responses) if r.status_code == 200]
            # Every request started from the same stored size: exactly one may win.
            assert len(winners) == 1, [r.status_code for r in responses]
            body, response = bodies[winners[0]], responses[winners[0]]
            request = parse_add_checkpoint(body)
            text = request.note.text
            note = parse_note(body.split(b"\n\n", 1)[1])
            (line,) = parse_cosignature_lines(response.content)
            size = int(text.split("\n")[1])
            checkpoint = verify_checkpoint(
                note, origin=log.name, log_verifier=log.verifier()
            ).checkpoint
            assert verifier.verify(text.encode(), line.signature)
            cosigned[size].add(checkpoint.root_hash)
            assert all(r.content == f"{size}\n".encode()
                       for r in responses if r.status_code == 409)
            assert state_of(process, log.name) == (size, checkpoint.root_hash)
            assert size > stored  # never backwards
            stored = size
            # Later rounds continue from whatever won.
            base = trees[winners[0]]
        assert all(len(roots) == 1 for roots in cosigned.values()), cosigned
    finally:
        process.stop()


def test_sigkill_mid_traffic_keeps_state(tmp_path: Path) -> None:
    directory = tmp_path / "w"
    init_witness(directory, "example.com/kill", [(log.name, log.vkey) for log in LOGS])
    trees = {log.name: Tree(log.name) for log in LOGS}
    acknowledged = {log.name: 0 for log in LOGS}  # largest size that got a 200
    sent = {log.name: 0 for log in LOGS}  # largest size ever sent
    rng = random.Random(5)
    for cycle in range(3):
        process = WitnessProcess(directory)
        # After a restart, the state is at least what was acknowledged, at most what was sent.
        for log in LOGS:
            state = state_of(process, log.name)
            size = 0 if state is None else state[0]
            assert acknowledged[log.name] <= size <= sent[log.name], (cycle, log.name)
            if state is not None:
                assert state[1] == trees[log.name].root(size)
            acknowledged[log.name] = size
        stop = threading.Event()
        errors: list[str] = []

        def drive(log_name: str, process: WitnessProcess = process,
                  stop: threading.Event = stop, errors: list[str] = errors) -> None:
            log = next(s for s in LOGS if s.name == log_name)
            with httpx.Client(timeout=5) as client:
                while not stop.is_set():
                    old = acknowledged[log_name]
                    new = old + rng.randint(1, 5)
                    sent[log_name] = max(sent[log_name], new)
                    body = request_body(log, trees[log_name], old, new)
                    try:
                        response = client.post(process.url + "/add-checkpoint", content=body)
                    except httpx.HTTPError:
                        return  # killed
                    if response.status_code != 200:
                        errors.append(f"{log_name} {old}->{new}: {response.status_code}")
                        return
                    acknowledged[log_name] = new

        threads = [threading.Thread(target=drive, args=(log.name,)) for log in LOGS]
        for thread in threads:
            thread.start()
        time.sleep(0.3 + rng.random() * 0.5)
        process.kill()
        stop.set()
        for thread in threads:
            thread.join(10)
        assert not errors
        assert all(acknowledged[log.name] > 0 for log in LOGS)
    # A final restart: a fork at the stored size is refused, the honest tree continues.
    process = WitnessProcess(directory)
    try:
        for log in LOGS:
            state = state_of(process, log.name)
            assert state is not None
            size = state[0]
            fork = forked(trees[log.name], size - 1, "fork")
            assert process.post(request_body(log, fork, size, size)).status_code == 422
            honest = request_body(log, trees[log.name], size, size + 1)
            assert process.post(honest).status_code == 200
    finally:
        process.stop()
