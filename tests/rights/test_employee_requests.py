"""The employee's request pages, signed in as the sign-in's callback leaves a person
(``tests.helpers.signed_in_as``; the round trip itself is tests/auth's): filing each type (deadline, timeline,
audit), the step-up for erasure and objection, the erasure confirmation, refusals that change
nothing, duplicates, another employee's request, answering, withdrawing, what the requester sees of
the timeline, and the deletion certificate (after a real erasure job)."""

from __future__ import annotations

import html as htmllib
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from portal.audit.services import Actor
from portal.auth.models import AuthSession
from portal.db import utcnow
from portal.exports import services as exports
from portal.extensions import db
from portal.jobs.runners import ThreadRunner, runner
from portal.monitoring.ingest import ingest_batch
from portal.people import services as people
from portal.people.models import Employee, Role
from portal.people.services import find_by_email
from portal.rights import certificate, deadlines, services
from portal.rights.models import (
    Channel,
    DataRequest,
    EventKind,
    QueueMember,
    RequestEvent,
    RequestState,
    RequestType,
)
from portal.rights.notifications import long_date
from tests.conftest import both_databases
from tests.helpers import (
    audit_entries,
    csrf_token,
    event,
    grant_all_consents,
    make_employee,
    signed_in_as,
    snapshot,
)

REFUSED = "access:object:refused"
DPO_NAME = "Desmond Hiddenname"
SECOND_DPO_NAME = "Delia Secondname"

# What a valid form for each type sends (erasure: the final, confirmed step).
VALID: dict[str, dict[str, Any]] = {
    "access": {"description": "Mostly the screenshots, please."},
    "portability": {},
    "erasure": {"scope": "chosen", "categories": ["screenshots", "input_events"], "date_from": "2026-01-01",
                "date_to": "2026-06-30", "step": "confirm", "confirm": "y"},
    "rectification": {"wrong": "The 3 May window title is not mine.", "correct": "It was a shared laptop."},
    "restriction": {"scope": "all", "description": "I contest the accuracy."},
    "objection": {"purpose": "ai_training", "grounds": "I am a union representative; my activity reveals who I talk to."},
}


# --- helpers -------------------------------------------------------------------------------------

def alice_id(app: Flask) -> str:
    with app.app_context():
        alice = find_by_email("alice@example.com")
        assert alice is not None
        return alice.id


@pytest.fixture
def alice(app: Flask, client: FlaskClient) -> str:
    """alice, signed in and stepped up (as filing an erasure or an objection makes her do)."""
    signed_in_as(client)
    signed_in_as(client, stepped_up=True)
    return alice_id(app)


def make_dpo(app: Flask, email: str = "desmond@example.com", name: str = DPO_NAME) -> str:
    """A DPO of the default queue (where requests from Spain go without routing rules)."""
    dpo_id = make_employee(app, email, name=name, consents=False)
    with app.app_context():
        staff = db.session.get(Employee, dpo_id)
        assert staff is not None
        people.sync_roles(staff, [Role.DPO], actor=Actor.system())
        db.session.add(QueueMember(queue_id=services.default_queue().id, employee_id=dpo_id))
        db.session.commit()
    return dpo_id


def post_form(client: FlaskClient, page: str, data: dict[str, Any], action: str | None = None) -> Any:
    html = client.get(page).get_data(as_text=True)
    return client.post(action or page, data={"csrf_token": csrf_token(html), **data},
                       headers={"Referer": f"http://localhost{page}"})


def file_on_page(client: FlaskClient, kind: str, data: dict[str, Any] | None = None) -> Any:
    return post_form(client, f"/me/requests/new/{kind}", VALID[kind] if data is None else data)


def filed_id(response: Any) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    path = urlsplit(response.headers["Location"]).path
    assert re.fullmatch(r"/me/requests/[0-9a-f]+", path), path
    return path.rsplit("/", 1)[1]


def load(app: Flask, request_id: str) -> DataRequest:
    with app.app_context():
        found = db.session.get(DataRequest, request_id)
        assert found is not None
        db.session.expunge(found)
        return found


