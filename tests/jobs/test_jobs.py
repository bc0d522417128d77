"""The job system (docs/architecture.md, "Jobs") with handlers registered in the real registry
under ``test.*`` kinds: dispatch only after the commit, exactly-once completion fenced by the claim
token, give-up and retry with backoff, leases that expire and are taken over, concurrent claims,
the sweep."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import create_app
from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import EXTENSION, CeleryRunner, ThreadRunner, runner
from portal.people import services as people
from portal.people.models import Employee
from tests.conftest import app_config, both_databases
from tests.helpers import audit_entries

# -- handlers registered in the real registry --------------------------------------------------------

ran: list[dict[str, Any]] = []  # one entry per handler run (list.append is atomic across threads)
gave_up: list[dict[str, Any]] = []
undone: list[str] = []


@jobs.handler("test.echo")
def _echo(ctx: jobs.JobContext) -> dict[str, Any]:
    seen: dict[str, Any] = {"job": ctx.job_id, "attempt": ctx.attempt, "token": ctx.token}
    if "employee_id" in ctx.params:
        seen["employee_visible"] = db.session.get(Employee, ctx.params["employee_id"]) is not None
    ran.append(seen)
    return {"echo": ctx.params.get("value")}


def _record_give_up(job: Job, reason: str) -> None:
    # Runs in the transaction that marks the job failed: this entry commits with it, or not at all.
    with db.engine.connect() as other:  # what the rest of the world sees at this moment
        committed = other.scalar(sa.select(Job.state).where(Job.id == job.id))
    gave_up.append({"job": job.id, "reason": reason, "state": job.state, "committed_state": committed,
                    "attempts": job.attempts})
    record("test:job:gave-up", actor=Actor.system(), targets={"job": job.id})


@jobs.handler("test.refuse", on_give_up=_record_give_up)
def _refuse(ctx: jobs.JobContext) -> dict[str, Any]:
    ran.append({"job": ctx.job_id, "attempt": ctx.attempt})
    ctx.on_rollback.append(lambda: undone.append(ctx.job_id))
    record("test:job:partial", actor=Actor.system(), targets={"job": ctx.job_id})  # must not survive
    raise jobs.JobError(ctx.params.get("reason", "Retrying cannot help."), retry=False)


@jobs.handler("test.crash", on_give_up=_record_give_up)
def _crash(ctx: jobs.JobContext) -> dict[str, Any]:
    ran.append({"job": ctx.job_id, "attempt": ctx.attempt})
    ctx.on_rollback.append(lambda: undone.append(ctx.job_id))
    record("test:job:partial", actor=Actor.system(), targets={"job": ctx.job_id})
    if ctx.attempt >= ctx.params.get("succeed_on", 10**6):
        return {"attempt": ctx.attempt}
    raise RuntimeError("boom for erin@example.com")  # the message must not reach job.error


@jobs.handler("test.stolen")
def _stolen(ctx: jobs.JobContext) -> dict[str, Any]:
    """Another worker takes the job over in the middle (our lease expired), then we try to finish."""
    ctx.progress(1, 4, force=True)
    with db.engine.begin() as conn:
        conn.execute(sa.update(Job).where(Job.id == ctx.job_id)
                     .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    other = jobs.claim(ctx.job_id)
    seen: dict[str, Any] = {"job": ctx.job_id, "token": ctx.token, "other": other}
    try:
        ctx.progress(2, 4, force=True)
        seen["progress"] = "accepted"
    except jobs.LeaseLost:
        seen["progress"] = "lease lost"
    ran.append(seen)
    ctx.on_rollback.append(lambda: undone.append(ctx.job_id))
    record("test:job:partial", actor=Actor.system(), targets={"job": ctx.job_id})  # must not survive
    return {"finished_by": "the old worker"}


@dataclass
class RecordingRunner:
    """Stands in for the transport only, to observe what ``run_job`` asks to be dispatched and when."""

    dispatched: list[tuple[str, float]]

    def dispatch(self, job_id: str, delay: float = 0) -> None:
        self.dispatched.append((job_id, delay))


@pytest.fixture(autouse=True)
def _fresh_records(app: Flask) -> Iterator[None]:
    ran.clear()
    gave_up.clear()
    undone.clear()
    yield
    # The thread runner's sweeper would otherwise outlive the test and sweep the next test's
    # (shared PostgreSQL) database with this app's settings.
    with app.app_context():
        active = app.extensions[EXTENSION]
        if isinstance(active, ThreadRunner):
            assert active.wait_idle(30)
            active.shutdown()


def job_row(job_id: str) -> Job:
    job = db.session.get(Job, job_id, populate_existing=True)
    assert job is not None
    db.session.expunge(job)  # keeps what was read
    db.session.rollback()  # read only: no transaction stays open
    return job


def wait_idle() -> None:
    active = runner()
    assert isinstance(active, ThreadRunner)
    assert active.wait_idle(30), "the thread runner did not finish in time"


def calls_for(job_id: str) -> list[dict[str, Any]]:
    return [c for c in ran if c["job"] == job_id]


# -- dispatch and the transaction ----------------------------------------------------------------------

@both_databases
def test_a_job_enqueued_and_rolled_back_is_never_run(app: Flask) -> None:
    with app.app_context():
        dropped = jobs.enqueue("test.echo", params={"value": "dropped"}).id
        db.session.rollback()
        kept = jobs.enqueue("test.echo", params={"value": "kept"}).id  # a later transaction commits
        db.session.commit()
        wait_idle()
        assert db.session.get(Job, dropped) is None
        assert calls_for(dropped) == []
        assert [c["job"] for c in ran] == [kept]
        assert jobs.sweep() == 0
        wait_idle()
        assert len(ran) == 1


@both_databases
def test_a_committed_job_runs_once(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.echo", params={"value": 42}).id
        db.session.commit()
        wait_idle()
        job = job_row(job_id)
        assert job.state == JobState.SUCCEEDED
        assert job.result == {"echo": 42}
        assert (job.attempts, job.error, job.lease_expires_at) == (1, None, None)
        assert job.finished_at is not None and job.finished_at >= job.created_at
        # More nudges change nothing: only a due job can be claimed.
        runner().dispatch(job_id)
        runner().dispatch(job_id)
        assert jobs.sweep() == 0
        wait_idle()
        assert len(calls_for(job_id)) == 1
        assert job_row(job_id).state == JobState.SUCCEEDED


@both_databases
def test_dispatch_waits_for_the_commit(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.echo").id
        # Rows written after the enqueue, in the same transaction, must be visible to the handler.
        employee = people.create_employee(email="late@example.com", display_name="Late Row", jurisdiction="ES",
                                          actor=Actor.system())
        db.session.flush()
        job = db.session.get(Job, job_id)
        assert job is not None
        job.params = {"employee_id": employee.id}
        db.session.flush()
        time.sleep(0.3)  # time enough for a premature dispatch to run
        assert ran == []
        db.session.commit()
        wait_idle()
        (seen,) = calls_for(job_id)
        assert (seen["attempt"], seen["employee_visible"]) == (1, True)
        assert job_row(job_id).state == JobState.SUCCEEDED


@both_databases
def test_a_rolled_back_savepoint_does_not_cancel_the_dispatch_of_its_transaction(app: Flask) -> None:
    with app.app_context():
        kept = jobs.enqueue("test.echo").id
        savepoint = db.session.begin_nested()  # e.g. an insert tried and undone on a conflict
        undone_id = jobs.enqueue("test.echo").id
        savepoint.rollback()
        db.session.commit()
        wait_idle()
        assert [c["job"] for c in ran] == [kept]
        assert job_row(kept).state == JobState.SUCCEEDED
        assert db.session.get(Job, undone_id) is None


def test_enqueue_refuses_an_unknown_kind(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match="no handler"):
            jobs.enqueue("test.nobody-handles-this")
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0


def test_a_dispatch_that_fails_after_the_commit_leaves_the_job_to_the_sweep(
        tmp_path: Path, idp_url: str, sqlite_template: Path) -> None:
    """The commit has happened: a broker that cannot be reached must not turn it into an error
    (nor leave the session unusable); the job row is there and the next sweep dispatches it."""
    database = tmp_path / "portal.db"
    database.write_bytes(sqlite_template.read_bytes())
    app = create_app(app_config(tmp_path, idp_url, f"sqlite:///{database}", job_runner="celery",
                                redis_url="redis://127.0.0.1:1/0", redis_prefix="portal-test-unreachable:"))
    try:
        with app.app_context():
            assert isinstance(runner(), CeleryRunner)
            job_id = jobs.enqueue("test.echo").id
            db.session.commit()
            db.session.rollback()  # the session is still usable
            assert job_row(job_id).state == JobState.QUEUED
            assert jobs.due_jobs() == [job_id]
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- giving up and retrying ----------------------------------------------------------------------------

@both_databases
def test_job_error_without_retry_gives_up_at_once(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.refuse", params={"reason": "The data key was destroyed."}).id
        db.session.commit()
        wait_idle()
        job = job_row(job_id)
        assert job.state == JobState.FAILED
        assert job.error == "The data key was destroyed."
        assert job.attempts == 1 and job.finished_at is not None and job.lease_expires_at is None
        assert len(calls_for(job_id)) == 1
        assert undone == [job_id]
        # Called with the job marked failed but not yet committed: both commit together.
        assert gave_up == [{"job": job_id, "reason": "The data key was destroyed.", "state": JobState.FAILED,
                            "committed_state": JobState.RUNNING, "attempts": 1}]
    assert [e.targets for e in audit_entries(app, "test:job:gave-up")] == [{"job": job_id}]
    assert audit_entries(app, "test:job:partial") == []  # the handler's own changes were rolled back
    with app.app_context():
        assert jobs.due_jobs() == []


@both_databases
def test_an_unexpected_error_retries_with_backoff_then_gives_up(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = RecordingRunner([])
    monkeypatch.setitem(app.extensions, EXTENSION, recorder)
    with app.app_context():
        job_id = jobs.enqueue("test.crash", max_attempts=3, dispatch=False).id
        db.session.commit()
        delays = []
        for attempt in (1, 2):
            before = utcnow()
            assert jobs.run_job(job_id) == JobState.QUEUED
            after = utcnow()
            job = job_row(job_id)
            delay = 5 * 2 ** (attempt - 1)
            assert before + timedelta(seconds=delay) <= job.not_before <= after + timedelta(seconds=delay)
            assert (job.state, job.attempts, job.worker_id, job.lease_expires_at) == (
                JobState.QUEUED, attempt, None, None)
            assert "RuntimeError" in (job.error or "") and job_id[:8] in (job.error or "")
            assert "erin@example.com" not in (job.error or "")
            # Not due yet: nobody may start it early, and the sweep leaves it alone.
            assert jobs.run_job(job_id) is None
            assert jobs.due_jobs() == []
            delays.append(recorder.dispatched[-1])
            _make_due(job_id)
        assert delays == [(job_id, 5.0), (job_id, 10.0)]
        assert jobs.run_job(job_id) == JobState.FAILED
        job = job_row(job_id)
        assert (job.state, job.attempts, job.lease_expires_at) == (JobState.FAILED, 3, None)
        assert job.finished_at is not None
        assert job.error and "internal error (RuntimeError)" in job.error and job_id[:8] in job.error
        assert len(recorder.dispatched) == 2  # no retry after the last attempt
        assert len(calls_for(job_id)) == 3 and undone == [job_id] * 3
        assert [g["reason"] for g in gave_up] == [job.error]
        assert jobs.run_job(job_id) is None  # finished for good
    assert audit_entries(app, "test:job:partial") == []
    assert len(audit_entries(app, "test:job:gave-up")) == 1


def test_the_thread_runner_retries_on_its_own(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "BACKOFF_BASE_SECONDS", 0.2)
    with app.app_context():
        job_id = jobs.enqueue("test.crash", params={"succeed_on": 2}).id
        db.session.commit()
        deadline = time.monotonic() + 15
        while job_row(job_id).state != JobState.SUCCEEDED and time.monotonic() < deadline:
            time.sleep(0.05)
        job = job_row(job_id)
        assert (job.state, job.attempts, job.error, job.result) == (JobState.SUCCEEDED, 2, None, {"attempt": 2})
        assert len(calls_for(job_id)) == 2
    assert len(audit_entries(app, "test:job:partial")) == 1  # the successful attempt's own write


def _make_due(job_id: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(Job).where(Job.id == job_id).values(not_before=utcnow() - timedelta(seconds=1)))


def _expire_lease(job_id: str) -> None:
    with db.engine.begin() as conn:
        conn.execute(sa.update(Job).where(Job.id == job_id)
                     .values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def test_a_job_without_a_handler_fails_with_a_reason(app: Flask) -> None:
    with app.app_context():
        job = Job(kind="test.gone", params={}, state=JobState.QUEUED, progress_done=0, attempts=0,
                  max_attempts=5, not_before=utcnow())
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        assert jobs.run_job(job_id) == JobState.FAILED
        assert job_row(job_id).error == "no handler for job kind 'test.gone'"


# -- leases ----------------------------------------------------------------------------------------

@both_databases
def test_an_expired_lease_is_taken_over_and_the_old_token_is_fenced_off(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.echo", dispatch=False).id
        db.session.commit()
        old = jobs.claim(job_id)
        assert old is not None
        ctx = jobs.JobContext(job_id=job_id, token=old, kind="test.echo", params={}, attempt=1)
        ctx.progress(3, 10, force=True)
        assert jobs.claim(job_id) is None  # the lease is still valid
        assert jobs.run_job(job_id) is None
        assert jobs.due_jobs() == []

        _expire_lease(job_id)  # the worker holding it died
        assert jobs.due_jobs() == [job_id]
        new = jobs.claim(job_id)
        assert new is not None and new != old
        job = job_row(job_id)
        assert (job.state, job.worker_id, job.attempts, job.progress_done) == (JobState.RUNNING, new, 2, 3)
        assert job.lease_expires_at is not None and job.lease_expires_at > utcnow()

        with pytest.raises(jobs.LeaseLost):
            ctx.progress(4, 10, force=True)
        assert job_row(job_id).progress_done == 3
        assert calls_for(job_id) == []


@both_databases
def test_a_worker_that_lost_its_lease_cannot_complete(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.stolen", dispatch=False).id
        db.session.commit()
        assert jobs.run_job(job_id) is None
        (seen,) = calls_for(job_id)
        assert seen["other"] is not None and seen["other"] != seen["token"]
        assert seen["progress"] == "lease lost"
        job = job_row(job_id)
        # Still the other worker's, untouched by the old one: not completed, no result, no error.
        assert (job.state, job.worker_id, job.result, job.error, job.finished_at) == (
            JobState.RUNNING, seen["other"], None, None, None)
        assert undone == [job_id]
    assert audit_entries(app, "test:job:partial") == []


def test_a_job_whose_worker_keeps_dying_is_given_up(app: Flask) -> None:
    """A job that kills its worker each time (out of memory, say) must not be taken up forever."""
    with app.app_context():
        job_id = jobs.enqueue("test.refuse", max_attempts=2, dispatch=False).id
        db.session.commit()
        for _ in range(2):  # two workers died holding it
            assert jobs.claim(job_id) is not None
            _expire_lease(job_id)
        assert jobs.run_job(job_id) == JobState.FAILED
        job = job_row(job_id)
        assert job.state == JobState.FAILED and job.error
        assert "started 2 times and never finished" in job.error
        assert calls_for(job_id) == []  # not run a third time
        assert [g["job"] for g in gave_up] == [job_id]
        assert jobs.due_jobs() == []


@both_databases
def test_concurrent_claims_have_exactly_one_winner(app: Flask) -> None:
    contenders = 8
    with app.app_context():
        queued = [jobs.enqueue("test.echo", dispatch=False).id for _ in range(4)]
        expired = [jobs.enqueue("test.echo", dispatch=False).id for _ in range(2)]
        db.session.commit()
        for job_id in expired:
            assert jobs.claim(job_id) is not None
            _expire_lease(job_id)

    for job_id in queued + expired:
        barrier = threading.Barrier(contenders)
        tokens: list[str | None] = []
        errors: list[BaseException] = []

        def contend(job_id: str = job_id, barrier: threading.Barrier = barrier,
                    tokens: list[str | None] = tokens, errors: list[BaseException] = errors) -> None:
            with app.app_context():
                try:
                    barrier.wait(10)
                    tokens.append(jobs.claim(job_id))
                except BaseException as exc:  # reported below
                    errors.append(exc)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=contend) for _ in range(contenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        winners = [t for t in tokens if t is not None]
        assert len(tokens) == contenders and len(winners) == 1, tokens
        with app.app_context():
            assert job_row(job_id).worker_id == winners[0]


# -- due jobs and the sweep ----------------------------------------------------------------------------

@both_databases
def test_due_jobs_are_exactly_the_ones_to_run(app: Flask) -> None:
    now = utcnow()
    with app.app_context():
        def make(**values: Any) -> str:
            job_id = jobs.enqueue("test.echo", dispatch=False).id
            if values:
                job = db.session.get(Job, job_id)
                for key, value in values.items():
                    setattr(job, key, value)
            db.session.flush()
            return job_id

        due = {
            make(),
            make(state=JobState.QUEUED, attempts=1, error="retry", not_before=now - timedelta(seconds=1)),
            make(state=JobState.RUNNING, worker_id="dead", attempts=1, lease_expires_at=now - timedelta(seconds=1)),
        }
        not_due = {
            make(not_before=now + timedelta(seconds=60)): (JobState.QUEUED, None),
            make(state=JobState.RUNNING, worker_id="alive", attempts=1,
                 lease_expires_at=now + timedelta(seconds=60)): (JobState.RUNNING, "alive"),
            make(state=JobState.SUCCEEDED, attempts=1, finished_at=now): (JobState.SUCCEEDED, None),
            make(state=JobState.FAILED, attempts=5, error="gave up", finished_at=now): (JobState.FAILED, None),
        }
        db.session.commit()
        assert set(jobs.due_jobs()) == due
        assert jobs.sweep() == len(due)
        wait_idle()
        assert {c["job"] for c in ran} == due and len(ran) == len(due)
        assert {j: job_row(j).state for j in due} == dict.fromkeys(due, JobState.SUCCEEDED)
        assert {j: (job_row(j).state, job_row(j).worker_id) for j in not_due} == not_due  # untouched
        assert jobs.due_jobs() == []


# -- progress --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("done", "total", "percent"), [
    (0, None, None), (5, 0, None), (0, 10, 0), (1, 3, 33), (5, 10, 50), (10, 10, 100), (12, 10, 100)])
def test_percent(done: int, total: int | None, percent: int | None) -> None:
    assert Job(progress_done=done, progress_total=total).percent == percent


@both_databases
def test_progress_is_recorded_renews_the_lease_and_completes_at_100(app: Flask) -> None:
    with app.app_context():
        job_id = jobs.enqueue("test.echo", dispatch=False).id
        db.session.commit()
        token = jobs.claim(job_id)
        assert token is not None
        first_lease = job_row(job_id).lease_expires_at
        assert first_lease is not None
        ctx = jobs.JobContext(job_id=job_id, token=token, kind="test.echo", params={}, attempt=1)
        time.sleep(0.05)
        ctx.progress(25, 100)
        job = job_row(job_id)
        assert (job.progress_done, job.progress_total, job.percent) == (25, 100, 25)
        assert job.lease_expires_at is not None and job.lease_expires_at > first_lease
        ctx.progress(30, 100)  # within a second of the last report: skipped
        assert job_row(job_id).progress_done == 25
        ctx.progress(40, force=True)  # the total is kept
        job = job_row(job_id)
        assert (job.progress_done, job.progress_total, job.percent) == (40, 100, 40)
        # Let another worker take it over, then run it to the end: progress ends at the total.
        _expire_lease(job_id)
        assert jobs.run_job(job_id) == JobState.SUCCEEDED
        job = job_row(job_id)
        assert (job.progress_done, job.percent, job.attempts) == (100, 100, 2)


# -- Celery ----------------------------------------------------------------------------------------

@pytest.mark.redis
def test_each_celery_app_dispatches_to_its_own_prefix_and_queue(
        tmp_path: Path, idp_url: str, sqlite_template: Path, redis_url: str) -> None:
    """Two portal apps with different settings in one process (as in tests): each one's dispatch
    must reach its own broker key prefix and queue, not the first one's."""
    import redis

    client = redis.Redis.from_url(redis_url)
    stamp = f"{time.time_ns():x}"
    prefixes = [f"portal-test-{stamp}-{n}:" for n in (1, 2)]
    try:
        for n, prefix in enumerate(prefixes):
            database = tmp_path / f"portal-{n}.db"
            database.write_bytes(sqlite_template.read_bytes())
            app = create_app(app_config(tmp_path / str(n), idp_url, f"sqlite:///{database}", job_runner="celery",
                                        redis_url=redis_url, redis_prefix=prefix, celery_queue=f"q{n}"))
            with app.app_context():
                runner().dispatch(f"job-{n}")
                db.engine.dispose()
        for n, prefix in enumerate(prefixes):
            assert client.llen(f"{prefix}celery:q{n}") == 1, sorted(k.decode() for k in client.scan_iter(
                f"portal-test-{stamp}-*"))
    finally:
        for prefix in prefixes:
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)


