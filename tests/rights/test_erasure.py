"""The erasure job (portal.rights.erasure): rows and sealed screenshot files deleted per category
in batches with exact counts, dashboard aggregates rebuilt from what is left, the key destroyed
once nothing is left (crypto-shredding, shown on a copy of the database file), the AI-training
suppression, ready exports removed; date ranges and legal holds keep what they must; a worker
killed in the middle (an exception, and SIGKILL of a real `flask jobs work` process, on SQLite and
on PostgreSQL) is carried on by the next run to exactly the end state of an uninterrupted one."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.auth.models import SsoIdentity
from portal.config import PROJECT_ROOT
from portal.consent.models import Purpose
from portal.consent.services import suppression
from portal.crypto import KeyDestroyed, blind_index, keystore
from portal.crypto.keys import SealError, SubjectCipher
from portal.exports import services as exports
from portal.exports.models import Export, ExportState
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import runner
from portal.monitoring import aggregates, deletion
from portal.monitoring.artifacts import artifact_dir
from portal.monitoring.models import (
    ActivityDaily,
    ActivityEvent,
    ActivityHourly,
    ActivityTarget,
    Screenshot,
    SubjectCategoryStats,
)
from portal.monitoring.services import open_event, open_screenshot
from portal.people.models import Employee
from portal.rights import erasure
from portal.rights import services as rs
from portal.rights.models import DataRequest, ErasureCount, RequestState, RequestType
from portal.training.models import SnapshotMember, SnapshotRemoval
from tests.conftest import both_databases
from tests.helpers import file_keystore, make_employee
from tests.rights.support import (
    World,
    count,
    days_ago,
    fill,
    get,
    pending_jobs,
    run_now,
    start_world,
    tags_for,
)

CATEGORIES = ("input_events", "app_activity", "screenshots", "ai_training_use")
COMPLETE = "requests:request:complete"


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    yield from start_world(app)


# -- helpers -------------------------------------------------------------------------------------------

def approved_erasure(w: World, subject_id: str | None = None, **scope: Any) -> tuple[str, str]:
    """An erasure of the data of ``subject_id`` (default Alice; someone in Spain), approved by the
    Spain queue's two DPOs; returns (request id, job id)."""
    subject = get(Employee, subject_id or w.alice)
    request_id = rs.file_request(subject, RequestType.ERASURE, description="Erase it", **scope).request.id
    rs.claim(get(DataRequest, request_id), w["dpo"])
    rs.start_review(get(DataRequest, request_id), w["dpo"])
    first = get(DataRequest, request_id)
    assert rs.approve(first, w["dpo"], erasure_ground=rs.erasure_grounds(first)[0].code) is False
    assert rs.approve(get(DataRequest, request_id), w["dpo2"]) is True
    db.session.commit()
    request = get(DataRequest, request_id)
    assert request.state == RequestState.FULFILLING and request.job_id
    return request_id, request.job_id


def database_files(*, whole: bool = True) -> str:
    """What an erasure says it did to the database files: SQLite's are overwritten and its log
    emptied (see tests/crypto/test_backups.py); on PostgreSQL, an erasure of everything of a kind
    drops the person's tables ("removed"), one of a part vacuums them ("freed")."""
    if db.engine.dialect.name == "sqlite":
        return "overwritten"
    return "removed" if whole else "freed"


def held(subject_id: str) -> dict[str, int]:
    """The subject's rows per category."""
    events = dict(db.session.execute(sa.select(ActivityEvent.category, sa.func.count())
                                     .where(ActivityEvent.subject_id == subject_id)
                                     .group_by(ActivityEvent.category)).tuples().all())
    return {"input_events": events.get("input_events", 0), "app_activity": events.get("app_activity", 0),
            "screenshots": count(Screenshot, Screenshot.subject_id == subject_id),
            "ai_training_use": count(SnapshotMember, SnapshotMember.subject_id == subject_id)}


def shot_files(subject_id: str) -> set[str]:
    directory = artifact_dir() / "screenshots" / subject_id
    return {p.name.removesuffix(".sealed") for p in directory.iterdir()} if directory.exists() else set()


def erasure_counts(request_id: str) -> dict[str, tuple[int, int]]:
    return {c.category: (c.deleted, c.blocked) for c in db.session.scalars(
        sa.select(ErasureCount).where(ErasureCount.request_id == request_id))}


def aggregates_of(subject_id: str) -> dict[str, Any]:
    """The dashboard's aggregate tables for one subject, as plain rows."""
    out: dict[str, Any] = {}
    for model in (SubjectCategoryStats, ActivityDaily, ActivityHourly, ActivityTarget):
        table = model.__table__
        columns = [c for c in table.c if c.name != "subject_id"]
        out[table.name] = [tuple(r) for r in db.session.execute(
            sa.select(*columns).where(table.c.subject_id == subject_id).order_by(*columns))]
    return out


