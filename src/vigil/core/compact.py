"""Compact Merkle ranges: the O(log n) state needed to keep appending to a tree.

A compact range for ``[0, size)`` is the list of full subtree hashes that cover
those leaves, largest first: one per set bit of ``size`` (RFC 9162 §2.1; the
"frontier" of transparency-dev/merkle ``compact.Range`` with begin 0). For
size 6 = 0b110::

    (2,0)           (1,2)
    /   \\           /  \\
   .     .         4    5        hashes = [MTH(D[0:4]), MTH(D[4:6])]

Appending merges equal-height subtrees like a binary counter; every newly
complete subtree is reported to a ``visit(level, index, hash)`` callback so a
log can store exactly the hashes its tiles need (c2sp.org/tlog-tiles). A batch
of ``k`` leaves costs O(k + log n) hashing and memory.

No I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from vigil.core.merkle import EMPTY_ROOT, HASH_SIZE, MAX_TREE_SIZE, NODE_HASH_PREFIX
from vigil.errors import FormatError

__all__ = ["CompactRange", "LevelVisitor", "Visitor"]

Visitor = Callable[[int, int, bytes], None]
"""``visit(level, index, hash)``: called once for every newly complete full subtree."""

LevelVisitor = Callable[[int, int, list[bytes]], None]
"""``visit(level, first, hashes)``: called once per level that gains complete subtrees."""

_sha256 = hashlib.sha256


class CompactRange:
    """The compact range of a tree ``[0, size)``: enough to append and get the root.

    Example::

        >>> from vigil.core.merkle import hash_leaf, root_from_leaf_hashes
        >>> leaves = [hash_leaf(bytes([i])) for i in range(5)]
        >>> cr = CompactRange()
        >>> cr.extend(leaves)
        >>> cr.root() == root_from_leaf_hashes(leaves), cr.size, len(cr.hashes)
        (True, 5, 2)
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        """Create the compact range of the empty tree."""
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_state(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Rebuild a compact range from stored state.

        Args:
            size: The tree size.
            hashes: The full subtree hashes, largest (leftmost) first: one per
                set bit of ``size``.

        Raises:
            FormatError: ``size`` is out of range, the number of hashes is not
                the number of set bits of ``size``, or a hash is not 32 bytes.
        """
        if not 0 <= size <= MAX_TREE_SIZE:
            raise FormatError(
                f"compact range: tree size out of range (got {size}, want 0..{MAX_TREE_SIZE})"
            )
        if isinstance(hashes, bytes | bytearray | memoryview | str):
            raise TypeError(
                f"compact range: want a sequence of hashes, got {type(hashes).__name__}"
            )
        want = size.bit_count()
        if len(hashes) != want:
            raise FormatError(
                f"compact range of size {size}: got {len(hashes)} hashes, want {want}"
            )
        for position, value in enumerate(hashes):
            if len(value) != HASH_SIZE:
                raise FormatError(
                    f"compact range of size {size}: hash {position} is {len(value)} bytes "
                    f"(want {HASH_SIZE})"
                )
        result = cls()
        result._size = size
        result._hashes = [bytes(value) for value in hashes]
        return result

    @property
    def size(self) -> int:
        """The number of leaves covered."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The full subtree hashes, largest (leftmost) first."""
        return tuple(self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> CompactRange:
        """Return an independent copy."""
        result = CompactRange()
        result._size = self._size
        result._hashes = list(self._hashes)
        return result

    def append(self, leaf_hash: bytes, visit: Visitor | None = None) -> None:
        """Append one leaf hash.

        Args:
            leaf_hash: The 32-byte leaf hash.
            visit: Called as ``visit(0, index, leaf_hash)`` and then for each
                subtree the new leaf completes, lowest first.

        Raises:
            FormatError: ``leaf_hash`` is not 32 bytes.
            OverflowError: The tree would exceed 2**64 - 1 leaves.
        """
        self.extend((leaf_hash,), visit)

    def extend(self, leaf_hashes: Iterable[bytes], visit: Visitor | None = None) -> None:
        """Append leaf hashes in order, hashing one level at a time.

        Costs O(k + log n) for k new leaves. An invalid leaf hash is reported
        before ``visit`` is first called; if ``visit`` raises, the exception
        propagates and the range is left as it was (nothing appended).

        Args:
            leaf_hashes: The 32-byte leaf hashes to append.
            visit: Called as ``visit(level, index, hash)`` for every newly
                complete full subtree, level 0 (the leaves) first, each level
                left to right.

        Raises:
            FormatError: A leaf hash is not 32 bytes.
            OverflowError: The tree would exceed 2**64 - 1 leaves.
            TypeError: ``leaf_hashes`` is a bytes-like object.
        """
        if visit is None:
            self.extend_levels(leaf_hashes)
            return

        def each(level: int, first: int, values: list[bytes]) -> None:
            for offset, value in enumerate(values):
                visit(level, first + offset, value)

        self.extend_levels(leaf_hashes, each)

    def extend_levels(
        self, leaf_hashes: Iterable[bytes], visit: LevelVisitor | None = None
    ) -> None:
        """:meth:`extend`, telling ``visit`` of new subtrees a level at a time.

        ``visit(level, first, hashes)`` is called once per level that gains
        complete subtrees, lowest first: ``hashes`` are those of the subtrees
        at indexes ``first, first + 1, ...`` of that level. One call per level
        instead of one per node: the log integrates thousands of leaves a
        second.

        Raises:
            as :meth:`extend`.
        """
        if isinstance(leaf_hashes, bytes | bytearray | memoryview | str):
            raise TypeError(
                f"compact range: want a sequence of leaf hashes, got {type(leaf_hashes).__name__}"
            )
        nodes = list(leaf_hashes)
        if not nodes:
            return
        if not set(map(len, nodes)) <= {HASH_SIZE}:
            for position, value in enumerate(nodes):
                if len(value) != HASH_SIZE:
                    raise FormatError(
                        f"compact range: leaf hash {position} is {len(value)} bytes "
                        f"(want {HASH_SIZE})"
                    )
        if self._size + len(nodes) > MAX_TREE_SIZE:
            raise OverflowError(
                f"compact range of size {self._size}: appending {len(nodes)} leaves "
                f"exceeds {MAX_TREE_SIZE}"
            )

        new_size = self._size + len(nodes)
        sha = _sha256
        prefix = NODE_HASH_PREFIX
        # Work on copies so an exception from `visit` leaves `self` unchanged.
        frontier = list(self._hashes)
        settled: list[bytes] = []  # unpaired right-edge nodes, lowest level first
        first = self._size  # index of nodes[0] within its level
        level = 0
        if visit is not None:
            visit(0, first, list(nodes))
        while nodes:
            if first & 1:
                # nodes[0] is a right child: its left sibling is the lowest
                # subtree of the old frontier (set bit `level` of the old size).
                nodes.insert(0, frontier.pop())
                first -= 1
            if len(nodes) & 1:
                # bytes(): the range must not keep a caller's mutable buffer.
                settled.append(bytes(nodes.pop()))
            pairs = iter(nodes)
            nodes = [
                sha(prefix + left + right).digest()
                for left, right in zip(pairs, pairs, strict=False)
            ]
            first >>= 1
            level += 1
            if visit is not None and nodes:
                visit(level, first, list(nodes))
        settled.reverse()
        frontier.extend(settled)
        self._hashes = frontier
        self._size = new_size

    def root(self) -> bytes:
        """Return the root hash of ``[0, size)``: the frontier hashed right to left.

        Returns:
            The 32-byte root hash; :data:`~vigil.core.merkle.EMPTY_ROOT` when empty.
        """
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        node = hashes[-1]
        for left in reversed(hashes[:-1]):
            node = _sha256(NODE_HASH_PREFIX + left + node).digest()
        return node
