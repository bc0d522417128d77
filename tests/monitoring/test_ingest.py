"""Ingestion of collector batches: what is stored and counted, idempotency, and every refusal
(each names the record and changes nothing: no rows, no files, no totals, no audit entry)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from portal.audit.models import AuditEntry
from portal.crypto import keystore
from portal.db import new_id
from portal.extensions import db
from portal.monitoring import services as monitoring
from portal.monitoring.ingest import IngestError, ingest_batch
from portal.monitoring.models import ActivityEvent, Screenshot
from portal.people.models import EmploymentStatus
from tests.conftest import both_databases
from tests.helpers import event, existing, make_employee
from tests.monitoring.support import artifact_files, png, row_counts, shot, snapshot

NOW = datetime.now(UTC)


def sample_batch() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Three input events and two app-activity events (one with a non-UTC offset), one screenshot."""
    events = [
        event(1),  # site_visit
        event(2, kind="app_focus", site_domain=None, url=None, title="Terminal — zsh"),
        event(3, kind="click", x=640, y=-12, duration_ms=None),
        event(4, kind="mouse_move", x=0, y=100_000),
        event(5, kind="key_timing", payload={"intervals_ms": [120, 95, 180], "keys": 3},
              occurred_at=(NOW - timedelta(hours=2)).astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()),
    ]
    return events, [shot(1, png("hello"))]


def totals(subject_id: str) -> dict[str, int]:
    return {t.category.key: t.count for t in monitoring.category_totals(subject_id)}


def audit_details(subject_id: str) -> list[dict[str, Any]]:
    return [e.details for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.tag == "monitoring:batch:ingest", AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.seq))]


@pytest.fixture
def subject(app: Flask) -> str:
    return make_employee(app)


@pytest.fixture
def seeded(app: Flask, subject: str, ctx: None) -> Iterator[str]:
    """An employee with one batch already stored and committed, so that refusals have totals,
    rows and files that they must leave alone."""
    ingest_batch(subject, [event(100), event(101, kind="click", x=1, y=1)], [shot(100)])
    db.session.commit()
    yield subject


# --- what is stored ----------------------------------------------------------------------------

@both_databases
def test_batch_is_stored_sealed_and_counted(app: Flask, subject: str, ctx: None) -> None:
    events, shots = sample_batch()
    result = ingest_batch(subject, events, shots)
    assert (result.events_stored, result.events_duplicate, result.screenshots_stored, result.screenshots_duplicate) == (
        5, 0, 1, 0)
    assert result.per_category == {"input_events": 3, "app_activity": 2, "screenshots": 1}
    db.session.commit()

    assert totals(subject) == {"input_events": 3, "app_activity": 2, "screenshots": 1, "ai_training_use": 0}
    by_key = {t.category.key: t for t in monitoring.category_totals(subject)}
    times = {e["event_id"]: datetime.fromisoformat(e["occurred_at"]).astimezone(UTC) for e in events}
    assert by_key["input_events"].first_at == times["ev-5"]  # the +05:30 one, normalised to UTC
    assert by_key["input_events"].last_at == times["ev-3"]
    assert (by_key["app_activity"].first_at, by_key["app_activity"].last_at) == (times["ev-2"], times["ev-1"])

    stored = {e.source_event_id: e for e in db.session.scalars(select(ActivityEvent))}
    assert set(stored) == set(times)
    for raw in events:
        row = stored[raw["event_id"]]
        assert (row.kind, row.occurred_at, row.application, row.site_domain, row.duration_ms) == (
            raw["kind"], times[raw["event_id"]], raw["application"], raw["site_domain"], raw["duration_ms"])
        expected = {k: raw[k] for k in ("url", "title", "x", "y", "payload") if raw.get(k) is not None}
        assert monitoring.open_event(row) == expected
        for secret in (raw.get("url"), raw.get("title")):  # long enough not to occur in ciphertext by chance
            assert secret is None or secret.encode() not in row.sealed

    (screenshot,) = db.session.scalars(select(Screenshot))
    assert (screenshot.source_id, screenshot.media_type, screenshot.width, screenshot.height, screenshot.byte_size) == (
        "shot-1", "image/png", 160, 32, len(shots[0]["image"]))
    assert monitoring.open_screenshot(screenshot) == shots[0]["image"]
    assert list(artifact_files(app)) == [f"screenshots/{subject}/{screenshot.id}.sealed"]

    # A later batch adds to the totals and widens their time span.
    older = event(6, kind="scroll", occurred_at=(NOW - timedelta(days=3)).isoformat())
    ingest_batch(subject, [older, event(7, kind="click", occurred_at=NOW.isoformat())])
    db.session.commit()
    assert totals(subject) == {"input_events": 5, "app_activity": 2, "screenshots": 1, "ai_training_use": 0}
    input_events = next(t for t in monitoring.category_totals(subject) if t.category.key == "input_events")
    assert (input_events.first_at, input_events.last_at) == (NOW - timedelta(days=3), NOW)


