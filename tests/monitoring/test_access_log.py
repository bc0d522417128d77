"""“Who accessed my data”: dates, purposes and cases of staff access, never who (CJEU C-579/21)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.db import utcnow
from portal.extensions import db
from portal.monitoring.access import AccessRecordError, accesses_of, record_access
from portal.monitoring.models import AccessAction, AccessRecord
from tests.conftest import both_databases
from tests.helpers import make_employee
from tests.policy.support import audit, signed_in, snapshot

STAFF_EMAIL = "dana.staff@example.com"
STAFF_NAME = "Dana Staffmember"


def add(app: Flask, subject: str, staff: str | None, *, role: str = "dpo", action: str = "viewed",
        purpose: str = "Answering your access request", case_ref: str | None = "DSAR-2026-014",
        days_ago: int = 1) -> int:
    with app.app_context():
        row = record_access(subject, accessor_id=staff, accessor_role=role, action=action, purpose=purpose,
                            case_ref=case_ref, at=utcnow() - timedelta(days=days_ago))
        db.session.commit()
        return row.id


@both_databases
def test_alices_accesses_are_listed_without_any_staff_identity(app: Flask, client: FlaskClient) -> None:
    alice = signed_in(app, client)
    staff = make_employee(app, STAFF_EMAIL, name=STAFF_NAME)
    erin = make_employee(app, "erin@example.com", name="Erin Other")
    add(app, alice, staff, purpose="Answering your access request", case_ref="DSAR-2026-014", days_ago=12)
    add(app, alice, None, role="system", action="exported", purpose="Data portability export", days_ago=11)
    add(app, alice, staff, purpose="Security investigation", case_ref="SEC-2026-031", days_ago=4)
    add(app, erin, staff, purpose="Erins private matter", case_ref="HR-ERIN-1", days_ago=2)

    response = client.get("/me/access-log")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    table = html.split('id="access-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    assert [re.sub(r"<[^>]+>|\s+", " ", r).split()[-1] for r in rows] == ["SEC-2026-031", "DSAR-2026-014",
                                                                          "DSAR-2026-014"]
    assert "Security investigation" in rows[0] and "Data Protection Officer" in rows[0] and "Viewed" in rows[0]
    assert "Exported your data" in rows[1] and "Automated process" in rows[1]
    for leak in (staff, STAFF_NAME, "Dana", STAFF_EMAIL, "Erin", "HR-ERIN-1", erin):
        assert leak not in html, leak
    assert "C-579/21" in html and "Data Protection Officer" in html

    entries = audit(app, "monitoring:data:access")
    assert [(e.actor_type, e.actor_id, e.subject_id, e.details["action"]) for e in entries] == [
        ("employee", staff, alice, "viewed"), ("system", None, alice, "exported"),
        ("employee", staff, alice, "viewed"), ("employee", staff, erin, "viewed")]
    with app.app_context():
        stored = db.session.scalars(sa.select(AccessRecord.accessor_id).where(AccessRecord.subject_id == alice))
        assert sorted(stored, key=str) == sorted([staff, None, staff], key=str), "kept for the audit, not shown"


def test_no_access_yet_shows_an_empty_state(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    other = make_employee(app, "erin@example.com")
    add(app, other, None, role="system")
    html = client.get("/me/access-log").get_data(as_text=True)
    assert "No member of staff has opened or exported your monitoring data." in html
    assert 'id="access-table"' not in html


@both_databases
def test_the_list_is_paged_newest_first(app: Flask, client: FlaskClient) -> None:
    alice = signed_in(app, client)
    for n in range(30):
        add(app, alice, None, role="system", purpose=f"Purpose {n:02d}", case_ref=f"CASE-{n:02d}", days_ago=n)
    first = client.get("/me/access-log").get_data(as_text=True)
    assert "Page 1 of 2" in first and 'href="/me/access-log?page=2"' in first
    assert "CASE-00" in first and "CASE-24" in first and "CASE-25" not in first
    second = client.get("/me/access-log?page=2").get_data(as_text=True)
    assert [f"CASE-{n}" for n in range(25, 30)] == re.findall(r"CASE-\d\d", second)
    assert 'href="/me/access-log?page=1"' in second
    for page in ("0", "-3", "x", "999"):
        assert client.get(f"/me/access-log?page={page}").status_code == 200, page


def test_reading_the_log_changes_nothing(app: Flask, client: FlaskClient) -> None:
    alice = signed_in(app, client)
    add(app, alice, None, role="system")
    before = snapshot(app)
    assert client.get("/me/access-log").status_code == 200
    assert snapshot(app) == before
    anonymous = app.test_client().get("/me/access-log")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/auth/login?next=")


@pytest.mark.parametrize(("changes", "message"), [
    ({"accessor_role": "hr"}, "unknown accessor role"),
    ({"action": "deleted"}, "unknown action"),
    ({"purpose": "  "}, "a purpose"),
    ({"purpose": "x" * 201}, "a purpose"),
    ({"case_ref": "C" * 65}, "case reference"),
    ({"accessor_role": "system"}, "only the system acts without one"),
    ({"accessor_id": None}, "only the system acts without one"),
])
def test_bad_access_records_are_refused_and_nothing_is_written(app: Flask, changes: dict[str, object],
                                                               message: str) -> None:
    subject = make_employee(app, "erin@example.com")
    staff = make_employee(app, STAFF_EMAIL)
    arguments: dict[str, object] = {"accessor_id": staff, "accessor_role": "dpo", "action": AccessAction.VIEWED,
                                    "purpose": "Answering a request", "case_ref": "DSAR-1"} | changes
    before = snapshot(app, skip=frozenset())
    with app.app_context():
        with pytest.raises(AccessRecordError, match=message):
            record_access(subject, **arguments)  # type: ignore[arg-type]
        db.session.rollback()
    assert snapshot(app, skip=frozenset()) == before


def test_accesses_of_returns_only_that_subjects_records(app: Flask) -> None:
    alice = make_employee(app, "alice.two@example.com")
    erin = make_employee(app, "erin@example.com")
    add(app, alice, None, role="system", case_ref="A-1")
    add(app, erin, None, role="system", case_ref="E-1")
    with app.app_context():
        page = accesses_of(alice)
        assert [e.case_ref for e in page.entries] == ["A-1"] and page.total == 1 and page.pages == 1
        assert not hasattr(page.entries[0], "accessor_id")
