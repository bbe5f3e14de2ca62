"""Strict encodings shared by every core parser.

Canonical base64, canonical decimals, strict UTF-8 text and JSON that rejects
duplicate keys. Each function raises :class:`vigil.errors.FormatError` with a
message naming *what* was being parsed, so callers get
``"<subject>: <problem>"`` messages without re-wrapping.

JSON has two paths with one outcome. :func:`parse_json_object_strict` is the
reference: Python's ``json`` with hooks that refuse duplicate keys, NaN and
Infinity and huge numbers, then a walk for lone surrogates and depth.
:func:`parse_compact_json_object` is the fast path for the inputs Vigil
nearly always sees (compact JSON as ``json.dumps(..., ensure_ascii=False,
separators=(",", ":"))`` or orjson write it): :mod:`orjson` (C) parses, and
the input must be *exactly* orjson's re-encoding of the value it parsed to.
That equality proves what the strict parser would check:

* no duplicate keys: the re-encoding has one pair per key of each dict, and
  the input spells exactly those pairs;
* no NaN, Infinity or huge numbers: orjson refuses NaN, Infinity and
  floats beyond a double's range, and turns integers beyond 64 bits into
  floats, which do not re-encode to the input; the numbers left are in
  their shortest round-tripping form and parse to equal values in both;
* no lone surrogates (orjson refuses them both ways), no BOM, no whitespace;
* the same value: the only string escapes left are orjson's own (``\\"``,
  ``\\\\``, ``\\n`` ...), which both parsers read alike.

Only depth needs its own check (orjson nests to 1024). Whatever the fast path
cannot prove returns None, and :func:`parse_json_object` then runs the strict
parser, which accepts or refuses with its usual message: the fast path
changes speed, never outcomes (``tests/property/test_fuzz_json.py`` compares
the two on mutated inputs).

No I/O, no clock, no globals.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import orjson

from vigil.errors import FormatError

__all__ = [
    "MAX_UINT64",
    "b64decode_strict",
    "b64encode",
    "decode_text",
    "parse_compact_json_object",
    "parse_decimal",
    "parse_exact_json_object",
    "parse_json_object",
    "parse_json_object_strict",
]

MAX_UINT64 = 2**64 - 1

#: Deepest nesting of JSON arrays and objects accepted (far beyond any Vigil format).
MAX_JSON_DEPTH = 64

# Integers longer than this are refused before int() sees them (Python itself
# refuses more than 4300 digits with a bare ValueError).
_MAX_JSON_INT_DIGITS = 40


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str | bytes, *, what: str) -> bytes:
    """Decode canonical, padded standard base64, or raise FormatError.

    Rejects whitespace, URL-safe characters, missing padding and non-zero
    trailing bits (the decoded bytes must re-encode to exactly the input),
    so that one value has exactly one encoding.
    """
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise FormatError(f"{what}: base64 contains non-ASCII characters") from exc
    else:
        raw = text
    try:  # the common case: canonical input, which re-encodes to itself
        data = binascii.a2b_base64(raw)
        if binascii.b2a_base64(data, newline=False) == raw:
            return data
    except binascii.Error:
        pass
    # Not canonical: find out why, for the message.
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"{what}: invalid base64 ({exc})") from exc
    if base64.b64encode(data) != raw:
        raise FormatError(f"{what}: base64 is not canonical")
    return data


def parse_decimal(text: str, *, what: str, max_value: int = MAX_UINT64) -> int:
    """Parse a canonical non-negative ASCII decimal (no sign, no leading zero)."""
    if not text or not text.isascii() or not text.isdigit():
        raise FormatError(f"{what}: {text[:40]!r} is not a decimal number")
    if len(text) > 1 and text[0] == "0":
        raise FormatError(f"{what}: {text[:40]!r} is not a canonical decimal")
    if len(text) > len(str(max_value)):
        raise FormatError(f"{what}: {text[:40]!r}... exceeds {max_value}")
    value = int(text)
    if value > max_value:
        raise FormatError(f"{what}: {value} exceeds {max_value}")
    return value


def decode_text(data: bytes, *, what: str) -> str:
    """Decode strict UTF-8 with no control characters other than newline.

    Raises FormatError naming the byte offset of the first offending byte.
    """
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what}: invalid UTF-8 at byte {exc.start}") from exc
    for offset, char in enumerate(text):
        code = ord(char)
        if (code < 0x20 and char != "\n") or code == 0x7F:
            raise FormatError(
                f"{what}: control character U+{code:04X} at character {offset}"
            )
    return text


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FormatError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise FormatError(f"non-standard JSON constant {name}")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_JSON_INT_DIGITS:
        raise FormatError(f"JSON integer of {len(text)} digits is too large")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise FormatError(f"JSON number {text[:40]} is out of range")
    return value


def _check_strings(value: Any, depth: int = 0) -> None:
    """Reject lone surrogates (not encodable as UTF-8) and excessive nesting."""
    if depth > MAX_JSON_DEPTH:
        raise FormatError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FormatError(f"JSON string contains a lone surrogate at {exc.start}") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, depth + 1)
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def parse_json_object_strict(data: bytes, *, what: str, max_bytes: int) -> dict[str, Any]:
    """Parse a JSON object from UTF-8 bytes, strictly, in Python (the reference path).

    Applies the size cap before parsing; rejects duplicate keys, NaN and
    Infinity, numbers out of range, lone surrogates, non-object top-level
    values and nesting deeper than :data:`MAX_JSON_DEPTH`.

    Raises:
        FormatError: naming ``what`` and the problem.
    """
    if len(data) > max_bytes:
        raise FormatError(f"{what}: {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what}: invalid UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
        # A lone surrogate needs a \u escape (the text is strict UTF-8), and
        # nesting deeper than the limit needs more opening brackets than it:
        # without either, the walk over every string cannot find anything.
        if "\\u" in text or text.count("{") + text.count("[") > MAX_JSON_DEPTH:
            _check_strings(value)
    except FormatError as exc:
        raise FormatError(f"{what}: {exc}") from exc
    except RecursionError as exc:
        raise FormatError(f"{what}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(value, dict):
        raise FormatError(f"{what}: want a JSON object, got {type(value).__name__}")
    return value


def _depth_within_limit(value: Any) -> bool:
    """Whether no value nests deeper than :data:`MAX_JSON_DEPTH` (the strict walk's rule)."""
    try:
        _check_strings(value)
    except FormatError:
        return False
    return True


def parse_exact_json_object(data: bytes) -> dict[str, Any] | None:
    """The object orjson parses from ``data`` if ``data`` is exactly its re-encoding.

    The round-trip step of :func:`parse_compact_json_object` without its size
    and depth checks, for callers that bound both themselves (the log's batch
    parser accepts one exact shape, which bounds nesting, and re-checking depth
    would walk every entry of a batch).

    Returns:
        The object, or None: not an exact compact encoding of one.
    """
    try:
        value = orjson.loads(data)
        if type(value) is not dict or orjson.dumps(value) != data:
            return None
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    return value


def parse_compact_json_object(data: bytes, *, max_bytes: int) -> dict[str, Any] | None:
    """The object ``data`` encodes if ``data`` is exactly orjson's encoding of it.

    The fast path of :func:`parse_json_object` (see the module docstring for
    why equality proves what the strict parser checks). A non-None result is
    what :func:`parse_json_object_strict` returns for ``data`` (equal, keys in
    the same order); it is also encodable back to JSON as it is (no lone
    surrogates, no NaN or Infinity).

    Returns:
        The object, or None: not proven (the strict parser decides).
    """
    if len(data) > max_bytes:
        return None
    value = parse_exact_json_object(data)
    if value is None:
        return None
    # Nesting deeper than the limit needs more opening brackets than it
    # (brackets inside strings only make this test more cautious).
    if data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH and not _depth_within_limit(value):
        return None
    return value


def parse_json_object(data: bytes, *, what: str, max_bytes: int) -> dict[str, Any]:
    """Parse a JSON object from UTF-8 bytes, strictly.

    Applies the size cap before parsing; rejects duplicate keys, NaN and
    Infinity, numbers out of range, lone surrogates, non-object top-level
    values and nesting deeper than :data:`MAX_JSON_DEPTH`. Compact input
    takes the fast path (:func:`parse_compact_json_object`); everything else,
    and every refusal, is :func:`parse_json_object_strict`'s.

    Raises:
        FormatError: naming ``what`` and the problem.
    """
    value = parse_compact_json_object(data, max_bytes=max_bytes)
    if value is not None:
        return value
    return parse_json_object_strict(data, what=what, max_bytes=max_bytes)
