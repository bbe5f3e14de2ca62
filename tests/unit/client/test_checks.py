"""The seven checks against bundles from an in-memory log, honest and lying (attacks).

Each attack changes one thing and expects the named check to fail, the checks
after it to be skipped, and nothing to be remembered that should not be.
"""

from __future__ import annotations

import time
from dataclasses import replace

from charterkit import advisory, rebuild, release, revocation
from clientkit import (
    LOG_KEY,
    MALLORY,
    PUB,
    RB1,
    RB2,
    REPO,
    SEC,
    WITNESSES,
    MemoryLog,
    charter_of,
    charter_spec,
    digest_of,
    metadata,
    signed_charter,
)
from vigil.client.checks import CHECKS, Report, Trusted, verify_bundle
from vigil.core.bundle import Bundle
from vigil.core.checkpoint import parse_checkpoint
from vigil.core.note import generate_signer, parse_note
from vigil.core.statusmap import NamedEntry

SPEC = charter_spec()
CHARTER = charter_of(SPEC)


def honest(spec=SPEC, *, lax: bool = False, versions: int = 1) -> MemoryLog:  # type: ignore[no-untyped-def]
    log = MemoryLog(lax=lax)
    log.submit(signed_charter(spec))
    for version in range(1, versions + 1):
        log.submit(release(REPO, version, [PUB], digest=digest_of(metadata(version))))
        log.submit(rebuild(REPO, version, [RB1], digest=digest_of(metadata(version))))
    return log


def check(
    bundle: Bundle, *, trusted: Trusted | None = None, version: int = 1, data: bytes | None = None,
    now: int | None = None,
) -> Report:
    return verify_bundle(
        bundle, trusted or Trusted(CHARTER), repository=REPO,
        metadata_digest=digest_of(data if data is not None else metadata(version)),
        now=int(time.time()) if now is None else now,
    )


def outcomes(report: Report) -> dict[str, str]:
    return {c.name: c.outcome for c in report.checks}


def failed_at(report: Report, name: str) -> str:
    """Assert ``name`` failed and every later check was skipped; return the detail."""
    names = [n for n, _ in CHECKS]
    got = outcomes(report)
    assert got[name] == "fail", report.checks
    assert all(got[n] == "skip" for n in names[names.index(name) + 1 :]), report.checks
    assert report.verdict == "rejected"
    assert report.version is None
    return next(c.detail for c in report.checks if c.name == name)


def test_honest_log_verifies_every_check() -> None:
    log = honest()
    report = check(log.bundle())
    assert report.verdict == "verified", report.checks
    assert set(outcomes(report).values()) == {"pass"}
    assert report.version == 1
    assert report.checkpoint is not None and report.checkpoint.size == 3


def test_second_run_proves_consistency_from_the_stored_view() -> None:
    log = honest()
    first = check(log.bundle())
    assert first.checkpoint is not None
    log.submit(release(REPO, 2, [PUB], digest=digest_of(metadata(2))))
    log.submit(rebuild(REPO, 2, [RB1], digest=digest_of(metadata(2))))
    trusted = Trusted(CHARTER, first.checkpoint, first.checkpoint_note, version=1)
    report = check(log.bundle(old_size=3), trusted=trusted, version=2)
    assert report.verdict == "verified", report.checks
    assert "extends tree 3" in report.checks[1].detail


def test_stale_view_is_stale_or_a_warning_as_the_charter_says() -> None:
    log = honest()
    old = log.checkpoint(at=int(time.time()) - 7200)
    report = check(log.bundle(checkpoint=old))
    assert outcomes(report)["fresh"] == "stale" and report.verdict == "stale"
    assert report.version is None  # not accepted
    spec = charter_spec(stale="warn")
    log = honest(spec)
    report = verify_bundle(
        log.bundle(checkpoint=log.checkpoint(at=int(time.time()) - 7200)),
        Trusted(charter_of(spec)),
        repository=REPO, metadata_digest=digest_of(metadata(1)), now=int(time.time()),
    )
    assert outcomes(report)["fresh"] == "warn" and report.verdict == "verified"


def test_future_cosignatures_do_not_make_a_view_fresh() -> None:
    log = honest()
    report = check(log.bundle(checkpoint=log.checkpoint(at=int(time.time()) + 3600)))
    assert outcomes(report)["fresh"] == "stale"


def test_forged_checkpoint_is_refused() -> None:
    log = honest()
    forger = generate_signer(LOG_KEY.name, seed=b"\x07" * 32)
    detail = failed_at(check(log.bundle(checkpoint=log.checkpoint(log_key=forger))), "fresh")
    assert "not accepted" in detail


