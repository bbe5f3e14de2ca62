"""Per-package owners, teams and the janitor quorum (Conex), and the rule they make.

Conex (opam) gives each package authorised owners, authors or teams, and puts
janitors in charge of package names; a single janitor cannot modify a
package, a quorum can, and "janitors is just a team". Vigil's charter says
the same per repository (ADR 0010): :class:`Ownership` maps package names to
:class:`Owner` entries (a key, or a :class:`Team`) and names the repository's
janitor team and quorum.

The rule (:func:`check_approvals`, run by the status map on every release of
a repository with owners, so the log, ``vigil audit`` and auditing witnesses
all enforce it):

1. Group the release's artifacts by package (:func:`vigil.core.packages.package_name`)
   and compare with the latest release in force (:func:`package_changes`):
   a package whose set of (artifact name, digest) differs was added, changed
   or removed. Unchanged packages need nothing. For a delta release
   (ADR 0012) :func:`delta_package_changes` gives the same answer while
   looking only at the packages the delta touches.
2. Each changed package needs, among the signatures on the same release
   envelope, one key of one of its owners (directly or as a member of an
   owning team), or the janitor quorum: ``janitor_threshold`` distinct keys
   of the janitor team. A package with no owners entry needs the janitor
   quorum (janitors are in charge of package names).

Keys match by their exact verifier key string (as charter roles do); a key
signing twice counts once. Revoked keys never get this far: the status map
refuses any entry a revoked key signed. The publishers' threshold for the
repository state is checked separately and still applies.

No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from vigil.core.dsse import VerificationResult
from vigil.core.note import Ed25519Verifier
from vigil.core.packages import package_name
from vigil.errors import FormatError, PolicyError

__all__ = [
    "TEAM_PREFIX",
    "Owner",
    "OwnerApprovalError",
    "Ownership",
    "PackageChange",
    "Team",
    "check_approvals",
    "check_key_set",
    "delta_package_changes",
    "package_changes",
]

TEAM_PREFIX = "team:"
"""How an owner list names a team: ``team:NAME``."""

Change = Literal["added", "changed", "removed"]


def _describe(key: Ed25519Verifier) -> str:
    return f"{key.name} ({key.key_hash.hex()})"


def check_key_set(keys: object, *, what: str, note: str = "") -> None:
    """Refuse an empty key list, a key that is not Ed25519, or one public key twice.

    A charter role or team counts each key once, so a key listed twice (even
    under another name) would let fewer people seem to meet a threshold.

    Raises:
        FormatError: ``"<what>: ..."``, ending with ``note`` for a key listed twice.
    """
    if not isinstance(keys, tuple) or not keys:
        raise FormatError(f"{what}: want at least one key")
    seen: dict[bytes, Ed25519Verifier] = {}
    for key in keys:
        if not isinstance(key, Ed25519Verifier):
            raise FormatError(f"{what}: key {key!r} is not an Ed25519 note key")
        other = seen.get(key.public_key)
        if other is not None:
            raise FormatError(
                f"{what}: key {_describe(key)} is listed twice "
                f"(same public key as {_describe(other)}){note}"
            )
        seen[key.public_key] = key


@dataclass(frozen=True, slots=True)
class Team:
    """A named set of keys (an owning team, or the janitors).

    Raises:
        FormatError: (on construction) no keys, or a key listed twice
            (compared by public key).
    """

    name: str
    keys: tuple[Ed25519Verifier, ...]

    def __post_init__(self) -> None:
        check_key_set(self.keys, what=f"team {self.name!r}")

    def describe(self) -> str:
        """``team 'NAME' (alice (hex8), bob (hex8))``."""
        return f"team {self.name!r} ({', '.join(_describe(k) for k in self.keys)})"


@dataclass(frozen=True, slots=True)
class Owner:
    """One owner of a package: exactly one of a key or a team."""

    key: Ed25519Verifier | None = None
    team: Team | None = None

    def __post_init__(self) -> None:
        if (self.key is None) == (self.team is None):
            raise FormatError("package owner: want exactly one of a key or a team")

    @property
    def keys(self) -> tuple[Ed25519Verifier, ...]:
        """The keys whose signature counts as this owner's approval."""
        if self.team is not None:
            return self.team.keys
        assert self.key is not None
        return (self.key,)

    @property
    def spelling(self) -> str:
        """How the charter writes it: the verifier key, or ``team:NAME``."""
        if self.team is not None:
            return TEAM_PREFIX + self.team.name
        assert self.key is not None
        return self.key.vkey

    def describe(self) -> str:
        """People's words: ``alice (hex8)`` or ``team 'NAME' (members)``."""
        if self.team is not None:
            return self.team.describe()
        assert self.key is not None
        return _describe(self.key)


