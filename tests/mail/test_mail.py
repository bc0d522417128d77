"""E-mail (portal.mail) against a real SMTP server on loopback: queued in the caller's transaction
and sent only after its commit, by a job that holds ids only; rendered at send time with context
loaders; the same Message-ID on every attempt; 4xx retried, 5xx given up; STARTTLS and implicit
TLS with certificate checks; the outbox folder when there is no SMTP server."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from jinja2 import ChoiceLoader, DictLoader

from portal.audit.services import Actor
from portal.db import new_id, utcnow
from portal.extensions import db, mail
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import EXTENSION, ThreadRunner
from portal.mail import services as mailer
from portal.people.models import Employee
from tests.helpers import audit_entries, make_employee
from tests.mail.conftest import RecordingRunner, SelfSigned, SmtpServer, both_databases, start_smtp

MakePortal = Callable[..., Flask]

# -- a context loader, registered as a domain package would -------------------------------------------------

SAMPLES: dict[str, str] = {}
loaded: list[str] = []


@mailer.context_loader("sample")
def _load_sample(sample_id: str) -> dict[str, Any]:
    loaded.append(sample_id)
    if sample_id not in SAMPLES:
        raise LookupError(sample_id)
    return {"id": sample_id, "label": SAMPLES[sample_id]}


@pytest.fixture(autouse=True)
def _fresh_samples() -> Iterator[None]:
    SAMPLES.clear()
    loaded.clear()
    yield


# -- helpers --------------------------------------------------------------------------------------------

def job_row(job_id: str) -> Job:
    job = db.session.get(Job, job_id, populate_existing=True)
    assert job is not None
    db.session.expunge(job)
    db.session.rollback()
    return job


def make_due(job_id: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(Job).where(Job.id == job_id).values(not_before=utcnow() - timedelta(seconds=1)))


def queue(app: Flask, template: str = "_test", *, recipient_id: str, **kwargs: Any) -> str:
    """notify() and commit, as a service and its caller would; returns the job's id."""
    with app.app_context():
        before = set(db.session.scalars(sa.select(Job.id)))
        mailer.notify(template, recipient_id=recipient_id, **kwargs)
        (job_id,) = set(db.session.scalars(sa.select(Job.id))) - before
        db.session.commit()
        return job_id


def run(app: Flask, job_id: str) -> JobState | None:
    with app.app_context():
        return jobs.run_job(job_id)


def failed_job(app: Flask, job_id: str) -> Job:
    with app.app_context():
        job = job_row(job_id)
    assert job.state == JobState.FAILED, (job.state, job.error)
    return job


def dispatched(app: Flask) -> list[tuple[str, float]]:
    recorder = app.extensions[EXTENSION]
    assert isinstance(recorder, RecordingRunner)
    return recorder.dispatched


def text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


@pytest.fixture
def smtp_app(make_portal: MakePortal, smtp_server: SmtpServer) -> Flask:
    return make_portal(smtp_url=smtp_server.url)


# -- queued in the transaction, sent after the commit ------------------------------------------------------

@both_databases
def test_a_message_is_sent_only_after_the_commit_and_the_job_holds_no_address(
        make_portal: MakePortal, smtp_server: SmtpServer) -> None:
    app = make_portal(smtp_url=smtp_server.url)
    erin = make_employee(app, "erin@example.com", name="Erin Example")
    with app.app_context():
        mailer.notify("_test", recipient_id=erin)
        db.session.rollback()  # the caller's transaction fails: no message, ever
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0

        mailer.notify("_test", recipient_id=erin, actor=Actor("employee", erin))
        job = db.session.scalars(sa.select(Job).where(Job.kind == "mail.send")).one()
        job_id = job.id
        assert job.params == {"template": "_test", "recipient_id": erin, "refs": {},
                              "actor": {"type": "employee", "id": erin}}
        assert "@" not in json.dumps(job.params) and "Erin" not in json.dumps(job.params)
        time.sleep(0.2)
        assert dispatched(app) == [] and smtp_server.handler.offered == []  # not before the commit
        db.session.commit()
    assert dispatched(app) == [(job_id, 0)]
    assert smtp_server.handler.offered == []  # dispatched, not yet run

    assert run(app, job_id) == JobState.SUCCEEDED
    (received,) = smtp_server.handler.received
    assert received.mail_from == "privacy-portal@localhost"  # the default: the host of PORTAL_BASE_URL
    assert received.rcpt_tos == ["erin@example.com"]
    message = received.message
    assert message["Subject"] == "Test message for Erin Example"
    assert message["To"] == "erin@example.com"
    assert message["From"] == "privacy-portal@localhost"
    assert message["Message-ID"] == f"<mail.{job_id}@localhost>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert text_body(message).replace("\r\n", "\n") == (
        "Hello Erin Example,\n\nThis is a test message from the privacy portal.\n\n"
        "Open the portal: http://localhost/\n")

    with app.app_context():
        job = job_row(job_id)
        assert (job.state, job.attempts, job.result) == (JobState.SUCCEEDED, 1, {"template": "_test", "transport": "smtp"})
    (entry,) = audit_entries(app, "mail:message:send")
    assert (entry.actor_type, entry.actor_id, entry.subject_id) == ("employee", erin, erin)
    assert entry.targets == {"job": job_id}
    assert entry.details == {"template": "_test", "transport": "smtp", "attempt": 1, "language": "en"}
    assert "@" not in json.dumps([entry.targets, entry.details])


