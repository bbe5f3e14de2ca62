"""Fuzz and round-trip properties: c2sp.org/tlog-policy files.

Every input either parses or raises FormatError (vigil.errors), nothing else;
random valid policies format and parse back to themselves; evaluation agrees
with a direct reading of the spec's k-of-n rule.
"""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzing import FUZZ_EXAMPLES, fuzz_settings, mutations
from vigil.core.cosignature import generate_cosigner
from vigil.core.note import VerifiedSignature, generate_signer
from vigil.core.policy import (
    Policy,
    PolicyGroup,
    PolicyLog,
    PolicyWitness,
    evaluate_quorum,
    format_policy,
    parse_policy,
)
from vigil.errors import FormatError

roundtrip_settings = settings(max_examples=min(FUZZ_EXAMPLES, 1000), deadline=None)

# Keys are expensive to make: a fixed pool, drawn from.
LOG_KEYS = [generate_signer(f"log{i}.example", bytes([i + 1]) * 32) for i in range(3)]
WITNESS_KEYS = [generate_cosigner(f"w{i}.example", bytes([i + 50]) * 32) for i in range(8)]
WITNESS_VERIFIERS = [w.verifier() for w in WITNESS_KEYS]

SEEDS = [
    (
        f"# a policy\nlog {LOG_KEYS[0].vkey} https://log.example/\n"
        + "".join(f"witness W{i} {WITNESS_KEYS[i].vkey}\n" for i in range(6))
        + "group A 2 W0 W1 W2\n\tgroup B any W3 W4  \ngroup C all A B W5\nquorum C\n"
    ).encode(),
    b"quorum none\n",
    f"witness K {WITNESS_KEYS[7].vkey}\n  # c\n\nquorum K".encode(),
]

_INTERESTING = [
    b" ",
    b"\t",
    b"\n",
    b"\r",
    b"#",
    b"+",
    b"=",
    b"0",
    b"01",
    b"none",
    b"all",
    b"any",
    b"log ",
    b"witness ",
    b"group ",
    b"quorum ",
    b"\xff",
    b"\xe2\x84\xaa",
    b"\x00",
]


def parses_or_format_error(data: bytes | str) -> None:
    with contextlib.suppress(FormatError):
        parse_policy(data)


@fuzz_settings
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    parses_or_format_error(data)


@fuzz_settings
@given(mutations(SEEDS, _INTERESTING))
def test_mutated(data: bytes) -> None:
    parses_or_format_error(data)


_token = st.sampled_from(
    ["log", "witness", "group", "quorum", "none", "all", "any", "0", "1", "2", "3", "W0", "W1"]
    + [k.vkey for k in LOG_KEYS[:1]]
    + [k.vkey for k in WITNESS_KEYS[:2]]
) | st.text(alphabet="aW0#+= \t\u212a\x00\r", min_size=1, max_size=3)


@fuzz_settings
@given(
    st.lists(
        st.lists(_token, min_size=1, max_size=5).map(" ".join),
        max_size=8,
    ).map("\n".join)
)
def test_random_lines(text: str) -> None:
    parses_or_format_error(text)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """A random valid policy over the key pool."""
    logs = tuple(
        PolicyLog(k.verifier(), draw(st.sampled_from([None, "https://l.example/"])))
        for k in draw(st.lists(st.sampled_from(LOG_KEYS), unique_by=id, max_size=3))
    )
    count = draw(st.integers(0, len(WITNESS_KEYS)))
    witnesses = tuple(
        PolicyWitness(f"W{i}", WITNESS_VERIFIERS[i], draw(st.sampled_from([None, "u"])))
        for i in range(count)
    )
    free = [w.name for w in witnesses]  # names not yet a member of any group
    groups = []
    for number in range(draw(st.integers(0, 4))):
        if not free:
            break
        members = draw(st.lists(st.sampled_from(free), min_size=1, max_size=4, unique=True))
        threshold = draw(st.sampled_from(["all", "any"]) | st.integers(1, len(members)))
        group = PolicyGroup(f"G{number}", threshold, tuple(members))
        groups.append(group)
        free = [name for name in free if name not in members] + [group.name]
    quorum = draw(st.sampled_from(["none", *free, *(w.name for w in witnesses)]))
    return Policy(logs, witnesses, tuple(groups), quorum)


@roundtrip_settings
@given(policies())
def test_round_trip(policy: Policy) -> None:
    text = format_policy(policy)
    assert parse_policy(text) == policy
    assert parse_policy(text.encode()) == policy
    assert format_policy(parse_policy(text)) == text


def _reference_satisfied(policy: Policy, name: str, cosigned: set[str]) -> bool:
    """The spec's rule, read recursively: at least k of n members witnessed."""
    if name == "none":
        return True
    groups = {g.name: g for g in policy.groups}
    if name not in groups:
        return name in cosigned
    group = groups[name]
    count = sum(_reference_satisfied(policy, m, cosigned) for m in group.members)
    return count >= group.k


@roundtrip_settings
@given(policies(), st.sets(st.integers(0, len(WITNESS_KEYS) - 1)))
def test_evaluation_matches_reference(policy: Policy, signed: set[int]) -> None:
    signatures = [
        VerifiedSignature(WITNESS_KEYS[i].name, WITNESS_KEYS[i].key_hash, b"", 1) for i in signed
    ]
    cosigned = {w.name for w in policy.witnesses if int(w.name[1:]) in signed}
    result = evaluate_quorum(policy, signatures)
    assert result.met == _reference_satisfied(policy, policy.quorum, cosigned)
    assert set(result.cosigned) == cosigned
