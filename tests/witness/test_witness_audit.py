"""The auditing witness in-process, against an in-memory tile source (issue 5 "Auditing mode").

Each attack is a log that signs a consistent checkpoint the witness would
cosign without auditing; the auditing witness refuses it with 422 (AuditError,
kept as evidence), its audited state does not move, and the honest
continuation is still cosigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

import ownerkit
from charterkit import (
    Repo,
    advisory,
    artifact,
    charter_entry,
    one_repository,
    rebuild,
    release,
)
from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.dsse import Envelope, format_envelope
from vigil.core.encoding import b64encode
from vigil.core.merkle import EMPTY_ROOT, hash_leaf, root_from_leaf_hashes
from vigil.core.note import sign_note
from vigil.core.prove import prove_consistency
from vigil.core.statusmap import STATUS_MAP_EXTENSION, replay_root
from vigil.core.tiles import TILE_WIDTH, TileID, format_entry_bundle, tile_path
from vigil.core.tlog_witness import format_add_checkpoint
from vigil.errors import TransportError
from vigil.witness import AuditError, SQLiteWitnessStore, WitnessedLog, WitnessService
from vigil.witness.audit import TileAuditor
from vigil.witness.config import add_log, format_config, parse_config
from witnesssupport import ORIGIN, cosigner, log_signer

LOG_KEY = log_signer()
WITNESS = cosigner()
URL = "https://log.example/witnessed"
SPEC, BOARD, PUB, RB, SEC = one_repository("audit")
HONEST = object()


class TileLog:
    """A log as its tiles show it: entries (honest or not), bundles, signed checkpoints."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.tiles: dict[str, bytes] = {}
        self.fetched: list[str] = []
        self.down = False

    # -- the log's side --------------------------------------------------------------

    def add(self, *items: Envelope | bytes) -> int:
        """Append entries (whatever the rules say) and write the tiles of the new size."""
        for item in items:
            self.entries.append(item if isinstance(item, bytes) else format_envelope(item))
        size = len(self.entries)
        for index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
            chunk = self.entries[index * TILE_WIDTH : (index + 1) * TILE_WIDTH]
            tile = TileID(0, index, len(chunk), entries=True)
            self.tiles[tile_path(tile)] = format_entry_bundle(chunk)
        return size

    def root(self, size: int) -> bytes:
        leaves = [hash_leaf(e) for e in self.entries[:size]]
        return root_from_leaf_hashes(leaves) if leaves else EMPTY_ROOT

    def body(
        self, old: int, size: int | None = None, *, status: object = HONEST,
        root: bytes | None = None,
    ) -> bytes:
        """An add-checkpoint request with a valid proof; ``status`` None (no
        line), a 32-byte root, or the honest replay's root."""
        size = len(self.entries) if size is None else size
        if status is HONEST:
            status = replay_root(self.entries[:size])
        assert status is None or isinstance(status, bytes)
        extensions = () if status is None else (f"{STATUS_MAP_EXTENSION} {b64encode(status)}",)
        checkpoint = Checkpoint(ORIGIN, size, root or self.root(size), extensions)
        leaves = [hash_leaf(e) for e in self.entries]

        def read(ids: Sequence[tuple[int, int]]) -> list[bytes]:
            return [root_from_leaf_hashes(leaves[i << lv : (i + 1) << lv]) for lv, i in ids]

        proof = [] if old in (0, size) else prove_consistency(old, size, read)
        note = sign_note(format_checkpoint(checkpoint), [LOG_KEY])
        return format_add_checkpoint(old, proof, note)

    # -- the Fetcher the auditor uses ------------------------------------------------

    def fetch(self, path: str, *, max_bytes: int = 1 << 24) -> bytes | None:
        if self.down:
            raise TransportError(f"GET {URL}/{path}: connection refused")
        self.fetched.append(path)
        return self.tiles.get(path)


class Rig:
    """A witness service with an auditor over a TileLog, on a SQLite store in tmp_path."""

    def __init__(self, tmp_path: Path, log: TileLog, *, workers: int = 0) -> None:
        self.log = log
        self.auditor = TileAuditor(lambda _log: log, workers=workers)
        self.witnessed = WitnessedLog(ORIGIN, (LOG_KEY.verifier(),), URL, audit=True)
        self.service = WitnessService(
            signer=WITNESS, logs=[self.witnessed], store=SQLiteWitnessStore(tmp_path / "w.db"),
            clock=lambda: 1_700_000_000, auditor=self.auditor,
        )

    def close(self) -> None:
        self.service.close()
        self.auditor.close()

    def size(self) -> int:
        states = self.service.latest_states()
        return states[0].size if states else 0

    def cosign(self, body: bytes | None = None, **kwargs: object) -> None:
        if body is None:
            body = self.log.body(self.size(), **kwargs)  # type: ignore[arg-type]
        self.service.add_checkpoint(body)

    def refused(self, match: str, body: bytes | None = None, **kwargs: object) -> AuditError:
        before = (self.size(), self.auditor.audited_size(ORIGIN), self.evidence())
        with pytest.raises(AuditError, match=match) as info:
            self.cosign(body, **kwargs)
        # Refused: the witness's and the auditor's state did not move; evidence kept.
        assert (self.size(), self.auditor.audited_size(ORIGIN)) == before[:2]
        assert self.evidence() == before[2] + 1
        return info.value

    def evidence(self) -> int:
        return len(self.service.evidence(ORIGIN))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    log = TileLog()
    log.add(charter_entry(SPEC.text(), [BOARD]))
    rig = Rig(tmp_path, log)
    rig.cosign()
    return rig


