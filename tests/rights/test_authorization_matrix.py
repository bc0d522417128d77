"""Who may do what on the request and queue pages: every route of the ``my_requests``, ``dpo``,
``queues_admin``, ``evidence`` and ``reports`` blueprints (found in the URL map; a route without a row here fails
the test), each method, each role, against a fresh object in the state the step needs.

The expectations are written out below as a table, by hand, from the declared rules (``signed_in``,
``requires(Permission.X)``, ``fresh_sign_in_required``), the per-object loaders (``owned_or_404``,
the DPO pages' ``_case_or_404``) and the services' checks (``may_view``, ``may_work``,
``may_approve``); they are not computed by that code. Every refusal changes nothing; every 404 is
audited as ``access:object:refused``, against the object when the person may use the page but not
that object, against the route when the page itself is not theirs.

The roles, each signed in through the real IdP once for the module (step-up is fresh for 5
minutes after sign-in): alice files the requests (the owner); bob is another employee; olga is a
DPO of the Colombia queue, where alice's (Spanish) requests never go; dana is a DPO of the Spain
queue, where they do; admin is the privacy admin. Jobs are recorded, never run, so nothing moves
behind the test's back.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from werkzeug.test import TestResponse

from portal import create_app
from portal.audit.services import Actor
from portal.evidence import sharing
from portal.extensions import db
from portal.jobs.runners import EXTENSION
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights import services as rights
from portal.rights.models import DataRequest, ErasureApproval, RequestState, RoutingRule
from tests.conftest import _stop_job_runner, app_config, set_idp_user
from tests.helpers import audit_entries, csrf_token, sign_in, snapshot, step_up
from tests.rights.support import RecordingRunner

REFUSED = "access:object:refused"
S = RequestState

# -- what is expected ---------------------------------------------------------------------------

LOGIN = "302 to sign-in"  # anonymous: sent to /auth/login?next=..., nothing else happens
DONE = "302 done"  # the step was taken; back to a page of the portal (not the sign-in)
OK = "200"
NOT_YOURS = "404 object"  # may use the page, not this object: 404, audited against the object
NOT_STAFF = "404 route"  # the page is not for this role: 404, audited against the route
REFUSED_400 = "400"  # refused by the service (not allowed, bad input); nothing changed
CONFLICT = "409"  # the object's state does not allow the step; nothing changed
GONE = "404 plain"  # nothing to give (not audited: the object is the person's own)
COUNTED = "200 counted"  # a public page behind a link's token: anyone who holds it; each look is counted

ROLES = ("anonymous", "owner", "other employee", "DPO elsewhere", "DPO", "admin")
WHO = {"owner": "alice", "other employee": "bob", "DPO elsewhere": "olga", "DPO": "dana", "admin": "admin"}


@dataclass(frozen=True)
class Row:
    """One route and method: the path (``{request}``, ``{hold}``, ``{queue}``, ``{rule}`` and the
    people's ids are filled in), what object it acts on, what a POST sends, what each role gets."""

    path: str
    target: str  # a key of TARGETS: the object made fresh for each (route, role)
    expect: tuple[str, str, str, str, str, str]  # in the order of ROLES
    data: dict[str, Any] = field(default_factory=dict)
    refused_as: tuple[str, str] = ("data_requests", "request")  # a 404's audited target: (type, key of its id)


ERASE = {"scope": "chosen", "categories": ["screenshots", "input_events"], "step": "confirm", "confirm": "y"}

MATRIX: dict[tuple[str, str], Row] = {
    # The employee's own pages: any signed-in person has a list and may file; one request is its owner's only.
    #                                                                  anonymous owner other  DPO-else  DPO  admin
    ("my_requests.index", "GET"): Row("/me/requests", "nothing", (LOGIN, OK, OK, OK, OK, OK)),
    ("my_requests.new", "GET"): Row("/me/requests/new/access", "nothing", (LOGIN, OK, OK, OK, OK, OK)),
    ("my_requests.new", "POST"): Row("/me/requests/new/access", "nothing", (LOGIN, DONE, DONE, DONE, DONE, DONE),
                                     {"description": "All of it."}),
    ("my_requests.new_erasure", "GET"): Row("/me/requests/new/erasure", "nothing", (LOGIN, OK, OK, OK, OK, OK)),
    ("my_requests.new_erasure", "POST"): Row("/me/requests/new/erasure", "nothing",
                                             (LOGIN, DONE, DONE, DONE, DONE, DONE), ERASE),
    ("my_requests.new_objection", "GET"): Row("/me/requests/new/objection", "nothing", (LOGIN, OK, OK, OK, OK, OK)),
    ("my_requests.new_objection", "POST"): Row("/me/requests/new/objection", "nothing",
                                               (LOGIN, DONE, DONE, DONE, DONE, DONE),
                                               {"purpose": "ai_training", "grounds": "I represent my colleagues."}),
    ("my_requests.detail", "GET"): Row("/me/requests/{request}", "received",
                                       (LOGIN, OK, NOT_YOURS, NOT_YOURS, NOT_YOURS, NOT_YOURS)),
    ("my_requests.answer", "POST"): Row("/me/requests/{request}/answer", "awaiting requester",
                                        (LOGIN, DONE, NOT_YOURS, NOT_YOURS, NOT_YOURS, NOT_YOURS),
                                        {"message": "All of it, please."}),
    ("my_requests.withdraw", "POST"): Row("/me/requests/{request}/withdraw", "received",
                                          (LOGIN, DONE, NOT_YOURS, NOT_YOURS, NOT_YOURS, NOT_YOURS),
                                          {"confirm": "y"}),
    ("my_requests.certificate_download", "GET"): Row("/me/requests/{request}/certificate", "completed erasure",
                                                     (LOGIN, OK, NOT_YOURS, NOT_YOURS, NOT_YOURS, NOT_YOURS)),
    # The DPO's pages: staff only; a case is its queue's DPOs' (and every admin's, to see); only the
    # queue's DPOs work it; an admin may assign it and give an erasure's second approval only.
    #                                                                  anonymous owner      other      DPO-else   DPO   admin
    ("dpo.queue", "GET"): Row("/dpo/queue", "received", (LOGIN, NOT_STAFF, NOT_STAFF, OK, OK, OK)),
    ("dpo.case", "GET"): Row("/dpo/requests/{request}", "received",
                             (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, OK, OK)),
    ("dpo.data", "GET"): Row("/dpo/requests/{request}/data", "received",
                             (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, OK, OK)),
    ("dpo.open_data", "POST"): Row("/dpo/requests/{request}/data", "received",
                                   (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, DONE)),
    ("dpo.claim", "POST"): Row("/dpo/requests/{request}/claim", "received",
                               (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400)),
    ("dpo.assign", "POST"): Row("/dpo/requests/{request}/assign", "received",
                                (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, DONE), {"assignee": "{dana}"}),
    ("dpo.bulk_assign", "POST"): Row("/dpo/queue/assign", "received",
                                     (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, DONE),
                                     {"assignee": "{dana}", "cases": "{request}"}),
    ("dpo.review", "POST"): Row("/dpo/requests/{request}/review", "open",
                                (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400)),
    ("dpo.ask", "POST"): Row("/dpo/requests/{request}/ask", "in review",
                             (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400), {"message": "Which dates?"}),
    ("dpo.message", "POST"): Row("/dpo/requests/{request}/message", "open",
                                 (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400), {"message": "On it."}),
    ("dpo.note", "POST"): Row("/dpo/requests/{request}/note", "open",
                              (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400), {"note": "Checked."}),
    ("dpo.approve", "POST"): Row("/dpo/requests/{request}/approve", "in review",  # an erasure: the first approval
                                 (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400),
                                 {"erasure_ground": "gdpr-17-1-b"}),
    ("dpo.reject", "POST"): Row("/dpo/requests/{request}/reject", "open",
                                (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400),
                                {"legal_basis": "gdpr-17-3-e", "reasons": "A claim is pending."}),
    ("dpo.extend", "POST"): Row("/dpo/requests/{request}/extend", "open",
                                (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400),
                                {"reason": "Many requests at once."}),
    ("dpo.retry", "POST"): Row("/dpo/requests/{request}/retry", "failed",
                               (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400)),
    ("dpo.redeliver_task", "POST"): Row("/dpo/requests/{request}/recipient-tasks/{task}/redeliver", "dead task",
                                        (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400)),
    ("dpo.lift_restriction", "POST"): Row("/dpo/requests/{request}/lift-restriction", "restricted",
                                          (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, REFUSED_400)),
    # Legal holds: any DPO or admin (holds are not per queue).
    ("dpo.holds", "GET"): Row("/dpo/holds", "nothing", (LOGIN, NOT_STAFF, NOT_STAFF, OK, OK, OK)),
    ("dpo.place_hold", "POST"): Row("/dpo/holds", "nothing", (LOGIN, NOT_STAFF, NOT_STAFF, DONE, DONE, DONE),
                                    {"email": "alice@example.com", "matter_reference": "M-{unique}",
                                     "reason": "A claim is pending."}),
    ("dpo.lift_hold", "POST"): Row("/dpo/holds/{hold}/lift", "hold", (LOGIN, NOT_STAFF, NOT_STAFF, DONE, DONE, DONE),
                                   {"confirm": "y"}),
    # Queues and routing: the admin's alone.
    #                                                                  anonymous owner      other      DPO-else   DPO        admin
    ("queues_admin.index", "GET"): Row("/admin/queues", "nothing",
                                       (LOGIN, NOT_STAFF, NOT_STAFF, NOT_STAFF, NOT_STAFF, OK)),
    ("queues_admin.create_queue", "POST"): Row("/admin/queues", "nothing",
                                               (LOGIN, NOT_STAFF, NOT_STAFF, NOT_STAFF, NOT_STAFF, DONE),
                                               {"name": "Queue {unique}"}),
    ("queues_admin.add_member", "POST"): Row("/admin/queues/{queue}/members", "queue",
                                             (LOGIN, NOT_STAFF, NOT_STAFF, NOT_STAFF, NOT_STAFF, DONE),
                                             {"email": "dana@example.com"}),
    ("queues_admin.remove_member", "POST"): Row("/admin/queues/{queue}/members/{dana}/remove", "queue with dana",
                                                (LOGIN, NOT_STAFF, NOT_STAFF, NOT_STAFF, NOT_STAFF, DONE)),
    ("queues_admin.set_rule", "POST"): Row("/admin/queues/rules", "queue",
                                           (LOGIN, NOT_STAFF, NOT_STAFF, NOT_STAFF, NOT_STAFF, DONE),
                                           {"jurisdiction": "PT", "request_type": "*", "queue": "{queue}"}),
    ("queues_admin.delete_rule", "POST"): Row("/admin/queues/rules/{rule}/delete", "rule",
                                              (LOGIN, NOT_STAFF, NOT_STAFF, NOT_STAFF, NOT_STAFF, DONE),
                                              {"confirm": "y"}),
    # Evidence packs: staff who may read evidence (DPOs; not admins), on a case they may see; the
    # link's pages are public (the token is the key) and count every look.
    #                                                                  anonymous owner      other      DPO-else   DPO   admin
    ("evidence.make_pack", "POST"): Row("/dpo/requests/{request}/evidence", "received",
                                        (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, NOT_STAFF)),
    ("evidence.download", "GET"): Row("/dpo/evidence/{pack}/download", "pack",
                                      (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, OK, NOT_STAFF),
                                      refused_as=("evidence_packs", "pack")),
    ("evidence.create_share", "POST"): Row("/dpo/evidence/{pack}/shares", "pack",
                                           (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, OK, NOT_STAFF),
                                           {"authority": "aepd", "days": "7"}, refused_as=("evidence_packs", "pack")),
    ("evidence.revoke_share", "POST"): Row("/dpo/evidence/shares/{share}/revoke", "share",
                                           (LOGIN, NOT_STAFF, NOT_STAFF, NOT_YOURS, DONE, NOT_STAFF),
                                           {"confirm": "y"}, refused_as=("evidence_shares", "share")),
    ("evidence.shared", "GET"): Row("/evidence/shared/{token}", "share",
                                    (COUNTED, COUNTED, COUNTED, COUNTED, COUNTED, COUNTED)),
    ("evidence.shared_download", "GET"): Row("/evidence/shared/{token}/download", "share",
                                             (COUNTED, COUNTED, COUNTED, COUNTED, COUNTED, COUNTED)),
    ("evidence.verifier", "GET"): Row("/evidence/verifier.py", "nothing", (OK, OK, OK, OK, OK, OK)),
    # Aggregate reports (request metrics, record of processing): every staff role (any DPO, whatever
    # their queue; admins; auditors). The downloads are GET and change nothing but the audit log.
    #                                                                  anonymous owner      other      DPO-else   DPO   admin
    ("reports.index", "GET"): Row("/dpo/reports", "nothing",
                                  (LOGIN, NOT_STAFF, NOT_STAFF, OK, OK, OK)),
    ("reports.record_csv", "GET"): Row("/dpo/reports/record-of-processing.csv", "nothing",
                                       (LOGIN, NOT_STAFF, NOT_STAFF, OK, OK, OK)),
    ("reports.record_pdf", "GET"): Row("/dpo/reports/record-of-processing.pdf", "nothing",
                                       (LOGIN, NOT_STAFF, NOT_STAFF, OK, OK, OK)),
}

# Where the state does not allow the step, the people who may take it are refused all the same
# (409 when the state is wrong, 400 when the service refuses for another reason): (route, method,
# the object's state, who) -> what they get.
STATE_REFUSALS: dict[tuple[str, str, str, str], str] = {
    ("dpo.claim", "POST", "withdrawn", "DPO"): CONFLICT,
    ("dpo.claim", "POST", "open", "DPO"): REFUSED_400,  # already theirs
    ("dpo.review", "POST", "received", "DPO"): CONFLICT,
    ("dpo.ask", "POST", "open", "DPO"): CONFLICT,
    ("dpo.approve", "POST", "open", "DPO"): CONFLICT,
    ("dpo.approve", "POST", "completed erasure", "DPO"): CONFLICT,
    ("dpo.approve", "POST", "completed erasure", "admin"): CONFLICT,
    ("dpo.reject", "POST", "completed erasure", "DPO"): CONFLICT,
    ("dpo.extend", "POST", "withdrawn", "DPO"): CONFLICT,
    ("dpo.message", "POST", "withdrawn", "DPO"): CONFLICT,
    ("dpo.retry", "POST", "open", "DPO"): CONFLICT,
    ("dpo.lift_restriction", "POST", "open", "DPO"): CONFLICT,  # an access request: no restriction to lift
    ("dpo.assign", "POST", "withdrawn", "DPO"): CONFLICT,
    ("my_requests.answer", "POST", "received", "owner"): CONFLICT,
    ("my_requests.withdraw", "POST", "completed erasure", "owner"): CONFLICT,
    ("my_requests.certificate_download", "GET", "received", "owner"): GONE,
}

BLUEPRINTS = ("my_requests.", "dpo.", "queues_admin.", "evidence.", "reports.")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


# -- the world: one app for the module, one signed-in client per role ------------------------------

@dataclass
class World:
    app: Flask
    ids: dict[str, str]
    clients: dict[str, FlaskClient]
    tokens: dict[str, str]
    spain: str
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def employee(self, who: str) -> Employee:
        found = db.session.get(Employee, self.ids[who])
        assert found is not None
        return found

    def request(self, state: str, kind: str = "erasure") -> str:
        """A new request of alice's, brought to ``state`` the way people do it (through the services)."""
        with self.app.app_context():
            filed = rights.file_request(self.employee("alice"), kind, description="Please.")
            req = filed.request
            dana = self.employee("dana")
            if state not in ("received", "withdrawn"):
                rights.claim(req, dana)
            if state in ("in review", "awaiting requester", "failed", "completed erasure"):
                rights.start_review(req, dana)
            if state == "awaiting requester":
                rights.ask_requester(req, dana, "Which dates?")
            if state in ("failed", "completed erasure"):
                rights.approve(req, dana, erasure_ground=rights.erasure_grounds(req)[0].code)
                rights.approve(req, self.employee("admin"))
                assert req.state == S.FULFILLING
            if state == "failed":
                rights.fail(req, "The store did not answer.")
            if state == "completed erasure":
                rights.complete(req, result={"categories": {"input_events": {"deleted": 12, "blocked": 0}},
                                               "key_destroyed": True}, outcome="Erased.")
            if state == "withdrawn":
                rights.withdraw(req, self.employee("alice"))
            db.session.commit()
            return req.id

    def restricted(self) -> str:
        """A restriction request of alice's, approved by dana: its restriction is in force."""
        with self.app.app_context():
            req = rights.file_request(self.employee("alice"), "restriction", description="Please.").request
            dana = self.employee("dana")
            rights.claim(req, dana)
            rights.start_review(req, dana)
            rights.approve(req, dana)
            assert req.state == S.COMPLETED
            db.session.commit()
            return req.id

    def dead_task(self) -> tuple[str, str]:
        """A restriction of alice's whose recipient's task could not be delivered: (request, task)."""
        from portal.recipients import services as recipients
        from portal.recipients.models import DeliveryState

        with self.app.app_context():
            recipient, _secret = recipients.create_recipient(
                name=f"Analytics {next(self.counter)}", contact="analytics@example.com",
                categories=["input_events", "app_activity", "screenshots"], uses=[], purpose="Reports",
                role="processor", delivery="webhook", webhook_url="https://hooks.example.com/portal",
                actor=Actor.system())
            req = rights.file_request(self.employee("alice"), "restriction", description="Please.").request
            dana = self.employee("dana")
            rights.claim(req, dana)
            rights.start_review(req, dana)
            rights.approve(req, dana)
            assert req.state == S.AWAITING_RECIPIENTS
            (task,) = [t for t in recipients.tasks_of_request(req.id) if t.recipient_id == recipient.id]
            task.delivery_state = DeliveryState.DEAD
            recipients.deactivate(recipient, actor=Actor.system())  # the world's later requests get no tasks
            db.session.commit()
            return req.id, task.id

    def target(self, name: str) -> dict[str, str]:
        """Make the object a row acts on; return the values its path and data need."""
        unique = str(next(self.counter))
        values = {**self.ids, "unique": unique}
        if name == "nothing":
            return values
        if name in ("received", "open", "in review", "awaiting requester", "failed", "completed erasure",
                    "withdrawn"):
            return {**values, "request": self.request(name)}
        if name == "restricted":
            return {**values, "request": self.restricted()}
        if name == "dead task":
            request_id, task_id = self.dead_task()
            return {**values, "request": request_id, "task": task_id}
        if name in ("pack", "share"):
            values["request"] = self.request("received")
        with self.app.app_context():
            if name in ("pack", "share"):
                case = db.session.get(DataRequest, values["request"])
                assert case is not None
                pack = sharing.make_pack(case, Actor("employee", self.ids["dana"]))
                values["pack"] = pack.id
                if name == "share":
                    link, values["token"] = sharing.share(pack, "cppa", 3, actor=Actor("employee", self.ids["dana"]))
                    values["share"] = link.id
            elif name == "hold":
                hold = rights.place_hold(self.employee("alice"), self.employee("dana"), categories=[],
                                           matter_reference=f"M-{unique}", reason="A claim is pending.")
                values["hold"] = hold.id
            else:
                queue = routing.create_queue(f"Target {unique}", "", actor=Actor.system())
                values["queue"] = queue.id
                if name == "queue with dana":
                    routing.add_member(queue, self.employee("dana"), actor=Actor.system())
                elif name == "rule":
                    rule = routing.set_rule(f"FR-{unique}", "*", queue, actor=Actor.system())
                    values["rule"] = str(rule.id)
                else:
                    assert name == "queue", name
            db.session.commit()
        return values


def anonymous_token(app: Flask, client: FlaskClient) -> str:
    """A valid CSRF token for a visitor who is not signed in (no page of theirs has a form): put
    the raw token in their session, as Flask-WTF does, and sign it with the app's key."""
    raw = secrets.token_hex(20)
    with client.session_transaction() as session:
        session["csrf_token"] = raw
    secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    assert secret is not None
    return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, idp_url: str, sqlite_template: Path) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    database = tmp / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    app = create_app(app_config(tmp, idp_url, f"sqlite:///{database}"))
    app.config["TESTING"] = True
    _stop_job_runner(app)
    app.extensions[EXTENSION] = RecordingRunner()
    set_idp_user(idp_url, "olga@example.com", {"email": "olga@example.com", "email_verified": True,
                                               "name": "Olga Otherqueue", "country": "CO",
                                               "zoneinfo": "America/Bogota", "groups": ["dpo"]})
    clients = {"anonymous": app.test_client()}
    tokens = {"anonymous": anonymous_token(app, clients["anonymous"])}
    for role, who in WHO.items():
        clients[role] = app.test_client()
        assert sign_in(clients[role], f"{who}@example.com").status_code == 302, who
        step_up(clients[role], f"{who}@example.com")  # the routes behind a step-up are judged past it
        tokens[role] = csrf_token(clients[role].get("/").get_data(as_text=True))
    with app.app_context():
        ids = {}
        for who in WHO.values():
            found = find_by_email(f"{who}@example.com")
            assert found is not None
            ids[who] = found.id
        spain = routing.create_queue("Spain", "Requests from Spain", actor=Actor.system())
        colombia = routing.create_queue("Colombia", "Requests from Colombia", actor=Actor.system())
        for who, queue in (("dana", spain), ("olga", colombia)):
            member = db.session.get(Employee, ids[who])
            assert member is not None
            routing.add_member(queue, member, actor=Actor.system())
        routing.set_rule("ES", "*", spain, actor=Actor.system())
        routing.set_rule("CO", "*", colombia, actor=Actor.system())
        db.session.commit()
        spain_id = spain.id
    yield World(app=app, ids=ids, clients=clients, tokens=tokens, spain=spain_id)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# -- running one cell -------------------------------------------------------------------------------

def fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value.format(**values) if isinstance(value, str) else value


def call(world: World, role: str, method: str, path: str, data: dict[str, Any]) -> TestResponse:
    client = world.clients[role]
    if method == "GET":
        return client.get(path)
    return client.post(path, data={**data, "csrf_token": world.tokens[role]},
                       headers={"Referer": f"http://localhost{path}"})


def check(world: World, endpoint: str, role: str, method: str, path: str, data: dict[str, Any],
          values: dict[str, str], expected: str) -> None:
    app = world.app
    before = snapshot(app)
    refused_before = len(audit_entries(app, REFUSED))
    response = call(world, role, method, path, data)
    status = response.status_code
    body = response.get_data().decode("utf-8", "replace")
    where = f"{role} {method} {path} ({endpoint})"
    location = response.headers.get("Location", "")
    changed = snapshot(app) != before
    refusals = audit_entries(app, REFUSED)[refused_before:]

    if expected == LOGIN:
        assert status == 302 and location.startswith("/auth/login"), (where, status, location)
    elif expected == DONE:
        assert status == 302, (where, status, body[:2000])
        assert location.startswith("/") and not location.startswith("/auth/"), (where, location)
        assert changed, f"{where}: answered 302 but changed nothing"
        # Where it leads opens (and its flash is shown there, not on the next cell's page).
        assert world.clients[role].get(location).status_code == 200, (where, location)
    elif expected == OK:
        assert status == 200, (where, status, body[:2000])
    elif expected in (NOT_YOURS, NOT_STAFF):
        assert status == 404, (where, status)
        assert "Alice" not in body and "alice@example.com" not in body, where
        assert len(refusals) == 1, (where, refusals)
        entry = refusals[0]
        assert entry.actor_id == world.ids[WHO[role]], where
        if expected == NOT_STAFF:
            assert entry.targets == {"type": "route", "id": endpoint}, (where, entry.targets)
        else:
            kind, key = MATRIX[(endpoint, method)].refused_as
            assert entry.targets == {"type": kind, "id": values[key]}, (where, entry.targets)
            assert entry.subject_id == world.ids["alice"], where
    elif expected == REFUSED_400:
        assert status == 400, (where, status, body[:2000])
    elif expected == CONFLICT:
        assert status == 409, (where, status, body[:2000])
    elif expected == GONE:
        assert status == 404, (where, status)
    elif expected == COUNTED:
        assert status == 200, (where, status, body[:2000])
        assert changed, f"{where}: the look was not counted"
    else:
        raise AssertionError(expected)
    if expected in (LOGIN, NOT_YOURS, NOT_STAFF, REFUSED_400, CONFLICT, GONE) or (method == "GET" and
                                                                                   expected != COUNTED):
        assert not changed, f"{where}: {expected} but the database changed"
    if expected not in (NOT_YOURS, NOT_STAFF):
        assert refusals == [], (where, [(e.actor_id, e.targets) for e in refusals])


