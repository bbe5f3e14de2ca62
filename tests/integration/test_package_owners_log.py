"""End to end: package owners and the janitor quorum (Conex) on a real log on loopback.

A log starts with the owners charter of tests/ownerkit.py. People sign with
the CLI (`vigil release sign` adds each holder's signature to one envelope)
and submit; the log refuses (422 ``rejected``, naming the package) a
publisher changing a package without its owner, a new package without the
janitor quorum, and accepts the approved ones; `vigil audit` finds it honest.

The attack: a tampered server build (tests/tampered_log.py with
``VIGIL_TAMPER_SKIP_OWNERS=1``) logs a package change its owner never signed.
Its checkpoints and map verify against what it signs, but `vigil audit`,
replaying with the real rules, names the entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charterkit import T0, state_digest
from charterserver import CharterLogServer, charter_log
from logsupport import vigil
from ownerkit import (
    ALICE,
    BOARD,
    FIRST,
    J1,
    J2,
    MALLORY,
    PUB,
    SPEC,
    publish,
    rpm,
    with_changed,
)
from vigil.core.intoto import Subject
from vigil.core.note import Ed25519Signer
from vigil.core.statements import release_statement

ORIGIN = "test.example/owners"


@pytest.fixture
def honest(tmp_path: Path) -> Iterator[CharterLogServer]:
    with charter_log(tmp_path, "honest", origin=ORIGIN, charter=SPEC.text(), board=[BOARD]) as log:
        yield log


@pytest.fixture
def tampered(tmp_path: Path) -> Iterator[CharterLogServer]:
    with charter_log(tmp_path, "tampered", origin=ORIGIN, charter=SPEC.text(), board=[BOARD],
                     tamper={"VIGIL_TAMPER_SKIP_OWNERS": "1"}) as log:
        yield log


def key_file(tmp_path: Path, signer: Ed25519Signer) -> str:
    path = tmp_path / f"{signer.name}.key"
    path.write_text(signer.skey + "\n")
    return str(path)


def statement_file(tmp_path: Path, version: int, artifacts: list[tuple[str, bytes]]) -> Path:
    """An unsigned release statement of "oss", as `vigil release create` writes one."""
    statement = release_statement(
        repository="oss", version=version, format="rpm-md", published_s=T0 + 60 * version,
        state=Subject("repodata/repomd.xml", {"sha256": state_digest("oss", version).hex()}),
        artifacts=[Subject(name, {"sha256": digest.hex()}) for name, digest in artifacts],
    )
    path = tmp_path / f"release-{version}.json"
    path.write_bytes(statement.raw)
    return path


def test_owners_sign_with_the_cli_and_the_log_enforces(
    tmp_path: Path, honest: CharterLogServer
) -> None:
    shown = vigil("charter", "show", str(tmp_path / "honest-charter.json")).stdout
    assert "Package 'foo': owned by own-alice (" in shown
    assert "2 of the 3 janitors of team 'janitors' together can change any package" in shown

    # Release 1: every package is new, so the publisher alone is refused ...
    first = statement_file(tmp_path, 1, list(FIRST))
    vigil("release", "sign", str(first), "--key", key_file(tmp_path, PUB))
    envelope = first.with_name("release-1.dsse.json")
    refused = honest.cli("release", "submit", str(envelope), check=False)
    assert refused.returncode == 1
    assert "package 'bar' (added) needs a signature by an owner" in refused.stderr
    # ... and two janitors add their signatures to the same envelope.
    for janitor in (J1, J2):
        vigil("release", "sign", str(envelope), "--key", key_file(tmp_path, janitor))
    assert "logged at index 1" in honest.cli("release", "submit", str(envelope)).stdout

    # Release 2 changes foo: 422 without its owner, accepted once the owner signs.
    changed = with_changed(FIRST, "foo")
    answer = honest.submit(publish(2, changed, [PUB]), status=422)
    assert answer["error"] == "rejected"
    assert "package 'foo' (changed) needs a signature by an owner (own-alice (" in answer["message"]
    second = statement_file(tmp_path, 2, changed)
    vigil("release", "sign", str(second), "--key", key_file(tmp_path, PUB))
    signed = vigil("release", "sign", str(second.with_name("release-2.dsse.json")),
                   "--key", key_file(tmp_path, ALICE)).stdout
    assert "2 signature(s)" in signed
    assert "logged at index 2" in honest.cli(
        "release", "submit", str(second.with_name("release-2.dsse.json"))).stdout

    # A new package name: its would-be owner is nobody; the janitors must agree.
    answer = honest.submit(publish(3, [*changed, rpm("qux")], [PUB, ALICE, J1]), status=422)
    assert "package 'qux' (added) has no owner, so it needs 2 of 3 janitors" in answer["message"]
    assert "janitors: 1 of 2 required signatures" in answer["message"]
    honest.submit(publish(3, [*changed, rpm("qux")], [PUB, J1, J2]))

    audit = honest.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "consistent" in audit.stdout


def test_a_log_that_skips_the_owners_is_caught_by_audit(tampered: CharterLogServer) -> None:
    tampered.submit(publish(1, list(FIRST), [PUB, J1, J2]))
    # The publisher alone changes foo, and the tampered log takes it.
    lie = tampered.submit(publish(2, with_changed(FIRST, "foo"), [PUB]))["index"]
    assert lie == 2
    result = tampered.audit()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "status map WRONG" in result.stdout and "THE LOG LIED" in result.stdout
    assert (f"entry {lie} breaks the rules: release 2 of 'oss': package 'foo' (changed) needs a "
            "signature by an owner") in result.stdout


def test_janitors_set_owners_with_the_cli_and_audit_replays_it(
    tmp_path: Path, honest: CharterLogServer
) -> None:
    """ADR 0013: `vigil owners create|sign|submit`; the log takes only the janitor quorum."""
    honest.submit(publish(1, list(FIRST), [PUB, J1, J2]))
    statement = tmp_path / "owners-1.json"
    vigil("owners", "create", "--repository", "oss", "--counter", "1",
          "--package", f"foo={MALLORY.vkey}", "--package", "bar=", "--out", str(statement))
    vigil("owners", "sign", str(statement), "--key", key_file(tmp_path, J1))
    envelope = statement.with_name("owners-1.dsse.json")
    refused = honest.cli("owners", "submit", str(envelope), check=False)
    assert refused.returncode == 1
    assert "janitors (team 'janitors'): 1 of 2" in refused.stderr
    vigil("owners", "sign", str(envelope), "--key", key_file(tmp_path, J2))
    assert "logged at index 2" in honest.cli("owners", "submit", str(envelope)).stdout
    # foo is Mallory's now, not Alice's.
    answer = honest.submit(publish(2, with_changed(FIRST, "foo"), [PUB, ALICE]), status=422)
    assert "package 'foo' (changed) needs a signature by an owner (own-mallory (" \
        in answer["message"]
    honest.submit(publish(2, with_changed(FIRST, "foo"), [PUB, MALLORY]))
    audit = honest.audit()
    assert audit.returncode == 0, audit.stdout + audit.stderr
