"""The log server as a real process on 127.0.0.1: API, read path, bad input, lock, CLI."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from logsupport import (
    ServerProcess,
    entry_bytes,
    envelope,
    pg_schema,
    signer,
    statement,
    vigil,
)
from openapi_check import check_response
from vigil.core.checkpoint import verify_checkpoint
from vigil.core.dsse import DsseSignature, Envelope, format_envelope
from vigil.core.merkle import hash_leaf
from vigil.core.note import Ed25519Verifier, parse_verifier_key
from vigil.core.proof import verify_consistency, verify_inclusion
from vigil.core.tiles import tile_path, tiles_for_size
from vigil.log.config import LogConfig, format_config, parse_config

ORIGIN = "test.example/log"


@dataclass
class Log:
    directory: Path
    server: ServerProcess
    config: LogConfig
    document: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def verifier(self) -> Ed25519Verifier:
        key = parse_verifier_key(self.config.public_key)
        assert isinstance(key, Ed25519Verifier)
        return key

    def entry_count(self) -> int:
        with sqlite3.connect(f"file:{self.directory / 'log.db'}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


def init_log(directory: Path, *, db: str | None = None, **limits: int) -> LogConfig:
    args = ["log", "init", str(directory), "--origin", ORIGIN]
    if db is not None:
        args += ["--db", db]
    vigil(*args)
    config = parse_config((directory / "config.toml").read_text())
    config = replace(
        config,
        limits=replace(config.limits, **limits),
        sequencer=replace(config.sequencer, checkpoint_interval_s=0.05, submit_wait_s=10.0),
    )
    (directory / "config.toml").write_text(format_config(config))
    return config


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    directory = tmp_path_factory.mktemp("log") / "log"
    config = init_log(
        directory,
        max_batch_entries=200,
        max_pending_entries=100,
        max_signatures=3,
        max_body_bytes=256 * 1024,
    )
    server = ServerProcess(directory)
    try:
        server.wait_ready()
        document = httpx.get(server.url + "/openapi.json", timeout=10).json()
        yield Log(directory, server, config, document)
    finally:
        server.stop()


def call(
    log: Log, method: str, path: str, template: str | None = None, **kwargs: Any
) -> httpx.Response:
    """Make a request and check the response against the OpenAPI document."""
    response = httpx.request(method, log.url + path, timeout=30, **kwargs)
    body: Any = None
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
    check_response(
        log.document, template or path.split("?")[0], method, response.status_code,
        response.headers.get("content-type", ""), body,
    )
    return response


def checkpoint_of(log: Log, note: str | bytes) -> Any:
    data = note.encode() if isinstance(note, str) else note
    return verify_checkpoint(data, origin=ORIGIN, log_verifier=log.verifier).checkpoint


def b64list(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def submit(log: Log, name: str) -> dict[str, Any]:
    response = call(log, "POST", "/api/v1/entries", content=entry_bytes(name))
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- submissions and the read API ----------------------------------------------------------


def test_submit_returns_a_verifiable_receipt(log: Log) -> None:
    data = entry_bytes("receipt")
    result = submit(log, "receipt")
    assert result["leaf_hash"] == hash_leaf(data).hex()
    checkpoint = checkpoint_of(log, result["checkpoint"])
    assert checkpoint.size == result["tree_size"]
    verify_inclusion(
        result["index"], checkpoint.size, hash_leaf(data),
        b64list(result["inclusion_proof"]), checkpoint.root_hash,
    )
    # A duplicate returns the existing entry.
    again = submit(log, "receipt")
    assert again["index"] == result["index"]


def test_batch_submission(log: Log) -> None:
    entries = [json.loads(entry_bytes(f"batch-{i}")) for i in range(50)]
    response = call(log, "POST", "/api/v1/entries:batch", json={"entries": entries})
    assert response.status_code == 200, response.text
    result = response.json()
    checkpoint = checkpoint_of(log, result["checkpoint"])
    indexes = [item["index"] for item in result["entries"]]
    assert indexes == list(range(indexes[0], indexes[0] + 50))
    for item, raw in zip(result["entries"], entries, strict=True):
        leaf = hash_leaf(json.dumps(raw, separators=(",", ":")).encode())
        assert item["leaf_hash"] == leaf.hex()
        verify_inclusion(
            item["index"], checkpoint.size, leaf, b64list(item["inclusion_proof"]),
            checkpoint.root_hash,
        )


def test_entries_by_index_and_leaf_hash(log: Log) -> None:
    result = submit(log, "lookup")
    by_index = call(log, "GET", f"/api/v1/entries/{result['index']}", "/api/v1/entries/{index}")
    assert by_index.status_code == 200
    body = by_index.json()
    data = base64.b64decode(body["entry"])
    assert data == entry_bytes("lookup") and body["leaf_hash"] == hash_leaf(data).hex()
    checkpoint = checkpoint_of(log, body["checkpoint"])
    verify_inclusion(
        body["index"], checkpoint.size, hash_leaf(data), b64list(body["inclusion_proof"]),
        checkpoint.root_hash,
    )
    by_hash = call(
        log, "GET", f"/api/v1/entries/by-leaf-hash/{result['leaf_hash']}",
        "/api/v1/entries/by-leaf-hash/{leaf_hash}",
    )
    assert by_hash.json()["index"] == result["index"]
    missing = call(log, "GET", "/api/v1/entries/999999", "/api/v1/entries/{index}")
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"
    for bad in ("01", "-1", "x"):
        response = call(log, "GET", f"/api/v1/entries/{bad}", "/api/v1/entries/{index}")
        assert response.status_code == 400 and response.json()["error"] == "malformed"
    bad_hash = call(
        log, "GET", "/api/v1/entries/by-leaf-hash/ABC", "/api/v1/entries/by-leaf-hash/{leaf_hash}"
    )
    assert bad_hash.status_code == 400


def test_inclusion_and_consistency_proofs(log: Log) -> None:
    first = submit(log, "proof-a")
    old = checkpoint_of(log, first["checkpoint"])
    for i in range(5):
        submit(log, f"proof-b{i}")
    latest = checkpoint_of(log, httpx.get(log.url + "/checkpoint").content)
    response = call(log, "GET", f"/api/v1/proof/inclusion?leaf_hash={first['leaf_hash']}")
    body = response.json()
    assert body["tree_size"] == latest.size and "checkpoint" in body
    verify_inclusion(
        first["index"], latest.size, bytes.fromhex(first["leaf_hash"]),
        b64list(body["inclusion_proof"]), latest.root_hash,
    )
    at_old = call(
        log, "GET", f"/api/v1/proof/inclusion?index={first['index']}&tree_size={old.size}"
    ).json()
    verify_inclusion(
        first["index"], old.size, bytes.fromhex(first["leaf_hash"]),
        b64list(at_old["inclusion_proof"]), old.root_hash,
    )
    consistency = call(log, "GET", f"/api/v1/proof/consistency?old={old.size}").json()
    assert consistency["new"] == latest.size
    verify_consistency(
        old.size, latest.size, b64list(consistency["proof"]), old.root_hash, latest.root_hash
    )
    for query, status in [
        (f"?old={latest.size + 1}&new={latest.size + 1}", 404),
        ("?old=0", 400),
        (f"?old={latest.size}&new=1", 400),
        ("", 400),
    ]:
        response = call(log, "GET", "/api/v1/proof/consistency" + query)
        assert response.status_code == status, query
    for query, status in [
        (f"?index={latest.size}", 400),
        ("?index=0&leaf_hash=" + "0" * 64, 400),
        ("?leaf_hash=" + "0" * 64, 404),
        (f"?index=0&tree_size={latest.size + 10}", 404),
        ("", 400),
    ]:
        response = call(log, "GET", "/api/v1/proof/inclusion" + query)
        assert response.status_code == status, query


def test_search_paginates_and_verifies(log: Log) -> None:
    carol = signer("carol.example")
    payloads = [statement(f"search-{i}", digest="ab" * 32) for i in range(7)]
    leaves = []
    for payload in payloads:
        data = format_envelope(envelope(payload, [carol]))
        leaves.append(hash_leaf(data).hex())
        response = call(log, "POST", "/api/v1/entries", content=data)
        assert response.status_code == 200
    for query in (f"digest=sha256:{'ab' * 32}", "signer=" + carol.vkey.replace("+", "%2B")):
        seen: list[str] = []
        token = None
        while True:
            suffix = f"&page_token={token}" if token else ""
            body = call(log, "GET", f"/api/v1/search?{query}&limit=3{suffix}").json()
            checkpoint = checkpoint_of(log, body["checkpoint"])
            for item in body["entries"]:
                leaf = hash_leaf(base64.b64decode(item["entry"]))
                verify_inclusion(
                    item["index"], checkpoint.size, leaf, b64list(item["inclusion_proof"]),
                    checkpoint.root_hash,
                )
                seen.append(item["leaf_hash"])
            token = body["next_page_token"]
            if token is None:
                break
        assert seen == leaves, query
    empty = call(log, "GET", "/api/v1/search?repository=nothing").json()
    assert empty["entries"] == [] and empty["next_page_token"] is None
    for query in ("", "digest=x&signer=y", "digest=nocolon", "digest=a:b&page_token=01"):
        assert call(log, "GET", f"/api/v1/search?{query}").status_code == 400, query


def test_read_path_is_byte_identical_to_the_tiles_directory(log: Log) -> None:
    for i in range(300):  # cross a tile boundary
        call(log, "POST", "/api/v1/entries", content=entry_bytes(f"tile-{i}"))
    response = call(log, "GET", "/checkpoint")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    checkpoint = checkpoint_of(log, response.content)
    tiles_dir = log.directory / "tiles"
    assert response.content == (tiles_dir / "checkpoint").read_bytes() or (
        checkpoint_of(log, (tiles_dir / "checkpoint").read_bytes()).size > checkpoint.size
    )
    tiles = tiles_for_size(checkpoint.size)
    tiles += [t.entry_bundle() for t in tiles if t.level == 0]
    for tile in tiles:
        response = call(log, "GET", "/" + tile_path(tile), "/tile/{path}")
        assert response.status_code == 200, tile_path(tile)
        assert response.content == (tiles_dir / tile_path(tile)).read_bytes()
        assert response.headers["content-type"] == "application/octet-stream"
        immutable = "immutable" in response.headers["cache-control"]
        assert immutable == (not tile.is_partial)
    for path in ("/tile/0/999", "/tile/0/000.p/0", "/tile/00/000", "/tile/../log.key",
                 "/tile/entries/x001", "/tile/0/x000/001"):
        response = call(log, "GET", path, "/tile/{path}")
        assert response.status_code in (400, 404), path


# -- bad input: a specific 4xx each, nothing written ---------------------------------------


def rejected(log: Log, response: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code, body
    assert fragment in body["message"], body


def test_pipelined_requests_get_whole_answers_in_order(log: Log) -> None:
    """Answers are written a turn of the event loop at a time (vigil.cli.http_protocol):
    requests sent together on one connection still get each answer whole, in order."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(log.url)
    paths = ["/checkpoint", "/api/v1/proof/consistency?old_size=0&new_size=0", "/api/v1/entries/0"]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))
        data = b""
        answers: list[tuple[bytes, bytes]] = []
        while len(answers) < len(paths):
            head, separator, rest = data.partition(b"\r\n\r\n")
            if separator:
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                if len(rest) >= length:
                    answers.append((head.split(b"\r\n", 1)[0], rest[:length]))
                    data = rest[length:]
                    continue
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(answers)} answers"
            data += chunk
    assert answers[0][0] == b"HTTP/1.1 200 OK"
    assert answers[0][1].startswith(ORIGIN.encode() + b"\n")
    for (status, body), path in zip(answers[1:], paths[1:], strict=True):
        alone = httpx.get(log.url + path, timeout=10)  # the same request on its own
        assert status.split(b" ")[1] == str(alone.status_code).encode()
        assert json.loads(body) == alone.json()
    assert data == b""


