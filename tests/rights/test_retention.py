"""The retention run (portal.rights.retention): every item past its category's retention period
is deleted, in batches, with its screenshot file after the rows' commit; fresh items are kept;
a person under a legal hold keeps what it covers; records of use in AI training that an erasure
marked "removal required" are kept as evidence; the aggregates are recounted; each run is audited
with counts per category and no person named; and the date the dashboard promises for the oldest
item that is left moves to that item's. On SQLite and PostgreSQL."""

from __future__ import annotations

import html as htmllib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.consent.services import record_training_use
from portal.extensions import db
from portal.monitoring import deletion
from portal.monitoring.artifacts import artifact_dir
from portal.monitoring.ingest import ingest_batch
from portal.monitoring.models import (
    ActivityDaily,
    ActivityEvent,
    ActivityHourly,
    ActivityTarget,
    DataCategory,
    Screenshot,
    SubjectCategoryStats,
)
from portal.people.models import Employee, Role
from portal.people.services import find_by_email
from portal.rights import retention
from portal.rights import services as rs
from portal.training.models import SnapshotMember, TrainingSnapshot
from tests.conftest import both_databases
from tests.helpers import event, make_employee, mark_removal, signed_in_as
from tests.monitoring.support import png, shot
from tests.rights.support import (
    KINDS,
    count,
    days_ago,
    fill,
    get,
    make_staff,
    manual_jobs,
    pending_jobs,
    run_now,
)

TAG = "monitoring:retention:run"
INPUT = ("click", "key_timing", "mouse_move", "scroll")  # the kinds of the input_events category


@dataclass
class Scene:
    alice: str  # signed in on ``client``: old, middle-aged and fresh items
    bob: str  # old items only, all under a legal hold
    client: FlaskClient


def rows(subject_id: str) -> dict[str, int]:
    events = dict(db.session.execute(sa.select(ActivityEvent.category, sa.func.count())
                                     .where(ActivityEvent.subject_id == subject_id)
                                     .group_by(ActivityEvent.category)).tuples().all())
    return {"input_events": events.get("input_events", 0), "app_activity": events.get("app_activity", 0),
            "screenshots": count(Screenshot, Screenshot.subject_id == subject_id),
            "ai_training_use": count(SnapshotMember, SnapshotMember.subject_id == subject_id)}


def files(subject_id: str) -> set[str]:
    folder = artifact_dir() / "screenshots" / subject_id
    return {p.name.removesuffix(".sealed") for p in folder.iterdir()} if folder.exists() else set()


def use(subject_id: str, days: int, snapshot: str) -> None:
    record_training_use(subject_id, dataset="assist-v2", snapshot=snapshot, record_count=10,
                        used_on=(datetime.now(UTC) - timedelta(days=days)).date(), model="assist-7b",
                        actor=Actor.system())


def purge_text(client: FlaskClient, category: str) -> str:
    html = client.get("/").get_data(as_text=True)
    found = re.search(rf'data-purge="{category}">(.*?)</span>', html, re.S)
    assert found is not None, category
    return htmllib.unescape(re.sub(r"\s+", " ", found.group(1))).strip()


def promised(subject_id: str, category_kinds: tuple[str, ...], days: int) -> str:
    """The local date on which the oldest event of these kinds that is left reaches its period's end."""
    oldest = db.session.scalar(sa.select(sa.func.min(ActivityEvent.occurred_at)).where(
        ActivityEvent.subject_id == subject_id, ActivityEvent.kind.in_(category_kinds)))
    assert oldest is not None
    zone = ZoneInfo(get(Employee, subject_id).timezone or "UTC")
    return (oldest.replace(tzinfo=oldest.tzinfo or UTC) + timedelta(days=days)).astimezone(zone).strftime("%-d %B %Y")


