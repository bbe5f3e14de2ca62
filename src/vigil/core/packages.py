"""Package names: which package each artifact of a release belongs to, per format.

Per-package owners (the charter's ``[repository.owners]``, Conex; ADR 0010)
are keyed by package name, but a release lists *artifacts* (subjects named by
path). :func:`package_name` derives the package deterministically from the
artifact's name, by the repository's format:

=========  ==========================================  ========================
format     artifact name (last path component)         package
=========  ==========================================  ========================
rpm-md     ``NAME-VERSION-RELEASE.ARCH.rpm``           all but the last two
                                                       dash fields of the stem
deb        ``NAME_VERSION_ARCH.deb`` (or ``.udeb``)    the first ``_`` field
arch       ``NAME-VERSION-RELEASE-ARCH.pkg.tar[.EXT]``  all but the last three
                                                       dash fields
opam       ``packages/NAME/NAME.VERSION/FILE...``      NAME (the whole path)
oci        any                                         the artifact name itself
generic    any                                         the artifact name itself
=========  ==========================================  ========================

For rpm-md, deb and arch only the file name counts (``x86_64/foo-1.0-1.x86_64.rpm``
and ``foo-1.0-1.x86_64.rpm`` are both package ``foo``), so a repository's
directory layout does not change who owns what. OCI and generic artifacts
have no package naming convention, so each artifact is its own package.

Names that do not follow the convention raise :class:`FormatError`; the
status map refuses such a release for a repository with owners, because an
artifact that belongs to no package would need nobody's approval.

No I/O.
"""

from __future__ import annotations

import re

from vigil.errors import FormatError

__all__ = ["MAX_PACKAGE_NAME_CHARS", "check_package_name", "package_name"]

MAX_PACKAGE_NAME_CHARS = 256
"""Longest package name."""

_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+~-]{0,255}")
_ARCH_SUFFIX = re.compile(r"\.pkg\.tar(\.[A-Za-z0-9]{1,8})?")
_OPAM_NAME = re.compile(r"[A-Za-z0-9_+-]+")

# What each format forbids in a package name beyond the common pattern (a
# character that its file naming uses as a separator could not round-trip).
_FORBIDDEN = {
    "rpm-md": "/:",
    "deb": "/:_",
    "arch": "/:",
    "opam": "/:.@~",
    "oci": "",
    "generic": "",
}
_FORBIDDEN_PATTERN = {
    repo_format: re.compile(f"[{re.escape(chars)}]") if chars else None
    for repo_format, chars in _FORBIDDEN.items()
}


def check_package_name(repo_format: str, name: str) -> None:
    """Check that ``name`` can be a package name of a ``repo_format`` repository.

    The charter uses this for the package names its owner tables list, so
    that a name no artifact could ever map to is refused when the charter is
    written, not silently never matched.

    Raises:
        FormatError: an unknown format, or a name that is not 1 to 256 of
            ``A-Z a-z 0-9 . _ : / @ + ~ -`` starting with a letter or digit,
            or that holds a character the format's file names use as a
            separator (``/`` except for oci and generic, ``_`` for deb, ``.``
            for opam).
    """
    if repo_format not in _FORBIDDEN:
        raise FormatError(f"package name: unknown repository format {repo_format[:40]!r}")
    if not isinstance(name, str) or _PACKAGE.fullmatch(name) is None:
        raise FormatError(
            f"package name {str(name)[:80]!r}: want 1 to {MAX_PACKAGE_NAME_CHARS} of "
            "A-Z a-z 0-9 . _ : / @ + ~ -, starting with a letter or digit"
        )
    pattern = _FORBIDDEN_PATTERN[repo_format]
    if pattern is not None and pattern.search(name) is not None:
        bad = sorted({c for c in name if c in _FORBIDDEN[repo_format]})
        raise FormatError(
            f"package name {name[:80]!r}: {repo_format} package names cannot contain "
            f"{' '.join(repr(c) for c in bad)}"
        )


def _dash_fields(stem: str, tail: int, artifact: str, pattern: str) -> str:
    fields = stem.split("-")
    if len(fields) <= tail or any(not f for f in fields[-tail:]):
        raise FormatError(
            f"artifact {artifact[:120]!r}: not named {pattern} "
            f"(want at least {tail + 1} dash-separated fields)"
        )
    return "-".join(fields[:-tail])


def _rpm(artifact: str) -> str:
    base = artifact.rsplit("/", 1)[-1]
    pattern = "NAME-VERSION-RELEASE.ARCH.rpm"
    if not base.endswith(".rpm"):
        raise FormatError(f"artifact {artifact[:120]!r}: not named {pattern}")
    stem, dot, arch = base[: -len(".rpm")].rpartition(".")
    if not dot or not arch or "-" in arch:
        raise FormatError(f"artifact {artifact[:120]!r}: not named {pattern} (no .ARCH)")
    return _dash_fields(stem, 2, artifact, pattern)


def _deb(artifact: str) -> str:
    base = artifact.rsplit("/", 1)[-1]
    stem = base.removesuffix(".deb") if base.endswith(".deb") else base.removesuffix(".udeb")
    fields = stem.split("_")
    if stem == base or len(fields) != 3 or not all(fields):
        raise FormatError(
            f"artifact {artifact[:120]!r}: not named NAME_VERSION_ARCH.deb (or .udeb)"
        )
    return fields[0]


def _arch(artifact: str) -> str:
    base = artifact.rsplit("/", 1)[-1]
    pattern = "NAME-VERSION-RELEASE-ARCH.pkg.tar[.EXT]"
    position = base.rfind(".pkg.tar")
    if position < 0 or _ARCH_SUFFIX.fullmatch(base[position:]) is None:
        raise FormatError(f"artifact {artifact[:120]!r}: not named {pattern}")
    return _dash_fields(base[:position], 3, artifact, pattern)


def _opam(artifact: str) -> str:
    parts = artifact.split("/")
    pattern = "packages/NAME/NAME.VERSION/FILE"
    if len(parts) < 4 or parts[0] != "packages" or not all(parts):
        raise FormatError(f"artifact {artifact[:120]!r}: not named {pattern}")
    name, release = parts[1], parts[2]
    if (
        _OPAM_NAME.fullmatch(name) is None
        or not release.startswith(name + ".")
        or len(release) == len(name) + 1
    ):
        raise FormatError(
            f"artifact {artifact[:120]!r}: not named {pattern} "
            f"(directory {release[:80]!r} is not {name[:80]!r} + \".VERSION\")"
        )
    return name


_DERIVE = {"rpm-md": _rpm, "deb": _deb, "arch": _arch, "opam": _opam}


def package_name(repo_format: str, artifact: str) -> str:
    """The package an artifact belongs to, by the repository's naming convention.

    Args:
        repo_format: The repository's format (one of the charter's formats).
        artifact: The artifact subject's name, as the release lists it.

    Returns:
        The package name; it passes :func:`check_package_name`.

    Raises:
        FormatError: the name does not follow the format's convention (the
            message names the artifact and the expected pattern), or an
            unknown format.
    """
    derive = _DERIVE.get(repo_format)
    name = artifact if derive is None else derive(artifact)
    try:
        check_package_name(repo_format, name)
    except FormatError as exc:
        raise FormatError(f"artifact {artifact[:120]!r}: {exc}") from exc
    return name
