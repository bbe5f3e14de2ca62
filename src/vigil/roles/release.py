"""Release workflows: find a repository's state digest on disk, build the statement.

What identifies a repository state, per format (DESIGN.md "Entries"):

========  ===========================================================
rpm-md    sha256 of ``repodata/repomd.xml``
deb       sha256 of the Release text: the ``Release`` file, or the
          signed part of ``InRelease`` (cleartext, dash-unescaped, each
          line ending in a newline), so both give the same digest
arch      sha256 of the ``<name>.db`` file (symlinks resolved)
opam      sha256 of ``index.tar.gz``
oci       the manifest digest: from an OCI image layout's
          ``index.json`` (checked against its blob), or of a manifest file
generic   sha256 of the file
========  ===========================================================

:func:`detect_state` takes a repository directory or the metadata file
itself; with ``artifacts=True`` it also lists package digests (``*.rpm``,
``*.deb``, ``*.pkg.tar.*``; an OCI manifest's config and layers) so that
rebuilders and clients can check per package. :func:`create_delta_release`
lists only what changed since the previous release (ADR 0012), for
repositories whose full artifact list does not fit one log entry.

File I/O only; no network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vigil.core.charter import FORMATS
from vigil.core.intoto import Statement, Subject
from vigil.core.releasedelta import apply_release, delta_between
from vigil.core.statedigest import deb_release_text
from vigil.core.statements import Release, release_statement
from vigil.errors import ConfigError, PolicyError

__all__ = [
    "RepositoryState",
    "create_delta_release",
    "create_release",
    "deb_release_text",
    "detect_state",
]

MAX_METADATA_BYTES = 256 * 1024 * 1024
_ARTIFACT_PATTERNS = {
    "rpm-md": ("*.rpm",),
    "deb": ("*.deb", "*.udeb"),
    "arch": ("*.pkg.tar.zst", "*.pkg.tar.xz", "*.pkg.tar.gz", "*.pkg.tar"),
}


@dataclass(frozen=True, slots=True)
class RepositoryState:
    """A repository state found on disk.

    Attributes:
        format: One of the charter formats.
        state: The metadata document's subject (name, sha256).
        artifacts: Package subjects (relative path, sha256), possibly empty.
        source: The file the digest was computed from.
    """

    format: str
    state: Subject
    artifacts: tuple[Subject, ...]
    source: Path


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_METADATA_BYTES} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    return digest.hexdigest()


def _artifacts(root: Path, repo_format: str) -> list[Subject]:
    found: dict[str, Subject] = {}
    for pattern in _ARTIFACT_PATTERNS.get(repo_format, ()):
        for path in sorted(root.rglob(pattern)):
            if path.is_file():
                name = path.relative_to(root).as_posix()
                found[name] = Subject(name, {"sha256": _sha256_file(path)})
    return [found[name] for name in sorted(found)]


def _oci_layout(root: Path, artifacts: bool) -> RepositoryState:
    index = json.loads(_read(root / "index.json"))
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or len(manifests) != 1:
        count = len(manifests) if isinstance(manifests, list) else 0
        raise ConfigError(
            f"{root}/index.json: want exactly one manifest (got {count}); "
            "pass the manifest file instead"
        )
    digest = str(manifests[0].get("digest", ""))
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64:
        raise ConfigError(f"{root}/index.json: manifest digest {digest[:80]!r} is not sha256")
    blob = root / "blobs" / "sha256" / value
    data = _read(blob)
    if hashlib.sha256(data).hexdigest() != value:
        raise ConfigError(f"{blob}: contents do not match the digest index.json gives")
    return RepositoryState(
        "oci", Subject("manifest", {"sha256": value}),
        tuple(_oci_artifacts(data) if artifacts else ()), blob,
    )


def _oci_artifacts(manifest: bytes) -> list[Subject]:
    document = json.loads(manifest)
    items = [document.get("config", {}), *document.get("layers", [])]
    result = []
    for position, item in enumerate(items):
        algorithm, _, value = str(item.get("digest", "")).partition(":")
        if algorithm == "sha256":
            name = "config" if position == 0 else f"layer/{position - 1}"
            result.append(Subject(name, {"sha256": value}))
    return result


def _state_file(
    path: Path, repo_format: str, name: str, artifacts_root: Path | None
) -> RepositoryState:
    data = _read(path)
    if repo_format == "deb":
        data = deb_release_text(data)
    artifacts: list[Subject] = []
    if artifacts_root is not None:
        artifacts = _oci_artifacts(data) if repo_format == "oci" else _artifacts(
            artifacts_root, repo_format
        )
    return RepositoryState(
        repo_format, Subject(name, {"sha256": hashlib.sha256(data).hexdigest()}),
        tuple(artifacts), path,
    )


def _guess_file_format(path: Path) -> str:
    name = path.name
    if name == "repomd.xml":
        return "rpm-md"
    if name in ("InRelease", "Release"):
        return "deb"
    if name.endswith(".db") or ".db.tar." in name:
        return "arch"
    if name == "index.tar.gz":
        return "opam"
    if name.endswith(".json"):
        try:
            media = json.loads(_read(path)).get("mediaType", "")
        except (ValueError, AttributeError):
            media = ""
        if "manifest" in str(media) or "image.index" in str(media):
            return "oci"
    return "generic"


def detect_state(
    path: Path, *, format: str | None = None, artifacts: bool = False
) -> RepositoryState:
    """Find the state digest of the repository at ``path``.

    Args:
        path: A repository directory, or its metadata file.
        format: Force a format (else detected).
        artifacts: Also list package digests.

    Raises:
        ConfigError: the format can't be told, the metadata is missing or
            ambiguous, or a file can't be read.
        FormatError: a metadata file is malformed (InRelease).
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"format {format!r}: want one of {', '.join(FORMATS)}")
    if path.is_file():
        repo_format = format or _guess_file_format(path)
        root = path.parent.parent if repo_format == "rpm-md" else path.parent
        name = path.name if repo_format != "rpm-md" else f"repodata/{path.name}"
        return _state_file(path, repo_format, name, root if artifacts else None)
    if not path.is_dir():
        raise ConfigError(f"{path}: no such file or directory")
    candidates: list[tuple[str, Path]] = []
    if (path / "repodata" / "repomd.xml").is_file():
        candidates.append(("rpm-md", path / "repodata" / "repomd.xml"))
    for name in ("InRelease", "Release"):
        if (path / name).is_file():
            candidates.append(("deb", path / name))
            break
    databases = sorted(p for p in path.glob("*.db") if p.is_file())
    if len(databases) == 1:
        candidates.append(("arch", databases[0]))
    elif len(databases) > 1:
        raise ConfigError(
            f"{path}: several pacman databases ({', '.join(p.name for p in databases)}); "
            "pass the one to log"
        )
    oci = (path / "oci-layout").is_file() and (path / "index.json").is_file()
    if oci and format in (None, "oci"):
        return _oci_layout(path, artifacts)
    if (path / "index.tar.gz").is_file():
        candidates.append(("opam", path / "index.tar.gz"))
    if format is not None:
        candidates = [c for c in candidates if c[0] == format]
    if len(candidates) != 1:
        found = ", ".join(f"{f} ({p.name})" for f, p in candidates) or "nothing known"
        raise ConfigError(
            f"{path}: cannot tell the repository format (found {found}); "
            "pass --format or the metadata file"
        )
    repo_format, file = candidates[0]
    name = file.relative_to(path).as_posix()
    if repo_format == "arch":
        file = file.resolve()
    return _state_file(file, repo_format, name, path if artifacts else None)


