"""Step-up: a sensitive view needs a re-authentication that the portal itself asked the IdP for
(``prompt=login``, ``max_age=0``) within PORTAL_STEP_UP_SECONDS, proved by an ``auth_time`` from
after the request was sent. An ordinary sign-in, silent or not, never counts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from portal.auth.models import AuthSession
from portal.auth.stepup import fresh_sign_in_required
from portal.db import utcnow
from portal.extensions import db
from portal.security import SIGNED_IN, access_rule, signed_in
from tests.conftest import set_idp_auth_time, set_idp_user
from tests.helpers import audit_entries, authorize_at_idp, local_path, replace_query, sign_in, snapshot

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


@pytest.fixture
def sub(idp_url: str) -> str:
    """A person of this test's own at the IdP (the IdP outlives the test; its settings for them too)."""
    email = f"step-{time.time_ns()}@example.com"
    set_idp_user(idp_url, email, {"email": email, "email_verified": True, "name": "Sam Step", "country": "ES"})
    return email


def step_up_seconds(app: Flask) -> int:
    seconds: int = app.config["PORTAL_SETTINGS"].step_up_seconds
    return seconds


def all_sessions(app: Flask) -> list[AuthSession]:
    with app.app_context():
        found = list(db.session.scalars(select(AuthSession).order_by(AuthSession.created_at)))
        db.session.expunge_all()
        return found


def age_step_up(app: Flask, seconds: int) -> None:
    with app.app_context():
        db.session.execute(update(AuthSession).where(AuthSession.ended_at.is_(None))
                           .values(stepped_up_at=utcnow() - timedelta(seconds=seconds)))
        db.session.commit()


def refusals(app: Flask) -> list[dict]:
    return [e.details for e in audit_entries(app, "auth:sign-in:refused")]


def asks_for_step_up(client: FlaskClient) -> bool:
    response = client.get(SENSITIVE)
    if response.status_code == 200:
        assert response.get_data(as_text=True) == "the sensitive thing"
        return False
    assert response.status_code == 302
    login = urlsplit(response.headers["Location"])
    query = parse_qs(login.query)
    assert login.path == "/auth/login" and query["reauth"] == ["1"] and query["next"] == [SENSITIVE]
    return True


def start_step_up(client: FlaskClient) -> str:
    """Open the sensitive view without a recent step-up; follow it to the IdP's authorize URL."""
    prompt = client.get(SENSITIVE)
    assert prompt.status_code == 302
    start = client.get(prompt.headers["Location"])
    assert start.status_code == 302
    authorize_url: str = start.headers["Location"]
    return authorize_url


def reauthenticate(client: FlaskClient, sub: str) -> tuple[str, TestResponse]:
    """Open the sensitive view and go through the step-up at the IdP; returns the authorize URL
    and the portal's answer to the callback."""
    authorize_url = start_step_up(client)
    return authorize_url, client.get(local_path(authorize_at_idp(authorize_url, sub)))


def test_the_sensitive_view_declares_its_rule(app: Flask) -> None:
    assert access_rule(app.view_functions["test_only_sensitive"]) == SIGNED_IN


def test_anonymous_visitors_sign_in_first(app: Flask, client: FlaskClient) -> None:
    response = client.get(SENSITIVE)
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login?next=")


def test_an_ordinary_sign_in_never_counts_as_a_step_up(app: Flask, client: FlaskClient, sub: str) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    assert sign_in(client, sub).status_code == 302
    (session,) = all_sessions(app)
    assert session.auth_time is not None and session.auth_time >= before, "the IdP's auth_time, just now"
    assert session.stepped_up_at is None
    assert asks_for_step_up(client), "signed in seconds ago, yet not through a step-up"
    (start,) = audit_entries(app, "auth:session:start")
    assert start.details["step_up"] is False


def test_a_sign_in_without_auth_time_is_not_taken_for_now(app: Flask, client: FlaskClient, sub: str,
                                                          idp_url: str) -> None:
    set_idp_auth_time(idp_url, sub, "omit")
    assert sign_in(client, sub).status_code == 302, "an ordinary sign-in needs no auth_time"
    (session,) = all_sessions(app)
    assert session.auth_time is None and session.stepped_up_at is None
    assert asks_for_step_up(client)


