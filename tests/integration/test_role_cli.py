"""The role workflows as people run them: the CLI as subprocesses against a real log.

A foundation of two writes and signs a charter in separate steps, starts a
log with it, two publishers sign a release of a real createrepo_c repository,
a rebuilder attests it, the security team warns and withdraws, the board adds
a member with charter version 2 (refused until both boards signed), and an
auditor replays the whole log.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from logsupport import ServerProcess, vigil
from toolsupport import rpm_repo
from vigil.core.checkpoint import parse_checkpoint
from vigil.core.note import parse_note
from vigil.core.statusmap import StatusRecord, parse_record_proof, status_root, verify_record
from vigil.log.config import format_config, parse_config

NAMES = ("alice", "bob", "carol", "pub1", "pub2", "rb", "sec")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roles")


def keys(work: Path) -> dict[str, str]:
    result = {}
    for name in NAMES:
        result[name] = vigil("key", "generate", f"{name}.example", "--out",
                             str(work / f"{name}.key")).stdout.strip()
    return result


def run_in(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """vigil with file arguments relative to ``work``."""
    return vigil(*[a.replace("@", str(work) + "/") for a in args], check=check)


def test_role_workflow(work: Path) -> None:
    vkeys = keys(work)
    # -- the charter, signed by two holders in separate steps ---------------------------
    vigil("charter", "init", "--name", "demo", "--foundation-key", vkeys["alice"],
          "--foundation-key", vkeys["bob"], "--threshold", "2", "--out", str(work / "charter.toml"))
    repo_section = f"""
[security]
threshold = 1
keys = ["{vkeys['sec']}"]

