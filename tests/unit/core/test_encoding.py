"""Strict encodings: canonical base64 and decimals, strict text and JSON."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import fuzz_settings
from vigil.core import encoding
from vigil.errors import FormatError


@pytest.mark.parametrize("text", ["", "AA==", "AAE=", "YmFuYW5hcw=="])
def test_b64_roundtrip(text: str) -> None:
    assert encoding.b64encode(encoding.b64decode_strict(text, what="x")) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("AA", "invalid base64"),  # missing padding
        ("AB==", "not canonical"),  # non-zero trailing bits
        ("A A=", "invalid base64"),
        ("-_==", "invalid base64"),  # URL-safe alphabet
        ("AA==\n", "invalid base64"),
        ("é===", "non-ASCII"),
    ],
)
def test_b64_rejects(text: str, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        encoding.b64decode_strict(text, what="field")


@pytest.mark.parametrize("text", ["0", "1", "18446744073709551615"])
def test_decimal_accepts(text: str) -> None:
    assert str(encoding.parse_decimal(text, what="size")) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not a decimal"),
        ("01", "not a canonical"),
        ("-1", "not a decimal"),
        ("+1", "not a decimal"),
        ("1 ", "not a decimal"),
        ("١", "not a decimal"),  # Arabic-Indic digit: isdigit() but not ASCII
        ("18446744073709551616", "exceeds"),
        ("9" * 5000, "exceeds"),
    ],
)
def test_decimal_rejects(text: str, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        encoding.parse_decimal(text, what="size")


def test_text_rejects_controls_and_bad_utf8() -> None:
    assert encoding.decode_text(b"a\nb", what="t") == "a\nb"
    with pytest.raises(FormatError, match="U\\+0009 at character 1"):
        encoding.decode_text(b"a\tb", what="t")
    with pytest.raises(FormatError, match="U\\+007F"):
        encoding.decode_text(b"\x7f", what="t")
    with pytest.raises(FormatError, match="invalid UTF-8 at byte 1"):
        encoding.decode_text(b"a\xff", what="t")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'{"a":1,"a":2}', "duplicate JSON key 'a'"),
        (b'{"a":NaN}', "non-standard JSON constant"),
        (b'{"a":1e999}', "out of range"),
        (b'{"a":' + b"9" * 5000 + b"}", "too large"),
        (b'{"a":"\\ud800"}', "lone surrogate"),
        (b"[1]", "want a JSON object"),
        (b"[" * 100 + b"]" * 100, "nested"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, "nested"),
        (b"\xff", "invalid UTF-8"),
        (b"{", "invalid JSON at line 1"),
        (b"{}" + b" " * 20000, "exceeds the limit"),
    ],
)
def test_json_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(FormatError, match=fragment):
        encoding.parse_json_object(data, what="doc", max_bytes=10000)


@fuzz_settings
@given(st.binary(max_size=200))
def test_json_parser_is_total(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        encoding.parse_json_object(data, what="doc", max_bytes=150)


@fuzz_settings
@given(st.text(max_size=30))
def test_decimal_parser_is_total(text: str) -> None:
    try:
        value = encoding.parse_decimal(text, what="n")
    except FormatError:
        return
    assert str(value) == text
