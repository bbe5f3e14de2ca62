"""End to end: a 5,000-artifact repository published as delta releases on a real log (ADR 0012).

A full listing of 5,000 rpm artifacts is far over a log entry's 64 KiB, so
the log refuses it (413). The publisher instead logs a full release of the
first artifacts and then deltas: the first ones made by `vigil release
create --delta-from` from a real directory (one full release, then a chain),
signed and submitted with the CLI; the log judges each delta's changes with
the package owners rule (a delta changing foo and dropping packages without
approval is refused, 422); `vigil audit` replays every delta and finds the
log honest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from charterkit import T0, release
from charterserver import CharterLogServer, charter_log
from logsupport import vigil
from ownerkit import BOARD, J1, J2, PUB, SPEC
from vigil.core.note import Ed25519Signer
from vigil.core.statements import format_time

ORIGIN = "test.example/deltas"
TOTAL = 5000
STEP = 250


@pytest.fixture
def log(tmp_path: Path) -> Iterator[CharterLogServer]:
    with charter_log(tmp_path, "log", origin=ORIGIN, charter=SPEC.text(), board=[BOARD]) as log:
        yield log


def package(number: int, version: str = "1.0") -> str:
    return f"pkg{number:05d}-{version}-1.x86_64.rpm"


def write_repo(root: Path, version: int, files: dict[str, bytes]) -> None:
    """An rpm-md directory holding exactly ``files`` under x86_64/, and its repomd.xml."""
    (root / "repodata").mkdir(parents=True, exist_ok=True)
    (root / "repodata" / "repomd.xml").write_text(f"<repomd revision='{version}'/>\n")
    arch = root / "x86_64"
    arch.mkdir(exist_ok=True)
    for old in arch.iterdir():
        if old.name not in files:
            old.unlink()
    for name, data in files.items():
        (arch / name).write_bytes(data)


def key_file(tmp_path: Path, signer: Ed25519Signer) -> str:
    path = tmp_path / f"{signer.name}.key"
    path.write_text(signer.skey + "\n")
    return str(path)


def create_and_sign(
    tmp_path: Path, version: int, signers: list[Ed25519Signer], *delta_from: Path
) -> Path:
    """`vigil release create` (a delta if ``delta_from``), then `vigil release sign` each."""
    out = tmp_path / f"release-{version}.json"
    args = ["release", "create", str(tmp_path / "repo"), "--repository", "oss",
            "--version", str(version), "--published", format_time(T0 + 60 * version),
            "--artifacts", "--out", str(out)]
    for path in delta_from:
        args += ["--delta-from", str(path)]
    vigil(*args)
    for signer in signers:
        target = out if signer is signers[0] else out.with_name(f"release-{version}.dsse.json")
        vigil("release", "sign", str(target), "--key", key_file(tmp_path, signer))
    return out.with_name(f"release-{version}.dsse.json")


def test_a_large_repository_grows_by_deltas(tmp_path: Path, log: CharterLogServer) -> None:
    files = {package(n): f"pkg {n} 1.0".encode() for n in range(STEP)}
    files["foo-1.0-1.x86_64.rpm"] = b"foo 1.0"
    write_repo(tmp_path / "repo", 1, files)
    first = create_and_sign(tmp_path, 1, [PUB, J1, J2])
    assert "logged at index 1" in log.cli("release", "submit", str(first)).stdout

    # Release 2: a delta adding STEP packages, made from the directory and release 1.
    files.update({package(n): f"pkg {n} 1.0".encode() for n in range(STEP, 2 * STEP)})
    write_repo(tmp_path / "repo", 2, files)
    second = create_and_sign(tmp_path, 2, [PUB, J1, J2], first)
    predicate = json.loads(vigil("release", "create", str(tmp_path / "repo"), "--repository",
                                 "oss", "--version", "2", "--delta-from", str(first)).stdout)
    assert predicate["predicate"]["artifacts"] == "delta"
    assert len(predicate["subject"]) == 1 + STEP
    log.cli("release", "submit", str(second))

    # Release 3 changes foo (owned by Alice) and drops ten packages: the publisher
    # alone is refused; with the janitor quorum's signatures added, accepted.
    files["foo-2.0-1.x86_64.rpm"] = b"foo 2.0"
    del files["foo-1.0-1.x86_64.rpm"]
    for n in range(10):
        del files[package(n)]
    write_repo(tmp_path / "repo", 3, files)
    third = create_and_sign(tmp_path, 3, [PUB], first, second)
    refused = log.cli("release", "submit", str(third), check=False)
    assert refused.returncode == 1
    assert "release 3 of 'oss': package 'foo' (changed) needs a signature by an owner" \
        in refused.stderr
    for janitor in (J1, J2):
        vigil("release", "sign", str(third), "--key", key_file(tmp_path, janitor))
    log.cli("release", "submit", str(third))

    # Up to TOTAL artifacts, STEP new packages per delta (the chain goes on from Python).
    current = {f"x86_64/{name}": hashlib.sha256(data).digest() for name, data in files.items()}
    version, number = 3, 2 * STEP
    while len(current) < TOTAL:
        version += 1
        added = {f"x86_64/{package(n)}": hashlib.sha256(f"pkg {n}".encode()).digest()
                 for n in range(number, number + min(STEP, TOTAL - len(current)))}
        number += len(added)
        log.submit(release("oss", version, [PUB, J1, J2], artifacts=sorted(added.items()),
                           delta=True))
        current.update(added)
    assert len(current) == TOTAL

    # The whole set as one full release does not fit an entry.
    answer = log.submit(release("oss", version + 1, [PUB, J1, J2],
                                artifacts=sorted(current.items())), status=413)
    assert answer["error"] == "too-large"

    audit = log.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "consistent" in audit.stdout