def test_bad_input_is_refused_and_nothing_is_written(log: Log) -> None:
    submit(log, "before-bad-input")
    count = log.entry_count()
    alice = signer()
    good = envelope(statement("bad-input"), [alice])
    forged = Envelope(good.payload_type, good.payload, (DsseSignature(alice.vkey, bytes(64)),))
    too_many = envelope(statement("bad-input"), [signer("m.example", n) for n in range(4)])
    cases = [
        (b"{", 400, "malformed", "invalid JSON"),
        (b'{"payload": "x"}', 400, "malformed", "DSSE envelope"),
        (b"[1, 2]", 400, "malformed", "want a JSON object"),
        (format_envelope(forged), 403, "bad-signature", "does not verify"),
        (format_envelope(too_many), 400, "malformed", "got 4 signatures, want at most 3"),
        (
            entry_bytes("bad-input", predicate_type="https://example.com/unknown/v1"),
            422, "unknown-kind", "not accepted by this log",
        ),
        (entry_bytes("bad-input", predicate={"nope": 1}), 422, "bad-statement", "unknown field"),
        (format_envelope(envelope(b"{}", [alice])), 422, "bad-statement", "in-toto statement"),
        (b" " * 200_000, 413, "too-large", "exceeds the limit"),
    ]
    for body, status, code, fragment in cases:
        response = call(log, "POST", "/api/v1/entries", content=body)
        rejected(log, response, status, code, fragment)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        for _ in range(100):
            yield b" " * 10_000

    response = call(log, "POST", "/api/v1/entries", content=chunks())
    rejected(log, response, 413, "too-large", "exceeds the limit")

    batch = [json.loads(entry_bytes(f"b-{i}")) for i in range(3)]
    batch.append(json.loads(format_envelope(forged)))
    response = call(log, "POST", "/api/v1/entries:batch", json={"entries": batch})
    rejected(log, response, 403, "bad-signature", "batch entries[3]")
    response = call(
        log, "POST", "/api/v1/entries:batch",
        json={"entries": [json.loads(entry_bytes(f"big-{i}")) for i in range(201)]},
    )
    rejected(log, response, 413, "too-large", "201 entries, want at most 200")
    response = call(log, "POST", "/api/v1/entries:batch", json={"entries": []})
    rejected(log, response, 400, "malformed", "non-empty array")
    response = call(log, "POST", "/api/v1/entries:batch", json={"entries": [1], "x": 2})
    rejected(log, response, 400, "malformed", "exactly one field")
    # More entries than the pool takes: 503 with Retry-After, nothing queued.
    response = call(
        log, "POST", "/api/v1/entries:batch",
        json={"entries": [json.loads(entry_bytes(f"push-{i}")) for i in range(150)]},
    )
    rejected(log, response, 503, "pushback", "busy")
    assert response.headers["retry-after"] == "1"
    assert log.entry_count() == count
    unknown = httpx.get(log.url + "/api/v1/nothing")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not-found"