def test_under_quorum_cosignatures_are_refused() -> None:
    log = honest()
    detail = failed_at(check(log.bundle(checkpoint=log.checkpoint(witnesses=WITNESSES[:1]))),
                       "fresh")
    assert "quorum" in detail


def test_rollback_to_a_smaller_tree_is_refused_with_evidence() -> None:
    log = honest()
    old_bundle = log.bundle()
    log.submit(release(REPO, 2, [PUB], digest=digest_of(metadata(2))))
    newer = check(log.bundle(), version=2)
    assert newer.checkpoint is not None
    trusted = Trusted(CHARTER, newer.checkpoint, newer.checkpoint_note)
    report = check(old_bundle, trusted=trusted)
    assert "rollback" in failed_at(report, "consistent")
    assert report.evidence and report.evidence[0][0] == "rollback"
    assert report.checkpoint is None


def _fork(versions: int) -> tuple[MemoryLog, Trusted]:
    """A log that forked from the honest one after the charter: its version 1 is
    another state; and this machine's view of the honest log (tree 3)."""
    mine = check(honest().bundle())
    assert mine.checkpoint is not None
    forked = MemoryLog()
    forked.submit(signed_charter(SPEC))
    for version in range(1, versions + 1):
        data = digest_of(metadata(version, "-evil" if version == 1 else ""))
        forked.submit(release(REPO, version, [PUB], digest=data))
        forked.submit(rebuild(REPO, version, [RB1], digest=data))
    return forked, Trusted(CHARTER, mine.checkpoint, mine.checkpoint_note)


def test_fork_at_the_same_size_is_refused_with_evidence() -> None:
    forked, trusted = _fork(1)
    report = check(forked.bundle(), trusted=trusted, data=metadata(1, "-evil"))
    assert "fork" in failed_at(report, "consistent")
    assert report.evidence[0][0] == "fork"


def test_fork_behind_a_consistency_proof_is_refused() -> None:
    forked, trusted = _fork(2)
    report = check(forked.bundle(old_size=3), trusted=trusted, version=2)
    assert "fork" in failed_at(report, "consistent")


def test_metadata_never_logged_is_not_current() -> None:
    detail = failed_at(check(honest().bundle(), data=metadata(1, "-tampered")), "current")
    assert "neither the latest state" in detail


def test_repository_without_releases_is_not_current() -> None:
    log = MemoryLog()
    log.submit(signed_charter(SPEC))
    assert "has no release" in failed_at(check(log.bundle()), "current")


def test_replayed_older_state_is_not_current() -> None:
    detail = failed_at(check(honest(versions=2).bundle(), version=1), "current")
    assert "older state replayed" in detail and "version 2" in detail


def test_older_state_in_grace_is_accepted_with_a_notice_but_never_below_accepted() -> None:
    spec = charter_spec(grace_s=3600)
    log = MemoryLog()
    log.submit(signed_charter(spec))
    now = int(time.time())
    for version in (1, 2):
        data = digest_of(metadata(version))
        log.submit(release(REPO, version, [PUB], digest=data, published_s=now - 60 + version))
        log.submit(rebuild(REPO, version, [RB1], digest=data))
    charter = charter_of(spec)
    report = check(log.bundle(), trusted=Trusted(charter), version=1)
    assert outcomes(report)["current"] == "warn" and report.verdict == "verified"
    report = check(log.bundle(), trusted=Trusted(charter, version=2), version=1)
    assert "already accepted version 2" in failed_at(report, "current")


def test_release_by_an_unassigned_key_is_not_authorized() -> None:
    log = honest(lax=True, versions=0)
    log.submit(release(REPO, 1, [MALLORY], digest=digest_of(metadata(1))))
    log.submit(rebuild(REPO, 1, [RB1], digest=digest_of(metadata(1))))
    assert "not signed by the publishers" in failed_at(check(log.bundle()), "authorized")


def test_release_by_a_revoked_key_is_not_authorized() -> None:
    spec = charter_spec()
    spec = replace(spec, revoked=[(PUB, 1)])
    log = honest(spec, lax=True)  # the lying log lets the revoked key publish at index 1
    report = check(log.bundle(), trusted=Trusted(charter_of(spec)))
    assert "revoked" in failed_at(report, "authorized")


def test_release_after_a_logged_revocation_is_not_authorized() -> None:
    log = honest(lax=True, versions=0)
    log.submit(revocation(PUB, [PUB]))
    log.submit(release(REPO, 1, [PUB], digest=digest_of(metadata(1))))
    log.submit(rebuild(REPO, 1, [RB1], digest=digest_of(metadata(1))))
    assert "revoked" in failed_at(check(log.bundle()), "authorized")


def test_mismatch_attestation_rejects() -> None:
    log = honest()
    log.submit(rebuild(REPO, 1, [RB2], digest=digest_of(metadata(1)), result="mismatch"))
    assert "different bytes" in failed_at(check(log.bundle()), "reproduced")


