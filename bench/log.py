"""Log server benchmark (issue 3, "Speed"): the real server, loaded from this machine.

Prints the machine's own limits first (raw SHA-256 and Ed25519 verify rates,
one core and two cores, measured in this run), then, against a real
``vigil log serve`` process with SQLite (WAL, ``synchronous=FULL``) and tiles
on disk:

1. batch submissions: signed entries/s accepted *and integrated* (every batch
   answered with the checkpoint that covers it), beside the raw two-core
   Ed25519 verify rate (target >= 15,000/s and ratio >= 0.6);
2. single-entry POSTs from many concurrent clients (target >= 5,000/s), with
   the submit-to-published-checkpoint latency of each (p50 <= 0.5 s,
   p99 <= 1.5 s): the server answers when the checkpoint covering the entry
   is published, so the response time *is* that latency. Each client waits
   about 0.1 s per entry (batch, commit, publication), so by Little's law a
   rate of 5,000/s needs more than 500 submissions in flight: the phase that
   waits for checkpoints runs 1,024 clients, the one answered when sequenced
   256; the CPU rows show how far the server is from its two-core ceiling;
3. inclusion proofs served (target >= 10,000/s);
4. batch submissions and inclusion proofs again on a log that already holds
   ``--large`` entries (default 10,000,000; target within 15% of the empty
   log), in steady state: the script first waits until the server has loaded
   every entry's leaf prefix (a startup thread, ADR 0014) and prints how long
   that took.

Entries are signed before each timed phase; the load generator
(:mod:`log_load`) runs on the same machine and shares its two cores. The big
log is pre-filled by :mod:`log_prefill` (a documented direct storage and
tiles bulk path, no HTTP, no signature checks) and kept in ``--large-dir`` for
the next run; its measured phase goes through the real server.

Run: ``python bench/log.py [--quick] [--large N] [--large-dir DIR]``.
Other work on the machine skews absolute figures: the script prints
``uptime`` and the ratios to the machine limits measured in the same run.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nacl.signing
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from log_load import get, make_entries, post, run_requests

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "bench.example/log"


# -- machine limits ------------------------------------------------------------------


def _sha256_rate(seconds: float = 0.5) -> float:
    data = os.urandom(600)
    sha = hashlib.sha256
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            sha(data).digest()
        count += 1000
    return count / (time.perf_counter() - start)


def _verify_rate(seconds: float = 1.0) -> float:
    key = nacl.signing.SigningKey(hashlib.sha256(b"bench-limit").digest())
    message = os.urandom(420)  # about a PAE(payloadType, statement) of an entry
    signature = key.sign(message).signature
    verify_key = key.verify_key
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            verify_key.verify(message, signature)
        count += 200
    return count / (time.perf_counter() - start)


def machine_limits() -> dict[str, float]:
    """Raw primitive rates on this machine, now."""
    with ProcessPoolExecutor(2) as pool:
        pool.submit(_verify_rate, 0.05).result()  # start both workers
        pool.submit(_verify_rate, 0.05).result()
        two = sum(pool.map(_verify_rate, [1.0, 1.0]))
    return {
        "sha256 (600-byte inputs), 1 core": _sha256_rate(),
        "ed25519 verify, 1 core": _verify_rate(),
        "ed25519 verify, 2 cores": two,
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- the server ----------------------------------------------------------------------


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "vigil", *args], check=True, cwd=ROOT,
                   capture_output=True)


class Server:
    """A ``vigil log serve`` process."""

    def __init__(self, directory: Path, workers: int = 0) -> None:
        self.log_path = directory.parent / "server.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115
        self.log_start = self.log.tell()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigil", "log", "serve", str(directory),
             "--host", "127.0.0.1", "--port", "0", "--workers", str(workers)],
            stdout=subprocess.PIPE, stderr=self.log, cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}")
        self.url = line.removeprefix("listening on ").strip()
        deadline = time.monotonic() + 30
        while True:  # front ends take a moment to start
            try:
                tree_size(self.url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def wait_for_log(self, text: str, timeout_s: float) -> float:
        """Seconds until the server logged a line containing ``text`` (since it started)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_start)
                if text.encode() in log.read():
                    return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"server did not log {text!r} within {timeout_s} s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        self.log.close()


