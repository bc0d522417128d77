"""The employee's export, end to end: asked for on the page, built by the thread runner, checked
file by file against the database, downloaded after a fresh sign-in, refused to others, expired."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader

from portal.audit.services import Actor
from portal.auth.models import AuthSession
from portal.consent.models import Purpose
from portal.consent.services import has_consent, record_training_use
from portal.crypto import keystore
from portal.db import utcnow
from portal.exports import services as exports
from portal.exports.models import Export, ExportDownload, ExportState
from portal.extensions import db
from portal.jobs.models import Job, JobState
from portal.jobs.runners import ThreadRunner, runner
from portal.monitoring.artifacts import screenshot_path
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import ActivityEvent, DataCategory, Screenshot
from portal.monitoring.services import open_event
from portal.people.models import Employee
from portal.people.services import find_by_email
from portal.rights import services
from portal.rights.models import DataRequest, RequestState, RequestType
from portal.training.models import SnapshotMember, TrainingSnapshot
from tests.conftest import both_databases
from tests.helpers import (
    audit_entries,
    csrf_token,
    event,
    existing,
    grant_all_consents,
    make_employee,
    mark_removal,
    signed_in_as,
    snapshot,
    step_up,
)
from tests.monitoring.support import png

EVENTS = 120


def alice_id(app: Flask) -> str:
    with app.app_context():
        alice = find_by_email("alice@example.com")
        assert alice is not None
        return alice.id


def fill(app: Flask, subject_id: str, *, events: int = EVENTS, shots: int = 3) -> None:
    """Events of both categories, screenshots and a training-set use, through real ingestion."""
    kinds = ["site_visit", "click", "key_timing", "app_focus", "mouse_move"]
    with app.app_context():
        if not has_consent(subject_id, Purpose.SCREENSHOT_CAPTURE):
            grant_all_consents(subject_id)
        batch = [event(n, kind=kinds[n % len(kinds)], x=n, y=2 * n, payload={"n": n},
                       title=f"Title {n}, with \"quotes\", commas; and ünïcode")
                 for n in range(events)]
        images = [{"screenshot_id": f"shot-{n}", "captured_at": (utcnow() - timedelta(hours=2, minutes=n)).isoformat(),
                   "application": "Slack", "site_domain": "slack.com", "image": png(f"shot {n}", size=(40 + n, 30))}
                  for n in range(shots)]
        ingest_batch(subject_id, events=batch, screenshots=images)
        record_training_use(subject_id, dataset="assist-v2", snapshot="2026-10", record_count=1234,
                            used_on=utcnow().date(), model="assist-7b", actor=Actor.system())
        db.session.commit()


def wait_for_jobs(app: Flask) -> None:
    with app.app_context():
        active = runner()
        assert isinstance(active, ThreadRunner)
        assert active.wait_idle(60), "the export job did not finish"


def start_export(client: FlaskClient, **fields: Any) -> str:
    page = client.get("/me/exports")
    assert page.status_code == 200
    data: dict[str, Any] = {"csrf_token": csrf_token(page.get_data(as_text=True))}
    data.update(fields)
    response = client.post("/me/exports", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    path = urlsplit(response.headers["Location"]).path
    assert path.startswith("/me/exports/")
    return path.rsplit("/", 1)[1]


ALL = {"categories": ["input_events", "app_activity", "screenshots", "ai_training_use"]}


def download(client: FlaskClient, export_id: str) -> Any:
    page = client.get(f"/me/exports/{export_id}")
    return client.post(f"/me/exports/{export_id}/download",
                       data={"csrf_token": csrf_token(page.get_data(as_text=True))},
                       headers={"Referer": f"http://localhost/me/exports/{export_id}"})


@pytest.fixture
def alice(app: Flask, client: FlaskClient) -> str:
    """alice, signed in and stepped up (as downloading an export makes her do)."""
    signed_in_as(client)
    signed_in_as(client, stepped_up=True)
    subject = alice_id(app)
    fill(app, subject)
    return subject


def ready_export(app: Flask, client: FlaskClient, **fields: Any) -> tuple[str, bytes]:
    export_id = start_export(client, **(fields or ALL))
    wait_for_jobs(app)
    response = download(client, export_id)
    assert response.status_code == 200, response.headers
    return export_id, response.get_data()


def expected_events(app: Flask, subject_id: str, category: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(ActivityEvent).where(ActivityEvent.subject_id == subject_id,
                                                                 ActivityEvent.category == category)
                                  .order_by(ActivityEvent.occurred_at, ActivityEvent.id)).all()
        out = []
        for row in rows:
            secret = open_event(row)
            out.append({"id": row.id, "kind": row.kind, "application": row.application,
                        "site_domain": row.site_domain, "duration_ms": row.duration_ms,
                        "occurred_at": row.occurred_at, "url": secret.get("url"), "title": secret.get("title"),
                        "x": secret.get("x"), "y": secret.get("y"), "payload": secret.get("payload"),
                        "source_event_id": row.source_event_id})
        return out


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


@both_databases
def test_the_package_holds_exactly_what_the_database_holds(app: Flask, client: FlaskClient, alice: str) -> None:
    export_id, body = ready_export(app, client)
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = set(archive.namelist())
    manifest = json.loads(archive.read("manifest.json"))

    # The manifest names every other file, with its true hash and size.
    assert {f["path"] for f in manifest["files"]} == names - {"manifest.json"}
    for entry in manifest["files"]:
        data = archive.read(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        assert len(data) == entry["bytes"]
    assert manifest["export_id"] == export_id and manifest["subject_id"] == alice

    for category in ("input_events", "app_activity"):
        expected = expected_events(app, alice, category)
        assert expected, category
        lines = [json.loads(line) for line in archive.read(f"data/{category}.jsonl").splitlines()]
        rows = list(csv.DictReader(io.StringIO(archive.read(f"data/{category}.csv").decode())))
        assert manifest["counts"][category] == len(expected) == len(lines) == len(rows)
        for want, got, row in zip(expected, lines, rows, strict=True):
            assert parse_time(got["occurred_at"]) == want["occurred_at"]
            assert parse_time(row["occurred_at"]) == want["occurred_at"]
            for key in ("id", "kind", "application", "site_domain", "duration_ms", "url", "title", "x", "y",
                        "payload", "source_event_id"):
                assert got[key] == want[key], key
                csv_value = row[key]
                if want[key] is None:
                    assert csv_value == ""
                elif key == "payload":
                    assert json.loads(csv_value) == want[key]
                else:
                    assert csv_value == str(want[key]), key
            assert got["category"] == row["category"] == category

    # Screenshots: every image, byte for byte, and its row pointing at it.
    with app.app_context():
        shots = db.session.scalars(sa.select(Screenshot).where(Screenshot.subject_id == alice)
                                   .order_by(Screenshot.captured_at)).all()
        cipher = keystore().cipher(alice)
        from portal.monitoring.artifacts import screenshot_path

        images = [cipher.open_bytes("screenshot", s.id, screenshot_path(alice, s.id).read_bytes()) for s in shots]
        shot_ids = [s.id for s in shots]
    rows = list(csv.DictReader(io.StringIO(archive.read("data/screenshots.csv").decode())))
    assert [r["id"] for r in rows] == shot_ids
    assert [archive.read(r["file"]) for r in rows] == images

    training = [json.loads(line) for line in archive.read("data/ai_training_use.jsonl").splitlines()]
    assert training == [{"dataset": "assist-v2", "snapshot": "2026-10", "record_count": 1234,
                         "used_on": utcnow().date().isoformat(), "model": "assist-7b", "removal_required_at": None}]
    consents = list(csv.DictReader(io.StringIO(archive.read("data/consent_history.csv").decode())))
    assert consents and {c["decision"] for c in consents} <= {"granted", "withdrawn"}

    # The report names the employee and every category of the register.
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(archive.read("report.pdf"))).pages)
    with app.app_context():
        categories = [c.name for c in db.session.scalars(sa.select(DataCategory))]
    assert "Alice" in text
    for name in categories:
        assert name in " ".join(text.split()), name
    index = archive.read("index.html").decode()
    assert "<script" not in index and 'href="data/input_events.csv"' in index


def test_the_export_is_a_completed_access_request_with_one_audit_trail(app: Flask, client: FlaskClient,
                                                                       alice: str) -> None:
    export_id, _ = ready_export(app, client)
    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None and export.state == ExportState.READY and export.request_id
        request = db.session.get(DataRequest, export.request_id)
        assert request is not None
        assert (request.type, request.state, request.subject_id) == (RequestType.ACCESS, RequestState.COMPLETED,
                                                                     alice)
        assert request.completed_at is not None
    assert [e.targets["export"] for e in audit_entries(app, "exports:export:request")] == [export_id]
    assert [e.targets["export"] for e in audit_entries(app, "exports:export:complete")] == [export_id]
    assert [e.targets["export"] for e in audit_entries(app, "exports:export:download")] == [export_id]
    assert [e.targets["request"] for e in audit_entries(app, "requests:request:complete")] == [export.request_id]
    # The download is listed on the export's page.
    page = client.get(f"/me/exports/{export_id}").get_data(as_text=True)
    assert "Not downloaded yet" not in page


def test_download_headers_are_safe(app: Flask, client: FlaskClient, alice: str) -> None:
    export_id = start_export(client, **ALL)
    wait_for_jobs(app)
    response = download(client, export_id)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="monitoring-data-') and disposition.endswith('.zip"')
    assert "no-store" in response.headers["Cache-Control"]
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None
        assert hashlib.sha256(response.get_data()).hexdigest() == export.artifact_sha256
        # At rest the archive is sealed: its bytes are not the ZIP's.
        path = exports.artifact_path(export)
        assert path is not None
        assert not path.read_bytes().startswith(b"PK") and b"alice" not in path.read_bytes().lower()


def test_a_date_range_and_a_choice_of_categories_narrow_the_package(app: Flask, client: FlaskClient,
                                                                     alice: str) -> None:
    with app.app_context():
        zone = ZoneInfo(existing(Employee, alice).timezone)  # the range's days are hers
    today = utcnow().astimezone(zone).date()
    _, body = ready_export(app, client, categories=["app_activity"], date_from=today.isoformat(),
                           date_to=today.isoformat())
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = set(archive.namelist())
    assert "data/app_activity.jsonl" in names and "data/input_events.jsonl" not in names
    assert not any(n.startswith("screenshots/") for n in names)
    rows = [json.loads(line) for line in archive.read("data/app_activity.jsonl").splitlines()]
    assert rows and all(parse_time(r["occurred_at"]).astimezone(zone).date() == today for r in rows)
    expected = [e for e in expected_events(app, alice, "app_activity")
                if e["occurred_at"].astimezone(zone).date() == today]
    assert [r["id"] for r in rows] == [e["id"] for e in expected]


def test_a_use_an_erasure_marked_is_in_the_copy_as_removal_required(app: Flask, client: FlaskClient,
                                                                      alice: str) -> None:
    marked_at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    with app.app_context():
        for name in db.session.scalars(sa.select(TrainingSnapshot.name).join(
                SnapshotMember, SnapshotMember.snapshot_id == TrainingSnapshot.id).where(SnapshotMember.subject_id == alice)):
            mark_removal(alice, name, at=marked_at)
        db.session.commit()
    _, body = ready_export(app, client, categories=["ai_training_use"])
    archive = zipfile.ZipFile(io.BytesIO(body))
    (row,) = [json.loads(line) for line in archive.read("data/ai_training_use.jsonl").splitlines()]
    assert row["removal_required_at"] == "2026-11-20T09:30:00.000000Z"
    (line,) = csv.DictReader(io.StringIO(archive.read("data/ai_training_use.csv").decode()))
    assert line["removal_required_at"] == "2026-11-20T09:30:00.000000Z"
    report = " ".join("\n".join(page.extract_text() for page in PdfReader(io.BytesIO(archive.read("report.pdf")))
                                 .pages).split())
    assert "1 of these snapshots (assist-v2 2026-10) are marked “removal required”" in report
    assert "does not itself remove data from training sets or from models already trained on them" in report
    index = archive.read("index.html").decode()
    assert "(removal required)" in index and "The portal does not itself remove data" in index


def test_a_download_needs_a_fresh_sign_in(app: Flask, client: FlaskClient, alice: str) -> None:
    export_id = start_export(client, **ALL)
    wait_for_jobs(app)
    with app.app_context():
        db.session.execute(sa.update(AuthSession).values(stepped_up_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    page = client.get(f"/me/exports/{export_id}")
    # As a browser posts it: the portal's Referrer-Policy (no-referrer) leaves no Referer.
    response = client.post(f"/me/exports/{export_id}/download",
                           data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    login = urlsplit(response.headers["Location"])
    assert login.path == "/auth/login" and parse_qs(login.query)["reauth"] == ["1"]
    assert parse_qs(login.query)["next"] == [f"/me/exports/{export_id}"], "back to the export's page"
    assert audit_entries(app, "exports:export:download") == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ExportDownload)) == 0

    back = step_up(client, next_path=parse_qs(login.query)["next"][0])
    assert back.headers["Location"] == f"/me/exports/{export_id}", "the download is not replayed"
    assert audit_entries(app, "exports:export:download") == []
    assert download(client, export_id).status_code == 200


def test_another_employees_export_is_not_found(app: Flask, client: FlaskClient, alice: str) -> None:
    other = make_employee(app, "erin@example.com", name="Erin Other")
    fill(app, other, events=5, shots=0)
    with app.app_context():
        from portal.people.models import Employee

        theirs = exports.request_export(existing(Employee, other), actor=Actor("employee", other))
        theirs_id = theirs.id
        db.session.commit()
    wait_for_jobs(app)
    token = csrf_token(client.get("/me/exports").get_data(as_text=True))
    before = snapshot(app)
    for response in (client.get(f"/me/exports/{theirs_id}"), client.get(f"/me/exports/{theirs_id}/progress"),
                     client.post(f"/me/exports/{theirs_id}/download", data={"csrf_token": token})):
        assert response.status_code == 404
        assert "Erin" not in response.get_data(as_text=True)
    assert snapshot(app) == before
    refused = [e for e in audit_entries(app, "access:object:refused") if e.targets.get("id") == theirs_id]
    assert len(refused) == 3
    assert theirs_id not in client.get("/me/exports").get_data(as_text=True)


def test_an_expired_export_is_deleted_and_cannot_be_downloaded(app: Flask, client: FlaskClient, alice: str) -> None:
    export_id = start_export(client, **ALL)
    wait_for_jobs(app)
    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None and export.expires_at is not None
        assert export.expires_at is not None and export.completed_at is not None
        assert export.expires_at - export.completed_at == timedelta(days=7)
        path = exports.artifact_path(export)
        assert path is not None and path.exists()
        assert exports.delete_expired(now=utcnow() + timedelta(days=6)) == 0
        assert path.exists()
        assert exports.delete_expired(now=utcnow() + timedelta(days=7, minutes=1)) == 1
        assert not path.exists()
        db.session.expire_all()
        export = db.session.get(Export, export_id)
        assert export is not None and export.state == ExportState.EXPIRED and export.deleted_at is not None
    response = download(client, export_id)
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == f"/me/exports/{export_id}"
    page = client.get(f"/me/exports/{export_id}").get_data(as_text=True)
    assert "has expired" in page and "Download the ZIP" not in page
    assert [e.targets["export"] for e in audit_entries(app, "exports:export:expire")] == [export_id]


@pytest.mark.parametrize("fields, message", [
    ({"categories": []}, "Choose at least one category."),
    ({"categories": ["no_such_thing"]}, "is not a valid choice"),
    ({**ALL, "date_from": "2026-05-02", "date_to": "2026-05-01"}, "The last day comes before the first day."),
    ({**ALL, "date_from": "yesterday"}, "Not a valid date value."),
])
def test_bad_requests_are_refused_and_change_nothing(app: Flask, client: FlaskClient, alice: str,
                                                     fields: dict[str, Any], message: str) -> None:
    page = client.get("/me/exports")
    before = snapshot(app, skip=frozenset())
    response = client.post("/me/exports", data={"csrf_token": csrf_token(page.get_data(as_text=True)), **fields})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_without_csrf_nothing_is_started(app: Flask, client: FlaskClient, alice: str) -> None:
    before = snapshot(app, skip=frozenset())
    assert client.post("/me/exports", data=ALL).status_code == 400
    assert snapshot(app, skip=frozenset()) == before


def test_progress_is_reported_as_json_and_on_the_page(app: Flask, client: FlaskClient, alice: str) -> None:
    export_id = start_export(client, **ALL)
    wait_for_jobs(app)
    progress = client.get(f"/me/exports/{export_id}/progress")
    assert progress.status_code == 200 and progress.headers["Cache-Control"] == "no-store"
    state = progress.get_json()
    assert state["state"] == "ready" and state["percent"] == 100
    assert state["done"] == state["total"] > EVENTS
    listing = client.get("/me/exports").get_data(as_text=True)
    assert f"/me/exports/{export_id}" in listing and "Ready" in listing


def test_a_failed_export_shows_its_reason(app: Flask, client: FlaskClient, alice: str) -> None:
    with app.app_context():
        keystore().destroy(alice)  # nothing can be decrypted any more: retrying cannot help
    export_id = start_export(client, **ALL)
    wait_for_jobs(app)
    page = client.get(f"/me/exports/{export_id}").get_data(as_text=True)
    assert "could not be made" in page and "can no longer be read (its key was destroyed)" in page
    assert client.get(f"/me/exports/{export_id}/progress").get_json()["state"] == "failed"
    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None and export.state == ExportState.FAILED and export.artifact_name is None
        assert not list(exports.exports_dir(alice).glob("*.zip.sealed"))
    assert [e.targets["export"] for e in audit_entries(app, "exports:export:fail")] == [export_id]

    # Staff see the same reason on the jobs page; an employee does not reach that page at all.
    assert client.get("/admin/jobs").status_code == 404
    staff = app.test_client()
    signed_in_as(staff, "admin@example.com")
    jobs_page = staff.get("/admin/jobs?state=failed")
    assert jobs_page.status_code == 200
    text = jobs_page.get_data(as_text=True)
    assert "exports.build" in text and "can no longer be read" in text and "gave up" in text


def test_at_most_two_exports_are_prepared_at_once(app: Flask, client: FlaskClient, alice: str) -> None:
    with app.app_context():
        from portal.people.models import Employee

        subject = existing(Employee, alice)
        for _ in range(2):
            exports.request_export(subject, actor=Actor("employee", alice), dispatch=False)
        db.session.commit()
        with pytest.raises(exports.ExportError):
            exports.request_export(subject, actor=Actor("employee", alice), dispatch=False)
        db.session.rollback()
        # One of them is taken by a worker that then dies (a killed `export run`): once its lease
        # has run out it holds no place, and the sweep will take it up again.
        from portal.jobs import services as jobs

        dead = db.session.scalars(sa.select(Export).where(Export.subject_id == alice)).first()
        assert dead is not None and jobs.claim(dead.job_id) is not None
        db.session.execute(sa.update(Job).where(Job.id == dead.job_id)
                           .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert dead.job_id in jobs.due_jobs()
        exports.request_export(subject, actor=Actor("employee", alice), dispatch=False)
        db.session.rollback()


def test_the_shell_export_writes_the_same_package(app: Flask, alice: str, tmp_path: Any) -> None:
    out = tmp_path / "copy.zip"
    result = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com", "--out", str(out)])
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(out)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["input_events"] + manifest["counts"]["app_activity"] == EVENTS
    # An operator's copy is an access the employee sees in "who accessed my data".
    with app.app_context():
        from portal.monitoring.models import AccessRecord

        records = db.session.scalars(sa.select(AccessRecord).where(AccessRecord.subject_id == alice)).all()
        assert [(r.action, r.accessor_role) for r in records] == [("exported", "system")]
    again = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com", "--out", str(out)])
    assert again.exit_code != 0 and "exists already" in again.output
    nobody = app.test_cli_runner().invoke(args=["export", "run", "--employee", "nobody@example.com",
                                                "--out", str(tmp_path / "x.zip")])
    assert nobody.exit_code != 0 and "No employee" in nobody.output
    # A folder that is not there is refused before anything is made or recorded, and leaves nothing.
    with app.app_context():
        exports_before = db.session.scalar(sa.select(sa.func.count()).select_from(Export))
    nowhere = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com",
                                                 "--out", str(tmp_path / "missing" / "x.zip")])
    assert nowhere.exit_code != 0 and "is not a folder this command can write to" in nowhere.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)) == exports_before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".zip") or ".part" in p.name) == ["copy.zip"]


def test_a_start_date_in_the_future_is_refused_and_changes_nothing(app: Flask, client: FlaskClient,
                                                                   alice: str) -> None:
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    page = client.get("/me/exports")
    before = snapshot(app, skip=frozenset())
    response = client.post("/me/exports", data={"csrf_token": csrf_token(page.get_data(as_text=True)), **ALL,
                                                "date_from": tomorrow})
    assert response.status_code == 400
    assert "The start date is in the future" in response.get_data(as_text=True)
    assert snapshot(app, skip=frozenset()) == before


def test_a_download_without_csrf_is_refused_and_records_nothing(app: Flask, client: FlaskClient,
                                                                alice: str) -> None:
    export_id = start_export(client, **ALL)
    wait_for_jobs(app)
    before = snapshot(app, skip=frozenset())
    response = client.post(f"/me/exports/{export_id}/download", data={})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert snapshot(app, skip=frozenset()) == before


def test_the_shell_refuses_an_unknown_category_and_changes_nothing(app: Flask, alice: str, tmp_path: Any) -> None:
    before = snapshot(app, skip=frozenset())
    result = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com",
                                                "--category", "keystrokes", "--out", str(tmp_path / "x.zip")])
    assert result.exit_code != 0 and "categories do not exist" in result.output
    assert not (tmp_path / "x.zip").exists()
    assert snapshot(app, skip=frozenset()) == before


def test_a_missing_or_damaged_screenshot_is_left_out_and_said_so_and_its_page_answers_404(
        app: Flask, client: FlaskClient, alice: str) -> None:
    """One screenshot's file deleted, another's cut short (as a failing disk leaves them): the
    export still finishes on its first attempt, with every other file, and names the two in its
    manifest and report; their image and thumbnail answer 404, not 500."""
    with app.app_context():
        shots = db.session.scalars(sa.select(Screenshot).where(Screenshot.subject_id == alice)
                                   .order_by(Screenshot.captured_at)).all()
        assert len(shots) >= 3
        gone, damaged, whole = shots[0], shots[1], shots[2]
        screenshot_path(alice, gone.id).unlink()
        path = screenshot_path(alice, damaged.id)
        path.write_bytes(path.read_bytes()[:-40])
        ids = {"gone": gone.id, "damaged": damaged.id, "whole": whole.id}
    export_id, data = ready_export(app, client)
    with app.app_context():
        export = existing(Export, export_id)
        job = existing(Job, export.job_id)
        assert export.state == ExportState.READY and job.attempts == 1
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    left_out = {u["id"]: u["reason"] for u in manifest["unavailable"]}
    assert left_out == {ids["gone"]: "the stored file is missing",
                        ids["damaged"]: "the stored file is damaged (it does not open)"}
    assert manifest["counts"]["screenshots"] == len(shots) - 2
    assert len([n for n in archive.namelist() if n.startswith("screenshots/")]) == len(shots) - 2
    report = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(archive.read("report.pdf"))).pages)
    assert "2 screenshot(s) could not be included" in report and "the stored file is missing" in report
    for which, status in (("gone", 404), ("damaged", 404), ("whole", 200)):
        assert client.get(f"/me/screenshots/{ids[which]}/image").status_code == status, which
        assert client.get(f"/me/screenshots/{ids[which]}/thumbnail").status_code == status, which


def test_an_export_whose_attempt_failed_says_it_is_trying_again_and_why(app: Flask, client: FlaskClient,
                                                                       alice: str) -> None:
    """Its folder is in the way (a file where the folder should be): the attempt fails, the page
    says it is trying again and why, and once the folder can be made the next attempt finishes."""
    from tests.rights.support import manual_jobs, run_now

    manual_jobs(app)
    export_id = start_export(client, **ALL)
    with app.app_context():
        blocker = exports.exports_dir(alice)
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_bytes(b"not a folder")
        export = existing(Export, export_id)
        assert run_now(export.job_id) == JobState.QUEUED
        shown = exports.status(existing(Export, export_id))
        assert shown.state == "retrying" and shown.error and "internal error" in shown.error
    page = client.get(f"/me/exports/{export_id}").get_data(as_text=True)
    assert "Trying again" in page and "The last attempt did not finish (an internal error" in page
    with app.app_context():
        blocker.unlink()
        assert run_now(existing(Export, export_id).job_id) == JobState.SUCCEEDED
        assert exports.status(existing(Export, export_id)).state == "ready"


def test_a_shell_export_that_cannot_be_delivered_records_no_access(app: Flask, alice: str, full_disk: Path) -> None:
    """`export run --out` on a full disk: the command fails and says so, leaves no partial file,
    and records neither an access to the employee's data nor a completed access request; once
    there is room, the next run delivers and records exactly one of each."""
    from portal.monitoring.models import AccessRecord
    from tests.helpers import fill_disk

    filler = fill_disk(full_disk)

    def recorded() -> tuple[int, int]:
        with app.app_context():
            accesses = db.session.scalar(sa.select(sa.func.count()).select_from(AccessRecord)
                                         .where(AccessRecord.subject_id == alice, AccessRecord.action == "exported"))
            requests = db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)
                                         .where(DataRequest.subject_id == alice,
                                                DataRequest.type == RequestType.ACCESS))
            return accesses or 0, requests or 0

    before = recorded()
    failed = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com",
                                                "--out", str(full_disk / "copy.zip")])
    assert failed.exit_code == 1 and "could not be written (No space left on device)" in failed.output
    assert "Traceback" not in failed.output
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no partial or temporary file
    assert recorded() == before
    filler.unlink()
    done = app.test_cli_runner().invoke(args=["export", "run", "--employee", "alice@example.com",
                                              "--out", str(full_disk / "copy.zip")])
    assert done.exit_code == 0, done.output
    assert recorded() == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_exports_asked_for_at_the_same_moment_stay_within_two(app: Flask, alice: str) -> None:
    """Eight at once, from eight threads with their own sessions, on PostgreSQL: two are made, six
    are told that two are being prepared (before the row lock, seven were made)."""
    import threading

    from portal.people.models import Employee

    barrier = threading.Barrier(8)
    outcomes: list[Any] = []

    def ask() -> None:
        with app.app_context():
            try:
                subject = existing(Employee, alice)
                barrier.wait(timeout=10)
                exports.request_export(subject, actor=Actor("employee", alice), dispatch=False)
                db.session.commit()
                outcomes.append("made")
            except Exception as exc:
                db.session.rollback()
                outcomes.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count("made") == 2, outcomes
    assert all(isinstance(o, exports.ExportError) for o in outcomes if o != "made")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Export)
                                 .where(Export.subject_id == alice)) == 2


def test_dates_are_days_in_the_persons_time_zone(app: Flask, alice: str) -> None:
    """An employee in Bogotá (UTC-5) who asks for 30 November gets the events of her 30 November:
    from 05:00 UTC that day to 05:00 UTC the next, as the form (which no longer says UTC) means."""
    from datetime import date

    from portal.exports.package import Scope
    from portal.rights.erasure import _bounds

    bogota = Scope(["app_activity"], date(2026, 11, 30), date(2026, 11, 30), "America/Bogota")
    assert bogota.start == datetime(2026, 11, 30, 5, tzinfo=UTC) and bogota.end == datetime(2026, 12, 1, 5, tzinfo=UTC)
    assert Scope(["app_activity"], date(2026, 11, 30)).start == datetime(2026, 11, 30, tzinfo=UTC), "none: UTC"
    # An erasure's dates likewise; a request filed before zones were recorded keeps its UTC days.
    assert _bounds({"date_from": "2026-11-30", "date_to": "2026-11-30", "zone": "Europe/Madrid"}) == (
        datetime(2026, 11, 29, 23, tzinfo=UTC), datetime(2026, 11, 30, 23, tzinfo=UTC))
    assert _bounds({"date_from": "2026-11-30", "date_to": None}) == (datetime(2026, 11, 30, tzinfo=UTC), None)
    with app.app_context():
        employee = db.session.get(Employee, alice)
        assert employee is not None
        employee.timezone = "America/Bogota"
        export = exports.request_export(employee, date_from=date(2026, 11, 30), actor=Actor("employee", alice),
                                        dispatch=False)
        everything = exports.request_export(employee, actor=Actor("employee", alice), dispatch=False)
        assert (export.date_zone, everything.date_zone) == ("America/Bogota", None)
        filed = services.file_request(employee, "erasure", date_from=date(2026, 11, 30), date_to=date(2026, 11, 30))
        assert (filed.request.scope or {})["zone"] == "America/Bogota"
        db.session.rollback()


def test_the_derived_data_is_in_the_package_and_matches_the_aggregates(app: Flask, client: FlaskClient,
                                                                       alice: str) -> None:
    """The counts the portal derives from the events (per day, per hour, per site and application,
    per category) are part of the access copy: in derived/, in the manifest, explained in the report."""
    from portal.exports.package import Scope
    from portal.monitoring import aggregates
    from portal.monitoring.models import ActivityTarget, SubjectCategoryStats

    today = utcnow().date()
    export_id, body = ready_export(app, client, **ALL, date_from=(today - timedelta(days=1)).isoformat(),
                                   date_to=today.isoformat())
    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = json.loads(archive.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    names = ("activity_per_day", "activity_per_hour", "time_per_application_and_site", "items_per_category")
    for name in names:
        for path in (f"derived/{name}.csv", f"derived/{name}.jsonl"):
            data = archive.read(path)
            assert listed[path]["sha256"] == hashlib.sha256(data).hexdigest() and listed[path]["bytes"] == len(data)

    def rows(name: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in archive.read(f"derived/{name}.jsonl").splitlines()]
        table = list(csv.DictReader(io.StringIO(archive.read(f"derived/{name}.csv").decode())))
        assert [{k: str(v) if v is not None else "" for k, v in line.items()} for line in lines] == table
        assert listed[f"derived/{name}.csv"]["rows"] == len(lines)
        return lines

    with app.app_context():
        export = db.session.get(Export, export_id)
        assert export is not None
        scope = Scope(["input_events"], today - timedelta(days=1), today, export.date_zone or "UTC")
        in_range = db.session.scalar(sa.select(sa.func.count()).select_from(ActivityEvent).where(
            ActivityEvent.subject_id == alice, ActivityEvent.occurred_at >= scope.start,
            ActivityEvent.occurred_at < scope.end))
        hourly = aggregates.hourly_counts(alice)
        top = aggregates.top_targets(alice, limit=3)
        target_events = db.session.scalar(sa.select(sa.func.sum(ActivityTarget.events))
                                          .where(ActivityTarget.subject_id == alice))
        stats = {s.category: s.item_count for s in db.session.scalars(
            sa.select(SubjectCategoryStats).where(SubjectCategoryStats.subject_id == alice))}
    per_day = rows("activity_per_day")
    assert in_range and sum(r["events"] for r in per_day) == in_range
    assert all(today - timedelta(days=1) <= datetime.fromisoformat(r["day"]).date() <= today for r in per_day)
    assert [r["events"] for r in rows("activity_per_hour")] == hourly and sum(hourly) >= in_range
    targets = rows("time_per_application_and_site")
    assert sum(r["events"] for r in targets) == target_events
    assert [(r["kind"], r["name"], r["duration_ms"], r["events"]) for r in targets[:3]] == [
        (t.target_type, t.target, t.duration_ms, t.events) for t in top.top]
    assert {"github.com", "Google Chrome"} & {r["name"] for r in targets}
    assert {r["category"]: r["items"] for r in rows("items_per_category")} == stats

    # The report and the index say what is derived, where it is, and what the register states.
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(archive.read("report.pdf"))).pages).split())
    index = archive.read("index.html").decode()
    for name in names:
        assert f"derived/{name}.csv" in text and f'href="derived/{name}.csv"' in index
    assert "Input events: used for profiling" in text
    assert "productivity and ergonomics reports about you" in text and "productivity and ergonomics" in index
