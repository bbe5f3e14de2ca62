"""``vigil demo --self-check``: the core formats, in memory, in one process.

No servers, no tools: every step is real cryptography over real bytes (a log
of signed statements, tiles, a checkpoint, three witnesses, proofs), and each
attack at the end must be caught, or it exits non-zero. ``vigil demo`` without
the flag runs the whole federation instead (:mod:`vigil.cli.demo.story`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from vigil.core import (
    checkpoint,
    cosignature,
    dsse,
    intoto,
    merkle,
    note,
    policy,
    proof,
    prove,
    tiles,
    tlog_proof,
)
from vigil.core.compact import CompactRange
from vigil.errors import VigilError

ORIGIN = "demo.vigil.example/log"
ARTIFACT_TYPE = "https://vigil.dev/artifact/v1"
ENTRIES = 2000


class Story:
    """Prints numbered steps and counts the ones that did not go as expected."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.failures = 0

    def step(self, text: str) -> None:
        self.console.print(f"\n[bold]{text}[/bold]")

    def ok(self, text: str) -> None:
        self.console.print(f"  [green]✓[/green] {text}")

    def caught(self, attack: str, check: Callable[[], object]) -> None:
        """Run a check that must fail with a VigilError; report what caught it."""
        try:
            check()
        except VigilError as exc:
            self.console.print(f"  [green]✓ caught[/green] {attack}\n      [dim]{exc}[/dim]")
            return
        self.failures += 1
        self.console.print(f"  [red]✗ NOT caught[/red] {attack}")


def _statement_envelope(publisher: note.Ed25519Signer, i: int) -> bytes:
    digest = merkle.hash_leaf(b"artifact %d" % i).hex()
    statement = intoto.build_statement(
        [intoto.Subject(name=f"pkg-{i}.rpm", digest={"sha256": digest})],
        ARTIFACT_TYPE,
        {"description": f"demo artifact {i}"},
    )
    envelope = dsse.sign_envelope(dsse.PAYLOAD_TYPE_INTOTO, statement.raw, [publisher])
    return dsse.format_envelope(envelope)


