"""Common test fixtures: paths to the shared vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"


@pytest.fixture(scope="session")
def vectors_dir() -> Path:
    """The shared test vectors (../shared/vectors from the project root)."""
    if not VECTORS.is_dir():
        raise RuntimeError(f"shared vectors not found at {VECTORS}")
    return VECTORS
