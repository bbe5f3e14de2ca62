"""The seven checks of ``vigil verify``, over one verification bundle.

Given what this machine trusts (:class:`Trusted`: the newest charter it
verified, the last checkpoint it verified, the last version of the repository
it accepted), a bundle from any server, the digest of the metadata in hand
and the time, :func:`verify_bundle` answers the openSUSE proposal's questions
(issue 6), each reported separately, in this order:

1. **fresh** -- the checkpoint is signed by the log and cosigned by the
   charter's witness quorum within the repository's freshness window;
2. **consistent** -- it extends the last view this machine verified (a
   rollback or a fork is refused, with the evidence);
3. **charter** -- every charter version from the trusted one to the one in
   force is verified, and the log's governance record names that one;
4. **current** -- the status record (map proof) names a release whose digest
   is the metadata's: the latest, or a superseded one still in its grace
   period; and not older than the version this machine last accepted;
5. **authorized** -- the release is signed by the charter's publishers of the
   repository, threshold met with distinct keys none of which is revoked;
6. **reproduced** -- enough of the charter's rebuilders attest "reproduced",
   and no counted rebuilder reports a mismatch;
7. **not warned** -- no advisory in force blocks the version (``warn`` ones
   are shown).

The charter is verified first (its versions sign themselves), because the
newest version names the log key and witnesses the checkpoint is judged by;
it is reported third, as the issue orders the questions. A check that cannot
run because an earlier one failed is reported as skipped, never as passed.

Roles are judged under the charter in force now: a publisher the foundation
removed no longer authorizes releases, old or new.

Pure: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from vigil.core import merkle
from vigil.core.bundle import Bundle
from vigil.core.charter import (
    Charter,
    Repository,
    VerifiedCharter,
    digest_text,
    parse_signed_charter,
    verify_chain,
)
from vigil.core.checkpoint import Checkpoint, VerifiedCheckpoint
from vigil.core.dsse import parse_envelope
from vigil.core.freshness import verify_fresh_checkpoint
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.core.policy import verify_policy_checkpoint
from vigil.core.proof import verify_consistency, verify_inclusion
from vigil.core.statements import parse_revocation
from vigil.core.statusmap import (
    GOVERNANCE,
    AbsenceProof,
    GovernanceRecord,
    LoggedEntry,
    NamedEntry,
    ReleaseRef,
    StatusRecord,
    parse_record,
    status_root,
    verify_logged_entry,
    verify_record,
    verify_status_answer,
)
from vigil.errors import FormatError, FreshnessError, VerificationError, VigilError

__all__ = ["CHECKS", "Check", "Report", "Trusted", "verify_bundle"]

Outcome = Literal["pass", "warn", "fail", "stale", "skip"]
Verdict = Literal["verified", "rejected", "stale"]

CHECKS: tuple[tuple[str, str], ...] = (
    ("fresh", "fresh view"),
    ("consistent", "consistent with this machine's last view"),
    ("charter", "charter chain"),
    ("current", "current"),
    ("authorized", "authorized"),
    ("reproduced", "reproduced"),
    ("not-warned", "not warned"),
)
"""Check names (stable, for ``--json``) and their titles, in report order."""


@dataclass(frozen=True, slots=True)
class Trusted:
    """What this machine trusts before the run.

    Attributes:
        charter: The newest charter it verified (or shipped with it).
        checkpoint: The last checkpoint of the log it verified, or None.
        checkpoint_note: That checkpoint's note (kept as evidence on a fork).
        version: The last version of the repository it accepted, or None.
    """

    charter: Charter
    checkpoint: Checkpoint | None = None
    checkpoint_note: bytes = b""
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result.

    Attributes:
        name: Stable name (see :data:`CHECKS`).
        outcome: ``pass``, ``warn`` (passed with something to show),
            ``stale`` (freshness not confirmed), ``fail`` or ``skip``.
        detail: What was found, for people.
        hint: What to do about it (empty if nothing).
    """

    name: str
    outcome: Outcome
    detail: str
    hint: str = ""

    @property
    def title(self) -> str:
        """The check's title for people."""
        return dict(CHECKS)[self.name]


