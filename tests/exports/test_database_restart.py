"""`flask --app wsgi export run` while PostgreSQL restarts (a real process on a cluster of the
test's own): the command carries on once the database is back and delivers one complete copy,
recorded once; when the database stays away longer than PORTAL_DB_RETRY_SECONDS it fails with one
clear line and a nonzero exit, never a traceback, and leaves no file and no record of a delivery."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.config import PROJECT_ROOT
from portal.exports.models import Export, ExportState
from portal.extensions import db
from portal.jobs.models import Job
from portal.monitoring.models import AccessRecord
from portal.rights.models import DataRequest
from tests.exports.test_crash_recovery import EVENTS, subject_with_data, wait_for, worker_env
from tests.pgcluster import PostgresCluster, own_postgres, pg_app  # noqa: F401 - fixtures


def export_command(app: Flask, out: Path, log: Path, retry_seconds: int) -> tuple[subprocess.Popen[bytes], Path]:
    env = worker_env(app.config["PORTAL_SETTINGS"], PORTAL_DB_RETRY_SECONDS=str(retry_seconds),
                     PORTAL_JOB_LEASE_SECONDS="60")
    err = log.with_suffix(".err")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "export", "run", "--employee", "erin@example.com",
         "--out", str(out)], env=env, cwd=PROJECT_ROOT, stdout=open(log, "wb"), stderr=open(err, "wb"))  # noqa: SIM115
    return process, err


def under_way(app: Flask) -> bool:
    with app.app_context():
        done = db.session.scalar(sa.select(sa.func.max(Job.progress_done)))
        db.session.remove()
    return bool(done)


def rows(app: Flask) -> tuple[list[tuple[object, ...]], int, int]:
    with app.app_context():
        exports = [tuple(r) for r in db.session.execute(sa.select(Export.state, Export.request_id))]
        requests = db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest))
        accesses = db.session.scalar(sa.select(sa.func.count()).select_from(AccessRecord))
        db.session.remove()
    return exports, requests or 0, accesses or 0


@pytest.mark.timeout(180)
def test_export_run_carries_on_through_a_restart_and_delivers_once(
        pg_app: Flask, own_postgres: PostgresCluster, tmp_path: Path) -> None:  # noqa: F811
    subject_with_data(pg_app)
    out = tmp_path / "copy" / "erin.zip"
    out.parent.mkdir()
    process, err = export_command(pg_app, out, tmp_path / "export.log", retry_seconds=120)
    try:
        wait_for("the export is under way", lambda: under_way(pg_app) or process.poll() is not None, 90)
        assert process.poll() is None, err.read_text()
        own_postgres.restart(down_for=2)
        assert process.wait(150) == 0, err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    stderr = err.read_text()
    assert "Traceback" not in stderr, stderr
    assert "the database stopped answering during the work" in stderr  # the outage was felt, and said
    assert "Wrote" in (tmp_path / "export.log").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["erin.zip"]  # no temporary file beside it
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        assert archive.testzip() is None
        counts = json.loads(archive.read("manifest.json"))["counts"]
    assert counts["input_events"] + counts["app_activity"] == EVENTS
    ((state, request_id),), requests, accesses = rows(pg_app)
    assert state == ExportState.READY and request_id is not None
    assert (requests, accesses) == (1, 1)  # one completed access request, one line in the access log


@pytest.mark.timeout(180)
def test_export_run_gives_up_with_one_line_when_the_database_stays_away(
        pg_app: Flask, own_postgres: PostgresCluster, tmp_path: Path) -> None:  # noqa: F811
    subject_with_data(pg_app)
    out = tmp_path / "copy" / "erin.zip"
    out.parent.mkdir()
    process, err = export_command(pg_app, out, tmp_path / "export.log", retry_seconds=4)
    try:
        wait_for("the export is under way", lambda: under_way(pg_app) or process.poll() is not None, 90)
        assert process.poll() is None, err.read_text()
        own_postgres.stop()
        started = time.monotonic()
        code = process.wait(60)
        gave_up_after = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
        if not own_postgres.running():
            own_postgres.start()
    stderr = err.read_text()
    assert code == 1 and "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("Error: The export stopped: the database did not answer for "), stderr
    assert last.endswith("Nothing was delivered, and no access was recorded; run the command again once the "
                         "database is back."), stderr
    assert gave_up_after < 30  # bounded: 4 s of retries in the job, then 4 s in the command
    assert list(out.parent.iterdir()) == []  # no file, not even a temporary one
    exports, requests, accesses = rows(pg_app)
    assert [request_id for _state, request_id in exports] == [None] and (requests, accesses) == (0, 0)
