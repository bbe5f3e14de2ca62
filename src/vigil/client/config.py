"""The client configuration: ``/etc/vigil/config.toml`` and a per-user override.

Format (TOML; relative paths are relative to the file that names them)::

    charter = "charter.dsse.json"      # the trusted charter, shipped like a signing key
    state_dir = "/var/lib/vigil"       # what this machine remembers
    mirrors = ["https://mirror.example/vigil"]   # tried after the charter's log URLs
    timeout_s = 10                     # per HTTP request

    [[repository]]
    name = "tumbleweed-oss"            # as the charter names it
    metadata = "/var/cache/zypp/raw/repo-oss/repodata/repomd.xml"
    mirrors = []                       # optional, tried first for this repository

The system file is read first, then the user's file (``~/.config/vigil/
config.toml``): its top-level keys replace the system's, and a repository
table replaces the system's table of the same name. ``--config FILE`` reads
only that file. Parsing is strict: unknown keys, wrong types and duplicate
repositories are errors that name the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vigil.errors import ConfigError

__all__ = ["ClientConfig", "RepositoryConfig", "load_config"]

_MAX_CONFIG_BYTES = 1024 * 1024
_TOP = frozenset({"charter", "state_dir", "mirrors", "timeout_s", "repository"})
_REPOSITORY = frozenset({"name", "metadata", "mirrors"})


@dataclass(frozen=True, slots=True)
class RepositoryConfig:
    """One configured repository."""

    name: str
    metadata: Path | None = None
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The merged configuration."""

    charter: Path | None = None
    state_dir: Path | None = None
    mirrors: tuple[str, ...] = ()
    timeout_s: float = 10.0
    repositories: tuple[RepositoryConfig, ...] = field(default_factory=tuple)

    def repository(self, name: str) -> RepositoryConfig:
        """The configured repository ``name`` (a bare entry if not configured)."""
        return next((r for r in self.repositories if r.name == name), RepositoryConfig(name))


def _urls(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise ConfigError(f"{where}: want a list of URLs")
    for url in value:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}: {url[:80]!r} is not an http(s) URL")
    return tuple(u.rstrip("/") for u in value)


def _path(value: Any, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: want a path")
    return base / value


def _repository(table: Any, where: str, base: Path) -> RepositoryConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: want a table")
    unknown = sorted(set(table) - _REPOSITORY)
    if unknown:
        want = ", ".join(sorted(_REPOSITORY))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (want {want})")
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' must be a non-empty string")
    metadata = None
    if "metadata" in table:
        metadata = _path(table["metadata"], f"{where} metadata", base)
    mirrors = _urls(table.get("mirrors", []), f"{where} mirrors")
    return RepositoryConfig(name, metadata, mirrors)


def _parse(path: Path, config: ClientConfig) -> ClientConfig:
    try:
        data = path.read_bytes()[: _MAX_CONFIG_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    unknown = sorted(set(document) - _TOP)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (want {', '.join(sorted(_TOP))})")
    base = path.parent
    if "charter" in document:
        config = replace(config, charter=_path(document["charter"], f"{path}: charter", base))
    if "state_dir" in document:
        config = replace(config, state_dir=_path(document["state_dir"], f"{path}: state_dir",
                                                 base))
    if "mirrors" in document:
        config = replace(config, mirrors=_urls(document["mirrors"], f"{path}: mirrors"))
    if "timeout_s" in document:
        timeout = document["timeout_s"]
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) \
                or not 0.1 <= timeout <= 600:
            raise ConfigError(f"{path}: timeout_s: want a number of seconds from 0.1 to 600")
        config = replace(config, timeout_s=float(timeout))
    tables = document.get("repository", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: 'repository' must be an array of tables ([[repository]])")
    seen: set[str] = set()
    repositories = {r.name: r for r in config.repositories}
    for position, table in enumerate(tables):
        repository = _repository(table, f"{path}: repository {position + 1}", base)
        if repository.name in seen:
            raise ConfigError(f"{path}: repository {repository.name!r} is configured twice")
        seen.add(repository.name)
        repositories[repository.name] = repository
    return replace(config, repositories=tuple(repositories.values()))


def load_config(paths: Sequence[Path], *, required: bool = False) -> ClientConfig:
    """Read and merge configuration files, later ones overriding earlier ones.

    Args:
        paths: Files in order (system, then user); missing ones are skipped
            unless ``required``.
        required: Every path must exist (``--config FILE``).

    Raises:
        ConfigError: a file is unreadable or malformed.
    """
    config = ClientConfig()
    for path in paths:
        if not path.exists():
            if required:
                raise ConfigError(f"{path}: no such configuration file")
            continue
        config = _parse(path, config)
    return config