@dataclass(frozen=True, slots=True)
class Report:
    """The result of :func:`verify_bundle`, and what the caller may remember.

    Attributes:
        repository: The repository checked.
        checks: One :class:`Check` per entry of :data:`CHECKS`, in order.
        charter: The newest verified charter (store it when it is newer).
        charter_entries: Entry bytes of the charter versions newly verified,
            oldest first (stored so the chain can be shown later).
        checkpoint: The checkpoint to remember (verified and consistent), or None.
        checkpoint_note: Its note.
        release: The release the metadata is, if found.
        evidence: Named documents to keep when a rollback or fork is seen.
    """

    repository: str
    checks: tuple[Check, ...]
    charter: Charter
    charter_entries: tuple[bytes, ...] = ()
    checkpoint: Checkpoint | None = None
    checkpoint_note: bytes = b""
    release: ReleaseRef | None = None
    evidence: tuple[tuple[str, bytes], ...] = ()

    @property
    def verdict(self) -> Verdict:
        """``rejected`` if any check failed, else ``stale`` if freshness was
        not confirmed under a charter that rejects stale views, else ``verified``."""
        outcomes = {c.outcome for c in self.checks}
        if "fail" in outcomes:
            return "rejected"
        if "stale" in outcomes:
            return "stale"
        return "verified"

    @property
    def version(self) -> int | None:
        """The version to remember as accepted (only when verified)."""
        if self.verdict != "verified" or self.release is None:
            return None
        return self.release.version


class _Failed(Exception):
    """Ends the run: the check named failed and the rest are skipped."""


@dataclass
class _Run:
    bundle: Bundle
    trusted: Trusted
    repository: str
    digest: bytes
    now: int
    results: dict[str, Check] = field(default_factory=dict)
    evidence: list[tuple[str, bytes]] = field(default_factory=list)

    def record(self, name: str, outcome: Outcome, detail: str, hint: str = "") -> None:
        self.results[name] = Check(name, outcome, detail, hint)

    def fail(self, name: str, detail: str, hint: str = "") -> _Failed:
        self.record(name, "fail", detail, hint)
        return _Failed(name)


def verify_bundle(
    bundle: Bundle, trusted: Trusted, *, repository: str, metadata_digest: bytes, now: int
) -> Report:
    """Run the seven checks (see the module docstring).

    Args:
        bundle: A parsed bundle from any server or file.
        trusted: What this machine trusts.
        repository: The repository the metadata belongs to.
        metadata_digest: The state digest of the metadata in hand.
        now: The current POSIX time.

    Returns:
        The report; nothing raises for bad input (it is a failed check).
    """
    run = _Run(bundle, trusted, repository, metadata_digest, now)
    charter = trusted.charter
    charter_entries: tuple[bytes, ...] = ()
    checkpoint: VerifiedCheckpoint | None = None
    release: ReleaseRef | None = None
    try:
        if bundle.repository != repository:
            raise run.fail("current", f"the bundle answers for {bundle.repository!r}, "
                           f"not {repository!r}", "fetch the bundle of this repository")
        verified, charter_entries = _charter_chain(run)
        charter = verified.charter
        rules = _rules(run, charter)
        checkpoint = _fresh(run, charter, rules)
        _consistent(run, checkpoint)
        revoked = _governance(run, checkpoint, verified, charter_entries)
        release, record, entries = _current(run, checkpoint, rules)
        _authorized(run, charter, rules, release, entries, revoked)
        _reproduced(run, charter, rules, release, record, revoked)
        _not_warned(run, release, record)
    except _Failed:
        pass
    checks = tuple(
        run.results.get(name) or Check(name, "skip", "not checked: an earlier check failed")
        for name, _ in CHECKS
    )
    keep = checkpoint is not None and run.results.get("consistent", _SKIP).outcome == "pass"
    return Report(
        repository=repository,
        checks=checks,
        charter=charter,
        charter_entries=charter_entries,
        checkpoint=checkpoint.checkpoint if keep and checkpoint else None,
        checkpoint_note=bundle.checkpoint if keep else b"",
        release=release,
        evidence=tuple(run.evidence),
    )


_SKIP = Check("", "skip", "")


# -- 3. the charter chain (run first) ---------------------------------------------------


def _charter_chain(run: _Run) -> tuple[VerifiedCharter, tuple[bytes, ...]]:
    trusted = run.trusted.charter
    signed = []
    datas = []
    for index in run.bundle.charters:
        entry = run.bundle.entry(index)
        if entry is None:
            raise run.fail("charter", f"the bundle names charter entry {index} but lacks it",
                           "try another mirror")
        try:
            item = parse_signed_charter(parse_envelope(entry.data))
        except VigilError as exc:
            raise run.fail("charter", f"entry {index} is not a charter: {exc}") from exc
        if item.charter.version <= trusted.version:
            continue  # asked for before this machine learnt it (bundles fetched in parallel)
        signed.append(item)
        datas.append(entry.data)
    if not signed:
        return verify_chain([], trusted=trusted), ()
    try:
        verified = verify_chain(signed, trusted=trusted)
    except (VerificationError, FormatError) as exc:
        raise run.fail(
            "charter", f"the chain from {trusted.label} breaks: {exc}",
            "a charter version not signed by its predecessor's foundation: report it",
        ) from exc
    return verified, tuple(datas)


