"""Delta releases (ADR 0012): entry sizes, and what judging and restoring cost at scale.

Prints, measured in this run on this machine:

1. The most rpm artifacts one *full* release entry can list (canonical DSSE
   envelope <= 65,535 bytes, 3 signatures), for names like
   ``x86_64/python3-pkg00001-1.2.3-150600.3.1.x86_64.rpm``.
2. The size of a *delta* release entry by number of added/changed artifacts,
   raw and gzip-compressed as the log serves it (level 6): what a client's
   verification bundle carries for the latest release (budget 8 KB).
3. CPU time (``time.process_time``) to judge one delta changing 10 packages
   in the status map, for repositories of 5,000 and 50,000 artifacts,
   without owners and with owners (100 owned packages, the changed ones
   signed by their owner), interleaved A, B, C, D... and reported as min
   and median over the rounds; beside it the time to verify and parse the
   same entry (what judging any entry costs anyway: this machine's floor).
4. The saved state's size and the CPU time to restore it
   (``StatusMap.restore_state``) with those repositories.

Run: ``.venv/bin/python bench/release_delta.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from charterkit import CharterSpec, Repo, key, release, sign_charter  # noqa: E402
from vigil.core.dsse import format_envelope  # noqa: E402
from vigil.core.note import Ed25519Signer  # noqa: E402
from vigil.core.statusmap import StatusMap, verify_logged_entry  # noqa: E402
from vigil.core.tiles import MAX_ENTRY_BYTES  # noqa: E402

BOARD, PUB, OWNER = key("bench-board"), key("bench-pub"), key("bench-owner")
JANITORS = [key(f"bench-j{i}") for i in range(3)]
CHANGED = 10
OWNED = 100


def artifact(number: int, version: str = "1.2.3") -> tuple[str, bytes]:
    name = f"x86_64/python3-pkg{number:05d}-{version}-150600.3.1.x86_64.rpm"
    return name, hashlib.sha256(name.encode()).digest()


def full_size(count: int, signers: list[Ed25519Signer]) -> int:
    listed = [artifact(n) for n in range(count)]
    return len(format_envelope(release("oss", 1, signers, artifacts=listed)))


def most_artifacts(signers: list[Ed25519Signer]) -> int:
    low, high = 0, 2048
    while low < high:
        middle = (low + high + 1) // 2
        if full_size(middle, signers) <= MAX_ENTRY_BYTES:
            low = middle
        else:
            high = middle - 1
    return low


def delta_entry(version: int, changed: int) -> bytes:
    """Release ``version``: ``changed`` packages move to 2.0.0 (old artifacts removed)."""
    listed = [artifact(n, "2.0.0") for n in range(changed)]
    removed = [artifact(n)[0] for n in range(changed)]
    return format_envelope(release("oss", version, [PUB, OWNER], artifacts=listed,
                                   delta=True, removed=removed))


def charter(owners: bool) -> bytes:
    repo = Repo("oss", [PUB])
    teams: list[tuple[str, list[Ed25519Signer]]] = []
    if owners:
        packages = [(f"python3-pkg{n:05d}", ("team:owners",)) for n in range(OWNED)]
        repo = Repo("oss", [PUB], janitors="janitors", janitor_threshold=2, owners=packages)
        teams = [("janitors", JANITORS), ("owners", [OWNER])]
    return CharterSpec(foundation=[BOARD], repositories=[repo], teams=teams).text()


def grown_map(count: int, owners: bool) -> tuple[StatusMap, list[bytes]]:
    """A map whose "oss" holds ``count`` artifacts: a full release, then deltas of 300."""
    entries = [format_envelope(sign_charter(charter(owners), [BOARD]))]
    step = 300
    entries.append(format_envelope(release(
        "oss", 1, [PUB, *JANITORS], artifacts=[artifact(n) for n in range(step)])))
    for start in range(step, count, step):
        listed = [artifact(n) for n in range(start, min(start + step, count))]
        entries.append(format_envelope(release(
            "oss", len(entries), [PUB, *JANITORS], artifacts=listed, delta=True)))
    state = StatusMap()
    for index, data in enumerate(entries):
        state.apply(verify_logged_entry(index, data))
    return state, entries


def judge_time(state: StatusMap, entry: bytes) -> Callable[[], float]:
    logged = verify_logged_entry(state.size, entry)

    def run() -> float:
        state.begin()
        start = time.process_time()
        state.apply(logged)
        elapsed = time.process_time() - start
        state.rollback()
        return elapsed

    return run


def floor_time(index: int, entry: bytes) -> Callable[[], float]:
    def run() -> float:
        start = time.process_time()
        verify_logged_entry(index, entry)
        return time.process_time() - start

    return run


def restore_time(state: StatusMap, entries: list[bytes]) -> tuple[int, float]:
    saved = state.export_state()
    start = time.process_time()
    restored = StatusMap.restore_state(saved, lambda i: entries[i])
    elapsed = time.process_time() - start
    assert restored.export_state() == saved
    return len(saved), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"1. most rpm artifacts in one full release entry (<= {MAX_ENTRY_BYTES} bytes, "
          f"3 signatures): {most_artifacts([PUB, OWNER, JANITORS[0]])}")
    print("2. delta release entry (2 signatures), N packages changed (N listed + N removed):")
    for changed in (1, 5, 10, 20, 40, 80):
        data = delta_entry(2, changed)
        print(f"   N={changed:3d}: {len(data):6d} bytes, gzip {len(gzip.compress(data, 6)):6d}")
    runs: dict[str, Callable[[], float]] = {}
    restores = []
    for count in (5000, 50000):
        for owners in (False, True):
            state, entries = grown_map(count, owners)
            entry = delta_entry(state.size, CHANGED)
            label = f"{count} artifacts, {'with' if owners else 'without'} owners"
            runs[label] = judge_time(state, entry)
            if owners:
                runs[f"{count} artifacts, verify + parse (floor)"] = floor_time(state.size, entry)
            restores.append((label, len(entries), *restore_time(state, entries)))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            times[name].append(run())
    print(f"3. judging one delta ({CHANGED} packages changed), CPU ms, {args.rounds} "
          "interleaved rounds:")
    for name, values in times.items():
        print(f"   {name:<40} min {min(values) * 1e3:8.3f}  median "
              f"{statistics.median(values) * 1e3:8.3f}")
    print("4. saved state and restore (one run each):")
    for label, count, size, elapsed in restores:
        print(f"   {label:<40} {count:4d} entries, state {size / 1e6:6.2f} MB, restore "
              f"{elapsed * 1e3:7.1f} ms CPU")
    load = os.getloadavg()
    print(f"load at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
