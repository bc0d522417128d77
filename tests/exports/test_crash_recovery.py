"""Acceptance (docs/architecture.md, "Jobs" and "Bytes, files and crashes"): killing the worker in
the middle of an export leaves no visible artifact, and the job completes on the next run with
exactly one artifact and one completion audit entry. With real worker processes killed by SIGKILL:
``flask jobs work`` (the thread runner's side) and a Celery worker on Redis."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
from flask import Flask

from portal import create_app
from portal.audit.services import Actor
from portal.config import PROJECT_ROOT, Settings
from portal.demo.seed import generate
from portal.exports import services as exports
from portal.exports.models import Export, ExportState
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import EXTENSION, ThreadRunner, runner
from portal.people.models import Employee
from tests.conftest import _truncate, app_config, both_databases
from tests.helpers import audit_entries, make_employee

EVENTS = 12_000  # 2-3 batches of 5,000 per category: with a pause between batches, a run lasts seconds
PAUSE_MS = 700  # well under the lease, so that a live worker's lease never lapses between batches
LEASE_SECONDS = 3
COMPLETE = "exports:export:complete"


# -- helpers -------------------------------------------------------------------------------------

def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker process configured like the test's app."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_MASTER_KEY": settings.master_key,
        "PORTAL_OIDC_ISSUER": settings.oidc_issuer,
        "PORTAL_OIDC_CLIENT_ID": settings.oidc_client_id,
        "PORTAL_OIDC_CLIENT_SECRET": settings.oidc_client_secret,
        "PORTAL_BASE_URL": settings.base_url,
        "PORTAL_INSECURE_COOKIES": "1",
        "PORTAL_INSTANCE_DIR": str(settings.instance_dir),
        "PORTAL_ARTIFACT_DIR": str(settings.artifact_dir),
        "PORTAL_KEY_DIR": str(settings.key_dir),
        "PORTAL_SESSION_DIR": str(settings.session_dir),
        "PORTAL_JOB_RUNNER": settings.job_runner,
        "PORTAL_REDIS_URL": settings.redis_url,
        "PORTAL_REDIS_PREFIX": settings.redis_prefix,
        "PORTAL_CELERY_QUEUE": settings.celery_queue,
        "PORTAL_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "PORTAL_JOB_SWEEP_SECONDS": "1",
        "PORTAL_EXPORT_PAUSE_MS": str(PAUSE_MS),
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class Worker:
    """A worker process in its own process group (so that an embedded beat dies with it)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._out: IO[bytes] = open(log, "wb")  # noqa: SIM115 - closed in kill()
        self.process = subprocess.Popen([sys.executable, "-m", *args], env=env, cwd=cwd, stdout=self._out,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL the whole group (an embedded beat too): no clean-up handler gets to run."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._out.close()


def job_row(job_id: str) -> Job:
    job = db.session.get(Job, job_id, populate_existing=True)
    assert job is not None
    db.session.expunge(job)
    db.session.rollback()
    return job


def export_row(export_id: str) -> Export:
    export = db.session.get(Export, export_id, populate_existing=True)
    assert export is not None
    db.session.expunge(export)
    db.session.rollback()
    return export


def wait_for(what: str, check: Callable[[], bool], timeout: float, *, workers: tuple[Worker, ...] = (),
             interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(w.output() for w in workers)
            pytest.fail(f"timed out waiting until {what}\n{logs}")
        time.sleep(interval)


def subject_with_data(app: Flask) -> str:
    subject_id = make_employee(app, "erin@example.com")
    with app.app_context():
        subject = db.session.get(Employee, subject_id)
        assert subject is not None
        assert generate(subject, events=EVENTS, screenshots=2, seed_value=1) == (EVENTS, 2)
        db.session.commit()
    return subject_id


def ask_for_export(app: Flask, subject_id: str, *, dispatch: bool) -> tuple[str, str]:
    with app.app_context():
        subject = db.session.get(Employee, subject_id)
        assert subject is not None
        export = exports.request_export(subject, actor=Actor("employee", subject_id), dispatch=dispatch)
        ids = export.id, export.job_id
        db.session.commit()
        return ids


def running_with_progress(job_id: str) -> bool:
    job = job_row(job_id)
    return job.state == JobState.RUNNING and job.progress_done > 0


def kill_mid_export(app: Flask, worker: Worker, subject_id: str, export_id: str, job_id: str) -> str:
    """Kill the worker as soon as it is under way; check that nothing is visible. Returns its token."""
    with app.app_context():
        wait_for("the export is under way", lambda: running_with_progress(job_id) or not worker.alive(), 90,
                 workers=(worker,))
        assert worker.alive(), worker.output()
        worker.kill()
        job = job_row(job_id)
        assert job.worker_id is not None
        assert job.progress_total is not None and 0 < job.progress_done < job.progress_total, worker.output()
        dead_token = job.worker_id
        assert (job.state, job.attempts) == (JobState.RUNNING, 1)
        assert jobs.due_jobs() == []  # the dead worker's lease has not run out yet

        export = export_row(export_id)
        assert export.state == ExportState.RUNNING
        assert (export.artifact_name, export.completed_at) == (None, None)
        # Only the unfinished temporary file is there: nothing a download could find.
        assert files_of(app, subject_id) == [f".{export_id}-{dead_token[:12]}.tmp"]
    assert audit_entries(app, COMPLETE) == []
    return dead_token


def files_of(app: Flask, subject_id: str) -> list[str]:
    with app.app_context():
        directory = exports.exports_dir(subject_id)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def assert_completed_once(app: Flask, subject_id: str, export_id: str, job_id: str, dead_token: str) -> None:
    with app.app_context():
        job = job_row(job_id)
        assert (job.state, job.attempts, job.error) == (JobState.SUCCEEDED, 2, None)
        assert job.worker_id is not None and job.worker_id != dead_token
        assert job.progress_total is not None and job.progress_done == job.progress_total
        export = export_row(export_id)
        assert export.state == ExportState.READY
        # Exactly one file: the artifact the export names, written by the second attempt; no .tmp.
        assert files_of(app, subject_id) == [export.artifact_name] == [
            f"{export_id}-{job.worker_id[:12]}{exports.SUFFIX}"]
        package = b"".join(exports.open_download(export))
        assert hashlib.sha256(package).hexdigest() == export.artifact_sha256
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            assert archive.testzip() is None
            manifest = json.loads(archive.read("manifest.json"))
        assert manifest["export_id"] == export_id
        assert manifest["counts"]["input_events"] + manifest["counts"]["app_activity"] == EVENTS
        assert export.counts == manifest["counts"]
    completions = audit_entries(app, COMPLETE)
    assert [(e.subject_id, e.targets["export"], e.targets["job"]) for e in completions] == [
        (subject_id, export_id, job_id)]
    assert audit_entries(app, "exports:export:fail") == []


def stop_thread_runner(app: Flask) -> None:
    with app.app_context():
        active = app.extensions[EXTENSION]
        if isinstance(active, ThreadRunner):
            active.wait_idle(60)
            active.shutdown()


# -- the thread runner's side: `flask jobs work` -----------------------------------------------------

@both_databases
@pytest.mark.timeout(180)
def test_killed_jobs_work_process_leaves_no_artifact_and_the_next_run_completes_once(
        app: Flask, tmp_path: Path) -> None:
    subject_id = subject_with_data(app)
    export_id, job_id = ask_for_export(app, subject_id, dispatch=False)
    worker = Worker(["flask", "--app", "wsgi", "jobs", "work"], worker_env(app.config["PORTAL_SETTINGS"]),
                    tmp_path, tmp_path / "jobs-work.log")
    try:
        dead_token = kill_mid_export(app, worker, subject_id, export_id, job_id)
        with app.app_context():
            # Once the dead worker's lease runs out, the sweep hands the job to the thread runner.
            wait_for("the dead worker's lease runs out", lambda: jobs.due_jobs() == [job_id], 30)
            assert jobs.sweep() == 1
            active = runner()
            assert isinstance(active, ThreadRunner)
            assert active.wait_idle(120)
        assert_completed_once(app, subject_id, export_id, job_id, dead_token)
    finally:
        worker.kill()
        stop_thread_runner(app)


# -- Celery ----------------------------------------------------------------------------------------

@pytest.fixture
def celery_app(request: pytest.FixtureRequest, tmp_path: Path, idp_url: str, sqlite_template: Path,
               redis_url: str) -> Iterator[Flask]:
    """The portal with the Celery runner, on a PostgreSQL or SQLite database that the workers share,
    with its own Redis key prefix and queue; the keys are deleted afterwards."""
    import redis

    backend = getattr(request, "param", "postgres")
    if backend == "postgres":
        database_url = request.getfixturevalue("postgres_migrated")
    else:
        target = tmp_path / "portal.db"
        target.write_bytes(sqlite_template.read_bytes())
        database_url = f"sqlite:///{target}"
    stamp = secrets.token_hex(4)
    prefix = f"portal-test-{stamp}:"
    application = create_app(app_config(tmp_path, idp_url, database_url, job_runner="celery", redis_url=redis_url,
                                        redis_prefix=prefix, celery_queue=f"portal-test-jobs-{stamp}"))
    application.config["TESTING"] = True
    try:
        yield application
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        if backend == "postgres":
            _truncate(application)
        else:
            with application.app_context():
                db.session.remove()
                db.engine.dispose()


def celery_worker(app: Flask, tmp_path: Path, name: str, *, beat: bool, **env: str) -> Worker:
    settings = app.config["PORTAL_SETTINGS"]
    args = ["celery", "-A", "portal.jobs.worker", "worker", "--pool=solo", "--concurrency=1",
            "-Q", settings.celery_queue, "-n", f"{name}@%h", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        args += ["-B", "-s", str(tmp_path / f"{name}-beat-schedule")]
    return Worker(args, worker_env(settings, **env), tmp_path, tmp_path / f"{name}.log")


@pytest.mark.redis
@pytest.mark.parametrize("celery_app", [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"],
                         indirect=True)
@pytest.mark.timeout(180)
def test_killed_celery_worker_leaves_no_artifact_and_the_next_worker_completes_once(
        celery_app: Flask, tmp_path: Path) -> None:
    app = celery_app
    workers: list[Worker] = []
    try:
        # The first worker has no beat: after it dies, only the sweep of the second can recover
        # the job (the task was acknowledged when it started, so the broker does not redeliver it).
        workers.append(celery_worker(app, tmp_path, "first", beat=False))
        subject_id = subject_with_data(app)
        export_id, job_id = ask_for_export(app, subject_id, dispatch=True)  # sent to the broker on commit
        dead_token = kill_mid_export(app, workers[0], subject_id, export_id, job_id)

        workers.append(celery_worker(app, tmp_path, "second", beat=True, PORTAL_EXPORT_PAUSE_MS="0"))
        with app.app_context():
            wait_for("the second worker completes the export",
                     lambda: job_row(job_id).state in (JobState.SUCCEEDED, JobState.FAILED), 120,
                     workers=tuple(workers), interval=0.2)
        assert_completed_once(app, subject_id, export_id, job_id, dead_token)
        assert "portal.jobs.sweep" in workers[1].output()
    finally:
        for worker in workers:
            worker.kill()