def _rules(run: _Run, charter: Charter) -> Repository:
    rules = charter.repositories.get(run.repository)
    if rules is None:
        raise run.fail(
            "charter", f"{charter.label} does not name repository {run.repository!r}",
            "check the repository name in your configuration",
        )
    return rules


# -- 1. fresh view ----------------------------------------------------------------------


def _fresh(run: _Run, charter: Charter, rules: Repository) -> VerifiedCheckpoint:
    policy = charter.witnesses
    try:
        verified = verify_policy_checkpoint(policy, run.bundle.checkpoint)
    except VigilError as exc:
        raise run.fail(
            "fresh", f"checkpoint not accepted under {charter.label}'s logs and witnesses: {exc}",
            "the server or mirror may be forging checkpoints; try another",
        ) from exc
    body = verified.checkpoint
    try:
        fresh = verify_fresh_checkpoint(
            policy, run.bundle.checkpoint, now=run.now, max_age_s=rules.freshness_s
        )
    except FreshnessError as exc:
        outcome: Outcome = "stale" if rules.stale == "reject" else "warn"
        run.record(
            "fresh", outcome, f"tree {body.size} of {body.origin}: {exc}",
            "the log or its witnesses are not reachable from here, or a mirror is frozen; "
            "retry later or use another mirror",
        )
        return verified
    run.record(
        "fresh", "pass",
        f"tree {body.size} of {body.origin}, witness quorum cosigned it {fresh.age_s} s ago "
        f"(window {rules.freshness_s} s)",
    )
    return verified


# -- 2. consistency with the last view --------------------------------------------------


def _consistent(run: _Run, verified: VerifiedCheckpoint) -> None:
    new = verified.checkpoint
    old = run.trusted.checkpoint
    if old is None or old.origin != new.origin:
        run.record("consistent", "pass",
                   f"first view of {new.origin} on this machine (tree {new.size})")
        return
    fork = "the log shows this machine a history that contradicts the one it saw before"
    if new.size < old.size:
        run.evidence.append(("rollback", _evidence(run, "rollback")))
        raise run.fail(
            "consistent",
            f"rollback: tree {new.size} is older than tree {old.size} this machine verified",
            "a server is replaying an old view; the evidence is kept in the state directory",
        )
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            run.evidence.append(("fork", _evidence(run, "fork")))
            raise run.fail("consistent", f"fork at tree {new.size}: {fork}",
                           "report the evidence kept in the state directory")
        run.record("consistent", "pass", f"same tree {new.size} as last time")
        return
    if run.bundle.old_size != old.size:
        raise run.fail(
            "consistent",
            f"the bundle proves consistency from tree {run.bundle.old_size}, "
            f"this machine holds tree {old.size}",
            "ask for the bundle with size=" + str(old.size),
        )
    try:
        verify_consistency(
            old.size, new.size, list(run.bundle.consistency), old.root_hash, new.root_hash
        )
    except VigilError as exc:
        run.evidence.append(("fork", _evidence(run, "fork")))
        raise run.fail("consistent", f"fork: {fork} ({exc})",
                       "report the evidence kept in the state directory") from exc
    run.record("consistent", "pass", f"tree {new.size} extends tree {old.size}")


def _evidence(run: _Run, kind: str) -> bytes:
    return json.dumps(
        {
            "kind": kind,
            "time": run.now,
            "repository": run.repository,
            "stored_checkpoint": run.trusted.checkpoint_note.decode("utf-8", "replace"),
            "new_checkpoint": run.bundle.checkpoint.decode("utf-8", "replace"),
            "consistency_from": run.bundle.old_size,
            "consistency_proof": [h.hex() for h in run.bundle.consistency],
        },
        indent=1,
    ).encode()


# -- 3. the charter in force --------------------------------------------------------------


def _included(run: _Run, verified: VerifiedCheckpoint, entry: NamedEntry, check: str) -> None:
    body = verified.checkpoint
    try:
        verify_inclusion(entry.index, body.size, merkle.hash_leaf(entry.data),
                         list(entry.proof), body.root_hash)
    except VigilError as exc:
        raise run.fail(check, f"entry {entry.index} is not in the checkpoint's tree: {exc}",
                       "the server tampered with a proof; try another mirror") from exc


