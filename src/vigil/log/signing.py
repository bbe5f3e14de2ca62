"""Checkpoint signing and the two hooks around it: status map and witnesses.

:class:`CheckpointSigner` turns a tree (size, root) into a signed
c2sp.org/tlog-checkpoint note. Two extension points are Protocols beside it:

* :class:`StatusMapProvider` supplies the status-map root (DESIGN.md "The
  status map") that goes into the checkpoint's extension line
  ``vigil-status-map <base64 root>``; the default :class:`NoStatusMap`
  supplies none, and then the checkpoint has no extension line. The charter
  issue (4) implements it.
* :class:`CosignatureCollector` obtains witness cosignatures
  (c2sp.org/tlog-witness) for a signed checkpoint before it is published; the
  default :class:`NoCosignatures` collects none. The witness issue (5)
  implements it.

The signer refuses to sign a second, different checkpoint text for a tree
size it has stored a checkpoint for (tlog-checkpoint §Signatures: a log MUST
NOT sign inconsistent checkpoints); see :meth:`CheckpointSigner.sign`.

No I/O of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from vigil.core.checkpoint import Checkpoint, format_checkpoint
from vigil.core.encoding import b64encode
from vigil.core.note import Note, Signature, Signer, format_note, parse_note, sign_note
from vigil.errors import VigilError
from vigil.log.errors import LogStateError

__all__ = [
    "STATUS_MAP_EXTENSION",
    "CheckpointSigner",
    "ConsistencyProver",
    "CosignatureCollector",
    "CosigningError",
    "NoCosignatures",
    "NoStatusMap",
    "StatusMapProvider",
]

STATUS_MAP_EXTENSION = "vigil-status-map"
"""Keyword of the checkpoint extension line carrying the status-map root."""

ConsistencyProver = Callable[[int, int], list[bytes]]
"""``prove(old_size, new_size)``: a consistency proof between two integrated sizes."""


class StatusMapProvider(Protocol):
    """Maintains the status map as a function of the log prefix.

    The sequencer calls, from its one thread: :meth:`load` once at startup
    with the integrated tree size (the provider restores or replays its state
    for ``[0, size)``), then :meth:`integrate` for every range it integrates,
    in order and without gaps, and :meth:`root` before signing each checkpoint.
    """

    def load(self, size: int) -> None:
        """Restore the state for the first ``size`` entries."""
        ...

    def integrate(self, start: int, entries: Sequence[bytes]) -> None:
        """Apply entries ``start, start+1, ...`` (their stored bytes)."""
        ...

    def root(self) -> bytes | None:
        """The status-map root for the entries so far, or None for no extension line."""
        ...


class NoStatusMap:
    """The default :class:`StatusMapProvider`: no status map, no extension line."""

    def load(self, size: int) -> None:
        """Nothing to restore."""

    def integrate(self, start: int, entries: Sequence[bytes]) -> None:
        """Nothing to apply."""

    def root(self) -> None:
        """No root."""
        return None


class CosigningError(VigilError):
    """A collector could not get the cosignatures it requires (e.g. a witness quorum).

    The sequencer does not publish the checkpoint and retries later; the
    previous checkpoint stays published. Not fatal.
    """


class CosignatureCollector(Protocol):
    """Collects witness cosignatures for a checkpoint before it is published.

    Called from the sequencer thread with the log-signed note, the parsed
    checkpoint and a prover for consistency proofs (from any size a witness
    knows to ``checkpoint.size``); returns the cosignature lines to add. It
    must bound its own time (witnesses can be slow or down); returning fewer
    cosignatures, or none, is allowed. Raising :class:`CosigningError`
    withholds the checkpoint: it is not published, and the sequencer tries
    again later. The sequencer keeps the log's own signature and text as
    they are: a collector can only add lines.
    """

    def collect(
        self, note: bytes, checkpoint: Checkpoint, prove: ConsistencyProver
    ) -> Sequence[Signature]:
        """Return cosignatures for ``note``."""
        ...


class NoCosignatures:
    """The default :class:`CosignatureCollector`: publishes without witnesses."""

    def collect(
        self, note: bytes, checkpoint: Checkpoint, prove: ConsistencyProver
    ) -> Sequence[Signature]:
        """No cosignatures."""
        return ()


class CheckpointSigner:
    """Signs checkpoints of one log.

    Args:
        origin: The checkpoint origin.
        signer: The log's note signer.
        stored_text: Looks up the stored checkpoint text for a tree size (the
            storage's record of what was ever published), or None.
    """

    def __init__(
        self, *, origin: str, signer: Signer, stored_text: Callable[[int], str | None]
    ) -> None:
        self.origin = origin
        self._signer = signer
        self._stored_text = stored_text

    def text(self, size: int, root: bytes, status_root: bytes | None) -> str:
        """The checkpoint note text for a tree."""
        extensions: tuple[str, ...] = ()
        if status_root is not None:
            extensions = (f"{STATUS_MAP_EXTENSION} {b64encode(status_root)}",)
        return format_checkpoint(Checkpoint(self.origin, size, root, extensions))

    def sign(self, size: int, root: bytes, status_root: bytes | None) -> tuple[bytes, str]:
        """Sign the checkpoint of a tree.

        Procedure:

        1. Format the checkpoint text (origin, size, root, status-map line).
        2. If a checkpoint of this size was ever stored, its text must be
           identical: otherwise the tree or the status map changed under a
           published size, and signing would create evidence of a fork. The
           signer refuses (fatal) instead.
        3. Sign with the log key (Ed25519 is deterministic: re-signing the
           same text gives the same note).

        Returns:
            (note bytes, note text).

        Raises:
            LogStateError: a different checkpoint of this size was stored.
        """
        text = self.text(size, root, status_root)
        stored = self._stored_text(size)
        if stored is not None and stored != text:
            raise LogStateError(
                f"refusing to sign a second checkpoint of size {size}: "
                f"stored {stored!r}, new {text!r}"
            )
        return sign_note(text, [self._signer]), text

    @staticmethod
    def add_cosignatures(note: bytes, cosignatures: Sequence[Signature]) -> bytes:
        """``note`` with extra signature lines appended (duplicates dropped)."""
        if not cosignatures:
            return note
        parsed = parse_note(note)
        lines = list(parsed.signatures)
        for signature in cosignatures:
            if signature not in lines:
                lines.append(signature)
        return format_note(Note(parsed.text, tuple(lines)))
