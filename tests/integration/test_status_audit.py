"""End to end: a charter log on loopback, status answers a client can verify, `vigil audit`.

The attack: a tampered server build (tests/tampered_log.py) signs a status map
that hides a newer release and an advisory. Every answer it gives verifies
against what it signed, so a client alone is fooled; `vigil audit` replaying
the log catches it and names the first entry the log lied about.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from charterkit import (
    advisory,
    one_repository,
    rebuild,
    release,
)
from charterserver import CharterLogServer, charter_log
from openapi_check import check_response
from vigil.core.checkpoint import verify_checkpoint
from vigil.core.note import parse_verifier_key
from vigil.core.statusmap import (
    GovernanceRecord,
    NamedEntry,
    StatusRecord,
    parse_absence_proof,
    parse_record_proof,
    verify_status_answer,
)

ORIGIN = "test.example/charter"
SPEC, BOARD, PUB, RB, SEC = one_repository("e2e")


@pytest.fixture
def honest(tmp_path: Path) -> Iterator[CharterLogServer]:
    with charter_log(tmp_path, "honest", origin=ORIGIN, charter=SPEC.text(), board=[BOARD]) as log:
        yield log


@pytest.fixture
def tampered(tmp_path: Path) -> Iterator[CharterLogServer]:
    with charter_log(tmp_path, "tampered", origin=ORIGIN, charter=SPEC.text(), board=[BOARD],
                     tamper={"VIGIL_TAMPER_HIDE": "oss"}) as log:
        yield log


def client_status(log: CharterLogServer, repository: str) -> tuple[Any, int]:
    """What a client checks: checkpoint, map proof, every named entry's inclusion."""
    response = httpx.get(f"{log.url}/api/v1/status/{repository}", timeout=30)
    assert response.status_code == 200, response.text
    document = response.json()
    openapi = httpx.get(log.url + "/openapi.json", timeout=30).json()
    check_response(openapi, "/api/v1/status/{repository}", "GET", 200,
                   response.headers["content-type"], document)
    verifier = parse_verifier_key(log.log_key)
    checkpoint = verify_checkpoint(
        document["checkpoint"].encode(), origin=ORIGIN, log_verifier=verifier
    )
    proof = (
        parse_absence_proof(document["absence"]) if "absence" in document
        else parse_record_proof(document["record"])
    )
    entries = [
        NamedEntry(item["index"], base64.b64decode(item["entry"]),
                   tuple(base64.b64decode(h) for h in item["inclusion_proof"]))
        for item in document["entries"]
    ]
    verified = verify_status_answer(checkpoint, repository, proof, entries)
    return verified.record, checkpoint.checkpoint.size


def test_honest_log_enforces_proves_and_audits_clean(honest: CharterLogServer) -> None:
    assert honest.submit(release("oss", 1, [PUB]))["index"] == 1
    refused = honest.submit(release("oss", 2, [SEC]), status=422)
    assert refused["error"] == "rejected" and "none of whom is a publisher" in refused["message"]
    downgrade = honest.submit(release("oss", 0 + 1, [PUB], published_s=1), status=422)
    assert "already logged at index 1" in downgrade["message"]
    honest.submit(rebuild("oss", 1, [RB]))
    honest.submit(release("oss", 2, [PUB]))
    honest.submit(advisory("oss", "VSA-1", [SEC], version=2))
    record, _ = client_status(honest, "oss")
    assert isinstance(record, StatusRecord)
    assert record is not None and record.latest is not None and record.latest.version == 2
    assert [a.id for a in record.advisories] == ["VSA-1"]
    assert client_status(honest, "not-there")[0] is None
    governance, _ = client_status(honest, "")
    assert isinstance(governance, GovernanceRecord) and governance.charter.index == 0
    result = honest.audit()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "consistent" in result.stdout


def test_tampered_status_map_is_caught_by_audit(tampered: CharterLogServer) -> None:
    tampered.submit(release("oss", 1, [PUB]))
    hidden = tampered.submit(release("oss", 2, [PUB]))["index"]
    tampered.submit(advisory("oss", "VSA-1", [SEC], version=2))
    # A client alone is fooled: everything verifies, and version 1 looks current.
    record, _ = client_status(tampered, "oss")
    assert isinstance(record, StatusRecord)
    assert record is not None and record.latest is not None and record.latest.version == 1
    assert record.advisories == ()
    result = tampered.audit()
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"THE LOG LIED at entry {hidden}" in result.stdout
    assert "omits release 2 of 'oss'" in result.stdout
