"""The one exception hierarchy of Vigil.

Every failure that crosses the public API is a :class:`VigilError`; built-in
exceptions escape only for programmer misuse (wrong types, wrong call order),
so that callers never catch their own bugs as if they were attacks.

Malformed, forged and unavailable are different outcomes with different
classes: a parse failure is a :class:`FormatError`, never a
:class:`VerificationError`, and a transport failure is never "verified false".
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "FormatError",
    "FreshnessError",
    "PolicyError",
    "ProofError",
    "RollbackError",
    "RootMismatchError",
    "SignatureError",
    "SplitViewError",
    "StorageError",
    "ThresholdError",
    "TransportError",
    "UnsupportedError",
    "VerificationError",
    "VigilError",
]


class VigilError(Exception):
    """Root of every error Vigil raises on purpose."""

    def hint(self) -> str:
        """What a person should do next; rendered only by the CLI."""
        return ""


class FormatError(VigilError, ValueError):
    """Bytes do not parse, or a model invariant is violated."""


class UnsupportedError(FormatError):
    """A known format with an unknown version or algorithm."""


class VerificationError(VigilError):
    """Well-formed input that is false or untrusted."""


class SignatureError(VerificationError):
    """A bad, missing or unknown signature."""


class ThresholdError(SignatureError):
    """Fewer distinct valid signatures than a threshold requires."""


class ProofError(VerificationError):
    """An inclusion or consistency proof does not check out."""


class RootMismatchError(ProofError):
    """A proof computes a root other than the expected one; carries both."""

    def __init__(self, message: str, *, expected: bytes, computed: bytes) -> None:
        super().__init__(message)
        self.expected = expected
        self.computed = computed


class RollbackError(VerificationError):
    """Something older than what is already trusted."""


class FreshnessError(VerificationError):
    """A view that is not fresh enough (or is from the future)."""


class SplitViewError(VerificationError):
    """Two different roots for one (origin, size); carries both notes as evidence."""

    def __init__(self, message: str, *, first: bytes = b"", second: bytes = b"") -> None:
        super().__init__(message)
        self.first = first
        self.second = second


class PolicyError(VerificationError):
    """An identity, predicate or witness policy is not met."""


class TransportError(VigilError):
    """Network failure, unexpected HTTP status, size cap or timeout."""


class StorageError(VigilError):
    """Local persistence failed."""


class ConflictError(StorageError):
    """A compare-and-swap lost against a concurrent writer."""


class ConfigError(VigilError):
    """Bad configuration or trust root."""
