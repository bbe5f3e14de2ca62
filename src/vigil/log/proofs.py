"""Many inclusion proofs in one tree at once (RFC 9162 §2.1.3), sharing the work.

A batch submission is answered with the inclusion proof of every entry, all
in the same tree and mostly for neighbouring leaves, so the proofs share most
of their nodes. :func:`prove_inclusions` walks each leaf's path (the
recursive definition of RFC 9162 §2.1.3.1, as an iteration from the root),
reads every full subtree any of the proofs needs in *one* call to the node
reader, and computes each right-edge (ephemeral) node once. The proofs are
exactly those of :func:`vigil.core.prove.prove_inclusion` (tested against
it).

No I/O of its own.
"""

from __future__ import annotations

import hashlib
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
    # 1. Each leaf's path: the sibling ranges from the root down, reversed.
    paths: list[list[Range]] = []
    siblings: set[Range] = set()
    for index in indexes:
        if not 0 <= index < size:
            raise ValueError(
                f"inclusion proof for leaf {index} in tree of size {size}: "
                "want 0 <= index < size"
            )
        low, high = 0, size
        path: list[Range] = []
        while high - low > 1:
            split = low + (1 << ((high - low - 1).bit_length() - 1))
            if index < split:
                path.append((split, high))
                high = split
            else:
                path.append((low, split))
                low = split
        path.reverse()
        paths.append(path)
        siblings.update(path)
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
    return [[hashes[step] for step in path] for path in paths]
