"""Freshness of a cosigned checkpoint under a tlog-policy (pure)."""

from __future__ import annotations

import pytest

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.freshness import verify_fresh_checkpoint
from vigil.core.note import Note, format_note, parse_note, sign_note
from vigil.core.policy import parse_policy
from vigil.errors import FreshnessError, PolicyError
from witnesssupport import ORIGIN, Tree, cosigner, log_signer

LOG = log_signer()
WITNESSES = [cosigner(f"w{i}.example", i) for i in range(3)]
POLICY = parse_policy(
    f"log {LOG.vkey}\n"
    + "".join(f"witness w{i} {w.vkey}\n" for i, w in enumerate(WITNESSES))
    + "group two 2 w0 w1 w2\nquorum two\n"
)
NOW = 1_800_000_000
TEXT = format_checkpoint(Checkpoint(ORIGIN, 5, Tree().root(5)))


def cosigned(*times: int | None) -> bytes:
    """The checkpoint signed by the log and cosigned by w_i at times[i] (None: not)."""
    note = parse_note(sign_note(TEXT, [LOG]))
    lines = list(note.signatures)
    for witness, time in zip(WITNESSES, times, strict=False):
        if time is not None:
            lines.append(witness.sign_checkpoint(TEXT, time))
    return format_note(Note(note.text, tuple(lines)))


def test_fresh_quorum() -> None:
    fresh = verify_fresh_checkpoint(POLICY, cosigned(NOW - 10, NOW - 50), now=NOW, max_age_s=60)
    # The newest quorum is {w0, w1}: fresh as of the older of the two.
    assert fresh.fresh_as_of == NOW - 50 and fresh.age_s == 50
    fresh = verify_fresh_checkpoint(
        POLICY, cosigned(NOW - 10, NOW - 5000, NOW - 20), now=NOW, max_age_s=60
    )
    assert fresh.fresh_as_of == NOW - 20


def test_one_fresh_cosignature_is_not_enough() -> None:
    with pytest.raises(FreshnessError, match="newest witness quorum cosigned it at"):
        verify_fresh_checkpoint(POLICY, cosigned(NOW - 1, NOW - 3600), now=NOW, max_age_s=60)


def test_replayed_old_checkpoint_is_stale() -> None:
    old = cosigned(NOW - 7200, NOW - 7200, NOW - 7200)
    assert verify_fresh_checkpoint(POLICY, old, now=NOW - 7200, max_age_s=60).age_s == 0
    with pytest.raises(FreshnessError, match="7200 s before now"):
        verify_fresh_checkpoint(POLICY, old, now=NOW, max_age_s=60)


def test_future_cosignatures_do_not_count() -> None:
    # Within the skew: fine.
    verify_fresh_checkpoint(POLICY, cosigned(NOW + 30, NOW), now=NOW, max_age_s=60)
    # Beyond the skew and needed for the quorum: rejected.
    with pytest.raises(FreshnessError, match="dated in the future"):
        verify_fresh_checkpoint(POLICY, cosigned(NOW + 3600, NOW), now=NOW, max_age_s=60)
    # Beyond the skew but not needed: ignored, freshness from the others.
    fresh = verify_fresh_checkpoint(
        POLICY, cosigned(NOW + 3600, NOW - 2, NOW - 3), now=NOW, max_age_s=60
    )
    assert fresh.fresh_as_of == NOW - 3


def test_quorum_not_met_is_a_policy_error() -> None:
    with pytest.raises(PolicyError):
        verify_fresh_checkpoint(POLICY, cosigned(NOW), now=NOW, max_age_s=60)


def test_quorum_none_is_never_fresh() -> None:
    policy = parse_policy(f"log {LOG.vkey}\nquorum none\n")
    with pytest.raises(FreshnessError, match="no cosignatures"):
        verify_fresh_checkpoint(policy, cosigned(), now=NOW, max_age_s=60)