@pytest.fixture
def scene(app: Flask, client: FlaskClient) -> Iterator[Scene]:
    manual_jobs(app)  # no sweeper: the test alone runs retention
    signed_in_as(client, "alice@example.com")
    bob_id = make_employee(app, "bob.retention@example.com", name="Bob Held", jurisdiction="US-CA")
    dpo = make_staff(app, "dana.retention@example.com", Role.DPO)
    with app.app_context():
        alice = find_by_email("alice@example.com")
        assert alice is not None
        alice_id = alice.id
        # 12 events (8 input, 4 application) and 2 screenshots 200 days old: every one is past its period.
        fill(alice_id, events=12, shots=2, training=False, at_days_ago=200, prefix="old-")
        # 100 days old: the screenshot is past its 90 days, the 6 events (4 + 2) are within their 180.
        fill(alice_id, events=6, shots=1, training=False, at_days_ago=100, prefix="mid-")
        fill(alice_id, events=6, shots=2, training=False, at_days_ago=3, prefix="new-")
        # Records of use in AI training (1095 days): one past it, one past it but kept as an
        # erasure's evidence, one within it.
        use(alice_id, 1100, "snap-old")
        use(alice_id, 1200, "snap-evidence")
        use(alice_id, 30, "snap-new")
        mark_removal(alice_id, "snap-evidence")
        fill(bob_id, events=6, shots=1, training=False, at_days_ago=200, prefix="bob-")
        use(bob_id, 1100, "snap-bob")
        rs.place_hold(get(Employee, bob_id), get(Employee, dpo), categories=[], matter_reference="LIT-1",
                      reason="A claim is pending.")
        db.session.commit()
        yield Scene(alice=alice_id, bob=bob_id, client=client)
        db.session.rollback()


def screenshots_captured_before(subject_id: str, when: datetime) -> set[str]:
    return set(db.session.scalars(sa.select(Screenshot.id).where(Screenshot.subject_id == subject_id,
                                                                 Screenshot.captured_at < when)))


@both_databases
def test_the_run_deletes_what_passed_its_period_keeps_the_rest_and_is_audited(
        scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deletion, "BATCH", 3)  # several batches per person and category
    assert rows(scene.alice) == {"input_events": 16, "app_activity": 8, "screenshots": 5, "ai_training_use": 3}
    due_shots = screenshots_captured_before(scene.alice, days_ago(90))
    assert len(due_shots) == 3 and due_shots <= files(scene.alice)
    bob_before = (rows(scene.bob), files(scene.bob))
    before_input = purge_text(scene.client, "input_events")
    assert before_input == (f"The oldest item's period ended on {promised(scene.alice, INPUT, 180)}: it is deleted "
                            "at the next daily retention run.")
    assert "legal hold" not in purge_text(scene.client, "screenshots")

    run = retention.run_retention()

    assert run.deleted == {"input_events": 8, "app_activity": 4, "screenshots": 3, "ai_training_use": 1}
    assert run.held == {"input_events": 4, "app_activity": 2, "screenshots": 1, "ai_training_use": 1}
    assert (run.evidence, run.people) == (1, 1)
    assert rows(scene.alice) == {"input_events": 8, "app_activity": 4, "screenshots": 2, "ai_training_use": 2}
    assert set(db.session.scalars(sa.select(TrainingSnapshot.name).join(
        SnapshotMember, SnapshotMember.snapshot_id == TrainingSnapshot.id).where(
        SnapshotMember.subject_id == scene.alice))) == {"snap-evidence", "snap-new"}
    cutoff = datetime.now(UTC) - timedelta(days=180)
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(ActivityEvent).where(
        ActivityEvent.subject_id == scene.alice, ActivityEvent.occurred_at < cutoff))
    # The files went with their rows; the fresh ones are there.
    assert not (due_shots & files(scene.alice)) and files(scene.alice) == set(db.session.scalars(
        sa.select(Screenshot.id).where(Screenshot.subject_id == scene.alice)))
    # The person under the hold keeps everything.
    assert (rows(scene.bob), files(scene.bob)) == bob_before
    # The aggregates are what is left.
    stats = {s.category: s.item_count for s in db.session.scalars(
        sa.select(SubjectCategoryStats).where(SubjectCategoryStats.subject_id == scene.alice))}
    assert stats == {"input_events": 8, "app_activity": 4, "screenshots": 2}
    days = {d.day for d in db.session.scalars(sa.select(ActivityDaily).where(ActivityDaily.subject_id == scene.alice))}
    assert days_ago(200).date() not in days and days_ago(100).date() in days

    # One audit entry, with the counts per category, about nobody.
    (entry,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == TAG))
    assert entry.subject_id is None and entry.actor_type == "system" and entry.targets == {}
    assert {k: v for k, v in entry.details.items() if not k.startswith("cutoff_")} == {
        "deleted_input_events": 8, "deleted_app_activity": 4, "deleted_screenshots": 3, "deleted_ai_training_use": 1,
        "held_input_events": 4, "held_app_activity": 2, "held_screenshots": 1, "held_ai_training_use": 1,
        "kept_as_evidence": 1, "people": 1}
    assert scene.alice not in str(entry.details) and scene.bob not in str(entry.details)

    # The dashboard's promise moves to the oldest item that is left, and is kept: "on or after".
    after_input = purge_text(scene.client, "input_events")
    expected = promised(scene.alice, INPUT, 180)
    assert after_input == (f"The oldest item will be deleted on or after {expected} (the retention run deletes what "
                           "has passed its period once a day).")
    assert after_input != before_input
    assert "1 record marked “removal required” is kept as evidence" in purge_text(
        scene.client, "ai_training_use")

    # Run again: nothing more is due; the run is audited all the same.
    again = retention.run_retention()
    assert sum(again.deleted.values()) == 0 and rows(scene.alice)["input_events"] == 8
    assert count(AuditEntry, AuditEntry.tag == TAG) == 2


