"""The consent page: grant and withdraw per purpose, the ledger, and what withdrawal does at once
(ingestion refuses screenshots, the AI side's suppression list and gate)."""

from __future__ import annotations

import re
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import ConsentEvent, Purpose, Suppression
from portal.extensions import db
from portal.monitoring.ingest import IngestError, ingest_batch
from portal.training.models import SnapshotMember
from tests.conftest import both_databases
from tests.helpers import event, grant_all_consents, make_employee
from tests.monitoring.support import shot
from tests.monitoring.support import snapshot as ingest_snapshot
from tests.policy.support import REFUSED, audit, publish, signed_in, snapshot, token, without_csrf

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def decide(client: FlaskClient, purpose: str, action: str, *, csrf: str | None = None) -> int:
    data = {"csrf_token": csrf if csrf is not None else token(client)}
    return client.post(f"/me/consent/{purpose}/{action}", data=data, headers={"User-Agent": FIREFOX}).status_code


def ledger_rows(app: Flask, subject_id: str) -> list[tuple[object, ...]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            sa.select(ConsentEvent.id, ConsentEvent.purpose, ConsentEvent.decision, ConsentEvent.policy_version,
                      ConsentEvent.decided_at, ConsentEvent.method, ConsentEvent.device)
            .where(ConsentEvent.subject_id == subject_id).order_by(ConsentEvent.id))]


@pytest.fixture
def alice(app: Flask, client: FlaskClient) -> str:
    """Alice, signed in, having consented to every purpose (as the demo does)."""
    subject = signed_in(app, client)
    with app.app_context():
        grant_all_consents(subject)
        db.session.commit()
    return subject


def test_a_new_employee_sees_every_consent_purpose_and_an_empty_ledger(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    html = client.get("/me/consent").get_data(as_text=True)
    for name in ("Screenshots", "Use in AI training"):
        assert f"<h3>{name}</h3>" in html
    assert html.count("Consent not given") == 2
    assert html.count(">Give consent<") == 2 and "Withdraw consent" not in html
    assert "A withdrawal takes effect immediately." in html
    assert "You have not made any consent decision yet." in html


@both_databases
def test_withdrawing_ai_training_suppresses_at_once_and_the_gate_refuses(app: Flask, client: FlaskClient,
                                                                         alice: str) -> None:
    html = client.get("/me/consent").get_data(as_text=True)
    assert html.count("Consent given") == 2 and html.count(">Withdraw consent<") == 2

    assert decide(client, "ai_training", "withdraw") == 302
    with app.app_context():
        assert consent.is_suppressed(alice)
        stopped = consent.suppression(alice, Purpose.AI_TRAINING)
        assert stopped is not None and stopped.reason == "consent-withdrawn"
        with pytest.raises(consent.SuppressedError):
            consent.record_training_use(alice, dataset="activity-v7", snapshot="2026-11", record_count=10,
                                        used_on=date(2026, 11, 1), model="cursor-lm", actor=Actor.system())
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SnapshotMember)) == 0
        assert not consent.is_suppressed(alice, Purpose.SCREENSHOT_CAPTURE), "the other purpose is untouched"

    page = client.get("/me/consent").get_data(as_text=True)
    assert "withdrawn, with immediate effect" in page
    section = page.split('id="purpose-ai_training"')[1].split("</li>")[0]
    assert "Consent withdrawn" in section and ">Give consent<" in section
    (entry,) = audit(app, "consent:ai-training:withdraw")[-1:]
    assert (entry.actor_id, entry.subject_id, entry.details["method"]) == (alice, alice, "portal")


def test_withdrawing_screenshot_consent_makes_ingestion_refuse_screenshots(app: Flask, client: FlaskClient,
                                                                          alice: str) -> None:
    with app.app_context():
        ingest_batch(alice, events=[], screenshots=[shot(1)])  # accepted while consent is given
        db.session.commit()
    assert decide(client, "screenshot_capture", "withdraw") == 302
    with app.app_context():
        before = ingest_snapshot(app)
        with pytest.raises(IngestError, match="consented to screenshot capture"):
            ingest_batch(alice, events=[event(2)], screenshots=[shot(2)])
        db.session.rollback()
        assert ingest_snapshot(app) == before, "a refused batch stores nothing, not even its events"
        ingest_batch(alice, events=[event(3)], screenshots=[])  # events rest on another basis
        db.session.commit()


def test_granting_again_lifts_the_suppression(app: Flask, client: FlaskClient, alice: str) -> None:
    assert decide(client, "ai_training", "withdraw") == 302
    assert decide(client, "ai_training", "grant") == 302
    with app.app_context():
        assert not consent.is_suppressed(alice)
        use = consent.record_training_use(alice, dataset="activity-v7", snapshot="2026-11", record_count=10,
                                          used_on=date(2026, 11, 1), model="cursor-lm", actor=Actor.system())
        db.session.commit()
        assert use.snapshot_id is not None and use.snapshot == "2026-11" and use.removal is None
    assert [e.subject_id for e in audit(app, "monitoring:training-use:record")] == [alice]


def test_granting_again_does_not_lift_a_suppression_from_an_objection(app: Flask, client: FlaskClient,
                                                                      alice: str) -> None:
    with app.app_context():
        db.session.add(Suppression(subject_id=alice, purpose=Purpose.AI_TRAINING.value, reason="objection"))
        db.session.commit()
    assert decide(client, "ai_training", "withdraw") == 302
    assert decide(client, "ai_training", "grant") == 302
    with app.app_context():
        stopped = consent.suppression(alice, Purpose.AI_TRAINING)
        assert stopped is not None and stopped.reason == "objection"
        with pytest.raises(consent.SuppressedError):
            consent.record_training_use(alice, dataset="d", snapshot="s", record_count=1, used_on=date(2026, 1, 1),
                                        model="m", actor=Actor.system())
    html = client.get("/me/consent").get_data(as_text=True)
    assert "because your objection was upheld" in html