def test_honest_history_is_cosigned_step_by_step(rig: Rig) -> None:
    log = rig.log
    log.add(release("oss", 1, [PUB]))
    rig.cosign()
    log.add(rebuild("oss", 1, [RB]), release("oss", 2, [PUB]))
    rig.cosign()
    rig.cosign()  # the same checkpoint again (a heartbeat): no entries, same map
    log.add(advisory("oss", "VSA-1", [SEC], version=2))
    log.add(charter_entry(SPEC.next(repositories=[Repo("oss", [PUB, RB])]).text(), [BOARD]))
    log.add(*[artifact(f"a{i}", [PUB]) for i in range(300)])  # crosses a bundle boundary
    rig.cosign()
    assert rig.size() == rig.auditor.audited_size(ORIGIN) == 306
    assert rig.evidence() == 0


def test_each_checkpoint_fetches_only_its_new_bundles(rig: Rig) -> None:
    log = rig.log
    log.add(*[artifact(f"a{i}", [PUB]) for i in range(600)])
    rig.cosign()
    log.fetched.clear()
    log.add(release("oss", 1, [PUB]))
    rig.cosign()
    # Entries [601, 602) live in bundle 2 only: no replay from 0.
    assert log.fetched == ["tile/entries/002.p/90"]


def test_refuses_entries_that_do_not_hash_to_the_checkpoint(rig: Rig) -> None:
    log = rig.log
    log.add(release("oss", 1, [PUB]))
    signed = log.body(1)
    # The tiles serve another entry than the one the log signed.
    log.entries[1] = format_envelope(release("oss", 1, [PUB], published_s=5))
    log.add()
    error = rig.refused("entries \\[1, 2\\) served at .* do not hash to the checkpoint",
                        body=signed)
    assert b64encode(log.root(2)) in str(error)


def test_refuses_an_entry_the_rules_refuse(rig: Rig) -> None:
    log = rig.log
    log.add(release("oss", 2, [PUB]))
    log.add(release("oss", 1, [PUB]))  # a downgrade the log must not accept
    rig.refused("entry 2: the log accepted an entry its rules refuse: .*downgrade")
    # Signed by a key without the role:
    log.entries.pop()
    log.add(release("oss", 3, [SEC]))
    rig.refused("entry 2: .* none of whom is a publisher")


def test_refuses_a_status_map_that_hides_a_release(rig: Rig) -> None:
    log = rig.log
    log.add(release("oss", 1, [PUB]))
    rig.cosign()
    stale = replay_root(log.entries)
    log.add(release("oss", 2, [PUB]), advisory("oss", "VSA-1", [SEC], version=2))
    rig.refused("signs vigil-status-map root .* but replaying entries \\[0, 4\\) gives",
                status=stale)
    # The refusal changed nothing: the honest checkpoint is cosigned next.
    rig.cosign()
    assert rig.size() == 4


def test_refuses_a_missing_or_premature_status_line(tmp_path: Path, rig: Rig) -> None:
    rig.log.add(release("oss", 1, [PUB]))
    rig.refused("has no vigil-status-map line, but a charter is in force", status=None)
    # Before any charter there is no map, so no line.
    log = TileLog()
    (tmp_path / "early").mkdir()
    early = Rig(tmp_path / "early", log)
    early.cosign()  # the empty tree: no map, no line
    log.add(artifact("a", [PUB]))
    early.refused("has a vigil-status-map line, but no charter is in force", status=bytes(32))
    early.cosign()
    early.close()


def test_unreachable_log_is_not_evidence(rig: Rig) -> None:
    rig.log.add(release("oss", 1, [PUB]))
    rig.log.down = True
    with pytest.raises(TransportError, match="connection refused"):
        rig.cosign()
    rig.log.down = False
    del rig.log.tiles["tile/entries/000.p/2"]
    with pytest.raises(TransportError, match=r"000\.p/2: the log says it does not exist"):
        rig.cosign()
    assert rig.evidence() == 0 and rig.size() == 1
    rig.log.add()
    rig.cosign()


