"""RFC 6962 / RFC 9162 Merkle tree hashing, and a small in-memory tree.

Implements the Merkle Tree Hash of RFC 6962 §2.1 (= RFC 9162 §2.1.1) with
SHA-256::

    leaf hash  = SHA-256(0x00 || data)             (LEAF_HASH_PREFIX)
    node hash  = SHA-256(0x01 || left || right)    (NODE_HASH_PREFIX)
    MTH({})    = SHA-256("")                        (EMPTY_ROOT)
    MTH(D[n])  = node hash(MTH(D[0:k]), MTH(D[k:n])), k = largest power of 2 < n

Tree addressing used across :mod:`vigil.core`: the *full subtree* (node)
``(level, index)`` is the Merkle Tree Hash of the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``. Level 0 holds the leaf
hashes. For a tree of size 6::

    level 2:  (2,0)
             /     \\
    level 1: (1,0)   (1,1)   (1,2)
             /  \\    /  \\    /  \\
    level 0: 0    1  2    3  4    5

The root of size 6 is ``node hash((2,0), (1,2))``: right-edge subtrees that are
not full are never stored, only computed ("ephemeral" nodes).

:class:`MerkleTree` keeps every level in memory; it is meant for tests,
benchmarks and small logs. Logs use :class:`vigil.core.compact.CompactRange`
plus stored tiles. Proof verification lives in :mod:`vigil.core.proof`, proof
construction over stored nodes in :mod:`vigil.core.prove`.

No I/O, no clock, no globals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from vigil.errors import FormatError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "LEAF_HASH_PREFIX",
    "MAX_TREE_SIZE",
    "NODE_HASH_PREFIX",
    "MerkleTree",
    "hash_children",
    "hash_leaf",
    "root_from_leaf_hashes",
]

HASH_SIZE = 32
"""Size in bytes of every hash (SHA-256)."""

LEAF_HASH_PREFIX = b"\x00"
"""Domain separation byte for leaf hashes (RFC 6962 §2.1)."""

NODE_HASH_PREFIX = b"\x01"
"""Domain separation byte for interior node hashes (RFC 6962 §2.1)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the empty tree, MTH({}) = SHA-256() (RFC 6962 §2.1)."""

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size: tree sizes are uint64 (RFC 6962 §3.5, c2sp.org/tlog-checkpoint)."""

_sha256 = hashlib.sha256


