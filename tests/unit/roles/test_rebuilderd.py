"""vigil.roles.rebuilderd: rebuild statements from rebuilderd's in-toto links."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from charterkit import CharterSpec, Repo, Sim, key, release, sign_charter
from linkkit import keyid, link, rebuilderd_signer, sha
from vigil.core.dsse import format_envelope, sign_envelope
from vigil.core.intoto import PAYLOAD_TYPE_INTOTO, Subject
from vigil.core.intoto_link import link_key
from vigil.core.statements import Release, parse_rebuild
from vigil.errors import ConfigError, FormatError, PolicyError
from vigil.roles.rebuilderd import attest_links
from vigil.roles.statements import attest, release_from_file

FOO = b"foo 1.0-1 package bytes"
BAR = b"bar 2.0-1 package bytes"
FOO_FILE = "foo-1.0-1-x86_64.pkg.tar.zst"
BAR_FILE = "bar-2.0-1-x86_64.pkg.tar.zst"
PUB, RB, BOARD = key("pub"), key("rb"), key("board")
REBUILDERD = rebuilderd_signer()
KEYS = [link_key(REBUILDERD.public_key)]
BUILDER = "https://rb.example/"


def make_release(version: int = 1, **contents: bytes) -> Release:
    contents = contents or {"foo": FOO, "bar": BAR}
    files = {"foo": f"x86_64/{FOO_FILE}", "bar": f"x86_64/{BAR_FILE}"}
    artifacts = [(files[k], hashlib.sha256(v).digest()) for k, v in contents.items()]
    envelope = release("arch", version, [PUB], format="arch", artifacts=artifacts)
    return release_from_file(format_envelope(envelope))


def test_all_reproduced_with_link_evidence_as_inputs() -> None:
    foo, bar = link(FOO_FILE, FOO, [REBUILDERD]), link(BAR_FILE, BAR, [REBUILDERD])
    attestation = attest_links(make_release(), [("foo.link", foo), ("bar.link", bar)], KEYS,
                               builder=BUILDER)
    rebuild = parse_rebuild(attestation.statement)
    assert rebuild.outcome == "reproduced"
    assert [(r.name, r.result) for r in rebuild.results] == [
        (f"x86_64/{FOO_FILE}", "reproduced"), (f"x86_64/{BAR_FILE}", "reproduced")]
    assert dict(rebuild.results[0].digest) == sha(FOO)  # the link's sha256 and sha512
    short = keyid(REBUILDERD)[:8]
    assert [(s.name, dict(s.digest)) for s in rebuild.inputs] == [
        (f"rebuild {FOO_FILE}.{short}.link", {"sha256": hashlib.sha256(foo).hexdigest()}),
        (FOO_FILE, sha(FOO)),
        (f"rebuild {BAR_FILE}.{short}.link", {"sha256": hashlib.sha256(bar).hexdigest()}),
        (BAR_FILE, sha(BAR)),
    ]
    assert attestation.sources == {f"x86_64/{FOO_FILE}": ("foo.link",),
                                   f"x86_64/{BAR_FILE}": ("bar.link",)}


def test_same_statement_as_attesting_a_directory(tmp_path: Path) -> None:
    # The directory path and the link path go through the same comparison.
    rebuilt = tmp_path
    (rebuilt / FOO_FILE).write_bytes(FOO)
    rel = make_release()
    from_dir = parse_rebuild(attest(rel, rebuilt, builder=BUILDER))
    from_links = parse_rebuild(attest_links(
        rel, [("foo.link", link(FOO_FILE, FOO, [REBUILDERD]))], KEYS, builder=BUILDER).statement)
    assert [(r.name, r.result, r.digest["sha256"] if r.digest else None)
            for r in from_dir.results] == [
        (r.name, r.result, r.digest["sha256"] if r.digest else None) for r in from_links.results]
    assert from_links.outcome == "failed"  # bar has no link


def test_artifact_without_a_link_is_failed() -> None:
    attestation = attest_links(make_release(), [("foo", link(FOO_FILE, FOO, [REBUILDERD]))],
                               KEYS, builder=BUILDER)
    results = {r.name: r.result for r in parse_rebuild(attestation.statement).results}
    assert results == {f"x86_64/{FOO_FILE}": "reproduced", f"x86_64/{BAR_FILE}": "failed"}


def test_duplicate_link_listed_once() -> None:
    foo = link(FOO_FILE, FOO, [REBUILDERD])
    statement = attest_links(make_release(foo=FOO), [("a", foo), ("b", foo)], KEYS,
                             builder=BUILDER).statement
    assert len(parse_rebuild(statement).inputs) == 2


def test_product_by_relative_path() -> None:
    data = link(f"x86_64/{FOO_FILE}", FOO, [REBUILDERD])
    statement = attest_links(make_release(foo=FOO), [("a", data)], KEYS, builder=BUILDER).statement
    assert parse_rebuild(statement).outcome == "reproduced"


def test_ambiguous_file_name_refused() -> None:
    artifacts = [(f"{arch}/{FOO_FILE}", hashlib.sha256(FOO).digest()) for arch in ("a", "b")]
    rel = release_from_file(format_envelope(release("arch", 1, [PUB], artifacts=artifacts)))
    with pytest.raises(PolicyError, match="matches several artifacts"):
        attest_links(rel, [("a", link(FOO_FILE, FOO, [REBUILDERD]))], KEYS, builder=BUILDER)


def test_product_without_sha256_refused() -> None:
    data = link(FOO_FILE, FOO, [REBUILDERD], products={FOO_FILE: {"sha512": sha(FOO)["sha512"]}})
    with pytest.raises(PolicyError, match="has no sha256 digest"):
        attest_links(make_release(), [("a", data)], KEYS, builder=BUILDER)


def test_usage_errors() -> None:
    data = link(FOO_FILE, FOO, [REBUILDERD])
    with pytest.raises(ConfigError, match="no in-toto links"):
        attest_links(make_release(), [], KEYS, builder=BUILDER)
    with pytest.raises(ConfigError, match="no rebuilderd key"):
        attest_links(make_release(), [("a", data)], [], builder=BUILDER)
    bare = release_from_file(format_envelope(release("arch", 1, [PUB])))
    with pytest.raises(ConfigError, match="lists no artifacts"):
        attest_links(bare, [("a", data)], KEYS, builder=BUILDER)
    with pytest.raises(FormatError, match=r"^broken\.link: in-toto link"):
        attest_links(make_release(), [("broken.link", b"{}")], KEYS, builder=BUILDER)


def test_the_log_accepts_the_statement() -> None:
    sim = Sim()
    spec = CharterSpec(foundation=[BOARD], repositories=[
        Repo("arch", [PUB], 1, format="arch", rebuilders=[RB], rebuilds_required=1)])
    sim.submit(sign_charter(spec.text(), [BOARD]))
    artifacts = [(f"x86_64/{FOO_FILE}", hashlib.sha256(FOO).digest())]
    envelope = release("arch", 1, [PUB], format="arch", artifacts=artifacts)
    sim.submit(envelope)
    rel = release_from_file(format_envelope(envelope))
    statement = attest_links(rel, [("a", link(FOO_FILE, FOO, [REBUILDERD]))], KEYS,
                             builder=BUILDER).statement
    sim.submit(sign_envelope(PAYLOAD_TYPE_INTOTO, statement.raw, [RB]))
    assert [r.result for r in sim.record("arch").rebuilds] == ["reproduced"]


def test_subject_is_the_release_state() -> None:
    rel = make_release(foo=FOO)
    statement = attest_links(rel, [("a", link(FOO_FILE, FOO, [REBUILDERD]))], KEYS,
                             builder=BUILDER).statement
    assert statement.subjects == (Subject("arch", {"sha256": rel.digest.hex()}),)
