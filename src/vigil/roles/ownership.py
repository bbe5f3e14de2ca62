"""Teams, package owners and janitors in words a board member reads (ADR 0010).

:func:`vigil.roles.charter.describe_charter` and
:func:`~vigil.roles.charter.describe_changes` call these for the Conex part
of a charter: who owns which package, who the janitors are and how many of
them must agree, and what a new version changes about that.

No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigil.core.charter import Charter, Repository, describe_key
from vigil.core.owners import Owner, Ownership, Team
from vigil.roles.key_wording import describe_key_changes

__all__ = [
    "describe_ownership",
    "describe_ownership_changes",
    "describe_team_changes",
    "describe_teams",
]


def _members(team: Team) -> str:
    return ", ".join(describe_key(k) for k in team.keys)


def _owners(owners: tuple[Owner, ...]) -> str:
    words = []
    for owner in owners:
        if owner.team is not None:
            words.append(f"any member of team {owner.team.name!r}")
        else:
            assert owner.key is not None
            words.append(describe_key(owner.key))
    return " or ".join(words)


def describe_teams(charter: Charter) -> list[str]:
    """One sentence per ``[[team]]``."""
    return [
        f"Team {team.name!r}: {_members(team)}." for team in charter.teams.values()
    ]


def _janitor_rule(ownership: Ownership) -> str:
    team = ownership.janitors
    size, threshold = len(team.keys), ownership.janitor_threshold
    if threshold == 1:
        return f"the janitor (team {team.name!r}, {_members(team)}) alone can change any package"
    return (
        f"{threshold} of the {size} janitors of team {team.name!r} together can change any "
        "package; one janitor alone cannot"
    )


def describe_ownership(repo: Repository) -> list[str]:
    """The package owners rule of one repository, indented under it (empty if none)."""
    ownership = repo.ownership
    if ownership is None:
        return []
    lines = [
        "  Package owners: a release that adds, changes or removes a package also needs the "
        "signature of one of that package's owners, or of the janitors; packages it leaves "
        "unchanged need nobody.",
        f"  Janitors: {_janitor_rule(ownership)}.",
        "  A package not listed below (a new name) needs the janitors.",
    ]
    for package, owners in ownership.packages.items():
        lines.append(f"  Package {package!r}: owned by {_owners(owners)}.")
    return lines


def describe_team_changes(old: Charter, new: Charter) -> list[str]:
    """Teams added, removed, or whose members change."""
    lines = []
    for name, team in new.teams.items():
        if name not in old.teams:
            lines.append(f"Adds team {name!r}: {_members(team)}.")
        else:
            lines += describe_key_changes(f"Team {name!r}", old.teams[name].keys, team.keys)
    for name in old.teams:
        if name not in new.teams:
            lines.append(f"Removes team {name!r}.")
    return lines


def _owner_changes(
    what: str, old: Mapping[str, tuple[Owner, ...]], new: Mapping[str, tuple[Owner, ...]]
) -> list[str]:
    lines = []
    for package, owners in new.items():
        before = old.get(package)
        if before is None:
            lines.append(f"{what}: package {package!r} gets owners: {_owners(owners)}.")
        elif [o.spelling for o in before] != [o.spelling for o in owners]:
            lines.append(
                f"{what}: package {package!r} is now owned by {_owners(owners)} "
                f"(was {_owners(before)})."
            )
    for package in old:
        if package not in new:
            lines.append(
                f"{what}: package {package!r} loses its owners (only the janitors can change it)."
            )
    return lines


def describe_ownership_changes(old: Repository, new: Repository) -> list[str]:
    """What changes about one repository's owners and janitors."""
    what = f"Repository {new.name!r}"
    if old.ownership is None and new.ownership is None:
        return []
    if new.ownership is None:
        return [f"{what}: drops package owners and janitors (the publishers alone decide)."]
    if old.ownership is None:
        return [f"{what}: starts requiring package owners' approval:"] + [
            "  " + line.strip() for line in describe_ownership(new)
        ]
    lines = []
    before, after = old.ownership, new.ownership
    if before.janitors.name != after.janitors.name:
        lines.append(
            f"{what}: the janitors become team {after.janitors.name!r} "
            f"(was {before.janitors.name!r})."
        )
    if before.janitor_threshold != after.janitor_threshold:
        lines.append(
            f"{what}: janitors needed go from {before.janitor_threshold} to "
            f"{after.janitor_threshold}."
        )
    return lines + _owner_changes(what, before.packages, after.packages)
