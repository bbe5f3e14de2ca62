"""Interop with an implementation no one here wrote: Go's golang.org/x/mod/sumdb.

A small Go program (``goref/main.go``) is built in the test against the
Debian packages golang-go and golang-golang-x-mod-dev. Go verifies notes,
checkpoints and proofs that Vigil produced, and Vigil verifies ones Go produced.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vigil.core import checkpoint, cosignature, merkle, note, proof, tiles
from vigil.errors import ProofError, SignatureError

pytestmark = pytest.mark.interop

GOREF_SRC = Path(__file__).parent / "goref" / "main.go"
GOPATH = "/usr/share/gocode"

Oracle = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="session")
def goref(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    """Build the Go oracle once; return a function that sends it one request."""
    go = shutil.which("go")
    if go is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/note").is_dir():
        raise RuntimeError("install golang-go and golang-golang-x-mod-dev (.ci/run does)")
    out = tmp_path_factory.mktemp("goref")
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(out / "cache"))
    subprocess.run(
        [go, "build", "-o", str(out / "goref"), str(GOREF_SRC)], env=env, check=True, timeout=300
    )

    def call(req: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            [str(out / "goref")],
            input=json.dumps(req).encode(),
            capture_output=True,
            check=True,
            timeout=120,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    return call


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


# --- notes ------------------------------------------------------------------------------


def test_go_opens_note_signed_by_vigil(goref: Oracle) -> None:
    alice = note.generate_signer("alice.example")
    bob = note.generate_signer("bob.example")
    text = "Vigil and Go agree.\nSecond line — with UTF-8.\n"
    signed = note.sign_note(text, [alice, bob])
    res = goref({"op": "open", "note": signed.decode(), "vkeys": [alice.verifier().vkey]})
    assert res.get("error") is None, res
    assert res["text"] == text
    assert res["verified"] == ["alice.example"]
    assert res["unverified"] == ["bob.example"]


def test_go_rejects_note_vigil_signed_then_tampered(goref: Oracle) -> None:
    alice = note.generate_signer("alice.example")
    signed = note.sign_note("original\n", [alice])
    tampered = signed.replace(b"original", b"0riginal")
    res = goref({"op": "open", "note": tampered.decode(), "vkeys": [alice.verifier().vkey]})
    assert "invalid signature" in res["error"]


def test_vigil_verifies_note_signed_by_go(goref: Oracle) -> None:
    keys = goref({"op": "generate", "name": "go.example/key"})
    res = goref({"op": "sign", "skey": keys["skey"], "text": "signed in Go\n"})
    verifier = note.parse_verifier_key(keys["vkey"])
    verified = note.verify_note(res["note"].encode(), [verifier])
    assert verified.text == "signed in Go\n"
    assert [s.name for s in verified.verified] == ["go.example/key"]
    # And Vigil's signer loads Go's private key and produces the same bytes (Ed25519 is
    # deterministic), so the key formats agree both ways.
    signer = note.parse_signer_key(keys["skey"])
    assert note.sign_note("signed in Go\n", [signer]) == res["note"].encode()


def test_vigil_rejects_go_note_under_wrong_key(goref: Oracle) -> None:
    keys = goref({"op": "generate", "name": "go.example/key"})
    other = goref({"op": "generate", "name": "go.example/key"})
    res = goref({"op": "sign", "skey": keys["skey"], "text": "signed in Go\n"})
    with pytest.raises(SignatureError):
        note.verify_note(res["note"].encode(), [note.parse_verifier_key(other["vkey"])])


# --- checkpoints and cosignatures -------------------------------------------------------


def test_go_parses_and_verifies_vigil_checkpoint(goref: Oracle) -> None:
    leaves = [b"entry %d" % i for i in range(37)]
    root = merkle.root_from_leaf_hashes([merkle.hash_leaf(x) for x in leaves])
    # x/mod's tlog.ParseTree accepts the checkpoint body with the go.sum origin only.
    cp = checkpoint.Checkpoint(origin="go.sum database tree", size=37, root_hash=root)
    log = note.generate_signer("log.example")
    signed = note.sign_note(checkpoint.format_checkpoint(cp), [log])
    res = goref({"op": "open", "note": signed.decode(), "vkeys": [log.verifier().vkey]})
    assert res.get("error") is None, res
    assert res["tree_size"] == 37
    assert unb64(res["tree_hash"]) == root


def test_go_verifies_vigil_cosignature(goref: Oracle) -> None:
    cp = checkpoint.Checkpoint(
        origin="vigil.example/log", size=5, root_hash=bytes(range(32)), extensions=("ext line",)
    )
    text = checkpoint.format_checkpoint(cp)
    log = note.generate_signer("vigil.example/log")
    witness = cosignature.CosignatureSigner("witness.example", os.urandom(32))
    signed = note.sign_note(text, [log])
    cosigned = note.format_note(
        note.Note(
            text=text,
            signatures=(
                *note.parse_note(signed).signatures,
                witness.sign_checkpoint(text, 1_767_139_200),
            ),
        )
    )
    vkeys = [log.verifier().vkey, witness.verifier().vkey]
    res = goref({"op": "open", "note": cosigned.decode(), "vkeys": vkeys})
    assert res.get("error") is None, res
    assert sorted(res["verified"]) == ["vigil.example/log", "witness.example"]


# --- proofs and tiles -------------------------------------------------------------------


def _random_queries(rng: random.Random, n: int, count: int) -> tuple[list[list[int]], ...]:
    inclusions = []
    consistencies = []
    for _ in range(count):
        size = rng.randint(1, n)
        inclusions.append([rng.randrange(size), size])
        size2 = rng.randint(1, n)
        size1 = rng.randint(1, size2)
        consistencies.append([size1, size2])
    return inclusions, consistencies


@pytest.mark.parametrize("n", [1, 2, 7, 256, 257, 1000, 70_000 // 64])
def test_proofs_and_tiles_agree_with_go(goref: Oracle, n: int) -> None:
    rng = random.Random(n)
    leaves = [rng.randbytes(rng.randrange(0, 40)) for _ in range(n)]
    inclusions, consistencies = _random_queries(rng, n, 40)
    res = goref(
        {
            "op": "tree",
            "leaves": [b64(x) for x in leaves],
            "inclusions": inclusions,
            "consistencies": consistencies,
        }
    )
    tree = merkle.MerkleTree()
    tree.extend([merkle.hash_leaf(x) for x in leaves])
    assert tree.root() == unb64(res["root"])
    for size, want in enumerate(res["roots"], start=1):
        assert tree.root(size) == unb64(want)
    for item in res["inclusions"]:
        got = tree.inclusion_proof(item["a"], item["b"])
        assert got == [unb64(h) for h in item["proof"]], item
    for item in res["consistencies"]:
        got = tree.consistency_proof(item["a"], item["b"])
        assert got == [unb64(h) for h in item["proof"]], item
    # Hash tiles: for each tile coordinate Go lists every partial width; the tile set
    # of a tree of size n has the widest one. Vigil's inventory and bytes must match.
    widest: dict[str, str] = {}
    for path in res["tiles"]:
        coord = path.split(".p/")[0]
        if coord not in widest or _width(path) > _width(widest[coord]):
            widest[coord] = path
    mine = {tiles.tile_path(t) for t in tiles.tiles_for_size(n)}
    assert mine == set(widest.values())
    for path in widest.values():
        tid = tiles.parse_tile_path(path)
        data = unb64(res["tiles"][path])
        hashes = tiles.parse_hash_tile(data, tid.width)
        for k, h in enumerate(hashes):
            assert tree.node(tid.level * tiles.TILE_HEIGHT, tid.index * tiles.TILE_WIDTH + k) == h


def _width(path: str) -> int:
    return int(path.split(".p/")[1]) if ".p/" in path else 256


def test_go_checks_vigil_proofs_and_vigil_checks_go_proofs(goref: Oracle) -> None:
    rng = random.Random(7)
    n = 517
    leaves = [b"leaf %d" % i for i in range(n)]
    tree = merkle.MerkleTree()
    tree.extend([merkle.hash_leaf(x) for x in leaves])
    inclusions, consistencies = _random_queries(rng, n, 60)
    checks: list[dict[str, Any]] = []
    for index, size in inclusions:
        p = tree.inclusion_proof(index, size)
        ok = {
            "kind": "inclusion", "index": index, "size": size,
            "leaf_hash": b64(tree.node(0, index)), "root": b64(tree.root(size)),
            "proof": [b64(h) for h in p],
        }
        checks.append(ok)
        if p:  # a flipped bit in any proof hash must fail in Go too
            bad = dict(ok, proof=[b64(h) for h in p])
            j = rng.randrange(len(p))
            bad["proof"][j] = b64(bytes([p[j][0] ^ 1]) + p[j][1:])
            checks.append(bad)
    for size1, size2 in consistencies:
        p = tree.consistency_proof(size1, size2)
        checks.append(
            {
                "kind": "consistency", "size": size1, "size2": size2,
                "root": b64(tree.root(size1)), "root2": b64(tree.root(size2)),
                "proof": [b64(h) for h in p],
            }
        )
    res = goref({"op": "check", "checks": checks})
    for chk, result in zip(checks, res["results"], strict=True):
        assert (result == "ok") == _is_untampered(chk, tree), (chk, result)
    # The other direction: Go's proofs verify in Vigil, tampered ones do not.
    res = goref(
        {"op": "tree", "leaves": [b64(x) for x in leaves], "inclusions": inclusions,
         "consistencies": consistencies}
    )
    for item in res["inclusions"]:
        index, size = item["a"], item["b"]
        hashes = [unb64(h) for h in item["proof"]]
        proof.verify_inclusion(index, size, tree.node(0, index), hashes, tree.root(size))
        if hashes:
            hashes[-1] = bytes(32)
            with pytest.raises(ProofError):
                proof.verify_inclusion(index, size, tree.node(0, index), hashes, tree.root(size))
    for item in res["consistencies"]:
        size1, size2 = item["a"], item["b"]
        hashes = [unb64(h) for h in item["proof"]]
        proof.verify_consistency(size1, size2, hashes, tree.root(size1), tree.root(size2))
        if hashes:
            hashes[0] = bytes(32)
            with pytest.raises(ProofError):
                proof.verify_consistency(size1, size2, hashes, tree.root(size1), tree.root(size2))


def _is_untampered(chk: dict[str, Any], tree: merkle.MerkleTree) -> bool:
    """Whether a check's proof is the one Vigil generated (not bit-flipped)."""
    if chk["kind"] == "inclusion":
        want = tree.inclusion_proof(chk["index"], chk["size"])
    else:
        want = tree.consistency_proof(chk["size"], chk["size2"])
    return [b64(h) for h in want] == chk["proof"]