def stats_from_rows(subject_id: str) -> dict[str, tuple[int, datetime, datetime]]:
    """What SubjectCategoryStats should say, counted from the rows themselves."""
    found = {}
    sources: dict[str, tuple[type[ActivityEvent] | type[Screenshot], Any]] = {
        "input_events": (ActivityEvent, ActivityEvent.occurred_at),
        "app_activity": (ActivityEvent, ActivityEvent.occurred_at),
        "screenshots": (Screenshot, Screenshot.captured_at)}
    for category, (column, time_column) in sources.items():
        conditions = [column.subject_id == subject_id]
        if column is ActivityEvent:
            conditions.append(ActivityEvent.category == category)
        n, first, last = db.session.execute(sa.select(sa.func.count(), sa.func.min(time_column),
                                                      sa.func.max(time_column)).where(*conditions)).one()
        if n:
            found[category] = (n, first, last)
    return found


def ready_export(subject_id: str) -> str:
    export = exports.request_export(get(Employee, subject_id), actor=Actor("employee", subject_id))
    export_id = export.id
    db.session.commit()
    assert run_now(export.job_id) == JobState.SUCCEEDED
    ready = get(Export, export_id)
    artifact = exports.artifact_path(ready)
    assert ready.state == ExportState.READY and artifact is not None and artifact.exists()
    return export_id


def end_state(request_id: str, subject_id: str) -> dict[str, Any]:
    """Everything an erasure decides, for comparing two runs (ids and times left out)."""
    request = get(DataRequest, request_id)
    found = suppression(subject_id, Purpose.AI_TRAINING)
    return {"state": request.state, "outcome": request.outcome, "result": request.result,
            "counts": erasure_counts(request_id), "left": held(subject_id), "files": len(shot_files(subject_id)),
            "key": keystore().exists(subject_id), "suppression": found.reason if found else None,
            "aggregates": {k: len(v) for k, v in aggregates_of(subject_id).items()},
            "tags": [t for t in tags_for(request_id) if not t.startswith("mail:")],  # mails: whoever sent them
            "completions": sum(1 for t in tags_for(request_id) if t == COMPLETE)}


# -- the whole of it --------------------------------------------------------------------------------------

