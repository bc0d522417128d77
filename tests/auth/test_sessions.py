"""Server-side sessions: listed, ended one by one or everywhere else, ended when someone leaves,
expired by time, and kept in Redis when Redis is configured."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.auth.models import AuthSession
from portal.db import utcnow
from portal.extensions import db
from portal.people import services as people
from tests.helpers import csrf_token, sign_in

CHROME_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
END_FORM = re.compile(r'action="/account/sessions/([^/"]+)/end"')


def browser(app: Flask, user_agent: str = CHROME_ON_LINUX, sub: str = "alice@example.com") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    assert sign_in(client, sub).status_code == 302
    return client


def handle_of(client: FlaskClient) -> str:
    """The auth-session handle of a signed-in client, as its own sessions page shows it."""
    page = client.get("/account/sessions").get_data(as_text=True)
    row = re.search(r'<tr>\s*<td>[^<]*<strong class="tag">this session</strong>.*?action="/account/sessions/([^/"]+)/end"',
                    page, re.S)
    assert row, "no current session on the page"
    return row.group(1)


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/account/sessions")
    if response.status_code == 302:
        assert response.headers["Location"] == "/auth/login?next=%2Faccount%2Fsessions"
        return False
    assert response.status_code == 200
    return True


def sessions(app: Flask) -> dict[str, tuple[bool, str | None]]:
    """Every auth session: handle -> (ended, end reason)."""
    with app.app_context():
        return {s.id: (s.ended_at is not None, s.end_reason) for s in db.session.scalars(select(AuthSession))}


def session_ends(app: Flask) -> list[tuple[str, str, str | None, str]]:
    with app.app_context():
        return [(e.targets["session"], e.details["reason"], e.actor_id, e.actor_type)
                for e in db.session.scalars(select(AuditEntry).where(AuditEntry.tag == "auth:session:end")
                                            .order_by(AuditEntry.seq))]


def post_from_sessions_page(client: FlaskClient, path: str) -> TestResponse:
    token = csrf_token(client.get("/account/sessions").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token})


def test_sessions_page_lists_the_current_session(app: Flask) -> None:
    alice = browser(app)
    page = alice.get("/account/sessions").get_data(as_text=True)
    assert END_FORM.findall(page) == [handle_of(alice)]
    assert "Chrome on Linux" in page and "this session" in page
    assert "Sign out everywhere else" not in page, "nothing else to sign out"


def test_two_browsers_see_two_sessions_and_one_ends_the_other(app: Flask) -> None:
    laptop, phone = browser(app), browser(app, FIREFOX_ON_WINDOWS)
    laptop_handle, phone_handle = handle_of(laptop), handle_of(phone)
    for client in (laptop, phone):
        page = client.get("/account/sessions").get_data(as_text=True)
        assert sorted(END_FORM.findall(page)) == sorted([laptop_handle, phone_handle])
        assert "Chrome on Linux" in page and "Firefox on Windows" in page

    response = post_from_sessions_page(laptop, f"/account/sessions/{phone_handle}/end")
    assert response.status_code == 302 and response.headers["Location"] == "/account/sessions"
    assert "That session has been signed out." in laptop.get(response.headers["Location"]).get_data(as_text=True)

    assert not is_signed_in(phone), "the phone is anonymous at its next request"
    assert "Sign in with your company account" in phone.get("/").get_data(as_text=True)
    assert is_signed_in(laptop)
    assert sessions(app) == {laptop_handle: (False, None), phone_handle: (True, "ended-by-owner")}
    assert session_ends(app)[-1][:2] == (phone_handle[:8], "ended-by-owner")
    assert END_FORM.findall(laptop.get("/account/sessions").get_data(as_text=True)) == [laptop_handle]


def test_ending_an_already_ended_session_changes_nothing(app: Flask) -> None:
    laptop, phone = browser(app), browser(app)
    phone_handle = handle_of(phone)
    assert post_from_sessions_page(laptop, f"/account/sessions/{phone_handle}/end").status_code == 302
    audited = session_ends(app)
    assert post_from_sessions_page(laptop, f"/account/sessions/{phone_handle}/end").status_code == 404
    assert session_ends(app) == audited


def test_ending_the_current_session_signs_out(app: Flask) -> None:
    laptop = browser(app)
    handle = handle_of(laptop)
    response = post_from_sessions_page(laptop, f"/account/sessions/{handle}/end")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/signed-out"
    assert not is_signed_in(laptop)
    assert sessions(app) == {handle: (True, "ended-by-owner")}


def test_sign_out_everywhere_else_keeps_only_the_current_session(app: Flask) -> None:
    laptop, phone, tablet = browser(app), browser(app), browser(app)
    bob = browser(app, sub="bob@example.com")
    keep = handle_of(laptop)
    others = {handle_of(phone), handle_of(tablet)}
    bob_handle = handle_of(bob)

    response = post_from_sessions_page(laptop, "/account/sessions/end-others")
    assert response.status_code == 302 and response.headers["Location"] == "/account/sessions"
    assert "2 other session(s) signed out." in laptop.get("/account/sessions").get_data(as_text=True)
    assert is_signed_in(laptop) and not is_signed_in(phone) and not is_signed_in(tablet)
    assert is_signed_in(bob), "someone else's sessions are untouched"
    state = sessions(app)
    assert state[keep] == (False, None) and state[bob_handle] == (False, None)
    assert {h: state[h] for h in others} == dict.fromkeys(others, (True, "ended-by-owner"))
    assert {(target, reason) for target, reason, *_ in session_ends(app)} == {
        (h[:8], "ended-by-owner") for h in others}


def test_leaving_the_company_ends_every_session_and_sso(app: Flask) -> None:
    laptop, phone = browser(app), browser(app)
    handles = {handle_of(laptop), handle_of(phone)}
    with app.app_context():
        alice = people.find_by_email("alice@example.com")
        assert alice is not None
        people.mark_leaver(alice, utcnow().date(), actor=Actor("staff", "hr-system"))
        db.session.commit()

    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert sessions(app) == dict.fromkeys(handles, (True, "employment-ended"))
    assert {(t, r, a) for t, r, a, _ in session_ends(app)} == {(h[:8], "employment-ended", "hr-system") for h in handles}

    again = app.test_client()
    response = sign_in(again, "alice@example.com")
    assert response.status_code == 403
    assert "Company sign-in is for current staff" in response.get_data(as_text=True)
    assert not is_signed_in(again)
    assert set(sessions(app)) == handles, "no new session was started"


def test_an_expired_session_is_anonymous(app: Flask) -> None:
    laptop = browser(app)
    handle = handle_of(laptop)
    with app.app_context():
        db.session.execute(update(AuthSession).where(AuthSession.id == handle)
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    assert not is_signed_in(laptop)
    assert "Sign in with your company account" in laptop.get("/").get_data(as_text=True)


def test_a_session_whose_row_is_gone_is_anonymous(app: Flask) -> None:
    laptop = browser(app)
    handle = handle_of(laptop)
    with app.app_context():
        db.session.delete(db.session.get(AuthSession, handle))
        db.session.commit()
    assert not is_signed_in(laptop)


@pytest.mark.parametrize("app", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
def test_sessions_live_in_redis_and_end_with_sign_out(app: Flask, redis_url: str) -> None:
    prefix = app.config["SESSION_KEY_PREFIX"]
    store = redis.Redis.from_url(redis_url)

    def stored() -> dict[bytes, bytes | str]:
        return {key: store.get(key) or b"" for key in store.scan_iter(match=f"{prefix}*")}

    assert stored() == {}
    alice = browser(app)
    cookie = alice.get_cookie("portal_session")
    assert cookie is not None
    handle = handle_of(alice)
    keys = stored()
    assert list(keys) == [f"{prefix}{cookie.value}".encode()], "one session, under the configured prefix"
    assert handle.encode() in keys[f"{prefix}{cookie.value}".encode()]
    assert 0 < store.ttl(f"{prefix}{cookie.value}") <= 12 * 3600

    logout = post_from_sessions_page(alice, "/auth/logout")
    assert logout.status_code == 302
    assert stored() == {}, "sign-out deletes the server-side session"
    assert sessions(app) == {handle: (True, "signed-out")}
    assert not is_signed_in(alice)