def requests_of(app: Flask, subject_id: str) -> list[DataRequest]:
    with app.app_context():
        found = services.requests_of(subject_id)
        db.session.expunge_all()
        return found


def events_of(app: Flask, request_id: str) -> list[tuple[str, str, bool]]:
    with app.app_context():
        return [(e.kind, e.actor_role, e.visible_to_requester) for e in db.session.scalars(
            sa.select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id))]


def file_for(app: Flask, subject_id: str, kind: RequestType = RequestType.ACCESS, **fields: Any) -> str:
    with app.app_context():
        subject = db.session.get(Employee, subject_id)
        assert subject is not None
        filed = services.file_request(subject, kind, **fields)
        db.session.commit()
        return filed.request.id


def as_dpo(app: Flask, dpo_id: str, request_id: str, *steps: str, **text: str) -> None:
    """Run DPO steps (claim, review, ask, message, note, extend) on a request, then commit."""
    with app.app_context():
        staff = db.session.get(Employee, dpo_id)
        req = db.session.get(DataRequest, request_id)
        assert staff is not None and req is not None
        for step in steps:
            if step == "claim":
                services.claim(req, staff)
            elif step == "review":
                services.start_review(req, staff)
            elif step == "ask":
                services.ask_requester(req, staff, text.get("ask", "Which laptop was it?"))
            elif step == "message":
                services.message_requester(req, staff, text.get("message", "We are on it."))
            elif step == "note":
                services.add_note(req, staff, text.get("note", "internal"))
            elif step == "extend":
                services.extend(req, staff, text.get("extend", "Many requests at once."))
            elif step == "reject":
                services.reject(req, staff, "no-data", text.get("reject", "Nothing is held."))
            else:
                raise AssertionError(step)
        db.session.commit()


def complete_directly(app: Flask, request_id: str, result: dict[str, Any], outcome: str = "Done.") -> None:
    """Bring a request to completion the way fulfilment ends (for tests that need only the end)."""
    with app.app_context():
        req = db.session.get(DataRequest, request_id)
        assert req is not None
        req.state = RequestState.FULFILLING
        services.complete(req, result=result, outcome=outcome)
        db.session.commit()


def age_sign_in(app: Flask, seconds: int = 3600) -> None:
    with app.app_context():
        db.session.execute(sa.update(AuthSession).where(AuthSession.ended_at.is_(None))
                           .values(stepped_up_at=utcnow() - timedelta(seconds=seconds)))
        db.session.commit()


def wait_for_jobs(app: Flask) -> None:
    with app.app_context():
        active = runner()
        assert isinstance(active, ThreadRunner)
        assert active.wait_idle(60), "the jobs did not finish"


def settled_snapshot(app: Flask, **kwargs: Any) -> dict[str, list[tuple[Any, ...]]]:
    """A snapshot once the e-mails queued so far are sent (a job still running would change it)."""
    wait_for_jobs(app)
    return snapshot(app, **kwargs)


# --- the list and the forms ----------------------------------------------------------------------

def test_the_list_is_empty_at_first_and_offers_every_right(client: FlaskClient, alice: str) -> None:
    page = client.get("/me/requests")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "You have not made a request yet." in html
    for kind in RequestType:
        assert f'href="/me/requests/new/{kind.value}"' in html
    assert "training AI models" in html  # objection is explained as being about AI training


def test_the_pages_carry_no_inline_script_or_style(app: Flask, client: FlaskClient, alice: str) -> None:
    request_id = filed_id(file_on_page(client, "restriction"))
    review = file_on_page(client, "erasure", {**VALID["erasure"], "step": "choose"})
    pages = [client.get(path).get_data(as_text=True) for path in (
        "/me/requests", f"/me/requests/{request_id}", *(f"/me/requests/new/{k.value}" for k in RequestType))]
    for html in [*pages, review.get_data(as_text=True)]:
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
        assert "<style" not in html and " style=" not in html and re.search(r"\son[a-z]+=", html) is None
    confirm_box = re.search(r'<input[^>]*name="confirm"[^>]*>', review.get_data(as_text=True))
    assert confirm_box is not None and "checked" not in confirm_box.group(0)  # never ticked in advance


