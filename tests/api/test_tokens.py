"""Service tokens: made from the shell and the admin page (shown once, kept only as a hash),
listed and revoked; bearer authentication (401 with WWW-Authenticate, 403 for a missing scope),
no session and no CSRF on the API, and rate limits per token (429 with Retry-After)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.api.models import ApiToken
from portal.db import utcnow
from portal.extensions import db
from tests.conftest import both_databases
from tests.helpers import audit_entries, csrf_token, first_group, json_of, snapshot
from tests.policy.support import signed_in

EXCLUSIONS = "/api/v1/exclusions"


def tokens_in_db(app: Flask) -> list[ApiToken]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.created_at)))
        db.session.expunge_all()
        return rows


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the shell -------------------------------------------------------------------------------------

def test_cli_prints_the_token_alone_on_its_last_line_and_keeps_only_its_hash(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["api", "token", "create", "--name", "collector eu-west",
                                                "--scope", "ingest,exclusions:read", "--days", "7"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"ppt_[A-Za-z0-9_-]{43}", token)
    (row,) = tokens_in_db(app)
    assert (row.name, row.scopes, row.created_by_id) == ("collector eu-west", ["ingest", "exclusions:read"], None)
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert timedelta(days=7) - timedelta(minutes=1) < row.expires_at - row.created_at <= timedelta(days=7)
    with app.app_context():  # the token itself is nowhere in the database
        dump = "\n".join(str(r) for rows in snapshot(app, skip=frozenset()).values() for r in rows)
    assert token not in dump and token[4:] not in dump
    assert client.get(EXCLUSIONS, headers=bearer(token)).status_code == 200
    (entry,) = audit_entries(app, "api:token:create")
    assert (entry.targets, entry.details) == ({"api_token": row.id}, {"scopes": ["ingest", "exclusions:read"], "days": 7})


@pytest.mark.parametrize(("args", "message"), [
    (["--name", "x", "--scope", "ingest,admin"], "unknown scope(s) admin"),
    (["--name", "x", "--scope", ","], "needs at least one scope"),
    (["--name", "  ", "--scope", "ingest"], "needs a name"),
    (["--name", "x", "--scope", "ingest", "--days", "0"], "from 1 to 365 days"),
    (["--name", "x", "--scope", "ingest", "--days", "366"], "from 1 to 365 days"),
])
def test_cli_refuses_bad_tokens_and_makes_nothing(app: Flask, args: list[str], message: str) -> None:
    result = app.test_cli_runner().invoke(args=["api", "token", "create", *args])
    assert result.exit_code != 0 and message in result.output
    assert tokens_in_db(app) == []


# --- the admin pages -------------------------------------------------------------------------------

def test_admin_makes_a_token_shown_once_lists_and_revokes_it(app: Flask, client: FlaskClient) -> None:
    admin = signed_in(app, client, "admin@example.com")
    page = client.get("/admin/api-tokens").get_data(as_text=True)
    assert "No token has been made yet." in page
    made = client.post("/admin/api-tokens", data={"csrf_token": csrf_token(page), "name": "training pipeline",
                                                  "scopes": ["exclusions:read", "training"], "days": "30"})
    assert made.status_code == 200
    html = made.get_data(as_text=True)
    token = first_group(r'id="new-token">(ppt_[^<]+)<', html)
    (row,) = tokens_in_db(app)
    assert (row.name, row.scopes, row.created_by_id) == ("training pipeline", ["exclusions:read", "training"], admin)
    listed = client.get("/admin/api-tokens").get_data(as_text=True)
    assert "training pipeline" in listed and token not in listed and "never" in listed  # shown once only
    assert made.headers["Cache-Control"] == "no-store"

    assert client.get(EXCLUSIONS, headers=bearer(token)).status_code == 200
    assert tokens_in_db(app)[0].last_used_at is not None
    assert "never" not in client.get("/admin/api-tokens").get_data(as_text=True)

    revoked = client.post(f"/admin/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_token(listed)})
    assert revoked.status_code == 302
    assert "revoked" in client.get("/admin/api-tokens").get_data(as_text=True)
    answer = client.get(EXCLUSIONS, headers=bearer(token))
    assert answer.status_code == 401 and json_of(answer)["detail"] == "The token was revoked."
    assert [(e.actor_id, e.targets) for e in audit_entries(app, "api:token:revoke")] == [(admin, {"api_token": row.id})]
    assert [e.actor_id for e in audit_entries(app, "api:token:create")] == [admin]


def test_admin_form_refuses_bad_input_and_a_forged_csrf_token(app: Flask, client: FlaskClient) -> None:
    signed_in(app, client, "admin@example.com")
    page = client.get("/admin/api-tokens").get_data(as_text=True)
    for data in ({"name": "", "scopes": ["ingest"], "days": "30"}, {"name": "x", "days": "30"},
                 {"name": "x", "scopes": ["root"], "days": "30"}, {"name": "x", "scopes": ["ingest"], "days": "999"},
                 {"name": "x\x07", "scopes": ["ingest"], "days": "30"}):
        response = client.post("/admin/api-tokens", data={"csrf_token": csrf_token(page), **data})
        assert response.status_code == 400, data
        assert "No token was made" in response.get_data(as_text=True)
    assert client.post("/admin/api-tokens", data={"csrf_token": "forged", "name": "x", "scopes": ["ingest"],
                                                   "days": "3"}).status_code == 400
    assert tokens_in_db(app) == []


def test_employees_and_dpos_find_no_token_pages(app: Flask, client: FlaskClient,
                                                make_token: Callable[..., str]) -> None:
    make_token("ingest")
    (row,) = tokens_in_db(app)
    for who in ("alice@example.com", "dana@example.com"):
        other = app.test_client()
        signed_in(app, other, who)
        assert other.get("/admin/api-tokens").status_code == 404
        token = csrf_token(other.get("/account/sessions").get_data(as_text=True))
        assert other.post(f"/admin/api-tokens/{row.id}/revoke", data={"csrf_token": token}).status_code == 404
    assert tokens_in_db(app)[0].revoked_at is None


# --- bearer authentication ---------------------------------------------------------------------------

def test_missing_wrong_expired_and_revoked_tokens_get_401(app: Flask, client: FlaskClient,
                                                          make_token: Callable[..., str]) -> None:
    good = make_token("exclusions:read")
    expired = make_token("exclusions:read", name="old")
    revoked = make_token("exclusions:read", name="gone")
    with app.app_context():
        rows = {r.name: r for r in db.session.scalars(sa.select(ApiToken))}
        rows["old"].expires_at = utcnow() - timedelta(seconds=1)
        rows["gone"].revoked_at = utcnow()
        db.session.commit()
    cases = {
        "missing": ({}, 'Bearer realm="portal-api"', "Send the service token"),
        "basic": ({"Authorization": "Basic dXNlcjpwYXNz"}, 'error="invalid_token"', "not a bearer token"),
        "malformed": (bearer("not-a-token"), 'error="invalid_token"', "not a bearer token"),
        "unknown": (bearer("ppt_" + "A" * 43), 'error="invalid_token"', "not known"),
        "expired": (bearer(expired), 'error="invalid_token"', "expired"),
        "revoked": (bearer(revoked), 'error="invalid_token"', "revoked"),
    }
    for name, (headers, challenge, detail) in cases.items():
        response = client.get(EXCLUSIONS, headers=headers)
        assert response.status_code == 401, name
        assert response.mimetype == "application/problem+json"
        assert challenge in response.headers["WWW-Authenticate"], name
        body = json_of(response)
        assert body["type"] == "/api/docs#problem-unauthorized" and body["status"] == 401
        assert detail in body["detail"], name
    assert client.get(EXCLUSIONS, headers=bearer(good)).status_code == 200


def test_a_token_without_the_scope_gets_403(client: FlaskClient, make_token: Callable[..., str]) -> None:
    token = make_token("ingest", "requests:read")
    response = client.get(EXCLUSIONS, headers=bearer(token))
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert json_of(response)["type"] == "/api/docs#problem-forbidden-scope"
    assert 'error="insufficient_scope", scope="exclusions:read"' in response.headers["WWW-Authenticate"]


SCOPE_OF = {("GET", "/api/v1/exclusions"): "exclusions:read",
            ("GET", "/api/v1/exclusions/tp_aaaaaaaaaaaaaaaaaaaaaaaaaa"): "exclusions:read",
            ("GET", "/api/v1/requests/" + "0" * 32): "requests:read",
            ("POST", "/api/v1/ingest"): "ingest",
            ("POST", "/api/v1/ingest/bulk"): "ingest",
            ("POST", "/api/v1/training/datasets"): "training",
            ("GET", "/api/v1/training/datasets/d"): "training",
            ("POST", "/api/v1/training/datasets/d/snapshots"): "training",
            ("GET", "/api/v1/training/datasets/d/snapshots/s"): "training",
            ("POST", "/api/v1/training/datasets/d/snapshots/s/answer"): "training",
            ("GET", "/api/v1/training/removals"): "training",
            ("POST", "/api/v1/training/models"): "training",
            ("GET", "/api/v1/training/models/m/versions/1"): "training",
            ("POST", "/api/v1/training/models/m/versions/1/outcomes"): "training",
            ("GET", "/api/v1/recipient-tasks"): "recipient",
            ("POST", "/api/v1/recipient-tasks/" + "0" * 32 + "/confirm"): "recipient"}
SCOPES = ["ingest", "exclusions:read", "recipient", "training", "requests:read", "scim"]


@pytest.mark.parametrize("scope", SCOPES)
def test_scope_matrix(app: Flask, client: FlaskClient, make_token: Callable[..., str], scope: str) -> None:
    """Each scope opens its own endpoints and no other; every API route is in the matrix."""
    api_rules = {(m, r.rule) for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/") and
                 r.endpoint != "api.openapi_json" for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    adapter = app.url_map.bind("localhost")
    assert {(m, adapter.match(p, method=m, return_rule=True)[0].rule) for m, p in SCOPE_OF} == api_rules
    headers = bearer(make_token(scope))
    for (method, path), needed in SCOPE_OF.items():
        response = client.open(path, method=method, headers=headers, json={})
        if scope == needed:
            assert response.status_code not in (401, 403), (scope, path)
        else:
            assert response.status_code == 403, (scope, path)


def test_a_session_cookie_is_no_key_and_no_session_is_touched(app: Flask, client: FlaskClient,
                                                               make_token: Callable[..., str]) -> None:
    signed_in(app, client, "admin@example.com")
    response = client.get(EXCLUSIONS)
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    ok = client.get(EXCLUSIONS, headers=bearer(make_token("exclusions:read")))
    assert ok.status_code == 200 and "Set-Cookie" not in ok.headers
    assert client.get("/account/sessions").status_code == 200, "the browser's session is unharmed"


def test_posts_need_no_csrf_token_with_a_bearer_token(client: FlaskClient, make_token: Callable[..., str]) -> None:
    response = client.post("/api/v1/ingest", json={"email": "nobody@example.com"},
                           headers=bearer(make_token("ingest")))
    assert response.status_code == 422 and json_of(response)["reason"] == "unknown_employee"


@both_databases
def test_rate_limit_per_token_answers_429_with_retry_after(app: Flask, client: FlaskClient,
                                                           make_token: Callable[..., str]) -> None:
    app.config["API_RATE_LIMIT"] = "3 per minute"
    first, second = bearer(make_token("exclusions:read")), bearer(make_token("exclusions:read", name="other"))
    assert [client.get(EXCLUSIONS, headers=first).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(EXCLUSIONS, headers=first)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert json_of(refused)["type"] == "/api/docs#problem-rate-limited"
    assert client.get(EXCLUSIONS, headers=second).status_code == 200, "another token has its own limit"


def test_unknown_paths_and_methods_under_the_api_are_problems(client: FlaskClient,
                                                              make_token: Callable[..., str]) -> None:
    headers = bearer(make_token("ingest"))
    missing = client.get("/api/v1/nothing-here", headers=headers)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert json_of(missing)["type"] == "/api/docs#problem-not-found"
    wrong = client.get("/api/v1/ingest", headers=headers)
    assert wrong.status_code == 405 and json_of(wrong)["type"] == "/api/docs#problem-method-not-allowed"
    assert client.get("/no-such-page").mimetype == "text/html", "pages keep their HTML error pages"
