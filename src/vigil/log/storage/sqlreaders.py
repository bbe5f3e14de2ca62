"""Readers both SQL storages share: they differ only in the parameter placeholder.

SQLite (``?``) and PostgreSQL via psycopg (``%s``) run the same statements for
checkpoints and entries; each storage provides :meth:`_query` (its own
connection handling and error mapping) and :attr:`_PARAM`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil.log.storage.base import StoredEntry

__all__ = ["SqlReaders"]


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