# -- the tests --------------------------------------------------------------------------------------

def test_every_request_and_queue_route_has_a_row(world: World) -> None:
    discovered = {(rule.endpoint, method) for rule in world.app.url_map.iter_rules()
                  if rule.endpoint.startswith(BLUEPRINTS) for method in (rule.methods or set()) - IGNORED_METHODS}
    assert discovered == set(MATRIX), (
        f"routes without a row: {sorted(discovered - set(MATRIX))}; rows without a route: "
        f"{sorted(set(MATRIX) - discovered)}")


CELLS = [pytest.param(endpoint, method, role, id=f"{endpoint}-{method}-{role.replace(' ', '_')}")
         for (endpoint, method), row in MATRIX.items() for role in ROLES]


@pytest.mark.parametrize(("endpoint", "method", "role"), CELLS)
def test_matrix(world: World, endpoint: str, method: str, role: str) -> None:
    row = MATRIX[(endpoint, method)]
    values = world.target(row.target)
    path = row.path.format(**values)
    assert world.app.url_map.bind("localhost").match(path, method=method)[0] == endpoint, "the row's path"
    data = {key: fill(value, values) for key, value in row.data.items()}
    check(world, endpoint, role, method, path, data, values, row.expect[ROLES.index(role)])


@pytest.mark.parametrize(("endpoint", "method", "state", "role"), list(STATE_REFUSALS),
                         ids=[f"{e}-{m}-{s.replace(' ', '_')}-{r}" for e, m, s, r in STATE_REFUSALS])
