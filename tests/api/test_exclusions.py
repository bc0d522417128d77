"""The exclusions feed and check (by training pseudonym), the pseudonym on the dashboard, and
request status for service desks."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.api import exclusions as feed
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose, Suppression
from portal.db import utcnow
from portal.extensions import db
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym, subject_of
from portal.requests import services as requests
from portal.requests.models import RequestState, RequestType, Restriction
from tests.conftest import app_config, both_databases
from tests.helpers import make_employee
from tests.policy.support import signed_in

FEED = "/api/v1/exclusions"


@pytest.fixture
def reader(make_token: Callable[..., str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('exclusions:read', name='training pipeline')}"}


def withdraw(subject: str, purpose: Purpose = Purpose.AI_TRAINING, decision: Decision = Decision.WITHDRAWN) -> None:
    consent.decide(subject, purpose, decision, actor=Actor("employee", subject), method="test", device="test",
                   policy_version=None)


def people(app: Flask) -> dict[str, str]:
    """One employee per reason, excluded in this order, a second apart; and one who is not."""
    ids = {name: make_employee(app, f"{name}@example.com") for name in
           ("withdrew", "objected", "restricted", "erased", "fine")}
    with app.app_context():
        withdraw(ids["withdrew"])
        requests.suppress(ids["objected"], "objection")
        filed = requests.file_request(db.session.get(Employee, ids["restricted"]), RequestType.RESTRICTION).request
        db.session.add(Restriction(request_id=filed.id, subject_id=ids["restricted"], categories=["screenshots"]))
        requests.suppress(ids["restricted"], "restriction")
        requests.suppress(ids["erased"], "erasure")
        db.session.flush()
        base = utcnow() - timedelta(hours=1)
        for n, name in enumerate(("withdrew", "objected", "restricted", "erased")):
            row = db.session.get(Suppression, (ids[name], Purpose.AI_TRAINING.value))
            row.since = base + timedelta(seconds=n)
        restriction = db.session.query(Restriction).one()
        restriction.since = base + timedelta(seconds=2, milliseconds=500)
        db.session.commit()
    return ids


def items(response: Any) -> list[tuple[str, str, str, list[str] | None]]:
    return [(i["pseudonym"], i["purpose"], i["reason"], i["categories"]) for i in response.json["items"]]


@both_databases
def test_the_feed_lists_every_exclusion_oldest_first_and_polls_only_what_is_new(
        app: Flask, client: FlaskClient, reader: dict[str, str]) -> None:
    ids = people(app)
    with app.app_context():
        p = {name: pseudonym(subject) for name, subject in ids.items()}
    first = client.get(FEED, headers=reader)
    assert first.status_code == 200 and first.json["more"] is False  # type: ignore[index]
    assert items(first) == [
        (p["withdrew"], "ai_training", "consent_withdrawn", None),
        (p["objected"], "ai_training", "objection_upheld", None),
        (p["restricted"], "ai_training", "restriction", None),
        (p["restricted"], "analytics", "restriction", ["screenshots"]),
        (p["erased"], "ai_training", "erasure", None)]
    assert all(i["excluded"] is True for i in first.json["items"])  # type: ignore[index]
    body = first.get_data(as_text=True)
    for subject in ids.values():
        assert subject not in body, "surrogate ids never leave the portal"

    cursor = first.json["next"]  # type: ignore[index]
    opened = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert not any(subject in opened for subject in ids.values()), "the cursor holds no internal id"
    assert items(client.get(f"{FEED}?after={cursor}", headers=reader)) == []
    with app.app_context():
        withdraw(ids["fine"], Purpose.SCREENSHOT_CAPTURE)
        db.session.commit()
    newer = client.get(f"{FEED}?after={cursor}", headers=reader)
    assert items(newer) == [(p["fine"], "screenshot_capture", "consent_withdrawn", None)]
    # Consent given again lifts that exclusion: it leaves the feed.
    with app.app_context():
        withdraw(ids["withdrew"], decision=Decision.GRANTED)
        db.session.commit()
    assert p["withdrew"] not in {i[0] for i in items(client.get(FEED, headers=reader))}


def test_pages_follow_each_other_without_gaps_or_repeats(app: Flask, ctx: None) -> None:
    people(app)
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        page, after, more = feed.page(after, limit=2)
        seen.extend((i.pseudonym, i.purpose) for i in page)
        if not more:
            break
    everything, _, _ = feed.page(None)
    assert seen == [(i.pseudonym, i.purpose) for i in everything] and len(seen) == 5


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ4IiwwLFtdXQ", "%%%"])
def test_a_cursor_not_made_by_the_feed_is_a_400(client: FlaskClient, reader: dict[str, str], cursor: str) -> None:
    response = client.get(f"{FEED}?after={cursor}", headers=reader)
    assert response.status_code == 400 and response.json["type"] == "/api/docs#problem-bad-cursor"  # type: ignore[index]


def test_one_check_per_pseudonym(app: Flask, client: FlaskClient, reader: dict[str, str]) -> None:
    ids = people(app)
    never = make_employee(app, "never@example.com", consents=False)
    with app.app_context():
        p = {name: pseudonym(subject) for name, subject in {**ids, "never": never}.items()}
    fine = client.get(f"{FEED}/{p['fine']}", headers=reader)
    assert fine.status_code == 200 and fine.json == {"pseudonym": p["fine"], "exclusions": []}
    restricted = client.get(f"{FEED}/{p['restricted']}", headers=reader).json["exclusions"]  # type: ignore[index]
    assert [(e["purpose"], e["reason"]) for e in restricted] == [("ai_training", "restriction"),
                                                                ("analytics", "restriction")]
    never_consented = client.get(f"{FEED}/{p['never']}", headers=reader).json["exclusions"]  # type: ignore[index]
    assert [(e["purpose"], e["reason"]) for e in never_consented] == [("ai_training", "consent_not_given")]
    for missing in ("tp_" + "a" * 26, "tp_short", ids["fine"]):
        response = client.get(f"{FEED}/{missing}", headers=reader)
        assert response.status_code == 404 and response.json["type"] == "/api/docs#problem-not-found"  # type: ignore[index]


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
        filed = requests.file_request(db.session.get(Employee, subject), RequestType.ERASURE,
                                      description="Please erase my screenshots").request
        db.session.commit()
        request_id, due = filed.id, filed.due_on
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
