"""Test helpers for charters and role statements: deterministic keys, TOML, signing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.core.charter import charter_statement, parse_charter
from vigil.core.dsse import Envelope, format_envelope, sign_envelope
from vigil.core.intoto import PAYLOAD_TYPE_INTOTO
from vigil.core.note import Ed25519Signer, generate_signer


def key(name: str, number: int = 1) -> Ed25519Signer:
    """A deterministic Ed25519 signer."""
    seed = hashlib.sha256(f"charterkit/{name}/{number}".encode()).digest()
    return generate_signer(name, seed=seed)


def _list(keys: Sequence[Ed25519Signer]) -> str:
    return "[" + ", ".join(f'"{k.vkey}"' for k in keys) + "]"


@dataclass
class Repo:
    """One [[repository]] table."""

    name: str
    publishers: Sequence[Ed25519Signer]
    publisher_threshold: int = 1
    format: str = "rpm-md"
    rebuilders: Sequence[Ed25519Signer] = ()
    rebuilds_required: int = 0
    freshness_s: int = 86400
    stale: str = "reject"
    grace_s: int | None = None
    janitors: str | None = None
    janitor_threshold: int | None = None
    owners: Sequence[tuple[str, Sequence[str]]] = ()
    """Package name and owners (verifier keys or ``team:NAME``)."""

    def toml(self) -> str:
        lines = [
            "[[repository]]",
            f'name = "{self.name}"',
            f'format = "{self.format}"',
            f"publishers = {_list(self.publishers)}",
            f"publisher_threshold = {self.publisher_threshold}",
        ]
        if self.rebuilders:
            lines.append(f"rebuilders = {_list(self.rebuilders)}")
        lines += [
            f"rebuilds_required = {self.rebuilds_required}",
            f"freshness_s = {self.freshness_s}",
            f'stale = "{self.stale}"',
        ]
        if self.grace_s is not None:
            lines.append(f"grace_s = {self.grace_s}")
        if self.janitors is not None:
            lines.append(f'janitors = "{self.janitors}"')
        if self.janitor_threshold is not None:
            lines.append(f"janitor_threshold = {self.janitor_threshold}")
        if self.owners:
            lines.append("[repository.owners]")
            for package, owners in self.owners:
                quoted = ", ".join(f'"{o}"' for o in owners)
                lines.append(f'"{package}" = [{quoted}]')
        return "\n".join(lines) + "\n"


@dataclass
class CharterSpec:
    """Everything a test charter says; :meth:`text` renders the TOML."""

    foundation: Sequence[Ed25519Signer]
    threshold: int = 1
    name: str = "example"
    version: int = 1
    previous: bytes | None = None
    repositories: Sequence[Repo] = ()
    security: Sequence[Ed25519Signer] = ()
    security_threshold: int = 1
    revoked: Sequence[tuple[Ed25519Signer, int]] = ()
    extra: str = ""
    logs: Sequence[Ed25519Signer] = field(default_factory=list)
    teams: Sequence[tuple[str, Sequence[Ed25519Signer]]] = ()

    def text(self) -> bytes:
        lines = [
            "# Test charter.",
            "[charter]",
            f'name = "{self.name}"',
            f"version = {self.version}",
        ]
        if self.previous is not None:
            lines.append(f'previous = "sha256:{self.previous.hex()}"')
        lines += [
            "",
            "[foundation]",
            f"threshold = {self.threshold}",
            f"keys = {_list(self.foundation)}",
            "",
        ]
        for log in self.logs:
            lines += ["[[log]]", f'origin = "{log.name}"', f'key = "{log.vkey}"', ""]
        if self.security:
            lines += [
                "[security]",
                f"threshold = {self.security_threshold}",
                f"keys = {_list(self.security)}",
                "",
            ]
        for team, members in self.teams:
            lines += ["[[team]]", f'name = "{team}"', f"keys = {_list(members)}", ""]
        for repo in self.repositories:
            lines.append(repo.toml())
        for signer, from_index in self.revoked:
            lines += ["[[revoked]]", f'key = "{signer.vkey}"', f"from_index = {from_index}", ""]
        return ("\n".join(lines) + "\n" + self.extra).encode()

    def next(self, **changes: Any) -> CharterSpec:
        """The next version (previous = this version's digest), with changes."""
        values = {**self.__dict__, **changes}
        values["version"] = self.version + 1
        values["previous"] = hashlib.sha256(self.text()).digest()
        return CharterSpec(**values)


def one_repository(prefix: str) -> tuple[CharterSpec, Ed25519Signer, Ed25519Signer,
                                         Ed25519Signer, Ed25519Signer]:
    """A charter with one repository "oss" (one publisher, one rebuilder required) and
    a security team: (spec, board, publisher, rebuilder, security), keys named by ``prefix``."""
    board, pub, rb, sec = (key(f"{prefix}-{role}") for role in ("board", "pub", "rb", "sec"))
    spec = CharterSpec(
        foundation=[board],
        repositories=[Repo("oss", [pub], rebuilders=[rb], rebuilds_required=1)],
        security=[sec],
    )
    return spec, board, pub, rb, sec


def sign_charter(text: bytes, signers: Sequence[Ed25519Signer]) -> Envelope:
    """A charter envelope signed by ``signers``."""
    statement = charter_statement(parse_charter(text))
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


def charter_entry(text: bytes, signers: Sequence[Ed25519Signer]) -> bytes:
    """A charter envelope as entry bytes."""
    return format_envelope(sign_charter(text, signers))


# -- role statements ---------------------------------------------------------------------

T0 = 1_700_000_000
"""A fixed publication time (2023-11-14T22:13:20Z)."""


def state_digest(repository: str, version: int, variant: str = "") -> bytes:
    """A deterministic fake repository-state digest."""
    return hashlib.sha256(f"{repository}/{version}/{variant}".encode()).digest()


def release(
    repository: str,
    version: int,
    signers: Sequence[Ed25519Signer],
    *,
    digest: bytes | None = None,
    published_s: int | None = None,
    format: str = "rpm-md",
    artifacts: Sequence[tuple[str, bytes]] = (),
    delta: bool = False,
    removed: Sequence[str] = (),
) -> Envelope:
    """A signed release envelope (``delta``: it lists only changes, ADR 0012)."""
    from vigil.core.intoto import Subject
    from vigil.core.statements import release_statement

    state = (digest or state_digest(repository, version)).hex()
    statement = release_statement(
        repository=repository,
        version=version,
        format=format,
        published_s=T0 + 60 * version if published_s is None else published_s,
        state=Subject("repodata/repomd.xml", {"sha256": state}),
        artifacts=[Subject(name, {"sha256": d.hex()}) for name, d in artifacts],
        delta=delta,
        removed=removed,
    )
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


def rebuild(
    repository: str,
    version: int,
    signers: Sequence[Ed25519Signer],
    *,
    digest: bytes | None = None,
    result: str = "reproduced",
    builder: str = "https://rebuilder.example/",
) -> Envelope:
    """A signed rebuild attestation envelope."""
    from vigil.core.statements import RebuildResult, rebuild_statement

    got = {} if result == "failed" else {"sha256": "ab" * 32}
    statement = rebuild_statement(
        repository=repository,
        version=version,
        release_digest=digest or state_digest(repository, version),
        builder=builder,
        results=[RebuildResult("x86_64/foo.rpm", result, got)],
    )
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


def advisory(
    repository: str,
    advisory_id: str,
    signers: Sequence[Ed25519Signer],
    *,
    version: int = 1,
    digest: bytes | None = None,
    action: str = "block",
    introduced: int = 1,
    fixed: int | None = None,
    withdraws: str | None = None,
) -> Envelope:
    """A signed advisory envelope about release ``version``."""
    from vigil.core.statements import advisory_statement

    statement = advisory_statement(
        id=advisory_id,
        repository=repository,
        action=action,
        release_digest=digest or state_digest(repository, version),
        introduced=introduced,
        fixed=fixed,
        withdraws=withdraws,
        summary=f"advisory {advisory_id}",
    )
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


def revocation(
    revoked: Ed25519Signer, signers: Sequence[Ed25519Signer], *, from_index: int | None = None
) -> Envelope:
    """A signed revocation envelope."""
    from vigil.core.statements import revocation_statement

    statement = revocation_statement(key=revoked.vkey, from_index=from_index, reason="test")
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


def artifact(name: str, signers: Sequence[Ed25519Signer]) -> Envelope:
    """A signed generic artifact envelope."""
    from vigil.core.intoto import Subject, build_statement
    from vigil.core.statements import ARTIFACT_PREDICATE_TYPE

    statement = build_statement(
        [Subject(name, {"sha256": hashlib.sha256(name.encode()).hexdigest()})],
        ARTIFACT_PREDICATE_TYPE,
        {"description": name},
    )
    return sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, list(signers))


class Sim:
    """An in-memory log that judges entries exactly as the log's commit gate does."""

    def __init__(self) -> None:
        from vigil.core.statusmap import StatusMap

        self.state = StatusMap()
        self.entries: list[bytes] = []

    def submit(self, envelope: Envelope) -> int:
        """Judge and append; raises (and changes nothing) if the rules refuse it."""
        from vigil.core.statusmap import verify_logged_entry

        data = format_envelope(envelope)
        entry = verify_logged_entry(len(self.entries), data)
        self.state.begin()
        try:
            self.state.apply(entry)
        except BaseException:
            self.state.rollback()
            raise
        self.state.commit()
        self.entries.append(data)
        return entry.index

    def record(self, name: str) -> Any:
        """The current record of ``name``."""
        return self.state.record(name)
