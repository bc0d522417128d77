"""OpenID Connect Back-Channel Logout (portal/auth/backchannel.py): logout tokens signed by the
test IdP's key (its ``POST /logout-token``) end the sessions they name; every bad token is refused
with 400 and ends nothing; a token is taken once, also by another process over the same database."""

from __future__ import annotations

import base64
import json
import queue
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask import request as flask_request
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from portal import create_app
from portal.auth import backchannel, services
from portal.auth.models import AuthSession, LogoutTokenSeen
from portal.db import utcnow
from portal.demo import idp as demo_idp
from portal.extensions import db, oauth
from portal.ratelimit import BACKCHANNEL_LOGOUT
from tests.auth.test_sessions import browser, handle_of, is_signed_in, sessions
from tests.conftest import LiveServer, app_config, both_databases
from tests.helpers import audit_entries, snapshot

EVENT = "http://schemas.openid.net/event/backchannel-logout"
PATH = "/auth/backchannel-logout"
CLIENT_ID = "portal-test"  # tests/conftest.py's app_config


def claims(idp_url: str, **changes: Any) -> dict[str, Any]:
    """A good logout token's claims for alice; a change to None leaves that claim out."""
    now = int(time.time())
    base: dict[str, Any] = {"iss": idp_url, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
                            "jti": secrets.token_urlsafe(16), "sub": "alice@example.com", "events": {EVENT: {}}}
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def signed(idp_url: str, token_claims: dict[str, Any]) -> str:
    """Signed by the test IdP with its own key."""
    response = requests.post(f"{idp_url}/logout-token", json=token_claims, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def sid_of(client: FlaskClient) -> str:
    """The IdP's session id in the ID token the client's portal session keeps (for the logout hint)."""
    with client.session_transaction() as session:
        id_token = session["id_token"]
    payload = id_token.split(".")[1]
    sid: str = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"]
    return sid


def post(app: Flask, token: str | None, client: FlaskClient | None = None) -> TestResponse:
    """As the IdP does: a form POST, no cookie, no CSRF token (or from ``client``, cookie and all)."""
    return (client or app.test_client()).post(PATH, data={} if token is None else {"logout_token": token})


def accepted(app: Flask) -> list[dict[str, Any]]:
    return [entry.details for entry in audit_entries(app, "auth:logout-token:accepted")]


def refusals(app: Flask) -> list[str]:
    return [entry.details["reason"] for entry in audit_entries(app, "auth:logout-token:refused")]


@both_databases
def test_a_token_naming_a_session_ends_that_session_only(app: Flask, idp_url: str) -> None:
    laptop, phone = browser(app), browser(app)
    bob = browser(app, sub="bob@example.com")
    laptop_handle = handle_of(laptop)
    assert sid_of(laptop) != sid_of(phone), "two sign-ins at the IdP, two sessions there"

    response = post(app, signed(idp_url, claims(idp_url, sid=sid_of(laptop))))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert not is_signed_in(laptop), "the laptop's next request is signed out"
    assert is_signed_in(phone) and is_signed_in(bob)
    assert sessions(app)[laptop_handle] == (True, "idp-logout")
    assert accepted(app) == [{"by": "sid", "sessions_ended": 1}]
    (ended,) = [e for e in audit_entries(app, "auth:session:end") if e.details["reason"] == "idp-logout"]
    assert ended.actor_type == "idp" and ended.targets == {"session": laptop_handle[:8]}


def test_a_token_naming_only_the_person_ends_all_their_sessions(app: Flask, idp_url: str) -> None:
    laptop, phone = browser(app), browser(app)
    bob = browser(app, sub="bob@example.com")
    response = post(app, signed(idp_url, claims(idp_url)))
    assert response.status_code == 200
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert is_signed_in(bob)
    assert accepted(app) == [{"by": "sub", "sessions_ended": 2}]


def test_a_session_id_of_another_person_ends_nothing(app: Flask, idp_url: str) -> None:
    alice, bob = browser(app), browser(app, sub="bob@example.com")
    response = post(app, signed(idp_url, claims(idp_url, sub="bob@example.com", sid=sid_of(alice))))
    assert response.status_code == 200, "a good token: nothing of bob's matched, nothing to do"
    assert is_signed_in(alice) and is_signed_in(bob)
    assert accepted(app) == [{"by": "sid", "sessions_ended": 0}]


@pytest.mark.parametrize(("change", "reason"), [
    ({"sub": "nobody@example.com"}, "unknown person"),
    ({"sub": None, "sid": "an-idp-session-the-portal-never-saw"}, "unknown session"),
])
def test_a_good_token_that_matches_nothing_is_answered_200(app: Flask, idp_url: str, change: dict[str, Any],
                                                           reason: str) -> None:
    alice = browser(app)
    assert post(app, signed(idp_url, claims(idp_url, **change))).status_code == 200, reason
    assert is_signed_in(alice)
    assert accepted(app)[0]["sessions_ended"] == 0


def forged_signature(idp_url: str) -> str:
    """The IdP's key id and a good token's claims, signed with a key that is not the IdP's."""
    kid = requests.get(f"{idp_url}/jwks", timeout=10).json()["keys"][0]["kid"]
    return jwt.encode({"alg": "RS256", "kid": kid}, claims(idp_url), RSAKey.generate_key(2048))


def tampered(idp_url: str) -> str:
    """A token the IdP signed for bob, its payload changed to name alice."""
    header, _, signature = signed(idp_url, claims(idp_url, sub="bob@example.com")).split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims(idp_url)).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def unsigned(idp_url: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims(idp_url))}."


