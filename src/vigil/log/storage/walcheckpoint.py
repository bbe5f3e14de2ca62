"""WAL checkpoints for the SQLite storage, off the sequencer's commit path.

By default SQLite copies the write-ahead log back into the database file
(a checkpoint, https://sqlite.org/wal.html#checkpointing) inside the COMMIT
that takes the WAL past 1000 frames, on the committing connection: the
sequencer's. When the random-key indexes (leaf hashes, digest search keys)
were still in the log's database, every appended entry of a big log dirtied
a page of each, so a batch of a few thousand entries wrote some 40 MB of WAL,
and copying it into the database and fsyncing that doubled every commit's
time (bench/log.py: about 55 of 75 us per entry at 10,000,000 entries).
They now live in a file of their own (:mod:`vigil.log.storage.lookup`), and
copying a batch's appended pages still costs the commit an fsync of the
database.

:class:`WalCheckpointer` takes that work to a thread with its own
connection: the writer turns automatic checkpoints off and wakes the thread
after each commit, which waits ``coalesce_s`` for more commits and then runs
a PASSIVE checkpoint (it never waits for, nor blocks, the writer or
readers). Waiting lets one checkpoint (and one fsync of the database) serve
the many small commits of single-entry submissions, copying a page they all
changed once: 3-4 instead of 8-10 us of CPU per entry in bench/log.py's
single-entry phase. Durability does not change: a transaction is
durable once its WAL frames are fsynced at COMMIT (``synchronous=FULL``),
whoever copies them later, and after a crash SQLite replays the WAL on open.

The WAL stays bounded. SQLite writes it from the beginning again only when
a write transaction starts while every frame has been copied and no reader
uses the WAL; under a steady stream of commits the next one often starts
before the thread has copied the last, so the WAL file would only grow. When
it has grown past ``max_bytes``, the writer runs a TRUNCATE checkpoint itself
before its next transaction: the thread has copied all but the latest
commits' frames, so this copies only those, waits for readers to leave the
WAL and empties the file. (SQLite refuses, without waiting, a checkpoint
while another runs, so the two take turns under a lock.) If the thread is
gone, the writer checkpoints before every transaction.

I/O: only through the connections, and a stat of the WAL file.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["WalCheckpointer", "run_after_commits"]

_log = logging.getLogger(__name__)


def run_after_commits(
    wake: threading.Event, stopped: threading.Event, delay_s: float, step: Callable[[], None]
) -> None:
    """A thread's loop that follows a writer's commits: wait for ``wake``, then
    ``delay_s`` for more commits, then run ``step`` once for all of them; return
    as soon as ``stopped`` is set (the stopper sets ``wake`` too)."""
    while True:
        wake.wait()
        if stopped.wait(delay_s):
            return
        wake.clear()
        step()


class WalCheckpointer:
    """A thread that checkpoints one SQLite database's WAL after each commit.

    Args:
        connect: Opens the thread's own connection (called on the thread).
        wal_path: The WAL file (``<database>-wal``).
        max_bytes: WAL file size beyond which the writer empties it.
        description: Names the database in log messages.
        coalesce_s: How long the thread waits, once woken, for more commits.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        wal_path: Path,
        max_bytes: int,
        description: str,
        coalesce_s: float = 0.05,
    ) -> None:
        self._connect = connect
        self._wal_path = wal_path
        self._max_bytes = max_bytes
        self._description = description
        self._coalesce_s = coalesce_s
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()  # one checkpoint at a time
        self._thread = threading.Thread(
            target=self._run, name="vigil-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """The writer committed: copy its frames (soon, on the thread)."""
        self._wake.set()

    def before_write(self, writer: sqlite3.Connection) -> None:
        """Called by the writer, outside a transaction, before each one.

        Checkpoints on the writer only if the WAL file is over its cap
        (TRUNCATE) or the thread is gone (PASSIVE).

        Raises:
            sqlite3.Error: the checkpoint failed.
            OSError: the WAL file cannot be examined.
        """
        try:
            size = self._wal_path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size > self._max_bytes:
            with self._lock:
                busy, _, _ = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                _log.warning("%s: readers kept the WAL from being emptied", self._description)
        elif not self._thread.is_alive() and not self._stopping:
            writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (after the checkpoint it may be running)."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames < 0:
                # Not in WAL mode for this connection yet: it opened the file
                # before the writer switched it, and learns of it on a read.
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:  # the writer checkpoints itself (before_write)
            _log.error("%s: no checkpoint thread (%s)", self._description, exc)
            return
        def step() -> None:
            try:
                self._checkpoint(conn)
            except sqlite3.Error as exc:
                # Only the copy failed: the frames stay in the WAL, durable.
                _log.warning("%s: WAL checkpoint failed (%s)", self._description, exc)

        try:
            run_after_commits(self._wake, self._stopped, self._coalesce_s, step)
        finally:
            conn.close()
