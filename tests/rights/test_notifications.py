"""The request e-mails: every template renders for requests of every type in every state with the
``request`` context loader and nothing else (StrictUndefined: a missing variable is an error);
what the law requires is in them (the extension's reasons, the refusal's legal basis, reasons and
the supervisory authority of the requester's jurisdiction); what must stay behind the sign-in is
not (message bodies; anything about the requester in staff mail). And end to end, over a real SMTP
server on loopback: filing a request acknowledges it to the requester and tells the queue's DPO."""

from __future__ import annotations

import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from jinja2 import StrictUndefined

from portal.audit.services import Actor
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jurisdictions import regime_for
from portal.mail import services as mailer
from portal.people.models import Employee, Role
from portal.recipients import services as recipients
from portal.rights import notifications
from portal.rights import services as rights
from portal.rights.models import DataRequest, RequestState, RequestType
from tests.mail.conftest import SmtpServer, make_portal, smtp_server  # noqa: F401  (fixtures)
from tests.rights.support import make_queue, make_staff, manual_jobs, run_pending

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "mail"
REQUESTER_TEMPLATES = ("request_received", "request_info_needed", "request_message", "request_extended",
                       "request_completed", "request_rejected")
DPO_TEMPLATES = ("dpo_new_case", "dpo_requester_answered", "dpo_withdrawn", "dpo_failed", "dpo_reminder_7",
                 "dpo_reminder_1")
SECRET_DESCRIPTION = "Secret-description-words"
SECRET_MESSAGE = "Secret-question-words"
SECRET_ANSWER = "Secret-answer-words"


@dataclass
class World:
    app: Flask
    dana: str
    admin: str
    subjects: dict[str, str]  # jurisdiction -> employee id
    requests: dict[str, str]  # a label -> request id


def _employee(employee_id: str) -> Employee:
    found = db.session.get(Employee, employee_id)
    assert found is not None
    return found


def _file(subject_id: str, kind: RequestType, **details: Any) -> DataRequest:
    details.setdefault("description", SECRET_DESCRIPTION)
    if kind == RequestType.RECTIFICATION:
        details.update(wrong="wrong value", correct="right value")
    if kind == RequestType.OBJECTION:
        details.update(grounds="my grounds")
    return rights.file_request(_employee(subject_id), kind, **details).request