@both_databases
def test_resending_a_batch_stores_nothing_new(app: Flask, subject: str, ctx: None) -> None:
    events, shots = sample_batch()
    ingest_batch(subject, events, shots)
    db.session.commit()
    before = snapshot(app)

    again = ingest_batch(subject, events, shots)
    assert (again.events_stored, again.events_duplicate, again.screenshots_stored, again.screenshots_duplicate) == (
        0, 5, 0, 1)
    assert again.per_category == {}
    db.session.commit()
    after = snapshot(app)
    assert after["stats"] == before["stats"] and after["files"] == before["files"]
    assert after["rows"] == before["rows"] | {"audit_entries": before["rows"]["audit_entries"] + 1}

    # Part old, part new: only the new records are stored and counted.
    mixed = ingest_batch(subject, [*events, event(9)], [*shots, shot(2)])
    assert (mixed.events_stored, mixed.events_duplicate, mixed.screenshots_stored, mixed.screenshots_duplicate) == (
        1, 5, 1, 1)
    db.session.commit()
    assert totals(subject) == {"input_events": 3, "app_activity": 3, "screenshots": 2, "ai_training_use": 0}
    assert len(artifact_files(app)) == 2


@both_databases
def test_a_large_batch_finds_its_duplicates_in_one_query_and_counts_in_one_statement(
        app: Flask, subject: str, ctx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry of 1,200 events of which 700 were stored: one look-up for all their ids (not one per
    chunk), one statement per category's totals, and exactly the new ones stored and counted."""
    ingest_batch(subject, [event(n) for n in range(700)])
    db.session.commit()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    postgres = db.engine.dialect.name == "postgresql"
    copies: list[str] = []
    real_copy = psycopg.Cursor.copy

    def copy(cursor: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any) -> Any:
        copies.append(" ".join(str(statement).split()).lower())
        return real_copy(cursor, statement, *args, **kwargs)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    monkeypatch.setattr(psycopg.Cursor, "copy", copy)  # the driver's COPY is not a cursor execute
    try:
        result = ingest_batch(subject, [event(n) for n in range(1200)])
        db.session.commit()
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
        monkeypatch.undo()
    assert (result.events_stored, result.events_duplicate) == (500, 700)
    assert result.duplicate_event_ids == {f"ev-{n}" for n in range(700)}
    lookups = [s for s in statements if s.startswith("select activity_events.source_event_id")]
    assert len(lookups) == 1, lookups
    assert len([s for s in statements if "subject_category_stats" in s]) == 1  # site visits: one category
    inserts = [s for s in statements if s.startswith("insert into activity_events")]
    if postgres:  # one binary COPY of the new rows, no INSERT
        assert inserts == [] and len(copies) == 1 and copies[0].startswith("copy activity_events (")
        assert "format binary" in copies[0]
    else:  # one executemany
        assert len(inserts) == 1 and copies == []
    assert totals(subject)["app_activity"] == 1200
    assert db.session.scalar(select(func.count()).select_from(ActivityEvent)) == 1200
    other = make_employee(app, "other@example.com")
    assert ingest_batch(other, [event(n) for n in range(3)]).events_stored == 3, "ids are per employee"


@both_databases
def test_duplicates_within_a_batch_are_kept_once(app: Flask, subject: str, ctx: None) -> None:
    image = png("first")
    result = ingest_batch(
        subject,
        [event(1, title="first"), event(2), event(1, title="second"), event(1, title="third")],
        [shot(1, image), shot(1, png("second"))],
    )
    assert (result.events_stored, result.screenshots_stored) == (2, 1)
    assert (result.events_duplicate, result.screenshots_duplicate) == (2, 1)
    db.session.commit()
    assert totals(subject)["app_activity"] == 2 and totals(subject)["screenshots"] == 1
    first = db.session.scalar(select(ActivityEvent).where(ActivityEvent.source_event_id == "ev-1"))
    assert first is not None and monitoring.open_event(first)["title"] == "first"
    (screenshot,) = db.session.scalars(select(Screenshot))
    assert monitoring.open_screenshot(screenshot) == image
    assert len(artifact_files(app)) == 1


def test_collector_ids_are_per_subject(app: Flask, subject: str) -> None:
    other = make_employee(app, "other@example.com")
    with app.app_context():
        ingest_batch(subject, [event(1)], [shot(1)])
        result = ingest_batch(other, [event(1)], [shot(1)])
        assert (result.events_stored, result.screenshots_stored) == (1, 1)
        db.session.commit()
        assert totals(subject)["app_activity"] == totals(other)["app_activity"] == 1


def test_audit_entry_holds_counts_only(subject: str, ctx: None) -> None:
    events, shots = sample_batch()
    ingest_batch(subject, events, shots)
    db.session.commit()
    ingest_batch(subject, [*events, event(9)], shots)
    db.session.commit()
    assert audit_details(subject) == [
        {"events": 5, "events_duplicate": 0, "screenshots": 1, "screenshots_duplicate": 0},
        {"events": 1, "events_duplicate": 5, "screenshots": 0, "screenshots_duplicate": 1},
    ]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.tag == "monitoring:batch:ingest")).first()
    assert entry is not None
    assert (entry.actor_type, entry.actor_id, entry.targets) == ("system", None, {})


