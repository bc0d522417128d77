"""POST /api/v1/ingest: what is stored and answered per record, retries (also two at once, on
SQLite and PostgreSQL), and every bad input: a 4xx problem that names the refused records and
stores nothing (no row, no file, no totals)."""

from __future__ import annotations

import base64
import copy
import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from portal.api.views import EXAMPLE_BATCH
from portal.audit.services import Actor
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.crypto import keystore
from portal.extensions import db
from portal.jobs.runners import ThreadRunner, runner
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.models import Employee, EmploymentStatus
from portal.rights import services as requests_services
from portal.rights.models import RequestType, Restriction
from tests.conftest import LiveServer, both_databases
from tests.helpers import audit_entries, existing, json_of, make_employee
from tests.monitoring.support import artifact_files, png

INGEST = "/api/v1/ingest"
NOW = datetime.now(UTC)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def batch(*events: dict[str, Any], shots: tuple[dict[str, Any], ...] = (), **who: str) -> dict[str, Any]:
    return {**(who or {"employee_number": "E1001"}), "events": list(events), "screenshots": list(shots)}


def ev(n: int, **changes: Any) -> dict[str, Any]:
    return {"event_id": f"e-{n}", "kind": "app_focus", "occurred_at": (NOW - timedelta(minutes=n)).isoformat(),
            "application": "Slack", "title": f"#general {n}", **changes}


def sh(n: int, image: bytes | None = None, **changes: Any) -> dict[str, Any]:
    return {"screenshot_id": f"s-{n}", "captured_at": (NOW - timedelta(minutes=n)).isoformat(),
            "application": "Firefox", "image": b64(image if image is not None else png(f"shot {n}")), **changes}


def state(app: Flask) -> dict[str, Any]:
    """Everything a batch could change, but the audit log and the tokens' last use."""
    with app.app_context():
        counts = {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
                  for t in db.metadata.sorted_tables if t.name not in ("audit_entries", "api_tokens")}
        db.session.remove()
    return {"rows": counts, "files": artifact_files(app)}


def stored_ids(app: Flask) -> tuple[list[str], list[str]]:
    with app.app_context():
        return (sorted(db.session.scalars(sa.select(ActivityEvent.source_event_id))),
                sorted(db.session.scalars(sa.select(Screenshot.source_id))))


@both_databases
def test_a_batch_is_stored_and_each_record_answered(app: Flask, client: FlaskClient, collector: dict[str, str],
                                                   e1001: str) -> None:
    answer = client.post(INGEST, json=batch(ev(1), ev(2, kind="click", x=3, y=4), ev(1), shots=(sh(1),)),
                         headers=collector)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json == {"stored": 3, "duplicates": 1, "refused": 0,
                           "events": [{"index": 0, "id": "e-1", "result": "stored"},
                                      {"index": 1, "id": "e-2", "result": "stored"},
                                      {"index": 2, "id": "e-1", "result": "duplicate"}],
                           "screenshots": [{"index": 0, "id": "s-1", "result": "stored"}]}
    assert stored_ids(app) == (["e-1", "e-2"], ["s-1"])
    # A retry with one new record: only that one is stored, the rest reported as duplicates.
    again = client.post(INGEST, json=batch(ev(1), ev(2, kind="click", x=3, y=4), ev(3), shots=(sh(1),)),
                        headers=collector)
    assert (json_of(again)["stored"], json_of(again)["duplicates"]) == (1, 3)
    assert stored_ids(app) == (["e-1", "e-2", "e-3"], ["s-1"])
    # By work e-mail, the same employee.
    by_mail = client.post(INGEST, json=batch(ev(4), email="ANA@example.com"), headers=collector)
    assert json_of(by_mail)["stored"] == 1
    # One audit entry per batch, naming the token and the counts only.
    entries = audit_entries(app, "monitoring:batch:ingest")
    assert [(e.actor_type, e.subject_id, e.details["events"], e.details["events_duplicate"]) for e in entries] == [
        ("api-token", e1001, 2, 1), ("api-token", e1001, 1, 2), ("api-token", e1001, 1, 0)]
    assert len({e.actor_id for e in entries}) == 1


def test_collectors_read_nothing_back(client: FlaskClient, collector: dict[str, str], e1001: str) -> None:
    client.post(INGEST, json=batch(ev(1)), headers=collector)
    assert client.get("/api/v1/exclusions", headers=collector).status_code == 403
    assert client.get(INGEST, headers=collector).status_code == 405
    answer = client.post(INGEST, json=batch(ev(1)), headers=collector).get_data(as_text=True)
    assert "Slack" not in answer and "#general" not in answer and e1001 not in answer


