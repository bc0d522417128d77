"""The OpenAPI document: 3.1, an example on every body and response, every example valid against
its schema; each documented example sent to the live portal gets the documented answer; the
reference page is served from the package under the strict CSP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from portal.api import exclusions as feed
from portal.api import training, views
from portal.api.models import ApiToken
from portal.api.openapi import OPERATIONS, Operation
from portal.api.views import NDJSON
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, ExclusionChange, Purpose, Suppression
from portal.extensions import db
from portal.people.models import Employee, EmploymentStatus
from portal.people.pseudonyms import pseudonym
from portal.recipients import api as recipient_api
from portal.recipients import services as recipient_services
from portal.recipients.models import RecipientTask
from portal.rights import services as request_services
from portal.rights.models import DataRequest, RequestState, RequestType
from portal.training import services as ledger
from portal.training.models import RemovalCause, SnapshotRemoval
from tests.conftest import LiveServer
from tests.helpers import existing, json_of, make_employee

TRAINING_OPERATIONS = {
    ("post", "/api/v1/training/datasets"), ("get", "/api/v1/training/datasets/{dataset}"),
    ("post", "/api/v1/training/datasets/{dataset}/snapshots"),
    ("get", "/api/v1/training/datasets/{dataset}/snapshots/{snapshot}"),
    ("post", "/api/v1/training/datasets/{dataset}/snapshots/{snapshot}/answer"), ("get", "/api/v1/training/removals"),
    ("post", "/api/v1/training/models"), ("get", "/api/v1/training/models/{name}/versions/{version}"),
    ("post", "/api/v1/training/models/{name}/versions/{version}/outcomes")}

EXAMPLE_CONFIRMED_AT = recipient_api.EXAMPLE_CONFIRMED["confirmation"]["confirmed_at"]
ALL_SCOPES = ("ingest", "exclusions:read", "recipient", "training", "requests:read", "scim")


def test_the_document_is_openapi_3_1_with_an_example_on_every_body_and_response(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = json_of(response)
    assert doc["openapi"] == "3.1.0"
    assert doc["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"
    schemas = doc["components"]["schemas"]
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', response.get_data(as_text=True)))
    assert refs <= set(schemas), refs - set(schemas)
    operations = [(path, method, op) for path, methods in doc["paths"].items() for method, op in methods.items()]
    assert {(m, p) for p, m, _ in operations} == {("post", "/api/v1/ingest"), ("post", "/api/v1/ingest/bulk"),
                                                  ("get", "/api/v1/exclusions"),
                                                  ("get", "/api/v1/exclusions/{pseudonym}"),
                                                  ("get", "/api/v1/requests/{request_id}"),
                                                  *TRAINING_OPERATIONS,
                                                  ("get", "/api/v1/recipient-tasks"),
                                                  ("post", "/api/v1/recipient-tasks/{task_id}/confirm")}
    for path, method, op in operations:
        assert op["security"] and op["x-scope"], path
        for media in op.get("requestBody", {}).get("content", {}).values():
            assert media["examples"], (path, method, "body")
        for status, answer in op["responses"].items():
            for media_type, media in answer.get("content", {}).items():
                assert media["examples"], (path, method, status)
                if int(status) >= 400:
                    assert media_type == "application/problem+json", (path, status)
        for parameter in op.get("parameters", []):
            assert parameter["example"], (path, parameter["name"])


def _roundtrip(value: Any, kind: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value), type=kind)


def _lines(value: str, kind: Any) -> list[Any]:
    """An NDJSON example: each line valid against the schema of one line."""
    assert value.endswith("\n")
    return [msgspec.json.decode(line, type=kind) for line in value.splitlines()]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_every_example_is_valid_against_its_schema(op: Operation) -> None:
    for name, value in op.body_examples.items():
        if op.body_media_type == NDJSON:
            assert len(_lines(value, op.body)) > 1, name
        else:
            assert _roundtrip(value, op.body) is not None, name
    for answer in op.answers:
        for name, value in answer.examples.items():
            if answer.media_type == NDJSON:
                assert _lines(value, answer.schema), name
                continue
            decoded = _roundtrip(value, answer.schema)
            assert msgspec.to_builtins(decoded) == {k: v for k, v in value.items() if v is not None} or \
                msgspec.to_builtins(decoded) == value, (op.path, answer.status, name)


def test_the_reference_page_is_served_from_the_package_under_the_strict_csp(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "POST /api/v1/ingest" in html and "/api/docs#problem-batch-refused" in html
    assert 'id="problem-batch-refused"' in html and 'id="schema-IngestBatch"' in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert not re.search(r'(src|href)="https?://', html), "nothing from another origin"
    assert "<script" not in html and " style=" not in html


# --- the documented examples against the live portal -------------------------------------------------

class World:
    def __init__(self, app: Flask, make_token: Callable[..., str]) -> None:
        self.app = app
        make_employee(app, "ana@example.com", employee_number="E1001")
        make_employee(app, "bob@example.com")
        make_employee(app, "fred@example.com", employee_number="E0999", status=EmploymentStatus.FORMER)
        objector = make_employee(app, "olga@example.com")
        changed_mind = make_employee(app, "cleo@example.com")
        requester = make_employee(app, "rita@example.com")
        member = make_employee(app, "mia@example.com")
        member_2 = make_employee(app, "noah@example.com")
        with app.app_context():
            request_services.suppress(objector, "objection")
            for decision in (Decision.WITHDRAWN, Decision.GRANTED):
                consent.decide(changed_mind, Purpose.AI_TRAINING, decision, actor=Actor("employee", changed_mind),
                               method="test", device="test", policy_version=None)
            moments = [datetime(2026, 11, 20, 10, 15, tzinfo=UTC), datetime(2026, 11, 21, 9, tzinfo=UTC),
                       datetime(2026, 11, 25, 16, 40, tzinfo=UTC)]  # as the example shows
            for change, moment in zip(db.session.scalars(select(ExclusionChange).order_by(ExclusionChange.id)),
                                      moments, strict=True):
                change.at = moment
            existing(Suppression, (objector, Purpose.AI_TRAINING.value)).since = moments[0]
            filed = request_services.file_request(existing(Employee, requester), RequestType.ERASURE).request
            filed.state, filed.due_on = RequestState.IN_REVIEW, date(2026, 12, 23)  # as the example shows
            db.session.commit()
            self.pseudonym, self.request_id = pseudonym(objector), filed.id
            self.pseudonym_2 = pseudonym(changed_mind)
            # The training-set ledger the examples start from (tests the API's own paths elsewhere).
            pipeline = Actor("api-token", "docs")
            self.members = {training.EXAMPLE_MEMBER: pseudonym(member), training.EXAMPLE_MEMBER_2: pseudonym(member_2)}
            ledger.register_dataset("activity-patterns", training.DATASET_EXAMPLE["purpose"],
                                    training.CATEGORIES, actor=pipeline)
            ledger.register_snapshot("activity-patterns", "ap-2026-09-30", date(2026, 10, 9), training.CATEGORIES,
                                     [(member, 3137), (member_2, 2980)], actor=pipeline)
            ledger.register_model("FocusPredict", "2.2", date(2026, 10, 20), [("activity-patterns", "ap-2026-09-30")],
                                  actor=pipeline)
            ledger.mark_removals(member, RemovalCause.CONSENT_WITHDRAWN)
            db.session.execute(sa.update(SnapshotRemoval).values(marked_at=moments[0]))
            db.session.commit()
            self.member_2 = member_2
        self.token = make_token(*ALL_SCOPES, name="all scopes")
        self.wrong = make_token("scim", name="no scope of these")
        with app.app_context():  # the task the recipient-task examples show, for a recipient bound to the token
            recipient, _ = recipient_services.create_recipient(
                name="AI Research", contact="ai-research@example.com", categories=["input_events", "app_activity"],
                uses=["ai_training"], purpose="Trains models", role="processor", delivery="pull", webhook_url=None,
                actor=Actor.system())
            db.session.execute(update(ApiToken).values(recipient_id=recipient.id))
            db.session.add(RecipientTask(id=recipient_api.EXAMPLE_TASK_ID, recipient_id=recipient.id,
                                         request_id=self.request_id, subject_id=objector, action="erase",
                                         categories=["input_events", "app_activity"], due_on=date(2026, 12, 30),
                                         state="open", delivery_state="waiting",
                                         created_at=datetime(2026, 12, 4, 16, 20, tzinfo=UTC)))
            db.session.commit()
            self.reference = existing(DataRequest, self.request_id).reference

    def real(self, text: str) -> str:
        """The example's deployment-specific values (pseudonym, request id) as they are here."""
        for example, real in self.members.items():
            text = text.replace(example, real)
        return (text.replace(views.EXAMPLE_PSEUDONYM, self.pseudonym)
                .replace(views.EXAMPLE_PSEUDONYM_2, self.pseudonym_2)
                .replace(views.EXAMPLE_REQUEST_ID, self.request_id))

    def documented(self, value: Any) -> Any:
        """An answer as the example shows it: the real values back to the example's, cursors too."""
        if isinstance(value, dict):
            return {k: (self.cursor(v) if k == "next" else EXAMPLE_CONFIRMED_AT if k == "confirmed_at"
                        else self.documented(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.documented(v) for v in value]
        if isinstance(value, str):
            for example, real in self.members.items():
                value = value.replace(real, example)
            return (value.replace(self.pseudonym, views.EXAMPLE_PSEUDONYM)
                    .replace(self.pseudonym_2, views.EXAMPLE_PSEUDONYM_2)
                    .replace(self.request_id, views.EXAMPLE_REQUEST_ID)
                    .replace(self.reference, "R-" + views.EXAMPLE_REQUEST_ID[:8].upper()))
        return value

    def cursor(self, value: str) -> str:
        """A cursor is encrypted under this deployment's key: the example's stands for any real one.
        (The recipient tasks' cursor is the last task's id, the same here as in the example.)"""
        if value == recipient_api.EXAMPLE_TASK_ID:
            return value
        with self.app.app_context():
            feed.decode_cursor(value)  # raises unless the feed made it
        return views.EXAMPLE_CURSOR


def test_every_documented_example_gets_the_documented_answer(app: Flask, make_token: Callable[..., str]) -> None:
    world = World(app, make_token)
    documented = {(op.path, name): (answer.status, value) for op in OPERATIONS for answer in op.answers
                  for name, value in answer.examples.items()}
    checked: set[tuple[str, str]] = set()

    with LiveServer(app) as live:
        def call(op: Operation, *, token: str | None = None, body: Any = None, raw: bytes | None = None,
                 content_type: str = "application/json", path: str | None = None) -> requests.Response:
            url = live.url + world.real(path or op.path.format(**{p.name: p.example for p in op.params
                                                                  if p.where == "path"}))
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if body is not None:
                body = json.loads(world.real(json.dumps(body)))
            if raw is not None:
                headers["Content-Type"] = content_type
            return requests.request(op.method.upper(), url, headers=headers, json=body, data=raw, timeout=30)

        def expect(op: Operation, name: str, response: requests.Response, *, exact: bool = True) -> None:
            status, value = documented[(op.path, name)]
            assert response.status_code == status, (op.path, name, response.text[:300])
            if response.headers["Content-Type"].startswith(NDJSON):
                got_lines = [world.documented(msgspec.json.decode(line)) for line in response.text.splitlines()]
                assert got_lines == [msgspec.json.decode(line) for line in value.splitlines()], (op.path, name)
                checked.add((op.path, name))
                return
            got = world.documented(response.json())
            if exact:
                assert got == value, (op.path, name)
            else:
                assert {k: got[k] for k in ("type", "title", "status")} == {k: value[k] for k in ("type", "title", "status")}
            checked.add((op.path, name))

        for op in OPERATIONS:
            for name, body in op.body_examples.items():  # each request example gets the answer of its name
                if op.body_media_type == NDJSON:
                    expect(op, name, call(op, token=world.token, raw=body.encode(), content_type=NDJSON))
                else:
                    expect(op, name, call(op, token=world.token, body=body))
            if op.method == "get":
                success = next(a for a in op.answers if a.status == 200)
                for name in success.examples:
                    expect(op, name, call(op, token=world.token))
            first_body = next(iter(op.body_examples.values()), None)
            expect(op, "no-token", call(op, body=first_body))
            expect(op, "wrong-scope", call(op, token=world.wrong, body=first_body))

        ingest, bulk, feed, check, status = (next(op for op in OPERATIONS if op.operation_id == n) for n in
                                             ("ingest", "ingest_bulk", "exclusions", "exclusion", "request_status"))
        expect(bulk, "not-ndjson-type", call(bulk, token=world.token, body=views.EXAMPLE_BATCH))
        expect(ingest, "not-json", call(ingest, token=world.token, raw=b"{x"))
        expect(ingest, "not-json-type", call(ingest, token=world.token, raw=b"employee_number=E1001",
                                             content_type="text/plain"))
        expect(ingest, "too-large", call(ingest, token=world.token, raw=b"[" + b" " * (16 * 1024 * 1024) + b"]"))
        expect(ingest, "former-employee", call(ingest, token=world.token,
                                               body={**views.EXAMPLE_BATCH, "employee_number": "E0999"}))
        expect(feed, "bad-cursor", call(feed, token=world.token, path=op_path(feed) + "?after=not-a-cursor"))
        expect(check, "unknown", call(check, token=world.token, path=f"/api/v1/exclusions/tp_{'a' * 26}"))
        expect(status, "unknown", call(status, token=world.token, path=f"/api/v1/requests/{'0' * 32}"))
        training_errors(world, call, expect)
        tasks, confirm = (next(op for op in OPERATIONS if op.operation_id == n) for n in
                          ("recipient_tasks", "confirm_recipient_task"))
        expect(tasks, "bad-cursor", call(tasks, token=world.token, path=op_path(tasks) + "?after=" + "f" * 32))
        expect(tasks, "bad-state", call(tasks, token=world.token, path=op_path(tasks) + "?state=closed"))
        expect(confirm, "repeated", call(confirm, token=world.token, body=recipient_api.CONFIRM_DONE))
        expect(confirm, "unknown", call(confirm, token=world.token,
                                        path=f"/api/v1/recipient-tasks/{'0' * 32}/confirm", body={"outcome": "done"}))
        expect(confirm, "refused-without-reason", call(confirm, token=world.token, body={"outcome": "refused"}),
               exact=False)
        app.config["API_RATE_LIMIT"] = "1 per minute"
        limited = make_token("exclusions:read", name="limited")
        call(feed, token=limited)
        expect(feed, "rate-limited", call(feed, token=limited), exact=False)

    # Each example is checked once per operation that shows it; the 401/403/429 ones are shared.
    shared = {"no-token", "wrong-scope", "rate-limited"}
    not_live = {(ingest.path, "busy")}  # needs the audit lock held for 15 s: tests/audit covers AuditBusy
    missing = {(path, name) for path, name in documented if name not in shared} - checked - not_live
    assert missing == set()


def training_errors(world: World, call: Callable[..., requests.Response], expect: Callable[..., None]) -> None:
    """The training-set ledger's documented errors, after its examples ran in order."""
    ops = {op.operation_id: op for op in OPERATIONS if op.path.startswith("/api/v1/training")}
    dataset, get_dataset, snapshot, get_snapshot, answer, model, outcome, get_model = (ops[n] for n in (
        "training_dataset_create", "training_dataset", "training_snapshot_create", "training_snapshot",
        "training_snapshot_answer", "training_model_create", "training_model_outcome", "training_model"))
    token = world.token
    expect(dataset, "again", call(dataset, token=token, body=training.NEW_DATASET))
    expect(dataset, "invalid", call(dataset, token=token, body={"name": 1}))
    expect(get_dataset, "unknown", call(get_dataset, token=token, path="/api/v1/training/datasets/nothing"))
    expect(snapshot, "again", call(snapshot, token=token, body=training.SNAPSHOT_EXAMPLE))
    expect(snapshot, "unknown", call(snapshot, token=token, body=training.SNAPSHOT_EXAMPLE,
                                     path="/api/v1/training/datasets/nothing/snapshots"))
    expect(get_snapshot, "unknown", call(get_snapshot, token=token,
                                         path="/api/v1/training/datasets/activity-patterns/snapshots/nothing"))
    answered = "/api/v1/training/datasets/activity-patterns/snapshots/ap-2026-09-30/answer"
    expect(answer, "nothing-pending", call(answer, token=token, body={"answer": "deleted"}, path=answered))
    expect(answer, "unknown", call(answer, token=token, body={"answer": "deleted"},
                                   path="/api/v1/training/datasets/activity-patterns/snapshots/nothing/answer"))
    with world.app.app_context():  # the second person's removal: every snapshot holding them is marked
        ledger.mark_removals(world.member_2, RemovalCause.CONSENT_WITHDRAWN)
        db.session.commit()
    expect(answer, "still-there", call(answer, token=token, body={"answer": "replaced",
                                                                  "replacement": "ap-2026-09-30-r1"},
                                       path="/api/v1/training/datasets/activity-patterns/snapshots/ap-2026-12-31/answer"))
    expect(model, "pending", call(model, token=token, body={
        **training.MODEL_EXAMPLE, "version": "9.9", "snapshots": [{"dataset": "activity-patterns",
                                                                   "snapshot": "ap-2026-12-31"}]}))
    expect(model, "unknown", call(model, token=token, body={
        **training.MODEL_EXAMPLE, "version": "9.8", "snapshots": [{"dataset": "activity-patterns",
                                                                   "snapshot": "nothing"}]}))
    expect(model, "invalid", call(model, token=token, body={"name": 1}))
    expect(outcome, "again", call(outcome, token=token, body=outcome.body_examples["retrained"]))
    expect(outcome, "unknown", call(outcome, token=token, body=outcome.body_examples["retrained"],
                                    path="/api/v1/training/models/FocusPredict/versions/0.1/outcomes"))
    expect(get_model, "unknown", call(get_model, token=token,
                                      path="/api/v1/training/models/FocusPredict/versions/0.1"))


def op_path(op: Operation) -> str:
    return op.path