@both_databases
def test_erasure_deletes_every_category_in_batches_rebuilds_the_dashboard_and_destroys_the_key(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(world.alice, events=23, shots=7)
    fill(world.alice, events=0, shots=0, prefix="again-")  # a second training-set use
    fill(world.bob, events=9, shots=2)
    before = held(world.alice)
    assert before == {"input_events": 15, "app_activity": 8, "screenshots": 7, "ai_training_use": 2}
    bob_before = (held(world.bob), aggregates_of(world.bob), shot_files(world.bob))
    assert len(shot_files(world.alice)) == 7 and aggregates_of(world.alice)["subject_category_stats"]
    export_id = ready_export(world.alice)
    export_file = exports.artifact_path(get(Export, export_id))
    assert export_file is not None
    bob_export = ready_export(world.bob)

    request_id, job_id = approved_erasure(world)
    monkeypatch.setattr(deletion, "BATCH", 4)
    reported: list[tuple[int, int | None]] = []
    original = jobs.JobContext.progress

    def spy(self: jobs.JobContext, done: int, total: int | None = None, *, force: bool = False) -> None:
        reported.append((done, total))
        original(self, done, total, force=force)

    monkeypatch.setattr(jobs.JobContext, "progress", spy)
    assert run_now(job_id) == JobState.SUCCEEDED

    assert reported[0] == (0, 30)  # the records of use in AI training are kept (below)
    progress = [0] + [done for done, _ in reported[1:]]
    if db.engine.dialect.name == "sqlite":
        # Batches of at most 4 rows (per kind of event, in time order), each committed with its count.
        assert all(1 <= b - a <= 4 for a, b in zip(progress, progress[1:], strict=False)) and progress[-1] == 30
        assert len(progress) - 1 >= 30 // 4
    else:  # her tables go whole: the events' (23), then the screenshots' (7), each with its counts
        assert [b - a for a, b in zip(progress, progress[1:], strict=False) if b > a] == [23, 7]
    erased = {c: n for c, n in before.items() if c != "ai_training_use"}
    assert erasure_counts(request_id) == {**{c: (n, 0) for c, n in erased.items()}, "ai_training_use": (0, 0)}
    # The records of use in AI training are the evidence of where the data went: kept, marked.
    assert held(world.alice) == {**dict.fromkeys(CATEGORIES, 0), "ai_training_use": 2}
    marks = db.session.execute(sa.select(SnapshotRemoval.marked_at, SnapshotRemoval.request_id)
                               .where(SnapshotRemoval.subject_id == world.alice)).all()
    assert len(marks) == 2 and all(at is not None and by == request_id for at, by in marks)
    # Nothing of the ledger is deleted: the snapshots keep her as a member, each mark is audited.
    assert count(SnapshotMember, SnapshotMember.subject_id == world.alice) == 2
    assert len([e for e in db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "training:removal:mark"))
                if e.subject_id == world.alice and e.targets.get("request") == request_id]) == 2
    assert db.session.scalar(sa.select(ErasureCount.removal_required).where(
        ErasureCount.request_id == request_id, ErasureCount.category == "ai_training_use")) == 2
    assert shot_files(world.alice) == set()
    # The dashboard's aggregates are rebuilt from what is left: nothing.
    assert aggregates_of(world.alice) == {"subject_category_stats": [], "activity_daily": [], "activity_hourly": [],
                                          "activity_targets": []}
    # Nothing is left, so the key is destroyed: every sealed copy anywhere is now unreadable.
    assert not keystore().exists(world.alice)
    with pytest.raises(KeyDestroyed):
        keystore().cipher(world.alice)
    found = suppression(world.alice, Purpose.AI_TRAINING)
    assert found is not None and found.reason == "erasure"
    # The ready export (a copy of the data) is gone too.
    export = get(Export, export_id)
    assert export.state == ExportState.EXPIRED and export.deleted_at is not None and not export_file.exists()
    # ... and it says so: deleted by this erasure, not "expired".
    assert export.erased_by_request_id == request_id and exports.status(export).state == "erased"
    with world.app.test_request_context():
        label = render_template_string('{% from "exports/macros.html" import state_label %}{{ state_label(s) }}',
                                       s=exports.status(export).state)
    assert "Deleted by an erasure" in label and "Expired" not in label

    request = get(DataRequest, request_id)
    assert request.state == RequestState.COMPLETED and request.completed_at is not None
    assert request.result == {"categories": {**{c: {"deleted": n, "blocked": 0} for c, n in erased.items()},
                                             "ai_training_use": {"deleted": 0, "blocked": 0, "removal_required": 2}},
                              "key_destroyed": True, "database_files": database_files()}
    assert request.outcome == (
        "Your data was erased and its key destroyed. The records of which AI training sets and models used your "
        "data are kept, as evidence, and marked \u201cremoval required\u201d: the portal does not itself remove "
        "data from training sets or from models already trained on them.")
    job = db.session.get(Job, job_id)
    assert job is not None and job.result == {"request_id": request_id, "deleted": 30, "blocked": 0,
                                              "scrubbed": database_files()}
    assert job.progress_done == job.progress_total
    assert tags_for(request_id)[-1] == COMPLETE and tags_for(request_id).count(COMPLETE) == 1
    (shredded,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "crypto:subject-key:destroy"))
    assert (shredded.subject_id, shredded.targets) == (world.alice, {"request": request_id})
    (expired,) = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.tag == "exports:export:expire"))
    assert expired.targets == {"export": export_id, "request": request_id}

    # Nobody else's data was touched.
    assert (held(world.bob), aggregates_of(world.bob), shot_files(world.bob)) == bob_before
    assert keystore().exists(world.bob) and get(Export, bob_export).state == ExportState.READY
    assert suppression(world.bob, Purpose.AI_TRAINING) is None

    # Run again (a duplicate dispatch): nothing changes, nothing is recorded twice.
    again = end_state(request_id, world.alice)
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(state=JobState.QUEUED))
    db.session.commit()
    assert run_now(job_id) == JobState.SUCCEEDED
    assert end_state(request_id, world.alice) == again