def test_the_thread_runner_sends_it_on_its_own(make_portal: MakePortal, smtp_server: SmtpServer) -> None:
    app = make_portal(smtp_url=smtp_server.url, manual_jobs=False)
    erin = make_employee(app)
    job_id = queue(app, recipient_id=erin)
    with app.app_context():
        active = app.extensions[EXTENSION]
        assert isinstance(active, ThreadRunner) and active.wait_idle(30)
        assert job_row(job_id).state == JobState.SUCCEEDED
    assert [r.message["Message-ID"] for r in smtp_server.handler.received] == [f"<mail.{job_id}@localhost>"]


# -- context loaders and templates -------------------------------------------------------------------------

def test_refs_are_loaded_at_send_time_and_plain_text_is_not_escaped(
        smtp_app: Flask, smtp_server: SmtpServer) -> None:
    erin = make_employee(smtp_app)
    SAMPLES["s-1"] = "first label"
    job_id = queue(smtp_app, recipient_id=erin, refs={"sample": "s-1"})
    assert loaded == []  # nothing is read when the message is queued
    SAMPLES["s-1"] = "Case <7> & \"co\""  # changed between the commit and the send: the send sees it
    assert run(smtp_app, job_id) == JobState.SUCCEEDED
    assert loaded == ["s-1"]
    body = text_body(smtp_server.handler.received[0].message)
    assert "About: Case <7> & \"co\" (reference s-1)" in body
    (entry,) = audit_entries(smtp_app, "mail:message:send")
    assert entry.targets == {"job": job_id, "sample": "s-1"}


@pytest.fixture
def extra_templates(smtp_app: Flask) -> dict[str, str]:
    """Templates that exist for one test only (put in front of the app's own loader)."""
    templates: dict[str, str] = {}
    smtp_app.jinja_env.loader = ChoiceLoader([DictLoader(templates), smtp_app.jinja_env.loader])  # type: ignore[list-item]
    return templates


def test_an_html_template_is_sent_as_the_alternative_and_is_escaped(
        smtp_app: Flask, smtp_server: SmtpServer, extra_templates: dict[str, str]) -> None:
    extra_templates["mail/_both.txt"] = "Subject: About {{ sample.label }}\n\nText: {{ sample.label }}\n"
    extra_templates["mail/_both.html"] = "<h1>{{ subject }}</h1><p>{{ sample.label }} for {{ recipient_name }}</p>"
    erin = make_employee(smtp_app, name="Érin Ñandú")
    SAMPLES["s-2"] = "<b>bold</b> & more"
    job_id = queue(smtp_app, "_both", recipient_id=erin, refs={"sample": "s-2"})
    assert run(smtp_app, job_id) == JobState.SUCCEEDED
    message = smtp_server.handler.received[0].message
    assert message["Subject"] == "About <b>bold</b> & more"
    assert text_body(message).strip() == "Text: <b>bold</b> & more"
    html = message.get_body(preferencelist=("html",))
    assert html is not None and html.get_content_type() == "text/html"
    assert html.get_content() == (
        "<h1>About &lt;b&gt;bold&lt;/b&gt; &amp; more</h1><p>&lt;b&gt;bold&lt;/b&gt; &amp; more for Érin Ñandú</p>")


