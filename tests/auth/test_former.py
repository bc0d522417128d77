"""The former-employee path (/former): a code to the personal e-mail on record, the limited session it
opens, step-up by code; against a real SMTP server on loopback."""

from __future__ import annotations

import json
import re
import statistics
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.auth import former
from portal.auth.models import AuthSession, EmailCode, SignInMethod
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.db import utcnow
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import EXTENSION
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus
from portal.rights import routing
from portal.rights import services as request_services
from portal.rights.models import Channel, DataRequest, RequestState, RequestType
from tests.helpers import audit_entries, csrf_token, make_employee, sign_in, snapshot
from tests.mail.conftest import SmtpServer, both_databases, make_portal, smtp_server  # noqa: F401  (fixtures)

HOME = "frank.home@example.net"
CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
TOKEN = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')


@pytest.fixture
def portal(make_portal: Any, smtp_server: SmtpServer) -> Flask:  # noqa: F811
    app: Flask = make_portal(smtp_url=smtp_server.url)
    return app


@pytest.fixture
def frank(portal: Flask) -> str:
    return make_frank(portal)


def make_frank(portal: Flask) -> str:
    frank_id = make_employee(portal, "frank@example.com", name="Frank Former", status=EmploymentStatus.FORMER,
                             employee_number="E0999")
    with portal.app_context():
        employee = people.find_by_email("frank@example.com")
        assert employee is not None
        people.set_personal_email(employee, HOME, actor=Actor.system())
        db.session.commit()
    return frank_id


def ask(client: FlaskClient, address: str, *, remote: str = "10.1.0.1") -> TestResponse:
    page = client.get("/former")
    assert page.status_code == 200
    response = client.post("/former", data={"email": address, "csrf_token": csrf_token(page.get_data(as_text=True))},
                           environ_base={"REMOTE_ADDR": remote})
    response.close()  # as a WSGI server does once the answer is out: the code's mail goes then
    return response


def send_codes(app: Flask) -> list[JobState | None]:
    """Run the code-mail jobs waiting (the tests' job runner only records dispatches)."""
    with app.app_context():
        waiting = list(db.session.scalars(sa.select(Job.id).where(
            Job.kind == former.MAIL_KIND, Job.state == JobState.QUEUED).order_by(Job.created_at, Job.id)))
        db.session.rollback()
        return [jobs.run_job(job_id) for job_id in waiting]


def codes_sent(app: Flask, smtp: SmtpServer, to: str = HOME) -> list[str]:
    send_codes(app)
    found = []
    for received in smtp.handler.received:
        if to in received.rcpt_tos:
            body = received.message.get_body(("plain",))
            assert body is not None
            found.extend(CODE.findall(body.get_content()))
    return found


def enter(client: FlaskClient, code: str, *, remote: str = "10.1.0.1") -> TestResponse:
    page = client.get("/former/code")
    assert page.status_code == 200, page.status_code
    return client.post("/former/code", data={"code": code, "csrf_token": csrf_token(page.get_data(as_text=True))},
                       environ_base={"REMOTE_ADDR": remote})


def signed_in_as_frank(app: Flask, smtp: SmtpServer) -> FlaskClient:
    client = app.test_client()
    assert ask(client, HOME).status_code == 302
    (code,) = codes_sent(app, smtp)
    response = enter(client, code)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    return client


def latest_code_row(app: Flask) -> EmailCode:
    with app.app_context():
        row = db.session.scalar(sa.select(EmailCode).order_by(EmailCode.created_at.desc(), EmailCode.id).limit(1))
        assert row is not None
        db.session.expunge(row)
        return row


# -- the whole path ---------------------------------------------------------------------------------

