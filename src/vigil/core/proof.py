"""Verification of RFC 9162 Merkle inclusion and consistency proofs.

Implements the verification algorithms of RFC 9162 §2.1.3.2 (inclusion) and
§2.1.4.2 (consistency), with the exact semantics of transparency-dev/merkle
``proof/verify.go``, which the probes in ``merkle-testdata`` pin down:

* an inclusion proof requires ``0 <= index < size``;
* a consistency proof requires ``0 < size1 <= size2``: a proof from the empty
  tree is rejected (it proves nothing; c2sp.org/tlog-witness handles "old size
  0" itself, with an empty proof and no root comparison);
* when ``size1 == size2`` the proof must be empty and the roots equal.

Preconditions are checked before any hashing, in this order: sizes and index,
then hash lengths, then the exact proof length. Failures raise:

* :class:`~vigil.errors.FormatError` for a hash that is not 32 bytes (malformed
  input, never "verified false");
* :class:`~vigil.errors.ProofError` when index and sizes admit no such proof
  or the proof has the wrong number of hashes;
* :class:`~vigil.errors.RootMismatchError` (a ``ProofError``) when the proof
  computes another root; it carries both roots as evidence.

This module is all a client needs to check proofs: it does not import proof
construction (:mod:`vigil.core.prove`). No I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from vigil.core.merkle import HASH_SIZE, MAX_TREE_SIZE, NODE_HASH_PREFIX
from vigil.errors import FormatError, ProofError, RootMismatchError

__all__ = [
    "consistency_proof_length",
    "inclusion_proof_length",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Split the inclusion proof of ``index`` in ``size`` into (inner, border).

    ``inner`` hashes lie below the level where the paths to ``index`` and to
    ``size - 1`` meet; the ``border`` hashes above it are the left siblings
    along the right edge (one per set bit of ``index >> inner``).
    """
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def inclusion_proof_length(index: int, size: int) -> int:
    """Return the number of hashes in the inclusion proof of ``index`` in ``size``.

    Raises:
        ProofError: Unless ``0 <= index < size <= 2**64 - 1``.
    """
    _check_inclusion_bounds(index, size)
    inner, border = _decompose(index, size)
    return inner + border


def consistency_proof_length(size1: int, size2: int) -> int:
    """Return the number of hashes in the consistency proof from ``size1`` to ``size2``.

    Raises:
        ProofError: Unless ``0 < size1 <= size2 <= 2**64 - 1``.
    """
    _check_consistency_bounds(size1, size2)
    if size1 == size2:
        return 0
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    return inner - shift + border + (0 if size1 == 1 << shift else 1)


def _inclusion_subject(index: int, size: int) -> str:
    return f"inclusion proof for leaf {index} in tree of size {size}"


def _consistency_subject(size1: int, size2: int) -> str:
    return f"consistency proof from size {size1} to size {size2}"


def _check_inclusion_bounds(index: int, size: int) -> None:
    if not 0 <= index < size <= MAX_TREE_SIZE:
        if size > MAX_TREE_SIZE:
            problem = f"tree size too large (got {size}, want <= {MAX_TREE_SIZE})"
        else:
            problem = f"leaf index out of range (got {index}, want 0 <= index < {size})"
        raise ProofError(f"{_inclusion_subject(index, size)}: {problem}")


def _check_consistency_bounds(size1: int, size2: int) -> None:
    if not 0 < size1 <= size2 <= MAX_TREE_SIZE:
        if size2 > MAX_TREE_SIZE:
            problem = f"tree size too large (got {size2}, want <= {MAX_TREE_SIZE})"
        elif size1 > size2:
            problem = f"new tree is smaller than old tree (got size2 {size2}, want >= {size1})"
        else:
            problem = (
                f"old tree size must be positive (got {size1}): "
                "no consistency proof exists from an empty tree"
            )
        raise ProofError(f"{_consistency_subject(size1, size2)}: {problem}")


_BYTES_LIKE = (bytes, bytearray, memoryview, str)


def _check_proof_hashes(proof: Sequence[bytes], subject: str) -> None:
    if isinstance(proof, _BYTES_LIKE):
        raise TypeError(f"{subject}: want a sequence of hashes, got {type(proof).__name__}")
    for position, item in enumerate(proof):
        if len(item) != HASH_SIZE:
            raise FormatError(
                f"{subject}: proof hash {position} is {len(item)} bytes (want {HASH_SIZE})"
            )