# --- refusals ----------------------------------------------------------------------------------

def _without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


naive = datetime.now() - timedelta(hours=1)  # deliberately without a time zone
BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-kind", event(3, kind="keystroke_content"), "kind must be one of mouse_move, click"),
    ("kind-missing", _without(event(3), "kind"), "kind must be one of"),
    ("occurred-missing", _without(event(3), "occurred_at"), "occurred_at is required"),
    ("occurred-null", event(3, occurred_at=None), "occurred_at is required"),
    ("occurred-naive", event(3, occurred_at=naive.isoformat()), "occurred_at needs a time zone offset"),
    ("occurred-future", event(3, occurred_at=(NOW + timedelta(hours=25)).isoformat()), "occurred_at is in the future"),
    ("occurred-garbage", event(3, occurred_at="yesterday"), "occurred_at is not an ISO-8601 time"),
    ("occurred-year-1", event(3, occurred_at="0001-01-01T00:00:00+05:00"), "occurred_at is out of range"),
    ("occurred-year-9999", event(3, occurred_at="9999-12-31T23:00:00-05:00"), "occurred_at is out of range"),
    ("occurred-1969", event(3, occurred_at="1969-12-31T23:59:59+00:00"), "occurred_at is before 2000"),
    ("occurred-1999", event(3, occurred_at="1999-12-31T23:59:59+00:00"), "occurred_at is before 2000"),
    ("title-bidi-override", event(3, title="invoice\u202egpj.exe"), "title contains bidirectional-control"),
    ("title-bidi-isolate", event(3, title="a\u2066b\u2069"), "title contains bidirectional-control"),
    ("application-zero-width", event(3, application="Sl\u200back"), "application contains bidirectional-control"),
    ("application-bom", event(3, application="\ufeffSlack"), "application contains bidirectional-control"),
    ("domain-path", event(3, site_domain="github.com/acme"), "site_domain is not a host name"),
    ("domain-space", event(3, site_domain="git hub.com"), "site_domain is not a host name"),
    ("domain-no-tld", event(3, site_domain="localhost"), "site_domain is not a host name"),
    ("url-javascript", event(3, url="javascript:alert(1)"), "url must be an http or https URL"),
    ("url-ftp", event(3, url="ftp://files.example.com/x"), "url must be an http or https URL"),
    ("url-file", event(3, url="file:///etc/passwd"), "url must be an http or https URL"),
    ("url-no-host", event(3, url="https://"), "url must be an http or https URL"),
    ("url-port-no-host", event(3, url="http://:80/x"), "url must be an http or https URL"),
    ("url-userinfo-no-host", event(3, url="https://user@/x"), "url must be an http or https URL"),
    ("url-dot-host", event(3, url="http://a.com.@/"), "url must be an http or https URL"),
    ("url-bracket-host", event(3, url="http://a:[/x"), "Invalid IPv6 URL"),
    ("title-tab-then-zero-width", event(3, title="a\tb\u200d"), "title contains bidirectional-control"),
    ("title-delete-char", event(3, title="bell\x7f"), "title contains control characters"),
    ("occurred-number", event(3, occurred_at=1_700_000_000), "occurred_at must be an ISO-8601 time"),
    ("unknown-field-odd-name", event(3, **{"alice@example.com": 1}), "unknown field(s): 1 more"),
    ("url-too-long", event(3, url="https://example.com/" + "a" * 2048), "url is longer than 2048 characters"),
    ("title-too-long", event(3, title="t" * 1001), "title is longer than 1000 characters"),
    ("title-not-text", event(3, title=["a"]), "title must be text"),
    ("title-control", event(3, title="line\nbreak"), "title contains control characters"),
    ("application-missing", event(3, application=""), "application is required"),
    ("unknown-field", event(3, keystrokes="hunter2"), "unknown field(s): keystrokes"),
    ("payload-too-big", event(3, payload={"blob": "x" * 4096}), "payload is larger than 4096 bytes"),
    ("payload-not-object", event(3, payload=[1, 2]), "payload must be an object"),
    ("payload-not-json", event(3, payload={"when": NOW}), "payload must hold JSON values"),
    ("x-text", event(3, x="12"), "x must be a whole number"),
    ("x-float", event(3, x=1.5), "x must be a whole number"),
    ("x-bool", event(3, x=True), "x must be a whole number"),
    ("y-out-of-range", event(3, y=100_001), "y must be a whole number from -100000 to 100000"),
    ("duration-negative", event(3, duration_ms=-1), "duration_ms must be a whole number"),
    ("event-id-empty", event(3, event_id=""), "event_id must be 1-64 letters"),
    ("event-id-space", event(3, event_id="ev 3"), "event_id must be 1-64 letters"),
    ("event-id-long", event(3, event_id="e" * 65), "event_id must be 1-64 letters"),
    ("event-id-number", event(3, event_id=3), "event_id must be 1-64 letters"),
    ("not-an-object", ["ev-3", "click"], "must be an object"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("raw", "reason"), [(raw, reason) for _, raw, reason in BAD_EVENTS],
                         ids=[name for name, _, _ in BAD_EVENTS])