@both_databases
def test_a_date_range_erasure_keeps_the_rest_and_the_key(world: World) -> None:
    fill(world.alice, events=10, shots=3, at_days_ago=10)
    fill(world.alice, events=14, shots=2, at_days_ago=20)
    fill(world.alice, events=8, shots=2, at_days_ago=2)
    before = held(world.alice)
    in_range = {"input_events": 6, "app_activity": 4, "screenshots": 3, "ai_training_use": 1}
    kept_ids = set(db.session.scalars(sa.select(ActivityEvent.id).where(ActivityEvent.occurred_at
                                                                        < days_ago(15))))
    kept_ids |= set(db.session.scalars(sa.select(ActivityEvent.id).where(ActivityEvent.occurred_at > days_ago(5))))
    kept_shots = set(db.session.scalars(sa.select(Screenshot.id).where(
        (Screenshot.captured_at < days_ago(15)) | (Screenshot.captured_at > days_ago(5)))))
    export_id = ready_export(world.alice)

    today = datetime.now(UTC).date()
    request_id, job_id = approved_erasure(world, date_from=today - timedelta(days=12),
                                          date_to=today - timedelta(days=8))
    assert run_now(job_id) == JobState.SUCCEEDED

    assert erasure_counts(request_id) == {**{c: (n, 0) for c, n in in_range.items()}, "ai_training_use": (0, 0)}
    assert held(world.alice) == {**{c: before[c] - in_range[c] for c in CATEGORIES}, "ai_training_use": 3}
    # Only the use in the range is marked "removal required".
    assert count(SnapshotRemoval, SnapshotRemoval.subject_id == world.alice) == 1
    assert set(db.session.scalars(sa.select(ActivityEvent.id))) == kept_ids
    assert set(db.session.scalars(sa.select(Screenshot.id))) == kept_shots == shot_files(world.alice)
    # What is left can still be opened: the key is kept.
    assert keystore().exists(world.alice)
    for row in db.session.scalars(sa.select(ActivityEvent)):
        assert open_event(row)["url"].startswith("https://github.com/")
    for shot in db.session.scalars(sa.select(Screenshot)):
        assert open_screenshot(shot).startswith(b"\x89PNG")
    # The aggregates say what is left, and only that.
    stats = {s.category: (s.item_count, s.first_at, s.last_at)
             for s in db.session.scalars(sa.select(SubjectCategoryStats).where(
                 SubjectCategoryStats.subject_id == world.alice))}
    assert stats == stats_from_rows(world.alice)
    days = {d.day: d.events for d in db.session.scalars(sa.select(ActivityDaily))}
    assert days == {days_ago(20).date(): 14, days_ago(2).date(): 8}
    assert sum(h.events for h in db.session.scalars(sa.select(ActivityHourly))) == 22
    assert {(t.target_type, t.target): t.events for t in aggregates.top_targets(world.alice, limit=100).top} == {
        ("site", "github.com"): 3 + 2, ("app", "Google Chrome"): 22 - 5}

    request = get(DataRequest, request_id)
    assert request.result == {"categories": {**{c: {"deleted": n, "blocked": 0} for c, n in in_range.items()},
                                             "ai_training_use": {"deleted": 0, "blocked": 0, "removal_required": 1}},
                              "key_destroyed": False, "database_files": database_files(whole=False)}
    assert request.outcome == (
        "Your data was erased. The records of which AI training sets and models used your data are kept, as evidence, and marked \u201cremoval required\u201d: the portal does not itself remove data from training sets or from models already trained on them.")
    assert get(Export, export_id).state == ExportState.EXPIRED  # it held what was erased
    assert not any(e.tag == "crypto:subject-key:destroy" for e in db.session.scalars(sa.select(AuditEntry)))


def test_a_category_erasure_leaves_the_other_categories(world: World) -> None:
    fill(world.alice, events=12, shots=3)
    before = held(world.alice)
    request_id, job_id = approved_erasure(world, categories=["screenshots", "input_events"])
    assert run_now(job_id) == JobState.SUCCEEDED
    assert erasure_counts(request_id) == {"input_events": (8, 0), "screenshots": (3, 0)}
    assert held(world.alice) == {**before, "input_events": 0, "screenshots": 0}
    assert keystore().exists(world.alice) and shot_files(world.alice) == set()
    assert set(stats_from_rows(world.alice)) == {"app_activity"}