@pytest.mark.parametrize(("template", "source", "reason"), [
    ("_nosubject", "Hello\n\nbody", "mail template _nosubject.txt must start with a 'Subject: ...' line and a blank line"),
    ("_noblank", "Subject: hi\nbody right away", "mail template _noblank.txt must start with a 'Subject: ...'"),
    ("_emptysubject", "Subject:   \n\nbody", "must start with a 'Subject: ...' line"),
    ("_undefined", "Subject: {{ nothing.at.all }}\n\nbody", "could not be rendered (UndefinedError)"),
    ("_missing", None, "the mail template mail/_missing.txt does not exist"),
], ids=["no-subject", "no-blank-line", "empty-subject", "undefined", "missing"])
def test_a_broken_template_gives_up_with_a_reason(
        smtp_app: Flask, smtp_server: SmtpServer, extra_templates: dict[str, str],
        template: str, source: str | None, reason: str) -> None:
    if source is not None:
        extra_templates[f"mail/{template}.txt"] = source
    erin = make_employee(smtp_app)
    job_id = queue(smtp_app, template, recipient_id=erin)
    assert run(smtp_app, job_id) == JobState.FAILED
    job = failed_job(smtp_app, job_id)
    assert reason in (job.error or "") and job.attempts == 1
    assert smtp_server.handler.offered == []
    (gave_up,) = audit_entries(smtp_app, "mail:message:give-up")
    assert (gave_up.subject_id, gave_up.targets, gave_up.details["template"]) == (erin, {"job": job_id}, template)


@pytest.mark.parametrize(("refs", "reason"), [
    ({"sample": "gone"}, "the sample this message is about no longer exists; nothing was sent"),
    ({"nobody_loads_this": "x1"}, "no mail context loader is registered for 'nobody_loads_this'"),
], ids=["gone", "no-loader"])
def test_a_ref_that_cannot_be_loaded_gives_up(smtp_app: Flask, smtp_server: SmtpServer,
                                              refs: dict[str, str], reason: str) -> None:
    job_id = queue(smtp_app, recipient_id=make_employee(smtp_app), refs=refs)
    assert run(smtp_app, job_id) == JobState.FAILED
    assert reason in (failed_job(smtp_app, job_id).error or "")
    assert smtp_server.handler.offered == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"template": "../secrets"}, "mail template names"),
    ({"template": "Request Received"}, "mail template names"),
    ({"recipient_id": ""}, "recipient's employee id"),
    ({"refs": {"email": "x"}}, "cannot name a mail ref"),
    ({"refs": {"recipient_name": "x"}}, "cannot name a mail ref"),
    ({"refs": {"sample": "erin@example.com"}}, "must be an id"),
    ({"refs": {"sample": ""}}, "must be an id"),
], ids=["path", "spaces", "no-recipient", "personal-name", "reserved-name", "address", "empty"])
def test_notify_refuses_what_is_not_a_template_name_or_an_id(smtp_app: Flask, kwargs: dict[str, Any],
                                                           message: str) -> None:
    arguments: dict[str, Any] = {"template": "_test", "recipient_id": new_id()} | kwargs
    with smtp_app.app_context():
        with pytest.raises(ValueError, match=message):
            mailer.notify(arguments.pop("template"), **arguments)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


