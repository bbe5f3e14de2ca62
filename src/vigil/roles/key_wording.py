"""Keys in the plain words `vigil charter show` and `diff` use (shared by roles and teams)."""

from __future__ import annotations

from collections.abc import Sequence

from vigil.core.charter import describe_key
from vigil.core.note import Ed25519Verifier

__all__ = ["describe_key_changes", "describe_keys"]


def describe_keys(keys: Sequence[Ed25519Verifier]) -> str:
    """``alice (hex8), bob (hex8)``, or ``nobody``."""
    return ", ".join(describe_key(k) for k in keys) or "nobody"


def describe_key_changes(
    what: str, old: Sequence[Ed25519Verifier], new: Sequence[Ed25519Verifier]
) -> list[str]:
    """``"<what>: adds ...."`` and ``"<what>: removes ...."``, keys compared by public key."""
    old_keys = {k.public_key: k for k in old}
    new_keys = {k.public_key: k for k in new}
    lines = []
    added = [k for pub, k in new_keys.items() if pub not in old_keys]
    removed = [k for pub, k in old_keys.items() if pub not in new_keys]
    if added:
        lines.append(f"{what}: adds {describe_keys(added)}.")
    if removed:
        lines.append(f"{what}: removes {describe_keys(removed)}.")
    return lines
