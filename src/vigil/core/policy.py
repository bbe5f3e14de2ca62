"""Witness policies: c2sp.org/tlog-policy, parsed, formatted and evaluated.

A policy names the logs a verifier accepts, the witnesses it knows, and the
*quorum*: which subsets of witnesses must have cosigned a checkpoint for it to
be valid (spec "What is a policy?")::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

Implemented exactly as specified in /work/shared/specs/c2sp/tlog-policy.md:

* Lines end in newline; items are separated by runs of ASCII space and tab
  *only*; leading and trailing whitespace is allowed; whitespace-only lines and
  lines whose first non-whitespace character is ``#`` are ignored
  ("Structure").
* The only control characters allowed are tab and newline ("Character set");
  a carriage return is therefore an error, with its line number.
* ``log`` vkeys must be Ed25519 note keys (type 0x01, c2sp.org/tlog-checkpoint)
  and ``witness`` vkeys cosignature/v1 keys (type 0x04,
  c2sp.org/tlog-cosignature): "Log and witness keys must use a signature type
  appropriate [to their] respective function". Other types are
  :class:`UnsupportedError` (0x06 ML-DSA cosignatures are not implemented).
* Two logs, or two witnesses, wrapping the same public key are duplicates and
  rejected "even if they differ by key name and key id".
* Witnesses and groups share one namespace; ``none`` is predefined and can
  only be the quorum. A group or quorum may only name witnesses and groups
  defined on *preceding* lines (which rules out cycles).
* A group has n >= 1 members and 1 <= k <= n (``any`` is k = 1, ``all`` is
  k = n; a numeric k is a canonical decimal). "Each defined name can be listed
  as a group member at most once" is enforced across the whole policy, so
  each witness contributes to the quorum in only one way.
* Exactly one ``quorum`` line.

Vigil's deliberate restrictions (documented for the policy ADR):

* **UTF-8 only.** The spec treats octets >= 0x80 as opaque and only
  *recommends* UTF-8. We require valid UTF-8, so that names are ``str`` and can
  be shown and logged; names are still compared exactly (code point by code
  point, no normalization), which for UTF-8 is the same as comparing octets:
  ``K`` and ``\\u212a`` (Kelvin sign) are different names.
* A missing newline after the last line is accepted (it ends the last line);
  every other rule is strict.
* Caps: :data:`MAX_POLICY_BYTES` before parsing; the spec's recommended minimum
  (32 logs, 32 witnesses, 32 groups) is far below what the cap allows.

Evaluation (:func:`evaluate_quorum`, :func:`verify_quorum`) takes the
*verified* cosignatures of a checkpoint (:class:`vigil.core.note.VerifiedSignature`,
as in :attr:`vigil.core.checkpoint.VerifiedCheckpoint.cosignatures`) and
matches them to witnesses by (key name, key ID). :func:`verify_policy_checkpoint`
does the whole check of a cosigned checkpoint note against a policy.

This module does no I/O, reads no clock, ignores URLs (it never contacts
anything), and does not judge whether a quorum is strong enough against
colluding witnesses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from vigil.core.checkpoint import VerifiedCheckpoint, verify_checkpoint
from vigil.core.cosignature import CosignatureVerifier
from vigil.core.encoding import parse_decimal
from vigil.core.note import (
    Ed25519Verifier,
    Note,
    VerifiedSignature,
    parse_note,
    parse_verifier_key,
)
from vigil.errors import FormatError, PolicyError, SignatureError, UnsupportedError

__all__ = [
    "MAX_POLICY_BYTES",
    "QUORUM_NONE",
    "Policy",
    "PolicyGroup",
    "PolicyLog",
    "PolicyWitness",
    "QuorumResult",
    "evaluate_quorum",
    "format_policy",
    "parse_policy",
    "verify_policy_checkpoint",
    "verify_quorum",
]

QUORUM_NONE = "none"
"""The predefined name for "no cosignatures required" (spec "Defining the quorum")."""

MAX_POLICY_BYTES = 256 * 1024
"""Default cap on a policy file's size, applied before parsing."""

