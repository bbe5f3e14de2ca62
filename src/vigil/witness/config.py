"""Witness configuration: one explicit, validated value object and its TOML file.

``vigil witness init DIR --name NAME`` writes ``DIR/config.toml``::

    [witness]
    name = "witness.example/w1"     # the cosigner key name
    public_key = "witness.example/w1+1a2b3c4d+BA..."   # its vkey (type 0x04)
    key_file = "witness.key"        # the cosigner key (mode 0600), relative to DIR
    database = "witness.db"         # SQLite file, relative to DIR
    max_body_bytes = 65536          # add-checkpoint body cap

    [[log]]                         # one table per witnessed log
    origin = "log.example.org"
    vkeys = ["log.example.org+89abcdef+AQ..."]   # the log's note keys (type 0x01)
    # url = "https://log.example.org"            # tiles URL (c2sp.org/tlog-tiles)
    # audit = true                               # auditing mode (needs url)

``vigil witness add-log DIR --origin O --vkey VKEY [--url URL [--audit]]`` appends a ``[[log]]``
table (or adds a key to an existing one); editing the file by hand and
restarting the witness is equivalent. Unknown keys are refused, so a typo
never silently leaves a default in force. Reading the file is the CLI's job.

No I/O.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

from vigil.core.cosignature import CosignatureVerifier
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.core.tlog_witness import MAX_ADD_CHECKPOINT_BYTES
from vigil.errors import ConfigError, FormatError
from vigil.witness.state import WitnessedLog

__all__ = [
    "LogEntry",
    "WitnessConfig",
    "add_log",
    "format_config",
    "parse_config",
]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One ``[[log]]`` table.

    Attributes:
        origin: The checkpoint origin.
        vkeys: The log's verifier keys (Ed25519 note keys, type 0x01).
        url: The log's tiles URL, or None.
        audit: Whether the witness audits this log before cosigning
            (:mod:`vigil.witness.audit`); requires ``url``.
    """

    origin: str
    vkeys: tuple[str, ...]
    url: str | None = None
    audit: bool = False

    def witnessed(self) -> WitnessedLog:
        """The parsed form the witness service uses.

        Raises:
            ConfigError: a vkey is malformed or not an Ed25519 note key.
        """
        verifiers = []
        for vkey in self.vkeys:
            try:
                verifier = parse_verifier_key(vkey)
            except FormatError as exc:
                raise ConfigError(f"config [[log]] {self.origin}: {exc}") from exc
            if not isinstance(verifier, Ed25519Verifier):
                raise ConfigError(
                    f"config [[log]] {self.origin}: key {verifier.name} is not an Ed25519 note "
                    "key (type 0x01, c2sp.org/tlog-checkpoint)"
                )
            verifiers.append(verifier)
        if self.audit and not self.url:
            raise ConfigError(f"config [[log]] {self.origin}: audit = true needs a url")
        try:
            return WitnessedLog(self.origin, tuple(verifiers), self.url, self.audit)
        except FormatError as exc:
            raise ConfigError(f"config [[log]]: {exc}") from exc


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """Everything that defines one witness.

    Attributes:
        name: The cosigner key name (c2sp.org/tlog-cosignature: a schema-less URL).
        public_key: The cosigner vkey (type 0x04).
        key_file: The cosigner key file, relative to the witness directory.
        database: The SQLite file, relative to the witness directory.
        max_body_bytes: Cap on an add-checkpoint request body.
        logs: The witnessed logs (origins unique).
    """

    name: str
    public_key: str
    key_file: str = "witness.key"
    database: str = "witness.db"
    max_body_bytes: int = MAX_ADD_CHECKPOINT_BYTES
    logs: tuple[LogEntry, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        try:
            verifier = parse_verifier_key(self.public_key)
        except FormatError as exc:
            raise ConfigError(f"config [witness] public_key: {exc}") from exc
        if not isinstance(verifier, CosignatureVerifier) or verifier.name != self.name:
            raise ConfigError(
                f"config [witness] public_key: want a cosignature/v1 (type 0x04) key named "
                f"{self.name!r}"
            )
        if not 1024 <= self.max_body_bytes <= 1 << 20:
            raise ConfigError(
                f"config [witness] max_body_bytes: got {self.max_body_bytes}, "
                "want 1024 to 1048576"
            )
        origins = [log.origin for log in self.logs]
        if len(set(origins)) != len(origins):
            raise ConfigError("config: two [[log]] tables with the same origin")

    @property
    def verifier(self) -> CosignatureVerifier:
        """The witness's own cosignature verifier."""
        verifier = parse_verifier_key(self.public_key)
        assert isinstance(verifier, CosignatureVerifier)
        return verifier

    def witnessed_logs(self) -> tuple[WitnessedLog, ...]:
        """Every ``[[log]]`` in parsed form (raises ConfigError for bad keys)."""
        return tuple(log.witnessed() for log in self.logs)


def _string(table: dict[str, Any], key: str, what: str, *, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(f"config {what}: {key} is required")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"config {what}: {key} must be a string")
    return value


def parse_config(text: str) -> WitnessConfig:
    """Parse ``config.toml`` text.

    Raises:
        ConfigError: invalid TOML, unknown tables or keys, wrong types, bad keys.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: invalid TOML ({exc})") from exc
    witness = document.pop("witness", None)
    logs = document.pop("log", [])
    if document:
        raise ConfigError(f"config: unknown table(s) {', '.join(sorted(document))}")
    if not isinstance(witness, dict):
        raise ConfigError("config: missing table [witness]")
    known = {"name", "public_key", "key_file", "database", "max_body_bytes"}
    unknown = sorted(set(witness) - known)
    if unknown:
        raise ConfigError(f"config [witness]: unknown key(s) {', '.join(unknown)}")
    if not isinstance(logs, list):
        raise ConfigError("config: log must be an array of tables ([[log]])")
    entries = []
    for number, table in enumerate(logs, start=1):
        what = f"[[log]] #{number}"
        if not isinstance(table, dict):
            raise ConfigError(f"config {what}: must be a table")
        unknown = sorted(set(table) - {"origin", "vkeys", "url", "audit"})
        if unknown:
            raise ConfigError(f"config {what}: unknown key(s) {', '.join(unknown)}")
        origin = _string(table, "origin", what)
        assert origin is not None
        vkeys = table.get("vkeys")
        if not isinstance(vkeys, list) or not vkeys or not all(isinstance(v, str) for v in vkeys):
            raise ConfigError(f"config {what}: vkeys must be a non-empty array of strings")
        audit = table.get("audit", False)
        if not isinstance(audit, bool):
            raise ConfigError(f"config {what}: audit must be true or false")
        entry = LogEntry(
            origin, tuple(vkeys), _string(table, "url", what, required=False), audit
        )
        entry.witnessed()  # validate keys now
        entries.append(entry)
    max_body = witness.get("max_body_bytes", MAX_ADD_CHECKPOINT_BYTES)
    if isinstance(max_body, bool) or not isinstance(max_body, int):
        raise ConfigError("config [witness]: max_body_bytes must be an integer")
    name = _string(witness, "name", "[witness]")
    public_key = _string(witness, "public_key", "[witness]")
    assert name is not None and public_key is not None
    return WitnessConfig(
        name=name,
        public_key=public_key,
        key_file=_string(witness, "key_file", "[witness]", required=False) or "witness.key",
        database=_string(witness, "database", "[witness]", required=False) or "witness.db",
        max_body_bytes=max_body,
        logs=tuple(entries),
    )


def format_config(config: WitnessConfig) -> str:
    """Render a :class:`WitnessConfig` as TOML that :func:`parse_config` reads back."""
    q = json.dumps  # TOML basic strings accept JSON's escapes
    lines = [
        "# Vigil witness configuration (written by `vigil witness init`).",
        "[witness]",
        f"name = {q(config.name)}",
        f"public_key = {q(config.public_key)}",
        f"key_file = {q(config.key_file)}",
        f"database = {q(config.database)}",
        f"max_body_bytes = {config.max_body_bytes}",
    ]
    for log in config.logs:
        lines += ["", "[[log]]", f"origin = {q(log.origin)}"]
        lines.append("vkeys = [" + ", ".join(q(v) for v in log.vkeys) + "]")
        if log.url is not None:
            lines.append(f"url = {q(log.url)}")
        if log.audit:
            lines.append("audit = true")
    return "\n".join(lines) + "\n"


def add_log(
    config: WitnessConfig, origin: str, vkey: str, url: str | None = None, *, audit: bool = False
) -> WitnessConfig:
    """A copy of ``config`` that also witnesses ``origin`` with ``vkey``.

    Adds the key to an existing ``[[log]]`` of that origin (key rotation), or
    appends a new one. ``audit`` turns auditing on (never off) for the log.

    Raises:
        ConfigError: the key is malformed, not an Ed25519 note key, or already listed.
    """
    logs = list(config.logs)
    for index, log in enumerate(logs):
        if log.origin == origin:
            if vkey in log.vkeys:
                raise ConfigError(f"log {origin}: key already configured")
            logs[index] = replace(
                log, vkeys=(*log.vkeys, vkey), url=url or log.url, audit=audit or log.audit
            )
            break
    else:
        logs.append(LogEntry(origin, (vkey,), url, audit))
    for log in logs:
        log.witnessed()
    return replace(config, logs=tuple(logs))
