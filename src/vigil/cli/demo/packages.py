"""Small real packages, built reproducibly with the distributions' own tools.

The demo's publisher and rebuilders use these functions the way a build
service would: a *source tree* (:func:`write_source`) holds the files to
install and the packaging (an RPM spec and a Debian control file), and
:func:`build_rpm` (``rpmbuild``, Debian package ``rpm``) and :func:`build_deb`
(``dpkg-deb``) turn it into the same bytes wherever and whenever they run:

* every timestamp comes from ``SOURCE_DATE_EPOCH`` (rpm:
  ``use_source_date_epoch_as_buildtime`` and ``clamp_mtime_to_source_date_epoch``;
  deb: file mtimes set to it, ``dpkg-deb`` uses it for the archive members);
* the build host is ``reproducible`` (``_buildhost``), owners are root
  (``%defattr``, ``dpkg-deb --root-owner-group``), permissions are fixed
  (0644, 0755 for executables and directories) whatever the umask;
* the build runs with ``HOME`` in the build directory, ``LC_ALL=C`` and
  ``TZ=UTC``, so no personal ``~/.rpmmacros`` or locale leaks in, and the
  payload compressors are named explicitly.

:func:`make_rpm_repository` (``createrepo_c``) and :func:`make_deb_repository`
(``apt-ftparchive``, a flat repository with ``Packages`` and ``Release`` at
its root) then publish the packages. The repository metadata is not meant to
be reproducible (it carries the time it was made); the packages are.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vigil.errors import ConfigError

__all__ = [
    "SOURCE_DATE_EPOCH",
    "TOOLS",
    "BuildError",
    "PackageSource",
    "build_deb",
    "build_rpm",
    "make_deb_repository",
    "make_rpm_repository",
    "missing_tools",
    "sha256_file",
    "write_source",
]

SOURCE_DATE_EPOCH = 1_700_000_000
"""The fixed time every build claims (2023-11-14T22:13:20Z)."""

TOOLS = {
    "rpmbuild": "rpm",
    "dpkg-deb": "dpkg",
    "createrepo_c": "createrepo-c",
    "apt-ftparchive": "apt-utils",
}
"""The tools the demo needs, and the Debian package that has each."""

_SPEC = "package.spec"
_CONTROL = "control"
_FILES = "files"
_TOOL_TIMEOUT_S = 120


class BuildError(ConfigError):
    """A build tool is missing or failed (its output is in the message)."""


@dataclass(frozen=True, slots=True)
class PackageSource:
    """What to package: a name, a version and the files to install.

    Attributes:
        name: Package name (lower case letters, digits, ``-``).
        version: Upstream version, e.g. ``1.0``.
        summary: One line for people.
        files: Install path (relative to ``/``) to content.
        executables: The paths among ``files`` installed with mode 0755.
    """

    name: str
    version: str
    summary: str
    files: Mapping[str, bytes]
    executables: frozenset[str] = field(default_factory=frozenset)

    @property
    def rpm_name(self) -> str:
        """The file name ``rpmbuild`` gives the binary package."""
        return f"{self.name}-{self.version}-1.noarch.rpm"

    @property
    def deb_name(self) -> str:
        """The conventional file name of the Debian package."""
        return f"{self.name}_{self.version}_all.deb"


def missing_tools() -> list[str]:
    """``tool (Debian package)`` for each needed tool not on PATH."""
    return [f"{tool} ({package})" for tool, package in TOOLS.items() if not shutil.which(tool)]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(source: PackageSource) -> str:
    install = "\n".join(
        f"install -D -m {'0755' if path in source.executables else '0644'} "
        f"%{{_sourcedir}}/{path} %{{buildroot}}/{path}"
        for path in sorted(source.files)
    )
    listed = "\n".join(f"/{path}" for path in sorted(source.files))
    return f"""Name: {source.name}
Version: {source.version}
Release: 1
Summary: {source.summary}
License: MIT
BuildArch: noarch

%description
{source.summary}

%install
{install}

%files
%defattr(-,root,root,0755)
{listed}
"""


def _control(source: PackageSource) -> str:
    size_kib = max(1, sum(len(data) for data in source.files.values()) // 1024)
    return (
        f"Package: {source.name}\nVersion: {source.version}\nArchitecture: all\n"
        f"Maintainer: Vigil demo <demo@vigil.invalid>\nInstalled-Size: {size_kib}\n"
        f"Section: misc\nPriority: optional\nDescription: {source.summary}\n"
    )


def write_source(source: PackageSource, directory: Path) -> Path:
    """Write the source tree (files, RPM spec, Debian control) into a new ``directory``.

    Returns ``directory``. This is what a publisher publishes next to the
    packages and what rebuilders build from. Executables carry mode 0755 in
    the tree itself (as in a git checkout); a copy must keep the modes.
    """
    directory.mkdir(parents=True)
    for path, data in source.files.items():
        target = directory / _FILES / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o755 if path in source.executables else 0o644)
    (directory / _SPEC).write_text(_spec(source), encoding="utf-8")
    (directory / _CONTROL).write_text(_control(source), encoding="utf-8")
    return directory


def _tool_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH),
    }


def _run(args: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> bytes:
    tool = args[0]
    if shutil.which(tool) is None:
        raise BuildError(f"{tool} not found: install the Debian package {TOOLS.get(tool, tool)}")
    try:
        result = subprocess.run(
            list(args), cwd=cwd, env=dict(env), capture_output=True, check=False,
            timeout=_TOOL_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{tool}: {exc}") from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
        raise BuildError(f"{' '.join(args)}: exit {result.returncode}: {output[-1500:]}")
    return result.stdout


def _control_field(source_dir: Path, field_name: str) -> str:
    """A field of the source tree's Debian control file."""
    for line in (source_dir / _CONTROL).read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field_name}: "):
            return line.split(": ", 1)[1]
    raise BuildError(f"{source_dir / _CONTROL}: no {field_name} field")


