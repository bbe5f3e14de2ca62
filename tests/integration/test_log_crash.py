"""Crash safety: SIGKILL a loaded log server again and again; nothing acknowledged is lost.

A real server process takes submissions from several client threads (single
entries and batches). It is killed with SIGKILL at random moments (under load,
and sometimes during startup recovery), at least 10 times, and restarted.
Then:

1. every acknowledged entry (200 or 202 answer) is at its acknowledged index;
2. after each restart the checkpoint covers every entry acknowledged before;
3. the tiles on disk match the entries: the root recomputed from the entry
   bundles, every hash tile, and the bundles against the database;
4. every checkpoint ever seen (in answers and by polling /checkpoint) verifies
   and is consistent with the final one (consistency proofs checked with
   vigil.core.proof).
"""

from __future__ import annotations

import base64
import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from logsupport import CLI, ROOT, ServerProcess, entry_bytes, signer, vigil
from vigil.core.checkpoint import Checkpoint, verify_checkpoint
from vigil.core.merkle import MerkleTree, hash_leaf
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.core.proof import verify_consistency
from vigil.core.tiles import TILE_WIDTH, parse_entry_bundle, tile_path, tiles_for_size
from vigil.log.config import format_config, parse_config

ORIGIN = "crash.example/log"
KILLS = 12
CLIENTS = 6