def test_a_legal_hold_blocks_its_category_which_is_reported_and_keeps_the_key(world: World) -> None:
    fill(world.alice, events=12, shots=3)
    fill(world.bob, events=6, shots=1)
    before = held(world.alice)
    files = shot_files(world.alice)
    rs.place_hold(world["alice"], world["dpo"], categories=["screenshots"], matter_reference="LIT-2026-7",
                  reason="Pending litigation")
    rs.place_hold(world["bob"], world["dpo"], categories=[], matter_reference="LIT-2026-8", reason="Other matter")
    db.session.commit()
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED

    assert erasure_counts(request_id) == {"input_events": (8, 0), "app_activity": (4, 0), "screenshots": (0, 3),
                                          "ai_training_use": (0, 0)}
    assert held(world.alice) == {**dict.fromkeys(CATEGORIES, 0), "screenshots": before["screenshots"],
                                 "ai_training_use": 1}
    assert shot_files(world.alice) == files  # the files are kept with their rows
    assert keystore().exists(world.alice)  # blocked data must stay readable
    for shot in db.session.scalars(sa.select(Screenshot).where(Screenshot.subject_id == world.alice)):
        assert open_screenshot(shot).startswith(b"\x89PNG")
    request = get(DataRequest, request_id)
    assert request.state == RequestState.COMPLETED
    assert request.result is not None and request.result["categories"]["screenshots"] == {"deleted": 0, "blocked": 3}
    assert "legal hold and was not erased: Screenshots (3)." in (request.outcome or "")
    assert "Legal basis: GDPR Art. 17(3)(e)" in (request.outcome or "")
    assert stats_from_rows(world.alice).keys() == {"screenshots"}

    # Once the hold is lifted, a job erases what it kept (tests/rights/test_holds.py has the rest).
    (hold,) = rs.active_holds(world.alice)
    rs.lift_hold(hold, world["dpo2"])
    db.session.commit()
    (resume,) = pending_jobs([rs.ERASURE_AFTER_HOLD_JOB])
    assert run_now(resume) == JobState.SUCCEEDED
    assert erasure_counts(request_id) == {"input_events": (8, 0), "app_activity": (4, 0), "screenshots": (3, 0),
                                          "ai_training_use": (0, 0)}
    assert held(world.alice) == {**dict.fromkeys(CATEGORIES, 0), "ai_training_use": 1}
    assert not keystore().exists(world.alice) and shot_files(world.alice) == set()


def test_a_hold_on_every_category_blocks_the_whole_erasure(world: World) -> None:
    fill(world.alice, events=6, shots=2)
    before = held(world.alice)
    rs.place_hold(world["alice"], world["admin"], categories=[], matter_reference="AUDIT-1", reason="Tax audit")
    db.session.commit()
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    assert erasure_counts(request_id) == {c: (0, n) for c, n in before.items()}
    assert held(world.alice) == before and keystore().exists(world.alice)
    request = get(DataRequest, request_id)
    assert request.result is not None and request.result["key_destroyed"] is False


# -- crypto-shredding, on a copy of the database file -------------------------------------------------------

def test_a_copy_of_the_database_taken_before_the_erasure_cannot_be_read_after_it(world: World, app: Flask,
                                                                                 tmp_path: Path) -> None:
    fill(world.alice, events=12, shots=3)
    fill(world.bob, events=4, shots=1)
    request_id, job_id = approved_erasure(world)
    # The "backup": the database file (checkpointed, so the file holds every committed row) and the
    # artifact directory with the sealed screenshots. The key store is kept elsewhere, by design.
    database = Path(db.engine.url.database or "")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    backup = tmp_path / "backup.db"
    shutil.copyfile(database, backup)
    shots_backup = tmp_path / "screenshots-backup"
    shutil.copytree(artifact_dir() / "screenshots" / world.alice, shots_backup)
    key_file = file_keystore().directory / f"{world.alice}.key"
    wrapped = key_file.read_bytes()
    held_open = open(key_file, "rb")  # noqa: SIM115 - to see what the destruction did to the file's bytes

    def sealed_rows() -> list[tuple[str, bytes]]:
        with contextlib.closing(sqlite3.connect(backup)) as conn:
            return conn.execute("SELECT source_event_id, sealed FROM activity_events WHERE subject_id = ?",
                                (world.alice,)).fetchall()

    rows, files = sealed_rows(), sorted(shots_backup.iterdir())
    assert len(rows) == 12 and len(files) == 3
    cipher = keystore().cipher(world.alice)  # before: the copy opens with the key
    assert all(cipher.open_json("event", source_id, blob)["url"] for source_id, blob in rows)
    assert all(cipher.open_bytes("screenshot", f.name.removesuffix(".sealed"), f.read_bytes())[:4] == b"\x89PNG"
               for f in files)

    assert run_now(job_id) == JobState.SUCCEEDED
    try:
        # The key file was overwritten in place before it was unlinked, and is gone.
        assert not key_file.exists()
        held_open.seek(0)
        assert held_open.read() != wrapped
    finally:
        held_open.close()
    assert (get(DataRequest, request_id).result or {})["key_destroyed"] is True
    with pytest.raises(KeyDestroyed):
        keystore().cipher(world.alice)
    # The copy still holds the sealed rows, but nothing that remains opens them: not the key store
    # (it has no key for Alice), not another subject's key, not the directory key.
    assert sealed_rows() == rows
    remaining_keys = [keystore().data_key(p.stem) for p in file_keystore().directory.glob("*.key")]
    assert remaining_keys and world.alice not in {p.stem for p in file_keystore().directory.glob("*.key")}
    for source_id, blob in rows:
        for key in remaining_keys:
            with pytest.raises(SealError):
                SubjectCipher(world.alice, key).open_json("event", source_id, blob)
    for path in files:
        for key in remaining_keys:
            with pytest.raises(SealError):
                SubjectCipher(world.alice, key).open_bytes("screenshot", path.name.removesuffix(".sealed"),
                                                           path.read_bytes())
    # And the live database holds nothing of hers.
    assert held(world.alice) == {**dict.fromkeys(CATEGORIES, 0), "ai_training_use": 1}  # kept: the evidence
    assert sum(held(world.bob).values()) > 0 and keystore().exists(world.bob)


