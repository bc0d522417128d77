"""`audit verify`: the whole log recomputed; raw-SQL edits, deletions and reorderings are named.

The changes are made by hand with the append-only triggers dropped, as a database administrator could.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, text

from portal.audit import merkle
from portal.audit import services as audit
from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.audit.verify import verify_log
from portal.extensions import db
from tests.conftest import both_databases
from tests.helpers import drop_audit_triggers

ENTRIES = 36


@dataclass(frozen=True)
class Written:
    seq: int
    entry_id: str
    recorded_at: datetime
    leaf_hash: bytes
    canonical: bytes


@pytest.fixture
def log(app: Flask, ctx: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Written]]:
    """A few dozen entries, one a minute (as a real log would space them)."""
    moments = iter(datetime(2026, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=i) for i in range(10_000))
    monkeypatch.setattr(audit, "utcnow", lambda: next(moments))
    for i in range(ENTRIES):
        audit.record("test:entry:add", actor=Actor("staff", f"{i % 3:032x}"), subject_id=f"{i % 5:032x}",
                     targets={"case": i}, details={"i": i, "ok": i % 2 == 0})
    db.session.commit()
    entries = list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [e.seq for e in entries] == list(range(1, ENTRIES + 1))
    # Plain copies: the ORM objects are keyed by seq and would reload whatever a test moves there.
    yield [Written(e.seq, e.entry_id, e.recorded_at, e.leaf_hash, audit.entry_canonical(e)) for e in entries]


def sql(statement: str, **params: object) -> None:
    """A change by hand, as a database administrator would make it (the append-only triggers off)."""
    drop_audit_triggers()
    db.session.execute(text(statement), params)
    db.session.commit()


def test_an_untouched_log_verifies_with_the_independently_computed_root(log: list[Written]) -> None:
    result = verify_log(batch=7)  # several batches, the last one partial
    assert result.ok and result.first_bad is None and result.problems == []
    assert result.entries == ENTRIES
    leaves = [hashlib.sha256(b"\x00" + e.canonical).digest() for e in log]
    assert leaves == [e.leaf_hash for e in log]
    assert result.root == merkle.root(leaves)


def test_an_empty_log_verifies(app: Flask, ctx: None) -> None:
    sql("DELETE FROM audit_entries")
    result = verify_log()
    assert result.ok and result.entries == 0
    assert result.root.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(("statement", "params"), [
    ("UPDATE audit_entries SET details = :value WHERE seq = 17", {"value": json.dumps({"i": 99, "ok": False})}),
    ("UPDATE audit_entries SET targets = :value WHERE seq = 17", {"value": json.dumps({"case": 3})}),
    ("UPDATE audit_entries SET tag = 'test:entry:remove' WHERE seq = 17", {}),
    ("UPDATE audit_entries SET actor_id = :value WHERE seq = 17", {"value": "f" * 32}),
    ("UPDATE audit_entries SET actor_type = 'system', actor_id = NULL WHERE seq = 17", {}),
    ("UPDATE audit_entries SET subject_id = NULL WHERE seq = 17", {}),
    ("UPDATE audit_entries SET entry_id = :value WHERE seq = 17", {"value": "0" * 32}),
    ("UPDATE audit_entries SET leaf_hash = :value WHERE seq = 17", {"value": b"\x00" * 32}),
])
def test_an_edited_row_is_named(log: list[Written], statement: str, params: dict[str, object]) -> None:
    sql(statement, **params)
    result = verify_log(batch=10)
    assert not result.ok
    entry_id = params.get("value") if "entry_id" in statement else log[16].entry_id
    assert result.first_bad == f"seq 17 (entry_id {entry_id}): leaf hash does not match its content"
    assert result.first_bad_seq == 17
    assert result.entries == ENTRIES


def test_an_edited_time_is_named(log: list[Written]) -> None:
    sql("UPDATE audit_entries SET recorded_at = :value WHERE seq = 5",
        value=(log[4].recorded_at + timedelta(microseconds=1)).replace(tzinfo=None).isoformat(sep=" "))
    result = verify_log()
    assert not result.ok and result.first_bad_seq == 5
    assert result.first_bad == f"seq 5 (entry_id {log[4].entry_id}): leaf hash does not match its content"


def test_a_deleted_row_is_named(log: list[Written]) -> None:
    sql("DELETE FROM audit_entries WHERE seq = 9")
    result = verify_log(batch=5)
    assert not result.ok
    assert result.first_bad == "seq 9 missing: sequence jumps from 8 to 10"
    assert result.first_bad_seq == 9 and result.entries == ENTRIES - 1


def test_deleted_rows_at_the_start_and_in_a_run_are_named(log: list[Written]) -> None:
    sql("DELETE FROM audit_entries WHERE seq = 1 OR seq BETWEEN 20 AND 22")
    result = verify_log()
    assert result.problems == ["seq 1 missing: sequence jumps from 0 to 2",
                               "seq 20..22 missing: sequence jumps from 19 to 23"]


def swap(a: int, b: int) -> None:
    """Exchange two rows' contents (every column but seq) by exchanging their sequence numbers."""
    sql("UPDATE audit_entries SET seq = -1 WHERE seq = :a", a=a)
    sql("UPDATE audit_entries SET seq = :a WHERE seq = :b", a=a, b=b)
    sql("UPDATE audit_entries SET seq = :b WHERE seq = -1", b=b)