# -- process-level behaviour ----------------------------------------------------------------


def test_second_server_on_the_same_storage_refuses(log: Log) -> None:
    with pytest.raises(RuntimeError) as info:
        ServerProcess(log.directory, log_path=log.directory / "second.log")
    message = str(info.value)
    assert "another server is sequencing this log" in message
    assert "pid " in message and "log.db.lock" in message
    # The first server is unaffected.
    submit(log, "after-second-server")


def test_cli_client_verifies_what_it_receives(log: Log, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"e{i}.json"
        path.write_bytes(entry_bytes(f"cli-{i}"))
        files.append(str(path))
    common = ["--url", log.url, "--log-dir", str(log.directory)]
    output = vigil("log", "submit", *files, *common).stdout
    receipts = [json.loads(line) for line in output.splitlines()]
    assert [r["status"] for r in receipts] == ["included"] * 3
    got = json.loads(vigil("log", "get", str(receipts[1]["index"]), *common).stdout)
    assert got["verified"] and got["leaf_hash"] == receipts[1]["leaf_hash"]
    saved = tmp_path / "checkpoint"
    vigil("log", "checkpoint", *common, "--out", str(saved))
    vigil("log", "submit", *files[:1], "--url", log.url, "--log-key", log.config.public_key)
    submit(log, "cli-later")
    result = json.loads(
        vigil("log", "proof", "consistency", "--old-checkpoint", str(saved), *common).stdout
    )
    assert result["verified"] and result["new"] > result["old"]
    result = json.loads(vigil("log", "proof", "inclusion", "--file", files[2], *common).stdout)
    assert result["index"] == receipts[2]["index"]
    lines = vigil("log", "search", "--signer", signer().vkey, "--all", *common).stdout.splitlines()
    assert len(lines) >= 3
    # A wrong log key is a verification failure (exit 1), not a crash.
    wrong = signer("test.example/log", 99).vkey
    failed = vigil("log", "get", "0", "--url", log.url, "--log-key", wrong, check=False)
    assert failed.returncode == 1 and "signature" in failed.stderr
    missing = vigil("log", "get", "99999", *common, check=False)
    assert missing.returncode == 1 and "not in the published tree" in missing.stderr
    down = vigil("log", "checkpoint", "--url", "http://127.0.0.1:9", "--log-dir",
                 str(log.directory), check=False)
    assert down.returncode == 3


def test_openapi_lists_every_route(log: Log) -> None:
    assert set(log.document["paths"]) == {
        "/checkpoint", "/tile/{path}", "/api/v1/entries", "/api/v1/entries:batch",
        "/api/v1/entries/{index}", "/api/v1/entries/by-leaf-hash/{leaf_hash}",
        "/api/v1/proof/inclusion", "/api/v1/proof/consistency", "/api/v1/search",
        "/api/v1/status/{repository}", "/api/v1/bundle/{repository}", "/openapi.json",
    }
    assert log.document["openapi"].startswith("3.")


def test_postgresql_backed_server(tmp_path: Path) -> None:
    with pg_schema() as url:
        directory = tmp_path / "pglog"
        init_log(directory, db=url)
        server = ServerProcess(directory)
        try:
            server.wait_ready()
            response = httpx.post(
                server.url + "/api/v1/entries", content=entry_bytes("pg"), timeout=30
            )
            assert response.status_code == 200, response.text
            index = response.json()["index"]
        finally:
            server.stop()
        server = ServerProcess(directory)
        try:
            server.wait_ready()
            body = httpx.get(f"{server.url}/api/v1/entries/{index}", timeout=30).json()
            assert base64.b64decode(body["entry"]) == entry_bytes("pg")
            second = None
            try:
                second = ServerProcess(directory, log_path=directory / "second.log")
            except RuntimeError as exc:
                assert "advisory lock" in str(exc)
            assert second is None
        finally:
            server.stop()