# -- killed in the middle ------------------------------------------------------------------------------------

def twins(w: World) -> tuple[str, str]:
    """Two employees of Spain with the same data: one erased without interruption, one with a crash."""
    steady = make_employee(w.app, "steady@example.com", jurisdiction="ES")
    crashed = make_employee(w.app, "crashed@example.com", jurisdiction="ES")
    for subject_id in (steady, crashed):
        fill(subject_id, events=30, shots=6, at_days_ago=3)
        fill(subject_id, events=18, shots=2, at_days_ago=1, training=False)
    assert held(steady) == held(crashed)
    return steady, crashed


@both_databases
def test_an_erasure_that_crashes_mid_batch_carries_on_to_the_same_end(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    steady, crashed = twins(world)
    monkeypatch.setattr(deletion, "BATCH", 5)
    steady_request, steady_job = approved_erasure(world, steady)
    assert run_now(steady_job) == JobState.SUCCEEDED
    expected = end_state(steady_request, steady)

    crash_request, crash_job = approved_erasure(world, crashed)
    before = held(crashed)
    unlinked: list[str] = []
    real_path = erasure.screenshot_path

    def failing_path(subject_id: str, shot_id: str) -> Path:
        if len(unlinked) == 7:  # the second batch of screenshots, after two of its files are gone
            raise OSError(5, "Input/output error")
        unlinked.append(shot_id)
        return real_path(subject_id, shot_id)

    monkeypatch.setattr(erasure, "screenshot_path", failing_path)
    assert run_now(crash_job) == JobState.QUEUED  # the attempt failed; the job waits to be retried
    # Every committed batch took its count with it; the failed batch deleted no row, though its
    # first two files are gone (files first: a file never outlives its row; the row goes next run).
    counts = erasure_counts(crash_request)
    now = held(crashed)
    for category in ("input_events", "app_activity"):
        assert counts[category] == (before[category], 0) and now[category] == 0
    if db.engine.dialect.name == "sqlite":
        assert counts["screenshots"] == (5, 0) and now["screenshots"] == before["screenshots"] - 5
        assert len(shot_files(crashed)) == now["screenshots"] - 2
        assert shot_files(crashed) <= set(db.session.scalars(sa.select(Screenshot.id).where(
            Screenshot.subject_id == crashed)))
    else:  # her screenshots' table was detached and its rows' files are being removed: no count yet
        assert "screenshots" not in counts and len(shot_files(crashed)) == before["screenshots"] - 7
        from portal.monitoring.partitions import partition_name

        table = partition_name("screenshots", crashed)
        left = db.session.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar()
        assert left == before["screenshots"]  # the rows wait, in the detached table, for the next run
    assert keystore().exists(crashed) and get(DataRequest, crash_request).state == RequestState.FULFILLING
    assert COMPLETE not in tags_for(crash_request)

    monkeypatch.setattr(erasure, "screenshot_path", real_path)
    assert run_now(crash_job) == JobState.SUCCEEDED
    job = get(Job, crash_job)
    assert (job.attempts, job.state) == (2, JobState.SUCCEEDED)
    assert end_state(crash_request, crashed) == expected


def worker_env(app: Flask, lease_seconds: int) -> dict[str, str]:
    settings = app.config["PORTAL_SETTINGS"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({
        "PORTAL_DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_MASTER_KEY": settings.master_key, "PORTAL_OIDC_ISSUER": settings.oidc_issuer,
        "PORTAL_OIDC_CLIENT_ID": settings.oidc_client_id, "PORTAL_OIDC_CLIENT_SECRET": settings.oidc_client_secret,
        "PORTAL_BASE_URL": settings.base_url, "PORTAL_INSECURE_COOKIES": "1",
        "PORTAL_INSTANCE_DIR": str(settings.instance_dir), "PORTAL_ARTIFACT_DIR": str(settings.artifact_dir),
        "PORTAL_KEY_DIR": str(settings.key_dir), "PORTAL_SESSION_DIR": str(settings.session_dir),
        "PORTAL_JOB_LEASE_SECONDS": str(lease_seconds), "PORTAL_JOB_SWEEP_SECONDS": "1",
        "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1",
    })
    return env


# `flask jobs work` with small batches and a pause after each (so that there is a middle to kill it in).
SLOW_WORKER = """
import sys, time
import portal.monitoring.deletion as deletion
from portal.jobs import services as jobs
deletion.BATCH = int(sys.argv[1])
pause = float(sys.argv[2])
original = jobs.JobContext.progress
def progress(self, done, total=None, *, force=False):
    original(self, done, total, force=True)
    time.sleep(pause)
jobs.JobContext.progress = progress
from flask.cli import main
sys.argv = ["flask", "--app", "wsgi", "jobs", "work"]
main()
"""


def wait_for(what: str, check: Callable[[], bool], timeout: float, output: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}\n{output()}")
        time.sleep(0.05)


def job_row(job_id: str) -> Job:
    job = db.session.get(Job, job_id, populate_existing=True)
    assert job is not None
    db.session.expunge(job)
    db.session.rollback()
    return job


@both_databases
@pytest.mark.timeout(120)
def test_a_killed_worker_process_leaves_consistent_counts_and_the_next_run_finishes_exactly_once(
        world: World, tmp_path: Path, app: Flask) -> None:
    steady, crashed = twins(world)
    batch = 4
    steady_request, steady_job = approved_erasure(world, steady)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deletion, "BATCH", batch)
        assert run_now(steady_job) == JobState.SUCCEEDED
    expected = end_state(steady_request, steady)

    crash_request, crash_job = approved_erasure(world, crashed)
    before = held(crashed)
    script = tmp_path / "slow_worker.py"
    script.write_text(SLOW_WORKER)
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, str(script), str(batch), "0.3"],
                                  env=worker_env(app, lease_seconds=3), cwd=PROJECT_ROOT, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("the erasure is under way",
                 lambda: job_row(crash_job).progress_done >= 3 * batch or worker.poll() is not None, 60,
                 lambda: log.read_text(errors="replace")[-4000:])
        assert worker.poll() is None, log.read_text(errors="replace")[-4000:]
        os.killpg(worker.pid, signal.SIGKILL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    # Killed in the middle: the job is still "running" under the dead worker's lease, the request
    # is being carried out, the key is there, and every count matches what is actually gone.
    job = job_row(crash_job)
    assert (job.state, job.attempts) == (JobState.RUNNING, 1)
    now = held(crashed)
    counts = erasure_counts(crash_request)
    assert 0 < sum(before.values()) - sum(now.values()) < sum(before.values())
    for category in CATEGORIES:
        assert counts.get(category, (0, 0)) == (before[category] - now[category], 0), category
    assert shot_files(crashed) <= set(db.session.scalars(sa.select(Screenshot.id).where(
        Screenshot.subject_id == crashed)))
    assert keystore().exists(crashed) and get(DataRequest, crash_request).state == RequestState.FULFILLING
    assert COMPLETE not in tags_for(crash_request)
    db.session.rollback()

    # Once the dead worker's lease runs out, the job is due again: the next sweep dispatches it,
    # and the run it starts finishes it.
    wait_for("the dead worker's lease runs out", lambda: crash_job in jobs.due_jobs(), 30, lambda: "")
    assert jobs.sweep() == 1 and runner().dispatched[-1] == (crash_job, 0)  # type: ignore[attr-defined]
    assert jobs.run_job(crash_job) == JobState.SUCCEEDED
    db.session.remove()
    job = job_row(crash_job)
    assert (job.state, job.attempts, job.error) == (JobState.SUCCEEDED, 2, None)
    assert end_state(crash_request, crashed) == expected


def test_the_job_refuses_what_is_not_an_erasure_being_carried_out(world: World) -> None:
    access = rs.file_request(world["alice"], RequestType.ACCESS).request
    db.session.commit()
    for params in ({"request_id": access.id}, {"request_id": "0" * 32}):
        job = jobs.enqueue(rs.ERASURE_JOB, params=params, max_attempts=1)
        db.session.commit()
        job_id = job.id
        assert run_now(job_id) == JobState.FAILED
        assert get(Job, job_id).error == "The erasure request no longer exists."
    filed = rs.file_request(world["alice"], RequestType.ERASURE).request
    job = jobs.enqueue(rs.ERASURE_JOB, params={"request_id": filed.id}, max_attempts=3)
    db.session.commit()
    job_id = job.id
    assert run_now(job_id) == JobState.FAILED  # not retried: it cannot help
    assert get(Job, job_id).error == "The request is not approved for fulfilment (not yet, or no longer); nothing was erased."
    assert count(ErasureCount) == 0


# -- what an erasure does to work in flight ------------------------------------------------------------

def test_an_export_still_being_made_is_cancelled_and_its_access_request_fails_then_is_closed(world: World) -> None:
    """An access request approved before the erasure: its export is cancelled (its job keeps no
    file), the request fails, and its DPO can close it with a legal basis (failed -> rejected)."""
    alice = get(Employee, world.alice)
    access_id = rs.file_request(alice, RequestType.ACCESS).request.id
    rs.claim(get(DataRequest, access_id), world["dpo"])
    rs.start_review(get(DataRequest, access_id), world["dpo"])
    assert rs.approve(get(DataRequest, access_id), world["dpo"]) is True
    db.session.commit()
    export = db.session.scalars(sa.select(Export).where(Export.request_id == access_id)).one()
    export_id, export_job = export.id, export.job_id
    assert export.state == ExportState.QUEUED

    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    cancelled = get(Export, export_id)
    assert (cancelled.state, cancelled.error) == (ExportState.FAILED,
                                                  "Cancelled: data was erased while this copy was being prepared.")
    assert get(DataRequest, access_id).state == RequestState.FAILED
    assert "exports:export:cancel" in [e.tag for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.subject_id == world.alice))]

    # The export's job, run afterwards, keeps nothing and changes nothing.
    assert run_now(export_job) == JobState.SUCCEEDED
    assert get(Export, export_id).state == ExportState.FAILED and get(Export, export_id).artifact_name is None
    directory = exports.exports_dir(world.alice)
    assert not directory.exists() or list(directory.iterdir()) == []

    # Retrying cannot help (the data is gone); the DPO closes it with a reason.
    with pytest.raises(rs.IllegalTransition):
        rs.approve(get(DataRequest, access_id), world["dpo"])
    db.session.rollback()
    rs.reject(get(DataRequest, access_id), world["dpo"], "no-data", "Your data was erased at your request.")
    db.session.commit()
    closed = get(DataRequest, access_id)
    assert (closed.state, closed.legal_basis) == (RequestState.REJECTED, "no-data")
    assert tags_for(access_id).count("requests:request:reject") == 1


