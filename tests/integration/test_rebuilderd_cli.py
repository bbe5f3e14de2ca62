"""``vigil attest --from-rebuilderd`` as a rebuilder runs it: the CLI as a subprocess.

A publisher's release of an Arch repository, rebuilderd's signed links for its
packages and the rebuilderd key as rebuilderd publishes it (PEM, CRLF, NULL
parameters): the CLI verifies the links, writes the signed attestation, and
the log's rules (charterkit.Sim judges entries as the log's commit gate does)
accept it as a reproduction. A link signed by another key, or a key file that
is not a public key, is refused with its reason and the documented exit code.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from charterkit import CharterSpec, Repo, Sim, key, release, sign_charter
from linkkit import link, pem, rebuilderd_signer
from logsupport import vigil
from vigil.core.dsse import format_envelope, parse_envelope
from vigil.core.intoto import parse_statement
from vigil.core.statements import parse_rebuild

PUB, RB, BOARD = key("pub"), key("rb"), key("board")
REBUILDERD = rebuilderd_signer()
PACKAGES = {"foo-1.0-1-x86_64.pkg.tar.zst": b"foo bytes", "bar-2.0-1-any.pkg.tar.zst": b"bar"}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Sim]:
    sim = Sim()
    spec = CharterSpec(foundation=[BOARD], repositories=[
        Repo("core", [PUB], 1, format="arch", rebuilders=[RB], rebuilds_required=1)])
    sim.submit(sign_charter(spec.text(), [BOARD]))
    artifacts = [(name, hashlib.sha256(data).digest()) for name, data in PACKAGES.items()]
    envelope = release("core", 7, [PUB], format="arch", artifacts=artifacts)
    sim.submit(envelope)
    (tmp_path / "rel.dsse.json").write_bytes(format_envelope(envelope))
    (tmp_path / "rb.key").write_text(RB.skey + "\n")
    (tmp_path / "rebuilderd.pub").write_bytes(pem(REBUILDERD))
    for name, data in PACKAGES.items():
        (tmp_path / f"{name}.link").write_bytes(link(name, data, [REBUILDERD]))
    return tmp_path, sim


def attest(
    work: Path, *links: str, key_file: str = "rebuilderd.pub", check: bool = True
) -> subprocess.CompletedProcess[str]:
    return vigil("attest", str(work / "rel.dsse.json"), "--from-rebuilderd",
                 *[str(work / name) for name in links], "--rebuilderd-key", str(work / key_file),
                 "--key", str(work / "rb.key"), "--builder", "https://rb.example/",
                 "--out", str(work / "att.json"), check=check)


def test_attest_from_rebuilderd_links_is_accepted_by_the_log(setup: tuple[Path, Sim]) -> None:
    work, sim = setup
    done = attest(work, *[f"{name}.link" for name in PACKAGES])
    assert "outcome: reproduced" in done.stderr
    assert "verified" in done.stderr and "signed by key" in done.stderr
    envelope = parse_envelope((work / "att.json").read_bytes())
    rebuild = parse_rebuild(parse_statement(envelope.payload))
    assert {r.result for r in rebuild.results} == {"reproduced"}
    assert len(rebuild.inputs) == 4  # two link files, two materials
    sim.submit(envelope)
    assert [r.result for r in sim.record("core").rebuilds] == ["reproduced"]


def test_link_by_another_key_refused(setup: tuple[Path, Sim]) -> None:
    work, _ = setup
    name = "foo-1.0-1-x86_64.pkg.tar.zst"
    (work / "forged.link").write_bytes(link(name, PACKAGES[name], [rebuilderd_signer("evil")]))
    refused = attest(work, "forged.link", check=False)
    assert refused.returncode == 1
    assert "forged.link: in-toto link" in refused.stderr
    assert "no signature by the rebuilderd key" in refused.stderr
    assert not (work / "att.json").exists()


def test_private_key_as_rebuilderd_key_refused(setup: tuple[Path, Sim]) -> None:
    work, _ = setup
    (work / "oops.pem").write_text("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
    refused = attest(work, "foo-1.0-1-x86_64.pkg.tar.zst.link", key_file="oops.pem", check=False)
    assert refused.returncode == 2
    assert "never pass a private key" in refused.stderr


def test_directory_and_links_are_exclusive(setup: tuple[Path, Sim]) -> None:
    work, _ = setup
    both = vigil("attest", str(work / "rel.dsse.json"), str(work), "--from-rebuilderd",
                 str(work / "foo-1.0-1-x86_64.pkg.tar.zst.link"), "--key", str(work / "rb.key"),
                 "--builder", "https://rb.example/", check=False)
    assert both.returncode == 2 and "not both" in both.stderr