def build_rpm(source_dir: Path, out_dir: Path) -> Path:
    """Build the binary RPM of a source tree into ``out_dir``; returns its path.

    Uses a fresh private ``_topdir`` (removed afterwards), so builds in
    different directories give the same bytes.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rpmbuild-", dir=out_dir) as temp:
        top = Path(temp)
        (top / "tmp").mkdir()
        defines = {
            "_topdir": top,
            "_tmppath": top / "tmp",
            "_sourcedir": source_dir.resolve() / _FILES,
            "_rpmdir": top / "RPMS",
            "_buildhost": "reproducible",
            "use_source_date_epoch_as_buildtime": 1,
            "clamp_mtime_to_source_date_epoch": 1,
            "_binary_payload": "w9.gzdio",
            "_build_id_links": "none",
            "_rpmfilename": "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
        }
        for value in defines.values():
            if " " in str(value):
                raise BuildError(f"rpmbuild cannot build in a path with spaces: {value}")
        args = ["rpmbuild", "-bb", "--quiet"]
        for name, value in defines.items():
            args += ["--define", f"{name} {value}"]
        _run([*args, str(source_dir.resolve() / _SPEC)], cwd=top, env=_tool_env(top))
        built = sorted((top / "RPMS").glob("*.rpm"))
        if len(built) != 1:
            raise BuildError(f"rpmbuild made {len(built)} packages, expected 1")
        target = out_dir / built[0].name
        shutil.move(built[0], target)
    return target


def build_deb(source_dir: Path, out_dir: Path) -> Path:
    """Build the Debian package of a source tree into ``out_dir``; returns its path.

    The package root is assembled in a private directory with fixed modes
    and mtimes; ``dpkg-deb --root-owner-group`` makes every owner root.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    name = _control_field(source_dir, "Package")
    version = _control_field(source_dir, "Version")
    with tempfile.TemporaryDirectory(prefix="debbuild-", dir=out_dir) as temp:
        root = Path(temp) / "root"
        (root / "DEBIAN").mkdir(parents=True)
        shutil.copyfile(source_dir / _CONTROL, root / "DEBIAN" / "control")
        files = source_dir / _FILES
        for path in sorted(files.rglob("*")):
            relative = path.relative_to(files).as_posix()
            target = root / relative
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                target.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)
        for path in [root, *root.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
            elif path.parent.name == "DEBIAN":
                path.chmod(0o644)
        for path in [*root.rglob("*"), root]:
            os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
        target = out_dir / f"{name}_{version}_all.deb"
        _run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "-z9", "--build", str(root), str(target)],
            cwd=Path(temp), env=_tool_env(Path(temp)),
        )
    return target


def make_rpm_repository(directory: Path, packages: Sequence[Path]) -> Path:
    """An rpm-md repository of ``packages`` in ``directory``; returns ``repodata/repomd.xml``."""
    directory.mkdir(parents=True, exist_ok=True)
    for package in packages:
        shutil.copyfile(package, directory / package.name)
    _run(["createrepo_c", "--quiet", "--no-database", str(directory)], cwd=directory,
         env=_tool_env(directory))
    return directory / "repodata" / "repomd.xml"


def make_deb_repository(directory: Path, packages: Sequence[Path], *, label: str) -> Path:
    """A flat Debian repository of ``packages`` in ``directory``; returns its ``Release``.

    apt reads it as ``deb file:DIR ./``: ``Packages`` lists the packages and
    ``Release`` (by ``apt-ftparchive release``) the checksums of ``Packages``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for package in packages:
        shutil.copyfile(package, directory / package.name)
    env = _tool_env(directory)
    (directory / "Packages").write_bytes(
        _run(["apt-ftparchive", "packages", "."], cwd=directory, env=env)
    )
    release = _run(
        ["apt-ftparchive", "-o", f"APT::FTPArchive::Release::Origin={label}",
         "-o", f"APT::FTPArchive::Release::Label={label}",
         "-o", "APT::FTPArchive::Release::Suite=stable", "release", "."],
        cwd=directory, env=env,
    )
    (directory / "Release").write_bytes(release)
    return directory / "Release"