def bomb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8_000, 5_000), 0).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


BOMB = bomb_png()
TOO_BIG_IMAGE = png("x") + b"\0" * (10 * 1024 * 1024)

# name: (body, status, problem type slug, reason of the batch or [(record, index, reason), ...])
BAD: dict[str, tuple[Any, int, str, Any]] = {
    "not-json": (b'{"employee_number": ', 400, "malformed-json", None),
    "not-utf8": (b'{"email": "\xff"}', 400, "malformed-json", None),
    "array": ([], 422, "invalid-body", None),
    "both-names": (batch(ev(1), employee_number="E1001", email="ana@example.com"), 422, "invalid-body", None),
    "no-name": ({"events": [ev(1)]}, 422, "invalid-body", None),
    "unknown-top-field": ({**batch(ev(1)), "note": "x"}, 422, "invalid-body", None),
    "events-not-list": ({"employee_number": "E1001", "events": {"a": 1}}, 422, "invalid-body", None),
    "too-many-events": (batch(*[ev(n) for n in range(10_001)]), 422, "invalid-body", None),
    "x-text": (batch(ev(1), ev(2, x="12")), 422, "batch-refused", [("event", 1, "invalid")]),
    "kind-unknown": (batch(ev(1, kind="keystroke_content")), 422, "batch-refused", [("event", 0, "invalid")]),
    "naive-time": (batch(ev(1, occurred_at="2026-11-23T09:00:00")), 422, "batch-refused", [("event", 0, "invalid")]),
    "time-not-a-time": (batch(ev(1, occurred_at="yesterday")), 422, "batch-refused", [("event", 0, "invalid")]),
    "year-1": (batch(ev(1, occurred_at="0001-01-01T00:00:00+05:00")), 422, "batch-refused",
               [("event", 0, "time_out_of_range")]),
    "year-9999": (batch(ev(1, occurred_at="9999-12-31T23:00:00-05:00")), 422, "batch-refused",
                  [("event", 0, "time_out_of_range")]),
    "year-1999": (batch(ev(1, occurred_at="1999-12-31T23:59:59Z")), 422, "batch-refused",
                  [("event", 0, "time_out_of_range")]),
    "two-days-ahead": (batch(ev(1, occurred_at=(NOW + timedelta(days=2)).isoformat())), 422, "batch-refused",
                       [("event", 0, "time_in_future")]),
    "bidi-title": (batch(ev(1), ev(2, title="report\u202excod.exe")), 422, "batch-refused",
                   [("event", 1, "hidden_characters")]),
    "zero-width-application": (batch(ev(1, application="Sla\u200bck")), 422, "batch-refused",
                               [("event", 0, "hidden_characters")]),
    "unknown-event-field": (batch(ev(1, keystrokes="hunter2")), 422, "batch-refused", [("event", 0, "invalid")]),
    "image-not-base64": (batch(shots=({**sh(1), "image": "%%%not base64%%%"},)), 422, "batch-refused",
                         [("screenshot", 0, "invalid")]),
    "image-not-an-image": (batch(shots=(sh(1, b"GIF89a but not really"),)), 422, "batch-refused",
                           [("screenshot", 0, "image_unreadable")]),
    "image-40-megapixels": (batch(ev(1), shots=(sh(1), sh(2, BOMB))), 422, "batch-refused",
                            [("screenshot", 1, "image_too_many_pixels")]),
    "image-too-large": (batch(shots=(sh(1, TOO_BIG_IMAGE),)), 422, "batch-refused",
                        [("screenshot", 0, "image_too_large")]),
    "several-bad": (batch(ev(1, occurred_at="1999-01-01T00:00:00Z"), ev(2), ev(3, title="a\u2066b")),
                    422, "batch-refused", [("event", 0, "time_out_of_range"), ("event", 2, "hidden_characters")]),
    "unknown-employee": (batch(ev(1), employee_number="E-9999"), 422, "subject-refused", "unknown_employee"),
    "unknown-email": (batch(ev(1), email="nobody@example.com"), 422, "subject-refused", "unknown_employee"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_a_problem_and_stores_nothing(app: Flask, client: FlaskClient, collector: dict[str, str],
                                                   e1001: str, name: str) -> None:
    body, status, slug, reasons = BAD[name]
    client.post(INGEST, json=batch(ev(100), shots=(sh(100),)), headers=collector)  # something to leave alone
    before = state(app)
    if isinstance(body, bytes):
        response = client.post(INGEST, data=body, content_type="application/json", headers=collector)
    else:
        response = client.post(INGEST, json=body, headers=collector)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    problem = json_of(response)
    assert problem["type"] == f"/api/docs#problem-{slug}" and problem["status"] == status
    if isinstance(reasons, list):
        assert [(r["record"], r["index"], r["reason"]) for r in problem["refused"]] == reasons
        assert problem["refused_count"] == len(reasons)
    elif reasons:
        assert problem["reason"] == reasons
    for secret in ("hunter2", "keystroke_content", "report", "nobody@example.com", "E-9999"):
        assert secret not in response.get_data(as_text=True)
    assert state(app) == before


def test_wrong_media_type_and_a_body_over_the_limit(app: Flask, client: FlaskClient, collector: dict[str, str],
                                                    e1001: str) -> None:
    before = state(app)
    text = client.post(INGEST, data="employee_number=E1001", content_type="text/plain", headers=collector)
    assert text.status_code == 415 and json_of(text)["type"] == "/api/docs#problem-unsupported-media-type"
    huge = client.post(INGEST, data=b"{" + b" " * (16 * 1024 * 1024) + b"}", content_type="application/json",
                       headers=collector)
    assert huge.status_code == 413 and huge.mimetype == "application/problem+json"
    assert json_of(huge)["type"] == "/api/docs#problem-too-large"
    assert state(app) == before


def test_refused_batches_are_audited_by_count(app: Flask, client: FlaskClient, collector: dict[str, str],
                                              e1001: str) -> None:
    client.post(INGEST, json=batch(ev(1, occurred_at="1999-01-01T00:00:00Z"), ev(2, x="a")), headers=collector)
    client.post(INGEST, json=batch(ev(1), email="nobody@example.com"), headers=collector)
    assert [e.details for e in audit_entries(app, "api:batch:refuse")] == [
        {"refused": 1, "reasons": ["invalid"]}, {"refused": "batch", "reasons": ["unknown_employee"]}]


def test_former_erased_withdrawn_and_restricted_are_refused(app: Flask, client: FlaskClient,
                                                            collector: dict[str, str], e1001: str) -> None:
    former = make_employee(app, "fred@example.com", status=EmploymentStatus.FORMER, employee_number="E-2")
    erased = make_employee(app, "eve@example.com", employee_number="E-3")
    shy = make_employee(app, "sam@example.com", employee_number="E-4")
    restricted = make_employee(app, "rex@example.com", employee_number="E-5")
    with app.app_context():
        keystore().destroy(erased)
        consent.decide(shy, Purpose.SCREENSHOT_CAPTURE, Decision.WITHDRAWN, actor=Actor("employee", shy),
                       method="test", device="test", policy_version=None)
        filed = requests_services.file_request(existing(Employee, restricted), RequestType.RESTRICTION).request
        db.session.add(Restriction(request_id=filed.id, subject_id=restricted, categories=[]))
        db.session.commit()
        active = runner()  # the request's e-mails go out (and are audited) in a job: done before the snapshot
        assert isinstance(active, ThreadRunner) and active.wait_idle(60)
    before = state(app)

    def reason(body: dict[str, Any]) -> Any:
        problem = json_of(client.post(INGEST, json=body, headers=collector))
        return problem.get("reason") or [(r["record"], r["index"], r["reason"]) for r in problem["refused"]]

    assert reason(batch(ev(1), employee_number="E-2")) == "former_employee"
    assert reason(batch(ev(1), employee_number="E-3")) == "erased_subject"
    assert reason(batch(ev(1), shots=(sh(1),), employee_number="E-4")) == [
        ("screenshot", 0, "screenshot_consent_withdrawn")]
    assert reason(batch(ev(1), ev(2, kind="click"), shots=(sh(1),), employee_number="E-5")) == [
        ("event", 0, "restricted"), ("event", 1, "restricted"), ("screenshot", 0, "restricted")]
    assert state(app) == before
    assert former and shy
    # Events alone still go in for the employee who withdrew screenshot consent.
    assert client.post(INGEST, json=batch(ev(1), employee_number="E-4"), headers=collector).status_code == 200


def post_at_once(url: str, body: dict[str, Any], headers: dict[str, str], copies: int = 2) -> list[requests.Response]:
    barrier = threading.Barrier(copies)
    answers: list[requests.Response] = []

    def send() -> None:
        barrier.wait()
        answers.append(requests.post(url, json=body, headers=headers, timeout=60))

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


@both_databases
def test_two_concurrent_retries_of_a_batch_store_it_once(app: Flask, collector: dict[str, str], e1001: str) -> None:
    body = copy.deepcopy(EXAMPLE_BATCH)
    body["events"] = [ev(n) for n in range(500)]
    with LiveServer(app) as live:
        for round_ in range(3):
            for item in body["events"]:
                item["event_id"] = f"r{round_}-{item['event_id'].split('-')[-1]}"
            body["screenshots"][0]["screenshot_id"] = f"r{round_}-shot"
            answers = post_at_once(f"{live.url}{INGEST}", body, collector)
            assert [a.status_code for a in answers] == [200, 200], [a.text[:300] for a in answers]
            results = sorted((a.json()["stored"], a.json()["duplicates"]) for a in answers)
            assert results == [(0, 501), (501, 0)], results
    events, shots = stored_ids(app)
    assert len(events) == 1500 and len(set(events)) == 1500 and len(shots) == 3
    with app.app_context():
        entries = audit_entries(app, "monitoring:batch:ingest")
        assert sorted(e.details["events"] for e in entries) == [0, 0, 0, 500, 500, 500]
    assert len(list(Path(app.config["PORTAL_SETTINGS"].artifact_dir).rglob("*.sealed"))) == 3


# --- NDJSON bulk -----------------------------------------------------------------------------------

BULK = "/api/v1/ingest/bulk"


def ndjson(*lines: Any) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json_bytes(line)) + b"\n" for line in lines)


