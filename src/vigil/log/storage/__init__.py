"""Log storage: one Protocol, an SQLite and a PostgreSQL implementation.

Example::

    >>> import tempfile, pathlib
    >>> from vigil.log.storage import open_storage
    >>> storage = open_storage("sqlite:log.db", base_dir=pathlib.Path(tempfile.mkdtemp()))
    >>> storage.initialize(origin="example.com/log", public_key="example.com/log+0+AQ==")
    >>> storage.entry_count()
    0
    >>> storage.close()
"""

from __future__ import annotations

from pathlib import Path

from vigil.errors import ConfigError
from vigil.log.storage.base import LogStorage, NewEntry, StoredEntry, TreeState

__all__ = ["LogStorage", "NewEntry", "StoredEntry", "TreeState", "open_storage"]


def open_storage(database: str, *, base_dir: Path) -> LogStorage:
    """Open (not yet initialize) the storage a ``database`` setting names.

    Args:
        database: ``sqlite:PATH`` (relative paths are under ``base_dir``) or a
            ``postgresql://`` / ``postgres://`` URL.
        base_dir: The log directory.

    Returns:
        The storage; call ``initialize`` before use.

    Raises:
        ConfigError: the setting names no supported database.
    """
    if database.startswith("sqlite:"):
        path = Path(database.removeprefix("sqlite:"))
        if not path.parts:
            raise ConfigError(f"database {database!r}: missing file name")
        from vigil.log.storage.sqlite import SqliteStorage

        return SqliteStorage(path if path.is_absolute() else base_dir / path)
    if database.startswith(("postgresql://", "postgres://")):
        from vigil.log.storage.postgres import PostgresStorage

        return PostgresStorage(database)
    raise ConfigError(
        f"database {database!r}: want sqlite:PATH or a postgresql:// URL"
    )