def test_the_dashboard_says_a_held_category_is_kept(app: Flask, client: FlaskClient) -> None:
    manual_jobs(app)
    signed_in_as(client, "alice@example.com")
    dpo = make_staff(app, "dana.retention@example.com", Role.DPO)
    with app.app_context():
        alice = find_by_email("alice@example.com")
        assert alice is not None
        fill(alice.id, events=6, shots=1, training=False, at_days_ago=200)
        rs.place_hold(alice, get(Employee, dpo), categories=["screenshots"], matter_reference="LIT-2",
                      reason="A claim is pending.")
        db.session.commit()
        retention.run_retention()
        assert rows(alice.id)["screenshots"] == 1 and rows(alice.id)["input_events"] == 0
    text = purge_text(client, "screenshots")
    assert text.startswith("A legal hold applies to this data: it is kept, and not deleted when its period ends, "
                           "while the hold lasts. Once the hold is lifted, the oldest item is deleted on or after ")
    assert purge_text(client, "input_events") == "Nothing to purge."


def test_the_command_counts_with_dry_run_then_deletes(app: Flask) -> None:
    manual_jobs(app)
    subject = make_employee(app, "erin@example.com")
    with app.app_context():
        fill(subject, events=6, shots=2, training=False, at_days_ago=200)
        fill(subject, events=6, shots=0, training=False, at_days_ago=1, prefix="new-")
        before = rows(subject)
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "input_events: would delete 4 item(s)" in dry.output and "screenshots: would delete 2 item(s)" in dry.output
    assert "Dry run: nothing was changed or recorded." in dry.output
    with app.app_context():
        assert rows(subject) == before and count(AuditEntry, AuditEntry.tag == TAG) == 0
        assert len(files(subject)) == 2

    real = runner.invoke(args=["retention", "run"])
    assert real.exit_code == 0, real.output
    assert "input_events: deleted 4 item(s)" in real.output and "app_activity: deleted 2 item(s)" in real.output
    assert "Done: 1 person(s) affected" in real.output
    with app.app_context():
        assert rows(subject) == {"input_events": 4, "app_activity": 2, "screenshots": 0, "ai_training_use": 0}
        assert files(subject) == set() and count(AuditEntry, AuditEntry.tag == TAG) == 1

    # Nothing more is due: the run deletes nothing and records nothing.
    idle = runner.invoke(args=["retention", "run"])
    assert idle.exit_code == 0 and "nothing was due, so nothing was recorded" in idle.output
    with app.app_context():
        assert count(AuditEntry, AuditEntry.tag == TAG) == 1