@dataclass(frozen=True, slots=True)
class Ownership:
    """A repository's package owners and janitor quorum.

    Attributes:
        packages: Package name to its owners (at least one each), in
            document order.
        janitors: The janitor team.
        janitor_threshold: How many distinct janitor keys make a quorum:
            1 <= K <= team size, and K >= 2 when the team has two or more
            keys (a single janitor cannot modify packages; ADR 0010).

    Raises:
        FormatError: (on construction) an empty owner list, the same owner
            twice for a package, or a threshold out of range.
    """

    packages: Mapping[str, tuple[Owner, ...]]
    janitors: Team
    janitor_threshold: int
    _owner_vkeys: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    _janitor_vkeys: Mapping[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owner_vkeys: dict[str, frozenset[str]] = {}
        for package, owners in self.packages.items():
            if not owners:
                raise FormatError(f"package {package!r}: want at least one owner")
            spellings = [owner.spelling for owner in owners]
            if len(set(spellings)) != len(spellings):
                raise FormatError(f"package {package!r}: an owner is listed twice")
            owner_vkeys[package] = frozenset(k.vkey for o in owners for k in o.keys)
        size = len(self.janitors.keys)
        threshold = self.janitor_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise FormatError("janitor_threshold: want an integer")
        low = 1 if size == 1 else 2
        if not low <= threshold <= size:
            why = "" if size == 1 else " (a single janitor cannot modify packages)"
            raise FormatError(
                f"janitor_threshold: got {threshold}, want {low} to {size} "
                f"(team {self.janitors.name!r} has {size} key{'s' if size != 1 else ''}){why}"
            )
        object.__setattr__(self, "packages", MappingProxyType(dict(self.packages)))
        object.__setattr__(self, "_owner_vkeys", MappingProxyType(owner_vkeys))
        object.__setattr__(
            self, "_janitor_vkeys",
            MappingProxyType({k.vkey: k.public_key for k in self.janitors.keys}),
        )

    def owners(self, package: str) -> tuple[Owner, ...]:
        """The owners of ``package`` (empty if the charter names none)."""
        return self.packages.get(package, ())

    def approved_by_owner(self, package: str, signers: Iterable[str]) -> bool:
        """Whether one of ``signers`` is a key of an owner of ``package``."""
        vkeys = self._owner_vkeys.get(package)
        return vkeys is not None and any(s in vkeys for s in signers)

    def janitor_quorum(self, signers: Iterable[str]) -> VerificationResult:
        """Which janitor keys are among ``signers`` (distinct public keys), against K."""
        signed = {self._janitor_vkeys[s] for s in signers if s in self._janitor_vkeys}
        keys = self.janitors.keys
        return VerificationResult(
            threshold=self.janitor_threshold,
            signed=tuple(_describe(k) for k in keys if k.public_key in signed),
            missing=tuple(_describe(k) for k in keys if k.public_key not in signed),
        )


@dataclass(frozen=True, slots=True)
class PackageChange:
    """A package whose artifacts differ from the latest release in force."""

    package: str
    change: Change


class OwnerApprovalError(PolicyError):
    """A changed package lacks its owner's signature and the janitor quorum.

    Attributes:
        package: The package.
        change: ``added``, ``changed`` or ``removed``.
    """

    def __init__(self, message: str, *, package: str, change: Change) -> None:
        super().__init__(message)
        self.package = package
        self.change = change


def _packages(
    repo_format: str, old: Mapping[str, str], new: Mapping[str, str]
) -> dict[str, str]:
    """Artifact name to package, for every name in ``new`` (strict) and ``old``."""
    packages = {name: package_name(repo_format, name) for name in new}
    for name in old:
        if name not in packages:
            try:
                packages[name] = package_name(repo_format, name)
            except FormatError:
                # An artifact logged before the repository had owners (or
                # under another format): it stands alone, owned by nobody, so
                # only the janitor quorum may drop it.
                packages[name] = name
    return packages


def _group(artifacts: Mapping[str, str], packages: Mapping[str, str]) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for name, digest in artifacts.items():
        groups.setdefault(packages[name], set()).add(f"{digest} {name}")
    return groups


def package_changes(
    repo_format: str, old: Mapping[str, str], new: Mapping[str, str]
) -> list[PackageChange]:
    """The packages whose artifacts differ between two releases, sorted by name.

    Args:
        repo_format: The repository's format (decides the package names).
        old: The latest release in force: artifact name to sha256 hex (empty
            for a first release).
        new: The release being judged, likewise.

    Returns:
        One change per package whose set of (artifact name, digest) pairs
        differs: ``added`` (absent before), ``removed`` (absent now) or
        ``changed``.

    Raises:
        FormatError: an artifact of ``new`` whose name does not follow the
            format's convention (artifacts of ``old`` that don't are each
            their own package).
    """
    packages = _packages(repo_format, old, new)  # each name parsed once
    return _compare(_group(old, packages), _group(new, packages))


def _compare(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[PackageChange]:
    """The packages whose groups differ, sorted by name."""
    changes = []
    for package in sorted(before.keys() | after.keys()):
        was, now = before.get(package), after.get(package)
        if was == now:
            continue
        change: Change = "added" if was is None else "removed" if now is None else "changed"
        changes.append(PackageChange(package, change))
    return changes


def _may_belong(names: Iterable[str], packages: set[str]) -> list[str]:
    """The names whose package may be one of ``packages``: a superset, cheap to compute.

    Every format's package name is a prefix of the artifact name (oci,
    generic, and names that parse under no convention), of its file name
    (rpm-md, deb, arch), or follows ``packages/`` (opam), so one
    ``startswith`` per name rules out the rest without parsing it.
    """
    prefixes = (*packages, *(f"packages/{p}/" for p in packages))
    return [
        name for name in names
        if name.startswith(prefixes) or name[name.rfind("/") + 1:].startswith(prefixes)
    ]


def delta_package_changes(
    repo_format: str, old: Mapping[str, str], new: Mapping[str, str], listed: Iterable[str],
    removed: Iterable[str],
) -> list[PackageChange]:
    """:func:`package_changes` for a delta release, parsing only what it may touch.

    A repository of 50,000 artifacts would otherwise parse every name on each
    delta. Only packages holding a listed or removed name can differ; their
    artifacts are found by :func:`_may_belong` (one ``startswith`` per
    name, not a parse) and compared alone. Names
    the delta lists are parsed strictly; names carried over from earlier
    releases leniently (one that follows no convention, logged before the
    repository had owners, is its own package, as :func:`package_changes`
    treats the previous release's names).

    Args:
        repo_format: The repository's format.
        old: The whole artifact set before the delta.
        new: The whole artifact set after it (``old`` minus ``removed``, plus ``listed``).
        listed: The names the delta lists (parsed strictly, as a full
            release's are).
        removed: The names it removes.

    Raises:
        FormatError: a listed name that does not follow the format's convention.
    """
    listed = list(listed)
    packages = {package_name(repo_format, name) for name in listed}
    for name in removed:
        try:
            packages.add(package_name(repo_format, name))
        except FormatError:
            packages.add(name)  # logged before owners: its own package (see _packages)
    if not packages:
        return []
    # ``new`` is ``old`` minus removed names plus listed ones, so scanning
    # ``old`` and adding the listed names covers both sides in one pass.
    names = {*_may_belong(old, packages), *listed}
    # Lenient here: listed names parsed above, the others were accepted when
    # logged (a name that parses under no convention is its own package).
    candidates = _packages(repo_format, dict.fromkeys(names, ""), {})
    keep = {n: p for n, p in candidates.items() if p in packages}
    return _compare(
        _group({n: old[n] for n in keep if n in old}, keep),
        _group({n: new[n] for n in keep if n in new}, keep),
    )


def check_approvals(
    ownership: Ownership, changes: Sequence[PackageChange], signers: Sequence[str], *,
    what: str,
) -> None:
    """Refuse unless every changed package is approved (module docstring, step 2).

    Args:
        ownership: The repository's owners and janitors.
        changes: From :func:`package_changes`.
        signers: Verifier keys whose signatures on the release verified and
            are not revoked.
        what: The release, for messages (``release 3 of 'oss'``).

    Raises:
        OwnerApprovalError: the first unapproved package (by name), naming
            its owners and the janitor quorum's state.
    """
    if not changes:
        return
    quorum = ownership.janitor_quorum(signers)
    if quorum.met:
        return
    for item in changes:
        if ownership.approved_by_owner(item.package, signers):
            continue
        owners = ownership.owners(item.package)
        team = ownership.janitors.name
        janitors = f"{quorum.threshold} of {len(ownership.janitors.keys)} janitors (team {team!r})"
        if owners:
            need = (
                f"needs a signature by an owner ({'; '.join(o.describe() for o in owners)}) "
                f"or by {janitors}"
            )
        else:
            need = f"has no owner, so it needs {janitors}"
        raise OwnerApprovalError(
            f"{what}: package {item.package!r} ({item.change}) {need}; janitors: "
            f"{quorum.describe()}",
            package=item.package,
            change=item.change,
        )