[[repository]]
name = "main"
format = "rpm-md"
publishers = ["{vkeys['pub1']}", "{vkeys['pub2']}"]
publisher_threshold = 2
rebuilders = ["{vkeys['rb']}"]
rebuilds_required = 1
freshness_s = 86400
stale = "reject"
grace_s = 3600
"""
    with (work / "charter.toml").open("a") as out:
        out.write(repo_section)
    shown = run_in(work, "charter", "show", "@charter.toml").stdout
    assert "a release needs 2 of 2 publisher signatures" in shown
    first = run_in(work, "charter", "sign", "@charter.toml", "--key", "@alice.key").stdout
    assert "NOT met, 1 of 2" in first
    second = run_in(work, "charter", "sign", "@charter.toml", "--key", "@bob.key").stdout
    assert "its own foundation: met, 2 of 2" in second
    assert "current: charter demo v1" in run_in(
        work, "charter", "verify", "@charter.toml.dsse.json").stdout

    # -- the log, with the charter as its genesis -------------------------------------
    run_in(work, "log", "init", "@log", "--origin", "demo.example/log",
           "--charter", "@charter.toml.dsse.json")
    config = parse_config((work / "log" / "config.toml").read_text())
    config = replace(config, sequencer=replace(config.sequencer, checkpoint_interval_s=0.05))
    (work / "log" / "config.toml").write_text(format_config(config))
    server = ServerProcess(work / "log")
    try:
        server.wait_ready()
        log = ["--url", server.url, "--log-key", config.public_key]
        workflow(work, vkeys, log, server.url, config.public_key)
    finally:
        server.stop()


def workflow(work: Path, vkeys: dict[str, str], log: list[str], url: str, log_key: str) -> None:
    # -- a release of a real rpm-md repository, two publishers --------------------------
    repo = rpm_repo(work / "repo")
    (repo / "foo-1.0.noarch.rpm").write_bytes(b"the package")
    run_in(work, "release", "create", "@repo", "--repository", "main", "--version", "1",
           "--artifacts", "--out", "@rel.json")
    run_in(work, "release", "sign", "@rel.json", "--key", "@pub1.key")
    refused = run_in(work, "release", "submit", "@rel.dsse.json", *log, check=False)
    assert refused.returncode == 1
    assert "1 of 2 required signatures" in refused.stderr
    run_in(work, "release", "sign", "@rel.dsse.json", "--key", "@pub2.key")
    assert "logged at index 1" in run_in(
        work, "release", "submit", "@rel.dsse.json", *log).stdout

    # -- a rebuilder reproduces it ----------------------------------------------------
    rebuilt = work / "rebuilt"
    rebuilt.mkdir()
    shutil.copy(repo / "foo-1.0.noarch.rpm", rebuilt)
    attested = run_in(work, "attest", "@rel.dsse.json", "@rebuilt", "--key", "@rb.key",
                      "--builder", "https://rb.example/", "--out", "@rebuild.json")
    assert "outcome: reproduced" in attested.stderr
    run_in(work, "log", "submit", "@rebuild.json", *log)

    # -- the security team warns, then withdraws ---------------------------------------
    run_in(work, "advisory", "create", "--repository", "main", "--id", "VSA-1",
           "--action", "warn", "--release", "@rel.json", "--introduced", "1",
           "--summary", "foo is slow", "--out", "@adv.json")
    run_in(work, "advisory", "sign", "@adv.json", "--key", "@sec.key")
    run_in(work, "advisory", "submit", "@adv.dsse.json", *log)
    run_in(work, "advisory", "withdraw", "VSA-1", "--repository", "main", "--id", "VSA-2",
           "--release", "@rel.json", "--out", "@withdraw.json")
    run_in(work, "advisory", "sign", "@withdraw.json", "--key", "@sec.key")
    run_in(work, "advisory", "submit", "@withdraw.dsse.json", *log)

    # -- charter version 2: carol joins -------------------------------------------------
    v1 = (work / "charter.toml").read_bytes()
    v2 = v1.replace(b"version = 1", b"version = 2\nprevious = \"sha256:"
                    + hashlib.sha256(v1).hexdigest().encode() + b"\"")
    bob, carol = vkeys["bob"], vkeys["carol"]
    v2 = v2.replace(f'"{bob}",'.encode(), f'"{bob}",\n  "{carol}",'.encode())
    (work / "charter-v2.toml").write_bytes(v2)
    diff = run_in(work, "charter", "diff", "@charter.toml", "@charter-v2.toml").stdout
    assert "- Foundation: adds carol.example (" in diff
    run_in(work, "charter", "sign", "@charter-v2.toml", "--key", "@carol.key")
    run_in(work, "charter", "sign", "@charter-v2.toml", "--key", "@alice.key")
    takeover = run_in(work, "charter", "submit", "@charter-v2.toml.dsse.json", *log, check=False)
    assert takeover.returncode == 1
    assert "foundation of v1 (the current charter): 1 of 2" in takeover.stderr
    status = run_in(work, "charter", "sign", "@charter-v2.toml", "--key", "@bob.key",
                    "--previous", "@charter.toml").stdout
    assert "the foundation of version 1: met" in status
    run_in(work, "charter", "submit", "@charter-v2.toml.dsse.json", *log)
    verified = run_in(work, "charter", "verify", "@charter.toml.dsse.json",
                      "@charter-v2.toml.dsse.json").stdout
    assert "current: charter demo v2" in verified

    # -- what a client sees -------------------------------------------------------------
    document = httpx.get(f"{url}/api/v1/status/main", timeout=30).json()
    checkpoint = parse_checkpoint(parse_note(document["checkpoint"].encode()).text)
    root = status_root(checkpoint)
    assert root is not None
    record = verify_record(root, "main", parse_record_proof(document["record"]))
    assert json.loads(parse_record_proof(document["record"]).record)["advisories"] == []
    assert isinstance(record, StatusRecord)
    assert [r.result for r in record.rebuilds] == ["reproduced"]

    # -- an auditor replays it all -----------------------------------------------------------
    audit = vigil("audit", url, "--log-key", log_key, "--quiet")
    assert "consistent" in audit.stdout
    assert "replayed 6 entries" in audit.stdout
