"""Every c2sp.org/tlog-witness status code against a real `vigil witness serve` process.

Includes the add-checkpoint exchange of /work/shared/vectors/vectors.md §7
(torchwood litewitness testdata): a Sigsum-style log whose leaves are the raw
hashes L_i = 2a || i || 00*30.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from logsupport import vigil
from vigil.core.checkpoint import verify_checkpoint
from vigil.core.cosignature import CosignatureVerifier
from vigil.core.merkle import EMPTY_ROOT
from vigil.core.note import parse_verifier_key
from vigil.core.tlog_witness import format_add_checkpoint, parse_cosignature_lines
from witnesssupport import (
    ORIGIN,
    Tree,
    WitnessProcess,
    checkpoint_note,
    init_witness,
    log_signer,
    request_body,
)

# -- vectors.md §7 ---------------------------------------------------------------------------

V_ORIGIN = "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562"
V_VKEY = V_ORIGIN + "+5202289b+Af/cLU2Y5BJNP+r3iMDC+av9eWCD0fBJVDfzAux5zxAP"
V_SIG1 = "UgIom7fPZTqpxWWhyjWduBvTvGVqsokMbqTArsQilegKoFBJQjUFAmQ0+YeSPM3wfUQMFSzVnnNuWRTYrajXpNUbIQY="  # noqa: E501
V_SIG6 = "UgIom2VbtIcdFbwFAy1n7s6IkAxIY6J/GQOTuZF2ORV39d75cbAj2aQYwyJre36kezNobZs4SUUdrcawfAB8WVrx6go="  # noqa: E501
V_L1 = "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
V_L2 = "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
V_ROOT1 = "KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
V_ROOT3 = "RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0="


def vector_request(
    old: int, proof: list[str], size: int, root: str, sig: str, origin: str = V_ORIGIN
) -> bytes:
    lines = [f"old {old}", *proof, "", origin, str(size), root, "", f"— {origin} {sig}"]
    return ("\n".join(lines) + "\n").encode()


REQUEST_1 = vector_request(0, [], 1, V_ROOT1, V_SIG1)
REQUEST_6 = vector_request(1, [V_L1, V_L2], 3, V_ROOT3, V_SIG6)

LOG = log_signer()
CODES = log_signer("log.example/codes")


@pytest.fixture(scope="module")
def witness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WitnessProcess]:
    directory = tmp_path_factory.mktemp("witness") / "w"
    init_witness(
        directory,
        "example.com/witness",
        [(V_ORIGIN, V_VKEY), (ORIGIN, LOG.vkey), (CODES.name, CODES.vkey)],
    )
    process = WitnessProcess(directory)
    yield process
    process.stop()


def witness_verifier(process: WitnessProcess) -> CosignatureVerifier:
    verifier = parse_verifier_key(httpx.get(process.url + "/").json()["vkey"])
    assert isinstance(verifier, CosignatureVerifier)
    return verifier


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_vectors_section_7(witness: WitnessProcess) -> None:
    # Request 1: first contact, old 0, no proof -> 200 with our cosignature.
    response = witness.post(REQUEST_1)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "— example.com/witness " in response.text
    assert len(parse_cosignature_lines(response.content)) == 1
    verifier = witness_verifier(witness)
    note = REQUEST_1.split(b"\n\n", 1)[1].rstrip(b"\n") + b"\n" + response.content
    verified = verify_checkpoint(
        note, origin=V_ORIGIN, log_verifier=parse_verifier_key(V_VKEY), cosigners=[verifier]
    )
    assert verified.cosignatures[0].timestamp  # never zero

    # Negative variants of request 6 (state: size 1).
    # The vector's "...6gx=" is also non-canonical base64 (non-zero trailing bits):
    # litewitness answers 403, Vigil's strict note parser refuses the note as
    # malformed first (400, STYLE §5). Refused either way; a canonical
    # one-bit change of the signature gets the 403.
    assert_error(witness.post(REQUEST_6.replace(b"6go=", b"6gx=")), 400, "malformed")
    flipped = base64.b64decode(V_SIG6)
    flipped = flipped[:10] + bytes([flipped[10] ^ 1]) + flipped[11:]
    bad_sig = vector_request(
        1, [V_L1, V_L2], 3, V_ROOT3, base64.b64encode(flipped).decode()
    )
    response = witness.post(bad_sig)
    assert_error(response, 403, "bad-signature")
    assert "invalid signature" in response.json()["message"]
    unknown = vector_request(1, [V_L1, V_L2], 3, V_ROOT3, V_SIG6, origin=V_ORIGIN[:-1] + "3")
    assert_error(witness.post(unknown), 404, "unknown-log")  # litewitness says 403; spec 404
    no_proof = vector_request(1, [], 3, V_ROOT3, V_SIG6)
    assert_error(witness.post(no_proof), 422, "bad-proof")
    bad_proof = vector_request(
        1, [V_L1, "KgIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABA="], 3, V_ROOT3, V_SIG6
    )
    assert_error(witness.post(bad_proof), 422, "bad-proof")

    # Request 6: 1 -> 3 with the proof [L1, L2] -> 200.
    response = witness.post(REQUEST_6)
    assert response.status_code == 200, response.text

    # Stale old size: 409 with the known size, exactly text/x.tlog.size.
    response = witness.post(REQUEST_1)
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size"
    assert response.content == b"3\n"
    # Old size larger than the checkpoint: 400.
    assert_error(witness.post(vector_request(5, [], 3, V_ROOT3, V_SIG6)), 400, "malformed")


def test_monitoring_path(witness: WitnessProcess) -> None:
    tree = Tree("monitor")
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    # Known log, never cosigned: 404 (unless an earlier test already cosigned it).
    state = {log["origin"]: log for log in httpx.get(witness.url + "/").json()["logs"]}
    if state[ORIGIN]["size"] is None:
        assert httpx.get(f"{witness.url}/{origin_hash}/checkpoint").status_code == 404
    assert httpx.get(f"{witness.url}/{'0' * 64}/checkpoint").status_code == 404
    assert httpx.get(f"{witness.url}/{origin_hash.upper()}/checkpoint").status_code == 400
    known = state[ORIGIN]["size"] or 0
    if known == 0:
        response = witness.post(request_body(LOG, tree, 0, 4))
        assert response.status_code == 200, response.text
    response = httpx.get(f"{witness.url}/{origin_hash}/checkpoint")
    assert response.status_code == 200
    verified = verify_checkpoint(
        response.content, origin=ORIGIN, log_verifier=LOG.verifier(),
        cosigners=[witness_verifier(witness)],
    )
    assert len(verified.cosignatures) == 1


def test_status_codes_with_a_test_log(witness: WitnessProcess) -> None:
    tree, fork = Tree("codes"), Tree("codes-fork")
    origin = CODES.name
    response = witness.post(request_body(CODES, tree, 0, 10))
    assert response.status_code == 200, response.text

    # 400: malformed bodies.
    for body in (b"", b"old 1\n", b"old 01\n\n" + checkpoint_note(CODES, 10, tree.root(10)),
                 b"old 10\n\nnot a note"):
        assert_error(witness.post(body), 400, "malformed")
    # 413: over the cap (65536 by default).
    assert_error(witness.post(b"old 0\n" + b"A" * 70000), 413, "too-large")
    # 403: signed by another key under the log's name; or not signed by the log at all.
    impostor = log_signer(origin, 99)
    assert_error(witness.post(request_body(impostor, tree, 10, 12)), 403, "bad-signature")
    # 404: unknown origin (correctly signed by its own key).
    stranger = log_signer("stranger.example")
    assert_error(witness.post(request_body(stranger, tree, 0, 1)), 404, "unknown-log")
    # 409: stale old size.
    response = witness.post(request_body(CODES, tree, 5, 12))
    assert (response.status_code, response.content) == (409, b"10\n")
    # 422: same size, different root (a fork), and a fork that grows.
    same_size_fork = request_body(CODES, fork, 10, 10)
    assert_error(witness.post(same_size_fork), 422, "bad-proof")
    forked = format_add_checkpoint(
        10, tree.proof(10, 12), checkpoint_note(CODES, 12, fork.root(12))
    )
    assert_error(witness.post(forked), 422, "bad-proof")
    # 400: a smaller tree (rollback) with the stored old size.
    smaller = b"old 10\n\n" + checkpoint_note(CODES, 4, tree.root(4))
    assert_error(witness.post(smaller), 400, "malformed")
    # 200: the honest continuation still works.
    assert witness.post(request_body(CODES, tree, 10, 12)).status_code == 200

    # Evidence: the two forks were kept, listable over HTTP and with the CLI.
    evidence = httpx.get(witness.url + "/evidence", params={"origin": origin}).json()["evidence"]
    requests = [base64.b64decode(e["request"]) for e in evidence]
    assert requests == [same_size_fork, forked]
    out = vigil("witness", "evidence", str(witness.directory), "--origin", origin).stdout
    assert [base64.b64decode(json.loads(line)["request"]) for line in out.splitlines()] == requests


def test_empty_tree_rules(tmp_path: Path) -> None:
    """422 for a bad empty-tree root and for a proof with old size 0, on a fresh witness."""
    directory = tmp_path / "w"
    init_witness(directory, "example.com/w0", [(ORIGIN, LOG.vkey)])
    process = WitnessProcess(directory)
    try:
        bad_root = b"old 0\n\n" + checkpoint_note(LOG, 0, bytes(32))
        assert_error(process.post(bad_root), 422, "bad-proof")
        proof_for_zero = format_add_checkpoint(
            0, [bytes(32)], checkpoint_note(LOG, 3, Tree().root(3))
        )
        assert_error(process.post(proof_for_zero), 422, "bad-proof")
        good = b"old 0\n\n" + checkpoint_note(LOG, 0, EMPTY_ROOT)
        assert process.post(good).status_code == 200
        assert process.post(good).status_code == 200  # the same empty tree again
        evidence = httpx.get(process.url + "/evidence").json()["evidence"]
        assert [base64.b64decode(e["request"]) for e in evidence] == [bad_root]
        assert httpx.get(process.url + "/add-checkpoint").status_code == 405
    finally:
        process.stop()
