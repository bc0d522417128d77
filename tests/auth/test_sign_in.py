"""Sign-in end to end against a real OIDC provider on loopback, and every refusal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from portal.audit.models import AuditEntry
from portal.auth.models import AuthSession, SsoIdentity
from portal.extensions import db, oauth
from portal.people.models import Employee, EmploymentStatus, Role
from tests.conftest import both_databases, set_idp_user
from tests.helpers import make_employee, replace_query, sign_in


def audit_tags(app: Flask) -> list[tuple[str, dict]]:
    with app.app_context():
        return [(e.tag, e.details) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def live_sessions(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(AuthSession)
                                  .where(AuthSession.ended_at.is_(None))).scalar_one()


@both_databases
def test_sign_in_creates_employee_and_session(app: Flask, client: FlaskClient) -> None:
    start = client.get("/auth/login")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == ["http://localhost/auth/callback"]

    cookie_before = client.get_cookie("portal_session")
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie_after = client.get_cookie("portal_session")
    assert cookie_after is not None and cookie_before is not None
    assert cookie_after.value != cookie_before.value, "the session id must be renewed at sign-in"
    assert cookie_after.http_only and cookie_after.same_site == "Lax"

    home = client.get("/")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "Alice Martín" in page and "ES" in page
    assert home.headers["Cache-Control"] == "no-store"

    with app.app_context():
        alice = db.session.scalar(select(Employee))
        assert alice is not None and alice.email == "alice@example.com" and alice.jurisdiction == "ES"
        assert db.session.scalar(select(func.count()).select_from(SsoIdentity)) == 1
    tags = [t for t, _ in audit_tags(app)]
    assert "auth:identity:link" in tags and "auth:session:start" in tags
    assert live_sessions(app) == 1


def test_second_sign_in_reuses_identity_and_maps_roles(app: Flask, client: FlaskClient) -> None:
    assert sign_in(client, "dana@example.com").status_code == 302
    client.post("/auth/logout", data={"csrf_token": _csrf(client)})
    assert sign_in(client, "dana@example.com").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Employee)) == 1
        dana = db.session.scalar(select(Employee))
        assert dana is not None and dana.role_names == {Role.DPO}


def test_identity_is_never_matched_by_email_alone(app: Flask, client: FlaskClient, idp_url: str) -> None:
    make_employee(app, "alice@example.com", name="Alice on file")
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 400
    assert live_sessions(app) == 0
    assert ("auth:sign-in:refused", {"reason": "email-belongs-to-another-identity"}) in audit_tags(app)


def test_employee_number_links_first_sign_in(app: Flask, client: FlaskClient) -> None:
    employee_id = make_employee(app, "alice@example.com", employee_number="E1001")
    assert sign_in(client, "alice@example.com").status_code == 302
    with app.app_context():
        identity = db.session.scalar(select(SsoIdentity))
        assert identity is not None and identity.employee_id == employee_id


def _csrf(client: FlaskClient) -> str:
    from tests.helpers import csrf_token

    return csrf_token(client.get("/").get_data(as_text=True))


def _refused(app: Flask, client: FlaskClient, response: TestResponse, reason: str) -> None:
    assert response.status_code == 400, response.status_code
    assert "could not sign you in" in response.get_data(as_text=True)
    assert live_sessions(app) == 0
    assert ("auth:sign-in:refused", {"reason": reason}) in audit_tags(app)
    home = client.get("/")
    assert "Sign in with your company account" in home.get_data(as_text=True)


def test_missing_state_is_refused(app: Flask, client: FlaskClient) -> None:
    response = sign_in(client, tamper_callback=lambda url: replace_query(url, state=None))
    _refused(app, client, response, "state-missing")


def test_wrong_state_is_refused(app: Flask, client: FlaskClient) -> None:
    response = sign_in(client, tamper_callback=lambda url: replace_query(url, state="forged-state"))
    _refused(app, client, response, "state-mismatch")


def test_wrong_nonce_is_refused(app: Flask, client: FlaskClient) -> None:
    response = sign_in(client, tamper_authorize=lambda url: replace_query(url, nonce="attacker-nonce"))
    _refused(app, client, response, "nonce-invalid")


def test_wrong_issuer_in_id_token_is_refused(app: Flask, client: FlaskClient, idp_url: str) -> None:
    set_idp_user(idp_url, "mallory-iss@example.com", {"email": "mallory-iss@example.com", "country": "ES",
                                                      "iss": "https://evil.example"})
    response = sign_in(client, "mallory-iss@example.com")
    _refused(app, client, response, "iss-invalid")


def test_wrong_audience_is_refused(app: Flask, client: FlaskClient, idp_url: str) -> None:
    set_idp_user(idp_url, "mallory-aud@example.com", {"email": "mallory-aud@example.com", "country": "ES",
                                                      "aud": "some-other-client"})
    response = sign_in(client, "mallory-aud@example.com")
    _refused(app, client, response, "aud-invalid")


def test_expired_id_token_is_refused(app: Flask, client: FlaskClient, idp_url: str) -> None:
    set_idp_user(idp_url, "mallory-exp@example.com", {"email": "mallory-exp@example.com", "country": "ES",
                                                      "exp": int(time.time()) - 3600})
    response = sign_in(client, "mallory-exp@example.com")
    _refused(app, client, response, "token-expired")


def test_unknown_iss_parameter_on_callback_is_refused(app: Flask, client: FlaskClient) -> None:
    response = sign_in(client, tamper_callback=lambda url: replace_query(url, iss="https://mix-up.example"))
    _refused(app, client, response, "iss-parameter-mismatch")


def test_matching_iss_parameter_is_accepted(app: Flask, client: FlaskClient, idp_url: str) -> None:
    response = sign_in(client, tamper_callback=lambda url: replace_query(url, iss=idp_url))
    assert response.status_code == 302


def test_denied_at_idp_is_refused(app: Flask, client: FlaskClient) -> None:
    response = sign_in(client, tamper_callback=lambda url: replace_query(url, error="access_denied", code=None))
    _refused(app, client, response, "idp-error")


def test_former_employee_gets_a_clear_page(app: Flask, client: FlaskClient) -> None:
    make_employee(app, "frank@example.com", name="Frank Former", status=EmploymentStatus.FORMER,
                  employee_number="E0999")
    response = sign_in(client, "frank@example.com")
    assert response.status_code == 403
    assert "Company sign-in is for current staff" in response.get_data(as_text=True)
    assert "mailto:" not in response.get_data(as_text=True), "no DPO address configured, none shown"
    assert live_sessions(app) == 0
    assert ("auth:sign-in:refused", {"reason": "former-employee"}) in audit_tags(app)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_redirect_after_sign_in_stays_local(app: Flask, client: FlaskClient, target: str) -> None:
    response = sign_in(client, login_path=f"/auth/login?next={target}")
    assert response.headers["Location"] == "/"


def test_redirect_after_sign_in_to_local_path(app: Flask, client: FlaskClient) -> None:
    response = sign_in(client, login_path="/auth/login?next=/account/sessions")
    assert response.headers["Location"] == "/account/sessions"


def test_sign_out_ends_session_and_uses_rp_initiated_logout(app: Flask, client: FlaskClient, idp_url: str) -> None:
    sign_in(client)
    with client.session_transaction() as session:
        id_token = session["id_token"]
    response = client.post("/auth/logout", data={"csrf_token": _csrf(client)})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{idp_url}/oauth2/end_session?")
    query = parse_qs(urlsplit(location).query)
    assert query["post_logout_redirect_uri"] == ["http://localhost/auth/signed-out"]
    assert query["client_id"] == ["portal-test"]
    assert query["id_token_hint"] == [id_token]
    hint = jwt.decode(id_token, KeySet.import_key_set(requests.get(f"{idp_url}/jwks", timeout=10).json()))
    assert (hint.claims["iss"], hint.claims["aud"], hint.claims["sub"]) == (idp_url, ["portal-test"], "alice@example.com")
    assert live_sessions(app) == 0
    assert "auth:session:end" in [t for t, _ in audit_tags(app)]
    assert client.get("/account/sessions").status_code == 302
    with client.session_transaction() as session:
        assert "id_token" not in session, "the ID token goes with the session"


@pytest.fixture
def idp_without_end_session(app: Flask) -> Iterator[None]:
    """The IdP's discovery metadata (as the portal has loaded it) without an end_session_endpoint."""
    with app.app_context():
        metadata = oauth.create_client("idp").load_server_metadata()
        saved = metadata.pop("end_session_endpoint")
    try:
        yield
    finally:
        metadata["end_session_endpoint"] = saved


def test_sign_out_without_an_end_session_endpoint_stays_here(app: Flask, client: FlaskClient,
                                                             idp_without_end_session: None) -> None:
    sign_in(client)
    response = client.post("/auth/logout", data={"csrf_token": _csrf(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/signed-out"
    assert live_sessions(app) == 0
    assert client.get("/account/sessions").status_code == 302


def test_sign_out_needs_csrf(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    assert client.post("/auth/logout").status_code == 400
    assert live_sessions(app) == 1


def test_sign_out_is_not_a_get(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    assert client.get("/auth/logout").status_code == 405
    assert live_sessions(app) == 1


def test_former_employee_page_gives_the_dpo_contact(app: Flask, client: FlaskClient) -> None:
    app.config["PORTAL_SETTINGS"].dpo_contact = "dpo@corp.example"
    make_employee(app, "frank@example.com", status=EmploymentStatus.FORMER, employee_number="E0999")
    page = sign_in(client, "frank@example.com").get_data(as_text=True)
    assert 'href="mailto:dpo@corp.example"' in page
    assert 'href="mailto:dpo@corp.example"' in client.get("/").get_data(as_text=True)
