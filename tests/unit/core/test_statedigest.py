"""State digests: the same function for publishers and clients, and format detection."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vigil.client.run import metadata_digest
from vigil.core.statedigest import guess_format, state_digest
from vigil.errors import ConfigError

RELEASE = b"Origin: Vigil\nSuite: stable\nSHA256:\n 0123 10 main/binary-amd64/Packages\n"
INRELEASE = (b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + RELEASE
             + b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n")
REPOMD = b'<?xml version="1.0" encoding="UTF-8"?>\n<repomd xmlns="x"><revision>1</revision>'


@pytest.mark.parametrize(("name", "data", "want"), [
    ("repomd.xml", REPOMD, "rpm-md"),
    ("anything.xml", REPOMD, "rpm-md"),
    ("InRelease", INRELEASE, "deb"),
    ("Release", RELEASE, "deb"),
    ("saved", RELEASE, "deb"),
    ("core.db", b"\x1f\x8b\x08\x00", "arch"),
    ("index.tar.gz", b"\x1f\x8b\x08\x00", "opam"),
    ("blob", b"\x1f\x8b\x08\x00", None),
    ("manifest.json", b'{"mediaType": "application/vnd.oci.image.manifest.v1+json"}', "oci"),
    ("other.json", b'{"a": 1}', None),
])
def test_guess_format(name: str, data: bytes, want: str | None) -> None:
    assert guess_format(name, data) == want


def test_release_and_inrelease_have_one_digest() -> None:
    assert state_digest("deb", INRELEASE) == state_digest("deb", RELEASE)
    assert state_digest("deb", RELEASE) == hashlib.sha256(RELEASE).digest()
    assert state_digest("rpm-md", REPOMD) == hashlib.sha256(REPOMD).digest()


def test_client_refuses_metadata_of_another_format(tmp_path: Path) -> None:
    path = tmp_path / "Release"
    path.write_bytes(RELEASE)
    with pytest.raises(ConfigError, match="looks like deb metadata"):
        metadata_digest(path, "rpm-md")
    assert metadata_digest(path, "deb") == hashlib.sha256(RELEASE).digest()
    with pytest.raises(ConfigError, match="cannot read"):
        metadata_digest(tmp_path / "missing", "deb")
