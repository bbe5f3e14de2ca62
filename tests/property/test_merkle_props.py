"""Merkle properties: the fast code agrees with RFC 6962 read literally.

The reference below is written straight from RFC 6962 §2.1 (MTH), §2.1.1
(PATH) and §2.1.2 (PROOF/SUBPROOF), recursion and all, in the style of
transparency-dev/merkle ``testonly/reference_test.go``. Every proof the fast
code produces must equal the reference, verify, and stop verifying after any
one-bit change, index change or size change.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vigil.core.compact import CompactRange
from vigil.core.merkle import (
    MerkleTree,
    hash_children,
    hash_leaf,
    root_from_leaf_hashes,
)
from vigil.core.proof import (
    consistency_proof_length,
    inclusion_proof_length,
    verify_consistency,
    verify_inclusion,
)
from vigil.core.prove import prove_consistency, prove_inclusion, root_at
from vigil.errors import FormatError, ProofError, RootMismatchError

# --- RFC 6962 §2.1, literally ------------------------------------------------


def ref_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def ref_split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *hashes* (MTH of one entry is its leaf hash)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = ref_split(n)
    return ref_node(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 6962 §2.1.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = ref_split(n)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 6962 §2.1.2."""
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = ref_split(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def ref_proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n; empty for m == n."""
    return [] if m == len(leaves) else ref_subproof(m, leaves, True)


# --- Fixtures ---------------------------------------------------------------

MAX_SIZE = 300
LEAVES = [ref_leaf(b"entry %d" % i) for i in range(MAX_SIZE)]
TREE = MerkleTree(LEAVES)


@cache
def ref_root(size: int) -> bytes:
    return ref_mth(LEAVES[:size])


def flip(value: bytes, bit: int) -> bytes:
    """``value`` with one bit flipped (bit taken modulo its length)."""
    bit %= 8 * len(value)
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def leaf_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(0, size - 1)), size


@st.composite
def size_pairs(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(1, size2)), size2


# --- Roots ------------------------------------------------------------------


@given(st.lists(st.binary(max_size=40), max_size=70))
def test_root_matches_reference(entries: list[bytes]) -> None:
    leaves = [hash_leaf(entry) for entry in entries]
    assert leaves == [ref_leaf(entry) for entry in entries]
    want = ref_mth(leaves)
    assert root_from_leaf_hashes(leaves) == want
    tree = MerkleTree(leaves)
    assert tree.root() == want
    cr = CompactRange()
    cr.extend(leaves)
    assert cr.root() == want
    assert root_at(len(leaves), tree.read_nodes) == want


@given(sizes)
def test_every_prefix_root(size: int) -> None:
    assert root_from_leaf_hashes(LEAVES[:size]) == ref_root(size)
    assert TREE.root(size) == ref_root(size)
    assert root_at(size, TREE.read_nodes) == ref_root(size)


# --- Inclusion --------------------------------------------------------------


@given(leaf_and_size())
def test_inclusion_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    index, size = case
    want = ref_path(index, LEAVES[:size])
    assert TREE.inclusion_proof(index, size) == want
    assert prove_inclusion(index, size, TREE.read_nodes) == want
    assert inclusion_proof_length(index, size) == len(want)
    verify_inclusion(index, size, LEAVES[index], want, ref_root(size))


@given(leaf_and_size(), st.data())
def test_inclusion_one_bit_flip_fails(case: tuple[int, int], data: st.DataObject) -> None:
    index, size = case
    proof = TREE.inclusion_proof(index, size)
    root = ref_root(size)
    bit = data.draw(st.integers(0, 255), label="bit")
    target = data.draw(st.integers(-2, len(proof) - 1), label="target")
    leaf = LEAVES[index]
    if target == -2:
        leaf = flip(leaf, bit)
    elif target == -1:
        root = flip(root, bit)
    else:
        proof = [flip(h, bit) if i == target else h for i, h in enumerate(proof)]
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, leaf, proof, root)


@given(leaf_and_size(), st.sampled_from([-1, 1, 2, -2]))
def test_inclusion_other_index_fails(case: tuple[int, int], delta: int) -> None:
    index, size = case
    proof = TREE.inclusion_proof(index, size)
    with pytest.raises(ProofError):
        verify_inclusion(index + delta, size, LEAVES[index], proof, ref_root(size))


@given(leaf_and_size(), sizes)
def test_inclusion_other_size_fails(case: tuple[int, int], other: int) -> None:
    index, size = case
    assume(other != size)
    proof = TREE.inclusion_proof(index, size)
    # Against the true root of the other size: the claim is false.
    with pytest.raises(ProofError):
        verify_inclusion(index, other, LEAVES[index], proof, ref_root(other))


@given(leaf_and_size(), st.binary(min_size=32, max_size=32))
def test_inclusion_truncated_or_extended_fails(case: tuple[int, int], extra: bytes) -> None:
    index, size = case
    proof = TREE.inclusion_proof(index, size)
    with pytest.raises(ProofError, match="hashes, want"):
        verify_inclusion(index, size, LEAVES[index], [*proof, extra], ref_root(size))
    if proof:
        with pytest.raises(ProofError, match="hashes, want"):
            verify_inclusion(index, size, LEAVES[index], proof[:-1], ref_root(size))


# --- Consistency ------------------------------------------------------------


@given(size_pairs())
def test_consistency_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    size1, size2 = case
    want = ref_proof(size1, LEAVES[:size2])
    assert TREE.consistency_proof(size1, size2) == want
    assert prove_consistency(size1, size2, TREE.read_nodes) == want
    assert consistency_proof_length(size1, size2) == len(want)
    verify_consistency(size1, size2, want, ref_root(size1), ref_root(size2))


@given(size_pairs(), st.data())
def test_consistency_one_bit_flip_fails(case: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = case
    proof = TREE.consistency_proof(size1, size2)
    root1, root2 = ref_root(size1), ref_root(size2)
    bit = data.draw(st.integers(0, 255), label="bit")
    target = data.draw(st.integers(-2, len(proof) - 1), label="target")
    if target == -2:
        root1 = flip(root1, bit)
    elif target == -1:
        root2 = flip(root2, bit)
    else:
        proof = [flip(h, bit) if i == target else h for i, h in enumerate(proof)]
    with pytest.raises(RootMismatchError):
        verify_consistency(size1, size2, proof, root1, root2)


@given(size_pairs(), st.sampled_from(["size1-1", "size1+1", "size2-1", "size2+1", "swap"]))
def test_consistency_other_sizes_fail(case: tuple[int, int], change: str) -> None:
    size1, size2 = case
    proof = TREE.consistency_proof(size1, size2)
    new1, new2 = {
        "size1-1": (size1 - 1, size2),
        "size1+1": (size1 + 1, size2),
        "size2-1": (size1, size2 - 1),
        "size2+1": (size1, size2 + 1),
        "swap": (size2, size1),
    }[change]
    assume((new1, new2) != (size1, size2) and new2 <= MAX_SIZE)
    # Against the true roots of the other sizes: the claim is false.
    with pytest.raises(ProofError):
        verify_consistency(new1, new2, proof, ref_root(new1), ref_root(new2))


@given(size_pairs())
def test_consistency_shape_checks(case: tuple[int, int]) -> None:
    size1, size2 = case
    proof = TREE.consistency_proof(size1, size2)
    root1, root2 = ref_root(size1), ref_root(size2)
    with pytest.raises(ProofError, match="hashes, want"):
        verify_consistency(size1, size2, [*proof, root1], root1, root2)
    if proof:
        with pytest.raises(ProofError, match="hashes, want"):
            verify_consistency(size1, size2, proof[:-1], root1, root2)
        with pytest.raises(FormatError, match="proof hash 0 is 31 bytes"):
            verify_consistency(size1, size2, [proof[0][:31], *proof[1:]], root1, root2)


# --- Compact ranges ---------------------------------------------------------


@given(st.lists(st.integers(0, 40), max_size=12))
@settings(max_examples=150)
def test_compact_range_random_batches(batches: list[int]) -> None:
    cr = CompactRange()
    visited: list[tuple[int, int, bytes]] = []
    size = 0
    for count in batches:
        count = min(count, MAX_SIZE - size)
        start = len(visited)
        cr.extend(LEAVES[size : size + count], lambda lv, ix, h: visited.append((lv, ix, h)))
        new_size = size + count
        batch = visited[start:]
        # Exactly the full subtrees of new_size that size did not have.
        want = {
            (level, index, TREE.node(level, index))
            for level in range(new_size.bit_length())
            for index in range(size >> level, new_size >> level)
        }
        assert set(batch) == want
        assert len(batch) == len(want)
        size = new_size
        assert cr.size == size
        assert cr.root() == ref_root(size)
        assert len(cr.hashes) == size.bit_count()
        restored = CompactRange.from_state(size, cr.hashes)
        assert restored == cr


# --- Domain separation ------------------------------------------------------


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_leaf_and_node_hashes_are_domain_separated(left: bytes, right: bytes) -> None:
    node = hash_children(left, right)
    assert node == ref_node(left, right)
    # The 64 bytes of a node's children, logged as an entry, hash differently.
    assert hash_leaf(left + right) != node


@given(st.integers(min_value=1, max_value=7))
def test_interior_node_cannot_pose_as_an_entry(level: int) -> None:
    # The classic second-preimage trick: present node (level, 0) of a tree of
    # 2**(level+1) leaves as "leaf 0 of a 2-leaf tree". Without domain
    # separation the entry made of its children's hashes would verify.
    size = 2 ** (level + 1)
    children = TREE.node(level - 1, 0) + TREE.node(level - 1, 1)
    assert hash_children(children[:32], children[32:]) == TREE.node(level, 0)
    sibling = TREE.node(level, 1)
    with pytest.raises(RootMismatchError):
        verify_inclusion(0, 2, hash_leaf(children), [sibling], ref_root(size))
    # ...while the same hashes, trusted as a leaf hash, would (hence leaf
    # hashes must always be computed by the verifier from the entry).
    verify_inclusion(0, 2, TREE.node(level, 0), [sibling], ref_root(size))