def process_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (the front ends), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                pids.append(int(entry.name))
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class CpuMeter:
    """CPU spent by the server and by this process (the load generator) over a phase."""

    def __init__(self, server: Server) -> None:
        self.pid = server.process.pid
        self.server = process_cpu_s(self.pid)
        times = os.times()
        self.client = times.user + times.system
        self.machine = _machine_ticks()

    def per_entry_us(self, count: int) -> tuple[float, float, float]:
        """Server and load-generator CPU per entry, and the other processes' share of cores."""
        times = os.times()
        server_s = process_cpu_s(self.pid) - self.server
        client_s = times.user + times.system - self.client
        busy, total = (b - a for a, b in zip(self.machine, _machine_ticks(), strict=True))
        cores = os.cpu_count() or 1
        wall_s = total / os.sysconf("SC_CLK_TCK") / cores
        others = max(0.0, busy / total * cores - (server_s + client_s) / wall_s)
        return server_s / count * 1e6, client_s / count * 1e6, others


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def cpu_row(meter: CpuMeter, count: int) -> None:
    server, client, others = meter.per_entry_us(count)
    row("  CPU per entry: server / load generator", server, "us",
        f"{client:.0f} us", f"2-core ceiling {2e6 / (server + client):,.0f}/s; "
        f"other processes used {others:.2f} cores meanwhile")


def init_log(directory: Path) -> None:
    cli("log", "init", str(directory), "--origin", ORIGIN)


# -- phases --------------------------------------------------------------------------


def batch_phase(url: str, entries: list[bytes], *, batch: int, concurrency: int) -> float:
    """Entries/s accepted and integrated (every answer carries its covering checkpoint)."""
    bodies = []
    for start in range(0, len(entries), batch):
        chunk = entries[start : start + batch]
        bodies.append(post("/api/v1/entries:batch",
                           b'{"entries":[' + b",".join(chunk) + b"]}"))
    result = run_requests(url, bodies, concurrency=concurrency)
    if result.count(200) != len(bodies):
        raise RuntimeError(f"batch phase: statuses {result.statuses}")
    return len(entries) / result.elapsed_s


def single_phase(
    url: str, entries: list[bytes], *, concurrency: int, wait: bool
) -> tuple[float, list[float], list[float], dict[int, int]]:
    """Single POSTs: entries/s, answer latencies, submit-to-published-checkpoint latencies.

    With ``wait``, the server answers once the covering checkpoint is
    published (its default); without, it answers 202 as soon as the entry is
    durably sequenced (``wait_ms=0``), and a poller of ``/checkpoint`` (every
    10 ms) times when each entry's checkpoint appeared.
    """
    query = "" if wait else "?wait_ms=0"
    requests = [post("/api/v1/entries" + query, entry) for entry in entries]
    result = run_requests(
        url, requests, concurrency=concurrency, keep_bodies=True, poll_checkpoints=True
    )
    seen = [at for at, _ in result.checkpoints]
    sizes = [size for _, size in result.checkpoints]
    to_checkpoint = []
    for started, answered, body in zip(
        result.started_s, result.latencies_s, result.bodies, strict=True
    ):
        document = orjson.loads(body)
        if "tree_size" in document:  # answered with its checkpoint
            to_checkpoint.append(answered)
            continue
        at = bisect.bisect_right(sizes, document["index"])
        if at < len(sizes):
            to_checkpoint.append(seen[at] - started)
        else:
            to_checkpoint.append(float("inf"))  # not seen published
    rate = len(entries) / result.elapsed_s
    return rate, result.latencies_s, to_checkpoint, result.statuses


def proof_phase(url: str, size: int, count: int, *, concurrency: int) -> float:
    rng = random.Random(1)
    requests = [
        get(f"/api/v1/proof/inclusion?index={rng.randrange(size)}&tree_size={size}")
        for _ in range(count)
    ]
    result = run_requests(url, requests, concurrency=concurrency)
    if result.count(200) != count:
        raise RuntimeError(f"proof phase: statuses {result.statuses}")
    return count / result.elapsed_s