def test_too_few_rebuilds_rejects() -> None:
    log = honest(charter_spec(rebuilds_required=2))
    report = check(log.bundle(), trusted=Trusted(charter_of(charter_spec(rebuilds_required=2))))
    assert "1 of the 2 required" in failed_at(report, "reproduced")


def test_blocking_advisory_rejects_and_warning_is_shown() -> None:
    log = honest()
    log.submit(advisory(REPO, "VSA-1", [SEC], digest=digest_of(metadata(1)), action="warn"))
    report = check(log.bundle())
    assert outcomes(report)["not-warned"] == "warn" and report.verdict == "verified"
    log.submit(advisory(REPO, "VSA-2", [SEC], digest=digest_of(metadata(1)), action="block"))
    assert "VSA-2" in failed_at(check(log.bundle()), "not-warned")


def _tamper_entry_proof(bundle: Bundle, index: int) -> Bundle:
    entries = tuple(
        NamedEntry(e.index, e.data, (bytes(32), *e.proof[1:])) if e.index == index else e
        for e in bundle.entries
    )
    return replace(bundle, entries=entries)


def test_tampered_inclusion_proof_rejects() -> None:
    bundle = _tamper_entry_proof(honest().bundle(), 1)
    assert "status" in failed_at(check(bundle), "current")


def test_withheld_entry_rejects() -> None:
    bundle = honest().bundle()
    bundle = replace(bundle, entries=tuple(e for e in bundle.entries if e.index != 2))
    assert "lacks entry 2" in failed_at(check(bundle), "current")


def test_tampered_consistency_proof_is_a_fork() -> None:
    log = honest()
    first = check(log.bundle())
    assert first.checkpoint is not None
    log.submit(release(REPO, 2, [PUB], digest=digest_of(metadata(2))))
    log.submit(rebuild(REPO, 2, [RB1], digest=digest_of(metadata(2))))
    bundle = log.bundle(old_size=3)
    bundle = replace(bundle, consistency=(bytes(32), *bundle.consistency[1:]))
    trusted = Trusted(CHARTER, first.checkpoint, first.checkpoint_note, version=1)
    assert "fork" in failed_at(check(bundle, trusted=trusted, version=2), "consistent")


def _chain(log: MemoryLog, versions: int) -> list:  # type: ignore[type-arg]
    specs = [SPEC]
    for _ in range(versions - 1):
        nxt = specs[-1].next()
        log.submit(signed_charter(nxt))
        specs.append(nxt)
    return specs


def test_client_many_charter_versions_behind_walks_the_chain() -> None:
    log = honest()
    specs = _chain(log, 6)
    report = check(log.bundle(charter_version=1))
    assert report.verdict == "verified", report.checks
    assert report.charter.version == 6 and len(report.charter_entries) == 5
    assert "verified 5 new versions" in report.checks[2].detail
    # Up to date: nothing to walk, and the bundle carries no charter.
    current = check(log.bundle(charter_version=6), trusted=Trusted(charter_of(specs[-1])))
    assert current.verdict == "verified" and not current.charter_entries


def test_forged_charter_version_breaks_the_chain() -> None:
    log = honest()
    _chain(log, 2)
    bundle = log.bundle(charter_version=1)
    forged_spec = SPEC.next(foundation=[MALLORY], threshold=1)
    from charterkit import charter_entry

    forged = charter_entry(forged_spec.text(), [MALLORY])
    entries = tuple(
        NamedEntry(e.index, forged, e.proof) if e.index == bundle.charters[0] else e
        for e in bundle.entries
    )
    assert "breaks" in failed_at(check(replace(bundle, entries=entries)), "charter")


def test_withheld_charter_update_is_caught() -> None:
    log = honest()
    _chain(log, 2)
    bundle = replace(log.bundle(charter_version=1), charters=())
    assert "in force" in failed_at(check(bundle), "charter")


def test_log_behind_the_trusted_charter_is_refused() -> None:
    log = honest()
    v2 = SPEC.next()
    report = check(log.bundle(charter_version=2), trusted=Trusted(charter_of(v2)))
    # Version 2's witnesses and log are the same, so the checkpoint verifies; the
    # governance record names v1, older than what this machine trusts.
    assert "older than the v2" in failed_at(report, "charter")


def test_bundle_for_another_repository_is_refused() -> None:
    bundle = replace(honest().bundle(), repository="other")
    assert "answers for" in failed_at(check(bundle), "current")


def test_stored_checkpoint_of_the_log_is_parsed_back() -> None:
    report = check(honest().bundle())
    assert parse_checkpoint(parse_note(report.checkpoint_note).text) == report.checkpoint
