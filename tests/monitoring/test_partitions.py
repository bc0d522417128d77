"""PostgreSQL keeps each person's monitoring rows in partitions of their own
(portal/monitoring/partitions.py): made with the first rows stored for the person, in the storing
transaction (also when that transaction has just added the employee), once even when two first
batches race, and gone after an erasure of everything."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from portal.api.tokens import create_token
from portal.audit.services import Actor
from portal.extensions import db
from portal.monitoring import partitions
from portal.monitoring.ingest import ingest_batch
from portal.people import services as people
from tests.helpers import event, grant_all_consents, make_employee
from tests.monitoring.support import png, shot

pytestmark = pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)],
                                     indirect=True)


def own_tables(subject_id: str) -> set[str]:
    return set(db.session.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname LIKE :name"),
        {"name": f"%\\_{subject_id}"}).scalars())


def test_the_first_batch_makes_the_persons_tables_in_the_transaction_that_added_the_employee(app: Flask) -> None:
    """Attaching a partition clones its foreign keys, which locks the employees table against
    writers: made on a connection of its own it would wait for this very transaction (as the
    demo seed does it: the employee and their data in one transaction)."""
    with app.app_context():
        employee = people.create_employee(email="first@example.com", display_name="First", jurisdiction="ES",
                                          employee_number=None, actor=Actor.system())
        db.session.flush()
        grant_all_consents(employee.id)
        result = ingest_batch(employee.id, [event(1), event(2, kind="click", x=1, y=2)], [shot(1, png("one"))])
        db.session.commit()
        assert result.events_stored == 2 and result.screenshots_stored == 1
        assert own_tables(employee.id) == {partitions.partition_name(t, employee.id) for t in partitions.TABLES}
        stored = db.session.execute(text(
            f'SELECT count(*) FROM "{partitions.partition_name("activity_events", employee.id)}"')).scalar()
        assert stored == 2


def test_two_first_batches_at_once_make_the_tables_once_and_both_are_stored(app: Flask) -> None:
    subject_id = make_employee(app, "racer@example.com")
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def send(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                ingest_batch(subject_id, [event(100 + n)])
                db.session.commit()
                outcomes.append("stored")
            except Exception as exc:  # reported below
                db.session.rollback()
                outcomes.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["stored", "stored"]
    with app.app_context():
        assert len(own_tables(subject_id)) == len(partitions.TABLES)
        assert db.session.execute(text("SELECT count(*) FROM activity_events WHERE subject_id = :s"),
                                  {"s": subject_id}).scalar() == 2


def test_a_name_that_is_not_a_subject_id_never_reaches_the_ddl(app: Flask) -> None:
    with pytest.raises(ValueError, match="not a subject id"):
        partitions.partition_name("activity_events", "x'); DROP TABLE employees; --")


def test_a_batch_sent_while_an_erasure_drops_the_persons_tables_is_answered_busy_and_stores_nothing(
        app: Flask) -> None:
    """Between an erasure's detach and its drop (or after a crash between them, until the job's
    next run) the person's tables cannot take rows: the collector is told to try again (503 with
    Retry-After, problem+json), not given a server error, and nothing is stored."""
    subject_id = make_employee(app, "leaving@example.com", employee_number="E7001")
    with app.app_context():
        ingest_batch(subject_id, [event(1)])
        _, secret = create_token("collector", ["ingest"], 30, actor=Actor.system())
        db.session.commit()
        assert partitions.detach(subject_id, ("activity_events",)) == [
            partitions.partition_name("activity_events", subject_id)]
    answer = app.test_client().post("/api/v1/ingest", headers={"Authorization": f"Bearer {secret}"}, json={
        "employee_number": "E7001", "events": [{"event_id": "after-detach", "kind": "click", "x": 1, "y": 2,
                                                "occurred_at": "2026-11-30T10:00:00Z", "application": "Slack"}]})
    assert answer.status_code == 503, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json" and answer.headers["Retry-After"] == "30"
    assert answer.json is not None and answer.json["type"].endswith("#problem-busy")
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM activity_events WHERE subject_id = :s"),
                                  {"s": subject_id}).scalar() == 0  # the detached table is no longer read
        name = partitions.partition_name("activity_events", subject_id)
        assert db.session.execute(text(f'SELECT count(*) FROM "{name}"')).scalar() == 1  # only the first batch
