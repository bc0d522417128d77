"""The RFC 9162 Merkle tree: published test vectors, an independent implementation, tampering.

The vectors are the RFC 6962 reference data used across Certificate Transparency implementations
(transparency-dev/merkle ``testonly/constants.go`` and ``proof/verify_test.go``; the same data as
certificate-transparency's ``merkle_tree_test.cc``).
"""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.audit import merkle

LEAF_INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
LEAVES = [merkle.leaf_hash(data) for data in LEAF_INPUTS]

EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = {  # tree size -> MTH
    0: EMPTY_ROOT,
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
# (0-based leaf index, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
# (old size, new size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


# --- An independent implementation, written straight from the RFC's recursive definitions ---------

def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1 over leaf *inputs*."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_directions(m: int, n: int) -> list[str]:
    """Which side leaf ``m`` of an ``n``-leaf tree is on at each level, bottom-up."""
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    return ref_directions(m, k) + ["L"] if m < k else ref_directions(m - k, n - k) + ["R"]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return [] if m in (0, len(d)) else ref_subproof(m, d, True)


DATA = [f"entry {i}".encode() * (i % 3) for i in range(40)]
HASHED = [merkle.leaf_hash(x) for x in DATA]


# --- Published vectors -------------------------------------------------------------------------------

def test_hashing_primitives_follow_the_rfc() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert hexes(LEAVES) == LEAF_HASHES


def test_roots_match_the_published_vectors() -> None:
    assert merkle.root([]).hex() == EMPTY_ROOT == merkle.EMPTY_ROOT.hex()
    for size, expected in ROOTS.items():
        assert merkle.root(LEAVES[:size]).hex() == expected, size
    assert merkle.root(LEAVES).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(index: int, size: int, path: list[str]) -> None:
    assert hexes(merkle.inclusion_proof(LEAVES[:size], index)) == path
    proof = [bytes.fromhex(p) for p in path]
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, root)
    # The corruptions tried by transparency-dev/merkle's verifier tests.
    probes = [
        (LEAVES[index], index - 1, size, proof, root),
        (LEAVES[index], index + 1, size, proof, root),
        (LEAVES[index], index ^ 2, size, proof, root),
        (LEAVES[index], index, size * 2, proof, root),
        (LEAVES[index], index, size // 2, proof, root),
        (b"WrongLeaf", index, size, proof, root),
        (LEAVES[index], index, size, proof, bytes.fromhex(EMPTY_ROOT)),
        (LEAVES[index], index, size, proof, SOME_HASH),
        (LEAVES[index], index, size, [*proof, b""], root),
        (LEAVES[index], index, size, [*proof, root], root),
        (LEAVES[index], index, size, [b"", *proof], root),
        (LEAVES[index], index, size, [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((LEAVES[index], index, size, flipped, root))
    if proof:
        probes.append((LEAVES[index], index, size, proof[:-1], root))
    if len(proof) > 1:
        probes.append((LEAVES[index], index, size, [proof[0], SOME_HASH, *proof[1:]], root))
    for probe in probes:
        assert not merkle.verify_inclusion(*probe), probe


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(old: int, new: int, path: list[str]) -> None:
    assert hexes(merkle.consistency_proof(LEAVES[:new], old)) == path
    proof = [bytes.fromhex(p) for p in path]
    root1, root2 = bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new])
    assert merkle.verify_consistency(old, new, root1, root2, proof)
    if not proof:
        return
    probes = [
        (old - 1, new, root1, root2, proof),
        (old + 1, new, root1, root2, proof),
        (old ^ 2, new, root1, root2, proof),
        (old, new * 2, root1, root2, proof),
        (old, new // 2, root1, root2, proof),
        (old, new, b"WrongRoot", root2, proof),
        (old, new, root1, b"WrongRoot", proof),
        (old, new, root2, root1, proof),
        (old, new, root1, root2, []),
        (old, new, root1, root2, [*proof, b""]),
        (old, new, root1, root2, [*proof, root1]),
        (old, new, root1, root2, [*proof, root2]),
        (old, new, root1, root2, [b"", *proof]),
        (old, new, root1, root2, [root1, *proof]),
        (old, new, root1, root2, [root2, *proof]),
        (old, new, root1, root2, [proof[0], *proof]),
        (old, new, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, root1, root2, flipped))
    for probe in probes:
        assert not merkle.verify_consistency(*probe), probe


def test_trivial_and_impossible_consistency() -> None:
    empty = bytes.fromhex(EMPTY_ROOT)
    r1 = bytes.fromhex(ROOTS[1])
    assert merkle.verify_consistency(0, 0, empty, empty, [])
    assert merkle.verify_consistency(0, 1, empty, r1, [])
    assert merkle.verify_consistency(1, 1, r1, r1, [])
    assert not merkle.verify_consistency(1, 1, r1, empty, [])
    assert not merkle.verify_consistency(0, 0, empty, empty, [empty])
    assert not merkle.verify_consistency(1, 1, r1, r1, [empty])
    assert not merkle.verify_consistency(1, 0, r1, empty, [])  # time travel
    assert not merkle.verify_consistency(2, 1, bytes.fromhex(ROOTS[2]), r1, [])
    assert not merkle.verify_consistency(1, 2, r1, bytes.fromhex(ROOTS[2]), [])


def test_impossible_inclusion() -> None:
    for index, size in ((0, 0), (1, 0), (2, 1), (-1, 1)):
        assert not merkle.verify_inclusion(SOME_HASH, index, size, [], bytes.fromhex(EMPTY_ROOT))
    with pytest.raises(ValueError):
        merkle.inclusion_proof(LEAVES, 8)
    with pytest.raises(ValueError):
        merkle.consistency_proof(LEAVES, 9)


# --- Cross-checks against the independent implementation ----------------------------------------

def test_roots_agree_with_the_reference_up_to_40() -> None:
    for n in range(41):
        assert merkle.root(HASHED[:n]) == ref_mth(DATA[:n]), n


def test_every_inclusion_proof_up_to_40_agrees_and_verifies() -> None:
    for n in range(1, 41):
        root = ref_mth(DATA[:n])
        for m in range(n):
            proof = merkle.inclusion_proof(HASHED[:n], m)
            assert proof == ref_path(m, DATA[:n]), (m, n)
            assert len(proof) <= math.ceil(math.log2(n))
            assert merkle.verify_inclusion(HASHED[m], m, n, proof, root), (m, n)
            for other in range(n):
                if other != m:
                    assert not merkle.verify_inclusion(HASHED[m], other, n, proof, root), (m, other, n)


def test_every_consistency_proof_up_to_40_agrees_and_verifies() -> None:
    for n in range(0, 41):
        new_root = ref_mth(DATA[:n])
        for m in range(n + 1):
            proof = merkle.consistency_proof(HASHED[:n], m)
            assert proof == ref_proof(m, DATA[:n]), (m, n)
            assert len(proof) <= math.ceil(math.log2(n)) + 1 if n else not proof
            assert merkle.verify_consistency(m, n, ref_mth(DATA[:m]), new_root, proof), (m, n)


def test_proofs_grow_as_log_n() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(5000)]
    assert len(merkle.inclusion_proof(leaves, 1234)) <= 13
    assert len(merkle.consistency_proof(leaves, 3333)) <= 14
    builder = merkle.TreeBuilder()
    builder.extend(leaves)
    assert builder.root() == merkle.root(leaves) and builder.size == 5000


# --- Tampering (Hypothesis) ------------------------------------------------------------------------

@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, 40))
    return n, draw(st.integers(0, n - 1))


