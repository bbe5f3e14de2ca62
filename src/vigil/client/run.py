"""One ``vigil verify`` run: state, metadata, bundle, checks, and what is remembered.

:class:`Client` is what a package-manager plugin calls: construct it with the
configuration, the state directory and the trusted charter, call
:meth:`Client.verify` per repository (or :meth:`Client.verify_all`), and map
:attr:`Result.verdict` to the plugin's own way of refusing.

Servers are tried in order; one that cannot be reached or whose answer does
not parse as a bundle is skipped. The first bundle that parses is verified
and its verdict is final: a mirror serving tampered proofs makes the run fail
(loudly) rather than be quietly replaced by another answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vigil.client.checks import Report, Trusted, verify_bundle
from vigil.client.config import ClientConfig
from vigil.client.fetch import Fetcher
from vigil.client.state import State
from vigil.core.bundle import Bundle, parse_bundle
from vigil.core.charter import Charter, digest_text
from vigil.core.checkpoint import Checkpoint, parse_checkpoint
from vigil.core.note import parse_note
from vigil.core.statedigest import guess_format, state_digest
from vigil.errors import ConfigError, FormatError, StorageError, TransportError, VigilError

__all__ = ["MAX_METADATA_BYTES", "Answer", "Client", "Result", "metadata_digest"]

MAX_METADATA_BYTES = 256 * 1024 * 1024
_PARALLEL = 8

Verdict = Literal["verified", "rejected", "stale", "unavailable"]


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome for one repository.

    Attributes:
        repository: Its name.
        verdict: ``verified``, ``rejected``, ``stale`` (freshness not
            confirmed and the charter rejects stale views) or ``unavailable``
            (no bundle could be had).
        report: The checks, unless unavailable.
        source: Where the bundle came from (URL or file).
        transferred: Bytes received for it over the network.
        bundle_bytes: Its size.
        digest: The metadata's state digest.
        error: Why it was unavailable.
        evidence: Files kept as evidence of misbehaviour.
    """

    repository: str
    verdict: Verdict
    report: Report | None = None
    source: str = ""
    transferred: int = 0
    bundle_bytes: int = 0
    digest: bytes = b""
    error: str = ""
    evidence: tuple[Path, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Answer:
    """A bundle obtained from a server or file, parsed once where it was judged current.

    Attributes:
        data: The bundle bytes.
        source: The server URL or file it came from.
        transferred: Bytes received over the network for it.
        bundle: The parsed bundle (None: not parsed yet, e.g. from a file).
    """

    data: bytes
    source: str
    transferred: int
    bundle: Bundle | None = None


def metadata_digest(path: Path, repo_format: str) -> bytes:
    """The state digest of the metadata file at ``path`` under the charter's format.

    Raises:
        ConfigError: unreadable, too large, or it looks like another format.
        FormatError: a malformed InRelease.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_METADATA_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the metadata ({exc.strerror})") from exc
    if len(data) > MAX_METADATA_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_METADATA_BYTES} bytes")
    guessed = guess_format(path.name, data)
    if guessed is not None and guessed != repo_format:
        raise ConfigError(
            f"{path}: looks like {guessed} metadata, but the charter says the repository "
            f"is {repo_format}"
        )
    return state_digest(repo_format, data)


class Client:
    """Verifies repositories for one machine.

    Args:
        config: The configuration (servers, repositories).
        state: The state directory, entered (locked) by the caller.
        root: The shipped, trusted charter.
        now: The clock (POSIX seconds).
    """

    def __init__(
        self, config: ClientConfig, state: State, root: Charter,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.charter = state.charter(root)
        self._now = now
        self._fetcher = Fetcher(config.timeout_s)

    def close(self) -> None:
        """Close network connections."""
        self._fetcher.close()

    def _servers(self, repository: str) -> list[str]:
        servers = list(self.config.repository(repository).mirrors)
        for log in self.charter.logs:
            servers.extend(u.rstrip("/") for u in log.urls)
        servers.extend(self.config.mirrors)
        return list(dict.fromkeys(servers))

    def _origin(self) -> str:
        if not self.charter.logs:
            raise ConfigError(f"{self.charter.label} names no log")
        return self.charter.logs[0].origin

    def verify(
        self,
        repository: str,
        metadata: Path,
        *,
        bundle_file: Path | None = None,
        save_bundle: Path | None = None,
        fetched: Answer | None = None,
    ) -> Result:
        """Verify ``metadata`` as the current state of ``repository``.

        Args:
            repository: The repository name (as the charter names it).
            metadata: Its metadata file (repomd.xml, Release, ...).
            bundle_file: Verify this saved bundle instead of fetching one.
            save_bundle: Also write the bundle here.
            fetched: A bundle already fetched (``verify_all``).

        Raises:
            ConfigError: the charter does not name the repository, or the
                metadata cannot be read or is of another format.
            StorageError: the state directory cannot be used.
        """
        rules = self.charter.repositories.get(repository)
        if rules is None:
            raise ConfigError(f"{self.charter.label} does not name repository {repository!r}")
        digest = metadata_digest(metadata, rules.format)
        origin = self._origin()
        stored = self.state.checkpoint(origin)
        if fetched is None:
            try:
                fetched = self._obtain(repository, bundle_file, stored_size(stored))
            except TransportError as exc:
                return Result(repository, "unavailable", digest=digest, error=str(exc))
        data, source, transferred = fetched.data, fetched.source, fetched.transferred
        try:
            bundle = fetched.bundle or parse_bundle(data)
            served = _tree(bundle)
            if served is not None and served.origin != origin:
                # Another log of the charter: judge it against what this machine
                # verified of that log (the checks verify the log's key).
                origin, stored = served.origin, self.state.checkpoint(served.origin)
            size = stored_size(stored)
            if bundle_file is None and 0 < size != bundle.old_size and served is not None \
                    and served.size > size:
                # Fetched (in parallel) before this run stored a newer tree: ask
                # again for a consistency proof from the tree stored now.
                again = self._obtain(repository, None, size)
                data, source = again.data, again.source
                transferred += again.transferred
                bundle = again.bundle or parse_bundle(data)
        except FormatError as exc:
            return Result(repository, "unavailable", source=source, digest=digest,
                          error=f"{source}: not a valid bundle ({exc})")
        except TransportError as exc:
            return Result(repository, "unavailable", digest=digest, error=str(exc))
        if save_bundle is not None:
            _write(save_bundle, data)
        report = verify_bundle(
            bundle,
            Trusted(
                charter=self.charter,
                checkpoint=stored[0] if stored else None,
                checkpoint_note=stored[1] if stored else b"",
                version=self.state.version(repository),
            ),
            repository=repository, metadata_digest=digest, now=int(self._now()),
        )
        evidence = self._remember(report)
        return Result(repository, report.verdict, report, source, transferred, len(data),
                      digest, evidence=evidence)

    def _obtain(self, repository: str, bundle_file: Path | None, size: int) -> Answer:
        if bundle_file is not None:
            try:
                return Answer(bundle_file.read_bytes(), str(bundle_file), 0)
            except OSError as exc:
                raise ConfigError(f"{bundle_file}: cannot read ({exc.strerror})") from exc
        reasons: list[str] = []
        behind: Answer | None = None
        transferred = 0
        answers = self._fetcher.bundles(
            self._servers(repository), repository, size=size,
            charter_version=self.charter.version,
        )
        for got in answers:
            if isinstance(got, TransportError):
                reasons.append(str(got))
                continue
            transferred += got.transferred
            try:
                bundle = parse_bundle(got.data)
            except FormatError as exc:
                reasons.append(f"{got.url}: not a valid bundle ({exc})")
                continue
            served = _tree(bundle)
            tree = -1 if served is None else served.size
            if tree >= size:
                return Answer(got.data, got.url, transferred, bundle)
            # Behind this machine's view: a lagging mirror, or a rollback.
            # Another server may be current; if none is, the checks judge it.
            reasons.append(f"{got.url}: tree {tree}, behind this machine's {size}")
            behind = behind or Answer(got.data, got.url, 0, bundle)
        if behind is not None:
            return Answer(behind.data, behind.source, transferred, behind.bundle)
        raise TransportError(f"no server gave a bundle for {repository!r}: " + "; ".join(reasons))

    def _remember(self, report: Report) -> tuple[Path, ...]:
        state = self.state
        if report.charter_entries:
            state.add_charters(report.charter_entries, self.charter.version + 1)
            self.charter = report.charter
        if report.checkpoint is not None:
            state.set_checkpoint(report.checkpoint, report.checkpoint_note)
        if report.version is not None and report.release is not None:
            state.set_version(report.repository, report.version,
                              digest_text(report.release.digest))
        return tuple(state.keep_evidence(kind, report.repository, data)
                     for kind, data in report.evidence)

    def verify_all(self, repositories: Sequence[tuple[str, Path]]) -> list[Result]:
        """Verify several repositories: bundles fetched in parallel, checked in order.

        Raises:
            ConfigError, StorageError: as :meth:`verify`.
        """
        from concurrent.futures import ThreadPoolExecutor  # only --all pays for it

        origin = self._origin()
        size = stored_size(self.state.checkpoint(origin))

        def fetch(name: str) -> Answer | TransportError:
            try:
                return self._obtain(name, None, size)
            except TransportError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            answers = list(pool.map(fetch, [name for name, _ in repositories]))
        results = []
        for (name, metadata), answer in zip(repositories, answers, strict=True):
            if isinstance(answer, TransportError):
                rules = self.charter.repositories.get(name)
                if rules is None:
                    raise ConfigError(f"{self.charter.label} does not name repository {name!r}")
                results.append(Result(name, "unavailable", error=str(answer),
                                      digest=metadata_digest(metadata, rules.format)))
                continue
            results.append(self.verify(name, metadata, fetched=answer))
        return results


def stored_size(stored: tuple[Checkpoint, bytes] | None) -> int:
    """The tree size of a stored checkpoint (0 if none)."""
    return 0 if stored is None else stored[0].size


def _tree(bundle: Bundle) -> Checkpoint | None:
    """The bundle's checkpoint, read without verifying (to pick the stored view
    to compare with, and to decide on a refetch); None if malformed."""
    try:
        return parse_checkpoint(parse_note(bundle.checkpoint).text)
    except VigilError:
        return None


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise StorageError(f"{path}: cannot write the bundle ({exc.strerror})") from exc
