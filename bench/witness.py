"""Witness benchmark (issue 5): add-checkpoint rate of one witness, and publish latency.

Prints, in one run:

1. machine limits: cores, raw Ed25519 sign and verify rates (PyNaCl), and
   SQLite commits/s with ``synchronous=FULL`` (one fsync each) on this disk;
2. add-checkpoint handled per second by the witness service in-process (no
   HTTP) and by a real ``vigil witness serve`` process over loopback HTTP/1.1
   keep-alive, with 64 logs each sending its next checkpoint as soon as the
   previous one is cosigned (target >= 2,000/s), with the CPU per request of
   the server process and of the load generator (measured from /proc and
   process_time: steadier than the rate on a shared machine);
3. the latency a log's publication gains from witnesses: the time of
   :meth:`WitnessCollector.collect` against 3 real witness processes with
   quorum 2 (p50/p99, target p99 <= 100 ms), and end-to-end submission
   latency of a real log with and without them.

Server processes run this tree's ``src`` (PYTHONPATH is set for them).
Not a test; run: ``.venv/bin/python bench/witness.py [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nacl.signing

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from logsupport import ServerProcess, entry_bytes, vigil  # noqa: E402
from vigil.core.policy import parse_policy  # noqa: E402
from vigil.log.config import format_config, parse_config  # noqa: E402
from vigil.log.witnesses import WitnessCollector  # noqa: E402
from vigil.witness import SQLiteWitnessStore, WitnessedLog, WitnessService  # noqa: E402
from witnesssupport import (  # noqa: E402
    Tree,
    WitnessProcess,
    checkpoint_note,
    cosigner,
    init_witness,
    log_signer,
    request_body,
)


def rate(fn: object, seconds: float = 1.0) -> float:
    assert callable(fn)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            fn()
        count += 100
    return count / (time.perf_counter() - start)


def machine_limits() -> None:
    key = nacl.signing.SigningKey(bytes(32))
    message = b"cosignature/v1\ntime 1700000000\n" + b"x" * 80
    signed = key.sign(message)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"  raw Ed25519 sign:   {rate(lambda: key.sign(message)):>10,.0f} /s")
    print(f"  raw Ed25519 verify: {rate(lambda: key.verify_key.verify(signed)):>10,.0f} /s")
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(str(Path(tmp) / "f.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")

        def commit() -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR REPLACE INTO t VALUES (1, ?)", (b"x" * 300,))
            db.execute("COMMIT")

        print(f"  SQLite fsynced commits: {rate(commit, 0.5):>6,.0f} /s")
        db.close()


def bodies_for(logs: list, count: int) -> dict[str, list[bytes]]:  # type: ignore[type-arg]
    """Per log: ``count`` successive add-checkpoint bodies (1 -> 2 -> 3 ...)."""
    out = {}
    for log in logs:
        tree = Tree(log.name)
        out[log.name] = [request_body(log, tree, i, i + 1) for i in range(count)]
    return out


def bench_in_process(seconds: float) -> None:
    logs = [log_signer(f"bench.example/log{i}") for i in range(8)]
    per_log = 600
    bodies = bodies_for(logs, per_log)
    with tempfile.TemporaryDirectory() as tmp:
        service = WitnessService(
            signer=cosigner(),
            logs=[WitnessedLog(log.name, (log.verifier(),)) for log in logs],
            store=SQLiteWitnessStore(Path(tmp) / "w.db"),
        )
        done, start = 0, time.perf_counter()
        for i in range(per_log):
            for log in logs:
                service.add_checkpoint(bodies[log.name][i])
                done += 1
            if time.perf_counter() - start > seconds:
                break
        elapsed = time.perf_counter() - start
        service.close()
    print(f"witness service in-process (no HTTP): {done / elapsed:>8,.0f} add-checkpoint/s")


async def _drive(port: int, bodies: list[bytes], deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:
            if time.perf_counter() > deadline:
                return
            writer.write(
                b"POST /add-checkpoint HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " not in status:
                raise RuntimeError(f"witness answered {status!r}")
            counts[0] += 1
    finally:
        writer.close()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_http(seconds: float) -> None:
    logs = [log_signer(f"bench.example/http{i}") for i in range(64)]
    per_log = max(200, int(seconds * 8_000 / len(logs)))  # enough for 8,000/s
    print(f"  (preparing {len(logs) * per_log} signed requests...)", flush=True)
    bodies = bodies_for(logs, per_log)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "w"
        init_witness(directory, "bench.example/w", [])
        config_path = directory / "config.toml"
        text = config_path.read_text()
        for log in logs:
            text += f'\n[[log]]\norigin = "{log.name}"\nvkeys = ["{log.vkey}"]\n'
        config_path.write_text(text)
        process = WitnessProcess(directory)
        try:
            port = int(process.url.rsplit(":", 1)[1])
            counts = [0]
            server_cpu = process_cpu_s(process.process.pid)
            client_cpu = time.process_time()

            async def run() -> float:
                start = time.perf_counter()
                deadline = start + seconds
                await asyncio.gather(*(
                    _drive(port, bodies[log.name], deadline, counts) for log in logs
                ))
                return time.perf_counter() - start

            elapsed = asyncio.run(run())
            client_cpu = time.process_time() - client_cpu
            server_cpu = process_cpu_s(process.process.pid) - server_cpu
        finally:
            process.stop()
    done = max(counts[0], 1)
    print(
        f"witness server over HTTP (64 logs, 1 in flight each): "
        f"{counts[0] / elapsed:>8,.0f} add-checkpoint/s (target >= 2,000/s)"
    )
    print(
        f"  CPU per request: server {server_cpu / done * 1e6:,.0f} us "
        f"({server_cpu / elapsed:.2f} cores busy), load generator "
        f"{client_cpu / done * 1e6:,.0f} us ({client_cpu / elapsed:.2f} cores); "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_collector(rounds: int) -> None:
    log = log_signer("bench.example/published")
    with tempfile.TemporaryDirectory() as tmp:
        processes, keys = [], []
        for i in range(3):
            directory = Path(tmp) / f"w{i}"
            keys.append(init_witness(directory, f"bench.example/w{i}", [(log.name, log.vkey)]))
            processes.append(WitnessProcess(directory))
        try:
            policy = parse_policy(
                f"log {log.vkey}\n"
                + "".join(f"witness w{i} {k} {p.url}\n"
                          for i, (k, p) in enumerate(zip(keys, processes, strict=True)))
                + "group q 2 w0 w1 w2\nquorum q\n"
            )
            collector = WitnessCollector(policy=policy, timeout_s=5.0, linger_s=0.05)
            tree = Tree("published")
            times = []
            from vigil.core.checkpoint import Checkpoint

            for size in range(1, rounds + 1):
                note = checkpoint_note(log, size, tree.root(size))
                start = time.perf_counter()
                collector.collect(note, Checkpoint(log.name, size, tree.root(size)), tree.proof)
                times.append((time.perf_counter() - start) * 1000)
            collector.close()
        finally:
            for process in processes:
                process.stop()
    print(
        f"collect() from 3 witnesses, quorum 2 ({rounds} checkpoints): "
        f"p50 {statistics.median(times):.1f} ms, p99 {percentile(times, 0.99):.1f} ms, "
        f"max {max(times):.1f} ms (target p99 <= 100 ms added)"
    )


def bench_log_latency(submissions: int) -> None:
    results = {}
    for with_witnesses in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            log_dir = Path(tmp) / "log"
            origin = "bench.example/log"
            out = vigil("log", "init", str(log_dir), "--origin", origin).stdout
            vkey = next(line.split(": ", 1)[1] for line in out.splitlines()
                        if line.startswith("log key"))
            config = parse_config((log_dir / "config.toml").read_text())
            from dataclasses import replace

            processes = []
            if with_witnesses:
                keys = []
                for i in range(3):
                    directory = Path(tmp) / f"w{i}"
                    keys.append(init_witness(directory, f"bench.example/w{i}", [(origin, vkey)]))
                    processes.append(WitnessProcess(directory))
                (log_dir / "witnesses.policy").write_text(
                    f"log {vkey}\n"
                    + "".join(f"witness w{i} {k} {p.url}\n"
                              for i, (k, p) in enumerate(zip(keys, processes, strict=True)))
                    + "group q 2 w0 w1 w2\nquorum q\n"
                )
                config = replace(config, witnesses=replace(
                    config.witnesses, policy_file="witnesses.policy"))
            config = replace(config, sequencer=replace(
                config.sequencer, checkpoint_interval_s=0.0, batch_linger_s=0.0))
            (log_dir / "config.toml").write_text(format_config(config))
            server = ServerProcess(log_dir)
            try:
                server.wait_ready()
                times = []
                with httpx.Client(timeout=30) as client:
                    for i in range(submissions):
                        body = entry_bytes(f"latency-{with_witnesses}-{i}")
                        start = time.perf_counter()
                        response = client.post(server.url + "/api/v1/entries", content=body)
                        times.append((time.perf_counter() - start) * 1000)
                        assert response.status_code == 200, response.text
            finally:
                server.stop()
                for process in processes:
                    process.stop()
        results[with_witnesses] = times
    for key, label in ((False, "no witnesses"), (True, "3 witnesses, quorum 2")):
        times = results[key]
        print(f"log submit-to-cosigned-checkpoint latency, {label}: "
              f"p50 {statistics.median(times):.1f} ms, p99 {percentile(times, 0.99):.1f} ms")
    added = percentile(results[True], 0.99) - percentile(results[False], 0.99)
    print(f"  p99 added by witnesses: {added:.1f} ms (target <= 100 ms)")


def main() -> None:
    # The server processes run this tree's code, not whatever `vigil` the venv points at.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    machine_limits()
    bench_in_process(args.seconds)
    bench_http(args.seconds)
    bench_collector(300)
    bench_log_latency(200)


if __name__ == "__main__":
    main()