class Recorder:
    """What the clients were told, shared by all threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[bytes, int] = {}  # leaf hash -> acknowledged index
        self.notes: set[bytes] = set()
        self.errors: list[str] = []

    def ack(self, leaf_hash: bytes, index: int) -> None:
        with self.lock:
            previous = self.acked.setdefault(leaf_hash, index)
            if previous != index:
                self.errors.append(f"{leaf_hash.hex()} acked at {previous} and {index}")


def client(url: str, entries: list[bytes], recorder: Recorder, stop: threading.Event,
           rng: random.Random) -> None:
    with httpx.Client(timeout=10) as http:
        position = 0
        while not stop.is_set() and position < len(entries):
            count = rng.choice([1, 1, 10, 40, 100])
            chunk = entries[position : position + count]
            position += len(chunk)
            try:
                if len(chunk) == 1:
                    response = http.post(url + "/api/v1/entries", content=chunk[0])
                    items = [response.json()] if response.status_code in (200, 202) else []
                else:
                    body = {"entries": [json.loads(e) for e in chunk]}
                    response = http.post(url + "/api/v1/entries:batch", json=body)
                    items = response.json()["entries"] if response.status_code in (200, 202) else []
                    if response.status_code in (200, 202):
                        items = [{**i, "checkpoint": response.json().get("checkpoint")}
                                 for i in items]
            except (httpx.HTTPError, ValueError):
                continue  # killed mid-request: not acknowledged
            if response.status_code not in (200, 202, 503):
                recorder.errors.append(f"unexpected {response.status_code}: {response.text[:200]}")
            if not items:
                continue  # refused (503 pushback): nothing acknowledged
            for data, item in zip(chunk, items, strict=True):
                leaf_hash = hash_leaf(data)
                if item["leaf_hash"] != leaf_hash.hex():
                    recorder.errors.append(f"wrong leaf hash for index {item['index']}")
                recorder.ack(leaf_hash, item["index"])
                if item.get("checkpoint"):
                    with recorder.lock:
                        recorder.notes.add(item["checkpoint"].encode())


def poller(url: str, recorder: Recorder, stop: threading.Event) -> None:
    with httpx.Client(timeout=5) as http:
        while not stop.is_set():
            try:
                response = http.get(url + "/checkpoint")
                if response.status_code == 200:
                    with recorder.lock:
                        recorder.notes.add(response.content)
            except httpx.HTTPError:
                pass
            time.sleep(0.05)


def latest_checkpoint(url: str, verifier: Ed25519Verifier) -> Checkpoint:
    note = httpx.get(url + "/checkpoint", timeout=10).content
    return verify_checkpoint(note, origin=ORIGIN, log_verifier=verifier).checkpoint


@pytest.mark.parametrize(
    "serve_args", [(), ("--workers", "2")], ids=["one-process", "front-ends"]
)
def test_sigkill_never_loses_an_acknowledged_entry(
    tmp_path: Path, serve_args: tuple[str, ...]
) -> None:
    started = time.monotonic()
    directory = tmp_path / "log"
    vigil("log", "init", str(directory), "--origin", ORIGIN)
    config = parse_config((directory / "config.toml").read_text())
    config = replace(
        config,
        sequencer=replace(config.sequencer, checkpoint_interval_s=0.05, submit_wait_s=2.0),
    )
    (directory / "config.toml").write_text(format_config(config))
    key = parse_verifier_key(config.public_key)
    assert isinstance(key, Ed25519Verifier)

    rng = random.Random(20240607)
    signers = [signer("crash.example", n) for n in range(4)]
    per_round = 1000
    pool = [entry_bytes(f"crash-{i}", [signers[i % 4]]) for i in range(30_000)]
    recorder = Recorder()
    next_entry = 0
    kills = 0
    rounds = 0
    while kills < KILLS:
        rounds += 1
        if rounds % 5 == 0:
            # Kill during startup (recovery), before the server even listens.
            process = subprocess.Popen(
                [*CLI, "log", "serve", str(directory), "--port", "0", *serve_args],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
            )
            time.sleep(rng.uniform(0.05, 0.6))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += 1
            continue
        server = ServerProcess(directory, *serve_args)
        try:
            server.wait_ready()
            before = latest_checkpoint(server.url, key)
            with recorder.lock:
                acked_max = max(recorder.acked.values(), default=-1)
            assert before.size >= acked_max + 1, (
                f"after restart the checkpoint has size {before.size}, "
                f"but index {acked_max} was acknowledged"
            )
            stop = threading.Event()
            threads = []
            for _ in range(CLIENTS):
                # Slices overlap (resubmissions must come back as duplicates) and wrap.
                chunk = [pool[(next_entry + i) % len(pool)] for i in range(per_round)]
                next_entry += per_round * 3 // 4
                threads.append(threading.Thread(
                    target=client,
                    args=(server.url, chunk, recorder, stop, random.Random(rng.random())),
                ))
            threads.append(threading.Thread(target=poller, args=(server.url, recorder, stop)))
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.2, 1.5))
            server.kill()
            kills += 1
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            server.kill()

    # Final restart: let it recover, then audit everything.
    server = ServerProcess(directory)
    try:
        server.wait_ready()
        final = latest_checkpoint(server.url, key)
        assert recorder.errors == [], recorder.errors[:5]
        assert len(recorder.acked) > 2000, f"only {len(recorder.acked)} entries acknowledged"
        assert final.size >= max(recorder.acked.values()) + 1

        # 1. Every acknowledged entry is at its acknowledged index.
        with sqlite3.connect(f"file:{directory / 'log.db'}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT idx, leaf_hash, data FROM entries ORDER BY idx").fetchall()
        assert [r[0] for r in rows] == list(range(len(rows)))
        assert len(rows) == final.size
        stored = {bytes(r[1]): r[0] for r in rows}
        for leaf_hash, index in recorder.acked.items():
            assert stored.get(leaf_hash) == index, f"{leaf_hash.hex()} acked at {index}"
        sample = rng.sample(sorted(recorder.acked.items()), 20)
        for leaf_hash, index in sample:
            body = httpx.get(f"{server.url}/api/v1/entries/{index}", timeout=10).json()
            assert body["leaf_hash"] == leaf_hash.hex()

        # 3. Tiles and bundles match the entries; the root recomputes from the bundles.
        tiles_dir = directory / "tiles"
        from_bundles: list[bytes] = []
        for index in range(-(-final.size // TILE_WIDTH)):
            width = min(TILE_WIDTH, final.size - index * TILE_WIDTH)
            name = f"tile/entries/{index:03d}" if index < 1000 else None
            assert name is not None
            suffix = "" if width == TILE_WIDTH else f".p/{width}"
            bundle = (tiles_dir / (name + suffix)).read_bytes()
            from_bundles += parse_entry_bundle(bundle, width)
        assert from_bundles == [bytes(r[2]) for r in rows]
        tree = MerkleTree(hash_leaf(e) for e in from_bundles)
        assert tree.root() == final.root_hash
        for tile in tiles_for_size(final.size):
            first = tile.index * TILE_WIDTH
            want = b"".join(tree.node(8 * tile.level, first + i) for i in range(tile.width))
            assert (tiles_dir / tile_path(tile)).read_bytes() == want, tile_path(tile)

        # 4. Every checkpoint ever seen verifies and is consistent with the final one.
        assert len(recorder.notes) > KILLS
        for note in recorder.notes:
            old = verify_checkpoint(note, origin=ORIGIN, log_verifier=key).checkpoint
            assert old.size <= final.size
            if old.size == 0:
                continue
            proof = httpx.get(
                f"{server.url}/api/v1/proof/consistency",
                params={"old": old.size, "new": final.size}, timeout=10,
            ).json()["proof"]
            verify_consistency(
                old.size, final.size, [base64.b64decode(p) for p in proof],
                old.root_hash, final.root_hash,
            )
            assert tree.root(old.size) == old.root_hash
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    print(f"crash test: {kills} kills, {len(recorder.acked)} acknowledged entries, "
          f"final size {final.size}, {len(recorder.notes)} checkpoints, {elapsed:.1f} s")
