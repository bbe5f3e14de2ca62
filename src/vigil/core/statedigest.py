"""What identifies a repository state: its metadata digest, per format.

DESIGN.md "Entries": rpm-md -> sha256 of ``repomd.xml``; deb -> sha256 of the
Release text (the signed part of ``InRelease``, not the signature block, so
``Release`` and ``InRelease`` give the same digest); arch -> sha256 of the
``.db``; oci -> the manifest digest; opam -> sha256 of ``index.tar.gz``;
generic -> sha256 of the file.

Publishers (:mod:`vigil.roles.release`) and clients (:mod:`vigil.client`)
compute it with the same function, so they cannot disagree. Pure: bytes in,
digest out.
"""

from __future__ import annotations

import hashlib
import json

from vigil.errors import FormatError

__all__ = ["deb_release_text", "guess_format", "state_digest"]

_BEGIN_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_BEGIN_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"BZh")


def deb_release_text(data: bytes) -> bytes:
    """The Release text of an ``InRelease`` (clear-signed) or ``Release`` file.

    For a clear-signed file (RFC 4880 §7): after the armor header line, the
    ``Hash:`` headers and a blank line, the text runs to the signature armor;
    lines starting with ``- `` are dash-unescaped. The result is those lines,
    each ending in a newline, which is byte for byte the ``Release`` file
    apt-ftparchive writes next to it.

    Raises:
        FormatError: a clear-signed file without headers or signature, a
            carriage return, or invalid UTF-8.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"Release: invalid UTF-8 at byte {exc.start}") from exc
    if "\r" in text:
        raise FormatError("Release: contains a carriage return (want LF line ends)")
    if not text.startswith(_BEGIN_SIGNED + "\n"):
        return data
    lines = text.split("\n")
    position = 1
    while position < len(lines) and lines[position].startswith("Hash:"):
        position += 1
    if position >= len(lines) or lines[position] != "":
        raise FormatError("InRelease: armor headers are not followed by a blank line")
    body: list[str] = []
    for line in lines[position + 1 :]:
        if line == _BEGIN_SIGNATURE:
            break
        body.append(line[2:] if line.startswith("- ") else line)
    else:
        raise FormatError("InRelease: no signature block after the signed text")
    return "".join(line + "\n" for line in body).encode("utf-8")


def guess_format(name: str, data: bytes) -> str | None:
    """The format a metadata file looks like, from its name and first bytes.

    Returns None when it could be several (a compressed tarball is an arch
    ``.db`` or an opam ``index.tar.gz``): the charter's format decides then.
    """
    head = data[:4096].lstrip()
    if name == "repomd.xml" or (head.startswith(b"<?xml") and b"<repomd" in head):
        return "rpm-md"
    if name in ("InRelease", "Release") or head.startswith(_BEGIN_SIGNED.encode()):
        return "deb"
    if head.startswith(b"{"):
        try:
            media = json.loads(data).get("mediaType", "")
        except (ValueError, AttributeError, RecursionError):
            return None
        if "manifest" in str(media) or "image.index" in str(media):
            return "oci"
        return None
    if name.endswith(".db") or ".db.tar." in name:
        return "arch"
    if name == "index.tar.gz":
        return "opam"
    if data.startswith(_COMPRESSED):
        return None
    if b"\nSHA256:\n" in data or data.startswith((b"Origin:", b"Suite:", b"Codename:")):
        return "deb"
    return None


def state_digest(repo_format: str, data: bytes) -> bytes:
    """The sha256 state digest of a metadata document of ``repo_format``.

    Raises:
        FormatError: a malformed ``InRelease`` (deb).
    """
    if repo_format == "deb":
        data = deb_release_text(data)
    return hashlib.sha256(data).digest()
