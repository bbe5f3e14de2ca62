"""Freshness of a cosigned checkpoint under a tlog-policy: is this view recent?

A cosignature/v1 states that "as of the specified time" the checkpoint was
the largest consistent tree the witness had seen (c2sp.org/tlog-cosignature).
A checkpoint is therefore *fresh as of* time T if the policy's quorum is met
by cosignatures with timestamps of at least T; :func:`verify_fresh_checkpoint`
computes the latest such T (equivalently: the oldest timestamp in the newest
quorum-satisfying set, the "newest time among the quorum's cosignatures") and
requires ``now - T <= max_age_s`` (DESIGN.md "Freshness": a client accepts a
view only if k witnesses of the quorum cosigned it within the freshness
window).

Cosignatures dated more than ``max_future_skew_s`` after ``now`` are
refused: they do not count toward the quorum, and if the quorum needs them
the checkpoint is rejected with :class:`~vigil.errors.FreshnessError`
(a witness with a clock far ahead could otherwise make a view look fresh for
as long as its clock is wrong).

A replayed old cosigned checkpoint fails here: its cosignatures keep their
old timestamps, and only the witnesses can make new ones.

Pure: ``now`` is a parameter; no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.core.checkpoint import VerifiedCheckpoint
from vigil.core.note import Note, VerifiedSignature
from vigil.core.policy import Policy, evaluate_quorum, verify_policy_checkpoint
from vigil.errors import FreshnessError

__all__ = ["DEFAULT_MAX_FUTURE_SKEW_S", "FreshCheckpoint", "verify_fresh_checkpoint"]

DEFAULT_MAX_FUTURE_SKEW_S = 60
"""Default tolerance for witness clocks running ahead of the verifier's."""


@dataclass(frozen=True, slots=True)
class FreshCheckpoint:
    """A checkpoint that met the policy's quorum within the freshness window.

    Attributes:
        checkpoint: The verified checkpoint (log signature and cosignatures).
        fresh_as_of: The latest time T such that cosignatures dated T or
            later meet the quorum (POSIX seconds).
        age_s: ``now - fresh_as_of`` (negative within the allowed skew).
    """

    checkpoint: VerifiedCheckpoint
    fresh_as_of: int
    age_s: int


def verify_fresh_checkpoint(
    policy: Policy,
    note: Note | bytes,
    *,
    now: int,
    max_age_s: int,
    max_future_skew_s: int = DEFAULT_MAX_FUTURE_SKEW_S,
    origin: str | None = None,
) -> FreshCheckpoint:
    """Verify a cosigned checkpoint against a policy, and its freshness at ``now``.

    Procedure:

    1. :func:`vigil.core.policy.verify_policy_checkpoint`: log signature,
       every witness cosignature by a policy key, and the quorum.
    2. Drop cosignatures dated after ``now + max_future_skew_s``; if the
       quorum is no longer met -> FreshnessError naming them.
    3. Find ``fresh_as_of``: try the distinct timestamps, newest first; the
       first T at which cosignatures dated >= T meet the quorum.
    4. Require ``now - fresh_as_of <= max_age_s``.

    Args:
        policy: The trusted policy.
        note: The cosigned checkpoint note (parsed or bytes).
        now: The verifier's current POSIX time.
        max_age_s: The freshness window (e.g. the charter's per-repository value).
        max_future_skew_s: Tolerance for witness clocks ahead of ``now``.
        origin: If given, only logs with this origin are acceptable.

    Returns:
        The checkpoint with its freshness.

    Raises:
        FormatError: the note or checkpoint is malformed.
        SignatureError: no acceptable log signature, or an invalid signature
            by a policy key.
        PolicyError: the quorum is not met at all.
        FreshnessError: the quorum needs cosignatures from the future, or the
            newest quorum is older than ``max_age_s``.
        ValueError: a negative ``max_age_s`` or ``max_future_skew_s``.
    """
    if max_age_s < 0 or max_future_skew_s < 0:
        raise ValueError("verify_fresh_checkpoint: max_age_s and max_future_skew_s must be >= 0")
    # Step 1.
    verified = verify_policy_checkpoint(policy, note, origin=origin)
    what = f"checkpoint {verified.checkpoint.origin} size {verified.checkpoint.size}"
    cosignatures = [c for c in verified.cosignatures if policy.witness_for(c) is not None]
    # Step 2.
    limit = now + max_future_skew_s
    future = [c for c in cosignatures if c.timestamp is None or c.timestamp > limit]
    current = [c for c in cosignatures if c not in future]
    if not evaluate_quorum(policy, current).met:
        dated = ", ".join(f"{c.key_id} at {c.timestamp}" for c in future)
        raise FreshnessError(
            f"{what}: the witness quorum needs cosignatures dated in the future "
            f"(now {now}, allowed skew {max_future_skew_s} s): {dated}"
        )
    # Step 3.
    fresh_as_of = _fresh_as_of(policy, current)
    # Step 4.
    age = now - fresh_as_of
    if age > max_age_s:
        raise FreshnessError(
            f"{what}: the newest witness quorum cosigned it at {fresh_as_of}, "
            f"{age} s before now ({now}); want at most {max_age_s} s"
        )
    return FreshCheckpoint(verified, fresh_as_of, age)


def _fresh_as_of(policy: Policy, cosignatures: list[VerifiedSignature]) -> int:
    times = sorted({c.timestamp for c in cosignatures if c.timestamp is not None}, reverse=True)
    for time in times:
        if evaluate_quorum(policy, [c for c in cosignatures if (c.timestamp or 0) >= time]).met:
            return time
    # Only a "quorum none" policy is met without cosignatures: its freshness
    # cannot be judged, so it is never fresh.
    raise FreshnessError("witness policy: no cosignatures to judge freshness by")