@jobs.handler("test.lose-connection")
def _lose_connection(ctx: jobs.JobContext) -> dict[str, Any]:
    ctx.on_rollback.append(lambda: undone.append(ctx.job_id))
    record("test:job:partial", actor=Actor.system(), targets={"job": ctx.job_id})
    pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    with db.engine.connect() as other:  # the database drops this attempt's connection under it
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.commit()
    raise RuntimeError("the database went away")


@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_clean_ups_run_even_when_the_rollback_itself_fails(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.extensions, EXTENSION, RecordingRunner([]))
    with app.app_context():
        job_id = jobs.enqueue("test.lose-connection", max_attempts=3, dispatch=False).id
        db.session.commit()
        undone.clear()
        assert jobs.run_job(job_id) == JobState.QUEUED  # a failed attempt, to be retried
        assert undone == [job_id]
        assert not audit_entries(app, "test:job:partial")


def test_a_job_orphaned_by_a_crash_is_taken_up_when_the_app_starts_with_no_dispatch(app: Flask) -> None:
    """A job left running by a process that died (its lease run out): the next process takes it up
    as soon as it starts its background work, without anyone queueing another job; starting twice
    starts one sweeper."""
    from portal.jobs.runners import runner, start_background

    with app.app_context():
        job_id = jobs.enqueue("test.echo", params={"value": "orphan"}, dispatch=False).id
        db.session.commit()
        assert jobs.claim(job_id) is not None  # the process that died had it
        _expire_lease(job_id)
        active = runner()
        assert isinstance(active, ThreadRunner) and active._sweeper is None  # nothing dispatched here
    assert start_background(app) and start_background(app)
    sweepers = [t for t in threading.enumerate() if t.name == "portal-job-sweeper" and t is active._sweeper]
    assert len(sweepers) == 1
    with app.app_context():
        deadline = time.monotonic() + 20
        while job_row(job_id).state != JobState.SUCCEEDED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job_row(job_id).state == JobState.SUCCEEDED and job_row(job_id).result == {"echo": "orphan"}


def test_a_periodic_task_with_an_interval_runs_once_per_interval(app: Flask) -> None:
    from portal.jobs import runners

    calls: list[int] = []

    def hourly() -> None:
        calls.append(1)

    runners.periodic(every=3600)(hourly)
    try:
        with app.app_context():
            runners.run_periodic()
            runners.run_periodic()  # within the hour: not again
            assert calls == [1]
            runners.run_periodic(all_due=True)  # as a process's first sweep does
            assert calls == [1, 1]
    finally:
        runners.PERIODIC.remove(hourly)
        runners.EVERY.pop(hourly, None)
