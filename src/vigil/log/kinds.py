"""The registry of statement kinds the log accepts.

A *kind* is an in-toto predicateType plus a validator for its predicate
(DESIGN.md "Entries and what the log enforces": kinds are pluggable). The log
refuses statements whose predicateType is not registered
(:class:`~vigil.log.errors.UnknownKindError`) and statements whose predicate
does not validate (:class:`~vigil.log.errors.InvalidStatementError`).

The registry also extracts the entry's *search keys*: every subject digest
(``"<algorithm>:<value>"``), every signer's verifier key, and the repository
the statement is about when the kind defines one.

This module registers the generic ``artifact`` kind (Rekor's hashedrekord
counterpart: "these signers vouch for these digests"); the release, rebuild,
advisory, charter and revocation kinds are added by the charter work (issue 4).

No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vigil.core.intoto import Statement
from vigil.errors import FormatError
from vigil.log.errors import InvalidStatementError, UnknownKindError

__all__ = [
    "ARTIFACT_PREDICATE_TYPE",
    "KEY_DIGEST",
    "KEY_REPOSITORY",
    "KEY_SIGNER",
    "KEY_TYPES",
    "IndexKey",
    "Kind",
    "KindRegistry",
    "default_registry",
    "validate_artifact",
]

KEY_DIGEST = "digest"
KEY_SIGNER = "signer"
KEY_REPOSITORY = "repository"
KEY_TYPES = (KEY_DIGEST, KEY_SIGNER, KEY_REPOSITORY)
"""The search key types, as used in the search API's query parameters."""

ARTIFACT_PREDICATE_TYPE = "https://vigil.dev/artifact/v1"
"""predicateType of the generic signed-artifact kind."""

MAX_KEY_CHARS = 1024
"""Longest search key value; longer values are not indexed (and not searchable)."""

_ARTIFACT_DESCRIPTION_MAX_CHARS = 4096

Validator = Callable[[Statement], "str | None"]
"""Validates a statement's predicate; returns the repository it is about, or None.

Raises FormatError (or InvalidStatementError) if the predicate is malformed.
"""


@dataclass(frozen=True, slots=True)
class IndexKey:
    """One search key of an entry.

    Attributes:
        key_type: One of :data:`KEY_TYPES`.
        value: ``sha256:<hex>`` for digests, the verifier key for signers, the
            repository name for repositories.
    """

    key_type: str
    value: str

    def __post_init__(self) -> None:
        if self.key_type not in KEY_TYPES:
            raise ValueError(f"index key type: got {self.key_type!r}, want one of {KEY_TYPES}")
        if not self.value or len(self.value) > MAX_KEY_CHARS:
            raise ValueError(
                f"index key {self.key_type}: value has {len(self.value)} characters "
                f"(want 1 to {MAX_KEY_CHARS})"
            )


@dataclass(frozen=True, slots=True)
class Kind:
    """A registered statement kind.

    Attributes:
        name: Short name (``artifact``, ``release`` ...), used in messages.
        predicate_type: The in-toto predicateType URI it handles.
        validate: The predicate validator (see :data:`Validator`).
    """

    name: str
    predicate_type: str
    validate: Validator


class KindRegistry:
    """predicateType → :class:`Kind`; populated at startup, then read-only."""

    def __init__(self, kinds: Iterable[Kind] = ()) -> None:
        self._kinds: dict[str, Kind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: Kind) -> None:
        """Add a kind.

        Raises:
            ValueError: if its predicateType is already registered (a
                programming error).
        """
        if kind.predicate_type in self._kinds:
            raise ValueError(f"kind {kind.name}: predicateType {kind.predicate_type} taken")
        self._kinds[kind.predicate_type] = kind

    @property
    def predicate_types(self) -> tuple[str, ...]:
        """The registered predicateTypes, sorted."""
        return tuple(sorted(self._kinds))

    def lookup(self, predicate_type: str) -> Kind:
        """The kind for a predicateType.

        Raises:
            UnknownKindError: it is not registered.
        """
        kind = self._kinds.get(predicate_type)
        if kind is None:
            raise UnknownKindError(
                f"statement predicateType {predicate_type[:200]!r} is not accepted by this log "
                f"(accepted: {', '.join(self.predicate_types) or 'none'})"
            )
        return kind

    def classify(self, statement: Statement, signer_keys: Iterable[str]) -> tuple[IndexKey, ...]:
        """Validate a statement's predicate and return its search keys.

        Args:
            statement: The parsed statement (signatures already verified).
            signer_keys: The verifier keys of its signers.

        Returns:
            The distinct search keys, in a deterministic order: digests (in
            subject order), then signers, then the repository.

        Raises:
            UnknownKindError: the predicateType is not registered.
            InvalidStatementError: the predicate does not validate.
        """
        kind = self.lookup(statement.predicate_type)
        try:
            repository = kind.validate(statement)
        except InvalidStatementError:
            raise
        except FormatError as exc:
            raise InvalidStatementError(f"{kind.name} statement: {exc}") from exc
        keys: dict[IndexKey, None] = {}
        for subject in statement.subjects:
            for algorithm, value in subject.digest.items():
                text = f"{algorithm}:{value}"
                if len(text) <= MAX_KEY_CHARS:
                    keys[IndexKey(KEY_DIGEST, text)] = None
        for signer in signer_keys:
            if len(signer) <= MAX_KEY_CHARS:
                keys[IndexKey(KEY_SIGNER, signer)] = None
        if repository is not None:
            if not repository or len(repository) > MAX_KEY_CHARS:
                raise InvalidStatementError(
                    f"{kind.name} statement: repository name has {len(repository)} "
                    f"characters (want 1 to {MAX_KEY_CHARS})"
                )
            keys[IndexKey(KEY_REPOSITORY, repository)] = None
        return tuple(keys)


def _check_fields(what: str, predicate: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(predicate) - allowed)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise InvalidStatementError(
            f"{what}: unknown field(s) {shown} (allowed: {', '.join(sorted(allowed)) or 'none'})"
        )


def validate_artifact(statement: Statement) -> str | None:
    """Validator of the ``artifact`` kind.

    The predicate is an object with at most one field, ``description``: a
    string of up to 4096 characters. Unknown fields are refused (the log
    would otherwise store data no validator understood).

    Returns:
        None: artifacts belong to no repository.

    Raises:
        InvalidStatementError: the predicate has unknown fields or a
            description that is not a short string.
    """
    what = "artifact predicate"
    predicate = statement.predicate
    _check_fields(what, predicate, frozenset({"description"}))
    description = predicate.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > _ARTIFACT_DESCRIPTION_MAX_CHARS
    ):
        raise InvalidStatementError(
            f"{what} description: want a string of at most "
            f"{_ARTIFACT_DESCRIPTION_MAX_CHARS} characters"
        )
    return None


def default_registry() -> KindRegistry:
    """A registry with the kinds this version of the log accepts."""
    return KindRegistry(
        [Kind(name="artifact", predicate_type=ARTIFACT_PREDICATE_TYPE, validate=validate_artifact)]
    )