def hash_leaf(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash ``SHA-256(0x00 || data)`` of an entry.

    Args:
        data: The entry bytes (any length).

    Returns:
        The 32-byte leaf hash.
    """
    return _sha256(LEAF_HASH_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash ``SHA-256(0x01 || left || right)``.

    Args:
        left: Hash of the left subtree (32 bytes).
        right: Hash of the right subtree (32 bytes).

    Returns:
        The 32-byte node hash.

    Raises:
        FormatError: A child hash is not 32 bytes (it would otherwise be
            silently ambiguous: ``left || right`` has no separator).
    """
    # Literals instead of HASH_SIZE / NODE_HASH_PREFIX: this is the hot path
    # of callers hashing one node at a time, and global lookups cost ~10%.
    if len(left) != 32 or len(right) != 32:
        raise FormatError(
            f"node hash: child hashes are {len(left)} and {len(right)} bytes "
            f"(want {HASH_SIZE} and {HASH_SIZE})"
        )
    return _sha256(b"\x01" + left + right).digest()


def _check_hash_list(hashes: Sequence[bytes], what: str) -> None:
    """Raise unless ``hashes`` is a sequence of 32-byte strings."""
    if isinstance(hashes, bytes | bytearray | memoryview | str):
        # A concatenation of hashes is a classic misuse: iterating it would
        # yield ints (or characters), not hashes.
        raise TypeError(f"{what}: want a sequence of hashes, got {type(hashes).__name__}")
    # map(len) runs in C; one pass over 1M hashes costs ~15 ms.
    if not set(map(len, hashes)) <= {HASH_SIZE}:
        for position, item in enumerate(hashes):
            if len(item) != HASH_SIZE:
                raise FormatError(
                    f"{what}: hash {position} is {len(item)} bytes (want {HASH_SIZE})"
                )


def _hash_level(level: Sequence[bytes]) -> list[bytes]:
    """Hash consecutive pairs of ``level``; an odd last element is dropped."""
    sha = _sha256
    prefix = NODE_HASH_PREFIX
    pairs = iter(level)
    # zip(it, it) yields (level[0], level[1]), (level[2], level[3]), ...; the
    # comprehension is the fastest pure-Python loop for this (see bench/).
    return [sha(prefix + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]


def _root_by_pairs(level: Sequence[bytes]) -> bytes:
    """Root of a non-empty list of nodes, one tree level per pass."""
    while len(level) > 1:
        parents = _hash_level(level)
        if len(level) & 1:
            parents.append(level[-1])
        level = parents
    return level[0]


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle Tree Hash (RFC 6962 §2.1) of a list of leaf hashes.

    Computed level by level: pairs are hashed and an unpaired last node is
    carried up unchanged, which yields exactly the RFC's recursive definition
    (the left subtree of every split is a perfect tree of 2**k leaves).

    Args:
        leaf_hashes: The leaf hashes (each 32 bytes), in log order.

    Returns:
        The 32-byte root hash; :data:`EMPTY_ROOT` for no leaves.

    Raises:
        FormatError: A leaf hash is not 32 bytes.
        TypeError: ``leaf_hashes`` is a bytes-like object, not a sequence.
    """
    _check_hash_list(leaf_hashes, "merkle root")
    if not leaf_hashes:
        return EMPTY_ROOT
    sha = _sha256
    p = NODE_HASH_PREFIX
    level: Sequence[bytes] = leaf_hashes
    while len(level) >= 8:
        # Three tree levels per pass: each run of 8 nodes becomes one (7
        # hashes per loop iteration instead of 1), which saves about 10% of
        # interpreter overhead. A last run of fewer than 8 nodes is the
        # right-edge subtree; with carrying, its root is its level-3 node.
        nodes = iter(level)
        parents = [
            sha(
                p
                + sha(p + sha(p + a + b).digest() + sha(p + c + d).digest()).digest()
                + sha(p + sha(p + e + f).digest() + sha(p + g + h).digest()).digest()
            ).digest()
            for a, b, c, d, e, f, g, h in zip(*[nodes] * 8, strict=False)
        ]
        rest = len(level) & 7
        if rest:
            parents.append(_root_by_pairs(level[len(level) - rest :]))
        level = parents
    return bytes(_root_by_pairs(level))


def _subtrees(begin: int, end: int) -> list[tuple[int, int]]:
    """Full subtrees ``(level, index)`` covering ``[begin, end)``, left to right.

    Requires ``begin`` to be a multiple of the largest power of two not above
    ``end - begin`` (true for ``begin == 0`` and for the right-edge ranges of
    proofs), so the decomposition follows the bits of ``end - begin`` from the
    highest down.
    """
    nodes = []
    remaining = end - begin
    while remaining:
        level = remaining.bit_length() - 1
        nodes.append((level, begin >> level))
        begin += 1 << level
        remaining -= 1 << level
    return nodes


_EPHEMERAL_CACHE_SIZE = 4096


class MerkleTree:
    """An append-only RFC 6962 tree keeping every full subtree hash in memory.

    ``levels[L]`` holds the ``size >> L`` full nodes of level ``L``. Memory is
    about 2 x 32 bytes x size, so this is for tests, benchmarks and small logs.
    Its :meth:`read_nodes` is a :data:`vigil.core.prove.NodeReader`.

    Example::

        >>> tree = MerkleTree([hash_leaf(b"a"), hash_leaf(b"b")])
        >>> tree.root() == hash_children(hash_leaf(b"a"), hash_leaf(b"b"))
        True
    """

    __slots__ = ("_ephemeral", "_levels")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        """Create a tree holding ``leaf_hashes``.

        Raises:
            FormatError: A leaf hash is not 32 bytes.
        """
        self._levels: list[list[bytes]] = [[]]
        # Hashes of right-edge ranges [begin, end) that are not full subtrees.
        # Leaves never change, so entries never go stale; the cache is only
        # bounded (cleared when full).
        self._ephemeral: dict[tuple[int, int], bytes] = {}
        self.extend(leaf_hashes)

    def __repr__(self) -> str:
        return f"MerkleTree(size={self.size})"

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its leaf index.

        Raises:
            FormatError: ``leaf_hash`` is not 32 bytes.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise FormatError(f"leaf hash: got {len(leaf_hash)} bytes, want {HASH_SIZE}")
        levels = self._levels
        index = len(levels[0])
        levels[0].append(bytes(leaf_hash))
        position, level, node = index, 0, bytes(leaf_hash)
        while position & 1:
            node = _sha256(NODE_HASH_PREFIX + levels[level][position - 1] + node).digest()
            level += 1
            if level == len(levels):
                levels.append([])
            levels[level].append(node)
            position >>= 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append many leaf hashes, hashing each new level in one batch.

        Raises:
            FormatError: A leaf hash is not 32 bytes (nothing is appended).
            TypeError: ``leaf_hashes`` is a bytes-like object.
        """
        if isinstance(leaf_hashes, bytes | bytearray | memoryview | str):
            raise TypeError(
                f"merkle tree: want a sequence of leaf hashes, got {type(leaf_hashes).__name__}"
            )
        new = [bytes(h) for h in leaf_hashes]
        _check_hash_list(new, "merkle tree")
        levels = self._levels
        levels[0].extend(new)
        level = 0
        while True:
            current = levels[level]
            if level + 1 == len(levels):
                levels.append([])
            parents = levels[level + 1]
            start = 2 * len(parents)
            if len(current) - start < 2:
                break
            parents.extend(_hash_level(current[start:]))
            level += 1
        while len(levels) > 1 and not levels[-1]:
            levels.pop()

    def node(self, level: int, index: int) -> bytes:
        """Return the hash of the full subtree ``(level, index)``.

        Raises:
            ValueError: That subtree is not complete in this tree.
        """
        levels = self._levels
        if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
            raise ValueError(
                f"merkle tree of size {self.size}: no full subtree at level {level} index {index}"
            )
        return levels[level][index]

    def read_nodes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the hashes of full subtrees: a :data:`~vigil.core.prove.NodeReader`.

        Raises:
            ValueError: A requested subtree is not complete in this tree.
        """
        return [self.node(level, index) for level, index in ids]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"merkle tree of size {self.size}: no tree of size {size}")

    def _range_hash(self, begin: int, end: int) -> bytes:
        """Hash of leaves ``[begin, end)`` (``begin`` aligned, see :func:`_subtrees`)."""
        cached = self._ephemeral.get((begin, end))
        if cached is not None:
            return cached
        levels = self._levels
        nodes = [levels[level][index] for level, index in _subtrees(begin, end)]
        result = nodes[-1]
        for left in reversed(nodes[:-1]):
            result = _sha256(NODE_HASH_PREFIX + left + result).digest()
        if len(self._ephemeral) >= _EPHEMERAL_CACHE_SIZE:
            self._ephemeral.clear()
        self._ephemeral[(begin, end)] = result
        return result

    def root(self, size: int | None = None) -> bytes:
        """Return the root hash of the first ``size`` leaves (default: all).

        Raises:
            ValueError: ``size`` is negative or larger than the tree.
        """
        if size is None:
            size = self.size
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the RFC 9162 §2.1.3 inclusion proof of leaf ``index`` in tree ``size``.

        Hashes are ordered from the leaf's sibling up to the root's child, as
        :func:`vigil.core.proof.verify_inclusion` expects.

        Raises:
            ValueError: Unless ``0 <= index < size <= self.size``.
        """
        levels = self._levels
        if not 0 <= index < size <= len(levels[0]):
            if 0 <= index < size:
                self._check_size(size)
            raise ValueError(
                f"inclusion proof for leaf {index} in tree of size {size}: "
                f"leaf index out of range (want 0 <= index < {size})"
            )
        # Below level `inner` the paths of `index` and `size - 1` differ, so
        # every sibling there is complete, except possibly the right sibling at
        # level inner-1, which ends at `size` (an ephemeral node).
        inner = (index ^ (size - 1)).bit_length()
        proof = [levels[level][(index >> level) ^ 1] for level in range(inner - 1)]
        if inner:
            level = inner - 1
            sibling = (index >> level) ^ 1
            if (sibling + 1) << level <= size:
                proof.append(levels[level][sibling])
            else:
                ephemeral = self._ephemeral.get((sibling << level, size))
                proof.append(ephemeral or self._range_hash(sibling << level, size))
        # From level `inner` up, the path runs along the right edge: only left
        # siblings (one per set bit of index >> inner) exist.
        position = index >> inner
        if position:
            proof += [
                levels[inner + shift][(position >> shift) - 1]
                for shift in range(position.bit_length())
                if (position >> shift) & 1
            ]
        return proof

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """Return the RFC 9162 §2.1.4 consistency proof from ``size1`` to ``size2``.

        Empty when ``size1 == size2``.

        Raises:
            ValueError: Unless ``0 < size1 <= size2 <= self.size`` (no proof
                exists from the empty tree).
        """
        if not 0 < size1 <= size2:
            raise ValueError(
                f"consistency proof from size {size1} to size {size2}: want 0 < size1 <= size2"
            )
        self._check_size(size2)
        if size1 == size2:
            return []
        # The proof is the inclusion proof of leaf size1-1 in size2, minus the
        # levels below the largest full subtree ending at size1, prefixed by
        # that subtree unless it is the whole old tree (the verifier has it).
        shift = (size1 & -size1).bit_length() - 1
        proof = self.inclusion_proof(size1 - 1, size2)[shift:]
        if size1 != 1 << shift:
            proof.insert(0, self._levels[shift][(size1 - 1) >> shift])
        return proof
