"""`vigil witness add-charter`: witness the logs a signed charter names."""

from __future__ import annotations

from pathlib import Path

from charterkit import sign_charter
from clientkit import BOARD, LOG_KEY, ORIGIN, charter_spec
from logsupport import vigil
from vigil.core.dsse import format_envelope
from vigil.witness.config import parse_config


def _charter(tmp_path: Path, *, url: str | None, signers: int = 2) -> Path:
    text = charter_spec().text()
    if url is not None:
        line = f'key = "{LOG_KEY.vkey}"\n'
        text = text.replace(line.encode(), (line + f'urls = ["{url}"]\n').encode(), 1)
    path = tmp_path / f"charter-{signers}-{url is not None}.dsse.json"
    path.write_bytes(format_envelope(sign_charter(text, BOARD[:signers])))
    return path


def test_witness_follows_the_logs_of_a_charter(tmp_path: Path) -> None:
    witness = tmp_path / "w"
    vigil("witness", "init", str(witness), "--name", "w.example/follow")
    out = vigil("witness", "add-charter", str(witness),
                str(_charter(tmp_path, url="http://log.example/"))).stdout
    assert f"witnessing {ORIGIN}" in out
    config = parse_config((witness / "config.toml").read_text())
    (log,) = config.logs
    assert (log.origin, log.vkeys, log.url, log.audit) == (
        ORIGIN, (LOG_KEY.vkey,), "http://log.example/", False)
    again = vigil("witness", "add-charter", str(witness),
                  str(_charter(tmp_path, url="http://log.example/")))
    assert "already witnessing" in again.stdout


def test_audit_needs_a_url_and_the_charter_its_foundation(tmp_path: Path) -> None:
    witness = tmp_path / "w"
    vigil("witness", "init", str(witness), "--name", "w.example/follow")
    no_url = vigil("witness", "add-charter", str(witness), str(_charter(tmp_path, url=None)),
                   "--audit", check=False)
    assert no_url.returncode == 2 and "no URL to audit from" in no_url.stderr
    weak = vigil("witness", "add-charter", str(witness),
                 str(_charter(tmp_path, url=None, signers=1)), check=False)
    assert weak.returncode == 2 and "not signed by its foundation" in weak.stderr
    assert parse_config((witness / "config.toml").read_text()).logs == ()
    audited = vigil("witness", "add-charter", str(witness),
                    str(_charter(tmp_path, url="http://log.example/")), "--audit")
    assert "(audited)" in audited.stdout
    assert parse_config((witness / "config.toml").read_text()).logs[0].audit
