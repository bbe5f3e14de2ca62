"""A repository's artifact set through full and delta releases (ADR 0012).

A full release lists every artifact of the repository (or none); a delta
release lists only the artifacts added or changed since the previous release
of the repository and names those removed. The repository's artifact set
after a release is therefore a fold over its releases from the last full
one: :func:`apply_release`. :func:`delta_between` goes the other way and
builds a delta's contents from two sets (``vigil release create
--delta-from``).

Sets are ``{artifact name: sha256 hex}``. No I/O; no signature checks (the
status map judges who signed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vigil.core.intoto import Subject
from vigil.core.statements import Release
from vigil.errors import PolicyError

__all__ = ["apply_release", "artifact_digests", "delta_between"]


def artifact_digests(release: Release) -> dict[str, str]:
    """The artifacts a release lists: name to sha256 hex (for a delta, only its changes)."""
    return {a.name or "": a.digest["sha256"] for a in release.artifacts}


def apply_release(
    previous: Mapping[str, str] | None, release: Release, *, what: str
) -> dict[str, str]:
    """The repository's whole artifact set once ``release`` is in force.

    Args:
        previous: The set after the repository's latest release, or None if
            it has none.
        release: The new release.
        what: The release, for messages (``release 3 of 'oss'``).

    Returns:
        For a full release, what it lists; for a delta, ``previous`` minus
        its removed names, plus (replacing) what it lists.

    Raises:
        PolicyError: a delta with no previous release (a repository's first
            release must list everything), or one that removes a name
            ``previous`` lacks (a delta that does not apply to the state it
            claims to follow).
    """
    listed = artifact_digests(release)
    if not release.delta:
        return listed
    if previous is None:
        raise PolicyError(
            f"{what}: a delta release (\"artifacts\": \"delta\") needs a previous release "
            "of the repository to apply to; its first release must list every artifact"
        )
    missing = [name for name in release.removed if name not in previous]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise PolicyError(
            f"{what}: removes {missing[0][:80]!r}{more}, which the repository's latest "
            "release does not have"
        )
    current = dict(previous)
    for name in release.removed:
        del current[name]
    current.update(listed)
    return current


def delta_between(
    previous: Mapping[str, str], current: Sequence[Subject]
) -> tuple[list[Subject], list[str]]:
    """What a delta release from ``previous`` to ``current`` lists and removes.

    Returns:
        The subjects of ``current`` that are new or whose sha256 differs (in
        ``current``'s order), and the sorted names ``previous`` has and
        ``current`` lacks.
    """
    names = {s.name for s in current}
    listed = [s for s in current if previous.get(s.name or "") != s.digest.get("sha256")]
    removed = sorted(name for name in previous if name not in names)
    return listed, removed
