"""Construction of RFC 9162 inclusion and consistency proofs from stored nodes.

A log (or a client reading tiles) stores only *full* subtree hashes: node
``(level, index)`` is the Merkle Tree Hash of leaves
``[index * 2**level, (index + 1) * 2**level)`` (see :mod:`vigil.core.merkle`).
Proofs of RFC 9162 §2.1.3 and §2.1.4 also need *ephemeral* nodes on the right
edge of a tree whose size is not a power of two; these are computed here from
the full subtrees that cover them. Each function asks its
:data:`NodeReader` once, with every node it needs, so a storage backend or a
tile fetcher can batch the reads.

The proofs are those transparency-dev/merkle ``proof.Inclusion`` /
``proof.Consistency`` and Go ``sumdb/tlog`` produce, in the order
:mod:`vigil.core.proof` verifies. Construction does not authenticate what the
reader returns: verify the result against a trusted root.

No I/O of its own, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from vigil.core.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, NODE_HASH_PREFIX
from vigil.errors import FormatError

__all__ = [
    "NodeID",
    "NodeReader",
    "consistency_nodes",
    "inclusion_nodes",
    "prove_consistency",
    "prove_inclusion",
    "root_at",
    "root_nodes",
]

NodeID = tuple[int, int]
"""A full subtree ``(level, index)``: leaves ``[index * 2**level, (index + 1) * 2**level)``."""

NodeReader = Callable[[Sequence[NodeID]], Sequence[bytes]]
"""Returns, in order, the 32-byte hash of each requested full subtree.

