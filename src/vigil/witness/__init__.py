"""The witness server: cosigns checkpoints consistent with everything it cosigned before.

Implements c2sp.org/tlog-witness ``add-checkpoint`` for a configured set of
logs. Example (in-process; ``vigil witness serve`` wraps it in HTTP)::

    >>> from pathlib import Path; import tempfile
    >>> from vigil.core.cosignature import generate_cosigner
    >>> from vigil.core.note import generate_signer
    >>> from vigil.witness import SQLiteWitnessStore, WitnessService, WitnessedLog
    >>> log_key = generate_signer("log.example", seed=bytes(32))
    >>> store = SQLiteWitnessStore(Path(tempfile.mkdtemp()) / "w.db")
    >>> witness = WitnessService(
    ...     signer=generate_cosigner("witness.example", seed=bytes(32)),
    ...     logs=[WitnessedLog("log.example", (log_key.verifier(),))],
    ...     store=store, clock=lambda: 1700000000)
    >>> from vigil.core.note import sign_note
    >>> empty = "log.example\\n0\\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\\n"
    >>> body = b"old 0\\n\\n" + sign_note(empty, [log_key])
    >>> [sig.name for sig in witness.add_checkpoint(body)]
    ['witness.example']

Modules: :mod:`~vigil.witness.state` (the pure decision),
:mod:`~vigil.witness.storage` (durable compare-and-swap state and evidence),
:mod:`~vigil.witness.service` (lock, decide, sign, store, release),
:mod:`~vigil.witness.config` (the witness's TOML file),
:mod:`~vigil.witness.audit` (auditing mode: replay entries from the tiles),
:mod:`~vigil.witness.errors`.

The witness never imports the log server (nor the log the witness).
"""

from vigil.witness.config import WitnessConfig, add_log, format_config, parse_config
from vigil.witness.errors import (
    AuditError,
    BadRequestError,
    BodyTooLargeError,
    OldSizeConflictError,
    UnknownLogError,
)
from vigil.witness.service import CheckpointAuditor, WitnessService, origin_hash
from vigil.witness.state import (
    Conflict,
    Cosign,
    LatestCheckpoint,
    Reject,
    WitnessedLog,
    decide,
)
from vigil.witness.storage import Evidence, SQLiteWitnessStore, WitnessStore

__all__ = [
    "AuditError",
    "BadRequestError",
    "BodyTooLargeError",
    "CheckpointAuditor",
    "Conflict",
    "Cosign",
    "Evidence",
    "LatestCheckpoint",
    "OldSizeConflictError",
    "Reject",
    "SQLiteWitnessStore",
    "UnknownLogError",
    "WitnessConfig",
    "WitnessService",
    "WitnessStore",
    "WitnessedLog",
    "add_log",
    "decide",
    "format_config",
    "origin_hash",
    "parse_config",
]
