"""Package names derived from artifact names, per repository format (ADR 0010)."""

from __future__ import annotations

import pytest

from vigil.core.packages import check_package_name, package_name
from vigil.errors import FormatError


@pytest.mark.parametrize(
    ("repo_format", "artifact", "package"),
    [
        ("rpm-md", "x86_64/foo-1.0-1.x86_64.rpm", "foo"),
        ("rpm-md", "foo-1.0-1.x86_64.rpm", "foo"),
        ("rpm-md", "src/python3-foo-bar-2.3.4-150600.3.1.src.rpm", "python3-foo-bar"),
        ("rpm-md", "gcc-c++-13.2-1.noarch.rpm", "gcc-c++"),
        ("deb", "pool/main/f/foo/foo_1.0-2_amd64.deb", "foo"),
        ("deb", "libfoo1_1%3a2.0_arm64.udeb", "libfoo1"),
        ("arch", "core/os/x86_64/linux-firmware-20240101.abc-1-any.pkg.tar.zst", "linux-firmware"),
        ("arch", "pacman-6.1.0-3-x86_64.pkg.tar.xz", "pacman"),
        ("arch", "zlib-1:1.3-2-x86_64.pkg.tar", "zlib"),
        ("opam", "packages/lwt/lwt.5.7.0/opam", "lwt"),
        ("opam", "packages/mirage-crypto/mirage-crypto.0.11.2/files/fix.patch", "mirage-crypto"),
        ("oci", "layer/3", "layer/3"),
        ("generic", "tools/foo-1.2.tar.gz", "tools/foo-1.2.tar.gz"),
    ],
)
def test_package_name(repo_format: str, artifact: str, package: str) -> None:
    assert package_name(repo_format, artifact) == package


@pytest.mark.parametrize(
    ("repo_format", "artifact", "message"),
    [
        ("rpm-md", "x86_64/foo.rpm", "no .ARCH"),
        ("rpm-md", "foo-1.0.x86_64.rpm", "at least 3 dash-separated fields"),
        ("rpm-md", "foo-1.0-1.x86_64.rpm.sig", "not named NAME-VERSION-RELEASE.ARCH.rpm"),
        ("rpm-md", "-1.0-1.x86_64.rpm", "package name ''"),
        ("rpm-md", "foo--1.x86_64.rpm", "at least 3"),
        ("deb", "foo_1.0.deb", "NAME_VERSION_ARCH.deb"),
        ("deb", "foo_1.0_amd64_extra.deb", "NAME_VERSION_ARCH.deb"),
        ("deb", "foo_1.0_amd64.tar", "NAME_VERSION_ARCH.deb"),
        ("arch", "foo-1-1.pkg.tar.zst", "at least 4"),
        ("arch", "foo-1-1-x86_64.pkg.tar.zst.sig", "NAME-VERSION-RELEASE-ARCH.pkg.tar"),
        ("arch", "foo-1-1-x86_64.tar.zst", "NAME-VERSION-RELEASE-ARCH.pkg.tar"),
        ("opam", "packages/lwt/opam", "packages/NAME/NAME.VERSION/FILE"),
        ("opam", "packages/lwt/lwt.5.7.0", "packages/NAME/NAME.VERSION/FILE"),
        ("opam", "packages/lwt/foo.1.0/opam", "is not 'lwt' \\+ \".VERSION\""),
        ("opam", "packages/lwt/lwt./opam", "is not 'lwt'"),
        ("opam", "repo/packages/lwt/lwt.1/opam", "packages/NAME/NAME.VERSION/FILE"),
        ("generic", "../etc/passwd", "starting with a letter or digit"),
        ("generic", "a b", "want 1 to 256"),
        ("nix", "anything", "unknown repository format"),
    ],
)
def test_names_that_do_not_follow_the_convention(
    repo_format: str, artifact: str, message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        package_name(repo_format, artifact)


def test_check_package_name_per_format() -> None:
    check_package_name("rpm-md", "gcc-c++")
    check_package_name("generic", "tools/foo")
    with pytest.raises(FormatError, match="deb package names cannot contain '_'"):
        check_package_name("deb", "foo_bar")
    with pytest.raises(FormatError, match=r"opam package names cannot contain '\.'"):
        check_package_name("opam", "foo.bar")
    with pytest.raises(FormatError, match="rpm-md package names cannot contain '/'"):
        check_package_name("rpm-md", "x86_64/foo")
    with pytest.raises(FormatError, match="want 1 to 256"):
        check_package_name("rpm-md", "x" * 257)
