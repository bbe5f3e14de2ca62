"""Package owners (Conex, ADR 0010): how big a release can be, and what the rule costs.

Prints, measured in this run on this machine:

1. The most rpm artifacts one release entry can list (the canonical DSSE
   envelope must fit an entry bundle's 65,535 bytes) with 1 and 3 signatures,
   for artifact names like ``x86_64/python3-foo-bar-1.2.3-150600.3.1.x86_64.rpm``.
2. CPU time (``time.process_time``) to judge one release of that size in the
   status map, for a repository without owners and one with owners (every
   package owned; one package changes, signed by its owner), interleaved
   A, B, A, B... and reported as min and median of the rounds; beside it the
   time to verify the envelope's signatures and parse it (what judging any
   entry costs anyway), as this machine's floor.

Run: ``.venv/bin/python bench/owners_bench.py [--rounds N]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from charterkit import CharterSpec, Repo, key, release, sign_charter  # noqa: E402
from release_delta import floor_time as verify_entry_time  # noqa: E402
from release_delta import judge_time as judge_entry_time  # noqa: E402
from release_delta import most_artifacts  # noqa: E402  (same artifact names)
from vigil.core.dsse import Envelope, format_envelope  # noqa: E402
from vigil.core.note import Ed25519Signer  # noqa: E402
from vigil.core.statusmap import StatusMap, verify_logged_entry  # noqa: E402
from vigil.core.tiles import MAX_ENTRY_BYTES  # noqa: E402

BOARD, PUB, OWNER = key("bench-board"), key("bench-pub"), key("bench-owner")
JANITORS = [key(f"bench-j{i}") for i in range(3)]


def artifacts(count: int, changed: int = -1) -> list[tuple[str, bytes]]:
    out = []
    for number in range(count):
        version = "2.0.0" if number == changed else "1.2.3"
        name = f"x86_64/python3-pkg{number:05d}-{version}-150600.3.1.x86_64.rpm"
        out.append((name, hashlib.sha256(name.encode()).digest()))
    return out


def charter(count: int, owners: bool) -> bytes:
    repo = Repo("oss", [PUB])
    teams: list[tuple[str, list[Ed25519Signer]]] = []
    if owners:
        packages = [(f"python3-pkg{n:05d}", ("team:owners",)) for n in range(count)]
        repo = Repo("oss", [PUB], janitors="janitors", janitor_threshold=2, owners=packages)
        teams = [("janitors", JANITORS), ("owners", [OWNER])]
    return CharterSpec(foundation=[BOARD], repositories=[repo], teams=teams).text()


def judge_time(count: int, owners: bool) -> Callable[[], float]:
    """A function that judges release 2 (one package changed) on a fresh map, in CPU s."""
    state = StatusMap()
    entries: list[Envelope] = [
        sign_charter(charter(count, owners), [BOARD]),
        release("oss", 1, [PUB, *JANITORS], artifacts=artifacts(count)),
    ]
    for index, envelope in enumerate(entries):
        state.apply(verify_logged_entry(index, format_envelope(envelope)))
    second = format_envelope(release("oss", 2, [PUB, OWNER], artifacts=artifacts(count, 7)))
    return judge_entry_time(state, second)


def floor_time(count: int) -> Callable[[], float]:
    """A function that verifies and parses such a release entry, in CPU s."""
    second = format_envelope(release("oss", 2, [PUB, OWNER], artifacts=artifacts(count, 7)))
    return verify_entry_time(2, second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    one, three = most_artifacts([PUB]), most_artifacts([PUB, OWNER, JANITORS[0]])
    print(f"most rpm artifacts in one release entry (<= {MAX_ENTRY_BYTES} bytes): "
          f"{one} with 1 signature, {three} with 3 signatures")
    count = three
    plain, owned = judge_time(count, False), judge_time(count, True)
    floor = floor_time(count)
    times: dict[str, list[float]] = {"without owners": [], "with owners": [],
                                     "verify + parse the entry (floor)": []}
    for _ in range(args.rounds):
        times["without owners"].append(plain())
        times["with owners"].append(owned())
        times["verify + parse the entry (floor)"].append(floor())
    print(f"judging release 2 of {count} artifacts (1 package changed), CPU ms per entry, "
          f"{args.rounds} interleaved rounds:")
    for name, values in times.items():
        print(f"  {name:<36} min {min(values) * 1e3:7.3f}  median "
              f"{statistics.median(values) * 1e3:7.3f}")
    extra = statistics.median(times["with owners"]) - statistics.median(times["without owners"])
    print(f"owners rule: +{extra * 1e3:.3f} ms median per release of {count} artifacts "
          f"({extra / count * 1e6:.2f} us per artifact)")


if __name__ == "__main__":
    main()
