"""Proof verification: every transparency-dev/merkle probe, plus error details.

The probes (vectors.md §2, §3) are loaded from
``shared/vectors/merkle-testdata/{inclusion,consistency}/**.json``; each must
give its ``wantErr`` verdict. A failure must be a ``ProofError`` (with
``RootMismatchError`` for a wrong root), or a ``FormatError`` only when some
hash in the probe really is not 32 bytes.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vigil.core.merkle import MerkleTree, hash_leaf
from vigil.core.proof import (
    consistency_proof_length,
    inclusion_proof_length,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from vigil.errors import FormatError, ProofError, RootMismatchError, VerificationError

# Parametrization happens at collection, before fixtures: locate the shared
# vectors the way tests/conftest.py does.
PROBES = Path(__file__).resolve().parents[4] / "shared" / "vectors" / "merkle-testdata"


def _probes(kind: str) -> list[Path]:
    return sorted((PROBES / kind).rglob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    probe: dict[str, Any] = json.loads(path.read_text())
    return probe


def _decode(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _id(path: Path) -> str:
    return str(path.relative_to(PROBES))


def test_probe_counts() -> None:
    assert len(_probes("inclusion")) == 98
    assert len(_probes("consistency")) == 98


@pytest.mark.parametrize("path", _probes("inclusion"), ids=_id)
def test_inclusion_probe(path: Path) -> None:
    probe = _load(path)
    leaf_hash = _decode(probe["leafHash"])
    root = _decode(probe["root"])
    proof = [_decode(h) for h in probe["proof"] or []]
    malformed = any(len(h) != 32 for h in [leaf_hash, root, *proof])
    index, size = probe["leafIdx"], probe["treeSize"]
    if not probe["wantErr"]:
        verify_inclusion(index, size, leaf_hash, proof, root)
        assert root_from_inclusion_proof(index, size, leaf_hash, proof) == root
        assert inclusion_proof_length(index, size) == len(proof)
        return
    with pytest.raises((ProofError, FormatError)) as caught:
        verify_inclusion(index, size, leaf_hash, proof, root)
    if isinstance(caught.value, FormatError):
        assert malformed, f"FormatError for well-formed hashes: {caught.value}"
        assert not isinstance(caught.value, VerificationError)
    assert f"inclusion proof for leaf {index} in tree of size {size}: " in str(caught.value)


@pytest.mark.parametrize("path", _probes("consistency"), ids=_id)
def test_consistency_probe(path: Path) -> None:
    probe = _load(path)
    root1 = _decode(probe["root1"])
    root2 = _decode(probe["root2"])
    proof = [_decode(h) for h in probe["proof"] or []]
    malformed = any(len(h) != 32 for h in [root1, root2, *proof])
    size1, size2 = probe["size1"], probe["size2"]
    if not probe["wantErr"]:
        verify_consistency(size1, size2, proof, root1, root2)
        assert root_from_consistency_proof(size1, size2, proof, root1) == root2
        assert consistency_proof_length(size1, size2) == len(proof)
        return
    with pytest.raises((ProofError, FormatError)) as caught:
        verify_consistency(size1, size2, proof, root1, root2)
    if isinstance(caught.value, FormatError):
        assert malformed, f"FormatError for well-formed hashes: {caught.value}"
    assert f"consistency proof from size {size1} to size {size2}: " in str(caught.value)


LEAVES = [hash_leaf(bytes([i])) for i in range(16)]
TREE = MerkleTree(LEAVES)


class TestInclusionErrors:
    def test_index_out_of_range(self) -> None:
        proof = TREE.inclusion_proof(2, 8)
        for index, size in [(8, 8), (-1, 8), (0, 0)]:
            with pytest.raises(ProofError, match="leaf index out of range") as caught:
                verify_inclusion(index, size, LEAVES[2], proof, TREE.root(8))
            assert f"(got {index}, want 0 <= index < {size})" in str(caught.value)

    def test_size_too_large(self) -> None:
        with pytest.raises(ProofError, match="tree size too large"):
            verify_inclusion(0, 2**64, LEAVES[0], [], TREE.root(1))

    def test_wrong_proof_length(self) -> None:
        proof = TREE.inclusion_proof(5, 8)
        with pytest.raises(
            ProofError, match=r"inclusion proof for leaf 5 in tree of size 8: got 2 hashes, want 3"
        ):
            verify_inclusion(5, 8, LEAVES[5], proof[:2], TREE.root(8))
        with pytest.raises(ProofError, match="got 4 hashes, want 3"):
            verify_inclusion(5, 8, LEAVES[5], [*proof, proof[0]], TREE.root(8))

    def test_malformed_hashes(self) -> None:
        proof = TREE.inclusion_proof(5, 8)
        root = TREE.root(8)
        with pytest.raises(FormatError, match=r"leaf hash is 31 bytes \(want 32\)"):
            verify_inclusion(5, 8, LEAVES[5][:31], proof, root)
        with pytest.raises(FormatError, match=r"root hash is 0 bytes \(want 32\)"):
            verify_inclusion(5, 8, LEAVES[5], proof, b"")
        with pytest.raises(FormatError, match=r"proof hash 1 is 33 bytes \(want 32\)"):
            verify_inclusion(5, 8, LEAVES[5], [proof[0], proof[1] + b"x", proof[2]], root)

    def test_proof_as_bytes_is_a_type_error(self) -> None:
        proof = b"".join(TREE.inclusion_proof(5, 8))
        with pytest.raises(TypeError, match="want a sequence of hashes, got bytes"):
            verify_inclusion(5, 8, LEAVES[5], proof, TREE.root(8))  # type: ignore[arg-type]

    def test_root_mismatch_carries_both_roots(self) -> None:
        proof = TREE.inclusion_proof(5, 8)
        wrong = bytes(32)
        with pytest.raises(RootMismatchError) as caught:
            verify_inclusion(5, 8, LEAVES[5], proof, wrong)
        assert caught.value.expected == wrong
        assert caught.value.computed == TREE.root(8)
        assert TREE.root(8).hex() in str(caught.value)
        assert isinstance(caught.value, ProofError)

    def test_leaf_hash_is_not_leaf_data(self) -> None:
        # Passing the entry instead of its leaf hash can only fail.
        tree = MerkleTree([hash_leaf(bytes(32)), hash_leaf(bytes(32))])
        with pytest.raises(RootMismatchError):
            verify_inclusion(0, 2, bytes(32), tree.inclusion_proof(0, 2), tree.root())

    def test_accepts_tuple_and_bytearray(self) -> None:
        proof = tuple(bytearray(h) for h in TREE.inclusion_proof(5, 13))
        verify_inclusion(5, 13, bytearray(LEAVES[5]), proof, bytearray(TREE.root(13)))  # type: ignore[arg-type]


class TestConsistencyErrors:
    def test_size1_zero_is_rejected(self) -> None:
        with pytest.raises(ProofError, match="old tree size must be positive"):
            verify_consistency(0, 0, [], TREE.root(0), TREE.root(0))
        with pytest.raises(ProofError, match="no consistency proof exists from an empty tree"):
            verify_consistency(0, 5, [], TREE.root(0), TREE.root(5))

    def test_shrinking_tree(self) -> None:
        with pytest.raises(
            ProofError,
            match=r"consistency proof from size 5 to size 4: new tree is smaller than old tree "
            r"\(got size2 4, want >= 5\)",
        ):
            verify_consistency(5, 4, [], TREE.root(5), TREE.root(4))

    def test_equal_sizes(self) -> None:
        verify_consistency(5, 5, [], TREE.root(5), TREE.root(5))
        with pytest.raises(ProofError, match="got 1 hashes, want 0 for equal sizes"):
            verify_consistency(5, 5, [TREE.root(5)], TREE.root(5), TREE.root(5))
        with pytest.raises(RootMismatchError, match="equal sizes but different roots") as caught:
            verify_consistency(5, 5, [], TREE.root(5), TREE.root(6))
        assert caught.value.expected == TREE.root(6)
        assert caught.value.computed == TREE.root(5)

    def test_wrong_length_and_malformed(self) -> None:
        proof = TREE.consistency_proof(6, 13)
        root6, root13 = TREE.root(6), TREE.root(13)
        with pytest.raises(ProofError, match=r"got 3 hashes, want 4"):
            verify_consistency(6, 13, proof[:3], root6, root13)
        with pytest.raises(ProofError, match=r"got 0 hashes, want 4"):
            verify_consistency(6, 13, [], root6, root13)
        with pytest.raises(FormatError, match=r"old root hash is 31 bytes"):
            verify_consistency(6, 13, proof, root6[:31], root13)
        with pytest.raises(FormatError, match=r"new root hash is 0 bytes"):
            verify_consistency(6, 13, proof, root6, b"")
        with pytest.raises(FormatError, match=r"proof hash 2 is 1 bytes"):
            verify_consistency(6, 13, [*proof[:2], b"x", proof[3]], root6, root13)
        with pytest.raises(TypeError):
            verify_consistency(6, 13, b"".join(proof), root6, root13)  # type: ignore[arg-type]

    def test_old_root_mismatch(self) -> None:
        proof = TREE.consistency_proof(6, 13)
        with pytest.raises(RootMismatchError, match="proof does not lead to the old root") as c:
            verify_consistency(6, 13, proof, TREE.root(7), TREE.root(13))
        assert c.value.expected == TREE.root(7)
        assert c.value.computed == TREE.root(6)

    def test_new_root_mismatch(self) -> None:
        proof = TREE.consistency_proof(6, 13)
        with pytest.raises(RootMismatchError, match="computed new root") as caught:
            verify_consistency(6, 13, proof, TREE.root(6), TREE.root(12))
        assert caught.value.expected == TREE.root(12)
        assert caught.value.computed == TREE.root(13)
        assert root_from_consistency_proof(6, 13, proof, TREE.root(6)) == TREE.root(13)


def test_proof_lengths_match_generated_proofs() -> None:
    for size in range(1, 17):
        for index in range(size):
            assert inclusion_proof_length(index, size) == len(TREE.inclusion_proof(index, size))
        for size1 in range(1, size + 1):
            assert consistency_proof_length(size1, size) == len(TREE.consistency_proof(size1, size))
    assert inclusion_proof_length(0, 2**64 - 1) == 64
    with pytest.raises(ProofError):
        inclusion_proof_length(3, 3)
    with pytest.raises(ProofError):
        consistency_proof_length(0, 3)


def test_verification_does_not_import_construction() -> None:
    # Clients import proof.py alone: it must not drag in proof construction.
    code = (
        "import sys, vigil.core.proof; "
        "print(sorted(m for m in sys.modules if m.startswith('vigil.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "vigil.core.prove" not in result.stdout
    assert "vigil.core.tiles" not in result.stdout
