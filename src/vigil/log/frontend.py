"""Front-end processes: HTTP and admission in several processes, one sequencer.

One Python process runs Python code on one core at a time (the GIL). At
thousands of requests a second the HTTP handling, admission and proof
construction alone need more than that, while sequencing must stay in one
place. So ``vigil log serve --workers N`` runs:

* the **sequencer process**: storage, the sequencer lock and the
  :class:`~vigil.log.sequencer.Sequencer`, exactly as without workers; it
  answers no HTTP itself, and relays to every front end, over a
  :class:`SequencerLink`, the commits of its submissions, each published
  checkpoint and the tree nodes each integration completed (the front ends'
  proof caches);
* N **front-end processes**, each a complete :class:`~vigil.log.service.LogService`
  (HTTP, admission, reads from storage and tiles, proofs) whose sequencer
  is a :class:`RemoteSequencer`: submissions go to the sequencer process,
  and a front end acknowledges an entry only after the sequencer process
  reports it durably committed, so acknowledgements mean what they mean
  without workers. All of them accept connections on one listening socket.

The link is a socket pair created by the sequencer process and inherited by
each front end (nothing on the file system, no one else can connect). Frames
are a 4-byte big-endian length and a pickle of plain tuples; both ends are
processes of the same server. Submissions made in one turn of a front end's
event loop travel as one frame, and so do the answers to one commit.

An entry travels with what the front end's admission established: its
search keys, the signers whose signatures verified and its predicate type.
The sequencer process trusts them as it trusts its own admission (a front
end is the same server; the link is a pickle stream, so it already takes the
front end's word for everything), which spares the commit gate, on the one
sequencing thread, a second signature check of every entry.

If the sequencer process dies, every front end sees the link close and exits
at once (unacknowledged requests fail; clients retry), so a restarted server
never meets a stale front end. A front end that dies loses only its own
in-flight requests.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import pickle
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

from vigil.core.checkpoint import parse_checkpoint
from vigil.core.note import parse_note
from vigil.core.statusmap import status_root
from vigil.log.entry import ValidatedEntry
from vigil.log.errors import PushbackError
from vigil.log.kinds import IndexKey
from vigil.log.maprelay import MapRelay
from vigil.log.pool import Submission
from vigil.log.sequencer import Published, Sequencer

__all__ = ["RemoteSequencer", "SequencerLink"]

_log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
_MAX_FRAME_BYTES = 1 << 30

Nodes = dict[tuple[int, int], bytes]


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(_HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length > _MAX_FRAME_BYTES:
        raise ConnectionError(f"link frame of {length} bytes")
    return pickle.loads(await reader.readexactly(length))


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _published(note: bytes) -> Published:
    return Published(parse_checkpoint(parse_note(note).text), note)


class SequencerLink:
    """The sequencer process's side: serves front ends over inherited sockets.

    Args:
        sequencer: The (recovered) sequencer.
        maps: Relays the status map to front ends (None: the log keeps none).
    """

    def __init__(self, sequencer: Sequencer, maps: MapRelay | None = None) -> None:
        self._sequencer = sequencer
        self._maps = maps
        self._writers: list[asyncio.StreamWriter] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # Called from the sequencer thread (wired as publication relays).

    def on_publish(self, published: Published) -> None:
        """Relay a publication to every front end (its status map first)."""
        if self._maps is not None:
            message = self._maps.changes(status_root(published.checkpoint))
            if message is not None:
                self._broadcast(message)
        self._broadcast(("published", published.note))

    def on_nodes(self, nodes: Nodes) -> None:
        """Relay new tree nodes to every front end's proof cache."""
        self._broadcast(("nodes", nodes))

    def _broadcast(self, message: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            frame = _frame(message)
            loop.call_soon_threadsafe(self._send_all, frame)

    def _send_all(self, frame: bytes) -> None:
        for writer in self._writers:
            _write(writer, frame)

    async def serve(self, sockets: Sequence[socket.socket]) -> None:
        """Serve front ends on these connected sockets until each closes."""
        self._loop = asyncio.get_running_loop()
        await asyncio.gather(*(self._serve_one(sock) for sock in sockets))

    async def _serve_one(self, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=_MAX_FRAME_BYTES)
        writer.write(_frame(("published", self._sequencer.published.note)))
        full = None if self._maps is None else self._maps.full()
        if full is not None:
            writer.write(_frame(full))
        self._writers.append(writer)
        replies = _Replies(asyncio.get_running_loop(), writer)
        try:
            while True:
                try:
                    _, submissions = await _read_frame(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    _log.warning("a front-end process closed its link")
                    return
                for request, raw_entries in submissions:
                    # The front end's admission verified the signatures: its
                    # signers are relayed, not checked again (see the module
                    # docstring).
                    entries = [
                        ValidatedEntry(
                            data, leaf_hash, tuple(IndexKey(t, v) for t, v in keys),
                            signers=signers, predicate_type=predicate_type,
                        )
                        for data, leaf_hash, keys, signers, predicate_type in raw_entries
                    ]
                    try:
                        self._sequencer.enqueue(
                            entries, functools.partial(replies.done, request)
                        )
                    except PushbackError as exc:
                        replies.add((request, None, (str(exc), exc.retry_after_s)))
        finally:
            self._writers.remove(writer)
            writer.close()


class _Replies:
    """Answers to one front end, gathered and sent as one frame per event-loop turn.

    The sequencer resolves a whole commit's submissions in a row, from its
    thread; they leave together.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: asyncio.StreamWriter) -> None:
        self._loop = loop
        self._writer = writer
        self._pending: list[Any] = []
        self._lock = threading.Lock()

    def done(self, request: int, submission: Submission) -> None:
        """A submission's ``on_done`` (any thread)."""
        error = submission.error
        if error is None:
            self.add((request, submission.indexes, None))
        else:
            self.add((request, None, (str(error), _retry_after(error))))

    def add(self, reply: Any) -> None:
        with self._lock:
            first = not self._pending
            self._pending.append(reply)
        if first and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        if pending:
            _write(self._writer, _frame(("done", pending)))


def _write(writer: asyncio.StreamWriter, frame: bytes) -> None:
    """Write unless the link is closed or closing (then the peer is gone: drop it)."""
    if writer.is_closing():
        return
    try:
        writer.write(frame)
    except (RuntimeError, ConnectionError):  # closed under us; the reader reports it
        writer.close()


def _retry_after(error: BaseException) -> int:
    return error.retry_after_s if isinstance(error, PushbackError) else 5


class RemoteSequencer:
    """A front end's stand-in for the sequencer: submissions go over the link.

    Offers what :class:`~vigil.log.service.LogService` uses of a
    :class:`~vigil.log.sequencer.Sequencer`: :attr:`published`,
    :meth:`enqueue`, :meth:`start` and :meth:`stop`.

    Args:
        link: This front end's end of the socket pair.
        on_publish: Called (on the event loop) with each publication.
        on_nodes: Called (on the event loop) with each integration's nodes.
        on_map: Called (on the event loop) with each status-map message
            (see :mod:`vigil.log.maprelay`), or None to ignore them.
        on_lost: Called once if the sequencer process goes away (default:
            exit the process at once).
    """

    def __init__(
        self,
        link: socket.socket,
        *,
        on_publish: Callable[[Published], None],
        on_nodes: Callable[[Nodes], None],
        on_map: Callable[[Any], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._link = link
        self._on_publish = on_publish
        self._on_nodes = on_nodes
        self._on_map = on_map
        self._on_lost = on_lost or _exit_now
        self._published: Published | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: dict[int, Submission] = {}
        self._outbox: list[tuple[int, list[Any]]] = []
        self._ids = itertools.count()
        self._reader_task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    @property
    def published(self) -> Published:
        """The latest publication the sequencer process announced."""
        if self._published is None:
            raise RuntimeError("front end: not connected to the sequencer yet")
        return self._published

    async def connect(self) -> Published:
        """Open the link and wait for the current checkpoint."""
        reader, writer = await asyncio.open_unix_connection(
            sock=self._link, limit=_MAX_FRAME_BYTES
        )
        self._writer = writer
        kind, note = await _read_frame(reader)
        if kind != "published":
            raise ConnectionError(f"link: unexpected first message {kind!r}")
        self._published = _published(note)
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        return self._published

    def start(self) -> None:
        """Nothing to start: :meth:`connect` did."""

    def stop(self) -> None:
        """Close the link; waiting submissions fail with pushback."""
        self._fail(PushbackError("log is shutting down; resubmit later", retry_after_s=5))
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    def enqueue(
        self, entries: Sequence[ValidatedEntry], on_done: Callable[[Submission], None]
    ) -> Submission:
        """Send entries to the sequencer process; ``on_done`` runs when it answers.

        Raises:
            PushbackError: the link is gone.
        """
        writer = self._writer
        if self.failure is not None or writer is None or writer.is_closing():
            raise PushbackError(f"log sequencer is unavailable: {self.failure}", retry_after_s=5)
        submission = Submission(len(entries), on_done)
        request = next(self._ids)
        self._waiting[request] = submission
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append((
            request,
            [
                (
                    e.data, e.leaf_hash, tuple((k.key_type, k.value) for k in e.index_keys),
                    e.signers, e.predicate_type,
                )
                for e in entries
            ],
        ))
        return submission

    def _flush(self) -> None:
        """Send this turn's submissions as one frame."""
        outbox, self._outbox = self._outbox, []
        writer = self._writer
        if writer is not None:
            _write(writer, _frame(("submit", outbox)))
        if writer is None or writer.is_closing():  # the link broke: nothing was sent
            error = PushbackError("log sequencer is unavailable", retry_after_s=5)
            for request, _ in outbox:
                submission = self._waiting.pop(request, None)
                if submission is not None:
                    submission.fail(error)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await _read_frame(reader)
                kind = message[0]
                if kind == "done":
                    for request, indexes, error in message[1]:
                        submission = self._waiting.pop(request, None)
                        if submission is None:
                            continue
                        if error is not None:
                            submission.fail(PushbackError(error[0], retry_after_s=error[1]))
                        else:
                            submission.complete(indexes)
                elif kind == "published":
                    self._published = _published(message[1])
                    self._on_publish(self._published)
                elif kind == "nodes":
                    self._on_nodes(message[1])
                elif kind == "map" and self._on_map is not None:
                    self._on_map(message)
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            _log.critical("front end: lost the sequencer process (%s)", exc)
            self._fail(PushbackError("log sequencer went away", retry_after_s=5))
            self._on_lost()

    def _fail(self, error: PushbackError) -> None:
        if self.failure is None:
            self.failure = error
        waiting, self._waiting = self._waiting, {}
        for submission in waiting.values():
            submission.fail(error)


def _exit_now() -> None:
    # The sequencer process is gone: nothing this process holds is durable or
    # useful, and its listening socket must not outlive the server.
    os._exit(3)
