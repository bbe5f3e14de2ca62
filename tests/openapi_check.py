"""Check live responses against an OpenAPI 3.0 document (the JSON Schema subset it uses).

Supports: $ref, type (with nullable), required, properties, additionalProperties
false, items, minItems, maxItems, pattern, enum, minimum. Unknown keywords fail
loudly so the document can't use one this checker silently ignores.
"""

from __future__ import annotations

import re
from typing import Any

_KNOWN = {
    "$ref", "type", "nullable", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "pattern", "enum", "minimum", "description", "format",
}
_TYPES = {
    "object": dict, "array": list, "string": str, "integer": int, "boolean": bool,
    "number": (int, float),
}


def check(value: Any, schema: dict[str, Any], document: dict[str, Any], where: str = "$") -> None:
    """Raise AssertionError naming the first place ``value`` breaks ``schema``."""
    unknown = set(schema) - _KNOWN
    assert not unknown, f"{where}: checker does not support {unknown}"
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        check(value, document["components"]["schemas"][name], document, where)
        return
    if value is None:
        assert schema.get("nullable"), f"{where}: null not allowed"
        return
    kind = schema.get("type")
    if kind is not None:
        ok = isinstance(value, _TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        assert ok, f"{where}: want {kind}, got {type(value).__name__}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if "pattern" in schema:
        assert re.search(schema["pattern"], value), f"{where}: {value!r} !~ {schema['pattern']}"
    if "minimum" in schema:
        assert value >= schema["minimum"], f"{where}: {value} < {schema['minimum']}"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            assert name in value, f"{where}: missing {name!r}"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(properties)
            assert not extra, f"{where}: unexpected {extra}"
        for name, item in value.items():
            if name in properties:
                check(item, properties[name], document, f"{where}.{name}")
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0), f"{where}: too few items"
        assert len(value) <= schema.get("maxItems", len(value)), f"{where}: too many items"
        for position, item in enumerate(value):
            if "items" in schema:
                check(item, schema["items"], document, f"{where}[{position}]")


def check_response(
    document: dict[str, Any], path: str, method: str, status: int, content_type: str, body: Any
) -> None:
    """Check one response: documented status, content type and body schema."""
    operation = document["paths"][path][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path}: status {status} not documented"
    content = responses[str(status)].get("content", {})
    media = content_type.split(";")[0].strip()
    matches = [k for k in content if k.split(";")[0].strip() == media]
    assert matches, f"{method} {path} {status}: content type {content_type} not documented"
    if media == "application/json":
        check(body, content[matches[0]]["schema"], document, f"{method} {path} {status}")