@pytest.fixture
def world(app: Flask) -> World:
    """Requests of every type, and in every state a request can rest in, in one queue worked by dana."""
    from tests.helpers import make_employee

    manual_jobs(app)
    with app.app_context():
        queue = make_queue("Everything", rules=[("*", "*")])
        db.session.commit()
    dana = make_staff(app, "dana@example.com", Role.DPO, queues=[queue], name="Dana Okafor")
    admin = make_staff(app, "admin@example.com", Role.ADMIN, name="Adrián Admin")
    subjects = {j: make_employee(app, f"{j.lower()}@example.com", name=f"Person {j}", jurisdiction=j)
                for j in ("ES", "US-CA", "CO", "BR", "FR", "JP")}
    made: dict[str, str] = {}
    with app.app_context():
        staff = _employee(dana)

        def worked(label: str, subject: str, kind: RequestType, **details: Any) -> DataRequest:
            request = _file(subjects[subject], kind, **details)
            rights.claim(request, staff)
            rights.start_review(request, staff)
            made[label] = request.id
            return request

        for kind in RequestType:
            made[f"received-{kind.value}"] = _file(subjects["ES"], kind).id
        opened = _file(subjects["CO"], RequestType.ACCESS)
        rights.claim(opened, staff)
        made["open"] = opened.id
        worked("in-review", "US-CA", RequestType.RESTRICTION)
        asked = worked("awaiting", "BR", RequestType.PORTABILITY)
        rights.ask_requester(asked, staff, SECRET_MESSAGE)
        answered = worked("answered", "FR", RequestType.ACCESS)
        rights.ask_requester(answered, staff, SECRET_MESSAGE)
        rights.answer(answered, _employee(subjects["FR"]), SECRET_ANSWER)
        extended = worked("extended", "ES", RequestType.ERASURE)
        rights.extend(extended, staff, "We must consult the AI-training vendor first.")
        rights.message_requester(extended, staff, SECRET_MESSAGE)
        for jurisdiction in ("ES", "US-CA", "CO", "BR", "FR", "JP"):
            refused = worked(f"rejected-{jurisdiction}", jurisdiction, RequestType.OBJECTION)
            ground = regime_for(jurisdiction).grounds_for(RequestType.OBJECTION)[0]
            rights.reject(refused, staff, ground.code, "Security monitoring needs it.")
        withdrawn = _file(subjects["JP"], RequestType.RECTIFICATION)
        rights.withdraw(withdrawn, _employee(subjects["JP"]))
        made["withdrawn"] = withdrawn.id
        for kind in (RequestType.RECTIFICATION, RequestType.RESTRICTION):
            rights.approve(worked(f"completed-{kind.value}", "CO", kind), staff)
        rights.approve(worked("completed-objection", "US-CA", RequestType.OBJECTION), staff)
        rights.approve(worked("fulfilling", "BR", RequestType.ACCESS), staff)
        erasure = worked("completed-erasure", "JP", RequestType.ERASURE)
        rights.approve(erasure, staff, erasure_ground=rights.erasure_grounds(erasure)[0].code)
        rights.approve(erasure, _employee(admin))
        failed = worked("failed", "FR", RequestType.ERASURE)
        rights.approve(failed, staff, erasure_ground=rights.erasure_grounds(failed)[0].code)
        rights.approve(failed, _employee(admin))
        rights.fail(failed, "The store did not answer.")
        # A restriction whose recipient has yet to confirm (the recipient then gets no other task).
        recipient, _ = recipients.create_recipient(
            name="AI Research", contact="ai@example.com", categories=["screenshots"], uses=[], purpose="Models",
            role="processor", delivery="pull", webhook_url=None, actor=Actor.system())
        rights.approve(worked("awaiting-recipients", "ES", RequestType.RESTRICTION), staff)
        recipients.deactivate(recipient, actor=Actor.system())
        db.session.commit()
        run_pending([rights.ERASURE_JOB])
        states = {r.state for r in db.session.scalars(sa.select(DataRequest))}
    assert states == set(RequestState) - {RequestState.APPROVED}  # approval starts fulfilment at once
    return World(app, dana, admin, subjects, made)


def strict_render(app: Flask, template: str, recipient_id: str, request_id: str) -> str:
    """The template rendered with exactly what the mail job gives it, any missing name an error."""
    env = app.jinja_env.overlay(undefined=StrictUndefined)
    with app.app_context():
        recipient = _employee(recipient_id)
        context = mailer.build_context(recipient.display_name, {"request": request_id})
        text = env.get_template(f"mail/{template}.txt").render(**context)
        rendered = mailer.render(template, context)  # the real path: subject line and blank line
    assert text.startswith(f"Subject: {rendered.subject}\n\n")
    return text


def test_every_template_exists_for_what_the_services_send() -> None:
    import inspect
    import re

    sent = set(re.findall(r'_notify(?:_queue)?\("([a-z0-9_]+)"', inspect.getsource(rights)))
    from portal.rights import reminders

    sent |= set(reminders.TEMPLATES.values())
    assert sent == set(REQUESTER_TEMPLATES) | set(DPO_TEMPLATES)
    assert {p.stem for p in TEMPLATE_DIR.glob("*.txt")} >= sent