def test_unknown_type_is_not_found(client: FlaskClient, alice: str) -> None:
    assert client.get("/me/requests/new/deletion").status_code == 404
    assert client.get("/me/requests/new/ERASURE").status_code == 404


@pytest.mark.parametrize("kind", [k.value for k in RequestType])
def test_filing_each_type(app: Flask, client: FlaskClient, alice: str, kind: str) -> None:
    assert client.get(f"/me/requests/new/{kind}").status_code == 200
    before = datetime.now(UTC)
    request_id = filed_id(file_on_page(client, kind))

    req = load(app, request_id)
    assert (req.type, req.state, req.subject_id, req.channel) == (kind, RequestState.RECEIVED, alice, Channel.PORTAL)
    expected = deadlines.deadline_for("ES", RequestType(kind), req.received_at.date())
    assert req.due_on == expected.due and req.regime == expected.regime
    assert req.received_at >= before - timedelta(seconds=5)
    assert events_of(app, request_id) == [(EventKind.FILED, "requester", True)]
    filed = [e for e in audit_entries(app, "requests:request:file") if e.targets == {"request": request_id}]
    assert len(filed) == 1 and filed[0].actor_id == alice and filed[0].details["due"] == expected.due.isoformat()

    with app.app_context():
        stored = db.session.get(DataRequest, request_id)
        assert stored is not None
        details, scope = stored.details or {}, stored.scope
    if kind == "erasure":
        assert scope == {"categories": ["input_events", "screenshots"], "date_from": "2026-01-01",
                         "date_to": "2026-06-30", "zone": "Europe/Madrid"}  # days in alice's zone
    elif kind == "restriction":
        assert scope == {"categories": [], "date_from": None, "date_to": None}
        assert details["description"] == "I contest the accuracy."
    elif kind == "objection":
        assert scope == {"purpose": "ai_training"} and details["grounds"] == VALID["objection"]["grounds"]
    elif kind == "rectification":
        assert (details["wrong"], details["correct"]) == (VALID[kind]["wrong"], VALID[kind]["correct"])

    page = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert req.reference in page and long_date(expected.due) in page  # the flash and the facts
    assert "Your request" in page and "Withdraw this request" in page
    listing = client.get("/me/requests").get_data(as_text=True)
    assert req.reference in listing and "Received" in listing


def test_erasure_asks_for_confirmation_first(app: Flask, client: FlaskClient, alice: str) -> None:
    choose = {**VALID["erasure"], "step": "choose"}
    choose.pop("confirm")
    before = settled_snapshot(app)
    review = file_on_page(client, "erasure", choose)
    assert review.status_code == 200
    html = review.get_data(as_text=True)
    assert "Confirm your erasure request" in html and "I understand this cannot be undone" in html
    assert 'name="step" value="confirm"' in html and 'value="screenshots"' in html
    # going back shows the choices again
    back = file_on_page(client, "erasure", {**choose, "step": "confirm", "back": "Change what to erase"})
    assert back.status_code == 200 and 'name="step" value="choose"' in back.get_data(as_text=True)
    assert snapshot(app) == before