@settings(max_examples=300, deadline=None)
@given(tree_and_index(), st.data())
def test_tampered_inclusion_proofs_fail(case: tuple[int, int], data: st.DataObject) -> None:
    n, m = case
    root = merkle.root(HASHED[:n])
    proof = merkle.inclusion_proof(HASHED[:n], m)
    assert merkle.verify_inclusion(HASHED[m], m, n, proof, root)
    kind = data.draw(st.sampled_from(["element", "index", "size", "leaf", "drop", "add"]))
    leaf, index, size = HASHED[m], m, n
    if kind == "element":
        if not proof:
            return
        i = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        bit = data.draw(st.integers(0, 7))
        element = bytearray(proof[i])
        element[byte] ^= 1 << bit
        proof = [*proof[:i], bytes(element), *proof[i + 1:]]
    elif kind == "index":
        index = data.draw(st.integers(0, n - 1).filter(lambda x: x != m)) if n > 1 else m + 1
    elif kind == "size":
        size = data.draw(st.integers(0, 80).filter(lambda x: x != n))
        if m < size and ref_directions(m, size) == ref_directions(m, n):
            # Not a tampering the RFC can detect: the claimed tree has the same shape along the leaf's
            # path, so the same root follows. A signed tree head fixes the size with the root.
            assert merkle.verify_inclusion(leaf, index, size, proof, root)
            return
    elif kind == "leaf":
        leaf = HASHED[(m + 1) % len(HASHED)] if n > 1 else SOME_HASH
    elif kind == "drop":
        if not proof:
            return
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    else:
        proof.insert(data.draw(st.integers(0, len(proof))), SOME_HASH)
    assert not merkle.verify_inclusion(leaf, index, size, proof, root)


@st.composite
def sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(2, 40))
    return draw(st.integers(1, n - 1)), n


@settings(max_examples=300, deadline=None)
@given(sizes(), st.data())
def test_tampered_consistency_proofs_fail(case: tuple[int, int], data: st.DataObject) -> None:
    m, n = case
    old_root, new_root = merkle.root(HASHED[:m]), merkle.root(HASHED[:n])
    proof = merkle.consistency_proof(HASHED[:n], m)
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)
    kind = data.draw(st.sampled_from(["element", "old", "drop", "add"]))
    old, new = m, n
    if kind == "element":
        i = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        bit = data.draw(st.integers(0, 7))
        element = bytearray(proof[i])
        element[byte] ^= 1 << bit
        proof = [*proof[:i], bytes(element), *proof[i + 1:]]
    elif kind == "old":
        old = data.draw(st.integers(0, n).filter(lambda x: x != m))
    elif kind == "drop":
        del proof[data.draw(st.integers(0, len(proof) - 1))]
    else:
        proof.insert(data.draw(st.integers(0, len(proof))), SOME_HASH)
    assert not merkle.verify_consistency(old, new, old_root, new_root, proof)