def create_release(
    state: RepositoryState, *, repository: str, version: int, published_s: int
) -> Statement:
    """The release statement for a state found on disk.

    Raises:
        FormatError: a value the release predicate refuses.
    """
    return release_statement(
        repository=repository,
        version=version,
        format=state.format,
        published_s=published_s,
        state=state.state,
        artifacts=state.artifacts,
    )


def _replay_chain(previous: Sequence[Release], *, repository: str, version: int) -> dict[str, str]:
    """The artifact set after ``previous`` (a full release, then deltas, in order)."""
    if not previous:
        raise ConfigError("a delta release needs the previous release (--delta-from)")
    if previous[0].delta:
        raise ConfigError(
            f"release {previous[0].version} is a delta: give the chain from the last full "
            "release on (--delta-from FULL --delta-from DELTA...), oldest first"
        )
    artifacts: dict[str, str] | None = None
    last = 0
    for release in previous:
        what = f"release {release.version} of {release.repository!r}"
        if release.repository != repository:
            raise ConfigError(f"{what}: not a release of {repository!r}")
        if release.version <= last:
            raise ConfigError(f"{what}: not after release {last} (want oldest first)")
        try:
            artifacts = apply_release(artifacts, release, what=what)
        except PolicyError as exc:
            raise ConfigError(f"the --delta-from chain does not apply: {exc}") from exc
        last = release.version
    if version <= last:
        raise ConfigError(f"version {version} is not after the previous release {last}")
    assert artifacts is not None
    return artifacts


def create_delta_release(
    state: RepositoryState, previous: Sequence[Release], *, repository: str, version: int,
    published_s: int,
) -> Statement:
    """A delta release statement: what changed on disk since ``previous``.

    Args:
        state: The repository now, found with ``artifacts=True``.
        previous: The releases since the last full one, oldest first (the
            full one first); usually one full release, or the full release
            and the deltas the publisher logged since.
        repository: The repository name.
        version: The new version (above every one in ``previous``).
        published_s: Publication time (Unix seconds).

    Raises:
        ConfigError: ``previous`` is empty, does not start at a full
            release, mixes repositories, is out of order, or does not apply.
        FormatError: a value the release predicate refuses.
    """
    before = _replay_chain(previous, repository=repository, version=version)
    listed, removed = delta_between(before, state.artifacts)
    return release_statement(
        repository=repository,
        version=version,
        format=state.format,
        published_s=published_s,
        state=state.state,
        artifacts=listed,
        delta=True,
        removed=removed,
    )
