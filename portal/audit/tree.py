"""Proofs over the stored audit log: inclusion of an entry in a signed tree head, and consistency
between two heads (RFC 9162 §2.1.3 and §2.1.4), in O(log n) reads.

Entry ``seq`` is leaf index ``seq - 1``; a tree of size ``n`` covers entries 1..n.

Every range a proof needs (see :func:`portal.audit.merkle.inclusion_ranges`) is a run of perfect
subtrees, whose hashes are kept in ``audit_tree_nodes`` (:class:`~portal.audit.models.TreeNode`);
the leaves themselves are the entries' ``leaf_hash``. The stored nodes are brought up to date on
demand (:func:`sync_nodes`, also run when a tree head is signed), reading only the entries added
since the last time. A proof therefore reads at most about 2·log2(n) hashes, whatever n is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, func, or_, select

from portal.audit import merkle
from portal.audit.models import AuditEntry, TreeNode
from portal.db import serialised, upsert
from portal.extensions import db

SYNC_BATCH = 10_000
_SYNC_LOCK = 7244893  # next to the append (7244891) and head (7244892) locks

Piece = tuple[int, int]  # (level, index)


class ProofError(ValueError):
    """The log does not hold what the proof is asked about (a size beyond its end, say)."""


def log_size() -> int:
    return int(db.session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)


def synced_size() -> int:
    """How many leaves the stored nodes account for (always even: nodes exist for complete pairs)."""
    highest = db.session.scalar(select(func.max(TreeNode.idx)).where(TreeNode.level == 1))
    return 0 if highest is None else 2 * (int(highest) + 1)


def _leaf_hashes(first_index: int, last_index: int) -> list[bytes]:
    """Leaf hashes for leaf indexes first..last (inclusive), which must all exist."""
    rows = db.session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash)
                              .where(AuditEntry.seq > first_index, AuditEntry.seq <= last_index + 1)
                              .order_by(AuditEntry.seq)).all()
    if len(rows) != last_index - first_index + 1 or (rows and rows[0][0] != first_index + 1):
        raise ProofError(f"audit entries {first_index + 1}..{last_index + 1} are not all there")
    return [bytes(h) for _, h in rows]


def _insert_nodes(nodes: list[dict[str, object]]) -> None:
    if not nodes:
        return
    upsert(TreeNode, nodes, ["level", "idx"])


def sync_nodes(upto: int | None = None) -> int:
    """Store the perfect-subtree hashes over the first ``upto`` entries (by default all of them);
    the caller commits. Returns the number of nodes added. Racing callers store the same values,
    and the second insert of a node is ignored."""
    target = log_size() if upto is None else upto
    serialised(_SYNC_LOCK)
    done = synced_size()
    if target <= done + 1:
        return 0
    # The left siblings still waiting for a right one, per level: the compact range of the first
    # ``done`` leaves, read back from what is stored.
    pending: dict[int, bytes] = {}
    frontier = [(level, (done >> level) - 1) for level in range(done.bit_length()) if (done >> level) & 1]
    pending.update({level: value for (level, _), value in zip(frontier, fetch_pieces(frontier), strict=True)})
    added = 0
    for start in range(done, target, SYNC_BATCH):
        end = min(start + SYNC_BATCH, target)
        nodes: list[dict[str, object]] = []
        for index, value in enumerate(_leaf_hashes(start, end - 1), start):
            level, position = 0, index
            while position & 1:
                value = merkle.node_hash(pending.pop(level), value)
                level, position = level + 1, position >> 1
                nodes.append({"level": level, "idx": position, "hash": value})
            pending[level] = value
        _insert_nodes(nodes)
        added += len(nodes)
    return added


def fetch_pieces(pieces: Sequence[Piece]) -> list[bytes]:
    """The hashes of these perfect subtrees, in the same order (level 0: the entries' leaf hashes)."""
    found: dict[Piece, bytes] = {}
    leaves = sorted({idx for level, idx in pieces if level == 0})
    if leaves:
        for seq, value in db.session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash)
                                             .where(AuditEntry.seq.in_([i + 1 for i in leaves]))):
            found[(0, seq - 1)] = bytes(value)
    by_level: dict[int, set[int]] = {}
    for level, idx in pieces:
        if level > 0:
            by_level.setdefault(level, set()).add(idx)
    if by_level:
        # One condition per level, each on the primary key (a row-value IN is not indexed by SQLite).
        condition = or_(*(and_(TreeNode.level == level, TreeNode.idx.in_(sorted(idxs)))
                          for level, idxs in sorted(by_level.items())))
        for level, idx, value in db.session.execute(select(TreeNode.level, TreeNode.idx, TreeNode.hash)
                                                    .where(condition)):
            found[(level, idx)] = bytes(value)
    missing = [p for p in pieces if p not in found]
    if missing:
        raise ProofError(f"the audit tree has no stored hash for subtree(s) {missing[:3]}")
    return [found[p] for p in pieces]


def _range_roots(ranges: Iterable[merkle.Range], tree_size: int) -> list[bytes]:
    ranges = list(ranges)
    if synced_size() < tree_size:  # else the log holds them all: nodes are only made from entries
        if tree_size > log_size():
            raise ProofError(f"the audit log holds fewer than {tree_size} entries")
        sync_nodes(tree_size)
    per_range = [merkle.perfect_pieces(lo, hi) for lo, hi in ranges]
    hashes = iter(fetch_pieces([piece for pieces in per_range for piece in pieces]))
    return [merkle.fold_pieces([next(hashes) for _ in pieces]) for pieces in per_range]


def root_at(tree_size: int) -> bytes:
    """The Merkle tree hash of the first ``tree_size`` entries."""
    if tree_size == 0:
        return merkle.EMPTY_ROOT
    return _range_roots([(0, tree_size)], tree_size)[0]


def inclusion_proof(seq: int, tree_size: int) -> list[bytes]:
    """The audit path of entry ``seq`` in the tree of the first ``tree_size`` entries."""
    if not 1 <= seq <= tree_size:
        raise ProofError(f"entry {seq} is not in a tree of {tree_size} entries")
    return _range_roots(merkle.inclusion_ranges(seq - 1, tree_size), tree_size)


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """The proof that the tree of ``old_size`` entries is a prefix of the one of ``new_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} is outside 0..{new_size}")
    return _range_roots(merkle.consistency_ranges(old_size, new_size), new_size)
