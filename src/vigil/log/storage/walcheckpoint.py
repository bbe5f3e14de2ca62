"""WAL checkpoints for the SQLite storage, off the sequencer's commit path.

By default SQLite copies the write-ahead log back into the database file
(a checkpoint, https://sqlite.org/wal.html#checkpointing) inside the COMMIT
that takes the WAL past 1000 frames, on the committing connection: the
sequencer's. On a big log every appended entry dirties one page of each
random-key index (leaf hashes, digest search keys), so a batch of a few
thousand entries writes some 40 MB of WAL, and copying it into the database
and fsyncing that doubled every commit's time (bench/log.py: about 55 of
75 us per entry at 10,000,000 entries).

:class:`WalCheckpointer` takes that work to a thread with its own
connection: the writer turns automatic checkpoints off and wakes the thread
after each commit, which runs a PASSIVE checkpoint (it never waits for, nor
blocks, the writer or readers). Durability does not change: a transaction is
durable once its WAL frames are fsynced at COMMIT (``synchronous=FULL``),
whoever copies them later, and after a crash SQLite replays the WAL on open.

The WAL stays bounded. SQLite writes it from the beginning again only when
a write transaction starts while every frame has been copied and no reader
uses the WAL; under a steady stream of commits the next one always starts
before the thread has copied the last, so the WAL would only grow. Once the
thread finds more than ``max_frames`` frames in it, the writer runs a RESTART
checkpoint itself before its next transaction: the thread has copied all but
the latest commits' frames, so this copies only those, waits for readers to
leave the WAL, and the transaction starts it over. (SQLite refuses, without
waiting, a checkpoint while another runs, so the two take turns under a
lock.) If the thread is gone, the writer checkpoints before every transaction.

No other I/O than the given connection's.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["WalCheckpointer"]

_log = logging.getLogger(__name__)


class WalCheckpointer:
    """A thread that checkpoints one SQLite database's WAL after each commit.

    Args:
        connect: Opens the thread's own connection (called on the thread).
        max_frames: WAL frames (pages) beyond which the writer makes SQLite
            start the WAL over.
        description: Names the database in log messages.
    """

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, max_frames: int, description: str
    ) -> None:
        self._connect = connect
        self._max_frames = max_frames
        self._description = description
        self._wake = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()  # one checkpoint at a time
        self._frames = 0  # WAL frames the last checkpoint found
        self._thread = threading.Thread(
            target=self._run, name="vigil-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """The writer committed: copy its frames (soon, on the thread)."""
        self._wake.set()

    def before_write(self, writer: sqlite3.Connection) -> None:
        """Called by the writer, outside a transaction, before each one.

        Checkpoints on the writer only if the WAL is over its cap (RESTART)
        or the thread is gone (PASSIVE).

        Raises:
            sqlite3.Error: the checkpoint failed.
        """
        if self._frames > self._max_frames:
            with self._lock:
                busy, _, _ = writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            if busy:
                _log.warning("%s: readers kept the WAL from starting over", self._description)
            else:
                self._frames = 0
        elif not self._thread.is_alive() and not self._stopping:
            writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (after the checkpoint it may be running)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s)

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames < 0:
                # Not in WAL mode for this connection yet: it opened the file
                # before the writer switched it, and learns of it on a read.
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy:
            self._frames = frames

    def _run(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:  # the writer checkpoints itself (before_write)
            _log.error("%s: no checkpoint thread (%s)", self._description, exc)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    self._checkpoint(conn)
                except sqlite3.Error as exc:
                    # Only the copy failed: the frames stay in the WAL, durable.
                    _log.warning("%s: WAL checkpoint failed (%s)", self._description, exc)
        finally:
            conn.close()
