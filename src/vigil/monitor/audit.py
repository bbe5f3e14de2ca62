"""Audit a log: replay it from its tiles and check every root it signed.

``vigil audit URL`` runs :func:`audit_log`. Anyone can: it needs only the
log's public read path (c2sp.org/tlog-tiles) and its key.

Procedure (:func:`audit_log`):

1. Fetch ``/checkpoint`` and verify it (log key, origin); verify any older
   checkpoints the caller kept (saved files, a witness's copy). Two different
   checkpoints for one size are a split view: reported at once, with both.
2. Fetch every entry bundle up to the latest size, in order. For each entry:
   append its leaf hash to a Merkle tree and replay it through the status
   map's rules (:class:`vigil.core.statusmap.Replayer`). An entry the rules
   refuse is a *violation*: the log accepted what it must refuse.
3. At each checked checkpoint's size: the recomputed tree root must be the
   checkpoint's root (else the entry bundles are not what the log signed),
   and the recomputed status-map root must be its ``vigil-status-map`` root
   (else the log signed a map an honest log would not have).
4. If the latest checkpoint's status root is wrong, ask the log for each
   repository's record (``/api/v1/status/NAME``), verify the answer against
   the root the log signed, and compare it with the recomputed record: the
   entries one names and the other doesn't pin the first index where the log
   lied ("omits release 2 of oss, entry 5").
5. The report's :attr:`AuditReport.lie` is the earliest of all findings.

What it does not do (yet): check witness cosignatures (see the witness
issue), keep state between runs (pass saved checkpoints instead), list
entries signed by a key in the window before its revocation landed.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vigil.core import merkle
from vigil.core.charter import digest_text
from vigil.core.checkpoint import VerifiedCheckpoint, verify_checkpoint
from vigil.core.note import Verifier
from vigil.core.statusmap import (
    GovernanceRecord,
    Record,
    Replayer,
    Violation,
    parse_absence_proof,
    parse_record_proof,
    status_root,
    verify_absence,
    verify_record,
)
from vigil.core.tiles import TILE_WIDTH, TileID, parse_entry_bundle, tile_path
from vigil.errors import FormatError, SplitViewError, TransportError, VerificationError
from vigil.monitor.fetch import Fetcher

__all__ = ["AuditReport", "CheckpointCheck", "Lie", "audit_log"]

Progress = Callable[[int, int], None]
"""``progress(entries done, entries total)``."""

MAX_STATUS_QUERIES = 10_000
"""Most repositories asked about when localizing a wrong status map."""


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """What one checkpoint claimed and what the replay computed.

    Attributes:
        size: Its tree size.
        tree_ok: Whether the entries hash to its root.
        claimed_status: Its ``vigil-status-map`` root (None: no line).
        computed_status: The replayed status root (None: no charter yet).
    """

    size: int
    tree_ok: bool
    claimed_status: bytes | None
    computed_status: bytes | None

    @property
    def ok(self) -> bool:
        """Whether the checkpoint is what an honest log would have signed."""
        return self.tree_ok and self.claimed_status == self.computed_status


@dataclass(frozen=True, slots=True)
class Lie:
    """The first place the log lied.

    Attributes:
        index: The first log index involved, or None when it can't be pinned.
        what: What the log did, in words.
    """

    index: int | None
    what: str

    def describe(self) -> str:
        """One line for people."""
        where = "" if self.index is None else f"at entry {self.index}: "
        return where + self.what


@dataclass(frozen=True)
class AuditReport:
    """The outcome of an audit.

    Attributes:
        origin: The log.
        size: The latest checkpoint's size (entries replayed).
        checks: Each checkpoint checked, by size.
        violations: Entries the rules refuse (in log order).
        lie: The earliest lie found, or None if the log checked out.
        records: Records in the recomputed status map.
    """

    origin: str
    size: int
    checks: tuple[CheckpointCheck, ...]
    violations: tuple[Violation, ...]
    lie: Lie | None
    records: int
    findings: tuple[Lie, ...] = field(default=())


def _verify(note: bytes, origin: str, log_key: Verifier, what: str) -> VerifiedCheckpoint:
    try:
        return verify_checkpoint(note, origin=origin, log_verifier=log_key)
    except (FormatError, VerificationError) as exc:
        raise type(exc)(f"{what}: {exc}") from exc


def _fetch(fetcher: Fetcher, path: str) -> bytes:
    data = fetcher.fetch(path)
    if data is None:
        raise TransportError(f"{path}: the log says it does not exist (404)")
    return data


def audit_log(
    fetcher: Fetcher,
    *,
    origin: str,
    log_key: Verifier,
    checkpoints: Sequence[bytes] = (),
    progress: Progress | None = None,
) -> AuditReport:
    """Replay a log and check its checkpoints; see the module docstring.

    Args:
        fetcher: Reads the log's resources.
        origin: The log's origin.
        log_key: The log's checkpoint key.
        checkpoints: Older checkpoint notes to check too.
        progress: Called after each entry bundle.

    Returns:
        The report; :attr:`AuditReport.lie` is None if everything checked out.

    Raises:
        TransportError: the log could not be read.
        FormatError, VerificationError: a checkpoint does not verify
            (it is not the log's: nothing to audit).
        SplitViewError: two different checkpoints for one size (with both).
    """
    # Step 1.
    latest_note = _fetch(fetcher, "checkpoint")
    latest = _verify(latest_note, origin, log_key, "latest checkpoint")
    claims: dict[int, tuple[VerifiedCheckpoint, bytes]] = {
        latest.checkpoint.size: (latest, latest_note)
    }
    for position, note in enumerate(checkpoints):
        verified = _verify(note, origin, log_key, f"checkpoint {position}")
        size = verified.checkpoint.size
        known = claims.get(size)
        if known is not None and known[0].checkpoint != verified.checkpoint:
            raise SplitViewError(
                f"log {origin}: two different checkpoints for tree size {size}",
                first=known[1], second=note,
            )
        if size > latest.checkpoint.size:
            raise VerificationError(
                f"checkpoint {position} (size {size}) is newer than the log's latest "
                f"({latest.checkpoint.size}): the log went back"
            )
        claims.setdefault(size, (verified, note))

    # Steps 2 and 3.
    total = latest.checkpoint.size
    tree = merkle.MerkleTree()
    replayer = Replayer()
    checks: list[CheckpointCheck] = []
    pending = sorted(claims)
    if pending and pending[0] == 0:
        checks.append(_check(claims[0][0], tree, replayer))
        pending.pop(0)
    for bundle in range((total + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, total - bundle * TILE_WIDTH)
        tile = TileID(0, bundle, width, entries=True)
        try:
            entries = parse_entry_bundle(_fetch(fetcher, tile_path(tile)), width)
        except FormatError as exc:
            raise FormatError(f"log {origin}: {tile_path(tile)}: {exc}") from exc
        for data in entries:
            tree.append(merkle.hash_leaf(data))
            replayer.add(data)
            while pending and pending[0] == tree.size:
                checks.append(_check(claims[pending.pop(0)][0], tree, replayer))
        if progress is not None:
            progress(tree.size, total)

    # Steps 4 and 5.
    findings = _findings(fetcher, checks, replayer, latest)
    return AuditReport(
        origin=origin,
        size=total,
        checks=tuple(checks),
        violations=tuple(replayer.violations),
        lie=min(findings, key=_order) if findings else None,
        records=sum(1 for _ in replayer.state.records()),
        findings=tuple(findings),
    )


def _order(lie: Lie) -> tuple[int, int]:
    return (0, lie.index) if lie.index is not None else (1, 0)


def _check(
    verified: VerifiedCheckpoint, tree: merkle.MerkleTree, replayer: Replayer
) -> CheckpointCheck:
    checkpoint = verified.checkpoint
    return CheckpointCheck(
        size=checkpoint.size,
        tree_ok=tree.root() == checkpoint.root_hash,
        claimed_status=status_root(checkpoint),
        computed_status=replayer.state.root(),
    )


def _findings(
    fetcher: Fetcher, checks: list[CheckpointCheck], replayer: Replayer, latest: VerifiedCheckpoint
) -> list[Lie]:
    findings = [
        Lie(v.index, f"the log accepted an entry its rules refuse: {v.error}")
        for v in replayer.violations[:1]
    ]
    previous_good = 0
    for check in checks:
        if not check.tree_ok:
            findings.append(
                Lie(None, f"the entries it serves do not hash to its checkpoint of size "
                    f"{check.size}")
            )
        elif check.claimed_status != check.computed_status:
            located = None
            if check.size == latest.checkpoint.size and check.claimed_status is not None:
                located = _locate(fetcher, check.claimed_status, replayer, latest)
            if located is not None:
                findings.append(located)
            else:
                claimed = "none" if check.claimed_status is None else check.claimed_status.hex()
                computed = "none" if check.computed_status is None else check.computed_status.hex()
                findings.append(
                    Lie(
                        previous_good if previous_good < check.size else None,
                        f"its checkpoint of size {check.size} signs status map root {claimed}, "
                        f"but replaying entries [0, {check.size}) gives {computed} "
                        f"(the lie is in entries {previous_good} to {check.size - 1})",
                    )
                )
        if check.ok:
            previous_good = check.size
    return findings


def _entry_names(record: Record) -> dict[int, str]:
    """What each entry a record names is, in words."""
    names: dict[int, str] = {}
    if isinstance(record, GovernanceRecord):
        names[record.charter.index] = f"charter {record.charter.name} v{record.charter.version}"
        for revoked in record.revoked:
            names[revoked.index] = f"the revocation of {revoked.key.split('+')[0]}"
        return names
    for release in record.releases:
        names[release.index] = (
            f"release {release.version} of {record.repository!r} "
            f"({digest_text(release.digest)[:19]}...)"
        )
    for rebuild in record.rebuilds:
        names[rebuild.index] = (
            f"{rebuild.builder.split('+')[0]}'s {rebuild.result} attestation of "
            f"{record.repository!r} {rebuild.version}"
        )
    for advisory in record.advisories:
        names[advisory.index] = (
            f"advisory {advisory.id} ({advisory.action}) for {record.repository!r}"
        )
    return names


def _locate(
    fetcher: Fetcher, claimed_root: bytes, replayer: Replayer, latest: VerifiedCheckpoint
) -> Lie | None:
    """Step 4: compare the log's records with the recomputed ones."""
    candidates: list[Lie] = []
    for count, ours in enumerate(replayer.state.records()):
        if count >= MAX_STATUS_QUERIES:
            break
        name = ours.name
        path = "api/v1/status/" + urllib.parse.quote(name, safe="")
        try:
            data = fetcher.fetch(path)
        except TransportError:
            return None
        if data is None:
            return None  # the log serves no status answers: can't localize
        try:
            answer = json.loads(data)
            if answer.get("tree_size") != latest.checkpoint.size:
                return None  # the log moved on; a later audit will see it
            theirs: Record | None
            if "record" in answer:
                theirs = verify_record(claimed_root, name, parse_record_proof(answer["record"]))
            else:
                verify_absence(claimed_root, name, parse_absence_proof(answer.get("absence")))
                theirs = None
        except (ValueError, AttributeError, FormatError, VerificationError) as exc:
            candidates.append(
                Lie(None, f"its status answer for {name!r} does not verify against the root it "
                    f"signed: {exc}")
            )
            continue
        if theirs == ours:
            continue
        ours_named = _entry_names(ours)
        if theirs is None:
            first = min(ours_named)
            candidates.append(
                Lie(first, f"its status map hides {name!r} altogether "
                    f"(an honest map has a record naming {ours_named[first]})")
            )
            continue
        theirs_named = _entry_names(theirs)
        omitted = sorted(set(ours_named) - set(theirs_named))
        invented = sorted(set(theirs_named) - set(ours_named))
        if omitted:
            # The entry it hides is the lie; stale entries it still shows are its cover.
            stale = ""
            if invented:
                stale = f" and still shows {theirs_named[invented[0]]} (entry {invented[0]})"
            candidates.append(
                Lie(omitted[0], f"its status map omits {ours_named[omitted[0]]} from the record "
                    f"of {name!r}{stale}")
            )
        elif invented:
            candidates.append(
                Lie(invented[0], f"its status map's record of {name!r} names entry "
                    f"{invented[0]} ({theirs_named[invented[0]]}), which an honest map doesn't")
            )
        else:
            differing = min(ours.entry_indexes() or (0,))
            candidates.append(Lie(differing, f"its status map's record of {name!r} differs"))
    return min(candidates, key=_order) if candidates else None