@both_databases
def test_frank_signs_in_with_a_code_files_a_request_and_the_dpo_sees_how_he_was_identified(
        portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = portal.test_client()
    sso = sign_in(client, "frank@example.com")
    assert sso.status_code == 403
    assert 'href="/former"' in sso.get_data(as_text=True), "the SSO refusal leads to the former path"

    assert ask(client, HOME).headers["Location"] == "/former/code"
    (code,) = codes_sent(portal, smtp_server)
    message = smtp_server.handler.received[0].message
    assert message["To"] == HOME and code in message["Subject"]

    response = enter(client, code)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "Hello, Frank Former" in home and 'id="former-notice"' in home
    assert "/me/activity" not in home and "/me/screenshots" not in home, "the overview is read-only"

    with portal.app_context():
        session_row = db.session.scalar(sa.select(AuthSession).where(AuthSession.employee_id == frank))
        assert session_row is not None and session_row.method == SignInMethod.EMAIL_CODE
        assert session_row.identity_id is None and session_row.expires_at - session_row.created_at <= timedelta(hours=1)

    form = client.get("/me/requests/new/access")
    assert form.status_code == 200
    filed = client.post("/me/requests/new/access", data={
        "description": "A copy of everything, please.", "csrf_token": csrf_token(form.get_data(as_text=True))})
    assert filed.status_code == 302
    with portal.app_context():
        request_row = db.session.scalar(sa.select(DataRequest).where(DataRequest.subject_id == frank))
        assert request_row is not None and request_row.channel == Channel.VERIFIED
        assert request_row.type == RequestType.ACCESS
        request_id = request_row.id
    assert client.get(f"/me/requests/{request_id}").status_code == 200

    # dana, a DPO of the default queue (there are no routing rules), sees how he was identified
    # and asks for more; frank answers in his code session.
    dana = portal.test_client()
    assert sign_in(dana, "dana@example.com").status_code == 302
    with portal.app_context():
        staff = people.find_by_email("dana@example.com")
        assert staff is not None
        routing.add_member(request_services.default_queue(), staff, actor=Actor.system())
        db.session.commit()
    case = dana.get(f"/dpo/requests/{request_id}").get_data(as_text=True)
    method = re.search(r'id="case-identity-method">(.*?)</dd>', case, re.S)
    assert method is not None and "Identity: personal e-mail code" in method.group(1)
    with portal.app_context():
        staff = people.find_by_email("dana@example.com")
        request_row = db.session.get(DataRequest, request_id)
        assert staff is not None and request_row is not None
        request_services.claim(request_row, staff)
        request_services.start_review(request_row, staff)
        db.session.commit()
    case = dana.get(f"/dpo/requests/{request_id}").get_data(as_text=True)
    asked = dana.post(f"/dpo/requests/{request_id}/ask", data={
        "message": "Please tell us the last day you worked.", "csrf_token": csrf_token(case)})
    assert asked.status_code == 302
    page = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert "Please tell us the last day you worked." in page
    answered = client.post(f"/me/requests/{request_id}/answer", data={
        "message": "The 30th of November.", "csrf_token": csrf_token(page)})
    assert answered.status_code == 302
    with portal.app_context():
        request_row = db.session.get(DataRequest, request_id)
        assert request_row is not None and request_row.state == RequestState.IN_REVIEW

    # His request's e-mails (acknowledgement, the question) go to his personal address: run them.
    with portal.app_context():
        mail_jobs = [job.id for job in db.session.scalars(sa.select(Job).where(Job.kind == "mail.send"))
                     if job.params["recipient_id"] == frank]
    assert len(mail_jobs) == 2
    for job_id in mail_jobs:
        with portal.app_context():
            assert jobs.run_job(job_id) == JobState.SUCCEEDED
    to_frank = [r for r in smtp_server.handler.received if r.rcpt_tos == [HOME]]
    assert len(to_frank) == 3, "the code, the acknowledgement and the question"
    assert not [r for r in smtp_server.handler.received if "frank@example.com" in r.rcpt_tos]

    tags = [e.tag for e in audit_entries(portal, "auth:former-code:issue")]
    assert tags == ["auth:former-code:issue"]
    assert [e.details for e in audit_entries(portal, "auth:former-code:verify")][0]["purpose"] == "sign_in"
    assert audit_entries(portal, "auth:former-code:mail")[0].details == {"sent": True, "attempt": 1}
    with portal.app_context():
        everything = json.dumps([[e.tag, e.targets, e.details, e.actor_id] for e in
                                 db.session.scalars(sa.select(AuditEntry))])
        codes = list(db.session.execute(sa.select(EmailCode.__table__)))
        queued = json.dumps([job.params for job in db.session.scalars(sa.select(Job))])
    assert HOME not in everything and code not in everything, "neither the address nor the code is audited"
    assert HOME not in queued and code not in queued and '"sealed"' not in queued, \
        "no job keeps the address, nor the code once it was sent"
    assert all(code not in json.dumps([str(v) for v in row]) for row in codes), "the code is kept only as a hash"


def test_a_former_session_reaches_only_its_own_pages(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    alice = make_employee(portal, "alice@example.com", name="Alice")
    with portal.app_context():
        alice_employee = db.session.get(Employee, alice)
        assert alice_employee is not None
        alices = request_services.file_request(alice_employee, RequestType.ACCESS, description="mine").request.id
        db.session.commit()
    client = signed_in_as_frank(portal, smtp_server)
    assert client.get(f"/me/requests/{alices}").status_code == 404, "a code for frank never opens alice's request"
    for path in ("/me/activity", "/me/screenshots", "/me/access-log", "/policy", "/dpo/queue", "/admin/policy"):
        assert client.get(path).status_code == 404, path
    page = client.get("/me/consent").get_data(as_text=True)
    assert "/grant" not in page, "a former employee may withdraw consent, not give it"
    token = csrf_token(client.get("/me/requests").get_data(as_text=True))
    before = snapshot(portal)
    assert client.post("/me/exports", data={"csrf_token": token}).status_code == 404
    assert client.post("/me/consent/ai_training/grant", data={"csrf_token": token}).status_code == 404
    assert snapshot(portal, skip=frozenset({"audit_entries", "auth_sessions"})) == {
        k: v for k, v in before.items() if k != "auth_sessions"}
    refused = [e.targets for e in audit_entries(portal, "access:object:refused")]
    assert {"type": "route", "id": "browse.activity"} in refused
    assert client.get("/me/requests").status_code == 200 and client.get("/me/exports").status_code == 200
    assert "Sessions" in client.get("/account/sessions").get_data(as_text=True)
    withdrawn = client.post("/me/consent/ai_training/withdraw", data={"csrf_token": token})
    assert withdrawn.status_code == 302, "withdrawing consent stays as easy as ever"
    with portal.app_context():
        latest = consent.latest(frank, Purpose.AI_TRAINING)
        assert latest is not None and latest.decision == Decision.WITHDRAWN


def test_old_codes_are_purged(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    ask(portal.test_client(), HOME)
    ask(portal.test_client(), "nobody@example.net", remote="10.1.0.2")
    with portal.app_context():
        db.session.execute(sa.update(EmailCode).where(EmailCode.employee_id.is_(None))
                           .values(expires_at=utcnow() - timedelta(days=1, minutes=1)))
        db.session.commit()
        assert former.purge_codes() == 1
        assert [row.employee_id for row in db.session.scalars(sa.select(EmailCode))] == [frank]


# -- wrong, expired, unknown -----------------------------------------------------------------------

@both_databases
def test_five_wrong_codes_lock_the_code(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = portal.test_client()
    ask(client, HOME)
    (code,) = codes_sent(portal, smtp_server)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        response = enter(client, wrong)
        assert response.status_code == 400
        assert f"You have {left} more tries" in response.get_data(as_text=True)
    fifth = enter(client, wrong)
    assert fifth.status_code == 302 and fifth.headers["Location"] == "/former"
    assert "Too many wrong codes" in client.get("/former").get_data(as_text=True)
    row = latest_code_row(portal)
    assert row.tries == 5 and row.used_at is None
    with client.session_transaction() as session:
        session["former_code"] = row.id  # even back on the page, the right code no longer works
    locked = enter(client, code)
    assert locked.status_code == 302 and locked.headers["Location"] == "/former"
    assert client.get("/me/requests").status_code == 302, "not signed in"
    assert latest_code_row(portal).tries == 5
    reasons = [e.details["reason"] for e in audit_entries(portal, "auth:former-code:refused")]
    assert reasons == ["wrong"] * 4 + ["locked", "locked"]


def test_an_expired_code_is_refused(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = portal.test_client()
    ask(client, HOME)
    (code,) = codes_sent(portal, smtp_server)
    with portal.app_context():
        db.session.execute(sa.update(EmailCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = enter(client, code)
    assert response.status_code == 302 and response.headers["Location"] == "/former"
    assert "This code has expired" in client.get("/former").get_data(as_text=True)
    assert client.get("/me/requests").status_code == 302
    assert [e.details["reason"] for e in audit_entries(portal, "auth:former-code:refused")] == ["expired"]


def test_a_code_works_once(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = signed_in_as_frank(portal, smtp_server)
    row = latest_code_row(portal)
    other = portal.test_client()
    other.get("/former")
    with other.session_transaction() as session:
        session["former_code"] = row.id
    (code,) = codes_sent(portal, smtp_server)
    assert enter(other, code).headers["Location"] == "/former"
    assert other.get("/me/requests").status_code == 302
    assert client.get("/me/requests").status_code == 200


def _page_without_token(client: FlaskClient, response: TestResponse) -> tuple[int, str, str]:
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return response.status_code, response.headers["Location"], TOKEN.sub(r"\1-\2", page)


def test_known_and_unknown_addresses_get_the_same_answer_in_the_same_time(
        portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    known = portal.test_client()
    unknown = portal.test_client()
    assert _page_without_token(known, ask(known, HOME)) == _page_without_token(unknown, ask(unknown, "nobody@example.net"))
    send_codes(portal)
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [[HOME]], "nothing is sent to an unknown address"
    with portal.app_context():
        rows = {row.address_index: row.employee_id for row in db.session.scalars(sa.select(EmailCode))}
        assert rows == {former.address_key(HOME): frank, former.address_key("nobody@example.net"): None}

    # Timing: several former employees on record, as many unknown addresses, asked alternately from
    # different clients (so no limit is reached); the medians are close.
    addresses = []
    for n in range(12):
        who = make_employee(portal, f"leaver{n}@example.com", status=EmploymentStatus.FORMER, consents=False)
        with portal.app_context():
            person = db.session.get(Employee, who)
            assert person is not None
            people.set_personal_email(person, f"leaver{n}.home@example.net", actor=Actor.system())
            db.session.commit()
        addresses.append((f"leaver{n}.home@example.net", f"stranger{n}@example.net"))
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for n, (on_record, stranger) in enumerate(addresses):
        for label, address in (("known", on_record), ("unknown", stranger)) if n % 2 else (
                ("unknown", stranger), ("known", on_record)):
            client = portal.test_client()
            token = csrf_token(client.get("/former").get_data(as_text=True))
            started = time.perf_counter()
            response = client.post("/former", data={"email": address, "csrf_token": token},
                                   environ_base={"REMOTE_ADDR": f"10.2.{n}.{len(timings[label])}"})
            timings[label].append(time.perf_counter() - started)
            response.close()
            assert response.status_code == 302 and response.headers["Location"] == "/former/code"
            send_codes(portal)
    known_median, unknown_median = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    assert abs(known_median - unknown_median) < max(0.25 * max(known_median, unknown_median), 0.005), timings


def test_rate_limits_per_address_and_per_client(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    for n in range(3):
        assert ask(portal.test_client(), "someone@example.net", remote=f"10.3.0.{n}").status_code == 302
    fourth = ask(portal.test_client(), "someone@example.net", remote="10.3.0.99")
    assert fourth.status_code == 429 and fourth.headers.get("Retry-After")
    client = portal.test_client()
    answers = [ask(client, f"person{n}@example.net", remote="10.4.0.1").status_code for n in range(11)]
    assert answers == [302] * 10 + [429]
    with portal.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailCode)) == 13, "a refused ask makes no code"


def test_bad_input_is_refused_and_changes_nothing(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = portal.test_client()
    before = snapshot(portal, skip=frozenset({"audit_entries"}))
    for value in ("", "not-an-address", "a@b@c"):
        response = ask(client, value)
        assert response.status_code == 400
        assert 'class="form-error"' in response.get_data(as_text=True)
    forged = client.post("/former", data={"email": HOME, "csrf_token": "forged"})
    assert forged.status_code == 400
    ask(client, HOME)
    for value in ("12345", "abcdef", "1234567"):
        response = enter(client, value)
        assert response.status_code == 400 and "The code is 6 digits" in response.get_data(as_text=True)
    assert latest_code_row(portal).tries == 0, "a malformed code is not a try"
    after = snapshot(portal, skip=frozenset({"audit_entries", "email_codes", "jobs"}))
    assert after == {k: v for k, v in before.items() if k not in ("email_codes", "jobs")}


# -- step-up by code --------------------------------------------------------------------------------

def test_downloads_need_a_fresh_code(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = signed_in_as_frank(portal, smtp_server)
    with portal.app_context():
        employee = db.session.get(Employee, frank)
        assert employee is not None
        filed = request_services.file_request(employee, RequestType.ERASURE, channel=Channel.VERIFIED)
        db.session.execute(sa.update(AuthSession).where(AuthSession.employee_id == frank)
                           .values(auth_time=utcnow() - timedelta(minutes=10),
                                   stepped_up_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
        request_id = filed.request.id
    # The certificate of a request that is not completed is not there; the step-up comes first all the same.
    stale = client.get("/me/requests/new/erasure")
    assert stale.status_code == 302 and stale.headers["Location"].startswith("/former/step-up?next=")
    page = client.get(stale.headers["Location"])
    assert page.status_code == 200
    sent = client.post("/former/step-up", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                "next": "/me/requests/new/erasure"})
    sent.close()
    assert sent.status_code == 302 and sent.headers["Location"] == "/former/code"
    codes = codes_sent(portal, smtp_server)
    assert len(codes) == 2
    back = enter(client, codes[-1])
    assert back.status_code == 302 and back.headers["Location"] == "/me/requests/new/erasure"
    assert client.get("/me/requests/new/erasure").status_code == 200
    assert [e.details["purpose"] for e in audit_entries(portal, "auth:former-code:verify")] == ["sign_in", "step_up"]
    assert len(audit_entries(portal, "auth:session:step-up")) == 1
    certificate = client.get(f"/me/requests/{request_id}/certificate")
    assert certificate.status_code == 404, "fresh, but nothing to certify yet"


def test_an_sso_session_cannot_use_the_former_pages(portal: Flask, frank: str) -> None:
    client = portal.test_client()
    assert sign_in(client, "alice@example.com").status_code == 302
    assert client.get("/former").headers["Location"] == "/"
    assert client.get("/former/step-up").headers["Location"] == "/"
    token = csrf_token(client.get("/me/requests").get_data(as_text=True))
    assert client.post("/former/step-up", data={"csrf_token": token}).status_code == 404


def test_the_code_session_ends_if_he_is_hired_again(portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    client = signed_in_as_frank(portal, smtp_server)
    with portal.app_context():
        db.session.execute(sa.update(Employee).where(Employee.id == frank)
                           .values(employment_status=EmploymentStatus.ACTIVE.value))
        db.session.commit()
    assert client.get("/me/requests").status_code == 302


def test_without_smtp_the_code_lands_in_the_outbox(make_portal: Any) -> None:  # noqa: F811
    app: Flask = make_portal()
    make_employee(app, "frank@example.com", status=EmploymentStatus.FORMER)
    with app.app_context():
        employee = people.find_by_email("frank@example.com")
        assert employee is not None
        people.set_personal_email(employee, HOME, actor=Actor.system())
        db.session.commit()
        outbox = app.config["PORTAL_SETTINGS"].outbox_dir
    client = app.test_client()
    ask(client, HOME)
    send_codes(app)
    (written,) = list(outbox.glob("*.eml"))
    text = written.read_text()
    assert f"To: {HOME}" in text
    (code,) = CODE.findall(text)
    assert enter(client, code).headers["Location"] == "/"


def test_signing_out_ends_the_code_session_without_going_to_the_idp(portal: Flask, frank: str,
                                                                     smtp_server: SmtpServer) -> None:  # noqa: F811
    client = signed_in_as_frank(portal, smtp_server)
    token = csrf_token(client.get("/me/requests").get_data(as_text=True))
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/signed-out"
    assert client.get("/me/requests").status_code == 302
    with portal.app_context():
        row = db.session.scalar(sa.select(AuthSession).where(AuthSession.employee_id == frank))
        assert row is not None and row.end_reason == "signed-out"


def test_a_stale_code_session_gets_a_fresh_code_before_any_download(portal: Flask, frank: str,
                                                                     smtp_server: SmtpServer) -> None:  # noqa: F811
    client = signed_in_as_frank(portal, smtp_server)
    with portal.app_context():
        employee = db.session.get(Employee, frank)
        assert employee is not None
        request_id = request_services.file_request(employee, RequestType.ACCESS).request.id
        db.session.execute(sa.update(AuthSession).where(AuthSession.employee_id == frank)
                           .values(auth_time=utcnow() - timedelta(minutes=10),
                                   stepped_up_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
    token = csrf_token(client.get("/me/exports").get_data(as_text=True))
    download = client.post(f"/me/exports/{'0' * 32}/download", data={"csrf_token": token},
                           headers={"Referer": "http://localhost/me/exports"})
    # Back to the export's own page afterwards (the portal sends no Referer; the view names it).
    assert download.status_code == 302
    assert download.headers["Location"] == f"/former/step-up?next=/me/exports/{'0' * 32}"
    certificate = client.get(f"/me/requests/{request_id}/certificate")
    assert certificate.status_code == 302
    assert certificate.headers["Location"].startswith("/former/step-up?next=")


# -- the code's e-mail is a job: durable, retried, alike for every address ---------------------------

def code_jobs(app: Flask) -> list[Job]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(Job).where(Job.kind == former.MAIL_KIND)
                                        .order_by(Job.created_at, Job.id)))
        db.session.expunge_all()
        return found


def recorded_dispatches(app: Flask) -> list[str]:
    return [job_id for job_id, _delay in app.extensions[EXTENSION].dispatched]


def test_the_dispatch_goes_once_the_body_is_out_even_if_the_server_never_closes_the_answer(
        portal: Flask, frank: str) -> None:
    """werkzeug's development server skips close() when the client resets the connection while the
    server drains it (browsers do after a redirect): the body read to its end is enough, and a
    close after it dispatches nothing more."""
    client = portal.test_client()
    token = csrf_token(client.get("/former").get_data(as_text=True))
    response = client.post("/former", data={"email": HOME, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": "10.4.1.1"})
    (job,) = code_jobs(portal)
    assert job.id not in recorded_dispatches(portal), "not before the answer is out"
    assert response.status_code == 302 and response.headers["Location"].endswith("/former/code")
    body = b"".join(response.iter_encoded())  # the server takes the body, and never calls close()
    assert body and int(response.headers["Content-Length"]) == len(body)
    assert recorded_dispatches(portal) == [job.id]
    response.close()
    assert recorded_dispatches(portal) == [job.id], "once"


def test_a_job_is_written_for_every_address_and_dispatched_once_the_answer_is_out(
        portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    for address, remote in ((HOME, "10.4.0.1"), ("nobody@example.net", "10.4.0.2")):
        client = portal.test_client()
        token = csrf_token(client.get("/former").get_data(as_text=True))
        response = client.post("/former", data={"email": address, "csrf_token": token},
                               environ_base={"REMOTE_ADDR": remote})
        (job,) = code_jobs(portal)[-1:]
        assert job.id not in recorded_dispatches(portal), "not before the answer is out"
        response.close()
        assert recorded_dispatches(portal)[-1] == job.id
    known, unknown = code_jobs(portal)
    assert set(known.params) == set(unknown.params) == {"code_id", "sealed", "language"}
    assert len(known.params["sealed"]) == len(unknown.params["sealed"]), "the same work for either"
    assert send_codes(portal) == [JobState.SUCCEEDED, JobState.SUCCEEDED]
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [[HOME]], "nothing goes to an unknown address"
    assert [job.params for job in code_jobs(portal)] == [
        {"code_id": known.params["code_id"], "language": "en"}, {"code_id": unknown.params["code_id"], "language": "en"}]
    assert [e.details for e in audit_entries(portal, "auth:former-code:mail")] == [{"sent": True, "attempt": 1}]


def test_a_code_mail_whose_dispatch_was_lost_is_sent_by_the_sweep(portal: Flask, frank: str,
                                                                   smtp_server: SmtpServer) -> None:  # noqa: F811
    """The process died after the commit, before the answer went out: the job is in its table, and
    the job system's sweep (of this process or any other) sends it."""
    client = portal.test_client()
    token = csrf_token(client.get("/former").get_data(as_text=True))
    client.post("/former", data={"email": HOME, "csrf_token": token})  # never closed: no dispatch
    (job,) = code_jobs(portal)
    assert recorded_dispatches(portal) == []
    with portal.app_context():
        assert jobs.sweep() == 1
    assert recorded_dispatches(portal) == [job.id]
    assert send_codes(portal) == [JobState.SUCCEEDED]
    (code,) = codes_sent(portal, smtp_server)
    assert enter(client, code).headers["Location"] == "/"


def test_a_refused_code_mail_is_retried_and_an_expired_code_is_never_sent(
        portal: Flask, frank: str, smtp_server: SmtpServer) -> None:  # noqa: F811
    smtp_server.handler.data_replies = ["451 4.3.0 try again later"]
    ask(portal.test_client(), HOME)
    (job,) = code_jobs(portal)
    assert send_codes(portal) == [JobState.QUEUED], "a refusal for now is retried"
    assert recorded_dispatches(portal)[-1] == job.id and smtp_server.handler.received == []
    with portal.app_context():
        db.session.execute(sa.update(Job).where(Job.id == job.id).values(not_before=utcnow()))
        db.session.commit()
    assert send_codes(portal) == [JobState.SUCCEEDED]
    assert len(codes_sent(portal, smtp_server)) == 1
    assert [e.details for e in audit_entries(portal, "auth:former-code:mail")] == [{"sent": True, "attempt": 2}]

    ask(portal.test_client(), HOME, remote="10.1.0.9")
    late = code_jobs(portal)[-1]
    with portal.app_context():
        db.session.execute(sa.update(EmailCode).where(EmailCode.id == late.params["code_id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert send_codes(portal) == [JobState.FAILED]
    assert len(codes_sent(portal, smtp_server)) == 1, "a code that can no longer be used is not sent"
    given_up = code_jobs(portal)[-1]
    assert "sealed" not in given_up.params and "expired" in (given_up.error or "")
    assert audit_entries(portal, "auth:former-code:mail")[-1].details == {
        "sent": False, "reason": "the code expired or was used before its message could be sent; nothing was sent"}


def test_the_code_mail_is_in_the_language_the_person_asked_in(make_portal: Any,  # noqa: F811
                                                               smtp_server: SmtpServer) -> None:  # noqa: F811
    portal = make_portal(smtp_url=smtp_server.url, languages=("en", "es", "pt_BR"))
    make_frank(portal)
    client = portal.test_client()
    page = client.get("/former", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert 'lang="pt-BR"' in page.get_data(as_text=True)
    response = client.post("/former", data={"email": HOME, "csrf_token": csrf_token(page.get_data(as_text=True))},
                           headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    response.close()
    assert response.status_code == 302
    (code,) = codes_sent(portal, smtp_server)
    message = smtp_server.handler.received[-1].message
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert message["Subject"] == f"Seu código do portal de privacidade: {code}"
    assert "Este é o código que você pediu para entrar no portal de privacidade como ex-funcionário:" in text
    assert "Vale por 10 minutos e 5 tentativas." in text and "Here is the code" not in text
