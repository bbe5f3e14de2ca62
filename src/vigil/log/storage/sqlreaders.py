"""What both SQL storages share: they differ only in the parameter placeholder.

SQLite (``?``) and PostgreSQL via psycopg (``%s``) run the same statements for
checkpoints and entries, and refuse the same conflicting checkpoints; each
storage provides :meth:`_query` (its own connection handling and error
mapping) and :attr:`_PARAM`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.errors import ConflictError
from vigil.log.storage.base import StoredEntry, TreeState

__all__ = ["SqlReaders", "refuse_conflicting_checkpoint"]


def refuse_conflicting_checkpoint(
    description: str, state: TreeState, text: str, stored_size: int | None,
    stored_text: str | None,
) -> None:
    """The compare-and-swap of ``store_checkpoint``: never a smaller tree than the
    stored one, never another text for a stored size.

    Raises:
        ConflictError: naming the stored size or text.
    """
    if stored_size is not None and stored_size > state.size:
        raise ConflictError(
            f"{description}: checkpoint of size {state.size} is older than the stored tree "
            f"of size {stored_size}"
        )
    if stored_text is not None and stored_text != text:
        raise ConflictError(
            f"{description}: a different checkpoint of size {state.size} is stored "
            f"(stored {stored_text!r}, new {text!r})"
        )


class SqlReaders:
    """Checkpoint and entry readers over :meth:`_query`."""

    _PARAM = "?"

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        raise NotImplementedError

    def latest_checkpoint(self) -> bytes | None:
        """The largest stored checkpoint."""
        rows = self._query("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return bytes(rows[0][0]) if rows else None

    def checkpoint(self, size: int) -> bytes | None:
        """The stored checkpoint of ``size``."""
        rows = self._query(f"SELECT note FROM checkpoints WHERE size = {self._PARAM}", (size,))
        return bytes(rows[0][0]) if rows else None

    def entry(self, index: int) -> StoredEntry | None:
        """The entry at ``index``."""
        return self._entry("idx", index)

    def entry_by_leaf_hash(self, leaf_hash: bytes) -> StoredEntry | None:
        """The entry with ``leaf_hash``."""
        return self._entry("leaf_hash", leaf_hash)

    def _entry(self, column: str, value: object) -> StoredEntry | None:
        rows = self._query(
            f"SELECT idx, leaf_hash, data FROM entries WHERE {column} = {self._PARAM}", (value,)
        )
        if not rows:
            return None
        i, h, d = rows[0]
        return StoredEntry(int(i), bytes(h), bytes(d))
