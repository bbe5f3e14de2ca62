"""``create_delta_release`` (``vigil release create --delta-from``): a delta from a directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.releasedelta import apply_release
from vigil.core.statements import Release, parse_release
from vigil.errors import ConfigError
from vigil.roles.release import create_delta_release, create_release, detect_state

T = 1_700_000_000


def repo(root: Path, version: int, packages: dict[str, bytes]) -> Path:
    """An rpm-md directory: a repomd.xml naming the version, and these packages."""
    (root / "repodata").mkdir(parents=True, exist_ok=True)
    (root / "repodata" / "repomd.xml").write_text(f"<repomd revision='{version}'/>\n")
    (root / "x86_64").mkdir(exist_ok=True)
    for old in (root / "x86_64").iterdir():
        old.unlink()
    for name, data in packages.items():
        (root / "x86_64" / name).write_bytes(data)
    return root


def full(root: Path, version: int) -> Release:
    state = detect_state(root, artifacts=True)
    return parse_release(create_release(state, repository="oss", version=version, published_s=T))


def delta(root: Path, version: int, previous: list[Release]) -> Release:
    state = detect_state(root, artifacts=True)
    return parse_release(create_delta_release(
        state, previous, repository="oss", version=version, published_s=T + version
    ))


def test_a_chain_of_deltas_replays_to_the_directory(tmp_path: Path) -> None:
    root = repo(tmp_path, 1, {"a-1-1.x86_64.rpm": b"a1", "b-1-1.x86_64.rpm": b"b1"})
    first = full(root, 1)
    repo(root, 2, {"a-1-1.x86_64.rpm": b"a1", "b-1-1.x86_64.rpm": b"b1 rebuilt",
                   "c-1-1.x86_64.rpm": b"c1"})
    second = delta(root, 2, [first])
    assert second.delta and [a.name for a in second.artifacts] == [
        "x86_64/b-1-1.x86_64.rpm", "x86_64/c-1-1.x86_64.rpm"
    ]
    assert second.removed == ()
    repo(root, 3, {"b-1-1.x86_64.rpm": b"b1 rebuilt", "c-1-1.x86_64.rpm": b"c1"})
    third = delta(root, 3, [first, second])
    assert third.artifacts == () and third.removed == ("x86_64/a-1-1.x86_64.rpm",)
    replayed: dict[str, str] | None = None
    for release in (first, second, third):
        replayed = apply_release(replayed, release, what="test")
    assert replayed == {a.name: a.digest["sha256"] for a in full(root, 4).artifacts}


@pytest.mark.parametrize(
    ("chain", "version", "message"),
    [
        ([], 2, r"needs the previous release \(--delta-from\)"),
        (["delta"], 3, "release 2 is a delta: give the chain from the last full release on"),
        (["full", "full"], 3, r"release 1 of 'oss': not after release 1 \(want oldest first\)"),
        (["full"], 1, "version 1 is not after the previous release 1"),
        (["other"], 2, "release 1 of 'other': not a release of 'oss'"),
    ],
)
def test_a_bad_chain_is_refused(
    tmp_path: Path, chain: list[str], version: int, message: str
) -> None:
    root = repo(tmp_path, 1, {"a-1-1.x86_64.rpm": b"a1"})
    first = full(root, 1)
    releases = {
        "full": first,
        "delta": delta(root, 2, [first]),
        "other": parse_release(create_release(
            detect_state(root, artifacts=True), repository="other", version=1, published_s=T
        )),
    }
    with pytest.raises(ConfigError, match=message):
        delta(root, version, [releases[name] for name in chain])


def test_a_chain_that_does_not_apply_is_refused(tmp_path: Path) -> None:
    root = repo(tmp_path, 1, {"a-1-1.x86_64.rpm": b"a1"})
    first = full(root, 1)
    second = delta(repo(root, 2, {}), 2, [first])
    repo(root, 1, {"b-1-1.x86_64.rpm": b"b1"})
    with pytest.raises(ConfigError, match="does not apply: release 2 of 'oss': removes 'x86_64/a"):
        delta(root, 3, [full(root, 1), second])


def test_a_rebuild_of_a_delta_covers_what_it_introduced(tmp_path: Path) -> None:
    """ADR 0012: `vigil attest` compares only the artifacts a delta lists, and the
    status map takes that attestation for the delta release."""
    from charterkit import CharterSpec, Repo, Sim, key, sign_charter
    from vigil.core.dsse import PAYLOAD_TYPE_INTOTO, sign_envelope
    from vigil.core.intoto import Statement
    from vigil.core.statements import parse_rebuild
    from vigil.roles.statements import attest

    pub, rb, board = key("delta-pub"), key("delta-rb"), key("delta-board")
    spec = CharterSpec(foundation=[board], repositories=[Repo("oss", [pub], rebuilders=[rb])])
    root = repo(tmp_path / "repo", 1, {"a-1-1.x86_64.rpm": b"a1", "b-1-1.x86_64.rpm": b"b1"})
    first = detect_state(root, artifacts=True)
    statements: list[Statement] = [
        create_release(first, repository="oss", version=1, published_s=T)
    ]
    repo(root, 2, {"a-1-1.x86_64.rpm": b"a1", "b-2-1.x86_64.rpm": b"b2"})
    statements.append(create_delta_release(
        detect_state(root, artifacts=True), [parse_release(statements[0])],
        repository="oss", version=2, published_s=T + 1,
    ))
    second = parse_release(statements[1])
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir()
    (rebuilt / "b-2-1.x86_64.rpm").write_bytes(b"b2")
    rebuild = attest(second, rebuilt, builder="https://rb.example/")
    assert [(r.name, r.result) for r in parse_rebuild(rebuild).results] == [
        ("x86_64/b-2-1.x86_64.rpm", "reproduced")
    ]
    sim = Sim()
    sim.submit(sign_charter(spec.text(), [board]))
    for statement in statements:
        sim.submit(sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, [pub]))
    sim.submit(sign_envelope(PAYLOAD_TYPE_INTOTO, rebuild.raw, [rb]))
    assert [(r.version, r.result) for r in sim.record("oss").rebuilds] == [(2, "reproduced")]
    # A delta that introduces nothing has nothing to rebuild.
    empty = parse_release(create_delta_release(
        detect_state(root, artifacts=True), [parse_release(s) for s in statements],
        repository="oss", version=3, published_s=T + 2,
    ))
    with pytest.raises(ConfigError, match="is a delta that adds or changes no artifact"):
        attest(empty, rebuilt, builder="https://rb.example/")
