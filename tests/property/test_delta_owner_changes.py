"""Property: judging a delta by the packages it touches equals comparing the whole sets (ADR 0012).

``delta_package_changes`` looks only at artifacts whose name may belong to a
package the delta lists or removes; this checks it against
``package_changes`` over the repository's whole artifact sets before and
after, for random repositories and deltas in every format, including names
that follow no convention (logged before the repository had owners) and
package names that are prefixes of each other (``foo`` and ``foo-bar``).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import fuzz_settings
from vigil.core.owners import PackageChange, delta_package_changes, package_changes
from vigil.core.packages import package_name
from vigil.errors import FormatError

PACKAGES = ["foo", "foo-bar", "fo", "bar", "foo.bar", "foo_bar"]
VERSIONS = ["1.0", "2.0", "1.0-dev"]
NAMES: dict[str, list[str]] = {
    "rpm-md": [f"{d}{p}-{v}-1.x86_64.rpm" for d in ("", "x86_64/", "src/")
               for p in PACKAGES for v in VERSIONS] + ["x86_64/weird.rpm", "foo"],
    "deb": [f"pool/{p}_{v}_amd64.deb" for p in PACKAGES for v in VERSIONS] + ["pool/foo.deb"],
    "arch": [f"{p}-{v}-1-x86_64.pkg.tar.zst" for p in PACKAGES for v in VERSIONS] + ["foo"],
    "opam": [f"packages/{p}/{p}.{v}/opam" for p in PACKAGES for v in VERSIONS]
    + ["packages/foo/opam"],
    "generic": [f"{p}-{v}" for p in PACKAGES for v in VERSIONS],
}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, dict[str, str], dict[str, str], list[str]]:
    repo_format = draw(st.sampled_from(sorted(NAMES)))
    names = NAMES[repo_format]
    old = draw(st.dictionaries(st.sampled_from(names), st.sampled_from(["aa", "bb"])))
    listed = draw(st.dictionaries(st.sampled_from(names), st.sampled_from(["aa", "cc"])))
    removed = draw(st.lists(st.sampled_from(sorted(old) or [""]), unique=True))
    removed = [n for n in removed if n and n not in listed]
    new = {n: d for n, d in old.items() if n not in removed}
    new.update(listed)
    return repo_format, old, new, [*listed, "|", *removed]


def lenient(repo_format: str, name: str) -> str:
    try:
        return package_name(repo_format, name)
    except FormatError:
        return name  # as the owners rule treats artifacts logged before owners


def parses(repo_format: str, name: str) -> bool:
    try:
        package_name(repo_format, name)
    except FormatError:
        return False
    return True


def reference(repo_format: str, old: dict[str, str], new: dict[str, str]) -> list[PackageChange]:
    """Straight from ADR 0010: group both whole sets by package, report what differs."""
    groups: list[dict[str, set[tuple[str, str]]]] = [{}, {}]
    for group, artifacts in zip(groups, (old, new), strict=True):
        for name, digest in artifacts.items():
            group.setdefault(lenient(repo_format, name), set()).add((name, digest))
    changes = []
    for package in sorted(groups[0].keys() | groups[1].keys()):
        was, now = groups[0].get(package), groups[1].get(package)
        if was != now:
            change = "added" if was is None else "removed" if now is None else "changed"
            changes.append(PackageChange(package, change))
    return changes


# A property of the filter, not parser fuzzing: 1,000 scenarios suffice (CI time).
@settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 1000))
@given(scenarios())
def test_the_delta_view_equals_the_whole_comparison(
    scenario: tuple[str, dict[str, str], dict[str, str], list[str]],
) -> None:
    repo_format, old, new, touched = scenario
    split = touched.index("|")
    listed, removed = touched[:split], touched[split + 1:]
    try:
        got = delta_package_changes(repo_format, old, new, listed, removed)
    except FormatError:
        # Strict on what the delta lists, as a full release is on what it lists.
        assert not all(parses(repo_format, n) for n in listed)
        return
    assert all(parses(repo_format, n) for n in listed)
    assert got == reference(repo_format, old, new)
    try:
        whole = package_changes(repo_format, old, new)
    except FormatError:
        return  # the whole set holds a name from before owners: strict there
    assert got == whole
