"""``vigil verify``'s human output (plain text, ANSI colours only when asked)."""

from __future__ import annotations

from pathlib import Path

from clientkit import charter_spec
from vigil.cli.verify import render_text
from vigil.client.checks import Check, Report
from vigil.client.run import Result
from vigil.core.charter import parse_charter

CHARTER = parse_charter(charter_spec().text())
DETAIL = "version 4 is not the latest: version 5 was logged at entry 1234 " * 2


def rejected() -> Result:
    checks = (
        Check("fresh", "pass", "tree 8 of log.example, cosigned 3 s ago"),
        Check("current", "fail", DETAIL, "refresh the metadata"),
        Check("authorized", "skip", "not checked", "ignored hint"),
    )
    report = Report("oss", checks, CHARTER)
    return Result("oss", "rejected", report, "https://log.example", 3000, 7000,
                  evidence=(Path("/var/lib/vigil/evidence/x.json"),))


def test_plain_table_wraps_the_detail_column() -> None:
    text = render_text([rejected()], width=60, colour=False)
    lines = text.splitlines()
    assert lines[0] == "oss  REJECTED  via https://log.example (3000 B)"
    assert lines[1].startswith(" ✓   fresh view ")
    assert lines[2].startswith(" ✗   current ")
    assert all(len(line) <= 60 for line in lines[:-1])
    column = lines[1].index("tree")
    continued = [line for line in lines[3:] if line.startswith(" " * column)]
    assert continued and all(line[column] != " " for line in continued)
    assert "→ refresh the metadata" in text and "ignored hint" not in text
    assert " ".join(text.split()).count("version 5 was logged at entry 1234") == 2
    assert lines[-1] == "  evidence kept: /var/lib/vigil/evidence/x.json"
    assert "\x1b[" not in text


def test_colours_only_when_asked() -> None:
    text = render_text([rejected()], width=200, colour=True)
    assert "\x1b[1;31mREJECTED\x1b[0m" in text and "\x1b[31m ✗ \x1b[0m" in text
    assert "\x1b[2m→ refresh the metadata\x1b[0m" in text


def test_unavailable_says_what_to_do() -> None:
    result = Result("oss", "unavailable", error="no server gave a bundle")
    assert render_text([result], width=80, colour=False) == (
        "oss  UNAVAILABLE\n  ? no server gave a bundle\n"
        "    → cannot confirm freshness: check the network or the configured servers; "
        "verify later\n"
    )
