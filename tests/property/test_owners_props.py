"""Property: with random owners, teams, janitor quorums and releases, the status map
accepts a release exactly when the package owners rule (ADR 0010) says so.

The oracle works on the generated model (package -> set of (arch, version)),
not on artifact names, so it checks the name parsing and change detection as
well as the approval rule.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from charterkit import CharterSpec, Repo, Sim, key, release, sign_charter
from fuzzing import fuzz_settings
from vigil.core.owners import OwnerApprovalError

BOARD, PUB = key("prop-board"), key("prop-pub")
POOL = [key(f"prop-k{i}") for i in range(5)]
PACKAGES = ["a", "b", "c-d", "e"]
VARIANTS = [("x86_64", "1"), ("x86_64", "2"), ("src", "1")]

Model = dict[str, frozenset[tuple[str, str]]]


def artifacts(model: Model) -> list[tuple[str, bytes]]:
    out = []
    for package, variants in model.items():
        for arch, version in sorted(variants):
            name = f"{arch}/{package}-{version}-1.{arch}.rpm"
            out.append((name, bytes([len(name)]) * 32))
    return out


models = st.fixed_dictionaries(
    {}, optional={p: st.frozensets(st.sampled_from(VARIANTS), min_size=1) for p in PACKAGES}
)
indexes = st.sets(st.integers(0, len(POOL) - 1))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[set[int], int, set[int], dict[str, list[str]],
                                        Model, Model, set[int]]:
    janitors = draw(st.sets(st.integers(0, 4), min_size=1))
    threshold = 1 if len(janitors) == 1 else draw(st.integers(2, len(janitors)))
    team = draw(st.sets(st.integers(0, 4), min_size=1))
    owners: dict[str, list[str]] = {}
    for package in PACKAGES:
        chosen = draw(st.lists(st.sampled_from(["team:t", *range(5)]), unique=True, max_size=3))
        if chosen:
            owners[package] = [c if isinstance(c, str) else POOL[c].vkey for c in chosen]
    old, new = draw(models), draw(models)
    signers = draw(indexes)
    return janitors, threshold, team, owners, old, new, signers


def approved(janitors: set[int], threshold: int, team: set[int], owners: dict[str, list[str]],
             old: Model, new: Model, signers: set[int]) -> bool:
    """The rule, from the model."""
    if not new:
        return False  # a release of a repository with owners must list its artifacts
    if len(janitors & signers) >= threshold:
        return True
    for package in set(old) | set(new):
        if old.get(package) == new.get(package):
            continue
        keys = set()
        for owner in owners.get(package, []):
            keys |= team if owner == "team:t" else {
                i for i in range(5) if POOL[i].vkey == owner
            }
        if not keys & signers:
            return False
    return True


# A property of the rule, not parser fuzzing: 1,000 scenarios suffice (CI time).
@settings(fuzz_settings, max_examples=min(fuzz_settings.max_examples, 1000))
@given(scenarios())
def test_accepted_iff_the_rule_says_so(
    scenario: tuple[set[int], int, set[int], dict[str, list[str]], Model, Model, set[int]],
) -> None:
    janitors, threshold, team, owners, old, new, signers = scenario
    spec = CharterSpec(
        foundation=[BOARD],
        teams=[("janitors", [POOL[i] for i in sorted(janitors)]),
               ("t", [POOL[i] for i in sorted(team)])],
        repositories=[Repo("r", [PUB], janitors="janitors", janitor_threshold=threshold,
                           owners=list(owners.items()))],
    )
    sim = Sim()
    sim.submit(sign_charter(spec.text(), [BOARD]))
    if old:  # the first release, approved by every janitor
        sim.submit(release("r", 1, [PUB, *(POOL[i] for i in janitors)], artifacts=artifacts(old)))
    want = approved(janitors, threshold, team, owners, old, new, signers)
    envelope = release("r", 2, [PUB, *(POOL[i] for i in sorted(signers))],
                       artifacts=artifacts(new))
    try:
        sim.submit(envelope)
    except OwnerApprovalError:
        assert not want
    except Exception as exc:  # only "no artifacts" may refuse otherwise
        assert not new and "must list its artifacts" in str(exc), exc
    else:
        assert want