def test_bad_event_is_refused_and_changes_nothing(app: Flask, seeded: str, raw: dict[str, Any], reason: str) -> None:
    before = snapshot(app)
    with pytest.raises(IngestError) as caught:
        ingest_batch(seeded, [event(1), event(2), raw], [shot(1)])
    assert (caught.value.what, caught.value.index) == ("event", 2)
    assert str(caught.value).startswith("event 2: ")
    assert reason in str(caught.value)
    assert not db.session.new and not db.session.dirty
    assert snapshot(app) == before
    db.session.commit()  # even a caller that commits regardless stores nothing
    assert snapshot(app) == before




def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "GIF")
    return buffer.getvalue()


BAD_SHOTS: list[tuple[str, dict[str, Any], str]] = [
    ("not-an-image", shot(3, b"this is not an image at all"), "image is not a readable PNG, JPEG or WebP file"),
    ("truncated-png", shot(3, png("cut")[:40]), "image is not a readable PNG, JPEG or WebP file"),
    ("gif", shot(3, gif()), "image must be PNG, JPEG or WebP"),
    ("decompression-bomb", shot(3, png_claiming(20_000, 20_000)), "image has too many pixels"),
    ("forty-megapixels", shot(3, png_claiming(8_000, 5_000)), "image has too many pixels"),
    ("one-long-side", shot(3, png_claiming(20_000, 10)), "image has too many pixels"),
    ("empty-image", shot(3, b""), "image must be the image file's bytes"),
    ("image-as-text", shot(3, "iVBORw0KGgo="), "image must be the image file's bytes"),  # type: ignore[arg-type]
    ("captured-naive", shot(3, captured_at=naive.isoformat()), "captured_at needs a time zone offset"),
    ("unknown-field", shot(3, path="/tmp/x.png"), "unknown field(s): path"),  # noqa: S108
    ("bad-id", shot(3, screenshot_id="../../etc"), "screenshot_id must be 1-64 letters"),
]


@pytest.mark.parametrize(("raw", "reason"), [(raw, reason) for _, raw, reason in BAD_SHOTS],
                         ids=[name for name, _, _ in BAD_SHOTS])
def test_bad_screenshot_is_refused_and_changes_nothing(app: Flask, seeded: str, raw: dict[str, Any],
                                                       reason: str) -> None:
    before = snapshot(app)
    with pytest.raises(IngestError) as caught:
        ingest_batch(seeded, [event(1), event(2)], [shot(1), raw])
    assert str(caught.value).startswith("screenshot 1: ") and reason in str(caught.value)
    assert snapshot(app) == before
    db.session.commit()
    assert snapshot(app) == before