def test_corrections_sealed_with_the_destroyed_key_go_with_it(world: World) -> None:
    from portal.rights.models import Rectification

    alice = get(Employee, world.alice)
    fix_id = rs.file_request(alice, RequestType.RECTIFICATION, wrong="Slack at 3 am", correct="Not me").request.id
    rs.claim(get(DataRequest, fix_id), world["dpo"])
    rs.start_review(get(DataRequest, fix_id), world["dpo"])
    assert rs.approve(get(DataRequest, fix_id), world["dpo"]) is True
    db.session.commit()
    assert count(Rectification, Rectification.subject_id == world.alice) == 1

    _request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    assert not keystore().exists(world.alice)
    assert count(Rectification, Rectification.subject_id == world.alice) == 0
    assert get(DataRequest, fix_id).state == RequestState.COMPLETED  # the request's own record stays


def test_the_dashboard_says_what_an_erasure_erased_and_what_a_hold_blocked(world: World) -> None:
    from tests.helpers import signed_in_as

    fill(world.alice, events=12, shots=3)
    rs.place_hold(world["alice"], world["dpo"], categories=["screenshots"], matter_reference="LIT-2026-7",
                  reason="Pending litigation")
    db.session.commit()
    request_id, job_id = approved_erasure(world)
    assert run_now(job_id) == JobState.SUCCEEDED
    request = get(DataRequest, request_id)
    reference = request.reference
    assert request.completed_at is not None
    day = request.completed_at.astimezone(ZoneInfo(world["alice"].timezone or "UTC"))
    day_text = f"{day.day} {day:%B %Y}"

    # Alice's account at the IdP, bound to the world's Alice as a first sign-in would bind it.
    issuer = world.app.config["PORTAL_SETTINGS"].oidc_issuer
    db.session.add(SsoIdentity(issuer=issuer, employee_id=world.alice,
                               subject_digest=blind_index("sso-subject", f"{issuer}\nalice@example.com",
                                                          fold_case=False)))
    db.session.commit()
    client = world.app.test_client()
    signed_in_as(client, "alice@example.com")
    page = client.get("/").get_data(as_text=True)

    def card(key: str) -> str:
        start = page.index(f'id="category-{key}"')
        return " ".join(re.sub(r"<[^>]+>", " ", page[start:page.index("</article>", start)]).split())

    for key in ("input_events", "app_activity"):
        assert f"Erased on {day_text} by request {reference}." in card(key), key
        assert "Nothing collected so far." not in card(key)
    assert ("3 items kept under a legal hold, blocked: request "
            f"{reference} asked for their erasure on {day_text}; they are erased once the hold is lifted.") in card("screenshots")
    assert "Erased on" not in card("screenshots")
