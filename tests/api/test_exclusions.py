"""The exclusions feed and check (by training pseudonym), the pseudonym on the dashboard, and
request status for service desks."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from portal import create_app
from portal.api import exclusions as feed
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, ExclusionChange, Purpose
from portal.db import utcnow
from portal.extensions import db
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym, subject_of
from portal.rights import services as rights
from portal.rights.models import RequestState, RequestType, Restriction
from tests.conftest import app_config, both_databases
from tests.helpers import existing, json_of, make_employee
from tests.policy.support import signed_in

FEED = "/api/v1/exclusions"


@pytest.fixture
def reader(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('exclusions:read', name='training pipeline')}"}


def withdraw(subject: str, purpose: Purpose = Purpose.AI_TRAINING, decision: Decision = Decision.WITHDRAWN) -> None:
    consent.decide(subject, purpose, decision, actor=Actor("employee", subject), method="test", device="test",
                   policy_version=None)


def people(app: Flask) -> dict[str, str]:
    """One employee per reason, excluded in this order; and one who is not."""
    ids = {name: make_employee(app, f"{name}@example.com") for name in
           ("withdrew", "objected", "restricted", "erased", "fine")}
    with app.app_context():
        withdraw(ids["withdrew"])
        rights.suppress(ids["objected"], "objection")
        filed = rights.file_request(existing(Employee, ids["restricted"]), RequestType.RESTRICTION).request
        rights.place_restriction(filed.id, ids["restricted"], ["screenshots"])
        rights.suppress(ids["erased"], "erasure")
        db.session.commit()
    return ids


def items(response: Any) -> list[tuple[str, str, str, str, list[str] | None]]:
    return [(i["pseudonym"], i["purpose"], i["state"], i["reason"], i["categories"]) for i in json_of(response)["items"]]


def restriction_of(subject: str) -> Restriction:
    return db.session.scalars(select(Restriction).where(Restriction.subject_id == subject)).one()


@both_databases
def test_the_feed_is_every_change_in_order_and_polls_exactly_what_changed_since(
        app: Flask, client: FlaskClient, reader: dict[str, str]) -> None:
    ids = people(app)
    with app.app_context():
        p = {name: pseudonym(subject) for name, subject in ids.items()}
    first = client.get(FEED, headers=reader)
    assert first.status_code == 200 and json_of(first)["more"] is False
    assert items(first) == [
        (p["withdrew"], "ai_training", "excluded", "consent_withdrawn", None),
        (p["objected"], "ai_training", "excluded", "objection_upheld", None),
        (p["restricted"], "ai_training", "excluded", "restriction", None),
        (p["restricted"], "analytics", "excluded", "restriction", ["screenshots"]),
        (p["erased"], "ai_training", "excluded", "erasure", None)]
    assert all(i["excluded"] is True for i in json_of(first)["items"])
    body = first.get_data(as_text=True)
    for subject in ids.values():
        assert subject not in body, "surrogate ids never leave the portal"

    cursor = json_of(first)["next"]
    opened = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert not any(subject.encode() in opened or bytes.fromhex(subject) in opened for subject in ids.values())
    with app.app_context():
        position = feed.decode_cursor(cursor)
        assert position == db.session.scalar(select(func.max(ExclusionChange.id)))
    assert len(opened) == 16 and position.to_bytes(8, "big") not in opened, \
        "the cursor is the log's position encrypted, no row number in clear"
    assert items(client.get(f"{FEED}?after={cursor}", headers=reader)) == []
    assert json_of(client.get(f"{FEED}?after={cursor}", headers=reader))["next"] == cursor

    # Consent given again, a restriction lifted: each is a change after the cursor, marked lifted.
    with app.app_context():
        withdraw(ids["fine"], Purpose.SCREENSHOT_CAPTURE)
        withdraw(ids["withdrew"], decision=Decision.GRANTED)
        _lift(restriction_of(ids["restricted"]))
        db.session.commit()
    newer = client.get(f"{FEED}?after={cursor}", headers=reader)
    assert items(newer) == [
        (p["fine"], "screenshot_capture", "excluded", "consent_withdrawn", None),
        (p["withdrew"], "ai_training", "lifted", "consent_withdrawn", None),
        (p["restricted"], "analytics", "lifted", "restriction", ["screenshots"]),
        (p["restricted"], "ai_training", "lifted", "restriction", None)]
    assert [i["excluded"] for i in json_of(newer)["items"]] == [True, False, False, False]
    # The single check agrees: nothing excludes them now.
    for name in ("withdrew", "restricted"):
        assert json_of(client.get(f"{FEED}/{p[name]}", headers=reader))["exclusions"] == []

    # Excluded again: the change appears again, after the lift, and only it after the new cursor.
    later = json_of(newer)["next"]
    with app.app_context():
        withdraw(ids["withdrew"])
        db.session.commit()
    again = client.get(f"{FEED}?after={later}", headers=reader)
    assert items(again) == [(p["withdrew"], "ai_training", "excluded", "consent_withdrawn", None)]
    # The whole log read again: the same order as before, the newer changes after it.
    whole = items(client.get(FEED, headers=reader))
    assert whole == items(first) + items(newer) + items(again)


def test_a_lift_that_leaves_a_stronger_exclusion_in_force_is_not_a_lift(app: Flask, ctx: None) -> None:
    """Consent given again after an upheld objection, or a restriction lifted after an erasure,
    lifts nothing: the stronger reason stays, and the feed says nothing new."""
    subject = make_employee(app, "olga@example.com")
    withdraw(subject)
    rights.suppress(subject, "objection")
    filed = rights.file_request(existing(Employee, subject), RequestType.RESTRICTION).request
    rights.place_restriction(filed.id, subject, [])
    _, cursor, _ = feed.page(None)
    withdraw(subject, decision=Decision.GRANTED)
    _lift(restriction_of(subject))
    changes, _, _ = feed.page(cursor)
    assert [(c.purpose, c.state, c.reason) for c in changes] == [("analytics", "lifted", "restriction")]
    assert [(e.purpose, e.reason) for e in feed.check(pseudonym(subject)) or []] == [
        ("ai_training", "objection_upheld")]
    with pytest.raises(rights.RequestError):
        _lift(restriction_of(subject))


def test_pages_follow_each_other_without_gaps_or_repeats(app: Flask, ctx: None) -> None:
    ids = people(app)
    withdraw(ids["withdrew"], decision=Decision.GRANTED)
    withdraw(ids["withdrew"])
    seen: list[tuple[str, str, str]] = []
    after = None
    pages = 0
    while True:
        page, after, more = feed.page(after, limit=2)
        pages += 1
        seen.extend((i.pseudonym, i.purpose, i.state) for i in page)
        if not more:
            break
    everything, _, _ = feed.page(None)
    assert seen == [(i.pseudonym, i.purpose, i.state) for i in everything] and len(seen) == 7 and pages == 4
    assert [i.state for i in everything[-2:]] == ["lifted", "excluded"]


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ4IiwwLFtdXQ", "%%%", "AAAAAAAAAAAAAAAAAAAAAA"])
def test_a_cursor_not_made_by_the_feed_is_a_400(client: FlaskClient, reader: dict[str, str], cursor: str) -> None:
    response = client.get(f"{FEED}?after={cursor}", headers=reader)
    assert response.status_code == 400 and json_of(response)["type"] == "/api/docs#problem-bad-cursor"


def test_one_check_per_pseudonym(app: Flask, client: FlaskClient, reader: dict[str, str]) -> None:
    ids = people(app)
    never = make_employee(app, "never@example.com", consents=False)
    with app.app_context():
        p = {name: pseudonym(subject) for name, subject in {**ids, "never": never}.items()}
    fine = client.get(f"{FEED}/{p['fine']}", headers=reader)
    assert fine.status_code == 200 and fine.json == {"pseudonym": p["fine"], "exclusions": []}
    restricted = json_of(client.get(f"{FEED}/{p['restricted']}", headers=reader))["exclusions"]
    assert [(e["purpose"], e["reason"]) for e in restricted] == [("ai_training", "restriction"),
                                                                ("analytics", "restriction")]
    never_consented = json_of(client.get(f"{FEED}/{p['never']}", headers=reader))["exclusions"]
    assert [(e["purpose"], e["reason"]) for e in never_consented] == [("ai_training", "consent_not_given")]
    for missing in ("tp_" + "a" * 26, "tp_short", ids["fine"]):
        response = client.get(f"{FEED}/{missing}", headers=reader)
        assert response.status_code == 404 and json_of(response)["type"] == "/api/docs#problem-not-found"


def test_the_pseudonym_is_stable_per_deployment_and_shown_to_the_employee(app: Flask, client: FlaskClient,
                                                                          tmp_path: Path, idp_url: str) -> None:
    alice = signed_in(app, client, "alice@example.com")
    with app.app_context():
        mine = pseudonym(alice)
        assert subject_of(mine) == alice and pseudonym(alice) == mine
    html = client.get("/").get_data(as_text=True)
    assert f"<code>{mine}</code>" in html and "Your id in training data" in html
    settings = app.config["PORTAL_SETTINGS"]
    other = create_app(app_config(tmp_path / "other", idp_url, settings.database_url))
    with other.app_context():
        assert pseudonym(alice) != mine, "another deployment (master key) gives another pseudonym"


def test_request_status_shows_state_and_deadline_only(app: Flask, client: FlaskClient,
                                                      make_token: Callable[..., str]) -> None:
    subject = make_employee(app, "rita@example.com")
    with app.app_context():
        filed = rights.file_request(existing(Employee, subject), RequestType.ERASURE,
                                      description="Please erase my screenshots").request
        db.session.commit()
        request_id, due = filed.id, filed.due_on
        assert due is not None
    desk = {"Authorization": f"Bearer {make_token('requests:read', name='service desk')}"}
    answer = client.get(f"/api/v1/requests/{request_id}", headers=desk)
    assert answer.status_code == 200
    assert answer.json == {"id": request_id, "state": RequestState.RECEIVED.value, "due": due.isoformat(),
                           "extended_due": None, "open": True}
    assert isinstance(due, date)
    body = answer.get_data(as_text=True)
    assert "erase" not in body and subject not in body and "rita" not in body
    for missing in ("0" * 32, "not-an-id", "../admin"):
        response = client.get(f"/api/v1/requests/{missing}", headers=desk)
        assert response.status_code == 404 and response.mimetype == "application/problem+json"


@both_databases
def test_a_change_committed_late_is_not_passed_by_a_poller(app: Flask) -> None:
    """The log's order is its commit order: while one transaction holds an unfinished change, a
    second waits before its change gets a position, so a poller never passes over the first."""
    first, second = make_employee(app, "first@example.com"), make_employee(app, "second@example.com")
    outcome: dict[str, Any] = {}

    def the_second() -> None:
        with app.app_context():
            try:
                withdraw(second)
                db.session.commit()
                outcome["done"] = True
            except Exception as exc:  # reported to the test below
                outcome["error"] = exc
                db.session.rollback()

    with app.app_context():
        # The change alone, before the service's own audit entry: its position is given, and the
        # transaction stays open.
        consent.log_exclusion(first, Purpose.AI_TRAINING.value, "objection", excluded=True)
        db.session.flush()
        thread = threading.Thread(target=the_second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second change waits for the first to commit"
        db.session.commit()
        thread.join(10)
    assert outcome.get("done") or isinstance(outcome.get("error"), OperationalError), outcome
    with app.app_context():
        changes, _, _ = feed.page(None)
        order = [c.pseudonym for c in changes]
        assert order[0] == pseudonym(first)
        assert order == [pseudonym(first), pseudonym(second)] if outcome.get("done") else [pseudonym(first)]


def _lift(restriction: Restriction) -> None:
    """Lift as the DPO's action does once the employee has been told (rights.restrictions.lift)."""
    restriction.lift_notified_at = utcnow()
    rights.lift_restriction(restriction, actor=Actor.system())