_SEPARATORS = re.compile(r"[ \t]+")
# Character set: tab, newline, 0x20-0x7E and (as UTF-8) everything >= 0x80.
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_KEYWORD_ALL = "all"
_KEYWORD_ANY = "any"


def _check_token(what: str, token: str) -> None:
    """A name or URL: one item, i.e. non-empty, no space, tab or control character."""
    if not isinstance(token, str):
        raise TypeError(f"{what}: want str, got {type(token).__name__}")
    if not token:
        raise FormatError(f"{what}: empty (want a non-empty item)")
    bad = re.search(r"[\x00-\x20\x7f]", token)
    if bad is not None:
        raise FormatError(
            f"{what} {token[:40]!r}: contains U+{ord(bad.group()):04X} "
            "(want no whitespace or control characters)"
        )
    try:
        token.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"{what}: contains a lone surrogate") from exc


@dataclass(frozen=True, slots=True)
class PolicyLog:
    """A ``log`` line: an accepted log's key and optional URL.

    Attributes:
        verifier: The log's Ed25519 (type 0x01) note key; its key name is the
            log's origin.
        url: The optional URL (application specific; never used here).
    """

    verifier: Ed25519Verifier
    url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.verifier, Ed25519Verifier):
            raise FormatError(
                f"policy log: key must be an Ed25519 note key (type 0x01), "
                f"got {type(self.verifier).__name__}"
            )
        if self.url is not None:
            _check_token("policy log URL", self.url)

    @property
    def origin(self) -> str:
        """The log's origin: its key name (spec "Defining a log")."""
        return self.verifier.name


@dataclass(frozen=True, slots=True)
class PolicyWitness:
    """A ``witness`` line: a named cosigner key and optional URL.

    Attributes:
        name: The policy-local name (not the key name).
        verifier: The witness's cosignature/v1 (type 0x04) key.
        url: The optional URL (application specific; never used here).
    """

    name: str
    verifier: CosignatureVerifier
    url: str | None = None

    def __post_init__(self) -> None:
        _check_token("policy witness name", self.name)
        if not isinstance(self.verifier, CosignatureVerifier):
            raise FormatError(
                f"policy witness {self.name}: key must be a cosignature/v1 key (type 0x04), "
                f"got {type(self.verifier).__name__}"
            )
        if self.url is not None:
            _check_token(f"policy witness {self.name} URL", self.url)


