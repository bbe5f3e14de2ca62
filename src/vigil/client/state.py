"""What this machine remembers between runs: ``/var/lib/vigil`` (or ``--state-dir``).

Layout::

    STATE/lock                        flock: one run at a time updates the state
    STATE/charters/v<N>.dsse.json     each charter version verified after the shipped one
    STATE/logs/<id>.checkpoint        the last verified checkpoint of each log
    STATE/repositories/<id>.json      the last accepted version of each repository
    STATE/evidence/<time>-<kind>-<id>.json   rollbacks and forks seen

``<id>`` is a hash of the log origin or repository name, so no name can
escape the directory. Every file is written atomically (temporary file,
fsync, rename, fsync of the directory), and a run holds the lock from reading
the state to writing it, so concurrent runs (a package manager's hook and a
timer) serialise instead of losing an update. Nothing here goes backwards:
the stored checkpoint only grows and the accepted version only rises.

The shipped charter (the configuration's ``charter``) is the trust root; the
versions under ``charters/`` are re-verified against it on every load (a few
signature checks), so a tampered state directory cannot smuggle in a charter.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from types import TracebackType

from vigil.core.charter import (
    Charter,
    SignedCharter,
    parse_signed_charter,
    verify_chain,
)
from vigil.core.checkpoint import Checkpoint, parse_checkpoint
from vigil.core.dsse import parse_envelope
from vigil.core.note import parse_note
from vigil.errors import ConfigError, StorageError, VigilError

__all__ = ["State", "load_trusted_charter", "read_charter_file"]

_MAX_FILE = 16 * 1024 * 1024


def _id(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]


def _read(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(data) > _MAX_FILE:
        raise StorageError(f"{path}: larger than {_MAX_FILE} bytes")
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write ({exc.strerror})") from exc


def read_charter_file(path: Path) -> SignedCharter:
    """Parse a charter envelope file (what ``vigil charter sign`` writes).

    Raises:
        ConfigError: missing, unreadable or not a signed charter.
    """
    try:
        data = _read(path)
    except StorageError as exc:
        raise ConfigError(str(exc)) from exc
    if data is None:
        raise ConfigError(f"{path}: no such charter file")
    try:
        return parse_signed_charter(parse_envelope(data))
    except VigilError as exc:
        raise ConfigError(f"{path}: not a signed charter ({exc})") from exc


def load_trusted_charter(shipped: SignedCharter) -> Charter:
    """Accept the shipped charter as the trust root, if its own foundation signed it.

    Raises:
        ConfigError: its foundation's threshold is not met.
    """
    result = shipped.charter.foundation.evaluate(shipped.signers)
    if not result.met:
        raise ConfigError(
            f"trusted {shipped.charter.label}: its own foundation did not sign it "
            f"({result.describe()})"
        )
    return shipped.charter


class State:
    """The state directory, locked for one run (use as a context manager).

    Args:
        directory: The state directory (created if missing).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock_fd: int | None = None

    def __enter__(self) -> State:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"state directory {self.directory}: cannot use it ({exc.strerror}); "
                "pass --state-dir or run as a user who may write there"
            ) from exc
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- charter ---------------------------------------------------------------------

    def charter(self, root: Charter) -> Charter:
        """The newest charter verified from ``root`` through the stored versions.

        Raises:
            StorageError: a stored version does not continue the chain.
        """
        signed = []
        version = root.version + 1
        while (data := _read(self._charter_path(version))) is not None:
            try:
                signed.append(parse_signed_charter(parse_envelope(data)))
            except VigilError as exc:
                raise StorageError(f"{self._charter_path(version)}: {exc}") from exc
            version += 1
        if not signed:
            return root
        try:
            return verify_chain(signed, trusted=root).charter
        except VigilError as exc:
            raise StorageError(
                f"state directory {self.directory}: stored charters do not continue "
                f"{root.label} ({exc}); remove {self.directory / 'charters'} to start over"
            ) from exc

    def add_charters(self, entries: tuple[bytes, ...], first_version: int) -> None:
        """Keep newly verified charter versions (entry bytes, oldest first)."""
        for offset, data in enumerate(entries):
            path = self._charter_path(first_version + offset)
            if not path.exists():
                write_atomic(path, data)

    def _charter_path(self, version: int) -> Path:
        return self.directory / "charters" / f"v{version}.dsse.json"

    # -- checkpoints -----------------------------------------------------------------

    def checkpoint(self, origin: str) -> tuple[Checkpoint, bytes] | None:
        """The last verified checkpoint of log ``origin`` and its note."""
        path = self.directory / "logs" / f"{_id(origin)}.checkpoint"
        data = _read(path)
        if data is None:
            return None
        try:
            checkpoint = parse_checkpoint(parse_note(data).text)
        except VigilError as exc:
            raise StorageError(f"{path}: not a checkpoint ({exc}); remove it to start over") \
                from exc
        if checkpoint.origin != origin:
            raise StorageError(f"{path}: holds a checkpoint of {checkpoint.origin!r}")
        return checkpoint, data

    def set_checkpoint(self, checkpoint: Checkpoint, note: bytes) -> None:
        """Remember a verified checkpoint (never a smaller tree than the stored one;
        the very note already stored is not written again: each write costs two
        fsyncs, on every run of a package-manager hook)."""
        stored = self.checkpoint(checkpoint.origin)
        if stored is not None and (stored[0].size > checkpoint.size or stored[1] == note):
            return
        write_atomic(self.directory / "logs" / f"{_id(checkpoint.origin)}.checkpoint", note)

    # -- repositories ----------------------------------------------------------------

    def _repository_path(self, name: str) -> Path:
        return self.directory / "repositories" / f"{_id(name)}.json"

    def version(self, repository: str) -> int | None:
        """The last version of ``repository`` this machine accepted."""
        accepted = self._accepted(repository)
        return None if accepted is None else accepted[0]

    def _accepted(self, repository: str) -> tuple[int, object] | None:
        """The stored (version, digest) of ``repository``, or None."""
        path = self._repository_path(repository)
        data = _read(path)
        if data is None:
            return None
        try:
            value = json.loads(data)
            version = value["version"]
            if value["repository"] != repository or not isinstance(version, int):
                raise ValueError("not this repository's record")
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{path}: malformed ({exc}); remove it to start over") from exc
        return version, value.get("digest")

    def set_version(self, repository: str, version: int, digest: str) -> None:
        """Remember an accepted version (never lower than the stored one). The
        record keeps when the version was first accepted: an unchanged one is
        not written again (two fsyncs on every run of a package-manager hook)."""
        stored = self._accepted(repository)
        if stored is not None and (stored[0] > version or stored == (version, digest)):
            return
        document = {"repository": repository, "version": version, "digest": digest,
                    "accepted": int(time.time())}
        write_atomic(self._repository_path(repository), json.dumps(document).encode())

    # -- evidence --------------------------------------------------------------------

    def keep_evidence(self, kind: str, repository: str, data: bytes) -> Path:
        """Keep a document showing misbehaviour; returns its path."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / "evidence" / f"{stamp}-{kind}-{_id(repository)}.json"
        write_atomic(path, data)
        return path
