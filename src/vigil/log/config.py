"""Log server configuration: one explicit, validated value object.

:class:`LogConfig` holds every limit and interval the log uses, so that no
other module reads files, the environment or module-level defaults.
:func:`parse_config` / :func:`format_config` convert it from/to the TOML file
that ``vigil log init`` writes (``DIR/config.toml``); reading the file is the
CLI's job. Unknown sections or keys are refused, so a typo never silently
leaves a default in force.

No I/O.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from vigil.core.tiles import MAX_ENTRY_BYTES
from vigil.errors import ConfigError

__all__ = [
    "DEFAULT_DATABASE",
    "Limits",
    "LogConfig",
    "SequencerSettings",
    "WitnessSettings",
    "format_config",
    "parse_config",
    "with_sequencer",
]

DEFAULT_DATABASE = "sqlite:log.db"
"""The embedded default: an SQLite file in the log directory."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what one request may make the log do; every loop over input is bounded.

    Attributes:
        max_entry_bytes: Largest canonical envelope stored as an entry
            (entry bundles use a uint16 length prefix, c2sp.org/tlog-tiles).
        max_signatures: Most DSSE signatures on one envelope (each one costs a
            signature check).
        max_batch_entries: Most envelopes in one batch submission.
        max_body_bytes: Largest request body, checked while streaming.
        max_pending_entries: Most entries waiting to be sequenced; beyond it
            submissions get 503 + Retry-After.
        max_search_results: Largest page a search returns.
    """

    max_entry_bytes: int = MAX_ENTRY_BYTES
    max_signatures: int = 8
    max_batch_entries: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    max_pending_entries: int = 100_000
    max_search_results: int = 100

    def __post_init__(self) -> None:
        _check_range("limits.max_entry_bytes", self.max_entry_bytes, 1, MAX_ENTRY_BYTES)
        _check_range("limits.max_signatures", self.max_signatures, 1, 64)
        _check_range("limits.max_batch_entries", self.max_batch_entries, 1, 100_000)
        _check_range("limits.max_body_bytes", self.max_body_bytes, 1024, 1 << 30)
        _check_range("limits.max_pending_entries", self.max_pending_entries, 1, 10_000_000)
        _check_range("limits.max_search_results", self.max_search_results, 1, 10_000)


@dataclass(frozen=True, slots=True)
class SequencerSettings:
    """Timing of sequencing and publishing.

    Attributes:
        batch_max_entries: Most entries committed in one transaction.
        batch_linger_s: How long the sequencer waits for more entries after
            the first one before committing (0: commit what is there).
        checkpoint_interval_s: Least time between two checkpoints with new
            entries; at most 1 s so that new work is published within a second.
        heartbeat_interval_s: Republish (and re-collect cosignatures for) the
            current tree this often when there is no new work.
        submit_wait_s: How long a submission waits for the checkpoint that
            covers it before answering 202 with only its index.
        commit_timeout_s: How long a submission waits for its durable commit
            before answering 503.
    """

    batch_max_entries: int = 4096
    batch_linger_s: float = 0.005
    checkpoint_interval_s: float = 0.1
    heartbeat_interval_s: float = 30.0
    submit_wait_s: float = 5.0
    commit_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        _check_range("sequencer.batch_max_entries", self.batch_max_entries, 1, 1_000_000)
        _check_float("sequencer.batch_linger_s", self.batch_linger_s, 0.0, 1.0)
        _check_float("sequencer.checkpoint_interval_s", self.checkpoint_interval_s, 0.0, 1.0)
        _check_float("sequencer.heartbeat_interval_s", self.heartbeat_interval_s, 0.1, 86400.0)
        _check_float("sequencer.submit_wait_s", self.submit_wait_s, 0.0, 600.0)
        _check_float("sequencer.commit_timeout_s", self.commit_timeout_s, 0.1, 600.0)


@dataclass(frozen=True, slots=True)
class WitnessSettings:
    """Witness cosigning (c2sp.org/tlog-witness), see :mod:`vigil.log.witnesses`.

    Attributes:
        policy_file: A c2sp.org/tlog-policy file, relative to the log
            directory, whose witnesses (with URLs) are asked to cosign every
            checkpoint and whose quorum must be met before it is published.
            Empty: no witnesses.
        timeout_s: Longest one collection round may take.
        linger_s: After the quorum is met, how long to wait for the others.
    """

    policy_file: str = ""
    timeout_s: float = 5.0
    linger_s: float = 0.05

    def __post_init__(self) -> None:
        if not isinstance(self.policy_file, str):
            raise ConfigError("witnesses.policy_file: must be a string")
        _check_float("witnesses.timeout_s", self.timeout_s, 0.05, 300.0)
        _check_float("witnesses.linger_s", self.linger_s, 0.0, 10.0)


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Everything that defines one log instance.

    Attributes:
        origin: The checkpoint origin line (c2sp.org/tlog-checkpoint); also the
            log key's name.
        public_key: The log's verifier key (``name+hex8+base64``), so that
            clients reading the config can verify checkpoints.
        key_file: Path of the signer key file, relative to the log directory.
        database: ``sqlite:PATH`` (relative to the log directory) or a
            ``postgresql://`` URL.
        tiles_dir: Where tiles and the checkpoint are written, relative to the
            log directory.
        limits: Request caps.
        sequencer: Sequencing timing.
        witnesses: Witness cosigning.
    """

    origin: str
    public_key: str
    key_file: str = "log.key"
    database: str = DEFAULT_DATABASE
    tiles_dir: str = "tiles"
    limits: Limits = field(default_factory=Limits)
    sequencer: SequencerSettings = field(default_factory=SequencerSettings)
    witnesses: WitnessSettings = field(default_factory=WitnessSettings)

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() for c in self.origin) or "+" in self.origin:
            raise ConfigError(
                f"log.origin: {self.origin!r} must be non-empty, without spaces or '+'"
            )
        if not (self.database.startswith("sqlite:") or self.database.startswith("postgresql:")):
            raise ConfigError(
                f"storage.database: {self.database!r} is neither sqlite:PATH "
                "nor a postgresql:// URL"
            )