def json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def bulk(client: FlaskClient, data: bytes, headers: dict[str, str]) -> list[dict[str, Any]]:
    import json

    response = client.post(BULK, data=data, content_type="application/x-ndjson", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


@both_databases
def test_bulk_stores_each_line_on_its_own_and_answers_each(app: Flask, client: FlaskClient,
                                                           collector: dict[str, str], e1001: str) -> None:
    data = ndjson(batch(ev(1), ev(2)), b"", batch(ev(3, occurred_at="1999-01-01T00:00:00Z")), b"{not json",
                  batch(ev(4), shots=(sh(1),)), batch(ev(5), email="nobody@example.com"))
    answers = bulk(client, data, collector)
    assert [(a["line"], a["status"], a.get("stored"), (a.get("problem") or {}).get("type")) for a in answers] == [
        (1, 200, 2, None), (3, 422, None, "/api/docs#problem-batch-refused"),
        (4, 400, None, "/api/docs#problem-malformed-json"), (5, 200, 2, None),
        (6, 422, None, "/api/docs#problem-subject-refused")]
    assert stored_ids(app) == (["e-1", "e-2", "e-4"], ["s-1"])
    again = bulk(client, data, collector)
    assert [(a["line"], a["status"], a.get("stored"), a.get("duplicates")) for a in again][:1] == [(1, 200, 0, 2)]
    assert stored_ids(app) == (["e-1", "e-2", "e-4"], ["s-1"])


def test_bulk_takes_more_than_the_single_body_limit_and_stops_at_an_overlong_line(
        app: Flask, client: FlaskClient, collector: dict[str, str], e1001: str) -> None:
    padded = [json_bytes(batch(ev(n)))[:-1] + b" " * (6 * 1024 * 1024) + b"}" for n in range(3)]  # 18 MiB in all
    answers = bulk(client, ndjson(*padded), collector)
    assert [(a["status"], a["stored"]) for a in answers] == [(200, 1), (200, 1), (200, 1)]
    overlong = json_bytes(batch(ev(7)))[:-1] + b" " * (16 * 1024 * 1024) + b"}"
    answers = bulk(client, ndjson(batch(ev(8)), overlong, batch(ev(9))), collector)
    assert [(a["line"], a["status"]) for a in answers] == [(1, 200), (2, 413)]
    assert answers[1]["problem"]["type"] == "/api/docs#problem-too-large"
    assert stored_ids(app)[0] == ["e-0", "e-1", "e-2", "e-8"]


def test_bulk_wants_ndjson(client: FlaskClient, collector: dict[str, str], e1001: str) -> None:
    response = client.post(BULK, json=batch(ev(1)), headers=collector)
    assert response.status_code == 415 and response.mimetype == "application/problem+json"


def test_a_refusal_names_the_first_100_records_and_counts_them_all(client: FlaskClient, collector: dict[str, str],
                                                                   e1001: str) -> None:
    for bad in ({"x": "1"}, {"occurred_at": "1999-01-01T00:00:00Z"}):  # the type pass, then the content pass
        problem = json_of(client.post(INGEST, json=batch(*[ev(n, **bad) for n in range(250)]), headers=collector))
        assert problem["refused_count"] == 250 and len(problem["refused"]) == 100
        assert [r["index"] for r in problem["refused"]] == list(range(100))
