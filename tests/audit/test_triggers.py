"""The database itself refuses to change or remove audit rows: on PostgreSQL (migration 0005)
UPDATE, DELETE and TRUNCATE on audit_entries, tree_heads and audit_tree_nodes (0006) raise, and on
SQLite (0008) UPDATE and DELETE; INSERT still works."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from portal.audit.heads import make_head
from portal.audit.models import AuditEntry, TreeHead, TreeNode
from portal.audit.services import Actor, record
from portal.audit.verify import verify_log
from portal.extensions import db

on_postgres = pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)

ENTRY_CHANGES = [
    "UPDATE audit_entries SET tag = 'test:entry:remove' WHERE seq = 2",
    "UPDATE audit_entries SET seq = 99 WHERE seq = 3",
    "DELETE FROM audit_entries WHERE seq = 2",
    "DELETE FROM audit_entries",
    "TRUNCATE audit_entries",
    "TRUNCATE audit_entries RESTART IDENTITY CASCADE",
]
NODE_CHANGES = [
    "UPDATE audit_tree_nodes SET hash = hash",
    "DELETE FROM audit_tree_nodes",
    "TRUNCATE audit_tree_nodes",
]
HEAD_CHANGES = [
    "UPDATE tree_heads SET tree_size = 2",
    "UPDATE tree_heads SET root_hash = root_hash",
    "DELETE FROM tree_heads",
    "TRUNCATE tree_heads CASCADE",  # evidence packs refer to heads: without CASCADE the foreign key refuses first
]


@pytest.fixture
def written(app: Flask, ctx: None) -> None:
    for i in range(3):
        record("test:entry:add", actor=Actor.system(), details={"i": i})
    db.session.commit()
    make_head()
    db.session.commit()


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def refused(statement: str, message: str) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert message in str(caught.value.orig)


@on_postgres
@pytest.mark.parametrize("statement", ENTRY_CHANGES)
def test_changing_or_removing_entries_is_refused(written: None, statement: str) -> None:
    refused(statement, "audit entries are append-only")
    assert count(AuditEntry) == 3
    result = verify_log()
    assert result.ok and result.entries == 3 and result.heads == 1, result.problems


@on_postgres
@pytest.mark.parametrize("statement", HEAD_CHANGES)
def test_changing_or_removing_tree_heads_is_refused(written: None, statement: str) -> None:
    refused(statement, "audit tree heads are append-only")
    assert count(TreeHead) == 1
    assert verify_log().ok


@on_postgres
def test_the_refusal_holds_inside_a_transaction_that_wrote_first(written: None) -> None:
    record("test:entry:add", actor=Actor.system(), details={"i": 3})
    db.session.flush()
    refused("UPDATE audit_entries SET details = '{}' WHERE seq = 4", "audit entries are append-only")
    assert count(AuditEntry) == 3  # the whole transaction went, the refused statement with it


@on_postgres
def test_inserts_still_work(written: None) -> None:
    record("test:entry:add", actor=Actor.system(), details={"i": 3})
    db.session.commit()
    make_head()
    db.session.commit()
    assert count(AuditEntry) == 4 and count(TreeHead) == 2
    result = verify_log()
    assert result.ok and result.entries == 4 and result.heads == 2


@on_postgres
def test_the_triggers_are_installed_on_both_tables(app: Flask, ctx: None) -> None:
    rows = db.session.execute(sa.text(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' ORDER BY 1, 2")).all()
    assert {tuple(r) for r in rows} >= {
        ("audit_entries", "audit_entries_append_only"), ("audit_entries", "audit_entries_no_truncate"),
        ("tree_heads", "tree_heads_append_only"), ("tree_heads", "tree_heads_no_truncate"),
        ("audit_tree_nodes", "audit_tree_nodes_append_only"), ("audit_tree_nodes", "audit_tree_nodes_no_truncate")}


@on_postgres
@pytest.mark.parametrize("statement", NODE_CHANGES)
def test_changing_or_removing_stored_tree_nodes_is_refused(written: None, statement: str) -> None:
    assert count(TreeNode) == 1  # made with the head: (1, 0) over entries 1-2; entry 3 has no pair yet
    refused(statement, "audit tree nodes are append-only")
    assert count(TreeNode) == 1


# -- SQLite ----------------------------------------------------------------------------------------------

SQLITE_CHANGES = [
    ("UPDATE audit_entries SET tag = 'test:entry:remove' WHERE seq = 2", "audit entries are append-only"),
    ("UPDATE audit_entries SET seq = 99 WHERE seq = 3", "audit entries are append-only"),
    ("DELETE FROM audit_entries WHERE seq = 2", "audit entries are append-only"),
    ("DELETE FROM audit_entries", "audit entries are append-only"),
    ("UPDATE tree_heads SET tree_size = 2", "audit tree heads are append-only"),
    ("DELETE FROM tree_heads", "audit tree heads are append-only"),
    ("UPDATE audit_tree_nodes SET hash = hash", "audit tree nodes are append-only"),
    ("DELETE FROM audit_tree_nodes", "audit tree nodes are append-only"),
]


@pytest.mark.parametrize(("statement", "message"), SQLITE_CHANGES)
def test_sqlite_refuses_changing_or_removing_audit_rows(written: None, statement: str, message: str) -> None:
    refused(statement, message)
    assert (count(AuditEntry), count(TreeHead), count(TreeNode)) == (3, 1, 1)
    result = verify_log()
    assert result.ok and result.entries == 3 and result.heads == 1, result.problems


def test_sqlite_still_takes_inserts_and_has_the_triggers(written: None) -> None:
    record("test:entry:add", actor=Actor.system(), details={"i": 3})
    db.session.commit()
    make_head()
    db.session.commit()
    assert count(AuditEntry) == 4 and count(TreeHead) == 2
    names = set(db.session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
    assert names >= {f"{table}_no_{action}" for table in ("audit_entries", "tree_heads", "audit_tree_nodes")
                     for action in ("update", "delete")}
