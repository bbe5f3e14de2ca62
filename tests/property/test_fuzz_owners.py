"""Fuzz: the owners part of the charter and package names fail only with FormatError."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from fuzzing import fuzz_settings
from ownerkit import SPEC
from vigil.core.charter import FORMATS, parse_charter
from vigil.core.packages import check_package_name, package_name
from vigil.errors import FormatError

OWNED = SPEC.text()
TOKENS = ["team:", "team:mirage", "janitors", "-", "_", ".", "/", "packages/", ".rpm",
          ".deb", ".pkg.tar.zst", "1.0", "x86_64", "foo"]


@fuzz_settings
@given(st.integers(0, len(OWNED) - 1), st.integers(0, len(OWNED)), st.binary(max_size=30))
def test_owned_charter_splices(start: int, end: int, junk: bytes) -> None:
    data = OWNED[:start] + junk + OWNED[max(start, end):]
    with contextlib.suppress(FormatError):
        parse_charter(data)


@fuzz_settings
@given(st.sampled_from(FORMATS),
       st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=8).map("".join))
def test_package_names(repo_format: str, artifact: str) -> None:
    try:
        name = package_name(repo_format, artifact)
    except FormatError:
        return
    check_package_name(repo_format, name)  # whatever it derives, the charter could list
    assert name == artifact or name in artifact
