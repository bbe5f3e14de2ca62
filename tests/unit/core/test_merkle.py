"""RFC 6962 hashing, roots and the in-memory tree (vectors.md §1, §6.1)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from vigil.core import merkle
from vigil.core.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    LEAF_HASH_PREFIX,
    NODE_HASH_PREFIX,
    MerkleTree,
    hash_children,
    hash_leaf,
    root_from_leaf_hashes,
)
from vigil.errors import FormatError

# vectors.md §1 (transparency-dev/merkle testonly/constants.go).
LEAF_INPUTS = [
    b"",
    bytes.fromhex("00"),
    bytes.fromhex("10"),
    bytes.fromhex("2021"),
    bytes.fromhex("3031"),
    bytes.fromhex("40414243"),
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES_HEX = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
INTERIOR_HEX = {
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
ROOTS_HEX = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
RFC_LEAVES = [hash_leaf(data) for data in LEAF_INPUTS]

# vectors.md §6.1: the real 300-leaf tree of sunlight's skylight testdata.
SKYLIGHT_MIRROR = (
    "sunlight-skylight-testdata/witness/mirror/"
    "000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706"
)
SKYLIGHT_LEAVES = [hash_leaf(b"record %d" % i) for i in range(300)]
SKYLIGHT_ROOT = "gw31yQrqZZCcEOPrzX+bpy3nJ6QgngTKn8G1m0i62uU="
SKYLIGHT_ROOT_257 = "e8lTONnrdW/d1vzeOGps12khFsE79avvFd+35TWOaK4="
SKYLIGHT_INCLUSION_299 = [
    "oJeCE4EcZnD3TghM2hxVfAALwF5llUkBn6elkggA9lg=",
    "G4eeV6kFVP/E3WDpTS13Y8MluAOSE4lmh/6gzH+LKXY=",
    "BwAl1lkfH1Fu+RLO5xSCcQc32AVTRaXrDkBtCAGGR9g=",
    "M96OAKgNKtJ00jDbUN3xCuKP3nVQYySodLLmyR3zgK0=",
    "3JNJ+Xh+0Ahtptl/Z5xRpRmPmORW6Vsdh/o6vAEv7DE=",
]
SKYLIGHT_CONSISTENCY_257_300 = [
    "rUAG1i3BEkDkzWyMjguVIMzPm78bih9kodDEVwxQkls=",
    "E8hKtxS7AnK1sf/NfecfxYZa1CAf8psSZE04ZllCYP0=",
    "kasamZQ4HpdKO0SYiugJIDAq2HOcsCMsyoQ0uj69xVw=",
    "rgNv9wDY3hnJrf5ecZDdc5cYfDQl20595Njfu8KZ6ms=",
    "YEuFURczV07bb1QecTYD8jKmOnXRo1yUQiN5YQ1EerE=",
    "F1T/sISqhYq7KDRfryAsJLPTgnGshxubXcuhQTyN54s=",
    "+JzqYfQRUx3OS3GjUmYpnpjP+yrz0BVBFheziie6VwA=",
    "3JNJ+Xh+0Ahtptl/Z5xRpRmPmORW6Vsdh/o6vAEv7DE=",
]


def b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(value) for value in values]


def test_constants() -> None:
    assert HASH_SIZE == 32
    assert LEAF_HASH_PREFIX == b"\x00"
    assert NODE_HASH_PREFIX == b"\x01"
    assert EMPTY_ROOT.hex() == ROOTS_HEX[0]
    assert merkle.MAX_TREE_SIZE == 2**64 - 1


@pytest.mark.parametrize("i", range(8))
def test_rfc6962_leaf_hashes(i: int) -> None:
    assert hash_leaf(LEAF_INPUTS[i]).hex() == LEAF_HASHES_HEX[i]


def test_go_sumdb_record_hash() -> None:
    # golang/mod sumdb/tlog: RecordHash("hello world").
    assert hash_leaf(b"hello world") == base64.b64decode(
        "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
    )


@pytest.mark.parametrize(("node", "want"), sorted(INTERIOR_HEX.items()))
def test_rfc6962_interior_nodes(node: tuple[int, int], want: str) -> None:
    tree = MerkleTree(RFC_LEAVES)
    assert tree.node(*node).hex() == want


def test_hash_children_matches_definition() -> None:
    left, right = RFC_LEAVES[0], RFC_LEAVES[1]
    assert hash_children(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert hash_children(left, right).hex() == INTERIOR_HEX[(1, 0)]


@pytest.mark.parametrize("size", range(9))
def test_rfc6962_roots(size: int) -> None:
    want = ROOTS_HEX[size]
    assert root_from_leaf_hashes(RFC_LEAVES[:size]).hex() == want
    assert MerkleTree(RFC_LEAVES[:size]).root().hex() == want
    assert MerkleTree(RFC_LEAVES).root(size).hex() == want


def test_root_accepts_tuples_and_returns_bytes() -> None:
    root = root_from_leaf_hashes(tuple(bytearray(h) for h in RFC_LEAVES[:1]))  # type: ignore[misc]
    assert type(root) is bytes
    assert root.hex() == ROOTS_HEX[1]


@pytest.mark.parametrize("size", [9, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1000])
def test_root_agrees_with_tree_for_unrolled_sizes(size: int) -> None:
    # root_from_leaf_hashes hashes 3 levels per pass; MerkleTree one level.
    leaves = [hash_leaf(i.to_bytes(4, "big")) for i in range(size)]
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    assert root_from_leaf_hashes(leaves) == tree.root()


def test_hash_children_rejects_wrong_lengths() -> None:
    with pytest.raises(FormatError, match=r"child hashes are 31 and 32 bytes"):
        hash_children(bytes(31), bytes(32))
    with pytest.raises(FormatError, match=r"child hashes are 32 and 64 bytes"):
        hash_children(bytes(32), bytes(64))


def test_root_rejects_bad_leaf_hashes() -> None:
    with pytest.raises(FormatError, match=r"merkle root: hash 2 is 31 bytes \(want 32\)"):
        root_from_leaf_hashes([bytes(32), bytes(32), bytes(31)])
    with pytest.raises(TypeError, match="want a sequence of hashes"):
        root_from_leaf_hashes(bytes(64))  # type: ignore[arg-type]


def test_domain_separation_of_leaf_and_node() -> None:
    left, right = RFC_LEAVES[2], RFC_LEAVES[3]
    assert hash_leaf(left + right) != hash_children(left, right)
    assert hash_leaf(b"") != EMPTY_ROOT


class TestMerkleTree:
    def test_append_returns_indices_and_matches_extend(self) -> None:
        one = MerkleTree()
        assert [one.append(leaf) for leaf in SKYLIGHT_LEAVES[:37]] == list(range(37))
        batched = MerkleTree(SKYLIGHT_LEAVES[:5])
        batched.extend(SKYLIGHT_LEAVES[5:20])
        batched.extend([])
        batched.extend(SKYLIGHT_LEAVES[20:37])
        assert one.size == batched.size == 37
        for size in range(38):
            assert (
                one.root(size)
                == batched.root(size)
                == root_from_leaf_hashes(SKYLIGHT_LEAVES[:size])
            )
        for level in range(6):
            for index in range(37 >> level):
                assert one.node(level, index) == batched.node(level, index)
        assert repr(one) == "MerkleTree(size=37)"

    def test_node_and_read_nodes(self) -> None:
        tree = MerkleTree(RFC_LEAVES[:7])
        assert tree.node(0, 6) == RFC_LEAVES[6]
        assert tree.read_nodes([(2, 0), (1, 2), (0, 6)]) == [
            bytes.fromhex(INTERIOR_HEX[(2, 0)]),
            bytes.fromhex(INTERIOR_HEX[(1, 2)]),
            RFC_LEAVES[6],
        ]
        for level, index in [(1, 3), (2, 1), (3, 0), (0, 7), (0, -1), (-1, 0)]:
            with pytest.raises(ValueError, match="no full subtree"):
                tree.node(level, index)

    def test_rejects_bad_input(self) -> None:
        tree = MerkleTree(RFC_LEAVES[:2])
        with pytest.raises(FormatError, match=r"leaf hash: got 33 bytes, want 32"):
            tree.append(bytes(33))
        with pytest.raises(FormatError, match=r"hash 1 is 0 bytes"):
            tree.extend([bytes(32), b""])
        with pytest.raises(TypeError):
            tree.extend(bytes(32))  # type: ignore[arg-type]
        assert tree.size == 2  # nothing appended by a failed extend
        assert tree.root().hex() == ROOTS_HEX[2]

    def test_bounds(self) -> None:
        tree = MerkleTree(RFC_LEAVES[:4])
        with pytest.raises(ValueError, match="no tree of size 5"):
            tree.root(5)
        with pytest.raises(ValueError, match="no tree of size -1"):
            tree.root(-1)
        with pytest.raises(ValueError, match="leaf index out of range"):
            tree.inclusion_proof(4, 4)
        with pytest.raises(ValueError, match="leaf index out of range"):
            tree.inclusion_proof(-1, 4)
        with pytest.raises(ValueError, match="no tree of size 5"):
            tree.inclusion_proof(0, 5)
        with pytest.raises(ValueError, match="want 0 < size1 <= size2"):
            tree.consistency_proof(0, 3)
        with pytest.raises(ValueError, match="want 0 < size1 <= size2"):
            tree.consistency_proof(3, 2)
        with pytest.raises(ValueError, match="no tree of size 9"):
            tree.consistency_proof(3, 9)
        assert tree.consistency_proof(3, 3) == []

    def test_rfc_inclusion_proofs(self) -> None:
        # vectors.md §2 happy paths.
        tree = MerkleTree(RFC_LEAVES)
        assert tree.inclusion_proof(0, 1) == []
        assert tree.inclusion_proof(0, 8) == b64(
            [
                "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
            ]
        )
        assert tree.inclusion_proof(2, 3) == b64(["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="])
        assert tree.inclusion_proof(1, 5) == b64(
            [
                "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            ]
        )

    def test_rfc_consistency_proofs(self) -> None:
        # vectors.md §3 happy paths.
        tree = MerkleTree(RFC_LEAVES)
        assert tree.consistency_proof(1, 1) == []
        assert tree.consistency_proof(6, 8) == b64(
            [
                "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
                "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
            ]
        )
        assert tree.consistency_proof(2, 5) == b64(
            [
                "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
                "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            ]
        )
        assert tree.consistency_proof(6, 7) == b64(
            [
                "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
                "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
                "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
            ]
        )


class TestSkylightTree:
    """The real 300-entry tree of vectors.md §6.1."""

    def test_leaf_hashes(self) -> None:
        assert SKYLIGHT_LEAVES[0].hex() == (
            "3b367d6db7bc51726d918b18e9a79e0fce53f867fbe38671f609e6bb59d46035"
        )
        assert SKYLIGHT_LEAVES[1].hex() == (
            "0bde58a293c1f0fd54d11d7e4900ddf1ca4f214cc8801845aac6dfd9613adfbc"
        )
        assert SKYLIGHT_LEAVES[255].hex() == (
            "d30a573485c1691d01b138b60452d43b93baae15bde7708431726c8e6623873b"
        )
        assert SKYLIGHT_LEAVES[299].hex() == (
            "edeb971e38746b9b9dce8b6487fb0116d64ef7704fffb31fda427c7fd81c48da"
        )

    def test_roots(self) -> None:
        tree = MerkleTree(SKYLIGHT_LEAVES)
        assert base64.b64encode(tree.root()).decode() == SKYLIGHT_ROOT
        assert base64.b64encode(root_from_leaf_hashes(SKYLIGHT_LEAVES)).decode() == SKYLIGHT_ROOT
        assert base64.b64encode(tree.root(257)).decode() == SKYLIGHT_ROOT_257
        assert tree.node(8, 0).hex() == (
            "dc9349f9787ed0086da6d97f679c51a5198f98e456e95b1d87fa3abc012fec31"
        )

    def test_tiles_hold_tree_hashes(self, vectors_dir: Path) -> None:
        mirror = vectors_dir / SKYLIGHT_MIRROR
        tree = MerkleTree(SKYLIGHT_LEAVES)
        tile0 = (mirror / "tile/0/000").read_bytes()
        tile1 = (mirror / "tile/0/001.p/44").read_bytes()
        tile_up = (mirror / "tile/1/000.p/1").read_bytes()
        assert hashlib.sha256(tile0).hexdigest() == (
            "66a1d43136a854a5776d5bce14bf101c925fc7d4b32f1be23b658f636ebfcddb"
        )
        assert hashlib.sha256(tile1).hexdigest() == (
            "699f078d937f13343d71ad39321757de3ecf391e8d7a1b2015ad38bd36f5d60a"
        )
        assert tile0 == b"".join(SKYLIGHT_LEAVES[:256])
        assert tile1 == b"".join(SKYLIGHT_LEAVES[256:])
        assert tile_up == tree.node(8, 0)

    def test_checkpoint_root(self, vectors_dir: Path) -> None:
        checkpoint = (vectors_dir / SKYLIGHT_MIRROR / "checkpoint").read_text()
        assert checkpoint.splitlines()[1:3] == ["300", SKYLIGHT_ROOT]

    def test_derived_proofs(self) -> None:
        tree = MerkleTree(SKYLIGHT_LEAVES)
        assert tree.inclusion_proof(299, 300) == b64(SKYLIGHT_INCLUSION_299)
        assert tree.consistency_proof(257, 300) == b64(SKYLIGHT_CONSISTENCY_257_300)
