"""Proofs from the stored subtree hashes (portal.audit.tree) equal the ones computed from every leaf
(portal.audit.merkle, itself checked against the RFC 6962 test vectors), whatever the points at which
the stored nodes were brought up to date; and they verify by the RFC's algorithms."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal.audit import merkle, tree
from portal.audit.heads import make_head
from portal.audit.models import AuditEntry, TreeNode
from portal.audit.services import Actor, record
from portal.extensions import db
from tests.conftest import both_databases

SIZE = 37


def append(count: int) -> None:
    for i in range(count):
        record("test:entry:add", actor=Actor.system(), details={"i": i})
    db.session.commit()


def leaves() -> list[bytes]:
    return [bytes(h) for h in db.session.scalars(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq))]


def node_count() -> int:
    return db.session.scalar(select(func.count()).select_from(TreeNode)) or 0


@both_databases
def test_proofs_from_stored_nodes_match_the_reference_for_every_size_and_leaf(app: Flask, ctx: None) -> None:
    # Grow the log in uneven steps, syncing the stored nodes at odd and even sizes in between.
    for step in (1, 2, 5, 8, 13, 8):
        append(step)
        tree.sync_nodes()
        db.session.commit()
    assert tree.log_size() == SIZE
    all_leaves = leaves()
    for n in range(1, SIZE + 1):
        assert tree.root_at(n) == merkle.root(all_leaves[:n])
        for seq in range(1, n + 1):
            proof = tree.inclusion_proof(seq, n)
            assert proof == merkle.inclusion_proof(all_leaves[:n], seq - 1)
            assert merkle.verify_inclusion(all_leaves[seq - 1], seq - 1, n, proof, merkle.root(all_leaves[:n]))
        for m in range(0, n + 1):
            proof = tree.consistency_proof(m, n)
            assert proof == merkle.consistency_proof(all_leaves[:n], m)
            assert merkle.verify_consistency(m, n, merkle.root(all_leaves[:m]), merkle.root(all_leaves[:n]), proof)
    assert tree.root_at(0) == merkle.EMPTY_ROOT


@both_databases
def test_nodes_are_stored_once_for_every_perfect_subtree(app: Flask, ctx: None) -> None:
    append(21)
    assert tree.sync_nodes() == 10 + 5 + 2 + 1  # pairs, fours, eights, the sixteen
    db.session.commit()
    assert tree.synced_size() == 20 and tree.sync_nodes() == 0  # the 21st leaf waits for a pair
    append(3)
    assert tree.sync_nodes() == 2 + 1 + 1  # (1,10) (1,11); (2,5); (3,2) over leaves 16-23
    db.session.commit()
    assert node_count() == 22
    stored = {(n.level, n.idx): bytes(n.hash) for n in db.session.scalars(select(TreeNode))}
    all_leaves = leaves()
    for (level, idx), value in stored.items():
        width = 1 << level
        assert value == merkle.root(all_leaves[idx * width:(idx + 1) * width])


@both_databases
def test_a_proof_syncs_what_it_needs_and_a_head_syncs_the_log(app: Flask, ctx: None) -> None:
    append(9)
    assert node_count() == 0
    assert tree.inclusion_proof(3, 9) == merkle.inclusion_proof(leaves(), 2)
    assert tree.synced_size() == 8
    append(7)
    head = make_head()
    db.session.commit()
    assert head.tree_size == 16 and tree.synced_size() == 16 and node_count() == 15
    assert tree.root_at(16) == bytes(head.root_hash)


@both_databases
def test_questions_about_entries_the_log_does_not_hold_are_refused(app: Flask, ctx: None) -> None:
    append(4)
    with pytest.raises(tree.ProofError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(tree.ProofError):
        tree.inclusion_proof(0, 4)
    with pytest.raises(tree.ProofError):
        tree.consistency_proof(3, 6)
    with pytest.raises(tree.ProofError):
        tree.consistency_proof(5, 4)
    with pytest.raises(tree.ProofError):
        tree.root_at(5)
    assert node_count() == 0


def test_perfect_pieces_of_proof_ranges() -> None:
    assert merkle.perfect_pieces(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.perfect_pieces(8, 11) == [(1, 4), (0, 10)]
    assert merkle.perfect_pieces(5, 6) == [(0, 5)]
    with pytest.raises(ValueError):
        merkle.perfect_pieces(3, 7)  # not a range any proof asks for
