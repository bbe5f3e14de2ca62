"""Auditing witness benchmark (issue 5 "Auditing mode ... must keep up with the log").

Prints, in one run:

1. the machine's raw Ed25519 verify rate (PyNaCl, one core and all cores),
   the ceiling of any auditor that checks every entry's signature;
2. entries audited per second by :class:`vigil.witness.audit.TileAuditor`:
   fetch (entry bundles over loopback HTTP from a static file server in
   another process) + RFC 6962 hashing onto the compact range + status-map
   replay (DSSE parse, Ed25519 verify, charter rules) + the map-line check,
   for a log of ``--entries`` signed entries (a charter, releases of 50
   repositories, generic artifacts) audited as a witness sees it: one
   checkpoint per ``--batch`` entries, and once as one big range (a rebuild
   at startup). With ``--workers`` 0 (all on one thread) and N (signature
   verification in N processes).

The log's own benchmark (bench/log.py) integrates ~10,000 signed entries/s
on batches on this machine, about 0.58 of the raw two-core verify rate: that
is the rate to keep up with (target >= 11,000 entries/s on a quiet machine).
Other agents' work skews absolute figures, so each row also gives its ratio to
the raw all-core verify rate measured just before it ("x raw"), which holds
on a busy machine; compare that ratio with the log's.

Also printed: CPU time per entry in the auditing process. With workers=0 it
is the whole cost of an entry; with workers it is the serial part (rules,
hashing, fetching, unpickling) and the rest runs in the workers (children of
the forkserver, so not measured here). On a busy machine the capacity of an
idle one is estimated as ``min(1e6 / serial, cores * 1e6 / (whole + serial))``.

Not a test; run: ``python bench/audit.py [--entries 20000] [--batch 2560]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nacl.signing

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from charterkit import CharterSpec, Repo, artifact, charter_entry, key, release  # noqa: E402
from vigil._internal.http import HttpFetcher  # noqa: E402
from vigil.core.checkpoint import Checkpoint  # noqa: E402
from vigil.core.compact import CompactRange  # noqa: E402
from vigil.core.dsse import format_envelope  # noqa: E402
from vigil.core.encoding import b64encode  # noqa: E402
from vigil.core.merkle import hash_leaf  # noqa: E402
from vigil.core.note import generate_signer  # noqa: E402
from vigil.core.statusmap import STATUS_MAP_EXTENSION, Replayer  # noqa: E402
from vigil.core.tiles import TILE_WIDTH, TileID, format_entry_bundle, tile_path  # noqa: E402
from vigil.witness.audit import TileAuditor  # noqa: E402
from vigil.witness.state import LatestCheckpoint, WitnessedLog  # noqa: E402

ORIGIN = "bench.example/audited"
REPOSITORIES = 50


def verify_rate(seconds: float = 1.0) -> float:
    signing = nacl.signing.SigningKey(bytes(32))
    signed = signing.sign(b"x" * 600)
    verify = signing.verify_key.verify
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            verify(signed)
        count += 200
    return count / (time.perf_counter() - start)


def all_cores_verify_rate(pool: ProcessPoolExecutor, cores: int, seconds: float) -> float:
    """Raw Ed25519 verifies/s of ``cores`` processes at once (measured now)."""
    return sum(pool.map(verify_rate, [seconds] * cores))


def make_entries(count: int) -> list[bytes]:
    board, publisher = key("bench-board"), key("bench-pub")
    spec = CharterSpec(
        foundation=[board],
        repositories=[Repo(f"repo{r:02d}", [publisher]) for r in range(REPOSITORIES)],
    )
    entries = [charter_entry(spec.text(), [board])]
    versions = [0] * REPOSITORIES
    while len(entries) < count:
        n = len(entries)
        if n % 4 == 0:  # a quarter releases, the rest generic artifacts
            repo = n % REPOSITORIES
            versions[repo] += 1
            entries.append(format_envelope(release(f"repo{repo:02d}", versions[repo], [publisher])))
        else:
            entries.append(format_envelope(artifact(f"pkg-{n}", [publisher])))
    return entries


def write_tiles(directory: Path, entries: list[bytes], sizes: list[int]) -> None:
    """Full bundles, plus the partial bundle of every checkpoint size."""
    for size in sizes:
        for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            chunk = entries[index * TILE_WIDTH : min(size, (index + 1) * TILE_WIDTH)]
            path = directory / tile_path(TileID(0, index, len(chunk), entries=True))
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(format_entry_bundle(chunk))


def checkpoints(entries: list[bytes], sizes: list[int]) -> dict[int, Checkpoint]:
    """The honest checkpoint for each size (root and status-map line)."""
    result = {}
    tree, replayer, done = CompactRange(), Replayer(), 0
    for size in sizes:
        for data in entries[done:size]:
            tree.append(hash_leaf(data))
            replayer.add(data)
        done = size
        root = replayer.state.root()
        assert root is not None and not replayer.violations
        result[size] = Checkpoint(
            ORIGIN, size, tree.root(), (f"{STATUS_MAP_EXTENSION} {b64encode(root)}",)
        )
    return result


def run(
    url: str, cps: dict[int, Checkpoint], sizes: list[int], workers: int
) -> tuple[float, float]:
    """Audit the checkpoints ``sizes`` in order; returns (entries/s, CPU µs per
    entry in this process)."""
    log = WitnessedLog(ORIGIN, (generate_signer(ORIGIN, seed=bytes(32)).verifier(),), url,
                       audit=True)
    fetchers: list[HttpFetcher] = []

    def fetcher_for(_log: WitnessedLog) -> HttpFetcher:
        fetchers.append(HttpFetcher(url, timeout_s=30))
        return fetchers[-1]

    auditor = TileAuditor(fetcher_for, workers=workers)
    time.sleep(2 if workers else 0)  # let the worker processes start (the server does at startup)
    try:
        auditor.audit(log, None, Checkpoint(ORIGIN, 0, CompactRange().root()))  # warm up
        auditor.committed(log, Checkpoint(ORIGIN, 0, CompactRange().root()))
        previous: LatestCheckpoint | None = None
        cpu = time.process_time()
        start = time.perf_counter()
        for size in sizes:
            checkpoint = cps[size]
            auditor.audit(log, previous, checkpoint)
            auditor.committed(log, checkpoint)
            previous = LatestCheckpoint(ORIGIN, size, checkpoint.root_hash, b"", 0)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        auditor.close()
        for fetcher in fetchers:
            fetcher.close()
    return sizes[-1] / elapsed, cpu / sizes[-1] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2_560)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    print(f"machine: {cores} CPUs, load {os.getloadavg()[0]:.2f}")
    raw = verify_rate()
    raw_pool = ProcessPoolExecutor(cores)
    raw_all = all_cores_verify_rate(raw_pool, cores, 1.0)
    print(f"raw Ed25519 verify (PyNaCl): {raw:,.0f} /s on 1 core, {raw_all:,.0f} /s on {cores}")

    entries = make_entries(args.entries)
    batched = [*range(args.batch, args.entries, args.batch), args.entries]
    cps = checkpoints(entries, sorted({*batched, args.entries}))
    with tempfile.TemporaryDirectory(prefix="vigil-bench-audit-") as tmp:
        write_tiles(Path(tmp), entries, batched)
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", tmp,
             "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...)"
            port = int(line.split(" port ")[1].split()[0])
            url = f"http://127.0.0.1:{port}"
            print(f"log: {args.entries:,} entries ({REPOSITORIES} repositories, 1/4 releases), "
                  f"tiles served by http.server at {url}")
            whole: dict[str, float] = {}
            for workers in sorted({0, args.workers}):
                for label, sizes in ((f"checkpoints every {args.batch:,}", batched),
                                     ("one range (rebuild)", [args.entries])):
                    raw_now = all_cores_verify_rate(raw_pool, cores, 0.5)
                    rate, cpu_us = run(url, cps, sizes, workers)
                    line = (f"audited, {label:28s} workers={workers}: {rate:8,.0f} entries/s "
                            f"({rate / raw_now:.2f} x raw {cores}-core verify "
                            f"{raw_now:,.0f}/s); CPU here {cpu_us:.0f} us/entry")
                    if workers == 0:
                        whole[label] = cpu_us
                    else:
                        idle = min(1e6 / cpu_us, cores * 1e6 / (whole[label] + cpu_us))
                        line += f"; idle {cores}-core estimate {idle:,.0f} entries/s"
                    print(line)
        finally:
            server.terminate()
            server.wait(timeout=10)
            raw_pool.shutdown()


if __name__ == "__main__":
    main()