def test_reads_a_partial_bundle_from_the_full_one(rig: Rig) -> None:
    log = rig.log
    log.add(*[artifact(f"a{i}", [PUB]) for i in range(299)])
    for path in [p for p in log.tiles if p.startswith("tile/entries/000.p/")]:
        del log.tiles[path]  # tlog-tiles lets a log drop partial tiles once full
    rig.cosign()
    assert rig.size() == 300


def test_restart_rebuilds_from_the_tiles(tmp_path: Path, rig: Rig) -> None:
    log = rig.log
    log.add(release("oss", 1, [PUB]), rebuild("oss", 1, [RB]))
    rig.cosign()
    rig.close()
    again = Rig(tmp_path, log)
    assert again.auditor.audited_size(ORIGIN) is None
    again.auditor.prepare(again.witnessed, again.service.latest_states()[0])
    assert again.auditor.audited_size(ORIGIN) == 3
    stale = replay_root(log.entries)
    log.add(release("oss", 2, [PUB]))
    again.refused("signs vigil-status-map root", status=stale)
    again.cosign()
    again.close()
    # A restart whose tiles no longer match what the witness cosigned: refused.
    heartbeat = log.body(4)
    log.entries[1] = format_envelope(release("oss", 1, [PUB], published_s=5))
    log.add()
    third = Rig(tmp_path, log)
    third.refused("entries \\[0, 4\\) served at .* do not hash to the checkpoint this "
                  "witness cosigned", body=heartbeat)
    third.close()


def test_lost_compare_and_swap_rolls_the_audit_back(tmp_path: Path, rig: Rig) -> None:
    """audit() passed, then the store refused the write (another process moved
    on): the auditor must not keep the state it had staged."""
    log = rig.log
    log.add(release("oss", 1, [PUB]))
    other = WitnessService(
        signer=WITNESS, logs=[rig.witnessed],
        store=SQLiteWitnessStore(tmp_path / "w.db"), clock=lambda: 1_700_000_000,
    )
    other.add_checkpoint(log.body(1))  # not through rig's auditor
    other.close()
    with pytest.raises(Exception, match="stored state changed concurrently"):
        rig.cosign()  # rig still believes size 1
    log.add(release("oss", 2, [PUB]))
    rig.cosign()  # rebuilt from the tiles at the stored size 2
    assert rig.auditor.audited_size(ORIGIN) == 3


def test_worker_processes_give_the_same_verdicts(tmp_path: Path) -> None:
    log = TileLog()
    log.add(charter_entry(SPEC.text(), [BOARD]))
    log.add(*[artifact(f"a{i}", [PUB]) for i in range(700)])
    rig = Rig(tmp_path, log, workers=2)
    try:
        rig.cosign()
        log.add(*[release("oss", v, [PUB]) for v in range(1, 600)])
        log.add(release("oss", 1, [PUB]))  # entry 1300: a downgrade
        rig.refused("entry 1300: the log accepted an entry its rules refuse")
        log.entries.pop()
        log.add()
        rig.cosign()
        assert rig.size() == 1300
    finally:
        rig.close()


def test_config_audit_flag(tmp_path: Path) -> None:
    text = (
        '[witness]\nname = "witness.example/w1"\n'
        f'public_key = "{WITNESS.vkey}"\n'
    )
    config = add_log(parse_config(text), ORIGIN, LOG_KEY.vkey, URL, audit=True)
    again = parse_config(format_config(config))
    assert again.witnessed_logs()[0].audit and again.logs[0].url == URL
    from vigil.errors import ConfigError

    with pytest.raises(ConfigError, match="audit = true needs a url"):
        replace(config, logs=(replace(config.logs[0], url=None),)).witnessed_logs()
    with pytest.raises(ConfigError, match="audit must be true or false"):
        parse_config(format_config(config).replace("audit = true", 'audit = "yes"'))


def test_refuses_a_release_that_skipped_the_package_owners(tmp_path: Path) -> None:
    """A log that logs a package change without its owner (Conex) is not cosigned."""
    first, pub = ownerkit.FIRST, ownerkit.PUB
    changed = ownerkit.with_changed(first, "foo")
    log = TileLog()
    log.add(charter_entry(ownerkit.SPEC.text(), [ownerkit.BOARD]),
            ownerkit.publish(1, first, [pub, ownerkit.J1, ownerkit.J2]))
    rig = Rig(tmp_path, log)
    try:
        rig.cosign()
        log.add(ownerkit.publish(2, changed, [pub]))
        rig.refused(r"entry 2: the log accepted an entry its rules refuse: .*package 'foo' "
                    r"\(changed\) needs a signature by an owner")
        log.entries.pop()
        log.add(ownerkit.publish(2, changed, [pub, ownerkit.ALICE]))
        rig.cosign()
        assert rig.size() == 3
    finally:
        rig.close()