@pytest.mark.parametrize("name", ["email", "name", "Request", "job", "refs", "base_url", "1st"])
def test_a_context_loader_needs_a_plain_unreserved_name(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a mail ref"):
        mailer.context_loader(name)


# -- recipients that are gone -------------------------------------------------------------------------------

def test_a_missing_recipient_is_given_up_quietly(smtp_app: Flask, smtp_server: SmtpServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    job_id = queue(smtp_app, recipient_id=new_id())
    with caplog.at_level(logging.INFO):
        assert run(smtp_app, job_id) == JobState.FAILED
    job = failed_job(smtp_app, job_id)
    assert job.error == "the recipient no longer exists (erased or removed); nothing was sent"
    assert job.attempts == 1 and dispatched(smtp_app) == [(job_id, 0)]  # no retry
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert smtp_server.handler.offered == []


def test_a_recipient_whose_address_was_erased_is_given_up(smtp_app: Flask, smtp_server: SmtpServer) -> None:
    erin = make_employee(smtp_app)
    job_id = queue(smtp_app, recipient_id=erin)
    with smtp_app.app_context():
        employee = db.session.get(Employee, erin)
        assert employee is not None
        employee.email_sealed = b"\x01" + b"\x00" * 40  # no longer opens (overwritten by an erasure)
        db.session.commit()
    assert run(smtp_app, job_id) == JobState.FAILED
    assert failed_job(smtp_app, job_id).error == "the recipient's address was erased; nothing was sent"
    assert smtp_server.handler.offered == []


# -- retries, refusals and the Message-ID ------------------------------------------------------------------

def test_a_temporary_refusal_is_retried_with_backoff_and_the_same_message_id(
        smtp_app: Flask, smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_replies.append("451 4.3.0 Mailbox of erin@example.com busy, try later")
    job_id = queue(smtp_app, recipient_id=make_employee(smtp_app))
    before = utcnow()
    assert run(smtp_app, job_id) == JobState.QUEUED
    with smtp_app.app_context():
        job = job_row(job_id)
        assert job.error == "the mail server refused the message for now (SMTP 451)"
        assert job.not_before >= before + timedelta(seconds=jobs.BACKOFF_BASE_SECONDS)
        assert run(smtp_app, job_id) is None  # not due yet
        make_due(job_id)
    assert dispatched(smtp_app) == [(job_id, 0), (job_id, float(jobs.BACKOFF_BASE_SECONDS))]
    assert smtp_server.handler.received == []

    assert run(smtp_app, job_id) == JobState.SUCCEEDED
    first, second = (email.message_from_bytes(raw, policy=email.policy.default) for raw in smtp_server.handler.offered)
    assert first["Message-ID"] == second["Message-ID"] == f"<mail.{job_id}@localhost>"
    assert len(smtp_server.handler.received) == 1
    (entry,) = audit_entries(smtp_app, "mail:message:send")
    assert entry.details["attempt"] == 2


def test_a_crash_after_sending_resends_with_the_same_message_id(
        smtp_app: Flask, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent, then the worker failed before its commit: the retry sends again, and the receiving
    side can tell the copy by its Message-ID."""
    real_record = mailer.record
    calls = []

    def record_then_crash_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        if len(calls) == 1:
            raise RuntimeError("the worker died here")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(mailer, "record", record_then_crash_once)
    job_id = queue(smtp_app, recipient_id=make_employee(smtp_app))
    assert run(smtp_app, job_id) == JobState.QUEUED
    with smtp_app.app_context():
        make_due(job_id)
    assert run(smtp_app, job_id) == JobState.SUCCEEDED
    ids = [r.message["Message-ID"] for r in smtp_server.handler.received]
    assert ids == [f"<mail.{job_id}@localhost>"] * 2
    assert len(audit_entries(smtp_app, "mail:message:send")) == 1  # the failed attempt's entry was rolled back


@pytest.mark.parametrize(("where", "reply", "reason"), [
    ("rcpt", "550 5.1.1 <erin@example.com>: no such user", "the mail server refused the recipient permanently (SMTP 550)"),
    ("data", "554 5.7.1 Message rejected as spam", "the mail server refused the message permanently (SMTP 554)"),
], ids=["rcpt-550", "data-554"])
def test_a_permanent_refusal_gives_up_with_a_reason(smtp_app: Flask, smtp_server: SmtpServer,
                                                    where: str, reply: str, reason: str) -> None:
    if where == "rcpt":
        smtp_server.handler.rcpt_reply = reply
    else:
        smtp_server.handler.data_replies.append(reply)
    erin = make_employee(smtp_app)
    job_id = queue(smtp_app, recipient_id=erin)
    assert run(smtp_app, job_id) == JobState.FAILED
    job = failed_job(smtp_app, job_id)
    assert (job.error, job.attempts) == (reason, 1)
    assert dispatched(smtp_app) == [(job_id, 0)]  # not retried
    assert audit_entries(smtp_app, "mail:message:send") == []
    (gave_up,) = audit_entries(smtp_app, "mail:message:give-up")
    assert gave_up.details == {"template": "_test", "reason": reason}


def test_a_server_that_cannot_be_reached_is_retried(make_portal: MakePortal) -> None:
    from tests.conftest import _free_port

    app = make_portal(smtp_url=f"smtp://127.0.0.1:{_free_port()}")  # nobody listens there
    job_id = queue(app, recipient_id=make_employee(app))
    assert run(app, job_id) == JobState.QUEUED
    with app.app_context():
        assert job_row(job_id).error == "the mail server could not be reached (ConnectionRefusedError)"


# -- TLS ----------------------------------------------------------------------------------------------------

def test_starttls_then_login(make_portal: MakePortal, certificate: SelfSigned,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_smtp(tls_context=certificate.server_context(), require_starttls=True, auth=True,
                        auth_required=True, auth_require_tls=True)
    try:
        monkeypatch.setattr(mailer, "tls_context", certificate.client_context)
        app = make_portal(smtp_url=f"smtp://portal:s3cr%3At@127.0.0.1:{server.port}?starttls=1")
        job_id = queue(app, recipient_id=make_employee(app))
        assert run(app, job_id) == JobState.SUCCEEDED
        assert server.handler.logins == [("PLAIN", "portal")]  # only possible after STARTTLS here
        assert len(server.handler.received) == 1
    finally:
        server.controller.stop()


def test_implicit_tls(make_portal: MakePortal, certificate: SelfSigned, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_smtp(ssl_context=certificate.server_context())
    try:
        monkeypatch.setattr(mailer, "tls_context", certificate.client_context)
        app = make_portal(smtp_url=f"smtps://127.0.0.1:{server.port}")
        job_id = queue(app, recipient_id=make_employee(app))
        assert run(app, job_id) == JobState.SUCCEEDED
        assert len(server.handler.received) == 1
    finally:
        server.controller.stop()


def test_an_untrusted_certificate_is_refused_and_retried(make_portal: MakePortal, certificate: SelfSigned) -> None:
    server = start_smtp(tls_context=certificate.server_context(), require_starttls=True)
    try:
        app = make_portal(smtp_url=f"smtp://127.0.0.1:{server.port}?starttls=1")
        job_id = queue(app, recipient_id=make_employee(app))
        assert run(app, job_id) == JobState.QUEUED
        with app.app_context():
            assert job_row(job_id).error == "the mail server could not be reached (SSLCertVerificationError)"
        assert server.handler.offered == []
    finally:
        server.controller.stop()


# -- the outbox folder ---------------------------------------------------------------------------------------

def outbox_files(app: Flask) -> list[Path]:
    return sorted(app.config["PORTAL_SETTINGS"].outbox_dir.iterdir())


def test_the_demo_writes_parseable_eml_files_to_the_outbox(make_portal: MakePortal,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="portal.mail"):
        app = make_portal(demo=True, base_url="http://127.0.0.1:5000")
    assert caplog.records == []  # the outbox is what the demo is meant to use
    settings = app.config["PORTAL_SETTINGS"]
    assert settings.smtp_url == "" and settings.outbox_dir == settings.instance_dir / "outbox"
    erin = make_employee(app, "erin@example.com", name="Erin Example")
    job_id = queue(app, recipient_id=erin)
    assert run(app, job_id) == JobState.SUCCEEDED

    (path,) = outbox_files(app)
    assert path.suffix == ".eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    message = email.message_from_bytes(path.read_bytes())
    assert message["To"] == "erin@example.com"
    assert message["From"] == "privacy-portal@[127.0.0.1]"  # the demo's PORTAL_BASE_URL host, as a literal
    assert message["Subject"] == "Test message for Erin Example"
    assert message["Message-ID"] == f"<mail.{job_id}@[127.0.0.1]>"
    assert message["Date"]
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes) and b"Hello Erin Example," in payload
    with app.app_context():
        assert job_row(job_id).result == {"template": "_test", "transport": "outbox"}
    (entry,) = audit_entries(app, "mail:message:send")
    assert entry.details["transport"] == "outbox"


def test_the_outbox_is_written_atomically_once_per_message_id(make_portal: MakePortal) -> None:
    app = make_portal()
    with app.app_context(), mail.record_messages() as recorded:
        first = mailer.send_now("erin@example.com", "Hello", "one\n", message_id="<fixed@localhost>")
        mailer.send_now("erin@example.com", "Hello", "two\n", message_id="<fixed@localhost>")  # a retry
        other = mailer.send_now("erin@example.com", "Hello", "three\n")
    assert first == "<fixed@localhost>" and other != first and other.endswith("@localhost>")
    files = outbox_files(app)
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)  # no temporary file left behind
    bodies = sorted(email.message_from_bytes(f.read_bytes()).get_payload() for f in files)  # type: ignore[type-var]
    assert bodies == ["three\r\n", "two\r\n"]
    assert [m.msgId for m in recorded] == [first, first, other]  # Flask-Mail's signal fires as for SMTP


def test_without_smtp_outside_the_demo_the_outbox_is_used_with_one_warning(
        make_portal: MakePortal, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="portal.mail"):
        app = make_portal()
    (warning,) = [r for r in caplog.records if r.name == "portal.mail"]
    assert "PORTAL_SMTP_URL is not set" in warning.getMessage() and "outbox" in warning.getMessage()
    erin = make_employee(app)
    with caplog.at_level(logging.WARNING):
        assert run(app, queue(app, recipient_id=erin)) == JobState.SUCCEEDED
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == [warning]  # not once per message
    assert len(outbox_files(app)) == 1


def test_an_outbox_that_cannot_be_written_is_retried(make_portal: MakePortal) -> None:
    app = make_portal()
    outbox = app.config["PORTAL_SETTINGS"].outbox_dir
    outbox.parent.mkdir(parents=True, exist_ok=True)
    outbox.write_text("a file where the folder should be")
    job_id = queue(app, recipient_id=make_employee(app))
    assert run(app, job_id) == JobState.QUEUED
    with app.app_context():
        assert job_row(job_id).error == "the outbox folder could not be written (FileExistsError)"
    assert not any(p.name.endswith(".tmp") for p in outbox.parent.iterdir())


# -- the low-level helper over SMTP -----------------------------------------------------------------------

def test_send_now_over_smtp(smtp_app: Flask, smtp_server: SmtpServer) -> None:
    with smtp_app.app_context():
        message_id = mailer.send_now("someone@example.org", "Grüße", "Zeile eins\nZeile zwei\n")
    (received,) = smtp_server.handler.received
    assert received.rcpt_tos == ["someone@example.org"]
    assert received.message["Subject"] == "Grüße" and received.message["Message-ID"] == message_id
    assert text_body(received.message).replace("\r\n", "\n") == "Zeile eins\nZeile zwei\n"


def test_send_now_refuses_header_injection(smtp_app: Flask, smtp_server: SmtpServer) -> None:
    with smtp_app.app_context(), pytest.raises(mailer.MailError) as raised:
        mailer.send_now("erin@example.com\r\nBcc: mallory@example.net", "Hi", "body\n")
    assert raised.value.permanent and smtp_server.handler.offered == []


def test_no_outbox_files_when_smtp_is_configured(smtp_app: Flask, smtp_server: SmtpServer) -> None:
    run(smtp_app, queue(smtp_app, recipient_id=make_employee(smtp_app)))
    assert len(smtp_server.handler.received) == 1
    assert not os.path.exists(smtp_app.config["PORTAL_SETTINGS"].outbox_dir)


def test_a_named_sender_is_the_from_header_and_its_address_the_envelope(
        make_portal: MakePortal, smtp_server: SmtpServer) -> None:
    app = make_portal(smtp_url=smtp_server.url, mail_from="Privacy Office <privacy@example.com>")
    job_id = queue(app, recipient_id=make_employee(app))
    assert run(app, job_id) == JobState.SUCCEEDED
    (received,) = smtp_server.handler.received
    assert received.mail_from == "privacy@example.com"
    assert received.message["From"] == "Privacy Office <privacy@example.com>"
    assert received.message["Message-ID"] == f"<mail.{job_id}@example.com>"


def test_the_outbox_keeps_messages_only_for_its_days(make_portal: MakePortal) -> None:
    import os
    import time

    from portal.mail.services import purge_outbox

    app = make_portal(outbox_days=3)
    with app.app_context():
        mailer.send_now("erin@example.com", "Old", "one\n")
        mailer.send_now("erin@example.com", "New", "two\n")
        old, new = sorted(outbox_files(app), key=lambda f: "Old" in f.read_text())[::-1]
        three_days_ago = time.time() - 3 * 86400 - 60
        os.utime(old, (three_days_ago, three_days_ago))
        purge_outbox()
    assert outbox_files(app) == [new]
