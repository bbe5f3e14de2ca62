"""`vigil log init --key`: the operator makes the log key first, so a charter can name it."""

from __future__ import annotations

from pathlib import Path

from logsupport import vigil
from vigil.log.config import parse_config

ORIGIN = "log.example/keyed"


def test_log_init_uses_the_given_key(tmp_path: Path) -> None:
    vkey = vigil("key", "generate", ORIGIN, "--out", str(tmp_path / "log.key")).stdout.strip()
    out = vigil("log", "init", str(tmp_path / "log"), "--origin", ORIGIN,
                "--key", str(tmp_path / "log.key")).stdout
    assert f"log key: {vkey}" in out
    config = parse_config((tmp_path / "log" / "config.toml").read_text())
    assert config.public_key == vkey
    stored = (tmp_path / "log" / config.key_file).read_text().strip()
    assert stored == (tmp_path / "log.key").read_text().strip()


def test_log_init_refuses_a_key_named_otherwise(tmp_path: Path) -> None:
    vigil("key", "generate", "other.example/log", "--out", str(tmp_path / "other.key"))
    refused = vigil("log", "init", str(tmp_path / "log"), "--origin", ORIGIN,
                    "--key", str(tmp_path / "other.key"), check=False)
    assert refused.returncode == 2
    assert "is not the origin" in refused.stderr
    assert not (tmp_path / "log").exists()
