"""An in-memory log, honest or not, that serves verification bundles (for client tests).

It judges entries as the real log does (charterkit.Sim: the core status map),
keeps the RFC 6962 tree, signs checkpoints with the status-map root and has
witnesses cosign them at a chosen time; :meth:`MemoryLog.bundle` assembles a
bundle with the same function the server uses (vigil.core.bundle.build_bundle).
Attack tests then lie in one place at a time: a map that accepts what the
rules refuse (:class:`LaxStatusMap`), a forged checkpoint, a tampered proof.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from charterkit import CharterSpec, Repo, Sim, key, sign_charter
from vigil.core import merkle
from vigil.core.bundle import Bundle, build_bundle
from vigil.core.charter import Charter, parse_charter
from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.cosignature import CosignatureSigner, generate_cosigner
from vigil.core.dsse import Envelope
from vigil.core.encoding import b64encode
from vigil.core.note import Ed25519Signer, format_note, generate_signer, parse_note, sign_note
from vigil.core.prove import prove_consistency, prove_inclusion
from vigil.core.statements import RELEASE_PREDICATE_TYPE, parse_release
from vigil.core.statusmap import (
    STATUS_MAP_EXTENSION,
    LoggedEntry,
    StatusMap,
    _with_release,
)

ORIGIN = "log.test.example/vigil"
LOG_KEY = generate_signer(ORIGIN, seed=hashlib.sha256(b"clientkit/log").digest())
WITNESSES = [
    generate_cosigner(f"w{i}.test.example", seed=hashlib.sha256(f"ck/w{i}".encode()).digest())
    for i in range(3)
]
BOARD = [key("ck-board", i) for i in range(3)]
PUB, PUB2, MALLORY = key("ck-pub"), key("ck-pub2"), key("ck-mallory")
RB1, RB2, SEC = key("ck-rb1"), key("ck-rb2"), key("ck-sec")
REPO = "oss"


WITNESS_VKEYS = tuple(w.vkey for w in WITNESSES)


def witness_toml(vkeys: Sequence[str] = WITNESS_VKEYS, threshold: int = 2) -> str:
    """The charter's [witnesses] section: every witness, quorum ``threshold`` of them."""
    lines = ["", "[witnesses]", 'quorum = "quorum"', ""]
    for i, vkey in enumerate(vkeys):
        lines += ["[[witnesses.witness]]", f'name = "w{i}"', f'key = "{vkey}"', ""]
    members = ", ".join(f'"w{i}"' for i in range(len(vkeys)))
    lines += ["[[witnesses.group]]", 'name = "quorum"', f"threshold = {threshold}",
              f"members = [{members}]", ""]
    return "\n".join(lines)


def charter_spec(
    witnesses: Sequence[str] = WITNESS_VKEYS,
    extra_repositories: Sequence[Repo] = (), **repo: object,
) -> CharterSpec:
    """Version 1: 2-of-3 foundation, one log, 2-of-3 witnesses, repository ``oss``."""
    options: dict[str, object] = {"rebuilders": [RB1, RB2], "rebuilds_required": 1,
                                  "freshness_s": 3600}
    options.update(repo)
    return CharterSpec(
        foundation=BOARD, threshold=2, logs=[LOG_KEY],
        repositories=[Repo(REPO, [PUB], **options), *extra_repositories],  # type: ignore[arg-type]
        security=[SEC], extra=witness_toml(witnesses),
    )


def signed_charter(spec: CharterSpec) -> Envelope:
    """The charter signed by two of the three board members."""
    return sign_charter(spec.text(), BOARD[:2])


def charter_of(spec: CharterSpec) -> Charter:
    return parse_charter(spec.text())


def metadata(version: int, variant: str = "") -> bytes:
    """A repomd.xml for ``version``."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<repomd><revision>{version}{variant}'
            "</revision></repomd>\n").encode()


def digest_of(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class LaxStatusMap(StatusMap):
    """A lying log's map: it records any release as the latest, signers unchecked."""

    def _apply(self, entry: LoggedEntry) -> None:
        if entry.statement.predicate_type != RELEASE_PREDICATE_TYPE:
            super()._apply(entry)
            return
        release = parse_release(entry.statement)
        record = self._repository_record(release.repository)
        self._set_record(_with_release(record, entry.index, release, 0))
        self._set_attr("size", self.size + 1)


@dataclass
class MemoryLog:
    """See the module docstring."""

    lax: bool = False

    def __post_init__(self) -> None:
        self.sim = Sim()
        if self.lax:
            self.sim.state = LaxStatusMap()
        self.leaves: list[bytes] = []

    @property
    def state(self) -> StatusMap:
        return self.sim.state

    @property
    def entries(self) -> list[bytes]:
        return self.sim.entries

    def submit(self, envelope: Envelope) -> int:
        """Judge and append, as the real log does (or as a lax one does)."""
        index = self.sim.submit(envelope)
        self.leaves.append(merkle.hash_leaf(self.sim.entries[-1]))
        return index

    def _nodes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        return [merkle.root_from_leaf_hashes(self.leaves[i << lv : (i + 1) << lv])
                for lv, i in ids]

    def checkpoint(
        self, *, at: int | None = None, witnesses: Sequence[CosignatureSigner] = WITNESSES[:2],
        log_key: Ed25519Signer = LOG_KEY,
    ) -> bytes:
        """The current checkpoint, signed and cosigned at ``at`` (default now)."""
        root = self.state.root()
        assert root is not None
        text = format_checkpoint(Checkpoint(
            ORIGIN, len(self.leaves), merkle.root_from_leaf_hashes(self.leaves),
            (f"{STATUS_MAP_EXTENSION} {b64encode(root)}",),
        ))
        note = parse_note(sign_note(text, [log_key]))
        stamp = int(time.time()) if at is None else at
        cosigs = [w.sign_checkpoint(text, stamp) for w in witnesses]
        return format_note(type(note)(note.text, (*note.signatures, *cosigs)))

    def bundle(
        self, repository: str = REPO, *, old_size: int = 0, charter_version: int = 1,
        checkpoint: bytes | None = None,
    ) -> Bundle:
        snapshot = self.state.snapshot()
        assert snapshot is not None
        size = len(self.leaves)
        return build_bundle(
            repository=repository,
            checkpoint=checkpoint or self.checkpoint(),
            size=size,
            snapshot=snapshot,
            charter_indexes=self.state.charter_indexes,
            charter_version=charter_version,
            old_size=old_size,
            read_entries=lambda ids: [self.entries[i] for i in ids],
            inclusion_proofs=lambda ids, n: [prove_inclusion(i, n, self._nodes) for i in ids],
            consistency_proof=lambda a, b: prove_consistency(a, b, self._nodes),
        )
