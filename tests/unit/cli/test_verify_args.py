"""``vigil verify``'s fast argument reader agrees with argparse, or defers to it."""

from __future__ import annotations

import shlex

import pytest

from vigil.cli.main import build_parser
from vigil.cli.verify import parse_fast

READ_FAST = [
    "--repo oss",
    "--all",
    "--all --json",
    "--config /etc/v.toml --json --repo oss",
    "--repo oss --metadata repomd.xml --charter c.json --state-dir /var/lib/v",
    "--repo oss --url http://a.example --url https://b.example/vigil --offline",
    "--repo oss --bundle b.json --save-bundle s.json --json --json",
    "--repo first --repo second",
    "--repo ''",
    "--metadata '' --repo 'with space'",
]

DEFERRED = [
    "",
    "--help",
    "-h",
    "--repo",
    "--repo oss --metadata",
    "--repo=oss",
    "--rep oss",
    "--repo -1",
    "--repo oss --all",
    "--json",
    "--repo oss extra",
    "--repo oss --verbose",
    "--repo oss --",
    "--repo oss --unknown x",
]


@pytest.mark.parametrize("line", READ_FAST)
def test_fast_reading_equals_argparse(line: str) -> None:
    arguments = shlex.split(line)
    fast = parse_fast(arguments)
    assert fast is not None
    assert vars(fast) == vars(build_parser(only="verify").parse_args(["verify", *arguments]))
    assert vars(fast) == vars(build_parser().parse_args(["verify", *arguments]))


@pytest.mark.parametrize("line", DEFERRED)
def test_anything_else_is_left_to_argparse(line: str) -> None:
    assert parse_fast(shlex.split(line)) is None
