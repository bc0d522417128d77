"""Security by construction, checked from the outside: response headers on every kind of page, a
declared access rule on every route, CSRF on every non-GET, no state change on GET, 404 (audited)
for anything that is not yours, and error pages that reveal nothing."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from portal.audit.services import Actor
from portal.auth.models import AuthSession
from portal.consent import services as consent
from portal.exports.services import request_export
from portal.extensions import db
from portal.jobs.runners import ThreadRunner, runner
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.policy import services as policy
from portal.rights import services as request_services
from portal.rights.models import RequestState, RequestType
from portal.security import PUBLIC, SIGNED_IN, Permission, Scope, access_rule, public
from tests.helpers import (
    audit_entries,
    csrf_token,
    event,
    existing,
    grant_all_consents,
    make_employee,
    signed_in_as,
    snapshot,
)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REFUSED = "access:object:refused"
CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')


# --- helpers -------------------------------------------------------------------------------------

def png(color: str, size: tuple[int, int] = (64, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def live_handles(app: Flask, employee_id: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuthSession.id).where(AuthSession.employee_id == employee_id,
                                                                       AuthSession.ended_at.is_(None))))


def without_csrf_value(html: str) -> str:
    return CSRF_VALUE.sub(r"\1-\2", html)


def add_boom_route(app: Flask) -> None:
    """A test-only route that fails with an exception whose text must never reach the browser."""

    @public
    def boom() -> str:
        raise RuntimeError("secret-detail-XYZ")

    app.add_url_rule("/test-only/boom", "test_only_boom", boom)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)


def signed_in_as_alice(client: FlaskClient) -> None:
    """alice, signed in and stepped up: the routes behind a step-up answer her too."""
    signed_in_as(client, "alice@example.com", stepped_up=True)
    assert client.get("/").status_code == 200  # shows (and so clears) the step-up's "thank you" message


@dataclass
class World:
    """Alice (signed in on ``client``) and Erin, each with one event and one screenshot."""

    alice: str
    other: str
    own: dict[str, Any]
    others: dict[str, Any]
    alice_png: bytes
    other_png: bytes


MISSING: dict[str, Any] = {"event_id": 2_000_000_000, "shot_id": "0" * 32, "handle": "no-such-session-handle",
           "entry_id": 2_000_000_000, "ack_id": 2_000_000_000, "export_id": "0" * 32,
           "request_id": "0" * 32, "hold_id": "0" * 32, "queue_id": "0" * 32, "employee_id": "0" * 32,
           "rule_id": 2_000_000_000, "user_id": "0" * 32}


def _ingest(subject_id: str, image: bytes, application: str) -> tuple[int, str]:
    ingest_batch(subject_id, events=[event(1, application=application)],
                 screenshots=[{"screenshot_id": "shot-1", "captured_at": event(1)["occurred_at"],
                               "application": application, "site_domain": "slack.com", "image": image}])
    db.session.commit()
    event_id = db.session.scalar(sa.select(ActivityEvent.id).where(ActivityEvent.subject_id == subject_id))
    shot_id = db.session.scalar(sa.select(Screenshot.id).where(Screenshot.subject_id == subject_id))
    assert event_id is not None and shot_id is not None
    return event_id, shot_id


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> World:
    signed_in_as_alice(client)
    other = make_employee(app, "erin@example.com", name="Erin Other")
    alice_png, other_png = png("#3b5998"), png("#aa2233", (50, 30))
    with app.app_context():
        alice_employee = find_by_email("alice@example.com")
        assert alice_employee is not None
        alice = alice_employee.id
        grant_all_consents(alice)
        own_event, own_shot = _ingest(alice, alice_png, "Slack")
        other_event, other_shot = _ingest(other, other_png, "ErinsPrivateApp")
        draft = policy.save_draft("Monitoring policy", "# Policy\n\nWhat we collect.", "", Actor.system())
        version = policy.publish(draft.id, Actor.system()).version
        assert version is not None
        acks = {who: policy.acknowledge(who, version, Actor("employee", who)).id for who in (alice, other)}
        entries = {who: consent.ledger(who)[0].id for who in (alice, other)}
        exported = {who: request_export(existing(Employee, who), actor=Actor("employee", who),
                                        dispatch=False).id for who in (alice, other)}
        # An erasure request each; Alice's is completed, so that her certificate page exists too.
        requested = {who: request_services.file_request(existing(Employee, who), RequestType.ERASURE).request
                     for who in (alice, other)}
        requested[alice].state = RequestState.FULFILLING
        request_services.complete(requested[alice], outcome="Erased.", result={
            "categories": {"screenshots": {"deleted": 1, "blocked": 0}}, "key_destroyed": True})
        request_ids = {who: r.id for who, r in requested.items()}
        db.session.commit()
        active = runner()  # no job may still run during a walk: the requests' e-mails are sent first
        assert isinstance(active, ThreadRunner) and active.wait_idle(60)
    (handle,) = live_handles(app, alice)
    shared = {"purpose": "ai_training", "version": version, "request_type": "access"}
    # Ids for the staff routes (/dpo, /admin/queues): alice, an employee, finds nothing there whatever
    # the id. First in the dicts, so that a real sample of the same key given after them wins.
    staff = {"request_id": "1" * 32, "hold_id": "2" * 32, "queue_id": "3" * 32, "employee_id": other, "rule_id": 1,
             "pack_id": "4" * 32, "share_id": "5" * 32, "recipient_id": "8" * 32,
             "task_id": "9" * 32,
             "token": "6" * 43, "token_id": "7" * 32, "pseudonym": "tp_" + "a" * 26,
             # SCIM (/scim/v2): a real employee, a resource type, a schema; a session cookie opens none
             "user_id": other, "name": "User", "urn": "urn:ietf:params:scim:schemas:core:2.0:User",
             # the training-set ledger (/api/v1/training): names a session cookie opens nothing under
             "dataset": "activity", "snapshot": "s1", "version": "1"}  # an evidence link's token (public pages): a wrong one finds nothing
    return World(alice=alice, other=other,
                 own={**staff, "event_id": own_event, "shot_id": own_shot, "handle": handle, "entry_id": entries[alice],
                      "ack_id": acks[alice], "export_id": exported[alice], "request_id": request_ids[alice],
                      **shared},
                 others={**staff, "event_id": other_event, "shot_id": other_shot, "entry_id": entries[other],
                         "ack_id": acks[other], "export_id": exported[other], "request_id": request_ids[other],
                         **shared},
                 alice_png=alice_png, other_png=other_png)


def build(app: Flask, rule: Rule, values: dict[str, Any]) -> str:
    missing = set(rule.arguments) - set(values)
    assert not missing, f"{rule.rule}: give the walk a sample value for {sorted(missing)}"
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, {k: values[k] for k in rule.arguments})


def routes(app: Flask, method: str) -> list[Rule]:
    found = [r for r in app.url_map.iter_rules() if r.endpoint != "static" and method in (r.methods or set())]
    assert found, f"no {method} routes at all?"
    # The OIDC callback signs the browser out when it refuses; keep it last in a walk.
    return sorted(found, key=lambda r: (r.endpoint == "auth.callback", r.rule))


# --- headers ---------------------------------------------------------------------------------------

PAGES: dict[str, tuple[bool, str]] = {
    "landing": (False, "/"),
    "home-signed-in": (True, "/"),
    "sessions-signed-in": (True, "/account/sessions"),
    "redirect-to-sign-in": (False, "/account/sessions"),
    "not-found": (False, "/no-such-page"),
    "static-css": (False, "/static/portal.css"),
    "error-500": (False, "/test-only/boom"),
}


@pytest.mark.parametrize("page", PAGES)
def test_security_headers_on_every_kind_of_response(app: Flask, client: FlaskClient, page: str) -> None:
    add_boom_route(app)
    needs_sign_in, path = PAGES[page]
    if needs_sign_in:
        signed_in_as_alice(client)
    response = client.get(path)
    assert response.status_code == {"not-found": 404, "error-500": 500, "redirect-to-sign-in": 302}.get(page, 200)

    csp = response.headers["Content-Security-Policy"]
    directives = {name: sources for name, *sources in (part.split() for part in csp.split(";") if part.strip())}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] in {"no-referrer", "same-origin", "strict-origin-when-cross-origin"}
    if page == "static-css":
        assert response.headers.get("Cache-Control") != "no-store"
    else:
        assert response.headers["Cache-Control"] == "no-store"


def test_pages_carry_no_inline_script_or_style(app: Flask, client: FlaskClient, world: World) -> None:
    """The CSP forbids inline code; the pages must not rely on it either."""
    for path in ("/", "/account/sessions", f"/me/events/{world.own['event_id']}",
                 f"/me/screenshots/{world.own['shot_id']}"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, path
        assert "<style" not in html and " style=" not in html and re.search(r"\son[a-z]+=", html) is None, path


# --- the URL map -----------------------------------------------------------------------------------

def undeclared_routes(app: Flask) -> list[str]:
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        rule_value = access_rule(app.view_functions[rule.endpoint])
        if not (rule_value in (PUBLIC, SIGNED_IN) or isinstance(rule_value, Permission | Scope)):
            problems.append(f"{rule.rule} ({rule.endpoint}) declares no access rule")
        unsafe = (rule.methods or set()) - SAFE_METHODS
        # SCIM (RFC 7644) is made of PUT, PATCH and DELETE; its routes take a bearer token only.
        allowed = SCIM_METHODS if isinstance(rule_value, Scope) and rule.rule.startswith("/scim/v2/") else {"POST"}
        if not unsafe <= allowed:
            problems.append(f"{rule.rule} accepts {sorted(unsafe)}; only GET and POST are used")
    return problems


def test_every_route_declares_an_access_rule(app: Flask) -> None:
    assert undeclared_routes(app) == []


SCIM_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def test_the_route_walk_catches_a_route_without_a_rule(app: Flask) -> None:
    app.add_url_rule("/test-only/bare", "test_only_bare", lambda: "no rule here")
    app.add_url_rule("/test-only/put", "test_only_put", public(lambda: "put"), methods=["PUT"])
    app.add_url_rule("/scim/v2/test-only", "test_only_scim", public(lambda: "put"), methods=["PATCH"])
    assert sorted(undeclared_routes(app)) == ["/scim/v2/test-only accepts ['PATCH']; only GET and POST are used",
                                      "/test-only/bare (test_only_bare) declares no access rule",
                                      "/test-only/put accepts ['PUT']; only GET and POST are used"]


def bearer_only(app: Flask, rule: Rule) -> bool:
    """An integrations-API route: a service token authenticates it, never the session cookie."""
    return isinstance(access_rule(app.view_functions[rule.endpoint]), Scope)


def assert_bearer_refusal(response: TestResponse, url: str) -> None:
    assert response.status_code == 401, (url, response.status_code)
    assert response.mimetype == ("application/scim+json" if url.startswith("/scim/") else "application/problem+json"), url
    assert response.headers["WWW-Authenticate"].startswith("Bearer "), url
    assert "Set-Cookie" not in response.headers, url


# POST routes without CSRF on purpose, besides the bearer-token ones: the IdP's back-channel logout is
# a server-to-server call with no session (none is opened under it); its signed token is the key.
CSRF_EXEMPT = {"/auth/backchannel-logout"}


def test_every_post_refuses_a_missing_or_forged_csrf_token(app: Flask, client: FlaskClient, world: World) -> None:
    for rule in routes(app, "POST"):
        url = build(app, rule, world.own)
        if bearer_only(app, rule):  # no CSRF there (no browser sends a bearer token), and the cookie is no key
            before = snapshot(app, skip=frozenset())
            assert_bearer_refusal(client.post(url, data={}), url)
            assert snapshot(app, skip=frozenset()) == before
            continue
        if rule.rule in CSRF_EXEMPT:  # the signed-in browser's cookie is no key there either
            before = snapshot(app)
            response = client.post(url, data={"csrf_token": "forged"})
            assert response.status_code == 400 and response.get_json()["error"] == "invalid_request", url
            assert "Set-Cookie" not in response.headers, url
            assert snapshot(app) == before, f"POST {url} without a logout token changed something"
            continue
        for data in ({}, {"csrf_token": "forged"}):
            before = snapshot(app, skip=frozenset())
            response = client.post(url, data=data)
            assert response.status_code == 400, (url, data, response.status_code)
            assert "Your form expired" in response.get_data(as_text=True)
            assert snapshot(app, skip=frozenset()) == before, f"POST {url} without a valid token changed something"
    assert client.get("/account/sessions").status_code == 200, "still signed in"


def test_every_put_patch_and_delete_takes_a_bearer_token_only(app: Flask, client: FlaskClient, world: World) -> None:
    """Only SCIM's routes take these methods; a signed-in browser's cookie opens none of them."""
    for method in ("PUT", "PATCH", "DELETE"):
        for rule in routes(app, method):
            assert bearer_only(app, rule), rule.rule
            url = build(app, rule, world.own)
            before = snapshot(app, skip=frozenset())
            assert_bearer_refusal(client.open(url, method=method, json={"active": False}), url)
            assert snapshot(app, skip=frozenset()) == before


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, world: World) -> None:
    anonymous = app.test_client()
    for rule in routes(app, "GET"):
        if access_rule(app.view_functions[rule.endpoint]) == PUBLIC:
            continue
        for values in (world.own, world.others | {"handle": world.own["handle"]}):
            url = build(app, rule, values)
            before = snapshot(app)
            response = anonymous.get(url)
            if bearer_only(app, rule):
                assert_bearer_refusal(response, url)
                assert snapshot(app) == before
                continue
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/auth/login?next="), url
            assert snapshot(app) == before


def test_no_get_route_changes_state(app: Flask, client: FlaskClient, world: World) -> None:
    for rule in routes(app, "GET"):
        url = build(app, rule, world.own)
        for query in ("", "?reauth=1&next=/account/sessions"):
            before = snapshot(app)
            response = client.get(url + query)
            assert response.status_code < 500, url
            rule_of_view = access_rule(app.view_functions[rule.endpoint])
            if isinstance(rule_of_view, Scope):  # signed in, but a session is no key to the API
                assert_bearer_refusal(response, url)
            elif rule_of_view == SIGNED_IN:
                assert response.status_code == 200, url
            elif rule_of_view != PUBLIC:  # staff only: alice, an employee, finds nothing there
                assert response.status_code == 404, url
            assert snapshot(app) == before, f"GET {url}{query} changed the database"


# --- objects that are not yours ---------------------------------------------------------------------

# Every route that takes the id of an employee's own object; the walk below tries each with
# another employee's id. test_every_owned_id_route_is_walked keeps this list complete.
OWNED_PAGES = {
    "event": "/me/events/{event_id}",
    "screenshot": "/me/screenshots/{shot_id}",
    "screenshot-image": "/me/screenshots/{shot_id}/image",
    "screenshot-thumbnail": "/me/screenshots/{shot_id}/thumbnail",
    "consent-entry": "/me/consent/entries/{entry_id}",
    "policy-acknowledgement": "/policy/acknowledgements/{ack_id}",
    "export": "/me/exports/{export_id}",
    "export-progress": "/me/exports/{export_id}/progress",
    "request": "/me/requests/{request_id}",
    "request-certificate": "/me/requests/{request_id}/certificate",
}
OWNED_KEYS = {"event_id", "shot_id", "entry_id", "ack_id", "export_id", "request_id"}
SECTION_PAGES = {"/me/activity", "/me/screenshots", "/me/consent", "/me/access-log", "/me/exports", "/me/requests"}


def test_every_owned_id_route_is_walked(app: Flask) -> None:
    walked = {template.split("{")[0] for template in OWNED_PAGES.values()}
    for rule in app.url_map.iter_rules():
        if isinstance(access_rule(app.view_functions[rule.endpoint]), Permission | Scope):
            continue  # a staff or service-token route: an employee finds nothing there whatever the id
        if set(rule.arguments) & OWNED_KEYS and "GET" in (rule.methods or set()):
            assert rule.rule.split("<")[0] in walked, f"{rule.rule} takes an owned id but is not walked"


def test_home_page_links_are_the_owned_pages_and_sections(client: FlaskClient, world: World) -> None:
    html = client.get("/").get_data(as_text=True)
    links = set(re.findall(r'(?:href|src)="(/me/[^"?#]+)"', html))
    per_item_keys = ("event", "screenshot", "screenshot-image", "screenshot-thumbnail")
    per_item = {template.format(**world.own) for key, template in OWNED_PAGES.items() if key in per_item_keys}
    assert links - SECTION_PAGES <= per_item
    assert links >= SECTION_PAGES
    theirs = {template.format(**world.others) for key, template in OWNED_PAGES.items() if key in per_item_keys}
    assert not links & theirs


@pytest.mark.parametrize("page", OWNED_PAGES)
def test_another_employees_item_is_not_found_and_audited(app: Flask, client: FlaskClient, world: World,
                                                         page: str) -> None:
    template = OWNED_PAGES[page]
    assert client.get(template.format(**world.own)).status_code == 200

    before = snapshot(app)
    refused_before = len(audit_entries(app, REFUSED))
    theirs = client.get(template.format(**world.others))
    nothing = client.get(template.format(**MISSING))
    assert theirs.status_code == nothing.status_code == 404
    assert without_csrf_value(theirs.get_data(as_text=True)) == without_csrf_value(nothing.get_data(as_text=True))
    body = theirs.get_data(as_text=True)
    assert "ErinsPrivateApp" not in body and "Erin" not in body and world.other not in body
    assert world.others["shot_id"] not in body and world.other not in body
    assert theirs.headers["Content-Type"].startswith("text/html")
    assert theirs.headers["Cache-Control"] == "no-store"

    refused = audit_entries(app, REFUSED)[refused_before:]
    key = next(k for k in OWNED_KEYS if "{" + k + "}" in template)
    assert [(e.actor_type, e.actor_id, e.targets["id"]) for e in refused] == [
        ("employee", world.alice, str(world.others[key])), ("employee", world.alice, str(MISSING[key]))]
    assert snapshot(app) == before


def test_ending_another_employees_session_is_not_found(app: Flask, client: FlaskClient, world: World) -> None:
    bob = app.test_client()
    signed_in_as(bob, "bob@example.com")
    with app.app_context():
        bob_employee = find_by_email("bob@example.com")
        assert bob_employee is not None
        bob_id = bob_employee.id
    (bob_handle,) = live_handles(app, bob_id)
    token = csrf_token(client.get("/account/sessions").get_data(as_text=True))

    before = snapshot(app)
    refused_before = len(audit_entries(app, REFUSED))
    theirs = client.post(f"/account/sessions/{bob_handle}/end", data={"csrf_token": token})
    nothing = client.post(f"/account/sessions/{MISSING['handle']}/end", data={"csrf_token": token})
    assert theirs.status_code == nothing.status_code == 404
    assert without_csrf_value(theirs.get_data(as_text=True)) == without_csrf_value(nothing.get_data(as_text=True))
    assert "Bob" not in theirs.get_data(as_text=True)
    refused = audit_entries(app, REFUSED)[refused_before:]
    assert [(e.actor_id, e.targets) for e in refused] == [
        (world.alice, {"type": "auth_sessions", "id": bob_handle[:8]}),
        (world.alice, {"type": "auth_sessions", "id": MISSING["handle"][:8]})]
    assert snapshot(app) == before
    assert live_handles(app, bob_id) == [bob_handle]
    assert bob.get("/account/sessions").status_code == 200, "Bob is still signed in"


def test_screenshot_image_is_the_original_png_and_not_cached(app: Flask, client: FlaskClient, world: World) -> None:
    response = client.get(f"/me/screenshots/{world.own['shot_id']}/image")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == world.alice_png
    views = audit_entries(app, "monitoring:screenshot:view")
    assert [(e.actor_id, e.targets) for e in views] == [(world.alice, {"screenshot": world.own["shot_id"]})]


# --- error pages -----------------------------------------------------------------------------------

ERRORS: dict[str, Callable[[FlaskClient], TestResponse]] = {
    "500": lambda c: c.get("/test-only/boom"),
    "404": lambda c: c.get("/no-such-page/<script>"),
    "405": lambda c: c.get("/auth/logout"),
    "400-csrf": lambda c: c.post("/auth/logout"),
}


@pytest.mark.parametrize("kind", ERRORS)
def test_error_pages_reveal_nothing(app: Flask, client: FlaskClient, kind: str) -> None:
    add_boom_route(app)
    response = ERRORS[kind](client)
    assert response.status_code == int(kind[:3])
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    for leak in ("secret-detail-XYZ", "Traceback", "RuntimeError", 'File "', "werkzeug", "<script>", "sqlalchemy"):
        assert leak not in body, leak
    assert f"Error {kind[:3]}" in body
    if kind == "500":
        assert "Something went wrong" in body


@pytest.mark.parametrize("path", ["/policy/{n}", "/policy/acknowledgements/{n}", "/me/consent/entries/{n}",
                                  "/me/events/{n}"])
@pytest.mark.parametrize("number", [2**63, 10**23])
def test_a_number_no_column_can_hold_is_not_found_not_an_error(client: FlaskClient, world: World, path: str,
                                                                 number: int) -> None:
    response = client.get(path.format(n=number))
    assert response.status_code == 404
    assert client.get(path.format(n=2**63 - 1)).status_code == 404  # the largest a column holds: a plain miss
