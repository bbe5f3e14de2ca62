"""Merkle throughput: Vigil's tree code beside raw ``hashlib.sha256``.

Each row compares a Vigil operation with the raw primitive work it cannot
avoid, measured in the same run on the same data:

* roots and inner-node hashing: as many one-shot
  ``hashlib.sha256(65 bytes).digest()`` calls as there are inner nodes;
* proof verification: the bare RFC 9162 hash chain over the same proof
  hashes (``sha256(0x01 || left || right)`` per step, no checks at all),
  which any verifier must compute; ``with_floor=True`` also compares with
  hashing one constant input (no concatenation, no memory traffic);
* proof generation from the in-memory tree: fetching the same full-subtree
  hashes by precomputed coordinates.

Times are the best process CPU time of ``repeats`` runs (default 3), Vigil and
raw interleaved, so that other processes on a shared box hurt both alike.
Units: ``s`` (lower is better) or a rate ``.../s`` (higher is better).

Run ``python bench/merkle_bench.py``; ``bench_merkle()`` returns the rows for
``bench/core.py``. About 10 s and 400 MB with the defaults.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable

from vigil.core.compact import CompactRange
from vigil.core.merkle import MerkleTree, hash_children, root_from_leaf_hashes
from vigil.core.proof import verify_consistency, verify_inclusion
from vigil.core.prove import inclusion_nodes

__all__ = ["bench_merkle"]

Row = tuple[str, float, float, str]


def _best(fn: Callable[[], object], repeats: int) -> float:
    """Best CPU time of ``fn`` over ``repeats`` runs (steadier than wall time when shared)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _pair(
    vigil: Callable[[], object], raw: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Best times of ``vigil`` and ``raw``, measured alternately."""
    vigil_best = raw_best = float("inf")
    for _ in range(repeats):
        vigil_best = min(vigil_best, _best(vigil, 1))
        raw_best = min(raw_best, _best(raw, 1))
    return vigil_best, raw_best


def _raw_hashes(count: int) -> Callable[[], object]:
    """``count`` one-shot SHA-256 calls on a 65-byte node input."""
    data = b"\x01" + bytes(64)

    def run() -> None:
        sha = hashlib.sha256
        for _ in range(count):
            sha(data).digest()

    return run


def _chain_plan(
    size1: int, size2: int, proof: list[bytes], root1: bytes
) -> tuple[bytes, list[tuple[bytes, bool]]]:
    """Seed and (hash, is-left-sibling) steps of a consistency proof (RFC 9162 §2.1.4.2)."""
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    mask = (size1 - 1) >> shift
    lefts = [bool((mask >> level) & 1) for level in range(inner - shift)] + [True] * border
    if size1 == 1 << shift:
        return root1, list(zip(proof, lefts, strict=True))
    return proof[0], list(zip(proof[1:], lefts, strict=True))


def bench_merkle(
    n_leaves: int = 1_000_000, n_proofs: int = 20_000, repeats: int = 3, with_floor: bool = False
) -> list[Row]:
    """Measure the Merkle figures of issue 2 and return ``(name, vigil, raw, unit)`` rows.

    ``with_floor`` adds a row comparing verification with hashing one constant
    input (no concatenation, no memory traffic), for reference.
    """
    rows: list[Row] = []
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n_leaves)]

    # 1. Root of n leaves vs n-1 raw hashes.
    vigil_s, raw_s = _pair(
        lambda: root_from_leaf_hashes(leaves), _raw_hashes(n_leaves - 1), repeats
    )
    rows.append((f"merkle root of {n_leaves:,} leaves", vigil_s, raw_s, "s"))
    rows.append(
        (
            "inner-node hashes/s (root, batched)",
            (n_leaves - 1) / vigil_s,
            (n_leaves - 1) / raw_s,
            "hashes/s",
        )
    )

    # 2. hash_children one call at a time (with its 32-byte checks).
    count = 200_000
    left, right = leaves[0], leaves[1]

    def children() -> None:
        hc = hash_children
        for _ in range(count):
            hc(left, right)

    vigil_s, raw_s = _pair(children, _raw_hashes(count), repeats)
    rows.append(("inner-node hashes/s (hash_children)", count / vigil_s, count / raw_s, "hashes/s"))

    # 3. CompactRange: appending all leaves in batches of 256 (a tile per batch).
    def compact() -> None:
        cr = CompactRange()
        for start in range(0, n_leaves, 256):
            cr.extend(leaves[start : start + 256])

    vigil_s, raw_s = _pair(compact, _raw_hashes(n_leaves - 1), repeats)
    rows.append((f"compact range append {n_leaves:,} (256/batch)", vigil_s, raw_s, "s"))

    # 4. Inclusion proofs on the in-memory tree of n leaves.
    tree = MerkleTree(leaves)
    size = tree.size
    root = tree.root()
    rng = random.Random(6962)
    indexes = [rng.randrange(size) for _ in range(n_proofs)]
    # The raw generation primitive: fetching the proof's full nodes by
    # precomputed coordinates (no planning, no checks, no ephemeral hashing).
    coordinates = [inclusion_nodes(index, size) for index in indexes]
    levels = [
        [tree.node(level, i) for i in range(size >> level)] for level in range(size.bit_length())
    ]

    def generate() -> None:
        prove = tree.inclusion_proof
        for index in indexes:
            prove(index, size)

    def raw_generate() -> None:
        for nodes in coordinates:
            [levels[level][index] for level, index in nodes]

    vigil_s, raw_s = _pair(generate, raw_generate, repeats)
    gen = (vigil_s, raw_s)
    rows.append(
        (
            f"inclusion proofs generated/s ({n_leaves // 1000:,}k tree)",
            n_proofs / vigil_s,
            n_proofs / raw_s,
            "proofs/s",
        )
    )

    # Verified proofs and leaf hashes are fresh objects, as if just parsed
    # from a response (not references into the 150 MB tree, which would make
    # the benchmark measure cache misses).
    proofs = [[bytes(bytearray(h)) for h in tree.inclusion_proof(i, size)] for i in indexes]
    proof_leaves = [bytes(bytearray(leaves[index])) for index in indexes]
    lengths = [len(proof) for proof in proofs]

    def verify() -> None:
        check = verify_inclusion
        for index, leaf, proof in zip(indexes, proof_leaves, proofs, strict=True):
            check(index, size, leaf, proof, root)

    def raw_verify() -> None:
        # The bare RFC 9162 chain over the same hashes: no checks at all.
        sha = hashlib.sha256
        prefix = b"\x01"
        for index, node, proof in zip(indexes, proof_leaves, proofs, strict=True):
            for sibling in proof:
                if index & 1:
                    node = sha(prefix + sibling + node).digest()
                else:
                    node = sha(prefix + node + sibling).digest()
                index >>= 1

    vigil_s, raw_s = _pair(verify, raw_verify, repeats)
    rows.append(
        (
            f"inclusion proofs verified/s ({min(lengths)}-{max(lengths)} hashes)",
            n_proofs / vigil_s,
            n_proofs / raw_s,
            "proofs/s",
        )
    )
    rows.append(
        (
            "inclusion proofs generated+verified/s",
            n_proofs / (gen[0] + vigil_s),
            n_proofs / (gen[1] + raw_s),
            "proofs/s",
        )
    )

    if with_floor:
        # For reference: the same number of SHA-256 calls on one constant
        # 65-byte input (no concatenation, no data to touch), a floor that no
        # verifier reaches.
        floor_s = _best(_raw_hashes(sum(lengths)), repeats)
        rows.append(
            (
                "  inclusion verified/s vs constant-input floor",
                n_proofs / vigil_s,
                n_proofs / floor_s,
                "proofs/s",
            )
        )

    # 5. Consistency proofs between random sizes of the same tree.
    pairs = [(rng.randrange(1, size), size) for _ in range(n_proofs // 4)]
    croots = {size1: tree.root(size1) for size1, _ in pairs}
    cproofs = [
        [bytes(bytearray(h)) for h in tree.consistency_proof(size1, size2)]
        for size1, size2 in pairs
    ]
    chains = [
        _chain_plan(size1, size2, proof, croots[size1])
        for (size1, size2), proof in zip(pairs, cproofs, strict=True)
    ]

    def cverify() -> None:
        check = verify_consistency
        for (size1, size2), proof in zip(pairs, cproofs, strict=True):
            check(size1, size2, proof, croots[size1], root)

    def raw_cverify() -> None:
        # The bare chains rebuilding both roots from the same hashes.
        sha = hashlib.sha256
        prefix = b"\x01"
        for seed, steps in chains:
            hash1 = hash2 = seed
            for sibling, left in steps:
                if left:
                    hash1 = sha(prefix + sibling + hash1).digest()
                    hash2 = sha(prefix + sibling + hash2).digest()
                else:
                    hash2 = sha(prefix + hash2 + sibling).digest()

    vigil_s, raw_s = _pair(cverify, raw_cverify, repeats)
    rows.append(
        ("consistency proofs verified/s", len(pairs) / vigil_s, len(pairs) / raw_s, "proofs/s")
    )
    return rows


def main() -> None:
    """Print the rows with their slowdown against the raw primitive."""
    print(f"{'figure':<48} {'vigil':>14} {'raw':>14} {'ratio':>7}  unit")
    for name, vigil, raw, unit in bench_merkle(with_floor=True):
        ratio = vigil / raw if unit == "s" else raw / vigil
        print(f"{name:<48} {vigil:>14,.3f} {raw:>14,.3f} {ratio:>6.2f}x  {unit}")


if __name__ == "__main__":
    main()
