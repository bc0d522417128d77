"""The cast of the DPO tests, each signed in (as through the IdP, see ``signed_in_as``) on a client of their own:

* alice, an employee in Spain, files the requests;
* dana (the demo DPO) and pat (a second DPO) work the "Spain" queue, where ES requests go;
* olga is a DPO too, but of the "Colombia" queue: Spain's cases are none of hers;
* admin (the demo admin) sees every case and keeps the queues.

Jobs (e-mail, erasure) are only recorded, never run, so that nothing moves behind a test's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.audit.services import Actor
from portal.extensions import db
from portal.jobs.runners import EXTENSION
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.rights import routing
from portal.rights import services as requests
from portal.rights.models import DataRequest
from tests.conftest import _stop_job_runner, set_idp_user
from tests.helpers import csrf_token, existing, signed_in_as


@dataclass
class RecordingRunner:
    """Stands in for the job runner: keeps the dispatches, runs nothing."""

    dispatched: list[tuple[str, float]] = field(default_factory=list)

    def dispatch(self, job_id: str, delay: float = 0) -> None:
        self.dispatched.append((job_id, delay))


@dataclass
class Cast:
    app: Flask
    ids: dict[str, str]
    clients: dict[str, FlaskClient]
    spain: str
    colombia: str
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> FlaskClient:
        return self.clients[who]

    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = csrf_token(self.clients[who].get("/").get_data(as_text=True))
        return self.tokens[who]

    def post(self, who: str, path: str, data: dict[str, Any] | None = None, *, token: bool = True,
             referer: str | None = None) -> TestResponse:
        body: dict[str, Any] = dict(data or {})
        if token:
            body["csrf_token"] = self.token(who)
        headers = {"Referer": f"http://localhost{referer}"} if referer else {}
        return self.clients[who].post(path, data=body, headers=headers)

    def get(self, who: str, path: str) -> TestResponse:
        return self.clients[who].get(path)

    def file(self, kind: str = "erasure", *, subject: str = "alice", received_at: datetime | None = None,
             **details: Any) -> str:
        """File a request for ``subject`` with the service (as the employee's page would)."""
        with self.app.app_context():
            employee = db.session.get(Employee, self.ids[subject])
            assert employee is not None
            filed = requests.file_request(employee, kind, received_at=received_at, **details)
            db.session.commit()
            return filed.request.id

    def case(self, request_id: str) -> DataRequest:
        """The request as it is in the database now (detached, attributes loaded)."""
        with self.app.app_context():
            row = db.session.get(DataRequest, request_id)
            assert row is not None
            db.session.expunge(row)
            return row


def add_idp_user(idp_url: str, email: str, name: str, groups: list[str], country: str = "ES") -> None:
    set_idp_user(idp_url, email, {"email": email, "email_verified": True, "name": name, "country": country,
                                  "zoneinfo": "Europe/Madrid", "groups": groups})


@pytest.fixture
def jobs_recorded(app: Flask) -> RecordingRunner:
    _stop_job_runner(app)
    recorder = RecordingRunner()
    app.extensions[EXTENSION] = recorder
    return recorder


@pytest.fixture
def cast(app: Flask, idp_url: str, jobs_recorded: RecordingRunner) -> Cast:
    add_idp_user(idp_url, "pat@example.com", "Pat Second", ["dpo"])
    add_idp_user(idp_url, "olga@example.com", "Olga Otherqueue", ["dpo"], country="CO")
    emails = {"alice": "alice@example.com", "dana": "dana@example.com", "pat": "pat@example.com",
              "olga": "olga@example.com", "admin": "admin@example.com"}
    clients = {}
    for who, email in emails.items():
        clients[who] = app.test_client()
        # Signed in with a fresh authentication, as approving an erasure makes them sign in again.
        signed_in_as(clients[who], email, stepped_up=True)
    with app.app_context():
        ids = {}
        for who, email in emails.items():
            found = find_by_email(email)
            assert found is not None
            ids[who] = found.id
        actor = Actor.system()
        spain = routing.create_queue("Spain", "Requests from Spain", actor=actor)
        colombia = routing.create_queue("Colombia", "Requests from Colombia", actor=actor)
        for who, queue in (("dana", spain), ("pat", spain), ("olga", colombia)):
            routing.add_member(queue, existing(Employee, ids[who]), actor=actor)
        routing.set_rule("ES", "*", spain, actor=actor)
        routing.set_rule("CO", "*", colombia, actor=actor)
        db.session.commit()
        spain_id, colombia_id = spain.id, colombia.id
    return Cast(app=app, ids=ids, clients=clients, spain=spain_id, colombia=colombia_id)


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0
