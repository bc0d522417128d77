"""SCIM 2.0 Users at /scim/v2 (RFC 7643, RFC 7644): joiners, changes and leavers from a directory
with a token of scope scim; every refusal in SCIM's error schema, and nothing changed by it."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.models import AuditEntry
from portal.auth.models import AuthSession
from portal.crypto import blind_index, keystore
from portal.db import utcnow
from portal.extensions import db
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus
from tests.auth.test_sessions import browser, is_signed_in
from tests.conftest import LiveServer, live_portal
from tests.helpers import audit_entries, event, make_employee, sign_in, signed_in_as, snapshot
from tests.scim.conftest import ENTERPRISE, ERROR, MEDIA, PORTAL, USER, Scim, new_user, patch, token_for

BOTH_DATABASES = pytest.mark.parametrize("app", ["sqlite", "postgres"], indirect=True)


def error_of(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == MEDIA
    document = response.get_json(force=True)
    assert document["schemas"] == [ERROR] and document["status"] == str(status) and document["detail"]
    assert document.get("scimType") == scim_type
    return document


def count_employees(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Employee)) or 0


@BOTH_DATABASES
def test_a_created_user_is_an_employee_of_the_portal(app: Flask, scim: Scim) -> None:
    response = scim.call("POST", "/Users", new_user())
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == MEDIA
    user = response.get_json(force=True)
    base_url = app.config["PORTAL_SETTINGS"].base_url
    assert response.headers["Location"] == user["meta"]["location"] == f"{base_url}/scim/v2/Users/{user['id']}"
    assert response.headers["ETag"] == user["meta"]["version"] and user["meta"]["version"].startswith('W/"')
    assert user["userName"] == "joan@example.com" and user["displayName"] == "Joan Miró"
    assert user["emails"] == [{"value": "joan@example.com", "type": "work", "primary": True},
                              {"value": "joan.home@example.net", "type": "home"}]
    assert user[ENTERPRISE] == {"employeeNumber": "E7001"} and user[PORTAL] == {"jurisdiction": "ES"}
    assert user["externalId"] == "dir-joan" and user["active"] is True and user["timezone"] == "Europe/Madrid"
    with app.app_context():
        employee = people.find_by_email("JOAN@example.com")
        assert employee is not None and employee.id == user["id"]
        assert (employee.display_name, employee.jurisdiction, employee.timezone) == ("Joan Miró", "ES", "Europe/Madrid")
        assert employee.employee_number == "E7001" and people.find_by_employee_number("E7001") == employee
        assert employee.personal_email == "joan.home@example.net" and employee.external_id == "dir-joan"
        assert people.find_by_external_id("dir-joan") == employee and people.find_by_external_id("DIR-JOAN") is None
        assert employee.employment_status == EmploymentStatus.ACTIVE
        assert b"dir-joan" not in (employee.external_id_sealed or b"")
    (entry,) = audit_entries(app, "scim:user:create")
    assert entry.actor_type == "api-token" and entry.subject_id == user["id"]
    (update,) = audit_entries(app, "people:employee:update")
    assert update.details == {"fields": ["employee_number", "external_id", "personal_email"]}
    with app.app_context():
        details = " ".join(str(e.details) + str(e.targets) for e in db.session.scalars(sa.select(AuditEntry)))
    assert "joan" not in details.lower() and "E7001" not in details
    again = scim.call("GET", f"/Users/{user['id']}")
    assert again.status_code == 200 and again.get_json(force=True) == user
    assert scim.call("GET", f"/Users/{user['id']}", **{"If-None-Match": user["meta"]["version"]}).status_code == 304


def test_filters_find_by_user_name_and_external_id(app: Flask, scim: Scim) -> None:
    created = scim.call("POST", "/Users", new_user()).get_json(force=True)
    for expression in ('userName eq "Joan@Example.com"', 'externalId eq "dir-joan"', 'USERNAME EQ "joan@example.com"'):
        found = scim.client.get("/scim/v2/Users", query_string={"filter": expression}, headers=scim.headers)
        assert found.status_code == 200 and found.mimetype == MEDIA
        listing = found.get_json(force=True)
        assert listing["totalResults"] == 1 and [u["id"] for u in listing["Resources"]] == [created["id"]]
    for expression in ('externalId eq "DIR-JOAN"', 'userName eq "nobody@example.com"'):
        listing = scim.client.get("/scim/v2/Users", query_string={"filter": expression}, headers=scim.headers).get_json(force=True)
        assert listing["totalResults"] == 0 and listing["Resources"] == []
    for expression in ('displayName eq "Joan"', 'userName co "joan"', "userName eq joan", 'userName eq "a" or active eq true'):
        error_of(scim.client.get("/scim/v2/Users", query_string={"filter": expression}, headers=scim.headers),
                 400, "invalidFilter")


@BOTH_DATABASES
def test_the_list_pages_through_every_employee_and_nothing_else(app: Flask, scim: Scim) -> None:
    for n in range(3):
        make_employee(app, f"page{n}@example.com", name=f"Page {n}", employee_number=f"P{n}")
    total = count_employees(app)
    seen: list[str] = []
    start = 1
    while True:
        page = scim.client.get("/scim/v2/Users", query_string={"startIndex": start, "count": 2},
                               headers=scim.headers).get_json(force=True)
        assert page["totalResults"] == total and page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"]) <= 2
        if not page["Resources"]:
            break
        seen += [u["id"] for u in page["Resources"]]
        for user in page["Resources"]:
            assert set(user) <= {"schemas", "id", "externalId", "userName", "name", "displayName", "emails",
                                 "timezone", "active", "meta", ENTERPRISE, PORTAL}
        start += 2
    with app.app_context():
        assert sorted(seen) == sorted(db.session.scalars(sa.select(Employee.id))), "each employee once, nothing else"
    assert scim.client.get("/scim/v2/Users?count=0", headers=scim.headers).get_json(force=True)["Resources"] == []
    error_of(scim.client.get("/scim/v2/Users?startIndex=two", headers=scim.headers), 400, "invalidValue")
    far = scim.client.get("/scim/v2/Users?startIndex=" + "9" * 30 + "&count=-5", headers=scim.headers)
    assert far.status_code == 200 and far.get_json(force=True)["Resources"] == []


@BOTH_DATABASES
def test_deactivating_ends_every_session_at_once_and_sso_is_refused(app: Flask, scim: Scim) -> None:
    clients = [browser(app), browser(app)]
    with app.app_context():
        alice = people.find_by_email("alice@example.com")
        assert alice is not None
        alice_id = alice.id
        ingest_batch(alice_id, events=[event(1)], screenshots=[])
        db.session.commit()
    assert all(is_signed_in(c) for c in clients)
    response = scim.call("PATCH", f"/Users/{alice_id}", patch({"op": "Replace", "path": "active", "value": False}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json(force=True)["active"] is False
    assert not any(is_signed_in(c) for c in clients)
    with app.app_context():
        alice = db.session.get(Employee, alice_id)
        assert alice is not None and alice.is_former and alice.left_at is not None
        assert alice.left_at.date() == utcnow().date()
        assert all(s.end_reason == "employment-ended" for s in db.session.scalars(
            sa.select(AuthSession).where(AuthSession.employee_id == alice_id)))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ActivityEvent)
                                 .where(ActivityEvent.subject_id == alice_id)) == 1, "data stays"
    refused = sign_in(app.test_client(), "alice@example.com")
    assert refused.status_code == 403 and 'href="/former"' in refused.get_data(as_text=True)
    (leave,) = audit_entries(app, "people:employee:leave")
    assert leave.actor_type == "api-token" and leave.details["sessions_ended"] == 2
    (entry,) = audit_entries(app, "scim:user:patch")
    assert entry.subject_id == alice_id and entry.details == {"changed": ["active"]}
    back = scim.call("PATCH", f"/Users/{alice_id}", patch({"op": "replace", "value": {"active": True}}))
    assert back.status_code == 200 and back.get_json(force=True)["active"] is True
    assert sign_in(app.test_client(), "alice@example.com").status_code == 302, "re-activated: SSO admits her again"
    (reinstated,) = audit_entries(app, "people:employee:reinstate")
    assert reinstated.subject_id == alice_id


def test_delete_makes_a_leaver_and_erases_nothing(app: Flask, scim: Scim) -> None:
    client = browser(app, sub="bob@example.com")
    with app.app_context():
        bob = people.find_by_email("bob@example.com")
        assert bob is not None
        bob_id = bob.id
    response = scim.call("DELETE", f"/Users/{bob_id}")
    assert response.status_code == 204 and not response.data
    assert not is_signed_in(client)
    user = scim.call("GET", f"/Users/{bob_id}").get_json(force=True)
    assert user["active"] is False and user["userName"] == "bob@example.com"
    assert scim.call("DELETE", f"/Users/{bob_id}").status_code == 204, "deleting a leaver again changes nothing"
    assert len(audit_entries(app, "people:employee:leave")) == 1
    error_of(scim.call("DELETE", "/Users/no-such-user"), 404)


def test_patch_replaces_emails_and_name(app: Flask, scim: Scim) -> None:
    user = scim.call("POST", "/Users", new_user()).get_json(force=True)
    response = scim.call("PATCH", f"/Users/{user['id']}", patch(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "joan.miro@example.com"},
        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "jm@example.org"},
        {"op": "replace", "path": "name.formatted", "value": "Joan Miró i Ferrà"},
        {"op": "replace", "path": "displayName", "value": "Joan Miró i Ferrà"},
        {"op": "replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "E7002"},
        {"op": "replace", "path": f"{PORTAL}:jurisdiction", "value": "us-ca"}))
    assert response.status_code == 200, response.get_data(as_text=True)
    patched = response.get_json(force=True)
    assert patched["userName"] == "joan.miro@example.com" and patched["displayName"] == "Joan Miró i Ferrà"
    assert patched[PORTAL] == {"jurisdiction": "US-CA"} and patched[ENTERPRISE] == {"employeeNumber": "E7002"}
    assert response.headers["ETag"] != user["meta"]["version"]
    with app.app_context():
        assert people.find_by_email("joan@example.com") is None
        employee = people.find_by_email("joan.miro@example.com")
        assert employee is not None and employee.personal_email == "jm@example.org"
        assert people.find_by_employee_number("E7001") is None and employee.jurisdiction == "US-CA"
    (entry,) = audit_entries(app, "scim:user:patch")
    assert entry.details == {"changed": ["email", "display_name", "jurisdiction", "employee_number", "personal_email"]}
    removed = scim.call("PATCH", f"/Users/{user['id']}", patch({"op": "remove", "path": 'emails[type eq "home"]'}))
    assert [e["type"] for e in removed.get_json(force=True)["emails"]] == ["work"]


def test_put_replaces_the_whole_user_and_honours_if_match(app: Flask, scim: Scim) -> None:
    user = scim.call("POST", "/Users", new_user()).get_json(force=True)
    replacement = new_user(displayName="Joan M.", timezone="America/Bogota")
    replacement[PORTAL] = {"jurisdiction": "CO"}
    del replacement[ENTERPRISE]
    stale = scim.call("PUT", f"/Users/{user['id']}", replacement, **{"If-Match": 'W/"00000000000000000000"'})
    error_of(stale, 412)
    response = scim.call("PUT", f"/Users/{user['id']}", replacement, **{"If-Match": user["meta"]["version"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    replaced = response.get_json(force=True)
    assert ENTERPRISE not in replaced and replaced[PORTAL] == {"jurisdiction": "CO"}
    assert replaced["displayName"] == "Joan M." and replaced["timezone"] == "America/Bogota"
    with app.app_context():
        assert people.find_by_employee_number("E7001") is None, "PUT replaces: the number left is cleared"


BAD_USERS: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("no userName", {"userName": None}, 400, "invalidValue"),
    ("bad e-mail", {"userName": "not-an-email", "emails": []}, 400, "invalidValue"),
    ("work e-mail not the userName", {"emails": [{"value": "other@example.com", "type": "work"}]}, 400, "invalidValue"),
    ("unknown e-mail type", {"emails": [{"value": "x@example.com", "type": "pager"}]}, 400, "invalidValue"),
    ("bad jurisdiction", {PORTAL: {"jurisdiction": "Spain"}}, 400, "invalidValue"),
    ("no jurisdiction", {PORTAL: {}}, 400, "invalidValue"),
    ("bad timezone", {"timezone": "Mars/Olympus"}, 400, "invalidValue"),
    ("active not a boolean", {"active": "maybe"}, 400, "invalidValue"),
    ("no core schema", {"schemas": [PORTAL]}, 400, "invalidSyntax"),
    ("control characters", {"displayName": "Joan\u0007"}, 400, "invalidValue"),
    ("another's userName", {"userName": "Holder@example.com", "emails": []}, 409, "uniqueness"),
    ("another's employee number", {ENTERPRISE: {"employeeNumber": "E9001"}}, 409, "uniqueness"),
    ("personal e-mail is the work one", {"emails": [{"value": "joan@example.com", "type": "home"}]}, 400, "invalidValue"),
]


@pytest.mark.parametrize(("why", "change", "status", "scim_type"), BAD_USERS, ids=[b[0] for b in BAD_USERS])
def test_bad_input_is_a_scim_error_and_changes_nothing(app: Flask, scim: Scim, why: str, change: dict[str, Any],
                                                       status: int, scim_type: str | None) -> None:
    make_employee(app, "holder@example.com", employee_number="E9001")
    user = scim.call("POST", "/Users", new_user()).get_json(force=True)
    before = snapshot(app, skip=frozenset())
    error_of(scim.call("PUT", f"/Users/{user['id']}", new_user(**change)), status, scim_type)
    if why != "personal e-mail is the work one":  # (for a newcomer, joan's address is just another one)
        newcomer = new_user("newcomer@example.com", externalId="dir-new", **{ENTERPRISE: {"employeeNumber": "E7100"}})
        error_of(scim.call("POST", "/Users", newcomer | change), status, scim_type)
    assert snapshot(app, skip=frozenset()) == before, why


@BOTH_DATABASES
def test_bad_patches_are_scim_errors_and_change_nothing(app: Flask, scim: Scim) -> None:
    make_employee(app, "holder@example.com")
    user = scim.call("POST", "/Users", new_user()).get_json(force=True)
    url = f"/Users/{user['id']}"
    before = snapshot(app, skip=frozenset())
    for body, scim_type in [
        (patch({"op": "replace", "path": "active", "value": "maybe"}), "invalidValue"),
        (patch({"op": "replace", "path": "active", "value": False},
               {"op": "replace", "path": "timezone", "value": "Nowhere/Land"}), "invalidValue"),
        (patch({"op": "replace", "path": "roles[primary eq true].value", "value": "admin"}), "invalidPath"),
        (patch({"op": "replace", "path": "urn:example:other:attr", "value": "x"}), "invalidPath"),
        (patch({"op": "move", "path": "active", "value": False}), "invalidSyntax"),
        (patch({"op": "remove"}), "noTarget"),
        (patch(), "invalidSyntax"),
        ({"schemas": [USER], "Operations": [{"op": "replace", "path": "active", "value": False}]}, "invalidSyntax"),
        (patch({"op": "replace", "path": "userName", "value": "holder@example.com"}), "uniqueness"),
    ]:
        error_of(scim.call("PATCH", url, body), 409 if scim_type == "uniqueness" else 400, scim_type)
    not_json = scim.client.patch(f"/scim/v2{url}", data="{", content_type=MEDIA, headers=scim.headers)
    error_of(not_json, 400, "invalidSyntax")
    form = scim.client.patch(f"/scim/v2{url}", data={"active": "false"}, headers=scim.headers)
    error_of(form, 415)
    assert snapshot(app, skip=frozenset()) == before
    with app.app_context():
        employee = db.session.get(Employee, user["id"])
        assert employee is not None and not employee.is_former, "a refused PATCH makes no leaver"


def test_only_a_token_of_scope_scim_opens_the_endpoint(app: Flask, client: FlaskClient) -> None:
    wrong = Scim(app.test_client(), token_for(app, "ingest", "requests:read"))
    anonymous = Scim(app.test_client(), None)
    signed_in_as(client)
    signed_in_only = Scim(client, None)
    before = snapshot(app, skip=frozenset({"audit_entries", "api_tokens"}))
    for method, path, body in [("GET", "/Users", None), ("POST", "/Users", new_user()),
                               ("GET", "/ServiceProviderConfig", None), ("DELETE", "/Users/x", None)]:
        forbidden = error_of(wrong.call(method, path, body), 403)
        assert "scim" in forbidden["detail"]
        assert 'error="insufficient_scope"' in wrong.call(method, path, body).headers["WWW-Authenticate"]
        for caller in (anonymous, signed_in_only):
            response = caller.call(method, path, body)
            error_of(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer ")
            assert "Set-Cookie" not in response.headers
    assert snapshot(app, skip=frozenset({"audit_entries", "api_tokens"})) == before


def test_discovery_documents(scim: Scim) -> None:
    config = scim.call("GET", "/ServiceProviderConfig").get_json(force=True)
    assert config["patch"]["supported"] and config["filter"] == {"supported": True, "maxResults": 200}
    assert config["etag"]["supported"] and not config["bulk"]["supported"] and not config["sort"]["supported"]
    types = scim.call("GET", "/ResourceTypes").get_json(force=True)
    assert [t["id"] for t in types["Resources"]] == ["User"] and types["Resources"][0]["schema"] == USER
    assert scim.call("GET", "/ResourceTypes/User").get_json(force=True)["endpoint"] == "/Users"
    schemas = scim.call("GET", "/Schemas").get_json(force=True)
    assert [s["id"] for s in schemas["Resources"]] == [USER, ENTERPRISE, PORTAL]
    portal = scim.call("GET", f"/Schemas/{PORTAL}").get_json(force=True)
    assert [a["name"] for a in portal["attributes"]] == ["jurisdiction"]
    error_of(scim.call("GET", "/Schemas/urn:nothing"), 404)
    error_of(scim.call("GET", "/Groups"), 404)


def _http(url: str, token: str, method: str = "GET", body: Any = None) -> tuple[int, str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 (a loopback test server)
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": MEDIA})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            raw = answer.read()
            return answer.status, answer.headers["Content-Type"], json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], json.loads(error.read())


def test_a_directory_provisions_over_real_http(tmp_path: Path, idp_url: str, sqlite_template: Path) -> None:
    app, port = live_portal(tmp_path, idp_url, sqlite_template)
    token = token_for(app, "scim")
    with LiveServer(app, port) as live:
        base = f"{live.url}/scim/v2"
        status, media, user = _http(f"{base}/Users", token, "POST", new_user("lena@example.com"))
        assert (status, media) == (201, MEDIA) and user["meta"]["location"] == f"{base}/Users/{user['id']}"
        status, _, listing = _http(f"{base}/Users?filter=" + urllib.parse.quote('externalId eq "dir-lena"'), token)
        assert status == 200 and [u["id"] for u in listing["Resources"]] == [user["id"]]
        status, _, patched = _http(f"{base}/Users/{user['id']}", token, "PATCH",
                                   patch({"op": "replace", "path": "active", "value": False}))
        assert status == 200 and patched["active"] is False
        status, media, error = _http(f"{base}/Users/{user['id']}", "ppt_" + "x" * 43)
        assert (status, media) == (401, MEDIA) and error["schemas"] == [ERROR]
    with app.app_context():
        lena = people.find_by_email("lena@example.com")
        assert lena is not None and lena.is_former


def test_a_body_too_large_is_refused_and_changes_nothing(app: Flask, scim: Scim) -> None:
    before = snapshot(app, skip=frozenset())
    huge = new_user(displayName="x" * (70 * 1024))
    error_of(scim.call("POST", "/Users", huge), 413, "tooLarge")
    assert snapshot(app, skip=frozenset()) == before


def test_a_put_without_active_leaves_a_leaver_a_leaver(app: Flask, scim: Scim) -> None:
    user = scim.call("POST", "/Users", new_user(active=False)).get_json(force=True)
    assert user["active"] is False
    replacement = new_user(displayName="Joan M.")
    del replacement["active"]
    replaced = scim.call("PUT", f"/Users/{user['id']}", replacement).get_json(force=True)
    assert replaced["active"] is False and replaced["displayName"] == "Joan M."
    assert audit_entries(app, "people:employee:reinstate") == []
    (entry,) = audit_entries(app, "scim:user:replace")
    assert entry.details == {"changed": ["display_name"]}


def test_attributes_outside_the_schemas_are_not_kept(app: Flask, scim: Scim) -> None:
    user = scim.call("POST", "/Users", new_user(title="Painter", phoneNumbers=[{"value": "+34 600", "type": "work"}]))
    assert user.status_code == 201
    created = user.get_json(force=True)
    assert "title" not in created and "phoneNumbers" not in created
    response = scim.call("PATCH", f"/Users/{created['id']}", patch(
        {"op": "add", "path": "title", "value": "Sculptor"},
        {"op": "replace", "path": 'addresses[type eq "work"].country', "value": "FR"}))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json(force=True) == created, "nothing the portal keeps changed"
    assert audit_entries(app, "scim:user:patch")[0].details == {"changed": []}
    error_of(scim.call("PATCH", f"/Users/{created['id']}", patch(
        {"op": "replace", "path": 'displayName[type eq "work"]', "value": "x"})), 400, "invalidPath")


@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_a_concurrent_creation_of_the_same_user_is_a_uniqueness_error(app: Flask, scim: Scim) -> None:
    """Another transaction inserts the same work e-mail first and commits while this POST waits on
    the unique index: the POST is answered 409, not a server error, and leaves nothing behind."""
    make_employee(app, "seed@example.com")
    with app.app_context():
        columns = {c.name: getattr(e, c.name) for e in [db.session.scalar(sa.select(Employee))]
                   for c in Employee.__table__.c}
        index = blind_index("email", "race@example.com")
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    answers: list[Any] = []
    try:
        with engine.connect() as other:
            other.execute(Employee.__table__.insert().values(
                columns | {"id": "f" * 32, "email_index": index, "employee_number_index": None,
                           "employee_number_sealed": None, "personal_email_index": None,
                           "external_id_index": None}))
            worker = threading.Thread(target=lambda: answers.append(
                scim.call("POST", "/Users", new_user("race@example.com"))))
            worker.start()
            worker.join(2)
            assert worker.is_alive(), "the POST waits on the uncommitted row's unique key"
            other.commit()
            worker.join(20)
    finally:
        engine.dispose()
    (answer,) = answers
    error_of(answer, 409, "uniqueness")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Employee)
                                 .where(Employee.email_index == index)) == 1
        assert audit_entries(app, "scim:user:create") == []
        # The seed employee's key only: the other row was inserted here, without one.
        assert set(keystore().subject_ids()) == set(db.session.scalars(sa.select(Employee.id))) - {"f" * 32}, \
            "no data key for the row that lost"


def test_attributes_and_excluded_attributes_give_a_partial_user(app: Flask, scim: Scim) -> None:
    created = scim.call("POST", "/Users", new_user()).get_json(force=True)
    url = f"/scim/v2/Users/{created['id']}"

    def partial(**query: str) -> Any:
        response = scim.client.get(url, query_string=query, headers=scim.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json(force=True)

    assert partial(attributes="userName,name.formatted") == {
        "schemas": created["schemas"], "id": created["id"], "userName": "joan@example.com",
        "name": {"formatted": "Joan Miró"}}
    assert partial(attributes=f"{ENTERPRISE}:employeeNumber,active") == {
        "schemas": created["schemas"], "id": created["id"], "active": True, ENTERPRISE: {"employeeNumber": "E7001"}}
    assert partial(attributes=PORTAL)[PORTAL] == {"jurisdiction": "ES"}
    without = partial(excludedAttributes="emails,name,externalId")
    assert without == {k: v for k, v in created.items() if k not in ("emails", "name", "externalId")}
    listing = scim.client.get("/scim/v2/Users", query_string={"filter": 'externalId eq "dir-joan"',
                                                              "attributes": "userName"}, headers=scim.headers)
    assert listing.get_json(force=True)["Resources"] == [{"schemas": created["schemas"], "id": created["id"],
                                                          "userName": "joan@example.com"}]
    error_of(scim.client.get(url, query_string={"attributes": "userName", "excludedAttributes": "emails"},
                             headers=scim.headers), 400, "invalidSyntax")
    error_of(scim.client.get(url, query_string={"attributes": "urn:example:x:y"}, headers=scim.headers),
             400, "invalidValue")