INVALID: dict[str, tuple[str, dict[str, Any], str]] = {
    "rectification-no-wrong": ("rectification", {"correct": "x"}, "This field is required."),
    "rectification-no-correct": ("rectification", {"wrong": "x", "correct": "   "}, "This field is required."),
    "objection-no-grounds": ("objection", {"purpose": "ai_training", "grounds": ""}, "This field is required."),
    "objection-no-purpose": ("objection", {"grounds": "My reasons."}, "Choose what you object to."),
    "objection-unknown-purpose": ("objection", {"purpose": "screenshot_capture", "grounds": "My reasons."},
                                  "Not a valid choice."),
    "erasure-unknown-category": ("erasure", {**VALID["erasure"], "categories": ["screenshots", "dreams"]},
                                 "Some of the chosen categories do not exist."),
    "erasure-dates-reversed": ("erasure", {**VALID["erasure"], "date_from": "2026-07-01", "date_to": "2026-06-01"},
                               "The last day comes before the first day."),
    "erasure-no-confirmation": ("erasure", {k: v for k, v in VALID["erasure"].items() if k != "confirm"},
                                "cannot be undone"),
    "erasure-chosen-but-none": ("erasure", {**VALID["erasure"], "categories": []}, "Choose at least one category"),
    "erasure-bad-date": ("erasure", {**VALID["erasure"], "date_from": "yesterday"}, "Not a valid date"),
    "restriction-unknown-category": ("restriction", {"scope": "chosen", "categories": ["x"]},
                                     "Some of the chosen categories do not exist."),
    "access-too-long": ("access", {"description": "x" * 4001}, "At most 4000 characters."),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_input_is_refused_and_changes_nothing(app: Flask, client: FlaskClient, alice: str,
                                                      case: str) -> None:
    kind, data, message = INVALID[case]
    before = settled_snapshot(app, skip=frozenset())
    response = file_on_page(client, kind, data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and "Nothing was changed." in html
    assert snapshot(app, skip=frozenset()) == before
    assert requests_of(app, alice) == []


@pytest.mark.parametrize("kind", ["erasure", "objection"])
def test_erasure_and_objection_need_a_fresh_sign_in(app: Flask, client: FlaskClient, alice: str, kind: str) -> None:
    page = f"/me/requests/new/{kind}"
    token = csrf_token(client.get(page).get_data(as_text=True))
    age_sign_in(app)
    before = settled_snapshot(app, skip=frozenset())
    for response in (client.get(page),
                     client.post(page, data={"csrf_token": token, **VALID[kind]},
                                 headers={"Referer": f"http://localhost{page}"})):
        assert response.status_code == 302
        login = urlsplit(response.headers["Location"])
        assert login.path == "/auth/login"
        query = parse_qs(login.query)
        assert query["reauth"] == ["1"] and query["next"] == [page]
    assert snapshot(app, skip=frozenset()) == before
    assert requests_of(app, alice) == []
    # the other kinds do not ask
    assert client.get("/me/requests/new/access").status_code == 200


@both_databases
def test_a_repeat_is_linked_to_the_open_request(app: Flask, client: FlaskClient, alice: str) -> None:
    first = filed_id(file_on_page(client, "access"))
    response = file_on_page(client, "access", {"description": "Again"})
    second = filed_id(response)
    assert second != first
    first_ref = load(app, first).reference
    assert load(app, second).duplicate_of_id == first
    page = client.get(f"/me/requests/{second}").get_data(as_text=True)
    assert f"linked to the open request {first_ref}" in page
    assert [k for k, _r, _v in events_of(app, second)] == [EventKind.FILED, EventKind.DUPLICATE]


# --- one request ---------------------------------------------------------------------------------

@both_databases
def test_another_employees_request_is_not_found_everywhere(app: Flask, client: FlaskClient, alice: str) -> None:
    erin = make_employee(app, "erin@example.com", name="Erin Other")
    theirs = file_for(app, erin, RequestType.ERASURE, description="Erin's secret note")
    complete_directly(app, theirs, {"categories": {"screenshots": {"deleted": 3, "blocked": 0}},
                                    "key_destroyed": True})
    own = filed_id(file_on_page(client, "access"))
    token = csrf_token(client.get(f"/me/requests/{own}").get_data(as_text=True))

    before = settled_snapshot(app)
    refused_before = len(audit_entries(app, REFUSED))
    responses = [client.get(f"/me/requests/{theirs}"), client.get(f"/me/requests/{theirs}/certificate"),
                 client.post(f"/me/requests/{theirs}/answer", data={"csrf_token": token, "message": "hi"}),
                 client.post(f"/me/requests/{theirs}/withdraw", data={"csrf_token": token, "confirm": "y"})]
    for response in responses:
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        assert "Erin" not in body and theirs not in body
    refused = audit_entries(app, REFUSED)[refused_before:]
    assert [(e.actor_id, e.targets["id"], e.subject_id) for e in refused] == [(alice, theirs, erin)] * 4
    assert snapshot(app) == before
    assert load(app, theirs).state == RequestState.COMPLETED


def test_answering_only_when_asked(app: Flask, client: FlaskClient, alice: str) -> None:
    dpo = make_dpo(app)
    request_id = filed_id(file_on_page(client, "rectification"))
    page = f"/me/requests/{request_id}"
    token = csrf_token(client.get(page).get_data(as_text=True))

    before = settled_snapshot(app, skip=frozenset())
    early = client.post(f"{page}/answer", data={"csrf_token": token, "message": "Here it is"})
    assert early.status_code == 409 and "Nothing has been asked of you" in early.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before

    assert 'id="waiting-for-you"' not in client.get("/").get_data(as_text=True), "nothing is asked yet"
    as_dpo(app, dpo, request_id, "claim", "review", "ask", ask="Which laptop was it?")
    html = client.get(page).get_data(as_text=True)
    assert "Answer the Data Protection Officer" in html and 'id="question">Which laptop was it?' in html
    assert "Waiting for you" in html
    # The dashboard opens with what waits for the employee, linking to the request.
    home = client.get("/").get_data(as_text=True)
    waiting = home[home.index('id="waiting-for-you"'):]
    assert home.index('id="waiting-for-you"') < home.index('id="greeting"')
    assert f'href="/me/requests/{request_id}"' in waiting[:waiting.index("</section>")]

    before = settled_snapshot(app, skip=frozenset())
    empty = client.post(f"{page}/answer", data={"csrf_token": token, "message": "  "})
    assert empty.status_code == 400 and "This field is required." in empty.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before

    answered = client.post(f"{page}/answer", data={"csrf_token": token, "message": "The grey ThinkPad."})
    assert answered.status_code == 302
    assert load(app, request_id).state == RequestState.IN_REVIEW
    html = client.get(page).get_data(as_text=True)
    assert "The grey ThinkPad." in html and "Answer the Data Protection Officer" not in html
    assert 'id="waiting-for-you"' not in client.get("/").get_data(as_text=True), "answered: nothing waits"
    assert [e.targets for e in audit_entries(app, "requests:request:answer")] == [{"request": request_id}]


@both_databases
def test_withdrawing_needs_the_confirmation(app: Flask, client: FlaskClient, alice: str) -> None:
    request_id = filed_id(file_on_page(client, "portability"))
    page = f"/me/requests/{request_id}"
    token = csrf_token(client.get(page).get_data(as_text=True))

    before = settled_snapshot(app, skip=frozenset())
    unconfirmed = client.post(f"{page}/withdraw", data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm that you want to withdraw it." in unconfirmed.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before

    done = client.post(f"{page}/withdraw", data={"csrf_token": token, "confirm": "y"})
    assert done.status_code == 302
    assert load(app, request_id).state == RequestState.WITHDRAWN
    html = client.get(page).get_data(as_text=True)
    assert "is withdrawn" in html and "Withdraw this request" not in html
    assert [e.targets for e in audit_entries(app, "requests:request:withdraw")] == [{"request": request_id}]

    before = settled_snapshot(app, skip=frozenset())
    again = client.post(f"{page}/withdraw", data={"csrf_token": token, "confirm": "y"})
    assert again.status_code == 409 and "can no longer be withdrawn" in again.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_the_requester_sees_roles_and_messages_never_notes_or_names(app: Flask, client: FlaskClient,
                                                                     alice: str) -> None:
    dpo = make_dpo(app)
    request_id = filed_id(file_on_page(client, "objection"))
    as_dpo(app, dpo, request_id, "claim", "note", "message", "extend",
           note="INTERNAL-NOTE-do-not-show", message="We are looking into it.", extend="Many requests at once.")
    req = load(app, request_id)
    assert req.extended_due_on is not None
    html = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert "INTERNAL-NOTE-do-not-show" not in html
    assert DPO_NAME not in html and "Desmond" not in html and dpo not in html
    assert "We are looking into it." in html and "Many requests at once." in html
    assert "Data Protection Officer" in html and ">You<" in html
    assert long_date(req.extended_due_on) in html and "extended" in html
    listing = client.get("/me/requests").get_data(as_text=True)
    assert "extended" in listing and long_date(req.extended_due_on) in listing


def test_a_refusal_shows_the_legal_basis_and_reasons(app: Flask, client: FlaskClient, alice: str) -> None:
    dpo = make_dpo(app)
    request_id = filed_id(file_on_page(client, "access"))
    as_dpo(app, dpo, request_id, "claim", "reject", reject="We hold nothing of yours from that period.")
    html = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert "GDPR Art. 15(1): no personal data of the requester is processed" in html
    assert "We hold nothing of yours from that period." in html
    assert "Agencia Española de Protección de Datos" in html
    assert "Withdraw this request" not in html


def test_self_service_exports_show_as_completed_access_with_a_link(app: Flask, client: FlaskClient,
                                                                    alice: str) -> None:
    with app.app_context():
        subject = db.session.get(Employee, alice)
        assert subject is not None
        export = exports.request_export(subject, actor=Actor("employee", alice), dispatch=False)
        req = services.record_self_service_access(alice, "ES", actor=Actor("employee", alice),
                                                  details={"export": export.id})
        export.request_id = req.id
        db.session.commit()
        export_id, request_id, reference = export.id, req.id, req.reference
    listing = client.get("/me/requests").get_data(as_text=True)
    assert reference in listing and "self-service export" in listing and "Completed" in listing
    html = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert f'href="/me/exports/{export_id}"' in html
    assert "Withdraw this request" not in html


def test_a_completed_access_request_links_to_its_export(app: Flask, client: FlaskClient, alice: str) -> None:
    request_id = filed_id(file_on_page(client, "access"))
    with app.app_context():
        subject = db.session.get(Employee, alice)
        assert subject is not None
        export_id = exports.request_export(subject, actor=Actor.system(), dispatch=False,
                                           request_id=request_id).id
        db.session.commit()
    complete_directly(app, request_id, {"export": export_id, "input_events": 3})
    html = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert f'href="/me/exports/{export_id}"' in html
    assert "/certificate" not in html


# --- the deletion certificate ----------------------------------------------------------------------

def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@both_databases
def test_certificate_after_a_real_erasure(app: Flask, client: FlaskClient, alice: str) -> None:
    """Filed on the page, approved by two DPOs, carried out by the erasure job with a legal hold on
    screenshots; the certificate states the job's counts and matches the audit log."""
    with app.app_context():
        grant_all_consents(alice)
        ingest_batch(alice, events=[event(n, kind="click" if n % 2 else "site_visit") for n in range(6)],
                     screenshots=[{"screenshot_id": f"s-{n}", "captured_at": event(n)["occurred_at"],
                                   "application": "Slack", "site_domain": "slack.com",
                                   "image": _png()} for n in range(2)])
        db.session.commit()
    first, second = make_dpo(app), make_dpo(app, "delia@example.com", SECOND_DPO_NAME)
    request_id = filed_id(file_on_page(client, "erasure", {"scope": "all", "step": "confirm", "confirm": "y"}))
    with app.app_context():
        subject = db.session.get(Employee, alice)
        staff = db.session.get(Employee, first)
        assert subject is not None and staff is not None
        services.place_hold(subject, staff, categories=["screenshots"], matter_reference="M-1",
                            reason="Pending claim")
        db.session.commit()
    assert client.get(f"/me/requests/{request_id}/certificate").status_code == 404  # not done yet
    as_dpo(app, first, request_id, "claim", "review")
    with app.app_context():
        for who in (first, second):
            req = db.session.get(DataRequest, request_id)
            staff = db.session.get(Employee, who)
            assert req is not None and staff is not None
            services.approve(req, staff, erasure_ground=services.erasure_grounds(req)[0].code)
            db.session.commit()
    wait_for_jobs(app)
    req = load(app, request_id)
    assert req.state == RequestState.COMPLETED and req.result is not None, req.state
    counts = req.result["categories"]
    assert counts["screenshots"] == {"deleted": 0, "blocked": 2}
    deleted_events = counts["input_events"]["deleted"] + counts["app_activity"]["deleted"]
    assert deleted_events == 6 and req.result["key_destroyed"] is False

    page = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert f'href="/me/requests/{request_id}/certificate"' in page
    response = client.get(f"/me/requests/{request_id}/certificate")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="deletion-certificate-{req.reference}.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    text = pdf_text(response.get_data())
    assert req.reference in text and "Alice" in text and "E1001" in text
    assert "Destroyed: no" in text and "Suppressed: yes" in text
    with app.app_context():
        stored = db.session.get(DataRequest, request_id)
        assert stored is not None
        digest = certificate.facts_digest(certificate.certificate_facts(stored))
    assert digest in text.replace("\n", "")
    downloads = audit_entries(app, "requests:certificate:download")
    assert [(e.actor_id, e.targets, e.details) for e in downloads] == [
        (alice, {"request": request_id}, {"facts_sha256": digest})]


def _png() -> bytes:
    from tests.monitoring.support import png

    return png("erase me", size=(40, 30))


def test_certificate_states_the_counts(app: Flask, client: FlaskClient, alice: str) -> None:
    request_id = filed_id(file_on_page(client, "erasure", {"scope": "all", "step": "confirm", "confirm": "y"}))
    complete_directly(app, request_id, {"categories": {"input_events": {"deleted": 1234, "blocked": 0},
                                                       "screenshots": {"deleted": 17, "blocked": 5}},
                                        "key_destroyed": True})
    text = pdf_text(client.get(f"/me/requests/{request_id}/certificate").get_data())
    assert "1,234" in text and "17" in text and "5" in text and "1,251" in text  # total erased
    assert "Destroyed: yes" in text and "crypto-shredding" in text
    assert "privacy@example.com" in text or "Data Protection Officer" in text


def test_the_outcome_lists_records_of_ai_training_use_kept_as_evidence(app: Flask, client: FlaskClient,
                                                                       alice: str) -> None:
    request_id = filed_id(file_on_page(client, "erasure", {"scope": "all", "step": "confirm", "confirm": "y"}))
    complete_directly(app, request_id, {"categories": {"input_events": {"deleted": 12, "blocked": 0},
                                                       "ai_training_use": {"deleted": 0, "blocked": 0,
                                                                           "removal_required": 2}},
                                        "key_destroyed": True})
    page = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    table = page[page.index('id="erasure-counts"'):page.index("</table>", page.index('id="erasure-counts"'))]
    assert "Kept as evidence, removal required" in table
    cells = [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
             for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    assert ["Use in AI training", "0", "0", "2"] in cells and ["Input events", "12", "0", "0"] in cells


@pytest.mark.parametrize("kind", ["erasure-open", "objection-completed", "self-service-access"])
def test_no_certificate_but_for_a_completed_erasure(app: Flask, client: FlaskClient, alice: str, kind: str) -> None:
    if kind == "erasure-open":
        request_id = filed_id(file_on_page(client, "erasure", {"scope": "all", "step": "confirm", "confirm": "y"}))
    elif kind == "objection-completed":
        request_id = filed_id(file_on_page(client, "objection"))
        complete_directly(app, request_id, {"suppressed": "ai_training"})
    else:
        with app.app_context():
            request_id = services.record_self_service_access(alice, "ES", actor=Actor("employee", alice),
                                                             details={}).id
            db.session.commit()
    assert client.get(f"/me/requests/{request_id}/certificate").status_code == 404
    assert "/certificate" not in client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert audit_entries(app, "requests:certificate:download") == []


@pytest.mark.parametrize(("country", "authority", "first"), [
    ("ES", "Agencia Española de Protección de Datos", None),
    ("CO", "Superintendencia de Industria y Comercio", "Ley 1581 Art. 16"),
])
def test_a_late_answer_names_the_authority_and_how_to_complain(app: Flask, client: FlaskClient, alice: str,
                                                              country: str, authority: str, first: str | None) -> None:
    """Past its lawful date, an open request tells the employee where to complain; in Colombia it
    also says that this request was the consulta or reclamo the SIC needs first (Ley 1581 Art. 16),
    so the complaint may be made now."""
    with app.app_context():
        employee = db.session.get(Employee, alice)
        assert employee is not None
        employee.jurisdiction = country
        late = services.file_request(employee, "access", received_at=utcnow() - timedelta(days=70)).request.id
        fresh = services.file_request(employee, "portability").request.id
        db.session.commit()
    page = client.get(f"/me/requests/{late}").get_data(as_text=True)
    overdue = page[page.index('id="overdue"'):]
    overdue = overdue[:overdue.index("</section>")]
    assert "The answer is late" in overdue and authority in overdue
    assert (first is not None and first in overdue and "you may complain now" in overdue) or (
        first is None and "must come first" not in overdue)
    assert 'id="overdue"' not in client.get(f"/me/requests/{fresh}").get_data(as_text=True)


def test_no_stored_state_kind_channel_or_key_reaches_the_requester(app: Flask, client: FlaskClient,
                                                                   alice: str) -> None:
    """The requester reads words: every state, each kind, the erasure's categories; never
    ``in_review``, ``self_service`` or ``app_activity``, which are how the portal stores them."""
    ids = {}
    for state in (RequestState.RECEIVED, RequestState.OPEN, RequestState.IN_REVIEW,
                  RequestState.AWAITING_REQUESTER, RequestState.APPROVED, RequestState.FULFILLING,
                  RequestState.FAILED, RequestState.WITHDRAWN):
        ids[state] = file_for(app, alice, RequestType.ERASURE, description="Erase it",
                              categories=["app_activity", "input_events"])
        with app.app_context():
            db.session.execute(sa.update(DataRequest).where(DataRequest.id == ids[state]).values(state=state.value))
            db.session.commit()
    ids[RequestState.COMPLETED] = file_for(app, alice, RequestType.ACCESS)
    complete_directly(app, ids[RequestState.COMPLETED], {})
    raw = ([s.value for s in RequestState if "_" in s.value] + [c.value for c in Channel if "_" in c.value]
           + ["app_activity", "input_events", "ai_training_use"])

    def shown(path: str) -> str:
        response = client.get(path)
        assert response.status_code == 200, path
        page = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
        return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", page)).split())

    pages = {"/me/requests": shown("/me/requests"), "/": shown("/")}
    pages |= {f"/me/requests/{i}": shown(f"/me/requests/{i}") for i in ids.values()}
    for path, text in pages.items():
        for value in raw:
            assert value not in text, (path, value)


def test_an_objection_names_its_purpose_on_the_form_and_on_the_request(app: Flask, client: FlaskClient,
                                                                       alice: str) -> None:
    """GDPR Art. 21: the employee chooses the purpose objected to among the legitimate-interest ones
    and AI training; the request states it back in words."""
    form = client.get("/me/requests/new/objection").get_data(as_text=True)
    for value in ("ai_training", "analytics", "security_monitoring"):
        assert f'value="{value}"' in form
    assert 'value="screenshot_capture"' not in form
    assert "compelling legitimate grounds" in form
    request_id = filed_id(file_on_page(client, "objection", {**VALID["objection"], "purpose": "analytics"}))
    assert load(app, request_id).scope == {"purpose": "analytics"}
    page = client.get(f"/me/requests/{request_id}").get_data(as_text=True)
    assert "Productivity analytics and profiling" in page and "train and evaluate AI models" not in page
