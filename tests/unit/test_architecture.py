"""Architecture rules that import-linter cannot express (STYLE.md §2, §10).

The library never prints, exits, reads the environment or configures logging:
only ``vigil.cli`` (and the ``python -m vigil`` shim) may. ruff's T20 covers
``print``; this test covers the rest, by reading the source.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "vigil"
ALLOWED = {SRC / "__main__.py"}
FORBIDDEN_ATTRIBUTES = {
    ("os", "environ"),
    ("os", "getenv"),
    ("sys", "exit"),
    ("logging", "basicConfig"),
}


def library_modules() -> list[Path]:
    return [
        path
        for path in sorted(SRC.rglob("*.py"))
        if SRC / "cli" not in path.parents and path not in ALLOWED
    ]


@pytest.mark.parametrize("path", library_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_library_module_does_not_exit_or_read_environment(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}: {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id, node.attr) in FORBIDDEN_ATTRIBUTES
    ]
    assert not found, "only vigil.cli may do this: " + ", ".join(found)


def test_core_imports_nothing_but_stdlib_its_declared_deps_and_vigil() -> None:
    # import-linter checks project-internal imports; this checks third-party ones.
    # PyNaCl and orjson are the core's declared dependencies (pyproject.toml);
    # orjson only behind parsers proven equal to the strict ones (encoding.py).
    allowed_roots = {"nacl", "orjson", "vigil", "__future__"}
    for path in sorted((SRC / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root in allowed_roots or root in sys.stdlib_module_names, (
                    f"{path.relative_to(SRC)} imports {name}"
                )