@both_databases
def test_the_ledger_is_append_only_complete_and_newest_first(app: Flask, client: FlaskClient, alice: str) -> None:
    number = publish(app, "# Policy\n\nText.")
    initial = ledger_rows(app, alice)
    assert len(initial) == 2
    for action in ("withdraw", "grant", "withdraw"):
        assert decide(client, "ai_training", action) == 302
    rows = ledger_rows(app, alice)
    assert rows[:2] == initial, "earlier entries are never changed"
    assert [(r[1], r[2], r[3], r[5], r[6]) for r in rows[2:]] == [
        ("ai_training", decision, number, "portal", "Firefox on Linux")
        for decision in ("withdrawn", "granted", "withdrawn")]

    html = client.get("/me/consent").get_data(as_text=True)
    table = html.split('id="ledger-table"')[1]
    links = re.findall(r'href="/me/consent/entries/(\d+)"', table)
    assert [int(i) for i in links] == [r[0] for r in reversed(rows)], "every entry, newest first"
    assert table.count("Firefox on Linux") == 3 and table.count(f"Version {number}") == 3
    assert [e.details["policy_version"] for e in audit(app, "consent:ai-training:withdraw")] == [number, number]


@pytest.mark.parametrize(("purpose", "action"), [("ai_training", "grant"), ("screenshot_capture", "grant")])
def test_repeating_the_decision_in_force_changes_nothing(app: Flask, client: FlaskClient, alice: str,
                                                         purpose: str, action: str) -> None:
    csrf = token(client)
    before = snapshot(app, skip=frozenset())
    response = client.post(f"/me/consent/{purpose}/{action}", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"] == "/me/consent"
    assert snapshot(app, skip=frozenset()) == before
    assert "You had already given this consent; nothing changed." in client.get("/me/consent").get_data(as_text=True)


def test_withdrawing_what_was_never_given_changes_nothing(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client)
    csrf = token(client)
    before = snapshot(app, skip=frozenset())
    assert decide(client, "ai_training", "withdraw", csrf=csrf) == 302
    assert snapshot(app, skip=frozenset()) == before
    assert "there is nothing to withdraw" in client.get("/me/consent").get_data(as_text=True)


@pytest.mark.parametrize("path", ["/me/consent/marketing/grant", "/me/consent/AI_TRAINING/withdraw",
                                  "/me/consent/ai_training/delete"])
def test_an_unknown_purpose_or_action_is_not_found(app: Flask, client: FlaskClient, alice: str, path: str) -> None:
    csrf = token(client)
    before = snapshot(app, skip=frozenset())
    assert client.post(path, data={"csrf_token": csrf}).status_code == 404
    assert snapshot(app, skip=frozenset()) == before


@pytest.mark.parametrize("action", ["grant", "withdraw"])
@pytest.mark.parametrize("data", [{}, {"csrf_token": "forged"}])
def test_decisions_need_a_csrf_token(app: Flask, client: FlaskClient, alice: str, action: str,
                                     data: dict[str, str]) -> None:
    if action == "grant":
        assert decide(client, "ai_training", "withdraw") == 302
    before = snapshot(app, skip=frozenset())
    response = client.post(f"/me/consent/ai_training/{action}", data=data)
    assert response.status_code == 400 and "Your form expired" in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_signed_out_visitors_are_sent_to_sign_in_and_nothing_changes(app: Flask, client: FlaskClient,
                                                                     alice: str) -> None:
    anonymous = app.test_client()
    before = snapshot(app)
    assert anonymous.get("/me/consent").headers["Location"].startswith("/auth/login?next=")
    assert anonymous.get("/me/consent/entries/1").headers["Location"].startswith("/auth/login?next=")
    assert snapshot(app) == before


def test_reading_the_pages_changes_nothing(app: Flask, client: FlaskClient, alice: str) -> None:
    (first, *_rest) = ledger_rows(app, alice)
    before = snapshot(app)
    for path in ("/me/consent", f"/me/consent/entries/{first[0]}", "/me/consent/ai_training/withdraw"):
        assert client.get(path).status_code in (200, 405)
    assert snapshot(app) == before


@both_databases
def test_one_entry_is_shown_to_its_owner_and_to_nobody_else(app: Flask, client: FlaskClient, alice: str) -> None:
    other = make_employee(app, "erin@example.com", name="Erin Other")
    own_id = ledger_rows(app, alice)[0][0]
    their_id = ledger_rows(app, other)[0][0]

    page = client.get(f"/me/consent/entries/{own_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Consent decision" in body and "Granted" in body and "No policy version was published then." in body

    refused_before = len(audit(app, REFUSED))
    before = snapshot(app)
    theirs = client.get(f"/me/consent/entries/{their_id}")
    missing = client.get("/me/consent/entries/999999")
    assert theirs.status_code == missing.status_code == 404
    assert without_csrf(theirs.get_data(as_text=True)) == without_csrf(missing.get_data(as_text=True))
    refused = audit(app, REFUSED)[refused_before:]
    assert [(e.actor_id, e.subject_id, e.targets) for e in refused] == [
        (alice, other, {"type": "consent_events", "id": str(their_id)}),
        (alice, None, {"type": "consent_events", "id": "999999"})]
    assert snapshot(app) == before
