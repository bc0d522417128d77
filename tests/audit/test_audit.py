"""Audit entries: structure, RFC 9162 leaf hashes recomputed independently, refusals."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from portal.audit.models import AuditEntry
from portal.audit.services import Actor, entry_canonical, record
from portal.extensions import db
from tests.conftest import both_databases


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry)) or 0


@both_databases
def test_leaf_hash_is_sha256_of_zero_byte_and_canonical_json(app: Flask, ctx: None) -> None:
    record("people:employee:create", actor=Actor("employee", "a" * 32), subject_id="b" * 32,
           targets={"case": 7}, details={"jurisdiction": "ES", "flags": ["x", "y"], "ok": True})
    db.session.commit()
    entry = db.session.scalar(select(AuditEntry))
    assert entry is not None
    # Built here from the stored columns, independently of the portal's canonical().
    document = {
        "v": 1, "id": entry.entry_id, "time": entry.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": {"type": "employee", "id": "a" * 32}, "tag": "people:employee:create", "subject": "b" * 32,
        "targets": {"case": 7}, "details": {"jurisdiction": "ES", "flags": ["x", "y"], "ok": True},
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert entry_canonical(entry) == canonical
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + canonical).digest()


def test_an_edited_row_no_longer_matches_its_leaf_hash(app: Flask, ctx: None) -> None:
    record("auth:session:start", actor=Actor("employee", "c" * 32), details={"new_employee": False})
    db.session.commit()
    entry = db.session.scalar(select(AuditEntry))
    assert entry is not None
    entry.details = {"new_employee": True}
    assert hashlib.sha256(b"\x00" + entry_canonical(entry)).digest() != entry.leaf_hash


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tag": "not a tag"}, "area:object:action"),
    ({"tag": "auth:session"}, "area:object:action"),
    ({"details": {"email": "someone@example.com"}}, "personal payloads"),
    ({"details": {"url": "https://example.com/private"}}, "personal payloads"),
    ({"targets": {"name": "Alice"}}, "personal payloads"),
    ({"details": {"nested": {"a": 1}}}, "plain value"),
    ({"details": {"objects": [{"a": 1}]}}, "plain values"),
])
def test_refused_entries_add_nothing(app: Flask, ctx: None, kwargs: dict, message: str) -> None:
    arguments = {"tag": "test:entry:add", "actor": Actor.system(), **kwargs}
    with pytest.raises(ValueError, match=message):
        record(**arguments)
    db.session.commit()
    assert count() == 0


@both_databases
def test_concurrent_appends_get_distinct_ordered_sequence_numbers(app: Flask) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with app.app_context():
                for i in range(10):
                    record("test:entry:add", actor=Actor.system(), details={"writer": n, "i": i})
                    db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with app.app_context():
        seqs = list(db.session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert len(seqs) == 40 and len(set(seqs)) == 40
        per_writer: dict[int, list[int]] = {}
        for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            per_writer.setdefault(entry.details["writer"], []).append(entry.details["i"])
        assert all(order == list(range(10)) for order in per_writer.values())


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_transaction_stopped_while_holding_the_append_lock_makes_others_fail_clearly_not_wait(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real process records an entry, so takes the append lock, and is then stopped (SIGSTOP)
    before it commits. Another audited write gives up after the lock wait with a clear error and
    adds nothing; once the stopped process is killed, writing works again."""
    import signal
    import subprocess
    import sys
    import time

    from portal.audit import services as audit

    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys, psycopg\n"
         "conn = psycopg.connect(sys.argv[1])\n"
         "conn.execute('SELECT pg_advisory_xact_lock(7244891)')\n"
         "print('locked', flush=True)\n"
         "os.kill(os.getpid(), signal.SIGSTOP)\n", url],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(audit, "LOCK_WAIT", "300ms")
        with app.app_context():
            before = count()
            started = time.monotonic()
            with pytest.raises(audit.AuditBusy, match="stayed locked by another transaction for 300ms"):
                record("test:entry:add", actor=Actor.system())
            assert time.monotonic() - started < 5
            db.session.rollback()
            assert count() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    with app.app_context():
        record("test:entry:add", actor=Actor.system())
        assert db.session.execute(text("SHOW lock_timeout")).scalar() == "0"  # put back, in the same transaction
        db.session.commit()
        assert count() == before + 1


def test_a_busy_audit_log_answers_503_with_retry_after_and_keeps_nothing(app: Flask) -> None:
    from portal.audit.services import AuditBusy

    def busy_view() -> str:
        record("test:entry:add", actor=Actor.system())
        raise AuditBusy("the audit log stayed locked")

    app.add_url_rule("/test-only/busy", view_func=busy_view)
    response = app.test_client().get("/test-only/busy")
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert "Nothing was changed" in response.get_data(as_text=True)
    with app.app_context():
        assert count() == 0