def test_a_screenshot_file_goes_only_after_its_row_is_deleted_for_good(app: Flask,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit that fails leaves the row and its file: nothing is removed before the rows go."""
    manual_jobs(app)
    subject = make_employee(app, "erin@example.com")
    with app.app_context():
        fill(subject, events=0, shots=2, training=False, at_days_ago=200)
        kept = files(subject)
        original = db.session.commit
        calls: list[Any] = []

        def failing_commit() -> None:  # the first commit of the run: the screenshots' batch
            calls.append(1)
            raise RuntimeError("the database went away")

        monkeypatch.setattr(db.session, "commit", failing_commit)
        with pytest.raises(RuntimeError):
            retention.run_retention()
        monkeypatch.setattr(db.session, "commit", original)
        db.session.rollback()
        assert calls and files(subject) == kept and rows(subject)["screenshots"] == 2
        retention.run_retention()
        assert files(subject) == set() and rows(subject)["screenshots"] == 0


def test_the_promise_is_the_oldest_due_date_of_each_category(app: Flask) -> None:
    """CategoryTotal.purge_at: first item + retention days; for uses, the oldest not kept as evidence."""
    from portal.monitoring.services import category_totals

    manual_jobs(app)
    subject = make_employee(app, "erin@example.com")
    with app.app_context():
        use(subject, 10, "snap-a")
        use(subject, 20, "snap-b")
        mark_removal(subject, "snap-b")
        db.session.commit()
        (ai,) = [t for t in category_totals(subject) if t.category.key == "ai_training_use"]
        used_on = (datetime.now(UTC) - timedelta(days=10)).date()
        assert (ai.count, ai.evidence) == (2, 1)
        assert ai.purge_at == datetime.combine(used_on, time.min, UTC) + timedelta(days=1095)


def test_the_daily_task_queues_one_job_which_does_the_run(app: Flask) -> None:
    """The periodic task only queues the work (the job runner's pool does it, with a lease renewed
    batch by batch); a second sweep while it waits queues nothing more."""
    from portal.jobs.models import Job, JobState

    manual_jobs(app)
    subject = make_employee(app, "erin@example.com")
    with app.app_context():
        fill(subject, events=6, shots=1, training=False, at_days_ago=200)
        retention.retention_periodically()
        retention.retention_periodically()
        (job_id,) = pending_jobs([retention.JOB_KIND])
        assert rows(subject)["input_events"] == 4, "queued, not done"
        assert run_now(job_id) == JobState.SUCCEEDED
        job = get(Job, job_id)
        assert job.result == {"deleted": 7, "held": 0, "people": 1} and job.progress_done == 7
        assert rows(subject) == {"input_events": 0, "app_activity": 0, "screenshots": 0, "ai_training_use": 0}
        assert count(AuditEntry, AuditEntry.tag == TAG) == 1
        retention.retention_periodically()  # done: the next day's sweep queues the next run
        assert len(pending_jobs([retention.JOB_KIND])) == 1


# -- the aggregates: taken off batch by batch, equal to a recount of what is left -------------------

SITES = ("github.com", "example.org", "wiki.internal")
APPS = ("Google Chrome", "Slack", "Terminal", "Mail")


def dst_change(year: int) -> datetime:
    """Europe/Berlin's spring change of that year: the last Sunday of March, 01:00 UTC."""
    day = datetime(year, 3, 31, 1, tzinfo=UTC)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def varied_events(start: datetime, count: int, step: timedelta, prefix: str) -> list[dict[str, Any]]:
    """Events of every kind, over days and hours, across sites and applications (some only early,
    so that their rows go), with differing durations."""
    batch = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        early = n < count // 6
        batch.append(event(n, event_id=f"{prefix}{n}", kind=kind, occurred_at=(start + n * step).isoformat(),
                           x=n, y=n, application=APPS[n % (4 if early else 2)],
                           site_domain=SITES[n % (3 if early else 1)] if kind == "site_visit" else None,
                           duration_ms=100 * (n % 7) + 1))
    return batch


def aggregate_rows(subject_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate row of the subject, table by table."""
    tables: dict[str, tuple[Any, ...]] = {
        "daily": (ActivityDaily.day, ActivityDaily.events),
        "hourly": (ActivityHourly.hour, ActivityHourly.events),
        "targets": (ActivityTarget.target_type, ActivityTarget.bidx, ActivityTarget.label, ActivityTarget.events,
                    ActivityTarget.duration_ms),
        "stats": (SubjectCategoryStats.category, SubjectCategoryStats.item_count, SubjectCategoryStats.first_at,
                  SubjectCategoryStats.last_at),
    }
    return {name: sorted(tuple(row) for row in db.session.execute(
        sa.select(*columns).where(columns[0].class_.subject_id == subject_id)))
        for name, columns in tables.items()}


def recounted(subject_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """What rebuild_aggregates makes of the rows that are left (rolled back: nothing is kept)."""
    db.session.rollback()
    deletion.rebuild_aggregates(get(Employee, subject_id))
    db.session.flush()
    rows = aggregate_rows(subject_id)
    db.session.rollback()
    return rows


def events_of(subject_id: str) -> int:
    return count(ActivityEvent, ActivityEvent.subject_id == subject_id)


@dataclass
class Zoned:
    alice: str  # Europe/Berlin: events over four days around the spring change, and screenshots
    carol: str  # the same, under a legal hold of app_activity alone
    now: datetime  # the run's clock: input_events due before the change, app_activity a day earlier


@pytest.fixture
def zoned(app: Flask) -> Iterator[Zoned]:
    manual_jobs(app)
    alice_id = make_employee(app, "alice.zoned@example.com")
    carol_id = make_employee(app, "carol.zoned@example.com")
    dpo = make_staff(app, "dana.zoned@example.com", Role.DPO)
    change = dst_change(datetime.now(UTC).year - 1)
    with app.app_context():
        days = {c.key: c for c in db.session.scalars(sa.select(DataCategory))}
        days["app_activity"].retention_days = days["input_events"].retention_days + 1
        for subject_id in (alice_id, carol_id):
            get(Employee, subject_id).timezone = "Europe/Berlin"
            db.session.commit()
            ingest_batch(subject_id, varied_events(change - timedelta(days=2), 160, timedelta(minutes=47), "e-"),
                         [shot(n, png(f"shot {n}"), captured_at=(change + timedelta(days=d)).isoformat())
                          for n, d in enumerate((-1, 0, 1))])
            db.session.commit()
        rs.place_hold(get(Employee, carol_id), get(Employee, dpo), categories=["app_activity"],
                      matter_reference="LIT-3", reason="A claim is pending.")
        db.session.commit()
        now = change + timedelta(days=days["input_events"].retention_days, minutes=30)
        yield Zoned(alice=alice_id, carol=carol_id, now=now)
        db.session.rollback()


@both_databases
def test_the_aggregates_left_are_exactly_a_recount_of_the_rows_left(
        zoned: Zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deletion, "BATCH", 7)
    rebuilds: list[str] = []
    monkeypatch.setattr(deletion, "rebuild_aggregates", lambda subject: rebuilds.append(subject.id))
    before = {s: aggregate_rows(s) for s in (zoned.alice, zoned.carol)}
    run = retention.run_retention(now=zoned.now)

    assert rebuilds == [], "the run takes off what it deletes: it recounts nobody"
    monkeypatch.undo()
    assert run.deleted["input_events"] > 7 and run.deleted["app_activity"] > 7 and run.deleted["screenshots"] == 6
    assert run.held["app_activity"] > 0
    for subject_id in (zoned.alice, zoned.carol):
        after = aggregate_rows(subject_id)
        assert after == recounted(subject_id)
        assert after != before[subject_id]
    after = aggregate_rows(zoned.alice)
    assert len(after["targets"]) < len(before[zoned.alice]["targets"]), "targets seen only early are gone"
    assert len(after["daily"]) < len(before[zoned.alice]["daily"]), "and days with nothing left"
    assert [row[0] for row in aggregate_rows(zoned.alice)["stats"]] == ["app_activity", "input_events"]
    assert [row[0] for row in aggregate_rows(zoned.carol)["stats"]] == ["app_activity", "input_events"]
    oldest = db.session.scalar(sa.select(sa.func.min(ActivityEvent.occurred_at)).where(
        ActivityEvent.subject_id == zoned.alice))
    assert oldest is not None and oldest.replace(tzinfo=UTC) > zoned.now - timedelta(days=181)

    # Everything goes when the clock is far enough on: the rows of the aggregates go with the events.
    later = retention.run_retention(now=zoned.now + timedelta(days=10))
    assert later.deleted["input_events"] > 0
    assert aggregate_rows(zoned.alice) == recounted(zoned.alice) == {"daily": [], "hourly": [], "targets": [],
                                                                       "stats": []}
    assert aggregate_rows(zoned.carol) == recounted(zoned.carol)


@both_databases
def test_a_run_that_fails_between_batches_leaves_rows_and_aggregates_consistent(
        zoned: Zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deletion, "BATCH", 7)
    total = events_of(zoned.alice) + events_of(zoned.carol)
    original = db.session.commit
    commits: list[int] = []

    def failing_commit() -> None:  # the fourth batch's commit fails; three are kept (7 rows or fewer each)
        commits.append(1)
        if len(commits) == 4:
            raise RuntimeError("the database went away")
        original()

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        retention.run_retention(now=zoned.now)
    monkeypatch.setattr(db.session, "commit", original)
    db.session.rollback()
    assert total - 3 * 7 <= events_of(zoned.alice) + events_of(zoned.carol) < total
    for subject_id in (zoned.alice, zoned.carol):
        assert aggregate_rows(subject_id) == recounted(subject_id)

    retention.run_retention(now=zoned.now)
    assert events_of(zoned.alice) + events_of(zoned.carol) < total - 3 * 7
    for subject_id in (zoned.alice, zoned.carol):
        assert aggregate_rows(subject_id) == recounted(subject_id)


@both_databases
def test_ingestion_between_the_runs_batches_ends_with_the_right_aggregates(
        zoned: Zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events stored while the run goes on, on the days, hours and sites it takes off, some due
    themselves: what the aggregates say at the end is a recount of what is left."""
    monkeypatch.setattr(deletion, "BATCH", 7)
    start = dst_change(datetime.now(UTC).year - 1) - timedelta(days=2)
    sent: list[int] = []

    def ingest_meanwhile(done: int) -> None:
        n = len(sent)
        sent.append(n)
        ingest_batch(zoned.alice, varied_events(start + timedelta(minutes=13 * n), 6, timedelta(hours=9),
                                                f"late-{n}-"))
        db.session.commit()

    run = retention.run_retention(now=zoned.now, progress=ingest_meanwhile)
    assert len(sent) > 5 and run.deleted["input_events"] > 0
    assert aggregate_rows(zoned.alice) == recounted(zoned.alice)


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_ingestion_at_the_same_time_as_the_run_ends_with_the_right_aggregates(
        app: Flask, zoned: Zoned, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: another connection stores events on the same aggregate rows while the run's
    batches subtract from them; neither waits for the other's whole work, and nothing is lost."""
    monkeypatch.setattr(deletion, "BATCH", 7)
    start = dst_change(datetime.now(UTC).year - 1) - timedelta(days=2)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def ingest() -> None:
        with app.app_context():
            try:
                barrier.wait(10)
                for n in range(15):
                    ingest_batch(zoned.alice, varied_events(start + timedelta(minutes=11 * n), 8,
                                                            timedelta(hours=7), f"side-{n}-"))
                    db.session.commit()
            except BaseException as exc:  # reported below
                db.session.rollback()
                errors.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=ingest)
    thread.start()
    barrier.wait(10)
    retention.run_retention(now=zoned.now)
    thread.join(60)
    assert not thread.is_alive() and errors == []
    db.session.rollback()
    assert events_of(zoned.alice) > 0
    assert aggregate_rows(zoned.alice) == recounted(zoned.alice)