def _governance(
    run: _Run, verified: VerifiedCheckpoint, chain: VerifiedCharter,
    charter_entries: tuple[bytes, ...],
) -> dict[bytes, int]:
    """Check the governance record; returns revoked public keys -> from_index."""
    charter = chain.charter
    root = status_root(verified.checkpoint)
    if root is None:
        raise run.fail("charter", "the checkpoint carries no status map",
                       "this log does not serve charters; check the configured URL")
    try:
        record = verify_record(root, GOVERNANCE, run.bundle.governance)
    except VigilError as exc:
        raise run.fail("charter", f"governance record: {exc}", "try another mirror") from exc
    assert isinstance(record, GovernanceRecord)
    for index in run.bundle.charters:
        entry = run.bundle.entry(index)
        assert entry is not None  # _charter_chain checked
        _included(run, verified, entry, "charter")
    in_force = record.charter
    trusted = run.trusted.charter
    if in_force.version < trusted.version:
        raise run.fail(
            "charter",
            f"the log has {charter.name} v{in_force.version} in force, older than the "
            f"v{trusted.version} this machine trusts",
            "the log or mirror is behind or rolled back; try another",
        )
    if (in_force.name, in_force.version, in_force.digest) != (
        charter.name, charter.version, charter.digest
    ) or (run.bundle.charters and run.bundle.charters[-1] != in_force.index):
        raise run.fail(
            "charter",
            f"the log has {in_force.name} v{in_force.version} "
            f"({digest_text(in_force.digest)}) in force, the bundle leads to {charter.label} "
            f"({digest_text(charter.digest)})",
            "the bundle is incomplete or tampered; try another mirror",
        )
    revoked: dict[bytes, int] = {}
    for ref in record.revoked:
        entry = run.bundle.entry(ref.index)
        if entry is None:
            raise run.fail("charter", f"revocation entry {ref.index} missing from the bundle")
        _included(run, verified, entry, "charter")
        try:
            revocation = parse_revocation(verify_logged_entry(ref.index, entry.data).statement)
        except VigilError as exc:
            raise run.fail("charter", f"entry {ref.index} is not a revocation: {exc}") from exc
        if revocation.key != ref.key:
            raise run.fail("charter", f"entry {ref.index} revokes another key than the record")
        revoked[revocation.verifier.public_key] = ref.from_index
    steps = len(chain.chain) - 1
    walked = f", verified {steps} new version{'s' if steps != 1 else ''}" if steps else ""
    run.record("charter", "pass", f"{charter.label} in force{walked}")
    return revoked


# -- 4. current ---------------------------------------------------------------------------


def _current(
    run: _Run, verified: VerifiedCheckpoint, rules: Repository
) -> tuple[ReleaseRef, StatusRecord, dict[int, LoggedEntry]]:
    status = run.bundle.status
    names: tuple[int, ...] = ()
    if not isinstance(status, AbsenceProof):
        try:
            names = parse_record(status.record).entry_indexes()
        except VigilError as exc:
            raise run.fail("current", f"status record: {exc}", "try another mirror") from exc
    entries = []
    for index in names:
        entry = run.bundle.entry(index)
        if entry is None:
            raise run.fail("current", f"the bundle lacks entry {index} the record names",
                           "try another mirror")
        entries.append(entry)
    try:
        answer = verify_status_answer(verified, run.repository, status, entries)
    except VigilError as exc:
        raise run.fail("current", f"status of {run.repository!r}: {exc}",
                       "the server tampered with the status proof; try another mirror") from exc
    record = answer.record
    digest = digest_text(run.digest)
    if record is None or not isinstance(record, StatusRecord) or record.latest is None:
        raise run.fail(
            "current", f"the log proves that {run.repository!r} has no release; the metadata "
            f"in hand ({digest}) was never logged", "do not install from this repository",
        )
    latest = record.latest
    release = next((r for r in record.releases if r.digest == run.digest), None)
    if release is None:
        raise run.fail(
            "current",
            f"the metadata in hand ({digest}) is neither the latest state the publisher logged "
            f"(version {latest.version}, {digest_text(latest.digest)}) nor one still in its "
            "grace period: it is tampered, never published, or an older state replayed",
            "the mirror serves tampered, unpublished or outdated metadata: refresh from "
            "another mirror",
        )
    accepted = run.trusted.version
    if accepted is not None and release.version < accepted:
        raise run.fail(
            "current",
            f"rollback: version {release.version}, but this machine already accepted "
            f"version {accepted}", "a mirror is replaying an old state; use another",
        )
    if release is latest:
        run.record("current", "pass", f"version {release.version} is the latest "
                   f"(logged at entry {release.index})")
    else:
        superseded = release.superseded_s or 0
        age = run.now - superseded
        if age > rules.grace_s:
            raise run.fail(
                "current",
                f"version {release.version} was superseded by version {latest.version} "
                f"{age} s ago (grace {rules.grace_s} s)",
                "the mirror is outdated: refresh the repository metadata",
            )
        run.record("current", "warn",
                   f"version {release.version} was superseded by version {latest.version} "
                   f"{age} s ago, within the {rules.grace_s} s grace period",
                   "the mirror lags behind; refresh soon")
    return release, record, answer.entries


