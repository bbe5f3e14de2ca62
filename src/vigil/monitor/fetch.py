"""Fetching a log's public resources over HTTP (moved to :mod:`vigil._internal.http`).

Re-exported here for the monitor's callers (``vigil audit``).
"""

from vigil._internal.http import MAX_RESPONSE_BYTES, Fetcher, HttpFetcher

__all__ = ["MAX_RESPONSE_BYTES", "Fetcher", "HttpFetcher"]
