"""One HTTP request per repository: fetch its verification bundle from any server.

Servers are tried in order (the repository's mirrors, the charter's log URLs,
the configured mirrors); the first that answers 200 with a bundle of at most
:data:`~vigil.core.bundle.MAX_BUNDLE_BYTES` wins. Nothing a server says is
trusted here: :mod:`vigil.client.checks` verifies the bundle. A server that
fails (connection, status, size) is skipped, and when all fail the error names
each one's reason.

httpx is imported on first use: a run that verifies a saved bundle offline
should not pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from vigil.core.bundle import MAX_BUNDLE_BYTES
from vigil.errors import TransportError

if TYPE_CHECKING:
    import httpx

__all__ = ["Fetched", "Fetcher"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A bundle as fetched.

    Attributes:
        data: The (decompressed) bundle bytes.
        url: The server that gave it.
        transferred: Bytes received on the wire (compressed body).
    """

    data: bytes
    url: str
    transferred: int


class Fetcher:
    """Fetches bundles over one HTTP client (connections are reused across repositories).

    Args:
        timeout_s: Per-request timeout.
    """

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                timeout=self._timeout_s, follow_redirects=False,
                headers={"Accept-Encoding": "gzip", "User-Agent": "vigil-verify"},
            )
        return self._client

    def close(self) -> None:
        """Close the connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def bundle(
        self, servers: Sequence[str], repository: str, *, size: int, charter_version: int
    ) -> Fetched:
        """Fetch the bundle of ``repository`` from the first server that gives one.

        Raises:
            TransportError: no server gave a bundle (each reason listed).
        """
        if not servers:
            raise TransportError(
                f"no server to ask for {repository!r}: the charter names no log URL and no "
                "mirror is configured"
            )
        path = f"/api/v1/bundle/{quote(repository, safe='')}"
        params = {"size": str(size), "charter": str(charter_version)}
        reasons = []
        for server in servers:
            try:
                return self._get(server, path, params)
            except TransportError as exc:
                reasons.append(f"{server}: {exc}")
        raise TransportError(f"no server gave a bundle for {repository!r}: " + "; ".join(reasons))

    def _get(self, server: str, path: str, params: dict[str, str]) -> Fetched:
        import httpx

        try:
            with self._http().stream("GET", server.rstrip("/") + path, params=params) as response:
                if response.status_code != 200:
                    response.read()
                    raise TransportError(
                        f"HTTP {response.status_code} {_message(response)}"
                    )
                chunks = []
                total = 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > MAX_BUNDLE_BYTES:
                        raise TransportError(f"bundle larger than {MAX_BUNDLE_BYTES} bytes")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), server, response.num_bytes_downloaded)
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc


def _message(response: httpx.Response) -> str:
    try:
        value = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return str(value["message"])[:200]
    return response.text[:200]