def test_every_template_renders_for_every_type_and_state(world: World) -> None:
    for label, request_id in world.requests.items():
        with world.app.app_context():
            request = db.session.get(DataRequest, request_id)
            assert request is not None
            subject_id, reference = request.subject_id, request.reference
            requester = _employee(subject_id)
            name, address = requester.display_name, requester.email
        for template in REQUESTER_TEMPLATES:
            text = strict_render(world.app, template, subject_id, request_id)
            assert reference in text and f"Hello {name}," in text, (label, template)
            assert f"http://localhost/me/requests/{request_id}" in text
            assert "None" not in text and "{{" not in text and "{%" not in text, (label, template)
            for secret in (SECRET_MESSAGE, SECRET_ANSWER, SECRET_DESCRIPTION):
                assert secret not in text, (label, template)  # message bodies stay behind the sign-in
        for template in DPO_TEMPLATES:
            text = strict_render(world.app, template, world.dana, request_id)
            assert reference in text and "Hello Dana Okafor," in text, (label, template)
            assert f"http://localhost/dpo/requests/{request_id}" in text
            assert "/me/requests/" not in text
            assert "None" not in text and "{{" not in text, (label, template)
            for private in (name, address, SECRET_MESSAGE, SECRET_ANSWER, SECRET_DESCRIPTION, "wrong value",
                            "my grounds", "consult the AI-training vendor"):
                assert private not in text, (label, template, private)  # the reference, nothing more


def test_the_acknowledgement_gives_the_reference_type_dates_and_next_steps(world: World) -> None:
    request_id = world.requests["received-erasure"]
    text = strict_render(world.app, "request_received", world.subjects["ES"], request_id)
    with world.app.app_context():
        request = db.session.get(DataRequest, request_id)
        assert request is not None and request.due_on is not None
        due = notifications.long_date(request.due_on)
        received = notifications.long_date(request.received_at.date())
    assert "Subject: We have received your request R-" in text
    assert f"Received:   {received}" in text and f"Answer by:  {due} (LOPDGDD/GDPR)" in text
    assert "Request:    Erasure" in text and "What happens next" in text


def test_the_extension_gives_the_new_deadline_and_its_reasons(world: World) -> None:
    text = strict_render(world.app, "request_extended", world.subjects["ES"], world.requests["extended"])
    with world.app.app_context():
        request = db.session.get(DataRequest, world.requests["extended"])
        assert request is not None and request.extended_due_on is not None and request.due_on is not None
        first, new = notifications.long_date(request.due_on), notifications.long_date(request.extended_due_on)
    assert f"Original deadline:  {first}" in text and f"New deadline:       {new}" in text
    assert "We must consult the AI-training vendor first." in text


def test_messages_are_announced_not_quoted(world: World) -> None:
    for template, request_id, subject in (("request_info_needed", world.requests["awaiting"], "BR"),
                                          ("request_message", world.requests["extended"], "ES")):
        text = strict_render(world.app, template, world.subjects[subject], request_id)
        assert "not included in this e-mail" in text and SECRET_MESSAGE not in text


@pytest.mark.parametrize(("jurisdiction", "authority"), [
    ("ES", "the Agencia Española de Protección de Datos (AEPD)"),
    ("US-CA", "the California Privacy Protection Agency (CPPA)"),
    ("CO", "the Superintendencia de Industria y Comercio (SIC)"),
    ("BR", "the Autoridade Nacional de Proteção de Dados (ANPD)"),
    ("FR", "the data protection supervisory authority of the EU/EEA country where you live or work"),
    ("JP", "the data protection authority where you live or work"),
])
def test_a_refusal_names_the_basis_the_reasons_and_the_authority(world: World, jurisdiction: str,
                                                                 authority: str) -> None:
    text = strict_render(world.app, "request_rejected", world.subjects[jurisdiction],
                         world.requests[f"rejected-{jurisdiction}"])
    ground = regime_for(jurisdiction).grounds_for(RequestType.OBJECTION)[0]
    assert f"Legal basis: {ground.label}" in text  # the request's own regime's ground, with its citation
    assert "Security monitoring needs it." in text
    assert f"lodge a complaint with a supervisory authority:\n{authority}" in text
    others = {"AEPD", "CPPA", "SIC", "ANPD"} - {authority.rpartition("(")[2].rstrip(")")}
    assert not any(f"({other})" in text for other in others)
    assert "Data Protection Officer through the portal" in text  # no PORTAL_DPO_CONTACT in the tests


def test_a_refusal_gives_the_dpo_contact_when_there_is_one(world: World) -> None:
    world.app.config["PORTAL_SETTINGS"].dpo_contact = "privacy@example.com"
    text = strict_render(world.app, "request_rejected", world.subjects["ES"], world.requests["rejected-ES"])
    assert "write to the Data Protection Officer at privacy@example.com" in text


