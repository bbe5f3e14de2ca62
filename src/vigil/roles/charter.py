"""Charter workflows: start a charter, describe it and its changes, collect signatures.

A board member reads :func:`describe_charter` and :func:`describe_changes`
(plain sentences, keys as ``name (hex8)``), then adds their signature with
:func:`add_charter_signature`; the envelope file travels from holder to
holder until :func:`signature_status` says both thresholds are met.

No I/O: callers read and write the files.
"""

from __future__ import annotations

from collections.abc import Sequence

from vigil.core.charter import (
    Charter,
    Repository,
    SignedCharter,
    charter_statement,
    describe_key,
    digest_text,
    parse_charter,
    parse_signed_charter,
)
from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, Envelope, add_signatures, sign_envelope
from vigil.core.note import Ed25519Signer
from vigil.core.policy import PolicyGroup
from vigil.errors import FormatError
from vigil.roles.key_wording import describe_key_changes, describe_keys
from vigil.roles.ownership import (
    describe_ownership,
    describe_ownership_changes,
    describe_team_changes,
    describe_teams,
)

__all__ = [
    "add_charter_signature",
    "charter_template",
    "describe_changes",
    "describe_charter",
    "format_duration",
    "signature_status",
]


def format_duration(seconds: int) -> str:
    """``86400`` → ``1 day``; ``5400`` → ``90 minutes``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def charter_template(name: str, foundation: Sequence[str], threshold: int) -> bytes:
    """A first charter (version 1) to edit: foundation filled in, one example repository.

    Raises:
        FormatError: the result would not parse (bad name, key or threshold).
    """
    keys = ",\n  ".join(f'"{key}"' for key in foundation)
    text = f"""# Vigil charter: who may publish what, and who checks it.
# Every version is signed by the foundation (and a new version also by the
# previous version's foundation), then logged. Edit, then `vigil charter sign`.

[charter]
name = "{name}"
version = 1

[foundation]
threshold = {threshold}
keys = [
  {keys},
]

# [[log]]
# origin = "log.example.org/vigil"
# key = "log.example.org/vigil+...+AQ..."
# urls = ["https://log.example.org/vigil"]

# [witnesses]
# quorum = "auditors"
# [[witnesses.witness]]
# name = "w1"
# key = "w1.example+...+BA..."
# auditing = true
# [[witnesses.group]]
# name = "auditors"
# threshold = 1
# members = ["w1"]

# [security]
# threshold = 1
# keys = ["security+...+AQ..."]

# [[repository]]
# name = "main"
# format = "rpm-md"          # rpm-md, deb, arch, opam, oci or generic
# publishers = ["publisher+...+AQ..."]
# publisher_threshold = 1
# rebuilders = []
# rebuilds_required = 0
# freshness_s = 86400        # clients refuse views older than this
# stale = "reject"           # or "warn"
# grace_s = 21600            # superseded releases stay acceptable this long
# janitors = "janitors"      # optional (Conex): per-package owners, see below
# janitor_threshold = 2      # janitors who together may change any package
# [repository.owners]        # a changed package needs one owner's signature
# foo = ["alice+...+AQ...", "team:maintainers"]