def _check_range(what: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{what}: got {value!r}, want an integer from {low} to {high}")


def _check_float(what: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{what}: got {value!r}, want a number from {low} to {high}")


def _take_section(
    document: dict[str, Any], name: str, cls: type[Any], *, required: bool = False
) -> dict[str, Any]:
    section = document.pop(name, None)
    if section is None:
        if required:
            raise ConfigError(f"config: missing section [{name}]")
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"config: [{name}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"config [{name}]: unknown key(s) {', '.join(unknown)}")
    return dict(section)


def parse_config(text: str) -> LogConfig:
    """Parse ``config.toml`` text into a :class:`LogConfig`.

    Args:
        text: The TOML document.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: invalid TOML, unknown sections or keys, wrong types or
            out-of-range values.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: invalid TOML ({exc})") from exc
    log_section = document.pop("log", None)
    if not isinstance(log_section, dict):
        raise ConfigError("config: missing section [log]")
    storage = document.pop("storage", {})
    if not isinstance(storage, dict):
        raise ConfigError("config: [storage] must be a table")
    limits = _take_section(document, "limits", Limits)
    sequencer = _take_section(document, "sequencer", SequencerSettings)
    witnesses = _take_section(document, "witnesses", WitnessSettings)
    if document:
        raise ConfigError(f"config: unknown section(s) {', '.join(sorted(document))}")
    unknown = sorted(set(log_section) - {"origin", "public_key", "key_file"})
    unknown += sorted(set(storage) - {"database", "tiles_dir"})
    if unknown:
        raise ConfigError(f"config: unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {**log_section, **storage}
    for name in ("origin", "public_key", "key_file", "database", "tiles_dir"):
        if name in values and not isinstance(values[name], str):
            raise ConfigError(f"config: {name} must be a string")
    if "origin" not in values or "public_key" not in values:
        raise ConfigError("config [log]: origin and public_key are required")
    try:
        return LogConfig(
            **values,
            limits=Limits(**limits),
            sequencer=SequencerSettings(**sequencer),
            witnesses=WitnessSettings(**witnesses),
        )
    except TypeError as exc:  # pragma: no cover - unknown keys are caught above
        raise ConfigError(f"config: {exc}") from exc


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # TOML basic strings accept JSON's escapes (\" \\ \n \uXXXX ...).
    return json.dumps(value)


def format_config(config: LogConfig) -> str:
    """Render a :class:`LogConfig` as TOML that :func:`parse_config` reads back."""
    lines = [
        "# Vigil log configuration (written by `vigil log init`).",
        "[log]",
        f"origin = {_toml_value(config.origin)}",
        f"public_key = {_toml_value(config.public_key)}",
        f"key_file = {_toml_value(config.key_file)}",
        "",
        "[storage]",
        f"database = {_toml_value(config.database)}",
        f"tiles_dir = {_toml_value(config.tiles_dir)}",
        "",
    ]
    sections = (
        ("limits", config.limits),
        ("sequencer", config.sequencer),
        ("witnesses", config.witnesses),
    )
    for section, value in sections:
        lines.append(f"[{section}]")
        for item in fields(value):
            lines.append(f"{item.name} = {_toml_value(getattr(value, item.name))}")
        lines.append("")
    return "\n".join(lines)


def with_sequencer(config: LogConfig, **changes: Any) -> LogConfig:
    """A copy of ``config`` with some sequencer settings changed (tests, benchmarks)."""
    return replace(config, sequencer=replace(config.sequencer, **changes))
