"""The ``vigil`` command line: argument parsing, rendering and exit codes only."""

from __future__ import annotations

from vigil.cli.main import main

__all__ = ["main"]
