"""`vigil verify` end to end: a real log and three real witnesses on loopback, attacks.

Every run is `python -m vigil verify` as a user (or a package-manager hook)
would run it; verdicts are read from its exit code and its --json output.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charterkit import advisory, artifact, rebuild, release, sign_charter
from clientkit import BOARD, MALLORY, PUB, RB1, RB2, SEC, digest_of
from clientsupport import FAST, Federation, Mirror, proxy, start_federation, start_fork
from logsupport import CLI, ROOT
from vigil.core.dsse import format_envelope

VERIFIED, REJECTED, USAGE, UNAVAILABLE = 0, 1, 2, 3


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    fed = start_federation(tmp_path_factory.mktemp("federation"))
    try:
        yield fed
    finally:
        fed.stop()


def checks(document: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in document["checks"]}


def test_publish_verify_and_replay(federation: Federation, tmp_path: Path) -> None:
    state = tmp_path / "state"
    v1 = federation.publish(1)
    code, doc = federation.verify(v1, state_dir=state)
    assert code == VERIFIED, doc
    assert doc["verdict"] == "verified" and set(checks(doc).values()) == {"pass"}
    assert doc["version"] == 1 and doc["transferred_bytes"] > 0
    assert list((state / "logs").iterdir()) and list((state / "repositories").iterdir())
    # People get a table with a mark per check.
    code, text = federation.verify(v1, state_dir=state, json_output=False)
    assert code == VERIFIED and "VERIFIED" in text and "✓" in text and "reproduced" in text
    # Version 2: the second run proves consistency from the stored tree.
    v2 = federation.publish(2)
    code, doc = federation.verify(v2, state_dir=state)
    assert code == VERIFIED, doc
    assert "extends tree" in doc["checks"][1]["detail"]
    # Replaying version 1 (a mirror serving the old metadata) is refused.
    code, doc = federation.verify(v1, state_dir=state)
    assert code == REJECTED and checks(doc)["current"] == "fail"
    assert "older state replayed" in doc["checks"][3]["detail"]


def test_tampered_and_never_logged_metadata_is_rejected(federation: Federation) -> None:
    federation.publish(3)
    tampered = federation.metadata_file(3, "-tampered")
    code, doc = federation.verify(tampered)
    assert code == REJECTED and checks(doc)["current"] == "fail", doc
    code, text = federation.verify(tampered, json_output=False)
    assert code == REJECTED and "REJECTED" in text and "✗" in text and "→" in text


def test_release_signed_by_an_unassigned_key_is_refused_everywhere(
    federation: Federation,
) -> None:
    path = federation.metadata_file(50, "-mallory")
    refused = federation.submit(release("oss", 50, [MALLORY], digest=digest_of(path.read_bytes())),
                                status=422)
    assert "publisher" in refused["message"]
    code, doc = federation.verify(path)
    assert code == REJECTED and checks(doc)["current"] == "fail"


def test_mismatch_attestation_and_blocking_advisory_reject(federation: Federation) -> None:
    v = federation.publish(10)
    assert federation.verify(v)[0] == VERIFIED
    digest = digest_of(v.read_bytes())
    federation.submit(rebuild("oss", 10, [RB2], digest=digest, result="mismatch"))
    code, doc = federation.verify(v)
    assert code == REJECTED and checks(doc)["reproduced"] == "fail", doc
    v = federation.publish(11)
    assert federation.verify(v)[0] == VERIFIED
    federation.submit(advisory("oss", "VSA-2026-11", [SEC], version=11,
                               digest=digest_of(v.read_bytes()), introduced=11, fixed=12))
    code, doc = federation.verify(v)
    assert code == REJECTED and checks(doc)["not-warned"] == "fail", doc
    assert "VSA-2026-11" in doc["checks"][6]["detail"]


def test_frozen_mirror_and_offline_bundle_go_stale(federation: Federation, tmp_path: Path) -> None:
    path = federation.publish(1, repo=FAST)
    saved = tmp_path / "bundle.json"
    code, doc = federation.verify(path, "--save-bundle", str(saved), repo=FAST,
                                  state_dir=tmp_path / "s1")
    assert code == VERIFIED, doc
    code, doc = federation.verify(path, "--bundle", str(saved), "--offline", repo=FAST,
                                  state_dir=tmp_path / "s2")
    assert code == VERIFIED, doc
    frozen = Mirror(lambda _: (200, saved.read_bytes()))
    try:
        time.sleep(5)  # beyond the repository's 4-second window
        code, doc = federation.verify(path, repo=FAST, url=frozen.url, state_dir=tmp_path / "s3")
        assert code == UNAVAILABLE and doc["verdict"] == "stale", doc
        assert checks(doc)["fresh"] == "stale"
        code, doc = federation.verify(path, "--bundle", str(saved), "--offline", repo=FAST,
                                      state_dir=tmp_path / "s4")
        assert code == UNAVAILABLE and doc["verdict"] == "stale"
    finally:
        frozen.stop()


def test_tampering_mirror_is_caught(federation: Federation, tmp_path: Path) -> None:
    path = federation.publish(20)

    def flip_proof(document: dict[str, Any]) -> None:
        entry = document["entries"][0]
        first = bytearray(base64.b64decode(entry["proof"][0]))
        first[0] ^= 1
        entry["proof"][0] = base64.b64encode(bytes(first)).decode()

    def hide_rebuild(document: dict[str, Any]) -> None:
        document["entries"] = document["entries"][:-1]

    for change in (flip_proof, hide_rebuild):
        mirror = proxy(federation.log.url, change)
        try:
            code, doc = federation.verify(path, url=mirror.url,
                                          state_dir=tmp_path / change.__name__)
        finally:
            mirror.stop()
        assert code == REJECTED, doc
        assert doc["source"] == mirror.url


def test_split_view_with_two_stolen_witness_keys_is_caught_by_the_stored_view(
    federation: Federation, tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    mine = federation.publish(30)
    assert federation.verify(mine, state_dir=state)[0] == VERIFIED
    fork, twins = start_fork(federation)
    federation.extra += [fork, *twins]
    # The fork shows another version 30 to this user, cosigned by the twins.
    other = federation.metadata_file(30, "-fork")
    digest = digest_of(other.read_bytes())
    for envelope in (release("oss", 30, [PUB], digest=digest),
                     rebuild("oss", 30, [RB1], digest=digest)):
        response = httpx.post(fork.url + "/api/v1/entries",
                              content=format_envelope(envelope), timeout=30)
        assert response.status_code == 200, response.text
    # A new user, who never saw the honest log, is fooled: the quorum is met.
    code, doc = federation.verify(other, url=fork.url, state_dir=tmp_path / "new-user")
    assert code == VERIFIED, doc
    # This machine saw the honest log: the fork's smaller tree is a rollback...
    code, doc = federation.verify(other, url=fork.url, state_dir=state)
    assert code == REJECTED and checks(doc)["consistent"] == "fail", doc
    assert "rollback" in doc["checks"][1]["detail"]
    # ... and once the fork has grown past it, a fork: either way, evidence is kept.
    honest_size = int(httpx.get(federation.log.url + "/checkpoint").text.splitlines()[1])
    padding = [format_envelope(artifact(f"pad-{i}", [PUB])) for i in range(honest_size)]
    response = httpx.post(fork.url + "/api/v1/entries:batch",
                          content=b'{"entries":[' + b",".join(padding) + b"]}", timeout=60)
    assert response.status_code == 200, response.text
    code, doc = federation.verify(other, url=fork.url, state_dir=state)
    assert code == REJECTED and checks(doc)["consistent"] == "fail", doc
    assert "fork" in doc["checks"][1]["detail"]
    kinds = sorted(json.loads(Path(p).read_text())["kind"]
                   for p in (state / "evidence").iterdir())
    assert kinds == ["fork", "rollback"]


def test_client_many_charter_versions_behind(federation: Federation, tmp_path: Path) -> None:
    path = federation.publish(40)
    spec = federation.spec
    for _ in range(4):
        spec = spec.next()
        federation.submit(sign_charter(spec.text(), BOARD[:2]))
    state = tmp_path / "state"
    code, doc = federation.verify(path, state_dir=state)
    assert code == VERIFIED, doc
    assert doc["charter"]["version"] == spec.version
    assert "verified 4 new versions" in doc["checks"][2]["detail"]
    stored = sorted(p.name for p in (state / "charters").iterdir())
    assert stored == [f"v{v}.dsse.json" for v in range(2, spec.version + 1)]
    # Next run starts from the stored chain: nothing more to walk.
    code, doc = federation.verify(path, state_dir=state)
    assert code == VERIFIED and doc["checks"][2]["detail"].endswith("in force")
    federation.spec = spec


def test_all_repositories_from_a_config_file_and_concurrent_runs(
    federation: Federation, tmp_path: Path,
) -> None:
    oss = federation.publish(60)
    fast = federation.publish(60, repo=FAST)
    config = tmp_path / "config.toml"
    config.write_text(
        f'charter = "{federation.charter_file}"\nstate_dir = "state"\n'
        f'mirrors = ["{federation.log.url}"]\n\n'
        f'[[repository]]\nname = "oss"\nmetadata = "{oss}"\n\n'
        f'[[repository]]\nname = "{FAST}"\nmetadata = "{fast}"\n'
    )
    command = [*CLI, "verify", "--all", "--config", str(config), "--json"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
            for _ in range(4)]
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == VERIFIED, out.decode() + err.decode()
        doc = json.loads(out)
        assert [r["verdict"] for r in doc["repositories"]] == ["verified", "verified"]
    names = {json.loads(p.read_text())["repository"]
             for p in (tmp_path / "state" / "repositories").iterdir()}
    assert names == {"oss", FAST}
    assert not [p for p in (tmp_path / "state").rglob("*.tmp")]


def test_usage_and_unavailable_exit_codes(federation: Federation, tmp_path: Path) -> None:
    path = federation.publish(70)
    code, doc = federation.verify(path, "--url", federation.log.url, url="http://127.0.0.1:9",
                                  state_dir=tmp_path / "s")
    # The log is asked after the unreachable server, so the run still succeeds.
    assert code == VERIFIED and doc["source"] == federation.log.url
    env = {**os.environ}
    result = subprocess.run(
        [*CLI, "verify", "--repo", "oss", "--metadata", str(path), "--charter",
         str(federation.charter_file), "--state-dir", str(tmp_path / "s2"), "--json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
    )
    # The charter names no URL and no mirror is configured: unavailable.
    assert result.returncode == UNAVAILABLE, result.stderr
    assert json.loads(result.stdout)["verdict"] == "unavailable"
    bad = tmp_path / "bad.toml"
    bad.write_text('charter = 3\n')
    result = subprocess.run([*CLI, "verify", "--all", "--config", str(bad)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == USAGE and "charter" in result.stderr
    result = subprocess.run([*CLI, "verify", "--repo", "nope", "--metadata", str(path),
                             "--charter", str(federation.charter_file), "--state-dir",
                             str(tmp_path / "s3")], capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == USAGE and "does not name repository" in result.stderr


def test_front_end_processes_serve_bundles(tmp_path: Path) -> None:
    """`vigil log serve --workers 2`: front ends admit role statements and serve the
    status map the sequencer process relays to them."""
    fed = start_federation(tmp_path / "fed", log_args=("--workers", "2"))
    try:
        for version in (1, 2, 3):
            path = fed.publish(version)
            code, doc = fed.verify(path, state_dir=tmp_path / "state")
            assert code == VERIFIED, doc
        status = httpx.get(fed.log.url + "/api/v1/status/oss", timeout=10)
        assert status.status_code == 200 and len(status.json()["entries"]) == 2
        code, doc = fed.verify(fed.metadata_file(3, "-tampered"), state_dir=tmp_path / "state")
        assert code == REJECTED
    finally:
        fed.stop()
