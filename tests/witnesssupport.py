"""Helpers shared by the witness tests: keys, checkpoints, requests, witness processes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from logsupport import CLI, ListeningProcess, vigil
from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import CosignatureSigner, generate_cosigner
from vigil.core.merkle import EMPTY_ROOT, hash_leaf, root_from_leaf_hashes
from vigil.core.note import Ed25519Signer, generate_signer, sign_note
from vigil.core.policy import Policy, parse_policy
from vigil.core.prove import prove_consistency
from vigil.core.tlog_witness import format_add_checkpoint
from vigil.log.config import format_config, parse_config

ORIGIN = "log.example/witnessed"


def log_signer(origin: str = ORIGIN, number: int = 1) -> Ed25519Signer:
    """A deterministic log key."""
    return generate_signer(origin, seed=hashlib.sha256(f"log/{origin}/{number}".encode()).digest())


def cosigner(name: str = "witness.example/w1", number: int = 1) -> CosignatureSigner:
    """A deterministic witness key."""
    return generate_cosigner(name, seed=hashlib.sha256(f"w/{name}/{number}".encode()).digest())


class Tree:
    """An in-memory RFC 6962 tree of leaves ``prefix-0, prefix-1, ...`` (roots and proofs)."""

    def __init__(self, prefix: str = "leaf") -> None:
        self.prefix = prefix
        self.leaves: list[bytes] = []

    def grow(self, size: int) -> Tree:
        while len(self.leaves) < size:
            self.leaves.append(hash_leaf(f"{self.prefix}-{len(self.leaves)}".encode()))
        return self

    def root(self, size: int) -> bytes:
        self.grow(size)
        return EMPTY_ROOT if size == 0 else root_from_leaf_hashes(self.leaves[:size])

    def proof(self, old: int, new: int) -> list[bytes]:
        if old == 0 or old == new:
            return []
        self.grow(new)
        leaves = self.leaves

        def read(ids: Sequence[tuple[int, int]]) -> list[bytes]:
            out = []
            for level, index in ids:
                start, end = index << level, (index + 1) << level
                out.append(root_from_leaf_hashes(leaves[start:end]))
            return out

        return prove_consistency(old, new, read)


def checkpoint_note(
    signer: Ed25519Signer, size: int, root: bytes, origin: str | None = None
) -> bytes:
    """A checkpoint note signed by ``signer``."""
    text = format_checkpoint(Checkpoint(origin or signer.name, size, root))
    return sign_note(text, [signer])


def request_body(
    signer: Ed25519Signer, tree: Tree, old: int, size: int, *, origin: str | None = None
) -> bytes:
    """An add-checkpoint body from ``old`` to ``size`` of ``tree``, with a valid proof."""
    note = checkpoint_note(signer, size, tree.root(size), origin)
    return format_add_checkpoint(old, tree.proof(old, size), note)


class WitnessProcess(ListeningProcess):
    """A `vigil witness serve` subprocess on an ephemeral loopback port."""

    def __init__(self, directory: Path, port: int = 0) -> None:
        self.directory = directory
        super().__init__(
            [*CLI, "witness", "serve", str(directory), "--host", "127.0.0.1",
             "--port", str(port)],
            directory / "server.log",
        )
        self.port = int(self.url.rsplit(":", 1)[1])

    def post(self, body: bytes, timeout: float = 10) -> httpx.Response:
        return httpx.post(self.url + "/add-checkpoint", content=body, timeout=timeout)


def init_witness(directory: Path, name: str, logs: Sequence[tuple[str, str]]) -> str:
    """`vigil witness init` + `add-log` for each (origin, vkey); returns the witness vkey."""
    out = vigil("witness", "init", str(directory), "--name", name).stdout
    vkey = next(
        line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("witness key: ")
    )
    for origin, log_vkey in logs:
        vigil("witness", "add-log", str(directory), "--origin", origin, "--vkey", log_vkey)
    return vkey


def write_policy(
    log_dir: Path, log_vkey: str, witnesses: Sequence[tuple[str, str]], *, threshold: int = 2,
    submit_wait_s: float = 3.0,
) -> Policy:
    """Make the log at ``log_dir`` collect cosignatures: a tlog-policy naming the
    witnesses (vkey, url) with a quorum of ``threshold``, and fast checkpoints."""
    text = f"log {log_vkey}\n" + "".join(
        f"witness w{i} {vkey} {url}\n" for i, (vkey, url) in enumerate(witnesses)
    ) + f"group two {threshold} " + " ".join(f"w{i}" for i in range(len(witnesses))) \
        + "\nquorum two\n"
    (log_dir / "witnesses.policy").write_text(text)
    config = parse_config((log_dir / "config.toml").read_text())
    config = replace(
        config,
        sequencer=replace(config.sequencer, checkpoint_interval_s=0.05,
                          submit_wait_s=submit_wait_s),
        witnesses=replace(config.witnesses, policy_file="witnesses.policy", timeout_s=1.5),
    )
    (log_dir / "config.toml").write_text(format_config(config))
    return parse_policy(text)