NOW = int(time.time())
BAD_CLAIMS: dict[str, tuple[dict[str, Any], str]] = {
    "wrong audience": ({"aud": "another-client"}, "aud-invalid"),
    "wrong issuer": ({"iss": "https://evil.example"}, "iss-invalid"),
    "expired": ({"iat": NOW - 3600, "exp": NOW - 3000}, "token-expired"),
    "issued too long ago": ({"iat": NOW - 3600, "exp": None}, "token-too-old"),
    "issued in the future": ({"iat": NOW + 3600}, "iat-invalid"),
    "no iat": ({"iat": None}, "iat-missing"),
    "no jti": ({"jti": None}, "jti-missing"),
    "no events": ({"events": None}, "events-missing"),
    "another event": ({"events": {"http://schemas.openid.net/event/other": {}}}, "events-missing"),
    "the event not an object": ({"events": {EVENT: "logout"}}, "events-invalid"),
    "a nonce (an ID token)": ({"nonce": "n-0S6_WzA2Mj"}, "nonce-present"),
    "neither sid nor sub": ({"sub": None}, "sid-and-sub-missing"),
    "an empty sid": ({"sid": ""}, "sid-invalid"),
}


def bad_tokens(idp_url: str) -> dict[str, tuple[str | None, str]]:
    tokens: dict[str, tuple[str | None, str]] = {
        name: (signed(idp_url, claims(idp_url, **change)), reason) for name, (change, reason) in BAD_CLAIMS.items()}
    tokens.update({
        "no token": (None, "token-missing"),
        "not a JWT": ("not-a-token", "token-malformed"),
        "another key's signature": (forged_signature(idp_url), "signature-invalid"),
        "a changed payload": (tampered(idp_url), "signature-invalid"),
        "alg none": (unsigned(idp_url), "alg-invalid"),
    })
    return tokens


def test_every_bad_token_is_refused_and_ends_nothing(app: Flask, idp_url: str) -> None:
    alice, other = browser(app), browser(app)
    tokens = bad_tokens(idp_url)
    for name, (token, reason) in tokens.items():
        before = snapshot(app)
        response = post(app, token)
        assert response.status_code == 400, name
        assert response.get_json() == {"error": "invalid_request", "error_description": reason}, name
        assert response.headers["Cache-Control"] == "no-store", name
        assert snapshot(app) == before, f"{name}: something changed"
        assert is_signed_in(alice) and is_signed_in(other), name
    assert refusals(app) == [reason for _, reason in tokens.values()]
    assert accepted(app) == []


@both_databases
def test_a_replayed_token_is_refused_here_and_in_another_process(app: Flask, idp_url: str, tmp_path: Path) -> None:
    first = browser(app)
    token = signed(idp_url, claims(idp_url))
    assert post(app, token).status_code == 200
    assert not is_signed_in(first)

    again = browser(app)  # alice signs in anew; the same token must not end this one
    before = snapshot(app)
    replay = post(app, token)
    assert replay.status_code == 400 and replay.get_json()["error_description"] == "jti-replayed"
    assert snapshot(app) == before and is_signed_in(again)

    # Another process of the portal, over the same database, refuses it too.
    other = create_app(app_config(tmp_path / "other", idp_url, app.config["SQLALCHEMY_DATABASE_URI"]))
    try:
        assert other.test_client().post(PATH, data={"logout_token": token}).status_code == 400
    finally:
        with other.app_context():
            db.engine.dispose()
    assert is_signed_in(again)
    assert refusals(app) == ["jti-replayed", "jti-replayed"]


def test_a_signed_in_browser_posting_there_carries_no_session(app: Flask, idp_url: str) -> None:
    """No session is opened under the path: the cookie is not read, none is set, no CSRF token is
    asked for (the IdP has none), and what counts is only the token."""
    alice = browser(app)
    refused = post(app, "not-a-token", client=alice)
    assert refused.status_code == 400 and "Set-Cookie" not in refused.headers
    assert is_signed_in(alice)
    done = post(app, signed(idp_url, claims(idp_url)), client=alice)
    assert done.status_code == 200 and "Set-Cookie" not in done.headers
    assert not is_signed_in(alice)