def run_self_check(entries_count: int = ENTRIES) -> int:
    """Run the story; exit 0 only if every check passed and every attack was caught."""
    console = Console(highlight=False)
    story = Story(console)
    now = int(time.time())
    console.print("[bold cyan]Vigil core self-check[/bold cyan]: a log, three witnesses, "
                  "a client, and four attacks.")

    story.step("1. A publisher signs in-toto statements (DSSE) about its artifacts.")
    publisher = note.generate_signer("publisher.demo.example")
    entries = [_statement_envelope(publisher, i) for i in range(entries_count)]
    parsed = dsse.parse_envelope(entries[42])
    dsse.verify_envelope(parsed, [publisher.verifier()])
    story.ok(f"{len(entries)} signed statements; entry 42 verifies under {publisher.vkey}")

    story.step("2. The log sequences them into an RFC 6962 tree, tiles and a checkpoint.")
    log_key = note.generate_signer(ORIGIN)
    leaf_hashes = [merkle.hash_leaf(e) for e in entries]
    tree = merkle.MerkleTree()
    half = len(leaf_hashes) // 2
    tree.extend(leaf_hashes[:half])
    old_root = tree.root()
    frontier = CompactRange()
    frontier.extend(leaf_hashes)
    tree.extend(leaf_hashes[half:])
    assert frontier.root() == tree.root()
    cp = checkpoint.Checkpoint(ORIGIN, tree.size, tree.root())
    text = checkpoint.format_checkpoint(cp)
    signed = note.sign_note(text, [log_key])
    story.ok(f"checkpoint: size {cp.size}, root {cp.root_hash.hex()[:16]}…")
    tile_data = {
        t: tiles.format_hash_tile(
            [tree.node(t.level * tiles.TILE_HEIGHT, t.start + k) for k in range(t.width)]
        )
        for t in tiles.tiles_for_size(tree.size)
    }
    story.ok(f"{len(tile_data)} hash tiles: " + ", ".join(tiles.tile_path(t) for t in tile_data))

    story.step("3. Three independent witnesses cosign it (cosignature/v1, timestamped).")
    witnesses = [cosignature.generate_cosigner(f"witness{i}.demo.example") for i in (1, 2, 3)]
    lines = list(note.parse_note(signed).signatures)
    lines += [w.sign_checkpoint(text, now) for w in witnesses[:2]]
    cosigned = note.format_note(note.Note(text, tuple(lines)))
    policy_text = (
        f"log {log_key.vkey}\n"
        + "".join(f"witness w{i} {w.vkey}\n" for i, w in enumerate(witnesses, 1))
        + "group two-of-three 2 w1 w2 w3\nquorum two-of-three\n"
    )
    trust = policy.parse_policy(policy_text)
    verified = policy.verify_policy_checkpoint(trust, cosigned, origin=ORIGIN)
    stamps = sorted({c.timestamp for c in verified.cosignatures if c.timestamp is not None})
    story.ok(f"2-of-3 witness quorum met; cosigned at {stamps}")

    story.step("4. A client checks inclusion and consistency without trusting the log.")
    index = 1234 % tree.size
    hashes = prove.prove_inclusion(index, tree.size, tiles.TileReader(tree.size, _fetch(tile_data)))
    proof.verify_inclusion(index, tree.size, leaf_hashes[index], hashes, cp.root_hash)
    story.ok(f"entry {index} is in the tree ({len(hashes)} hashes, read from tiles)")
    consistency = tree.consistency_proof(half, tree.size)
    proof.verify_consistency(half, tree.size, consistency, old_root, cp.root_hash)
    story.ok(f"the tree of size {half} is a prefix of the tree of size {tree.size}")
    offline = tlog_proof.TlogProof(index, tuple(hashes), cosigned)
    blob = tlog_proof.format_tlog_proof(offline)
    tlog_proof.verify_tlog_proof_policy(
        tlog_proof.parse_tlog_proof(blob), leaf_hashes[index], trust
    )
    story.ok(f"an offline tlog-proof of {len(blob)} bytes verifies with no network")

    story.step("5. Attacks.")
    tampered = bytearray(entries[index])
    tampered[-3] ^= 1
    story.caught(
        "a tampered entry claims inclusion",
        lambda: proof.verify_inclusion(
            index, tree.size, merkle.hash_leaf(bytes(tampered)), hashes, cp.root_hash
        ),
    )
    other_root = checkpoint.Checkpoint(ORIGIN, cp.size, old_root)
    forged = cosigned.replace(text.encode(), checkpoint.format_checkpoint(other_root).encode())
    story.caught(
        "the log forges a checkpoint under its witnesses' signatures",
        lambda: policy.verify_policy_checkpoint(trust, forged, origin=ORIGIN),
    )
    one_witness = note.format_note(note.Note(text, tuple(lines[:2])))
    story.caught(
        "a split view cosigned by only one (colluding) witness",
        lambda: policy.verify_policy_checkpoint(trust, one_witness, origin=ORIGIN),
    )
    fork = merkle.MerkleTree()
    fork.extend([*leaf_hashes[: half - 1], merkle.hash_leaf(b"rewritten history")])
    story.caught(
        "a forked history (one old entry rewritten) claims to be consistent",
        lambda: proof.verify_consistency(half, tree.size, consistency, fork.root(), cp.root_hash),
    )
    forged_sig = dsse.parse_envelope(entries[7])
    other = dsse.Envelope(forged_sig.payload_type, forged_sig.payload + b" ", forged_sig.signatures)
    story.caught(
        "a statement altered after signing",
        lambda: dsse.verify_envelope(other, [publisher.verifier()]),
    )

    if story.failures:
        console.print(f"\n[bold red]{story.failures} check(s) failed.[/bold red]")
        return 1
    console.print("\n[bold green]All checks passed and every attack was caught.[/bold green]")
    return 0


def _fetch(tile_data: dict[tiles.TileID, bytes]) -> tiles.TileFetcher:
    def fetch(ids: Any) -> list[bytes]:
        return [tile_data[t] for t in ids]

    return fetch
