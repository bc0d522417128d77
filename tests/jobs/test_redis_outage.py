"""Redis down under the Celery runner (a redis-server of the test's own, stopped or paused, and a
real Celery worker with its beat), with sign-in sessions in the database: people still sign in
through the IdP and use the portal; a job made meanwhile is committed and stays queued in the job
table, the commit is not held up by the broker, and the job is dispatched and run once Redis is
back."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from portal.audit.services import Actor
from portal.exports import services as exports
from portal.extensions import db
from portal.jobs.models import JobState
from portal.people.models import Employee
from tests.conftest import CI, _free_port, app_config
from tests.exports.test_crash_recovery import Worker, celery_worker, job_row, wait_for
from tests.helpers import audit_entries, make_employee, sign_in


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, (self.folder / "redis.log").read_text()
                time.sleep(0.05)
        client.close()

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted by the kernel, and never answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if CI:
            pytest.fail("CI=true requires redis-server")
        pytest.skip("redis-server is not installed")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def celery_on_own_redis(own_redis: RedisServer, tmp_path: Path, idp_url: str, sqlite_template: Path) -> Iterator[Flask]:
    database = tmp_path / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    stamp = secrets.token_hex(4)
    # Redis is the broker and the rate-limit store; sign-in sessions are in the database.
    app = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", job_runner="celery",
                                redis_url=own_redis.url, redis_prefix=f"portal-test-{stamp}:",
                                celery_queue=f"portal-test-jobs-{stamp}", session_store="database"))
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("fault", ["stopped", "paused"])
@pytest.mark.timeout(150)
def test_a_job_made_while_redis_is_down_stays_queued_and_runs_once_redis_is_back(
        celery_on_own_redis: Flask, own_redis: RedisServer, tmp_path: Path, fault: str) -> None:
    """``stopped``: connections are refused; ``paused`` (SIGSTOP): they hang, unanswered."""
    app = celery_on_own_redis
    subject = make_employee(app, "erin@example.com")
    worker: Worker = celery_worker(app, tmp_path, "only", beat=True)
    try:
        own_redis.stop() if fault == "stopped" else own_redis.pause()
        with app.app_context():
            started = time.monotonic()
            export = exports.request_export(db.session.get_one(Employee, subject), actor=Actor("employee", subject),
                                            dispatch=True)
            export_id, job_id = export.id, export.job_id
            db.session.commit()  # the dispatch after it fails: logged, and the job waits in its table
            assert time.monotonic() - started < 15, "the broker held up the commit"
            # Sign-in (rate limits let through, counted) and pages work meanwhile.
            client = app.test_client()
            assert sign_in(client, "alice@example.com").status_code == 302
            assert client.get("/").status_code == 200 and client.get("/me/exports").status_code == 200
            ready = client.get("/readyz")  # the load balancer keeps this process
            assert ready.status_code == 200 and ready.get_json()["status"] == "degraded"
            assert ready.get_json()["checks"]["redis"].startswith("failed")
            time.sleep(2)  # the worker and its beat are up, but nothing reaches them
            job = job_row(job_id)
            assert (job.state, job.attempts) == (JobState.QUEUED, 0)

            # Back at the same address: the worker reconnects, its beat's sweep dispatches the job.
            own_redis.start() if fault == "stopped" else own_redis.resume()
            wait_for("the job has run", lambda: job_row(job_id).state == JobState.SUCCEEDED, 90, workers=(worker,))
            job = job_row(job_id)
            assert (job.state, job.attempts, job.error) == (JobState.SUCCEEDED, 1, None)
        assert [e.targets["export"] for e in audit_entries(app, "exports:export:complete")] == [export_id]
    finally:
        worker.kill()