# -- 5. authorized ------------------------------------------------------------------------


def _public_key(vkey: str) -> bytes | None:
    try:
        verifier = parse_verifier_key(vkey)
    except VigilError:
        return None
    return verifier.public_key if isinstance(verifier, Ed25519Verifier) else None


def _counted(
    signers: Iterable[str], index: int, charter: Charter, revoked: dict[bytes, int]
) -> tuple[list[str], list[str]]:
    """Split signers into those that count at ``index`` and revoked ones."""
    counted, refused = [], []
    for vkey in signers:
        from_index = charter.revoked_from(vkey)
        public_key = _public_key(vkey)
        log_from = revoked.get(public_key) if public_key is not None else None
        if (from_index is not None and from_index <= index) or (
            log_from is not None and log_from <= index
        ):
            refused.append(vkey)
        else:
            counted.append(vkey)
    return counted, refused


def _authorized(
    run: _Run, charter: Charter, rules: Repository, release: ReleaseRef,
    entries: dict[int, LoggedEntry], revoked: dict[bytes, int],
) -> None:
    entry = entries[release.index]
    counted, refused = _counted(entry.signers, release.index, charter, revoked)
    result = rules.publishers.evaluate(counted)
    if not result.met:
        why = f"; revoked: {', '.join(k.split('+')[0] for k in refused)}" if refused else ""
        raise run.fail(
            "authorized",
            f"release {release.version} is not signed by the publishers of "
            f"{run.repository!r} under {charter.label}: {result.describe()}{why}",
            "someone without the role published it: do not install",
        )
    run.record("authorized", "pass",
               f"signed by {', '.join(result.signed)} ({len(result.signed)} of "
               f"{result.threshold} required)")


# -- 6. reproduced ------------------------------------------------------------------------


def _reproduced(
    run: _Run, charter: Charter, rules: Repository, release: ReleaseRef,
    parsed: StatusRecord, revoked: dict[bytes, int],
) -> None:
    reproduced: set[str] = set()
    mismatch: list[str] = []
    for ref in parsed.rebuilds:
        if ref.version != release.version or not rules.is_rebuilder(ref.builder):
            continue
        counted, _ = _counted([ref.builder], ref.index, charter, revoked)
        if not counted:
            continue
        name = ref.builder.split("+")[0]
        if ref.result == "reproduced":
            reproduced.add(name)
        elif ref.result == "mismatch":
            mismatch.append(name)
    if mismatch:
        raise run.fail(
            "reproduced",
            f"rebuilder {', '.join(mismatch)} got different bytes for version "
            f"{release.version}", "the published binaries may not come from their sources: "
            "do not install",
        )
    need = rules.rebuilds_required
    if len(reproduced) < need:
        have = ", ".join(sorted(reproduced)) or "none"
        raise run.fail(
            "reproduced",
            f"{len(reproduced)} of the {need} required rebuilders reproduced version "
            f"{release.version} (so far: {have})",
            "wait for the rebuilders, or ask the repository's maintainers",
        )
    if need == 0 and not reproduced:
        run.record("reproduced", "pass", "the charter requires no rebuild for this repository")
        return
    run.record("reproduced", "pass",
               f"reproduced by {', '.join(sorted(reproduced))} ({need} required)")


# -- 7. not warned ------------------------------------------------------------------------


def _not_warned(run: _Run, release: ReleaseRef, parsed: StatusRecord) -> None:
    hits = [a for a in parsed.advisories if a.affects(release.version)]
    blocks = [a for a in hits if a.action == "block"]
    if blocks:
        raise run.fail(
            "not-warned",
            f"blocked by {', '.join(a.id for a in blocks)} (security team) for version "
            f"{release.version}", "do not install; wait for a fixed release",
        )
    if hits:
        run.record("not-warned", "warn", f"advisories in force: {', '.join(a.id for a in hits)}",
                   "read the advisories before installing")
        return
    run.record("not-warned", "pass", "no advisory in force for this version")