def tree_size(url: str) -> int:
    result = run_requests(url, [get("/checkpoint")], concurrency=1, keep_bodies=True)
    return int(result.bodies[0].split(b"\n")[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- main ----------------------------------------------------------------------------


def row(name: str, value: float, unit: str, target: str = "", note: str = "") -> None:
    print(f"  {name:<46} {value:>12,.1f} {unit:<10} {target:<14} {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, no big log")
    parser.add_argument("--batch-entries", type=int, default=200_000)
    parser.add_argument("--single-entries", type=int, default=60_000)
    parser.add_argument("--proofs", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10_000_000,
                        help="entries in the big log (0: skip that phase)")
    parser.add_argument("--large-dir", type=Path, default=ROOT / ".bench" / "log-large")
    parser.add_argument("--workers", type=int, default=2,
                        help="front-end processes (vigil log serve --workers)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the fresh log goes (a disk, not tmpfs)")
    args = parser.parse_args()
    if args.quick:
        args.batch_entries, args.single_entries, args.proofs = 30_000, 10_000, 20_000
        args.large = 0

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; load average {load_average()}")
    limits = machine_limits()
    print("machine limits (measured now):")
    for name, value in limits.items():
        row(name, value, "/s")
    two_core = limits["ed25519 verify, 2 cores"]

    print(f"signing {args.batch_entries + args.single_entries:,} entries ...", flush=True)
    batch_entries = make_entries("b", args.batch_entries)
    single_entries = make_entries("s", args.single_entries)

    work = Path(tempfile.mkdtemp(prefix="vigil-bench-", dir=args.work_dir))
    figures: dict[str, float] = {}
    try:
        directory = work / "log"
        init_log(directory)
        server = Server(directory, args.workers)
        try:
            print(f"empty log, vigil log serve --workers {args.workers} "
                  f"(load average {load_average()}):", flush=True)
            meter = CpuMeter(server)
            rate = batch_phase(server.url, batch_entries, batch=1000, concurrency=8)
            figures["batch"] = rate
            row("batch submissions (1000/batch, 8 clients)", rate, "entries/s",
                ">= 15,000", f"ratio to 2-core verify {rate / two_core:.2f} (>= 0.6)")
            cpu_row(meter, len(batch_entries))
            half = len(single_entries) // 2
            for wait, clients, chunk in (
                (False, 256, single_entries[:half]),
                (True, 1024, single_entries[half:]),
            ):
                meter = CpuMeter(server)
                rate, answers, latencies, statuses = single_phase(
                    server.url, chunk, concurrency=clients, wait=wait
                )
                figures["single" if not wait else "single-wait"] = rate
                mode = "answer when sequenced" if not wait else "answer with checkpoint"
                row(f"single-entry POSTs ({clients} clients, {mode})", rate, "entries/s",
                    ">= 5,000", f"statuses {statuses}")
                row("  answer latency p50 / p99", percentile(answers, 0.5), "s",
                    f"p99 {percentile(answers, 0.99):.3f} s")
                row("  submit to published checkpoint, p50", percentile(latencies, 0.5), "s",
                    "<= 0.5")
                row("  submit to published checkpoint, p99", percentile(latencies, 0.99), "s",
                    "<= 1.5")
                cpu_row(meter, len(chunk))
            size = tree_size(server.url)
            meter = CpuMeter(server)
            rate = proof_phase(server.url, size, args.proofs, concurrency=32)
            figures["proofs"] = rate
            row(f"inclusion proofs (tree of {size:,}, 32 clients)", rate, "proofs/s",
                ">= 10,000")
            cpu_row(meter, args.proofs)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if args.large:
        from log_prefill import prefill

        directory = args.large_dir / "log"
        if not (directory / "config.toml").exists():
            shutil.rmtree(args.large_dir, ignore_errors=True)
            args.large_dir.mkdir(parents=True)
            init_log(directory)
        print(f"pre-filling the big log to {args.large:,} entries in {directory} ...",
              flush=True)
        started = time.perf_counter()
        prefill(directory, args.large)
        print(f"  pre-filled in {time.perf_counter() - started:.0f} s")
        entries = make_entries(f"large{time.time_ns()}", args.batch_entries)
        server = Server(directory, args.workers)
        try:
            size = tree_size(server.url)
            # Steady state: the sequencer loads every entry's leaf prefix on a
            # thread at startup (ADR 0014), a core's work for seconds at 10M.
            warm = server.wait_for_log("loaded the leaf prefixes", 300)
            print(f"big log of {size:,} entries, leaf prefixes loaded {warm:.1f} s after "
                  f"the server answered (load average {load_average()}):", flush=True)
            # This machine's speed drifts between phases minutes apart (a VM):
            # measure its limit again and show the ratios adjusted for it too.
            speed = _verify_rate() / limits["ed25519 verify, 1 core"]
            print(f"  machine speed now: {speed:.2f} of the first measurement "
                  "(1-core Ed25519 verify rate)")
            meter = CpuMeter(server)
            rate = batch_phase(server.url, entries, batch=1000, concurrency=8)
            row("batch submissions (1000/batch, 8 clients)", rate, "entries/s",
                f"{0.85 * figures['batch']:,.0f}+",
                f"{rate / figures['batch']:.2f} of the empty log's (>= 0.85); "
                f"{rate / figures['batch'] / speed:.2f} adjusted for speed")
            cpu_row(meter, len(entries))
            meter = CpuMeter(server)
            rate = proof_phase(server.url, size, args.proofs, concurrency=32)
            row("inclusion proofs", rate, "proofs/s", ">= 10,000",
                f"{rate / figures['proofs']:.2f} of the empty log's (>= 0.85); "
                f"{rate / figures['proofs'] / speed:.2f} adjusted for speed")
            cpu_row(meter, args.proofs)
        finally:
            server.stop()
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