def test_sign_in_keeps_the_idp_session_id_as_a_keyed_hash(app: Flask, idp_url: str) -> None:
    alice = browser(app)
    sid = sid_of(alice)
    with app.app_context():
        row = db.session.get(AuthSession, handle_of(alice))
        assert row is not None and row.idp_session_digest == services.idp_session_digest(idp_url, sid)
        assert sid not in row.idp_session_digest


def test_keys_that_cannot_be_fetched_refuse_the_token(app: Flask, idp_url: str) -> None:
    """The IdP's JWKS does not answer (and none is cached): 400, nothing ended; it may send again."""
    alice = browser(app)
    token = signed(idp_url, claims(idp_url))
    with app.app_context():
        metadata = oauth.create_client("idp").load_server_metadata()
    saved = {name: metadata.pop(name, None) for name in ("jwks", "jwks_uri")}
    metadata["jwks_uri"] = "http://127.0.0.1:9/jwks"  # the discard port: nobody answers
    try:
        before = snapshot(app)
        refused = post(app, token)
    finally:
        metadata.update({name: value for name, value in saved.items() if value is not None})
    assert refused.status_code == 400 and refused.get_json()["error_description"] == "idp-unreachable"
    assert snapshot(app) == before and is_signed_in(alice)
    assert post(app, token).status_code == 200, "the same token, once the keys answer"
    assert not is_signed_in(alice)


def test_past_the_limit_the_idp_address_is_answered_429(app: Flask) -> None:
    per_minute = int(BACKCHANNEL_LOGOUT.split(" per minute")[0])
    client = app.test_client()
    for n in range(per_minute):
        assert client.post(PATH, data={}).status_code == 400, n
    assert client.post(PATH, data={}).status_code == 429
    assert len(refusals(app)) == per_minute, "the flood past the limit wrote nothing"


def test_the_demo_idp_offers_back_channel_logout(idp_url: str) -> None:
    metadata = requests.get(f"{idp_url}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert metadata["end_session_endpoint"] == f"{idp_url}/oauth2/end_session"


def test_the_demo_idp_sends_a_logout_token_when_its_session_ends() -> None:
    """Made with a relying party's back-channel logout URI (as ``make run`` does), the demo IdP posts
    a logout token there, signed with its key and naming the session that its sign-out ended."""
    received: queue.Queue[str] = queue.Queue()
    receiver = Flask("receiver")

    @receiver.post("/logout")
    def logout() -> tuple[str, int]:
        received.put(flask_request.form["logout_token"])
        return "", 200

    rp = LiveServer(receiver)
    with rp, LiveServer(demo_idp.make_app(backchannel_logout_uri=f"{rp.url}/logout", client_id="rp")) as provider:
        browser_at_idp = requests.Session()
        authorize = (f"{provider.url}/oauth2/authorize?response_type=code&client_id=rp&scope=openid"
                     f"&redirect_uri={rp.url}/callback&nonce=n-1&state=s-1")
        answer = browser_at_idp.post(authorize, data={"sub": "alice@example.com"}, allow_redirects=False, timeout=10)
        assert answer.status_code == 302 and "demo_idp_sso" in browser_at_idp.cookies
        ended = browser_at_idp.post(f"{provider.url}/oauth2/end_session/confirm", data={}, timeout=10)
        assert ended.status_code == 200
        token = received.get(timeout=10)
        keys = requests.get(f"{provider.url}/jwks", timeout=10).json()
        checked = backchannel.verify(token, key_set=lambda force: keys, algorithms=["RS256"],
                                     issuer=provider.url, client_id="rp")
    assert checked.sub == "alice@example.com" and checked.sid
    assert received.empty()


def test_seen_token_ids_are_forgotten_once_the_tokens_are_too_old(app: Flask, idp_url: str) -> None:
    assert post(app, signed(idp_url, claims(idp_url, iat=int(time.time()) - 240))).status_code == 200
    assert post(app, signed(idp_url, claims(idp_url))).status_code == 200
    with app.app_context():
        assert backchannel.purge_seen_tokens() == 0, "both could still arrive in time"
        later = utcnow() + timedelta(seconds=300)
        kept = db.session.scalars(select(LogoutTokenSeen.expires_at)).all()
        assert sorted(kept)[0] < later < sorted(kept)[1]
        db.session.execute(update(LogoutTokenSeen).where(LogoutTokenSeen.expires_at < later)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert backchannel.purge_seen_tokens() == 1
        assert db.session.scalar(select(func.count()).select_from(LogoutTokenSeen)) == 1
