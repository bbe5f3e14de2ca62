"""Real repository tools for tests (Debian packages createrepo-c, apt-utils,
pacman-package-manager, libarchive-tools, gnupg; .ci/run installs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def need(tool: str, package: str) -> str:
    """The tool's path; fails the test (not skips) if the package is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: install the Debian package {package} (.ci/run does)")
    return path


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> bytes:
    """Run a tool; its stdout."""
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, check=False, timeout=120,
        env=None if env is None else {**os.environ, **env},
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {result.returncode}: {result.stderr!r}")
    return result.stdout


def rpm_repo(root: Path) -> Path:
    """An rpm-md repository made by createrepo_c (no packages)."""
    root.mkdir(parents=True, exist_ok=True)
    run(need("createrepo_c", "createrepo-c"), "-q", str(root))
    return root


def deb_repo(root: Path, *, extra_line: str = "") -> Path:
    """A Debian repository: Release by apt-ftparchive, InRelease by gpg --clearsign."""
    pool = root / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    (pool / "foo_1.0_all.deb").write_bytes(b"not really a deb")
    release = run(
        need("apt-ftparchive", "apt-utils"), "-o", "APT::FTPArchive::Release::Origin=Test",
        "release", str(root),
    )
    if extra_line:
        release += extra_line.encode() + b"\n"
    (root / "Release").write_bytes(release)
    home = root.parent / f"{root.name}-gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    env = {"GNUPGHOME": str(home)}
    gpg = need("gpg", "gnupg")
    run(gpg, "--batch", "--passphrase", "", "--quick-gen-key", "test@example.org", "ed25519",
        "sign", "never", env=env)
    run(gpg, "--batch", "--yes", "--clearsign", "-o", str(root / "InRelease"),
        str(root / "Release"), env=env)
    return root


def arch_repo(root: Path) -> Path:
    """A pacman repository made by repo-add from a minimal package."""
    build = root.parent / f"{root.name}-pkg"
    (build / "usr" / "share" / "foo").mkdir(parents=True, exist_ok=True)
    (build / ".PKGINFO").write_text(
        "pkgname = foo\npkgbase = foo\npkgver = 1.0-1\npkgdesc = test\n"
        "builddate = 1700000000\npackager = Test <t@example.org>\nsize = 0\narch = any\n"
    )
    (build / "usr" / "share" / "foo" / "x").write_text("hi\n")
    root.mkdir(parents=True, exist_ok=True)
    package = root / "foo-1.0-1-any.pkg.tar.gz"
    run(need("bsdtar", "libarchive-tools"), "-czf", str(package), "-C", str(build),
        ".PKGINFO", "usr")
    run(need("repo-add", "pacman-package-manager"), "-q", str(root / "test.db.tar.gz"),
        str(package))
    return root
