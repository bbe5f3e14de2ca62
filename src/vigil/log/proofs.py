"""Many inclusion proofs in one tree at once (RFC 9162 §2.1.3), sharing the work.

A batch submission is answered with the inclusion proof of every entry, all
in the same tree and mostly for neighbouring leaves, so the proofs share most
of their nodes. :func:`prove_inclusions` walks all the leaves' paths together
from the root (the recursive definition of RFC 9162 §2.1.3.1), visiting each
node once however many leaves pass through it, reads every full subtree any
of the proofs needs in *one* call to the node reader, computes each
right-edge (ephemeral) node once, and shares each proof's upper part between
the leaves below it. The proofs are
exactly those of :func:`vigil.core.prove.prove_inclusion` (tested against
it).

No I/O of its own.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Sequence

from vigil.core.merkle import NODE_HASH_PREFIX
from vigil.core.prove import NodeReader, prove_inclusion

__all__ = ["prove_inclusions"]

Range = tuple[int, int]


def _is_full(begin: int, end: int) -> bool:
    width = end - begin
    return width & (width - 1) == 0 and begin % width == 0


def _full_node(begin: int, end: int) -> tuple[int, int]:
    level = (end - begin).bit_length() - 1
    return level, begin >> level


def _subtrees(begin: int, end: int) -> list[Range]:
    """Full subtrees covering ``[begin, end)``, left to right, largest first."""
    ranges = []
    while begin < end:
        width = 1 << ((end - begin).bit_length() - 1)
        ranges.append((begin, begin + width))
        begin += width
    return ranges


def prove_inclusions(
    indexes: Sequence[int], size: int, read_nodes: NodeReader
) -> list[list[bytes]]:
    """The inclusion proof of each leaf in ``indexes`` in the tree of ``size``.

    Requires ``0 <= index < size`` for every index (checked by
    :func:`~vigil.core.prove.prove_inclusion` for a single proof).

    Raises:
        ValueError: an index is out of range.
        whatever ``read_nodes`` raises.
    """
    if len(indexes) <= 2:
        return [prove_inclusion(index, size, read_nodes) for index in indexes]
    for index in indexes:
        if not 0 <= index < size:
            raise ValueError(
                f"inclusion proof for leaf {index} in tree of size {size}: "
                "want 0 <= index < size"
            )
    leaves = sorted(set(indexes))
    # 1. The sibling of every node on the leaves' paths, from the root down.
    siblings: list[Range] = []
    _collect_siblings(0, size, leaves, 0, len(leaves), siblings)
    # 2. Every full subtree needed, read at once; right-edge ranges are made
    # of full subtrees.
    full: set[Range] = set()
    for begin, end in siblings:
        if _is_full(begin, end):
            full.add((begin, end))
        else:
            full.update(_subtrees(begin, end))
    ordered = sorted(full)
    hashes: dict[Range, bytes] = dict(
        zip(
            ordered,
            (bytes(h) for h in read_nodes([_full_node(b, e) for b, e in ordered])),
            strict=True,
        )
    )
    # 3. Ephemeral nodes: fold their subtrees right to left (RFC 9162 MTH).
    sha = hashlib.sha256
    for begin, end in siblings:
        if (begin, end) not in hashes:
            parts = _subtrees(begin, end)
            node = hashes[parts[-1]]
            for part in reversed(parts[:-1]):
                node = sha(NODE_HASH_PREFIX + hashes[part] + node).digest()
            hashes[(begin, end)] = node
    # 4. Each leaf's proof: the siblings' hashes from the leaf up.
    proofs: dict[int, tuple[bytes, ...]] = {}
    _assemble(0, size, leaves, 0, len(leaves), (), hashes, proofs)
    return [list(proofs[index]) for index in indexes]


def _split(low: int, high: int) -> int:
    """Where RFC 9162 splits ``[low, high)``: the largest power of two below its width."""
    return low + (1 << ((high - low - 1).bit_length() - 1))


def _collect_siblings(
    low: int, high: int, leaves: list[int], lo: int, hi: int, out: list[Range]
) -> None:
    """Append the sibling of each node below ``[low, high)`` on the paths of
    ``leaves[lo:hi]`` (all in that range). Each node is visited once, however
    many leaves pass through it."""
    if high - low == 1:
        return
    split = _split(low, high)
    mid = bisect_left(leaves, split, lo, hi)
    if lo < mid:
        out.append((split, high))
        _collect_siblings(low, split, leaves, lo, mid, out)
    if mid < hi:
        out.append((low, split))
        _collect_siblings(split, high, leaves, mid, hi, out)


def _assemble(
    low: int,
    high: int,
    leaves: list[int],
    lo: int,
    hi: int,
    above: tuple[bytes, ...],
    hashes: dict[Range, bytes],
    out: dict[int, tuple[bytes, ...]],
) -> None:
    """Set ``out[leaf]`` for ``leaves[lo:hi]``: their siblings' hashes below
    ``[low, high)``, then ``above`` (the rest of the path to the root)."""
    if high - low == 1:
        out[low] = above
        return
    split = _split(low, high)
    mid = bisect_left(leaves, split, lo, hi)
    if lo < mid:
        _assemble(low, split, leaves, lo, mid, (hashes[(split, high)], *above), hashes, out)
    if mid < hi:
        _assemble(split, high, leaves, mid, hi, (hashes[(low, split)], *above), hashes, out)