@both_databases
def test_bad_record_at_the_end_of_a_large_batch_stores_nothing(app: Flask, seeded: str) -> None:
    before = snapshot(app)
    events = [event(n, kind=("click", "site_visit")[n % 2]) for n in range(99)]
    with pytest.raises(IngestError, match=r"^event 99: url must be an http or https URL$"):
        ingest_batch(seeded, [*events, event(99, url="gopher://example.com")], [shot(1), shot(2)])
    db.session.commit()
    assert snapshot(app) == before
    # The same batch without the bad record is accepted in full.
    assert ingest_batch(seeded, events, [shot(1), shot(2)]).events_stored == 99


def test_a_real_38_kb_png_of_40_megapixels_is_refused_from_its_header(app: Flask, seeded: str) -> None:
    """A real PNG (every row present and compressed) that unpacks to 120 MB: refused before decoding."""
    buffer = io.BytesIO()
    Image.new("L", (8_000, 5_000), 0).save(buffer, "PNG", optimize=True)
    bomb = buffer.getvalue()
    assert len(bomb) < 64 * 1024
    before = snapshot(app)
    with pytest.raises(IngestError) as caught:
        ingest_batch(seeded, [event(1)], [shot(1), shot(2, bomb)])
    assert (caught.value.index, caught.value.code.value) == (1, "image_too_many_pixels")
    assert snapshot(app) == before


def test_every_refused_record_is_named_with_its_reason(app: Flask, seeded: str) -> None:
    before = snapshot(app)
    with pytest.raises(IngestError) as caught:
        ingest_batch(seeded, [event(1), event(2, occurred_at="1999-01-01T00:00:00Z"), event(3),
                              event(4, title="x\u202ey"), event(5, x="1")],
                     [shot(1), shot(2, b"junk")])
    assert [(r.what, r.index, r.code.value) for r in caught.value.refusals] == [
        ("event", 1, "time_out_of_range"), ("event", 3, "hidden_characters"), ("event", 4, "invalid"),
        ("screenshot", 1, "image_unreadable")]
    assert str(caught.value) == "event 1: occurred_at is before 2000: no capture agent recorded it"
    db.session.commit()
    assert snapshot(app) == before


def test_a_restricted_category_is_refused_and_the_others_still_pass(app: Flask, seeded: str) -> None:
    from portal.jobs.runners import ThreadRunner, runner
    from portal.people.models import Employee
    from portal.rights import services as rights
    from portal.rights.models import RequestType, Restriction

    filed = rights.file_request(existing(Employee, seeded), RequestType.RESTRICTION).request
    db.session.add(Restriction(request_id=filed.id, subject_id=seeded, categories=["screenshots"]))
    db.session.commit()
    active = runner()  # the request's e-mails are sent (and audited) by a job: let it finish first
    assert isinstance(active, ThreadRunner) and active.wait_idle(60)
    before = snapshot(app)
    with pytest.raises(IngestError) as caught:
        ingest_batch(seeded, [event(1)], [shot(1), shot(2)])
    assert [(r.what, r.index, r.code.value) for r in caught.value.refusals] == [
        ("screenshot", 0, "restricted"), ("screenshot", 1, "restricted")]
    assert snapshot(app) == before
    assert ingest_batch(seeded, [event(1)], []).events_stored == 1  # events are not restricted


def test_erased_subject_is_refused(app: Flask, seeded: str) -> None:
    keystore().destroy(seeded)
    before = snapshot(app)
    with pytest.raises(IngestError, match=r"^batch: the subject's data has been erased"):
        ingest_batch(seeded, [event(1)], [shot(1)])
    db.session.commit()
    assert snapshot(app) == before


def test_unknown_subject_is_refused(app: Flask, seeded: str) -> None:
    before = snapshot(app)
    with pytest.raises(IngestError, match=r"^batch: unknown subject$"):
        ingest_batch(new_id(), [event(1)], [shot(1)])
    db.session.commit()
    assert snapshot(app) == before


