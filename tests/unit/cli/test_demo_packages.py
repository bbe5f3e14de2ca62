"""The demo's reproducible package builds, with the real tools (rpm, dpkg, createrepo-c,
apt-utils; .ci/run installs them): same source, same bytes; other source, other bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolsupport import need
from vigil.cli.demo.packages import (
    SOURCE_DATE_EPOCH,
    BuildError,
    PackageSource,
    build_deb,
    build_rpm,
    make_deb_repository,
    make_rpm_repository,
    sha256_file,
    write_source,
)
from vigil.cli.demo.story import hello_source
from vigil.roles.release import detect_state


@pytest.fixture(autouse=True)
def tools() -> None:
    need("rpmbuild", "rpm")
    need("dpkg-deb", "dpkg")


@pytest.fixture
def sources(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The same source tree twice: written by the publisher, copied elsewhere later, with
    other file times and under another umask."""
    first = write_source(hello_source("1.0"), tmp_path / "publisher" / "src")
    second = tmp_path / "rebuilder" / "src"
    shutil.copytree(first, second)
    for path in second.rglob("*"):
        os.utime(path, (SOURCE_DATE_EPOCH + 86400 * 400, SOURCE_DATE_EPOCH + 86400 * 400))
    yield first, second


def _build_twice(
    build: object, sources: tuple[Path, Path], tmp_path: Path
) -> tuple[Path, Path]:
    assert callable(build)
    first = build(sources[0], tmp_path / "out-a")
    old = os.umask(0o077)
    try:
        second = build(sources[1], tmp_path / "elsewhere" / "out-b")
    finally:
        os.umask(old)
    return first, second


@pytest.mark.parametrize("build", [build_rpm, build_deb], ids=["rpm", "deb"])
def test_two_builds_are_byte_identical(
    build: object, sources: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = _build_twice(build, sources, tmp_path)
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()
    assert not list((tmp_path / "out-a").glob("*build-*")), "build directories are removed"


@pytest.mark.parametrize("build", [build_rpm, build_deb], ids=["rpm", "deb"])
def test_changed_source_changes_the_digest(build: object, tmp_path: Path) -> None:
    assert callable(build)
    honest = write_source(hello_source("1.0"), tmp_path / "honest")
    changed = write_source(hello_source("1.0", greeting="Hello from a backdoor"),
                           tmp_path / "changed")
    a = build(honest, tmp_path / "a")
    b = build(changed, tmp_path / "b")
    assert a.name == b.name
    assert sha256_file(a) != sha256_file(b)


def test_rpm_metadata_is_fixed(sources: tuple[Path, Path], tmp_path: Path) -> None:
    rpm = build_rpm(sources[0], tmp_path / "out")
    assert rpm.name == "hello-vigil-1.0-1.noarch.rpm"
    query = subprocess.run(
        ["rpm", "-qp", "--qf", "%{BUILDHOST} %{BUILDTIME}\n", str(rpm)],
        capture_output=True, text=True, check=True,
    ).stdout
    assert query.split() == ["reproducible", str(SOURCE_DATE_EPOCH)]
    listing = subprocess.run(["rpm", "-qlvp", str(rpm)], capture_output=True, text=True,
                             check=True).stdout
    assert "-rwxr-xr-x" in listing and "root     root" in listing


def test_deb_contents_are_fixed(sources: tuple[Path, Path], tmp_path: Path) -> None:
    deb = build_deb(sources[0], tmp_path / "out")
    assert deb.name == "hello-vigil_1.0_all.deb"
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert all("root/root" in line and "2023-11-14" in line for line in listing)
    assert any(line.startswith("-rwxr-xr-x") and line.endswith("./usr/bin/hello-vigil")
               for line in listing)
    assert any(line.startswith("-rw-r--r--") and line.endswith("/README") for line in listing)


def test_repositories_are_what_vigil_release_reads(
    sources: tuple[Path, Path], tmp_path: Path
) -> None:
    need("createrepo_c", "createrepo-c")
    need("apt-ftparchive", "apt-utils")
    rpm = build_rpm(sources[0], tmp_path / "out")
    deb = build_deb(sources[0], tmp_path / "out")
    repomd = make_rpm_repository(tmp_path / "rpm-repo", [rpm])
    release = make_deb_repository(tmp_path / "deb-repo", [deb], label="test")
    rpm_state = detect_state(tmp_path / "rpm-repo", artifacts=True)
    assert rpm_state.format == "rpm-md"
    assert rpm_state.state.digest["sha256"] == sha256_file(repomd)
    assert [(a.name, a.digest["sha256"]) for a in rpm_state.artifacts] == [
        (rpm.name, sha256_file(rpm))
    ]
    deb_state = detect_state(tmp_path / "deb-repo", artifacts=True)
    assert deb_state.format == "deb"
    assert deb_state.state.digest["sha256"] == sha256_file(release)
    assert [a.name for a in deb_state.artifacts] == [deb.name]
    packages = (tmp_path / "deb-repo" / "Packages").read_text()
    assert f"Filename: ./{deb.name}" in packages
    assert f"SHA256: {sha256_file(deb)}" in packages


def test_missing_tool_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_source(
        PackageSource("x", "1", "x", {"usr/share/x": b"x\n"}), tmp_path / "src"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BuildError, match="install the Debian package rpm"):
        build_rpm(source, tmp_path / "out")
