"""Step-up: a sensitive view needs a recent sign-in; an old one is sent back to the IdP with
``prompt=login`` and ``max_age``, and the portal checks the new ``auth_time`` against its clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from portal.audit.models import AuditEntry
from portal.auth.models import AuthSession
from portal.auth.stepup import fresh_sign_in_required
from portal.db import utcnow
from portal.extensions import db
from portal.security import SIGNED_IN, signed_in
from tests.conftest import set_idp_user
from tests.helpers import authorize_at_idp, local_path, sign_in

SENSITIVE = "/test-only/sensitive"


@pytest.fixture
def app(app: Flask) -> Flask:
    """The portal with a test-only sensitive view (registered before the first request)."""

    @fresh_sign_in_required
    @signed_in
    def sensitive() -> str:
        return "the sensitive thing"

    app.add_url_rule(SENSITIVE, "test_only_sensitive", sensitive)
    return app


def step_up_seconds(app: Flask) -> int:
    seconds: int = app.config["PORTAL_SETTINGS"].step_up_seconds
    return seconds


def all_sessions(app: Flask) -> list[AuthSession]:
    with app.app_context():
        found = list(db.session.scalars(select(AuthSession).order_by(AuthSession.created_at)))
        db.session.expunge_all()
        return found


def age_sign_in(app: Flask, seconds: int) -> None:
    with app.app_context():
        db.session.execute(update(AuthSession).where(AuthSession.ended_at.is_(None))
                           .values(auth_time=utcnow() - timedelta(seconds=seconds)))
        db.session.commit()


def refusals(app: Flask) -> list[dict]:
    with app.app_context():
        return [e.details for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.tag == "auth:sign-in:refused").order_by(AuditEntry.seq))]


def reauthenticate(client: FlaskClient, sub: str):  # type: ignore[no-untyped-def]
    """Open the sensitive view with an old sign-in and follow the step-up through the IdP."""
    prompt = client.get(SENSITIVE)
    assert prompt.status_code == 302
    login = urlsplit(prompt.headers["Location"])
    assert login.path == "/auth/login"
    query = parse_qs(login.query)
    assert query["reauth"] == ["1"] and urlsplit(query["next"][0]).path == SENSITIVE

    start = client.get(prompt.headers["Location"])
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    return authorize_url, client.get(local_path(authorize_at_idp(authorize_url, sub)))


def test_the_sensitive_view_declares_its_rule(app: Flask) -> None:
    assert app.view_functions["test_only_sensitive"].access_rule == SIGNED_IN


def test_anonymous_visitors_sign_in_first(app: Flask, client: FlaskClient) -> None:
    response = client.get(SENSITIVE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login?next=")


def test_fresh_sign_in_passes_and_an_old_one_steps_up(app: Flask, client: FlaskClient, idp_url: str) -> None:
    assert sign_in(client, "alice@example.com").status_code == 302
    assert client.get(SENSITIVE).status_code == 200
    age_sign_in(app, step_up_seconds(app) - 30)
    assert client.get(SENSITIVE).status_code == 200, "still within PORTAL_STEP_UP_SECONDS"

    age_sign_in(app, step_up_seconds(app) + 30)
    (old,) = all_sessions(app)
    authorize_url, callback = reauthenticate(client, "alice@example.com")

    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{idp_url}/oauth2/authorize")
    assert query["prompt"] == ["login"]
    assert query["max_age"] == [str(step_up_seconds(app))]

    assert callback.status_code == 302
    assert urlsplit(callback.headers["Location"]).path == SENSITIVE
    followed = client.get(callback.headers["Location"])
    assert followed.status_code == 200 and followed.get_data(as_text=True) == "the sensitive thing"

    ended, fresh = all_sessions(app)
    assert ended.id == old.id and ended.ended_at is not None and ended.end_reason == "re-authenticated"
    assert fresh.ended_at is None and fresh.employee_id == old.employee_id
    assert abs((fresh.auth_time - datetime.now(UTC)).total_seconds()) < 30
    assert client.get("/account/sessions").status_code == 200


def test_reauthentication_with_a_stale_auth_time_is_refused(app: Flask, client: FlaskClient, idp_url: str) -> None:
    sub = "stale-sam@example.com"
    set_idp_user(idp_url, sub, {"email": sub, "name": "Sam Stale", "country": "ES",
                                "auth_time": int(time.time()) - 3600})
    assert sign_in(client, sub).status_code == 302, "an ordinary sign-in takes the IdP's word for auth_time"
    (old,) = all_sessions(app)
    assert (datetime.now(UTC) - old.auth_time) > timedelta(minutes=59)

    _, callback = reauthenticate(client, sub)
    assert callback.status_code == 400
    assert "could not sign you in" in callback.get_data(as_text=True)
    assert refusals(app) == [{"reason": "auth-time-stale"}]
    sessions = all_sessions(app)
    assert [s.id for s in sessions] == [old.id], "no new session was started"
    assert client.get(SENSITIVE).status_code == 302