def test_former_employee_is_refused(app: Flask, seeded: str) -> None:
    former = make_employee(app, "former@example.com", status=EmploymentStatus.FORMER)
    before = snapshot(app)
    with pytest.raises(IngestError, match=r"^batch: the subject is no longer employed"):
        ingest_batch(former, [event(1)], [shot(1)])
    db.session.commit()
    assert snapshot(app) == before
    assert totals(former) == {"input_events": 0, "app_activity": 0, "screenshots": 0, "ai_training_use": 0}


# --- all or nothing across the database and the artifact directory -------------------------------

def test_rolled_back_batch_leaves_no_sealed_file(app: Flask, seeded: str) -> None:
    before = snapshot(app)
    result = ingest_batch(seeded, [event(1)], [shot(1), shot(2), shot(3)])
    assert result.screenshots_stored == 3
    assert len(artifact_files(app)) == len(before["files"]) + 3, "the files are written before the commit"
    db.session.rollback()
    assert snapshot(app) == before


@pytest.mark.postgres
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_an_event_stored_by_another_writer_meanwhile_fails_the_copy_as_an_integrity_error(
        app: Flask, seeded: str) -> None:
    """PostgreSQL stores events by COPY, outside SQLAlchemy's statements: a row another writer
    committed between our duplicate check and our COPY still comes out as SQLAlchemy's
    IntegrityError (which the API answers by taking the batch again), and nothing of ours stays."""
    before = row_counts()["activity_events"]
    written: list[bool] = []

    def concurrent_writer(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not written and statement.lstrip().lower().startswith("select activity_events.source_event_id"):
            written.append(True)
            with db.engine.begin() as other:
                other.execute(insert(ActivityEvent.__table__).values(
                    subject_id=seeded, source_event_id="ev-2", category="app_activity", kind="site_visit",
                    occurred_at=NOW, sealed=b"x"))

    sa_event.listen(db.engine, "after_cursor_execute", concurrent_writer)
    try:
        with pytest.raises(IntegrityError):
            ingest_batch(seeded, [event(1), event(2), event(3)])
    finally:
        sa_event.remove(db.engine, "after_cursor_execute", concurrent_writer)
    assert written
    db.session.rollback()
    assert row_counts()["activity_events"] == before + 1  # the other writer's row alone
    assert ingest_batch(seeded, [event(1), event(2), event(3)]).events_duplicate == 1, "taken again, it finds it"


@both_databases
def test_failing_flush_removes_the_files_it_wrote(app: Flask, seeded: str) -> None:
    """Another writer stores the same screenshot between our duplicate check and our flush: the
    flush fails, and the files this batch already wrote are removed before the error surfaces."""
    before_files = artifact_files(app)

    def concurrent_writer(*_: Any) -> None:
        with db.engine.begin() as conn:
            conn.execute(insert(Screenshot.__table__).values(
                id=new_id(), subject_id=seeded, source_id="shot-2", captured_at=NOW,
                media_type="image/png", width=1, height=1, byte_size=1))

    # Screenshots only: on SQLite, events stored first would hold the write lock the other writer needs.
    sa_event.listen(db.session(), "before_flush", concurrent_writer, once=True)
    with pytest.raises(IntegrityError):
        ingest_batch(seeded, [], [shot(1), shot(2), shot(3)])
    assert artifact_files(app) == before_files, "removed before the error reaches the caller"
    db.session.rollback()
    assert artifact_files(app) == before_files
    assert row_counts()["screenshots"] == 2  # the seeded one and the other writer's
    assert totals(seeded)["screenshots"] == 1


@both_databases
def test_the_database_keeps_an_events_category_to_its_kind(app: Flask, seeded: str) -> None:
    """No foreign key to the register (it cost a look-up per event stored): a CHECK ties each row's
    category to its kind, on both databases, so a wrong pair is refused by the database itself."""
    for kind, category in (("click", "app_activity"), ("site_visit", "input_events"), ("click", "screenshots")):
        with pytest.raises(IntegrityError, match="category_of_kind"), db.engine.begin() as conn:
            conn.execute(insert(ActivityEvent.__table__).values(
                subject_id=seeded, source_event_id=f"wrong-{kind}-{category}", category=category, kind=kind,
                occurred_at=NOW, sealed=b"x"))
    with db.engine.begin() as conn:
        for kind in ("click", "mouse_move", "scroll", "key_timing", "app_focus", "site_visit"):
            conn.execute(insert(ActivityEvent.__table__).values(
                subject_id=seeded, source_event_id=f"right-{kind}", kind=kind, occurred_at=NOW, sealed=b"x",
                category="app_activity" if kind in ("app_focus", "site_visit") else "input_events"))