def test_state_refusals(world: World, endpoint: str, method: str, state: str, role: str) -> None:
    row = MATRIX[(endpoint, method)]
    values = world.target(state)
    path = row.path.format(**values)
    data = {key: fill(value, values) for key, value in row.data.items()}
    check(world, endpoint, role, method, path, data, values, STATE_REFUSALS[(endpoint, method, state, role)])


# -- four eyes: no one approves an erasure twice -----------------------------------------------------

def approvals(world: World, request_id: str) -> list[tuple[str, str]]:
    with world.app.app_context():
        return [(a.approver_id, a.approver_role) for a in db.session.scalars(
            sa.select(ErasureApproval).where(ErasureApproval.request_id == request_id)
            .order_by(ErasureApproval.approved_at))]


def approve_erasure_entries(world: World, request_id: str) -> list[str | None]:
    return [e.actor_id for e in audit_entries(world.app, "requests:request:approve-erasure")
            if e.targets == {"request": request_id}]


def state_of(world: World, request_id: str) -> str:
    with world.app.app_context():
        found = db.session.get(DataRequest, request_id)
        assert found is not None
        return str(found.state)


def test_no_one_approves_an_erasure_twice(world: World) -> None:
    request_id = world.request("in review")
    path = f"/dpo/requests/{request_id}/approve"
    dana, admin = world.ids["dana"], world.ids["admin"]

    # The admin cannot give the first approval: only a DPO of the queue can.
    before = snapshot(world.app)
    assert call(world, "admin", "POST", path, {}).status_code == 400
    assert snapshot(world.app) == before and approvals(world, request_id) == []

    first = call(world, "DPO", "POST", path, {"note": "Identity checked.", "erasure_ground": "gdpr-17-1-a"})
    assert first.status_code == 302
    assert approvals(world, request_id) == [(dana, "dpo")]
    assert state_of(world, request_id) == S.IN_REVIEW

    # The first approver, again: refused, and nothing is added.
    before = snapshot(world.app)
    again = call(world, "DPO", "POST", path, {})
    assert again.status_code == 400
    assert "already approved" in again.get_data(as_text=True)
    assert snapshot(world.app) == before
    assert approvals(world, request_id) == [(dana, "dpo")]
    assert approve_erasure_entries(world, request_id) == [dana]

    # The DPO of another queue cannot be the second approver either: the case is not theirs.
    assert call(world, "DPO elsewhere", "POST", path, {}).status_code == 404
    assert snapshot(world.app) == before

    # The admin, as the second approver: the erasure is approved and carried out.
    second = call(world, "admin", "POST", path, {})
    assert second.status_code == 302
    assert approvals(world, request_id) == [(dana, "dpo"), (admin, "admin")]
    assert approve_erasure_entries(world, request_id) == [dana, admin]
    assert state_of(world, request_id) == S.FULFILLING

    # Once approved, no one approves it again, the first approver included.
    before = snapshot(world.app)
    for role in ("DPO", "admin"):
        late = call(world, role, "POST", path, {})
        assert late.status_code == 409, role
    assert snapshot(world.app) == before
    assert len(approvals(world, request_id)) == 2
    assert approve_erasure_entries(world, request_id) == [dana, admin]


def test_the_rows_leave_routing_intact(world: World) -> None:
    """The rows above make queues and rules of their own; alice's requests still go to Spain."""
    request_id = world.request("received")
    with world.app.app_context():
        found = db.session.get(DataRequest, request_id)
        assert found is not None and found.queue_id == world.spain
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RoutingRule)
                                 .where(RoutingRule.jurisdiction == "ES")) == 1

