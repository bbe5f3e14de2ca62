"""State digests of real repositories, made by the real tools."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from toolsupport import arch_repo, deb_repo, rpm_repo
from vigil.core.statedigest import deb_release_text
from vigil.core.statements import parse_release
from vigil.errors import ConfigError, FormatError
from vigil.roles.release import create_release, detect_state


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_rpm_md_is_the_digest_of_repomd(tmp_path: Path) -> None:
    root = rpm_repo(tmp_path / "rpm")
    (root / "x86_64").mkdir()
    (root / "x86_64" / "foo-1.0.rpm").write_bytes(b"rpm bytes")
    state = detect_state(root, artifacts=True)
    repomd = (root / "repodata" / "repomd.xml").read_bytes()
    assert state.format == "rpm-md" and state.state.name == "repodata/repomd.xml"
    assert state.state.digest["sha256"] == sha256(repomd)
    assert [(a.name, a.digest["sha256"]) for a in state.artifacts] == [
        ("x86_64/foo-1.0.rpm", sha256(b"rpm bytes"))
    ]
    # The metadata file itself gives the same state.
    same = detect_state(root / "repodata" / "repomd.xml", artifacts=True)
    assert same.state == state.state and same.artifacts == state.artifacts


def test_deb_inrelease_and_release_give_the_same_digest(tmp_path: Path) -> None:
    root = deb_repo(tmp_path / "deb", extra_line="-starts-with-a-dash: yes")
    release = (root / "Release").read_bytes()
    inrelease = (root / "InRelease").read_bytes()
    assert b"\n- -starts-with-a-dash" in inrelease  # gpg dash-escaped it
    assert deb_release_text(inrelease) == release
    state = detect_state(root, artifacts=True)
    assert state.format == "deb" and state.state.name == "InRelease"
    assert state.state.digest["sha256"] == sha256(release)
    assert detect_state(root / "Release").state.digest == state.state.digest
    assert [a.name for a in state.artifacts] == ["pool/foo_1.0_all.deb"]


def test_deb_inrelease_strictness() -> None:
    with pytest.raises(FormatError, match="no signature block"):
        deb_release_text(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nA: b\n")
    with pytest.raises(FormatError, match="not followed by a blank line"):
        deb_release_text(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\nA: b\n")
    with pytest.raises(FormatError, match="carriage return"):
        deb_release_text(b"A: b\r\n")


def test_arch_is_the_digest_of_the_database(tmp_path: Path) -> None:
    root = arch_repo(tmp_path / "arch")
    state = detect_state(root, artifacts=True)
    assert state.format == "arch" and state.state.name == "test.db"
    assert state.state.digest["sha256"] == sha256((root / "test.db.tar.gz").read_bytes())
    assert [a.name for a in state.artifacts] == ["foo-1.0-1-any.pkg.tar.gz"]


def test_oci_layout_is_the_manifest_digest(tmp_path: Path) -> None:
    root = tmp_path / "oci"
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config, layer = b'{"architecture":"amd64"}', b"layer bytes"
    for blob in (config, layer):
        (blobs / sha256(blob)).write_bytes(blob)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": f"sha256:{sha256(config)}", "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{sha256(layer)}", "size": len(layer)}],
    }).encode()
    (blobs / sha256(manifest)).write_bytes(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": f"sha256:{sha256(manifest)}", "size": len(manifest)}],
    }))
    state = detect_state(root, artifacts=True)
    assert state.format == "oci" and state.state.digest["sha256"] == sha256(manifest)
    assert [a.digest["sha256"] for a in state.artifacts] == [sha256(config), sha256(layer)]
    (blobs / sha256(manifest)).write_bytes(manifest + b" ")
    with pytest.raises(ConfigError, match="do not match the digest"):
        detect_state(root)


def test_opam_and_generic(tmp_path: Path) -> None:
    root = tmp_path / "opam"
    root.mkdir()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("packages/foo/foo.1.0/opam")
        data = b'opam-version: "2.0"\n'
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    (root / "index.tar.gz").write_bytes(buffer.getvalue())
    state = detect_state(root)
    assert state.format == "opam" and state.state.digest["sha256"] == sha256(buffer.getvalue())
    other = tmp_path / "thing.bin"
    other.write_bytes(b"anything")
    assert detect_state(other).format == "generic"


def test_ambiguous_or_unknown_directories(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot tell the repository format"):
        detect_state(tmp_path)
    root = rpm_repo(tmp_path / "both")
    (root / "Release").write_text("Origin: x\n")
    with pytest.raises(ConfigError, match=r"found rpm-md \(repomd.xml\), deb \(Release\)"):
        detect_state(root)
    assert detect_state(root, format="deb").format == "deb"


def test_release_statement_from_a_state(tmp_path: Path) -> None:
    state = detect_state(rpm_repo(tmp_path / "rpm"))
    statement = create_release(state, repository="main", version=7, published_s=1_700_000_000)
    release = parse_release(statement)
    assert (release.repository, release.version, release.format) == ("main", 7, "rpm-md")
    assert release.digest.hex() == state.state.digest["sha256"]
