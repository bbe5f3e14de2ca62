"""Signing statement files one holder at a time, and rebuild attestations.

A statement starts as an unsigned in-toto JSON file (``vigil release
create``, ``vigil advisory create``); :func:`sign_statement_file` turns it into
a DSSE envelope with the first signature, and adds one more signature to an
envelope on each later call, so that several key holders sign in separate
steps, passing the file along.

:func:`attest` compares a directory of rebuilt artifacts with what a release
lists and builds the rebuild statement; :mod:`vigil.roles.rebuilderd` builds
the same statement from rebuilderd's signed in-toto links, through
:func:`compare_artifact` and :func:`rebuild_for`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from vigil.core.dsse import (
    PAYLOAD_TYPE_INTOTO,
    Envelope,
    add_signatures,
    parse_envelope,
    sign_envelope,
)
from vigil.core.intoto import Statement, Subject, parse_statement
from vigil.core.note import Ed25519Signer
from vigil.core.statements import RebuildResult, Release, parse_release, rebuild_statement
from vigil.errors import ConfigError, FormatError

__all__ = [
    "attest",
    "compare_artifact",
    "read_signable",
    "rebuild_for",
    "release_from_file",
    "require_artifacts",
    "sign_statement_file",
]


def read_signable(data: bytes) -> tuple[Statement, Envelope | None]:
    """A statement file or an envelope file: the statement, and the envelope if any.

    Raises:
        FormatError: neither parses.
    """
    try:
        envelope = parse_envelope(data)
    except FormatError:
        return parse_statement(data), None
    if envelope.payload_type != PAYLOAD_TYPE_INTOTO:
        raise FormatError(f"envelope payloadType {envelope.payload_type!r} is not in-toto")
    return parse_statement(envelope.payload), envelope


def sign_statement_file(
    data: bytes, signer: Ed25519Signer, *, predicate_type: str
) -> Envelope:
    """Start an envelope from a statement file, or add a signature to an envelope file.

    Raises:
        FormatError: the file is neither, holds another kind of statement,
            or this key already signed it.
    """
    statement, envelope = read_signable(data)
    if statement.predicate_type != predicate_type:
        raise FormatError(
            f"statement is a {statement.predicate_type}, want {predicate_type}"
        )
    if envelope is None:
        return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, [signer])
    if any(s.keyid == signer.vkey for s in envelope.signatures):
        raise FormatError(f"{signer.name} ({signer.key_hash.hex()}) already signed this")
    return add_signatures(envelope, [signer])


def release_from_file(data: bytes) -> Release:
    """The release in a statement or envelope file (signatures not checked).

    Raises:
        FormatError: not a release statement.
    """
    statement, _ = read_signable(data)
    return parse_release(statement)


def _find(root: Path, name: str) -> Path | None:
    direct = root / name
    if direct.is_file() and root.resolve() in direct.resolve().parents:
        return direct
    matches = [p for p in root.rglob(Path(name).name) if p.is_file()]
    return matches[0] if len(matches) == 1 else None


def require_artifacts(release: Release) -> None:
    """Refuse a release that lists no artifacts: a rebuild has nothing to compare.

    Raises:
        ConfigError: the release lists no artifacts.
    """
    if release.delta and not release.artifacts:
        raise ConfigError(
            f"release {release.version} of {release.repository!r} is a delta that adds or "
            "changes no artifact: nothing to rebuild (a delta's attestation covers only what "
            "it introduced)"
        )
    if not release.artifacts:
        raise ConfigError(
            f"release {release.version} of {release.repository!r} lists no artifacts: "
            "nothing to compare (create releases with --artifacts)"
        )


def compare_artifact(artifact: Subject, got: Mapping[str, str] | None) -> RebuildResult:
    """One artifact's outcome: no rebuilt digest is ``failed``, the release's
    sha256 is ``reproduced``, another is ``mismatch``."""
    name = artifact.name or ""
    if got is None:
        return RebuildResult(name, "failed", {})
    same = got.get("sha256") == artifact.digest.get("sha256")
    return RebuildResult(name, "reproduced" if same else "mismatch", got)


def rebuild_for(
    release: Release,
    results: Sequence[RebuildResult],
    *,
    builder: str,
    inputs: Sequence[Subject] = (),
) -> Statement:
    """The rebuild statement about ``release`` with these per-artifact results.

    Raises:
        FormatError: a value the rebuild predicate refuses.
    """
    return rebuild_statement(
        repository=release.repository,
        version=release.version,
        release_digest=release.digest,
        builder=builder,
        results=results,
        inputs=inputs,
    )


def attest(
    release: Release, rebuilt: Path, *, builder: str, inputs: Sequence[Subject] = ()
) -> Statement:
    """Compare rebuilt artifacts with a release and build the rebuild statement.

    Each artifact the release lists is looked up in ``rebuilt`` by its
    relative path, else by file name (for a delta release: only those it
    added or changed, ADR 0012): same sha256 is ``reproduced``, another
    is ``mismatch``, not found is ``failed``.

    Raises:
        ConfigError: the release lists no artifacts, or ``rebuilt`` is not a
            directory.
    """
    require_artifacts(release)
    if not rebuilt.is_dir():
        raise ConfigError(f"{rebuilt}: not a directory")
    results = []
    for artifact in release.artifacts:
        found = _find(rebuilt, artifact.name or "")
        got = None if found is None else {"sha256": hashlib.sha256(found.read_bytes()).hexdigest()}
        results.append(compare_artifact(artifact, got))
    return rebuild_for(release, results, builder=builder, inputs=inputs)
