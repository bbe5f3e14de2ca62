"""Client benchmark (issue 6, "Speed"): ``vigil verify`` against a real federation.

A log (SQLite, tiles) with a charter naming 50 repositories and three real
witnesses (quorum 2) runs on loopback. Each repository has a release and two
rebuild attestations. The log is grown to each size in ``--sizes`` (bulk
pre-fill of signed generic entries, :mod:`log_prefill`; the releases are then
logged again through the server so they sit at the end of the log), and at
each size the benchmark prints:

* the bundle of one repository: bytes of JSON and bytes on the wire (gzip),
  and how it grows with the log (it must grow only with log n);
* ``vigil verify --repo`` with warm state (the machine verified an earlier
  tree; a few entries were logged since, so the bundle carries a consistency
  proof): wall time of the whole command, interpreter start included
  (target <= 150 ms at 1,000,000 entries, <= 8 KB transferred);
* ``vigil verify --all`` over the 50 repositories (target <= 1 s).

Machine limits measured in the same run: ``python -c pass`` (the floor for
any Python command) and the Ed25519 verify rate, so ratios hold on a noisy
machine.

Run: ``python bench/client.py [--sizes 1000,1000000] [--dir .bench/client]``.
The big log is kept in ``--dir`` for the next run (delete it to start over).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from log_prefill import prefill
from vigil.core.charter import charter_statement, parse_charter
from vigil.core.dsse import format_envelope, sign_envelope
from vigil.core.intoto import PAYLOAD_TYPE_INTOTO, Subject
from vigil.core.note import Ed25519Signer, generate_signer
from vigil.core.statements import RebuildResult, rebuild_statement, release_statement
from vigil.log.config import format_config, parse_config

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "bench.example/client-log"
REPOSITORIES = 50
PYTHON = sys.executable


def key(name: str) -> Ed25519Signer:
    return generate_signer(name, seed=hashlib.sha256(f"bench/{name}".encode()).digest())


LOG, BOARD, PUB = key(ORIGIN), key("board"), key("publisher")
RB1, RB2 = key("rebuilder-1"), key("rebuilder-2")


def cli(*args: str) -> str:
    result = subprocess.run([PYTHON, "-m", "vigil", *args], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"vigil {' '.join(args[:2])}: {result.stderr}")
    return result.stdout


class Process:
    """A server subprocess that prints ``listening on URL``."""

    def __init__(self, *args: str, log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen([PYTHON, "-m", "vigil", *args], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=self._log)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("listening on "):
            raise RuntimeError(f"{args[:2]} did not start: {line!r} (see {log})")
        self.url = line.removeprefix("listening on ").strip()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        self._log.close()


def charter_text(witnesses: list[str]) -> bytes:
    lines = ["[charter]", 'name = "bench"', "version = 1", "", "[foundation]", "threshold = 1",
             f'keys = ["{BOARD.vkey}"]', "", "[[log]]", f'origin = "{ORIGIN}"',
             f'key = "{LOG.vkey}"', "", "[witnesses]", 'quorum = "q"', ""]
    for i, vkey in enumerate(witnesses):
        lines += ["[[witnesses.witness]]", f'name = "w{i}"', f'key = "{vkey}"', ""]
    lines += ["[[witnesses.group]]", 'name = "q"', "threshold = 2",
              'members = ["w0", "w1", "w2"]', ""]
    for r in range(REPOSITORIES):
        lines += ["[[repository]]", f'name = "repo-{r:02d}"', 'format = "rpm-md"',
                  f'publishers = ["{PUB.vkey}"]', "publisher_threshold = 1",
                  f'rebuilders = ["{RB1.vkey}", "{RB2.vkey}"]', "rebuilds_required = 2",
                  "freshness_s = 86400", 'stale = "reject"', ""]
    return "\n".join(lines).encode()


def metadata(root: Path, repo: int, version: int) -> Path:
    path = root / "repos" / f"repo-{repo:02d}" / "repodata" / "repomd.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f'<?xml version="1.0"?>\n<repomd><revision>{version}</revision>'
                     f"<repo>{repo}</repo></repomd>\n".encode())
    return path


def release_entries(root: Path, version: int) -> list[bytes]:
    entries = []
    for r in range(REPOSITORIES):
        digest = hashlib.sha256(metadata(root, r, version).read_bytes()).hexdigest()
        statement = release_statement(
            repository=f"repo-{r:02d}", version=version, format="rpm-md",
            published_s=int(time.time()), state=Subject("repodata/repomd.xml",
                                                        {"sha256": digest}),
            artifacts=[],
        )
        entries.append(format_envelope(sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw,
                                                     [PUB])))
        for rebuilder in (RB1, RB2):
            attestation = rebuild_statement(
                repository=f"repo-{r:02d}", version=version,
                release_digest=bytes.fromhex(digest), builder=f"https://{rebuilder.name}/",
                results=[RebuildResult("x86_64/pkg.rpm", "reproduced", {"sha256": "ab" * 32})],
            )
            entries.append(format_envelope(sign_envelope(PAYLOAD_TYPE_INTOTO, attestation.raw,
                                                         [rebuilder])))
    return entries


def setup(root: Path) -> list[Path]:
    """Keys, witnesses, charter and log under ``root`` (once)."""
    if (root / "log" / "config.toml").exists():
        return sorted(root.glob("w?"))
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "log.key").write_text(LOG.skey + "\n")
    witnesses, vkeys = [], []
    for i in range(3):
        directory = root / f"w{i}"
        out = cli("witness", "init", str(directory), "--name", f"w{i}.bench.example")
        vkeys.append(next(line.split(": ", 1)[1] for line in out.splitlines()
                          if line.startswith("witness key: ")))
        cli("witness", "add-log", str(directory), "--origin", ORIGIN, "--vkey", LOG.vkey)
        witnesses.append(directory)
    (root / "vkeys.json").write_text(json.dumps(vkeys))
    text = charter_text(vkeys)
    envelope = sign_envelope(PAYLOAD_TYPE_INTOTO, charter_statement(parse_charter(text)).raw,
                             [BOARD])
    (root / "charter.dsse.json").write_bytes(format_envelope(envelope))
    cli("log", "init", str(root / "log"), "--origin", ORIGIN, "--key", str(root / "log.key"),
        "--charter", str(root / "charter.dsse.json"))
    # Integrate the charter (entry 0) so that the bulk pre-fill continues a tree.
    log = Process("log", "serve", str(root / "log"), "--port", "0", log=root / "log.log")
    while httpx.get(log.url + "/checkpoint", timeout=5).text.split("\n")[1] != "1":
        time.sleep(0.1)
    log.stop()
    return witnesses


def start(root: Path, witness_dirs: list[Path]) -> tuple[Process, list[Process]]:
    witnesses = [Process("witness", "serve", str(d), "--port", "0", log=d / "server.log")
                 for d in witness_dirs]
    vkeys = json.loads((root / "vkeys.json").read_text())
    policy = f"log {LOG.vkey}\n" + "".join(
        f"witness w{i} {vkey} {w.url}\n" for i, (vkey, w) in enumerate(zip(vkeys, witnesses,
                                                                            strict=True))
    ) + "group q 2 w0 w1 w2\nquorum q\n"
    (root / "log" / "witnesses.policy").write_text(policy)
    config = parse_config((root / "log" / "config.toml").read_text())
    config = replace(config, witnesses=replace(config.witnesses, policy_file="witnesses.policy"))
    (root / "log" / "config.toml").write_text(format_config(config))
    log = Process("log", "serve", str(root / "log"), "--port", "0", log=root / "log.log")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            if httpx.get(log.url + "/checkpoint", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return log, witnesses


def next_version(url: str) -> int:
    """One more than the latest release of repo-00 (a kept log was measured before)."""
    import base64

    answer = httpx.get(url + "/api/v1/status/repo-00", timeout=30).json()
    if "record" not in answer:
        return 1
    record = json.loads(base64.b64decode(answer["record"]["record"]))
    return max(r["version"] for r in record["releases"]) + 1


def submit(url: str, entries: list[bytes]) -> None:
    for start_at in range(0, len(entries), 500):
        body = b'{"entries":[' + b",".join(entries[start_at : start_at + 500]) + b"]}"
        response = httpx.post(url + "/api/v1/entries:batch", content=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"batch refused: {response.status_code} {response.text[:300]}")


# An installed package has its bytecode compiled (pip, dpkg and rpm do it at
# install time); this checkout's may not (PYTHONDONTWRITEBYTECODE), so the
# benchmark compiles it once and lets the measured commands use it.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], runs: int, between: object = None) -> tuple[list[float], str]:
    walls, out = [], ""
    for _ in range(runs):
        if callable(between):
            between()
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                                env=_ENV)
        walls.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[3:6])}: exit {result.returncode}: "
                               f"{_failures(result.stdout)} {result.stderr[-800:]}")
        out = result.stdout
    return walls, out


def _failures(output: str) -> str:
    try:
        document = json.loads(output)
    except ValueError:
        return output[-800:]
    results = document.get("repositories", [document])
    return "; ".join(f"{r['repository']}: {c['name']}: {c['detail']}" for r in results
                     for c in r.get("checks", []) if c["outcome"] == "fail")[:2000]


def measure(root: Path, url: str, version: int, size: int, runs: int) -> dict[str, float]:
    state = root / f"state-{size}"
    shutil.rmtree(state, ignore_errors=True)
    config = root / "config.toml"
    config.write_text(
        f'charter = "{root / "charter.dsse.json"}"\nstate_dir = "{state}"\n'
        f'mirrors = ["{url}"]\n\n' + "".join(
            f'[[repository]]\nname = "repo-{r:02d}"\n'
            f'metadata = "{metadata(root, r, version)}"\n\n' for r in range(REPOSITORIES)
        )
    )
    base = [PYTHON, "-m", "vigil", "verify", "--config", str(config), "--json"]
    timed([*base, "--all"], 1)  # cold: first view, stored state
    counter = [0]

    def grow() -> None:  # new entries: the next bundle carries a consistency proof
        counter[0] += 1
        submit(url, [generic_entry(f"grow-{size}-{counter[0]}-{time.time_ns()}")])
        # The log and witnesses share this machine's two cores; a client runs on
        # its own machine, so let them go idle before the measured run.
        time.sleep(0.5)

    walls, out = timed([*base, "--repo", "repo-07"], runs, grow)
    single = json.loads(out)
    all_walls, _ = timed([*base, "--all"], max(3, runs // 3), grow)
    bundle = httpx.get(f"{url}/api/v1/bundle/repo-07", params={"size": 0, "charter": 1},
                       headers={"Accept-Encoding": "identity"}, timeout=30).content
    return {
        "verify_median_s": statistics.median(walls),
        "verify_min_s": min(walls),
        "transferred": single["transferred_bytes"],
        "bundle_bytes": single["bundle_bytes"],
        "bundle_cold_bytes": len(bundle),
        "all_median_s": statistics.median(all_walls),
    }


def generic_entry(name: str) -> bytes:
    from vigil.core.intoto import build_statement
    from vigil.core.statements import ARTIFACT_PREDICATE_TYPE

    statement = build_statement(
        [Subject(name, {"sha256": hashlib.sha256(name.encode()).hexdigest()})],
        ARTIFACT_PREDICATE_TYPE, {"description": name},
    )
    return format_envelope(sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, [PUB]))


def verify_rate(seconds: float = 1.0) -> float:
    """Ed25519 verifications per second on one core (PyNaCl), now."""
    import nacl.signing

    signing = nacl.signing.SigningKey(bytes(32))
    signed = signing.sign(b"x" * 200)
    verifying = signing.verify_key
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            verifying.verify(signed)
        count += 200
    return count / (time.perf_counter() - started)


def python_floor(runs: int = 10) -> float:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", "pass"], check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000",
                        help="log sizes to measure at, ascending (comma-separated)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench" / "client")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    args.dir = args.dir.resolve()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    floor = python_floor()
    print(f"  python -c pass: {floor * 1000:.1f} ms (the floor of any Python command)")
    print(f"  ed25519 verify, 1 core: {verify_rate(1.0):,.0f}/s")
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "src" / "vigil")], check=True,
                   env=_ENV)
    witness_dirs = setup(args.dir)
    rows = []
    for size in sizes:
        print(f"\nlog of {size:,} entries:", flush=True)
        started = time.perf_counter()
        prefill(args.dir / "log", size - REPOSITORIES * 3)
        print(f"  pre-filled in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        log, witnesses = start(args.dir, witness_dirs)
        try:
            print(f"  log started in {time.perf_counter() - started:.0f} s", flush=True)
            version = next_version(log.url)
            submit(log.url, release_entries(args.dir, version))
            result = measure(args.dir, log.url, version, size, args.runs)
        finally:
            log.stop()
            for witness in witnesses:
                witness.stop()
        rows.append((size, result))
        print(f"  vigil verify --repo (warm): median {result['verify_median_s'] * 1000:.0f} ms, "
              f"min {result['verify_min_s'] * 1000:.0f} ms (target <= 150 ms; "
              f"{result['verify_median_s'] / floor:.1f}x python -c pass)")
        print(f"  transferred {result['transferred']:,} B (target <= 8,192), bundle "
              f"{result['bundle_bytes']:,} B JSON; cold bundle {result['bundle_cold_bytes']:,} B")
        print(f"  vigil verify --all ({REPOSITORIES} repositories): median "
              f"{result['all_median_s'] * 1000:.0f} ms (target <= 1,000 ms)")
    print("\nbundle growth (warm, one repository):")
    first = rows[0][1]
    for size, result in rows:
        print(f"  {size:>12,} entries: {result['transferred']:>6,} B on the wire, "
              f"{result['bundle_bytes']:>6,} B JSON "
              f"({result['bundle_bytes'] / first['bundle_bytes']:.2f}x the smallest)")


if __name__ == "__main__":
    main()
