"""The Merkle tree of RFC 9162 §2.1 (the same as RFC 6962 §2.1), standard library only.

Leaves are hashed as ``SHA-256(0x00 || data)`` and interior nodes as ``SHA-256(0x01 || left || right)``;
the tree over ``n`` leaves splits at the largest power of two smaller than ``n``. Every function here
works on *leaf hashes* (not on leaf data), so callers hash their entries once with :func:`leaf_hash`.

Proofs are lists of 32-byte hashes, in the order the RFC defines (``PATH`` and ``SUBPROOF``), so they
interoperate with Certificate Transparency verifiers. The verifiers implement the RFC's iterative
algorithms (§2.1.3.2 and §2.1.4.2) rather than recomputing the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class TreeBuilder:
    """Appends leaf hashes and gives the root at any time, in O(log n) memory.

    It keeps the roots of the perfect subtrees that make up the tree so far (a "compact range"),
    merging two of equal size as soon as they appear; the root folds them from the right.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []  # (size, hash), sizes strictly decreasing
        self.size = 0

    @classmethod
    def resume(cls, compact_range: Sequence[tuple[int, bytes]]) -> TreeBuilder:
        """A builder that goes on from a tree given by its perfect subtrees, (size, hash), largest
        first (the pieces :func:`perfect_pieces` names for [0, n))."""
        builder = cls()
        sizes = [size for size, _ in compact_range]
        if any(s & (s - 1) or s <= 0 for s in sizes) or sizes != sorted(set(sizes), reverse=True):
            raise ValueError("a compact range is perfect subtrees of strictly decreasing power-of-two sizes")
        builder._stack = list(compact_range)
        builder.size = sum(sizes)
        return builder

    def append(self, leaf: bytes) -> None:
        size, value = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            _, left = self._stack.pop()
            size, value = size * 2, node_hash(left, value)
        self._stack.append((size, value))
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over the given leaf hashes (the empty tree's root is SHA-256 of nothing)."""
    builder = TreeBuilder()
    builder.extend(leaves)
    return builder.root()


def _range_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    builder = TreeBuilder()
    for i in range(lo, hi):
        builder.append(leaves[i])
    return builder.root()


Range = tuple[int, int]  # leaves [lo, hi)


def inclusion_ranges(index: int, tree_size: int) -> list[Range]:
    """The leaf ranges whose roots make up PATH(index, D[tree_size]) (RFC 9162 §2.1.3.1), bottom-up.

    Each range starts at a multiple of a power of two at least as large as the range, so its root is
    the fold from the right of the perfect subtrees given by the binary digits of its length."""
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is outside a tree of {tree_size} leaves")
    lo, hi = 0, tree_size
    top_down: list[Range] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo += k
    return top_down[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The leaf ranges whose roots make up PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1), in order."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    lo, hi, m, whole = 0, new_size, old_size, True
    top_down: list[Range] = []
    head: list[Range] = []
    while True:
        if m == hi - lo:
            if not whole:
                head.append((lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            top_down.append((lo + k, hi))
            hi = lo + k
        else:
            top_down.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    return head + top_down[::-1]


def perfect_pieces(lo: int, hi: int) -> list[tuple[int, int]]:
    """The perfect subtrees, as (level, index), that make up the range [lo, hi) of a proof, largest
    first; a subtree at ``level`` and ``index`` covers leaves [index * 2**level, (index + 1) * 2**level)."""
    pieces: list[tuple[int, int]] = []
    length, at = hi - lo, lo
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            if at % (1 << level):
                raise ValueError(f"range [{lo}, {hi}) is not aligned as a proof range")
            pieces.append((level, at >> level))
            at += 1 << level
    return pieces


def fold_pieces(hashes: Sequence[bytes]) -> bytes:
    """The root of a range from its perfect subtrees' hashes (largest first): folded from the right."""
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1: the audit path of leaf ``index``, bottom-up."""
    return [_range_root(leaves, lo, hi) for lo, hi in inclusion_ranges(index, len(leaves))]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1: shows the first ``old_size`` leaves are a prefix of all of them."""
    return [_range_root(leaves, lo, hi) for lo, hi in consistency_ranges(old_size, len(leaves))]


def _well_formed(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes | bytearray) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` in the tree with ``root_hash``?"""
    if not _well_formed(leaf, root_hash, *proof) or not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``old_size`` with ``old_root`` a prefix of the one with ``new_root``?

    The empty tree is a prefix of every tree (its root must be SHA-256 of nothing and the proof empty);
    a tree is consistent with itself when the roots are equal and the proof is empty.
    """
    if not _well_formed(old_root, new_root, *proof) or not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
