"""The state directory (atomic, monotonic, locked, re-verified) and the configuration."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from charterkit import sign_charter
from clientkit import BOARD, MALLORY, ORIGIN, MemoryLog, charter_spec, signed_charter
from vigil.client.config import load_config
from vigil.client.state import State, load_trusted_charter, read_charter_file
from vigil.core.charter import parse_charter
from vigil.core.checkpoint import parse_checkpoint
from vigil.core.dsse import format_envelope
from vigil.core.note import parse_note
from vigil.errors import ConfigError, StorageError

SPEC = charter_spec()


def _checkpoint(log: MemoryLog) -> tuple[object, bytes]:
    note = log.checkpoint()
    return parse_checkpoint(parse_note(note).text), note


def test_checkpoint_and_version_never_go_back(tmp_path: Path) -> None:
    log = MemoryLog()
    log.submit(signed_charter(SPEC))
    small = _checkpoint(log)
    log.submit(signed_charter(SPEC.next()))
    big = _checkpoint(log)
    with State(tmp_path) as state:
        state.set_checkpoint(big[0], big[1])  # type: ignore[arg-type]
        state.set_checkpoint(small[0], small[1])  # type: ignore[arg-type]
        stored = state.checkpoint(ORIGIN)
        assert stored is not None and stored[0].size == 2 and stored[1] == big[1]
        state.set_version("oss", 5, "sha256:00")
        state.set_version("oss", 3, "sha256:00")
        assert state.version("oss") == 5
        assert state.version("other") is None
    assert not list(tmp_path.rglob("*.tmp"))


def test_unchanged_state_is_not_written_again(tmp_path: Path) -> None:
    """A hook runs on every refresh: a run that learns nothing new writes nothing
    (each atomic write costs two fsyncs); anything new is still written."""
    log = MemoryLog()
    log.submit(signed_charter(SPEC))
    small = _checkpoint(log)
    log.submit(signed_charter(SPEC.next()))
    big = _checkpoint(log)
    with State(tmp_path) as state:
        state.set_checkpoint(small[0], small[1])  # type: ignore[arg-type]
        state.set_version("oss", 5, "sha256:00")
        files = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock")
        before = [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in files]
        state.set_checkpoint(small[0], small[1])  # type: ignore[arg-type]
        state.set_version("oss", 5, "sha256:00")
        assert [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in files] == before
        state.set_checkpoint(big[0], big[1])  # type: ignore[arg-type]
        state.set_version("oss", 5, "sha256:11")
        stored = state.checkpoint(ORIGIN)
        assert stored is not None and stored[1] == big[1]
        assert b"sha256:11" in next((tmp_path / "repositories").iterdir()).read_bytes()


def test_damaged_state_files_are_named(tmp_path: Path) -> None:
    with State(tmp_path) as state:
        state.set_version("oss", 1, "sha256:00")
        path = next((tmp_path / "repositories").iterdir())
        path.write_text("{not json")
        with pytest.raises(StorageError, match="malformed"):
            state.version("oss")


def test_stored_charters_are_reverified_against_the_shipped_one(tmp_path: Path) -> None:
    v2 = SPEC.next()
    root = parse_charter(SPEC.text())
    with State(tmp_path) as state:
        state.add_charters((format_envelope(sign_charter(v2.text(), BOARD[:2])),), 2)
        assert state.charter(root).version == 2
        # Someone swaps in a version 2 signed by a key of no foundation.
        forged = v2.next()  # any text; what matters is the signature
        (tmp_path / "charters" / "v2.dsse.json").write_bytes(
            format_envelope(sign_charter(forged.text(), [MALLORY])))
        with pytest.raises(StorageError, match="do not continue"):
            state.charter(root)


def test_shipped_charter_must_carry_its_foundation_threshold(tmp_path: Path) -> None:
    path = tmp_path / "charter.dsse.json"
    path.write_bytes(format_envelope(sign_charter(SPEC.text(), BOARD[:1])))  # 1 of 2
    with pytest.raises(ConfigError, match="own foundation"):
        load_trusted_charter(read_charter_file(path))
    with pytest.raises(ConfigError, match="no such charter"):
        read_charter_file(tmp_path / "missing.json")
    path.write_text("{}")
    with pytest.raises(ConfigError, match="not a signed charter"):
        read_charter_file(path)


def _hold_lock(directory: str, seconds: float) -> None:
    with State(Path(directory)):
        time.sleep(seconds)


def test_runs_take_turns(tmp_path: Path) -> None:
    holder = multiprocessing.get_context("spawn").Process(
        target=_hold_lock, args=(str(tmp_path), 1.0))
    holder.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the holder has the lock by now
    started = time.monotonic()
    with State(tmp_path):
        waited = time.monotonic() - started
    holder.join(10)
    assert waited >= 0.3


def test_config_merges_user_over_system(tmp_path: Path) -> None:
    system = tmp_path / "etc.toml"
    user = tmp_path / "user.toml"
    system.write_text('charter = "c.json"\nmirrors = ["http://a.example"]\ntimeout_s = 3\n\n'
                      '[[repository]]\nname = "oss"\nmetadata = "/srv/oss/repomd.xml"\n\n'
                      '[[repository]]\nname = "deb"\nmetadata = "/srv/deb/Release"\n')
    user.write_text('state_dir = "state"\n\n[[repository]]\nname = "oss"\n'
                    'metadata = "/home/u/repomd.xml"\nmirrors = ["https://m.example/"]\n')
    config = load_config([system, user, tmp_path / "absent.toml"])
    assert config.charter == tmp_path / "c.json"
    assert config.state_dir == tmp_path / "state"
    assert config.timeout_s == 3.0 and config.mirrors == ("http://a.example",)
    assert config.repository("oss").metadata == Path("/home/u/repomd.xml")
    assert config.repository("oss").mirrors == ("https://m.example",)
    assert config.repository("deb").metadata == Path("/srv/deb/Release")


@pytest.mark.parametrize(("text", "message"), [
    ("charter = 3\n", "charter: want a path"),
    ("colour = true\n", "unknown key 'colour'"),
    ('mirrors = ["ftp://x"]\n', "not an http"),
    ("timeout_s = 0\n", "timeout_s"),
    ("repository = 1\n", "array of tables"),
    ('[[repository]]\nname = ""\n', "non-empty"),
    ('[[repository]]\nname = "a"\nfoo = 1\n', "unknown key 'foo'"),
    ('[[repository]]\nname = "a"\n[[repository]]\nname = "a"\n', "configured twice"),
    ("charter = \n", "not valid TOML"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config([path])


def test_config_file_given_explicitly_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config([tmp_path / "nope.toml"], required=True)