# [[team]]                   # a named set of keys, for owners and janitors
# name = "janitors"
# keys = ["j1+...+AQ...", "j2+...+AQ...", "j3+...+AQ..."]
"""
    data = text.encode("utf-8")
    parse_charter(data)
    return data


def describe_charter(charter: Charter) -> list[str]:
    """What a charter says, one sentence per line."""
    lines = [
        f"Charter {charter.name!r}, version {charter.version} ({digest_text(charter.digest)})."
    ]
    if charter.previous is not None:
        lines.append(
            f"It replaces version {charter.version - 1} ({digest_text(charter.previous)}): "
            f"valid only if {charter.foundation.threshold} of its own foundation keys and the "
            f"threshold of version {charter.version - 1}'s foundation signed it."
        )
    else:
        lines.append("It is the first version: its own foundation signs it.")
    foundation = charter.foundation
    lines.append(
        f"Foundation: {foundation.threshold} of {len(foundation.keys)} keys must sign every "
        f"change to this charter: {describe_keys(foundation.keys)}."
    )
    for log in charter.logs:
        where = f" at {', '.join(log.urls)}" if log.urls else ""
        lines.append(f"Log {log.origin} (key {describe_key(log.key)}){where}.")
    policy = charter.witnesses
    if policy.witnesses:
        names = [
            w.name + (" (audits the status map)" if w.name in charter.auditing_witnesses else "")
            for w in policy.witnesses
        ]
        lines.append(f"Witnesses: {', '.join(names)}.")
        for group in policy.groups:
            lines.append(f"Witness group {group.name!r}: {_group(group)}.")
        lines.append(f"A checkpoint counts when {policy.quorum!r} is satisfied.")
    elif charter.logs:
        lines.append("No witnesses: clients trust the log's checkpoints alone.")
    if charter.security is not None:
        lines.append(
            f"Security team: {charter.security.threshold} of {len(charter.security.keys)} keys "
            f"must sign an advisory: {describe_keys(charter.security.keys)}."
        )
    else:
        lines.append("No security team: nobody can log advisories.")
    lines += describe_teams(charter)
    for repo in charter.repositories.values():
        lines.extend(_describe_repository(repo))
    for revoked in charter.revoked:
        reason = f" ({revoked.reason})" if revoked.reason else ""
        lines.append(
            f"Revoked: {describe_key(revoked.key)} counts for nothing from log entry "
            f"{revoked.from_index} on{reason}."
        )
    return lines


def _group(group: PolicyGroup) -> str:
    return f"{group.k} of {', '.join(group.members)}"


def _describe_repository(repo: Repository) -> list[str]:
    lines = [
        f"Repository {repo.name!r} ({repo.format}): a release needs {repo.publishers.threshold} "
        f"of {len(repo.publishers.keys)} publisher signatures "
        f"({describe_keys(repo.publishers.keys)})."
    ]
    if repo.rebuilds_required:
        lines.append(
            f"  Clients want {repo.rebuilds_required} of these rebuilders to report the same "
            f"bits: {describe_keys(repo.rebuilders)}."
        )
    elif repo.rebuilders:
        lines.append(
            f"  Rebuilders may attest ({describe_keys(repo.rebuilders)}), but none is required."
        )
    else:
        lines.append("  No rebuilds are required.")
    action = "refuse it" if repo.stale == "reject" else "warn and go on"
    lines.append(
        f"  When clients can't get a view newer than {format_duration(repo.freshness_s)}, "
        f"they {action}."
    )
    if repo.grace_s:
        lines.append(
            f"  A superseded release stays acceptable for {format_duration(repo.grace_s)} "
            "(mirrors lag)."
        )
    return lines + describe_ownership(repo)


def describe_changes(old: Charter, new: Charter) -> list[str]:
    """What changes from ``old`` to ``new``, one sentence per line."""
    lines = []
    if new.name != old.name:
        lines.append(f"The charter's name changes from {old.name!r} to {new.name!r} (not allowed).")
    if new.version != old.version + 1:
        lines.append(
            f"Version goes from {old.version} to {new.version}: it must be {old.version + 1}."
        )
    if new.previous != old.digest:
        lines.append(
            f"It does not name version {old.version}'s digest ({digest_text(old.digest)}) as "
            "previous: it would be refused."
        )
    lines += describe_key_changes("Foundation", old.foundation.keys, new.foundation.keys)
    if old.foundation.threshold != new.foundation.threshold:
        lines.append(
            f"Foundation: signatures needed go from {old.foundation.threshold} to "
            f"{new.foundation.threshold}."
        )
    old_logs = {log.origin: log for log in old.logs}
    new_logs = {log.origin: log for log in new.logs}
    for origin in new_logs.keys() - old_logs.keys():
        lines.append(f"Adds log {origin}.")
    for origin in old_logs.keys() - new_logs.keys():
        lines.append(f"Removes log {origin}.")
    for origin in old_logs.keys() & new_logs.keys():
        if old_logs[origin] != new_logs[origin]:
            lines.append(f"Changes the key or URLs of log {origin}.")
    if old.witnesses != new.witnesses or old.auditing_witnesses != new.auditing_witnesses:
        old_w = {w.name for w in old.witnesses.witnesses}
        new_w = {w.name for w in new.witnesses.witnesses}
        parts = []
        if new_w - old_w:
            parts.append(f"adds {', '.join(sorted(new_w - old_w))}")
        if old_w - new_w:
            parts.append(f"removes {', '.join(sorted(old_w - new_w))}")
        if old.witnesses.quorum != new.witnesses.quorum:
            parts.append(f"quorum {old.witnesses.quorum!r} becomes {new.witnesses.quorum!r}")
        lines.append("Witnesses: " + ("; ".join(parts) or "keys, groups or auditing change") + ".")
    old_sec = old.security.keys if old.security else ()
    new_sec = new.security.keys if new.security else ()
    lines += describe_key_changes("Security team", old_sec, new_sec)
    if (old.security and old.security.threshold) != (new.security and new.security.threshold):
        lines.append(
            f"Security team: signatures needed go from "
            f"{old.security.threshold if old.security else 'none'} to "
            f"{new.security.threshold if new.security else 'none'}."
        )
    lines += describe_team_changes(old, new)
    for name in new.repositories.keys() - old.repositories.keys():
        lines.append(f"Adds repository {name!r}:")
        lines += ["  " + line.strip() for line in _describe_repository(new.repositories[name])]
    for name in old.repositories.keys() - new.repositories.keys():
        lines.append(f"Removes repository {name!r}: no new releases will be accepted.")
    for name in sorted(old.repositories.keys() & new.repositories.keys()):
        lines += _repository_changes(old.repositories[name], new.repositories[name])
    old_revoked = {r.key.public_key for r in old.revoked}
    for revoked in new.revoked:
        if revoked.key.public_key not in old_revoked:
            lines.append(
                f"Revokes {describe_key(revoked.key)} from log entry {revoked.from_index}"
                + (f" ({revoked.reason})." if revoked.reason else ".")
            )
    new_revoked = {r.key.public_key for r in new.revoked}
    for revoked in old.revoked:
        if revoked.key.public_key not in new_revoked:
            lines.append(f"Lifts the revocation of {describe_key(revoked.key)}.")
    if not lines:
        lines.append("Nothing changes but the version number.")
    return lines


def _repository_changes(old: Repository, new: Repository) -> list[str]:
    what = f"Repository {new.name!r}"
    lines = describe_key_changes(f"{what} publishers", old.publishers.keys, new.publishers.keys)
    if old.publishers.threshold != new.publishers.threshold:
        lines.append(
            f"{what}: publisher signatures needed go from {old.publishers.threshold} to "
            f"{new.publishers.threshold}."
        )
    if old.format != new.format:
        lines.append(f"{what}: format changes from {old.format} to {new.format}.")
    lines += describe_key_changes(f"{what} rebuilders", old.rebuilders, new.rebuilders)
    if old.rebuilds_required != new.rebuilds_required:
        lines.append(
            f"{what}: required reproduced rebuilds go from {old.rebuilds_required} to "
            f"{new.rebuilds_required}."
        )
    if old.freshness_s != new.freshness_s:
        lines.append(
            f"{what}: clients accept views up to {format_duration(new.freshness_s)} old "
            f"(was {format_duration(old.freshness_s)})."
        )
    if old.stale != new.stale:
        lines.append(f"{what}: a stale view now means {new.stale} (was {old.stale}).")
    if old.grace_s != new.grace_s:
        lines.append(
            f"{what}: grace period {format_duration(new.grace_s)} "
            f"(was {format_duration(old.grace_s)})."
        )
    return lines + describe_ownership_changes(old, new)


def add_charter_signature(
    charter_bytes: bytes, envelope: Envelope | None, signer: Ed25519Signer
) -> Envelope:
    """Add one key holder's signature to a charter's envelope (or start it).

    Procedure: (1) parse the charter; (2) if an envelope exists, it must carry
    exactly these bytes (so nobody signs a version they did not read);
    (3) append the signature (a second signature by the same key is refused:
    it would count once anyway).

    Raises:
        FormatError: the charter does not parse, the envelope carries another
            charter, or this key already signed.
    """
    charter = parse_charter(charter_bytes)
    if envelope is None:
        return sign_envelope(PAYLOAD_TYPE_INTOTO, charter_statement(charter).raw, [signer])
    signed = parse_signed_charter(envelope)
    if signed.charter.raw != charter.raw:
        raise FormatError(
            f"signature file carries {signed.charter.label} "
            f"({digest_text(signed.charter.digest)}), not the file given "
            f"({charter.label}, {digest_text(charter.digest)})"
        )
    if signer.vkey in signed.signers:
        raise FormatError(f"{describe_key(signer.verifier())} already signed this charter")
    return add_signatures(envelope, [signer])


def signature_status(signed: SignedCharter, previous: Charter | None) -> list[str]:
    """Who signed, who is still needed, per threshold that applies."""
    charter = signed.charter
    roles = [("its own foundation", charter.foundation)]
    if previous is not None:
        roles.insert(0, (f"the foundation of version {previous.version}", previous.foundation))
    lines = []
    for what, role in roles:
        result = role.evaluate(signed.signers)
        state = "met" if result.met else "NOT met"
        lines.append(f"{what}: {state}, {result.describe()}.")
    if signed.invalid:
        lines.append(f"Signatures that do not verify: {', '.join(signed.invalid)}.")
    return lines
