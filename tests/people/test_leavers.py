"""Leavers (people.services.mark_leaver and `flask people leave`): former at once with a leave date,
every portal session ended within the same request, SSO refused after, data and open requests kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit.services import Actor
from portal.auth.models import AuthSession
from portal.db import utcnow
from portal.extensions import db
from portal.jobs.runners import EXTENSION
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus
from portal.rights import services as request_services
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.auth.test_sessions import browser, is_signed_in
from tests.conftest import _stop_job_runner
from tests.helpers import audit_entries, event, sign_in, snapshot
from tests.mail.conftest import RecordingRunner


def alice(app: Flask) -> Employee:
    found = people.find_by_email("alice@example.com")
    assert found is not None
    return found


@pytest.fixture
def working_alice(app: Flask) -> tuple[list, str]:
    """Alice signed in on two browsers, with an event and an open request (its e-mails only recorded)."""
    _stop_job_runner(app)
    app.extensions[EXTENSION] = RecordingRunner()
    clients = [browser(app), browser(app)]
    with app.app_context():
        person = alice(app)
        ingest_batch(person.id, events=[event(1)], screenshots=[])
        request_id = request_services.file_request(person, RequestType.ACCESS, description="a copy").request.id
        db.session.commit()
    return clients, request_id


def test_a_leaver_is_signed_out_everywhere_and_keeps_data_and_requests(app: Flask, working_alice: tuple[list, str]) -> None:
    clients, request_id = working_alice
    left_on = utcnow().date() - timedelta(days=3)
    with app.app_context():
        person = alice(app)
        ended = people.mark_leaver(person, left_on, actor=Actor("staff", "hr-system"),
                                   personal_email="alice.home@example.net")
        db.session.commit()
        assert ended == 2
        person = alice(app)
        assert person.employment_status == EmploymentStatus.FORMER
        assert person.left_at == datetime(left_on.year, left_on.month, left_on.day, tzinfo=UTC)
        assert person.personal_email == "alice.home@example.net"
        assert person.personal_email_sealed is not None and b"alice.home" not in person.personal_email_sealed
        assert people.find_former_by_personal_email("ALICE.home@example.net ") == person
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ActivityEvent)
                                 .where(ActivityEvent.subject_id == person.id)) == 1, "data stays"
        request_row = db.session.get(DataRequest, request_id)
        assert request_row is not None and request_row.state == RequestState.RECEIVED, "open requests go on"
        assert all(s.ended_at is not None and s.end_reason == "employment-ended"
                   for s in db.session.scalars(sa.select(AuthSession)))
    assert not any(is_signed_in(c) for c in clients)
    again = app.test_client()
    refused = sign_in(again, "alice@example.com")
    assert refused.status_code == 403 and 'href="/former"' in refused.get_data(as_text=True)
    (entry,) = audit_entries(app, "people:employee:leave")
    assert entry.details == {"left_on": left_on.isoformat(), "already_former": False, "sessions_ended": 2}
    assert entry.actor_type == "staff" and entry.actor_id == "hr-system"
    assert "alice.home" not in str(audit_entries(app, "people:employee:personal-email")[0].details)


def test_a_leave_date_in_the_future_is_refused_and_changes_nothing(app: Flask, working_alice: tuple[list, str]) -> None:
    clients, _ = working_alice
    before = snapshot(app)
    with app.app_context(), pytest.raises(people.PeopleError, match="in the future"):
        people.mark_leaver(alice(app), utcnow().date() + timedelta(days=1), actor=Actor.system())
    assert snapshot(app) == before
    assert all(is_signed_in(c) for c in clients)


def test_a_personal_address_is_one_persons_and_not_the_work_one(app: Flask, working_alice: tuple[list, str]) -> None:
    with app.app_context():
        person = alice(app)
        with pytest.raises(people.PeopleError, match="work address"):
            people.set_personal_email(person, "Alice@example.com", actor=Actor.system())
        people.set_personal_email(person, "shared@example.net", actor=Actor.system())
        other = people.create_employee(email="erin@example.com", display_name="Erin", jurisdiction="ES",
                                       actor=Actor.system())
        with pytest.raises(people.PeopleError, match="already"):
            people.set_personal_email(other, "shared@example.net", actor=Actor.system())
        assert people.find_former_by_personal_email("shared@example.net") is None, "only a former employee's"


def test_the_leave_command(app: Flask, working_alice: tuple[list, str]) -> None:
    clients, _ = working_alice
    runner = app.test_cli_runner()
    future = (utcnow().date() + timedelta(days=2)).isoformat()
    refused = runner.invoke(args=["people", "leave", "--email", "alice@example.com", "--on", future])
    assert refused.exit_code == 1 and "in the future" in refused.output and "nothing was changed" in refused.output
    nobody = runner.invoke(args=["people", "leave", "--email", "nobody@example.com"])
    assert nobody.exit_code == 1 and "No employee has this e-mail address" in nobody.output
    assert all(is_signed_in(c) for c in clients)

    done = runner.invoke(args=["people", "leave", "--email", "alice@example.com", "--on", "2026-01-31",
                               "--personal-email", "alice.home@example.net"])
    assert done.exit_code == 0, done.output
    assert "left 2026-01-31" in done.output and "2 session(s) ended" in done.output
    assert not any(is_signed_in(c) for c in clients)
    with app.app_context():
        person = alice(app)
        assert person.is_former and person.left_at is not None and person.left_at.date() == date(2026, 1, 31)
        assert person.personal_email == "alice.home@example.net"
    assert audit_entries(app, "people:employee:leave")[0].actor_id == "shell"


def test_the_return_command(app: Flask, working_alice: tuple[list, str]) -> None:
    """``people return`` re-admits a leaver through people.services.reinstate, as SCIM's active=true does."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["people", "leave", "--email", "alice@example.com"]).exit_code == 0
    assert sign_in(app.test_client(), "alice@example.com").status_code == 403

    nobody = runner.invoke(args=["people", "return", "--email", "nobody@example.com"])
    assert nobody.exit_code == 1 and "No employee has this e-mail address" in nobody.output
    done = runner.invoke(args=["people", "return", "--email", "alice@example.com"])
    assert done.exit_code == 0 and "A current employee again" in done.output, done.output
    with app.app_context():
        person = alice(app)
        assert person.employment_status == EmploymentStatus.ACTIVE and person.left_at is None
    back = app.test_client()
    assert sign_in(back, "alice@example.com").status_code == 302
    assert is_signed_in(back)
    (entry,) = audit_entries(app, "people:employee:reinstate")
    assert entry.actor_type == "staff" and entry.actor_id == "shell"
    assert entry.details == {"left_on": utcnow().date().isoformat()}

    before = snapshot(app)
    again = runner.invoke(args=["people", "return", "--email", "alice@example.com"])
    assert again.exit_code == 0 and "already; nothing was changed" in again.output
    assert snapshot(app) == before