@pytest.mark.parametrize(("jurisdiction", "named"), [
    ("ES", "AEPD"), ("es", "AEPD"), ("ES-CT", "AEPD"), ("US-CA", "CPPA"), ("US-NY", "where you live or work"),
    ("CO", "SIC"), ("BR", "ANPD"), ("BR-SP", "ANPD"), ("DE", "EU/EEA"), ("NO", "EU/EEA"), ("", "where you live"),
])
def test_the_authority_by_jurisdiction(jurisdiction: str, named: str) -> None:
    assert named in notifications.supervisory_authority(jurisdiction)


def test_completion_gives_the_outcome_and_for_erasure_the_certificate(world: World) -> None:
    erasure = strict_render(world.app, "request_completed", world.subjects["JP"], world.requests["completed-erasure"])
    assert "Your data was erased" in erasure and "deletion certificate" in erasure
    objection = strict_render(world.app, "request_completed", world.subjects["US-CA"],
                              world.requests["completed-objection"])
    assert "no longer used for AI training" in objection and "certificate" not in objection


def test_the_loader_gives_plain_values_and_refuses_a_missing_request(world: World) -> None:
    with world.app.app_context():
        values = notifications.load_request(world.requests["extended"])
        assert all(isinstance(v, str | bool | int | type(None)) for v in values.values())
        assert values["extended"] is True and values["state"] == "In review" and values["type"] == "Erasure"
        assert values["case_url"] == f"http://localhost/dpo/requests/{world.requests['extended']}"
        assert mailer.LOADERS["request"] is notifications.load_request
        with pytest.raises(LookupError):
            notifications.load_request("no-such-request")


def test_staff_read_the_state_from_their_side(world: World) -> None:
    text = strict_render(world.app, "dpo_reminder_7", world.dana, world.requests["awaiting"])
    assert "State:         Waiting for the requester" in text


# -- end to end, over SMTP ---------------------------------------------------------------------------

@pytest.fixture
def smtp_portal(make_portal: Any, smtp_server: SmtpServer) -> Iterator[Flask]:  # noqa: F811
    yield make_portal(smtp_url=smtp_server.url)


def test_filing_acknowledges_the_requester_and_tells_the_queue(smtp_portal: Flask,
                                                               smtp_server: SmtpServer) -> None:  # noqa: F811
    from tests.helpers import make_employee

    app = smtp_portal
    with app.app_context():
        queue = make_queue("Spain", rules=[("ES", "*")])
        db.session.commit()
    make_staff(app, "dana@example.com", Role.DPO, queues=[queue], name="Dana Okafor")
    make_staff(app, "pat@example.com", Role.DPO, name="Pat Otherqueue")  # a DPO, of no queue
    erin = make_employee(app, "erin@example.com", name="Erin Example", jurisdiction="ES")
    with app.app_context():
        request = _file(erin, RequestType.ERASURE)
        request_id, reference = request.id, request.reference
        db.session.commit()
        mail_jobs = list(db.session.scalars(sa.select(Job.id).where(Job.kind == mailer.SEND_KIND)))
        assert smtp_server.handler.received == []  # queued, not sent: the job runner sends
        assert [jobs.run_job(job_id) for job_id in mail_jobs] == [JobState.SUCCEEDED] * 2
    by_address = {r.rcpt_tos[0]: r.message for r in smtp_server.handler.received}
    assert set(by_address) == {"erin@example.com", "dana@example.com"}

    ack = by_address["erin@example.com"]
    assert ack["Subject"] == f"We have received your request {reference}"
    body = ack.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert f"http://localhost/me/requests/{request_id}" in body and "Request:    Erasure" in body

    new_case = by_address["dana@example.com"]
    assert new_case["Subject"] == f"Request {reference} is waiting for you"
    raw = new_case.as_bytes(policy=email.policy.SMTP).decode()
    body = new_case.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert f"http://localhost/dpo/requests/{request_id}" in body and "Jurisdiction:  ES" in body
    for private in ("Erin", "erin@example.com", SECRET_DESCRIPTION):
        assert private not in raw