It may raise whatever its storage raises (e.g. ``TransportError`` when
fetching tiles); it must not be asked for incomplete subtrees.
"""

_sha256 = hashlib.sha256
_HASH_SIZES = {HASH_SIZE}

# A proof is planned as a list of groups of full subtrees: each group is hashed
# right to left into one proof hash (a single full node, or an ephemeral node
# covering [begin, size) on the right edge).
_Plan = list[list[NodeID]]


def _subtrees(begin: int, end: int) -> list[NodeID]:
    """Full subtrees covering ``[begin, end)``, left to right, largest first.

    Requires ``begin`` to be a multiple of ``2**k`` for the largest ``2**k <=
    end - begin`` (true for ``begin == 0`` and for right-edge siblings).
    """
    nodes = []
    remaining = end - begin
    while remaining:
        level = remaining.bit_length() - 1
        nodes.append((level, begin >> level))
        begin += 1 << level
        remaining -= 1 << level
    return nodes


def _check_inclusion_args(index: int, size: int) -> None:
    if not 0 <= index < size <= MAX_TREE_SIZE:
        raise ValueError(
            f"inclusion proof for leaf {index} in tree of size {size}: "
            f"want 0 <= index < size <= {MAX_TREE_SIZE}"
        )


def _check_consistency_args(size1: int, size2: int) -> None:
    if not 0 < size1 <= size2 <= MAX_TREE_SIZE:
        raise ValueError(
            f"consistency proof from size {size1} to size {size2}: "
            f"want 0 < size1 <= size2 <= {MAX_TREE_SIZE} (no proof exists from an empty tree)"
        )


def _inclusion_plan(index: int, size: int) -> _Plan:
    # Below level `inner` the paths to `index` and `size - 1` differ: every
    # sibling is a full node, except that the right sibling at level inner-1
    # ends at `size` and may be ephemeral. Above, the path follows the right
    # edge, where only left siblings exist (one per set bit of index >> inner).
    inner = (index ^ (size - 1)).bit_length()
    plan: _Plan = [[(level, (index >> level) ^ 1)] for level in range(inner - 1)]
    if inner:
        level = inner - 1
        sibling = (index >> level) ^ 1
        plan.append(_subtrees(sibling << level, min(size, (sibling + 1) << level)))
    position, level = index >> inner, inner
    while position:
        if position & 1:
            plan.append([(level, position - 1)])
        position >>= 1
        level += 1
    return plan


def _consistency_plan(size1: int, size2: int) -> _Plan:
    if size1 == size2:
        return []
    # RFC 9162 §2.1.4.1 SUBPROOF, iteratively: the inclusion proof of leaf
    # size1-1 in size2 without the levels inside the largest full subtree that
    # ends at size1, preceded by that subtree unless it is the whole old tree.
    shift = (size1 & -size1).bit_length() - 1
    plan = _inclusion_plan(size1 - 1, size2)[shift:]
    if size1 != 1 << shift:
        plan.insert(0, [(shift, (size1 - 1) >> shift)])
    return plan


def _flatten(plan: _Plan) -> list[NodeID]:
    return [node for group in plan for node in group]


def inclusion_nodes(index: int, size: int) -> list[NodeID]:
    """Return the full subtrees that :func:`prove_inclusion` reads, in order.

    Raises:
        ValueError: Unless ``0 <= index < size <= 2**64 - 1``.
    """
    _check_inclusion_args(index, size)
    return _flatten(_inclusion_plan(index, size))


def consistency_nodes(size1: int, size2: int) -> list[NodeID]:
    """Return the full subtrees that :func:`prove_consistency` reads, in order.

    Raises:
        ValueError: Unless ``0 < size1 <= size2 <= 2**64 - 1``.
    """
    _check_consistency_args(size1, size2)
    return _flatten(_consistency_plan(size1, size2))


def root_nodes(size: int) -> list[NodeID]:
    """Return the full subtrees whose hashes make up the root of ``size``, left to right.

    Raises:
        ValueError: Unless ``0 <= size <= 2**64 - 1``.
    """
    if not 0 <= size <= MAX_TREE_SIZE:
        raise ValueError(f"tree size {size}: want 0 <= size <= {MAX_TREE_SIZE}")
    return _subtrees(0, size)


def _read(plan: _Plan, read_nodes: NodeReader) -> list[bytes]:
    """Read every node of ``plan`` in one call and fold each group into one hash."""
    ids = _flatten(plan)
    if not ids:
        return []
    hashes = read_nodes(ids)
    if len(hashes) != len(ids):
        raise ValueError(f"node reader: returned {len(hashes)} hashes for {len(ids)} nodes")
    if set(map(len, hashes)) != _HASH_SIZES:
        for (level, index), value in zip(ids, hashes, strict=True):
            if len(value) != HASH_SIZE:
                raise FormatError(
                    f"node reader: hash of node (level {level}, index {index}) "
                    f"is {len(value)} bytes (want {HASH_SIZE})"
                )
    sha = _sha256
    prefix = NODE_HASH_PREFIX
    result: list[bytes] = []
    position = 0
    for group in plan:
        end = position + len(group)
        node = bytes(hashes[end - 1])
        for left in range(end - 2, position - 1, -1):
            node = sha(prefix + hashes[left] + node).digest()
        result.append(node)
        position = end
    return result


def prove_inclusion(index: int, size: int, read_nodes: NodeReader) -> list[bytes]:
    """Build the inclusion proof of leaf ``index`` in the tree of ``size`` (RFC 9162 §2.1.3.1).

    Args:
        index: Leaf index, 0-based.
        size: Tree size.
        read_nodes: Reads full subtree hashes of a tree at least ``size`` large;
            called once.

    Returns:
        Sibling hashes from the leaf up, for :func:`vigil.core.proof.verify_inclusion`.

    Raises:
        ValueError: Unless ``0 <= index < size <= 2**64 - 1``, or the reader
            returns the wrong number of hashes.
        FormatError: The reader returns a hash that is not 32 bytes.
    """
    _check_inclusion_args(index, size)
    return _read(_inclusion_plan(index, size), read_nodes)


def prove_consistency(size1: int, size2: int, read_nodes: NodeReader) -> list[bytes]:
    """Build the consistency proof from ``size1`` to ``size2`` (RFC 9162 §2.1.4.1).

    Args:
        size1: Old tree size (> 0).
        size2: New tree size (>= size1); equal sizes give an empty proof.
        read_nodes: Reads full subtree hashes of a tree at least ``size2`` large;
            called at most once.

    Returns:
        The proof hashes, for :func:`vigil.core.proof.verify_consistency`.

    Raises:
        ValueError: Unless ``0 < size1 <= size2 <= 2**64 - 1`` (c2sp.org/tlog-witness
            sends an empty proof for old size 0 without calling this), or the
            reader returns the wrong number of hashes.
        FormatError: The reader returns a hash that is not 32 bytes.
    """
    _check_consistency_args(size1, size2)
    return _read(_consistency_plan(size1, size2), read_nodes)


def root_at(size: int, read_nodes: NodeReader) -> bytes:
    """Compute the root hash of the tree of ``size`` from its full subtrees.

    Args:
        size: Tree size.
        read_nodes: Reads full subtree hashes; called at most once.

    Returns:
        The 32-byte root hash (:data:`~vigil.core.merkle.EMPTY_ROOT` for size 0).

    Raises:
        ValueError: Unless ``0 <= size <= 2**64 - 1``, or the reader returns
            the wrong number of hashes.
        FormatError: The reader returns a hash that is not 32 bytes.
    """
    nodes = root_nodes(size)
    if not nodes:
        return EMPTY_ROOT
    return _read([nodes], read_nodes)[0]