def test_a_step_up_asks_the_idp_for_a_new_authentication_and_lasts_its_window(
        app: Flask, client: FlaskClient, sub: str, idp_url: str) -> None:
    assert sign_in(client, sub).status_code == 302
    (old,) = all_sessions(app)
    asked_at = datetime.now(UTC).replace(microsecond=0)
    authorize_url, callback = reauthenticate(client, sub)

    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{idp_url}/oauth2/authorize")
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    assert callback.status_code == 302 and urlsplit(callback.headers["Location"]).path == SENSITIVE
    assert not asks_for_step_up(client)

    ended, fresh = all_sessions(app)
    assert ended.id == old.id and ended.ended_at is not None and ended.end_reason == "re-authenticated"
    assert fresh.ended_at is None and fresh.employee_id == old.employee_id
    assert fresh.stepped_up_at is not None and asked_at <= fresh.stepped_up_at <= datetime.now(UTC)
    assert fresh.stepped_up_at == fresh.auth_time, "the moment the IdP authenticated the person again"
    assert [e.details["step_up"] for e in audit_entries(app, "auth:session:start")] == [False, True]
    assert refusals(app) == []

    age_step_up(app, step_up_seconds(app) - 30)
    assert not asks_for_step_up(client), "still within PORTAL_STEP_UP_SECONDS"
    age_step_up(app, step_up_seconds(app) + 30)
    assert asks_for_step_up(client), "a step-up counts for PORTAL_STEP_UP_SECONDS only"


@pytest.mark.parametrize(("reported", "reason", "says"), [
    ("omit", "auth-time-missing", "did not say when you signed in"),
    # Within the old allowance (PORTAL_STEP_UP_SECONDS), but before the step-up was asked for:
    # an IdP that ignored prompt=login and max_age=0 and answered from its session.
    (-120, "auth-time-stale", "reported a sign-in from before the portal asked you"),
    (600, "auth-time-future", "a time of sign-in that is later than"),
])
def test_a_step_up_without_a_new_auth_time_is_refused_and_changes_nothing(
        app: Flask, client: FlaskClient, sub: str, idp_url: str, reported: int | str, reason: str,
        says: str) -> None:
    assert sign_in(client, sub).status_code == 302
    set_idp_auth_time(idp_url, sub, reported if isinstance(reported, str) else int(time.time()) + reported)
    before = snapshot(app)

    _, callback = reauthenticate(client, sub)
    assert callback.status_code == 403
    page = callback.get_data(as_text=True)
    assert "Your sign-in could not be confirmed" in page and says in page
    assert "max_age=0, prompt=login" in page and "auth_time" in page
    assert 'href="/auth/login?reauth=1&amp;next=/test-only/sensitive"' in page  # try again
    assert refusals(app) == [{"reason": reason}]
    assert snapshot(app) == before, "no session started, nothing changed"
    assert client.get("/account/sessions").status_code == 200, "still signed in"
    assert asks_for_step_up(client)

    set_idp_auth_time(idp_url, sub, None)  # an IdP that does what is asked: the step-up goes through
    _, callback = reauthenticate(client, sub)
    assert callback.status_code == 302 and not asks_for_step_up(client)


def test_only_the_callback_of_the_step_up_request_itself_counts(app: Flask, client: FlaskClient, sub: str) -> None:
    assert sign_in(client, sub).status_code == 302
    earlier = start_step_up(client)
    start_step_up(client)  # a second step-up, begun after the first (another tab)
    callback = client.get(local_path(authorize_at_idp(earlier, sub)))
    assert callback.status_code == 302, "a valid sign-in of this session's making"
    assert all_sessions(app)[-1].stepped_up_at is None, "but not the answer to the pending step-up"
    assert asks_for_step_up(client)


def test_the_idp_signs_a_remembered_person_in_silently_but_never_for_a_step_up(
        app: Flask, sub: str, idp_url: str) -> None:
    """What a company's SSO does, played by the demo IdP: the portal's step-up must not be
    satisfied by its session."""
    browser = requests.Session()  # the person's browser, as far as the IdP sees it

    first = app.test_client()
    start = first.get("/auth/login")
    answer = browser.post(start.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and "demo_idp_sso" in browser.cookies
    assert first.get(local_path(answer.headers["Location"])).status_code == 302
    (first_session,) = all_sessions(app)

    # Later, in a new portal session: the IdP answers at once from its own session.
    later = app.test_client()
    silent = browser.get(later.get("/auth/login").headers["Location"], allow_redirects=False, timeout=10)
    assert silent.status_code == 302 and "code=" in silent.headers["Location"], "no page: silent SSO"
    assert later.get(local_path(silent.headers["Location"])).status_code == 302
    silent_session = all_sessions(app)[-1]
    assert silent_session.auth_time == first_session.auth_time, "the IdP reports the first authentication"
    assert asks_for_step_up(later), "a silent sign-in is no step-up"

    # The step-up's request makes the IdP ask again; so does max_age=0 alone.
    authorize_url = start_step_up(later)
    for url in (authorize_url, replace_query(authorize_url, prompt=None)):
        page = browser.get(url, allow_redirects=False, timeout=10)
        assert page.status_code == 200 and "Authorize" in page.text
    answer = browser.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert later.get(local_path(answer.headers["Location"])).status_code == 302
    assert not asks_for_step_up(later)

    # Signing out at the IdP ends its session: the next sign-in asks again.
    browser.post(f"{idp_url}/oauth2/end_session/confirm", data={}, timeout=10)
    again = browser.get(app.test_client().get("/auth/login").headers["Location"], allow_redirects=False, timeout=10)
    assert again.status_code == 200 and "Authorize" in again.text