@dataclass(frozen=True, slots=True)
class PolicyGroup:
    """A ``group`` line: satisfied when at least k of its n members are.

    Attributes:
        name: The group's name.
        threshold: ``"all"``, ``"any"`` or a number k, as written.
        members: Names of witnesses and groups, n >= 1, no repeats.

    Raises:
        FormatError: (on construction) if n = 0, k is outside [1, n], or a
            member is repeated or malformed.
    """

    name: str
    threshold: int | Literal["all", "any"]
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_token("policy group name", self.name)
        what = f"policy group {self.name}"
        if not isinstance(self.members, tuple) or not self.members:
            raise FormatError(f"{what}: no members (want at least one)")
        seen: set[str] = set()
        for member in self.members:
            _check_token(f"{what} member", member)
            if member in seen:
                raise FormatError(f"{what}: member {member!r} listed twice")
            seen.add(member)
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int | str):
            raise FormatError(f"{what}: threshold must be 'all', 'any' or a number")
        if isinstance(self.threshold, str):
            if self.threshold not in (_KEYWORD_ALL, _KEYWORD_ANY):
                raise FormatError(
                    f"{what}: threshold {self.threshold[:20]!r} is not 'all', 'any' or a number"
                )
        elif not 1 <= self.threshold <= len(self.members):
            raise FormatError(
                f"{what}: threshold {self.threshold} is out of range "
                f"(want 1 <= k <= {len(self.members)}, the number of members)"
            )

    @property
    def k(self) -> int:
        """The number of members that must be satisfied."""
        if self.threshold == _KEYWORD_ANY:
            return 1
        if self.threshold == _KEYWORD_ALL:
            return len(self.members)
        assert isinstance(self.threshold, int)
        return self.threshold


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole, consistent witness policy.

    Attributes:
        logs: The accepted logs (possibly none), in file order.
        witnesses: The known witnesses, in file order.
        groups: The groups, each naming only witnesses and earlier groups.
        quorum: The name of the witness or group that must be satisfied, or
            :data:`QUORUM_NONE`.

    Raises:
        FormatError: (on construction) if names clash, a name is undefined or
            used as a member twice, ``none`` is defined or used as a member,
            or two logs or two witnesses share a public key.
    """

    logs: tuple[PolicyLog, ...]
    witnesses: tuple[PolicyWitness, ...]
    groups: tuple[PolicyGroup, ...]
    quorum: str
    _witness_by_key: Mapping[tuple[str, bytes], PolicyWitness] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for kind, items, item_type in (
            ("logs", self.logs, PolicyLog),
            ("witnesses", self.witnesses, PolicyWitness),
            ("groups", self.groups, PolicyGroup),
        ):
            if not isinstance(items, tuple) or not all(isinstance(i, item_type) for i in items):
                raise TypeError(f"policy {kind}: want a tuple of {item_type.__name__}")
        checker = _Checker()
        for log in self.logs:
            checker.add_log(log)
        for witness in self.witnesses:
            checker.add_witness(witness)
        for group in self.groups:
            checker.add_group(group)
        checker.check_quorum(self.quorum)
        object.__setattr__(
            self,
            "_witness_by_key",
            {(w.verifier.name, w.verifier.key_hash): w for w in self.witnesses},
        )

    @property
    def log_verifiers(self) -> tuple[Ed25519Verifier, ...]:
        """The keys of the accepted logs."""
        return tuple(log.verifier for log in self.logs)

    @property
    def witness_verifiers(self) -> tuple[CosignatureVerifier, ...]:
        """The keys of the known witnesses."""
        return tuple(witness.verifier for witness in self.witnesses)

    def witness_for(self, signature: VerifiedSignature) -> PolicyWitness | None:
        """The witness whose key (name and key ID) made ``signature``, if any."""
        return self._witness_by_key.get((signature.name, signature.key_hash))


class _Checker:
    """The cross-line rules, applied one definition at a time (in file order)."""

    __slots__ = ("defined", "log_keys", "used", "witness_keys")

    def __init__(self) -> None:
        self.defined: set[str] = set()
        self.used: set[str] = set()
        self.log_keys: set[bytes] = set()
        self.witness_keys: set[bytes] = set()

    def _define(self, name: str, kind: str) -> None:
        if name == QUORUM_NONE:
            raise FormatError(f"policy {kind} {name!r}: the name 'none' is predefined")
        if name in self.defined:
            raise FormatError(f"policy {kind} {name!r}: name already defined")
        self.defined.add(name)

    @staticmethod
    def _new_key(seen: set[bytes], public_key: bytes, what: str) -> None:
        # Duplicate = same underlying public key, whatever the key name or ID.
        if public_key in seen:
            raise FormatError(f"policy {what}: duplicate public key {public_key.hex()}")
        seen.add(public_key)

    def add_log(self, log: PolicyLog) -> None:
        self._new_key(self.log_keys, log.verifier.public_key, f"log {log.verifier.name}")

    def add_witness(self, witness: PolicyWitness) -> None:
        self._define(witness.name, "witness")
        self._new_key(self.witness_keys, witness.verifier.public_key, f"witness {witness.name}")

    def add_group(self, group: PolicyGroup) -> None:
        for member in group.members:
            what = f"policy group {group.name} member {member!r}"
            if member == QUORUM_NONE:
                raise FormatError(f"{what}: 'none' cannot be a group member")
            if member not in self.defined:
                raise FormatError(f"{what}: not defined on a preceding line")
            if member in self.used:
                raise FormatError(f"{what}: already a member of another group (want at most once)")
            self.used.add(member)
        # Defined after its members are checked, so a group can't contain itself.
        self._define(group.name, "group")

    def check_quorum(self, name: str) -> None:
        _check_token("policy quorum", name)
        if name != QUORUM_NONE and name not in self.defined:
            raise FormatError(
                f"policy quorum: {name!r} is not a witness or group defined on a preceding line"
            )


# --------------------------------------------------------------------------- #
# Parsing and formatting
# --------------------------------------------------------------------------- #


def _decode(data: bytes | str, max_bytes: int) -> str:
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FormatError("policy: contains a lone surrogate") from exc
    if not isinstance(data, bytes):
        raise TypeError(f"policy: want bytes or str, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise FormatError(f"policy: {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FormatError(
            f"policy line {line}: invalid UTF-8 at byte {exc.start} (want UTF-8 text)"
        ) from exc


def _parse_vkey(what: str, vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    try:
        verifier = parse_verifier_key(vkey)
    except UnsupportedError as exc:
        raise UnsupportedError(f"{what}: {exc}") from exc
    except FormatError as exc:
        raise FormatError(f"{what}: {exc}") from exc
    if not isinstance(verifier, Ed25519Verifier | CosignatureVerifier):  # pragma: no cover
        raise UnsupportedError(f"{what}: unsupported key type {type(verifier).__name__}")
    return verifier


def _parse_line(
    items: list[str],
    what: str,
    logs: list[PolicyLog],
    witnesses: list[PolicyWitness],
    groups: list[PolicyGroup],
    checker: _Checker,
) -> str | None:
    """Parse one non-empty, non-comment line; return the quorum name if it is one."""
    keyword, args = items[0], items[1:]
    if keyword == "log":
        if len(args) not in (1, 2):
            raise FormatError(
                f"{what}: 'log' takes a vkey and an optional URL (got {len(args)} items)"
            )
        verifier = _parse_vkey(f"{what}: log key", args[0])
        if not isinstance(verifier, Ed25519Verifier):
            raise FormatError(
                f"{what}: log key {verifier.name} has signature type 0x04 "
                "(want 0x01 Ed25519, c2sp.org/tlog-checkpoint)"
            )
        log = PolicyLog(verifier, args[1] if len(args) == 2 else None)
        checker.add_log(log)
        logs.append(log)
        return None
    if keyword == "witness":
        if len(args) not in (2, 3):
            raise FormatError(
                f"{what}: 'witness' takes a name, a vkey and an optional URL "
                f"(got {len(args)} items)"
            )
        verifier = _parse_vkey(f"{what}: witness {args[0]} key", args[1])
        if not isinstance(verifier, CosignatureVerifier):
            raise FormatError(
                f"{what}: witness {args[0]} key has signature type 0x01 "
                "(want 0x04 cosignature/v1, c2sp.org/tlog-cosignature)"
            )
        witness = PolicyWitness(args[0], verifier, args[2] if len(args) == 3 else None)
        checker.add_witness(witness)
        witnesses.append(witness)
        return None
    if keyword == "group":
        if len(args) < 3:
            raise FormatError(
                f"{what}: 'group' takes a name, all|any|k and at least one member "
                f"(got {len(args)} items)"
            )
        name, threshold_text, members = args[0], args[1], tuple(args[2:])
        threshold: int | Literal["all", "any"]
        if threshold_text == _KEYWORD_ALL:
            threshold = "all"
        elif threshold_text == _KEYWORD_ANY:
            threshold = "any"
        else:
            threshold = parse_decimal(
                threshold_text, what=f"{what} group {name} threshold", max_value=2**31
            )
        group = PolicyGroup(name, threshold, members)
        checker.add_group(group)
        groups.append(group)
        return None
    if keyword == "quorum":
        if len(args) != 1:
            raise FormatError(f"{what}: 'quorum' takes one name (got {len(args)} items)")
        checker.check_quorum(args[0])
        return args[0]
    raise FormatError(
        f"{what}: unknown keyword {keyword[:40]!r} (want log, witness, group or quorum)"
    )


def parse_policy(data: bytes | str, *, max_bytes: int = MAX_POLICY_BYTES) -> Policy:
    """Parse a tlog-policy file strictly, reporting the first error's line.

    Args:
        data: The policy file (bytes, or already-decoded text).
        max_bytes: Reject larger files before parsing.

    Returns:
        The policy. Comments, blank lines, spacing and line order are not kept
        (:func:`format_policy` writes a canonical form).

    Raises:
        UnsupportedError: a vkey of a signature type Vigil does not implement.
        FormatError: anything else: bad characters, unknown keywords, wrong
            item counts, bad vkeys or thresholds, undefined or redefined
            names, duplicate keys, a missing or repeated quorum line.
        TypeError: if ``data`` is neither bytes nor str.
    """
    text = _decode(data, max_bytes)
    logs: list[PolicyLog] = []
    witnesses: list[PolicyWitness] = []
    groups: list[PolicyGroup] = []
    quorum: str | None = None
    checker = _Checker()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    for number, line in enumerate(lines, start=1):
        what = f"policy line {number}"
        bad = _FORBIDDEN_CHARACTER.search(line)
        if bad is not None:
            raise FormatError(
                f"{what}: control character U+{ord(bad.group()):04X} at column "
                f"{bad.start() + 1} (want only tab and newline)"
            )
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        try:
            # The cross-line rules (names defined on preceding lines,
            # duplicates) are checked as each line is read, so errors carry
            # its number.
            items = _SEPARATORS.split(stripped)
            if items[0] == "quorum" and quorum is not None:
                raise FormatError(f"{what}: second quorum line (want exactly one)")
            name = _parse_line(items, what, logs, witnesses, groups, checker)
            if name is not None:
                quorum = name
        except UnsupportedError as exc:
            raise UnsupportedError(_prefixed(what, exc)) from exc
        except FormatError as exc:
            raise FormatError(_prefixed(what, exc)) from exc
    if quorum is None:
        raise FormatError("policy: no quorum line (want exactly one)")
    return Policy(tuple(logs), tuple(witnesses), tuple(groups), quorum)


def _prefixed(what: str, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(what) else f"{what}: {message}"


def format_policy(policy: Policy) -> str:
    """Write a policy in canonical form.

    Logs, then witnesses, then groups (in their order), then the quorum line;
    single spaces; every line ends in newline; no comments. The output parses
    back to an equal policy.

    Args:
        policy: The policy.

    Returns:
        The policy file text.
    """
    lines: list[str] = []
    for log in policy.logs:
        lines.append(" ".join(["log", log.verifier.vkey] + ([log.url] if log.url else [])))
    for witness in policy.witnesses:
        parts = ["witness", witness.name, witness.verifier.vkey]
        lines.append(" ".join(parts + ([witness.url] if witness.url else [])))
    for group in policy.groups:
        lines.append(" ".join(["group", group.name, str(group.threshold), *group.members]))
    lines.append(f"quorum {policy.quorum}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- #
# Evaluation
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, slots=True)
class QuorumResult:
    """Which parts of a policy a set of verified cosignatures satisfies.

    Attributes:
        quorum: The policy's quorum name (or ``"none"``).
        met: Whether the quorum is satisfied.
        cosigned: Witnesses with a verified cosignature, in policy order.
        missing: Witnesses without one, in policy order.
        satisfied_groups: Groups with at least k satisfied members.
        unsatisfied_groups: The other groups, each as
            ``"<name> (<count> of <k> needed)"``.
    """

    quorum: str
    met: bool
    cosigned: tuple[str, ...]
    missing: tuple[str, ...]
    satisfied_groups: tuple[str, ...]
    unsatisfied_groups: tuple[str, ...]

    def describe(self) -> str:
        """One line for messages: the verdict, then groups and witnesses."""
        verdict = "met" if self.met else "not met"
        parts = [f"quorum {self.quorum!r} {verdict}"]
        if self.unsatisfied_groups:
            parts.append("unsatisfied groups: " + ", ".join(self.unsatisfied_groups))
        parts.append("cosigned: " + (", ".join(self.cosigned) or "none"))
        if self.missing:
            parts.append("not cosigned: " + ", ".join(self.missing))
        return "; ".join(parts)


def evaluate_quorum(policy: Policy, cosignatures: Iterable[VerifiedSignature]) -> QuorumResult:
    """Evaluate a policy's quorum over verified cosignatures; never raises on failure.

    A witness is satisfied if one of ``cosignatures`` has its key name and key
    ID; signatures by other keys (the log's, unknown witnesses') are ignored. A
    group is satisfied if at least k of its members are (spec "Defining a
    witness group"); groups are evaluated in order, since each names only
    earlier ones. The quorum ``none`` is always met.

    Args:
        policy: The policy.
        cosignatures: Cosignatures *already verified* against the witnesses'
            keys, e.g. :attr:`VerifiedCheckpoint.cosignatures`.

    Returns:
        The result; check :attr:`QuorumResult.met`.
    """
    satisfied: set[str] = set()
    for signature in cosignatures:
        witness = policy.witness_for(signature)
        if witness is not None:
            satisfied.add(witness.name)
    satisfied_groups: list[str] = []
    unsatisfied_groups: list[str] = []
    for group in policy.groups:
        count = sum(1 for member in group.members if member in satisfied)
        if count >= group.k:
            satisfied.add(group.name)
            satisfied_groups.append(group.name)
        else:
            unsatisfied_groups.append(f"{group.name} ({count} of {group.k} needed)")
    return QuorumResult(
        quorum=policy.quorum,
        met=policy.quorum == QUORUM_NONE or policy.quorum in satisfied,
        cosigned=tuple(w.name for w in policy.witnesses if w.name in satisfied),
        missing=tuple(w.name for w in policy.witnesses if w.name not in satisfied),
        satisfied_groups=tuple(satisfied_groups),
        unsatisfied_groups=tuple(unsatisfied_groups),
    )


def verify_quorum(policy: Policy, cosignatures: Iterable[VerifiedSignature]) -> QuorumResult:
    """Require that verified cosignatures satisfy a policy's quorum.

    Args:
        policy: The policy.
        cosignatures: Cosignatures already verified against the witnesses' keys.

    Returns:
        The (met) result.

    Raises:
        PolicyError: if the quorum is not met; the message lists unsatisfied
            groups, and which witnesses cosigned and which did not.
    """
    result = evaluate_quorum(policy, cosignatures)
    if not result.met:
        raise PolicyError(f"witness policy: {result.describe()}")
    return result


def verify_policy_checkpoint(
    policy: Policy, note: Note | bytes, *, origin: str | None = None
) -> VerifiedCheckpoint:
    """Verify a cosigned checkpoint note against a whole policy.

    Procedure (tlog-policy "What is a policy?", tlog-proof "Verifying"):

    1. Parse the note.
    2. Pick the first policy log whose key (name and key ID) has a signature
       line in the note, among logs whose origin is ``origin`` if given.
    3. Verify the note as a checkpoint of that log with every policy witness
       as a cosigner (:func:`vigil.core.checkpoint.verify_checkpoint`): the
       log signature must verify, the origin must be the log's key name, and
       any bad signature by a log or witness key rejects the note.
    4. Require the quorum over the verified cosignatures.

    Args:
        policy: The trusted policy.
        note: The checkpoint note, parsed or as bytes.
        origin: If given, only logs with this origin are acceptable.

    Returns:
        The verified checkpoint (its cosignatures carry timestamps).

    Raises:
        FormatError: the note or checkpoint is malformed.
        SignatureError: no acceptable log signed the note, or a signature by a
            policy key is invalid.
        VerificationError: the checkpoint's origin is not the log's.
        PolicyError: the witness quorum is not met.
    """
    # Step 1.
    if isinstance(note, bytes):
        note = parse_note(note)
    # Step 2.
    lines = {(sig.name, sig.key_hash) for sig in note.signatures}
    candidates = [log for log in policy.logs if origin is None or log.origin == origin]
    log = next((c for c in candidates if (c.verifier.name, c.verifier.key_hash) in lines), None)
    if log is None:
        wanted = ", ".join(f"{c.verifier.name}+{c.verifier.key_hash.hex()}" for c in candidates)
        raise SignatureError(
            "checkpoint: not signed by any log of the policy"
            + (f" with origin {origin!r}" if origin is not None else "")
            + f" (want a signature by one of: {wanted or 'no such log'})"
        )
    # Step 3.
    verified = verify_checkpoint(
        note, origin=log.origin, log_verifier=log.verifier, cosigners=policy.witness_verifiers
    )
    # Step 4.
    verify_quorum(policy, verified.cosignatures)
    return verified