def _check_hash(value: bytes, name: str, subject: str) -> None:
    if len(value) != HASH_SIZE:
        raise FormatError(f"{subject}: {name} is {len(value)} bytes (want {HASH_SIZE})")


def _inclusion_root(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """Check the preconditions of an inclusion proof and compute its root.

    This is the hot path of client verification, so the happy path builds no
    strings and makes no calls besides hashing.
    """
    if not 0 <= index < size <= MAX_TREE_SIZE:
        _check_inclusion_bounds(index, size)
    if len(leaf_hash) != HASH_SIZE:
        _check_hash(leaf_hash, "leaf hash", _inclusion_subject(index, size))
    if isinstance(proof, _BYTES_LIKE):
        _check_proof_hashes(proof, _inclusion_subject(index, size))
    for sibling in proof:
        if len(sibling) != HASH_SIZE:
            _check_proof_hashes(proof, _inclusion_subject(index, size))
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    if len(proof) != inner + border:
        raise ProofError(
            f"{_inclusion_subject(index, size)}: got {len(proof)} hashes, want {inner + border}"
        )
    # Bit i of `left` tells whether proof[i] is a left sibling: the bits of
    # `index` below `inner`, then ones for the border (only left siblings
    # exist along the right edge of the tree).
    left = (index & ((1 << inner) - 1)) | (((1 << border) - 1) << inner)
    sha = _sha256
    prefix = NODE_HASH_PREFIX
    node = bytes(leaf_hash)
    bit = 1
    for sibling in proof:
        if left & bit:
            node = sha(prefix + sibling + node).digest()
        else:
            node = sha(prefix + node + sibling).digest()
        bit <<= 1
    return node


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Compute the root implied by an inclusion proof (RFC 9162 §2.1.3.2).

    Requires: ``0 <= index < size``; every hash 32 bytes; ``len(proof)`` exactly
    :func:`inclusion_proof_length` ``(index, size)``.

    Args:
        index: Leaf index, 0-based.
        size: Tree size.
        leaf_hash: The leaf hash (:func:`vigil.core.merkle.hash_leaf` of the entry).
        proof: Sibling hashes from the leaf level up.

    Returns:
        The root hash of the tree of ``size`` that the proof commits to. This
        proves nothing until compared to a trusted root: prefer
        :func:`verify_inclusion`.

    Raises:
        ProofError: ``index`` is out of range or the proof has the wrong length.
        FormatError: ``leaf_hash`` or a proof hash is not 32 bytes.
        TypeError: ``proof`` is a bytes-like object, not a sequence of hashes.
    """
    return _inclusion_root(index, size, leaf_hash, proof)


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf ``index`` with ``leaf_hash`` is in the tree of ``size`` and ``root``.

    Requires: ``0 <= index < size``; every hash 32 bytes; exact proof length.

    Args:
        index: Leaf index, 0-based.
        size: Tree size.
        leaf_hash: The leaf hash (:func:`vigil.core.merkle.hash_leaf` of the entry).
        proof: Sibling hashes from the leaf level up (RFC 9162 §2.1.3).
        root: The trusted root hash of the tree of ``size``.

    Raises:
        ProofError: ``index`` is out of range or the proof has the wrong length.
        RootMismatchError: The proof leads to a different root (``expected`` is
            ``root``, ``computed`` the proof's).
        FormatError: ``leaf_hash``, ``root`` or a proof hash is not 32 bytes.
        TypeError: ``proof`` is a bytes-like object, not a sequence of hashes.
    """
    if len(root) != HASH_SIZE:
        if not 0 <= index < size <= MAX_TREE_SIZE:
            _check_inclusion_bounds(index, size)
        _check_hash(root, "root hash", _inclusion_subject(index, size))
    computed = _inclusion_root(index, size, leaf_hash, proof)
    if computed != root:
        raise RootMismatchError(
            f"{_inclusion_subject(index, size)}: computed root {computed.hex()} "
            f"does not match expected root {bytes(root).hex()}",
            expected=bytes(root),
            computed=computed,
        )


def root_from_consistency_proof(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> bytes:
    """Check a consistency proof against ``root1`` and compute the new root.

    Follows RFC 9162 §2.1.4.2: the proof must rebuild ``root1`` from its
    left-hand hashes; the function then returns the tree hash of ``size2`` it
    implies. When ``size1 == size2`` the proof must be empty and ``root1`` is
    returned as given.

    Requires: ``0 < size1 <= size2``; every hash 32 bytes; exact proof length.

    Args:
        size1: The old tree size.
        size2: The new tree size.
        proof: The consistency proof hashes.
        root1: The trusted root hash of the tree of ``size1``.

    Returns:
        The root hash of the tree of ``size2`` implied by the proof.

    Raises:
        ProofError: The sizes admit no proof, or the proof has the wrong length.
        RootMismatchError: The proof does not rebuild ``root1``.
        FormatError: ``root1`` or a proof hash is not 32 bytes.
        TypeError: ``proof`` is a bytes-like object, not a sequence of hashes.
    """
    _check_consistency_bounds(size1, size2)
    subject = _consistency_subject(size1, size2)
    if isinstance(proof, _BYTES_LIKE):
        _check_proof_hashes(proof, subject)
    if size1 == size2:
        # Equal trees are consistent iff their roots are equal; nothing to
        # hash, so (as in transparency-dev/merkle) the proof must be empty.
        if proof:
            raise ProofError(f"{subject}: got {len(proof)} hashes, want 0 for equal sizes")
        return bytes(root1)
    _check_hash(root1, "old root hash", subject)
    _check_proof_hashes(proof, subject)

    inner, border = _decompose(size1 - 1, size2)
    # Levels below `shift` lie inside the largest full subtree ending at size1:
    # the proof starts at that subtree's hash (or root1 if it is the whole tree).
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, start = bytes(root1), 0
    else:
        seed, start = b"", 1
    want = start + inner + border
    if len(proof) != want:
        raise ProofError(f"{subject}: got {len(proof)} hashes, want {want}")
    if start:
        seed = bytes(proof[0])

    sha = _sha256
    prefix = NODE_HASH_PREFIX
    mask = (size1 - 1) >> shift
    hash1 = hash2 = seed
    for position in range(start, want):
        sibling = proof[position]
        level = position - start
        if level >= inner or (mask >> level) & 1:
            # A left sibling: part of both the old and the new tree.
            hash1 = sha(prefix + sibling + hash1).digest()
            hash2 = sha(prefix + sibling + hash2).digest()
        else:
            # A right sibling: appended after size1, only in the new tree.
            hash2 = sha(prefix + hash2 + sibling).digest()
    if hash1 != root1:
        raise RootMismatchError(
            f"{subject}: proof does not lead to the old root "
            f"(computed {hash1.hex()}, want {bytes(root1).hex()})",
            expected=bytes(root1),
            computed=hash1,
        )
    return hash2


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` and ``root2`` extends the tree of ``size1`` and ``root1``.

    Requires: ``0 < size1 <= size2``; every hash 32 bytes (for equal sizes the
    roots are only compared); exact proof length (0 for equal sizes).

    Args:
        size1: The old tree size (> 0).
        size2: The new tree size (>= size1).
        proof: The RFC 9162 §2.1.4 consistency proof.
        root1: The trusted root hash of the old tree.
        root2: The root hash of the new tree.

    Raises:
        ProofError: The sizes admit no proof, or the proof has the wrong length.
        RootMismatchError: The proof does not rebuild ``root1``, or leads to a
            root other than ``root2`` (``expected``/``computed`` say which).
        FormatError: A root or proof hash is not 32 bytes.
        TypeError: ``proof`` is a bytes-like object, not a sequence of hashes.
    """
    _check_consistency_bounds(size1, size2)
    if size1 != size2:
        subject = _consistency_subject(size1, size2)
        _check_hash(root1, "old root hash", subject)
        _check_hash(root2, "new root hash", subject)
    computed = root_from_consistency_proof(size1, size2, proof, root1)
    if computed != root2:
        subject = _consistency_subject(size1, size2)
        if size1 == size2:
            problem = "equal sizes but different roots"
        else:
            problem = "computed new root does not match"
        raise RootMismatchError(
            f"{subject}: {problem} (computed {computed.hex()}, want {bytes(root2).hex()})",
            expected=bytes(root2),
            computed=computed,
        )