def test_swapped_neighbours_are_both_named(log: list[Written]) -> None:
    swap(12, 13)
    result = verify_log()
    assert not result.ok and result.first_bad is not None
    # Row 12 now holds what was written 13th, and so on: both are named.
    assert result.first_bad.startswith(f"seq 12 (entry_id {log[12].entry_id}) and "
                                        f"seq 13 (entry_id {log[11].entry_id}): out of order")
    assert result.first_bad_seq == 13


def test_swapped_distant_rows_are_caught(log: list[Written]) -> None:
    swap(5, 20)
    result = verify_log()
    assert not result.ok and result.first_bad is not None
    assert result.first_bad.startswith(f"seq 5 (entry_id {log[19].entry_id}) and seq 6 ")
    assert any(p.startswith("seq 5 ") and f"and seq 20 (entry_id {log[4].entry_id})" in p for p in result.problems)
    # The leaves are intact, so only the order gives it away; the root differs all the same.
    assert result.root != merkle.root([e.leaf_hash for e in log])


def test_small_clock_differences_are_tolerated(app: Flask, ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sql("DELETE FROM audit_entries")
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    # Writers stamp the time before taking the append lock, so a neighbour a moment earlier is normal.
    moments = iter([start, start + timedelta(seconds=5), start + timedelta(seconds=4), start + timedelta(seconds=6)])
    monkeypatch.setattr(audit, "utcnow", lambda: next(moments))
    for _ in range(4):
        audit.record("test:entry:add", actor=Actor.system())
    db.session.commit()
    assert verify_log(tolerance=timedelta(seconds=2)).ok
    strict = verify_log(tolerance=timedelta(0))
    assert not strict.ok and strict.first_bad_seq == 3 and len(strict.problems) == 1


def test_the_command_prints_the_root_and_exits_0(app: Flask, log: list[Written]) -> None:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    expected = merkle.root([e.leaf_hash for e in log]).hex()
    assert result.output.strip() == f"OK: {ENTRIES} entries, root {expected}"


def test_the_command_names_the_first_bad_entry_and_exits_1(app: Flask, log: list[Written]) -> None:
    sql("UPDATE audit_entries SET tag = 'test:entry:remove' WHERE seq = 30")
    sql("DELETE FROM audit_entries WHERE seq = 3")
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "FAILED: seq 3 missing: sequence jumps from 2 to 4" in result.output
    assert f"also: seq 30 (entry_id {log[29].entry_id}): leaf hash does not match its content" in result.output
    assert "OK:" not in result.output


@both_databases
def test_a_rolled_back_append_leaves_no_hole(app: Flask, ctx: None) -> None:
    """A transaction that wrote audit entries and then rolled back must not look like a deletion
    (on PostgreSQL a sequence would skip its numbers); entries of one transaction number in order."""
    audit.record("people:employee:create", actor=Actor.system())
    db.session.commit()
    audit.record("people:employee:create", actor=Actor.system())
    audit.record("people:employee:create", actor=Actor.system())
    db.session.flush()
    db.session.rollback()
    audit.record("people:employee:update", actor=Actor.system())
    audit.record("people:employee:update", actor=Actor.system())
    db.session.commit()
    assert list(db.session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq))) == [1, 2, 3]
    result = verify_log()
    assert result.ok and result.entries == 3, result.first_bad
