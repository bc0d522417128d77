"""The job life cycle: enqueue (dispatched after the commit), claim with a lease, report progress,
complete or fail with backoff, and pick up again when a worker died (its lease expired).

Every change to a job row after its creation is a conditional UPDATE fenced by the claim token
(``worker_id``): a worker that lost its lease can no longer report progress or complete, so a job
finishes exactly once however many workers once held it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction

from portal.config import current_settings
from portal.db import DatabaseUnavailable, describe_failure, is_transient, retry_transient, utcnow
from portal.extensions import db
from portal.jobs.models import Job, JobState

log = logging.getLogger(__name__)

PENDING_KEY = "portal.jobs.pending"
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 600
PROGRESS_INTERVAL_SECONDS = 1.0
DATABASE_LOST = "the database stopped answering during the work (a restart or failover); it is tried again"


class LeaseLost(RuntimeError):
    """Another worker holds this job now (ours expired): stop without writing anything."""


class JobError(Exception):
    """A failure with a reason fit to show the job's owner and staff.

    ``retry=False`` gives up at once (retrying cannot help, e.g. the data key was destroyed)."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


@dataclass
class Handler:
    run: Callable[[JobContext], dict[str, Any]]
    on_give_up: Callable[[Job, str], None] | None = None
    backoff: Callable[[int], float] | None = None  # seconds before the next attempt, after ``attempts``


HANDLERS: dict[str, Handler] = {}


def handler(kind: str, *, on_give_up: Callable[[Job, str], None] | None = None,
            backoff: Callable[[int], float] | None = None) -> Callable[
        [Callable[[JobContext], dict[str, Any]]], Callable[[JobContext], dict[str, Any]]]:
    """Register the function that does the work of jobs of ``kind``.

    It receives a :class:`JobContext`, must be idempotent (it may run again after a crash), reports
    progress through the context, leaves its final database changes in ``db.session`` uncommitted
    and returns the job's result (ids and counts only). ``on_give_up(job, reason)`` runs in the
    transaction that marks the job failed for good. ``backoff(attempts)``: the pause before the next
    attempt, if not the default's (5 s doubling to ten minutes)."""

    def register(fn: Callable[[JobContext], dict[str, Any]]) -> Callable[[JobContext], dict[str, Any]]:
        HANDLERS[kind] = Handler(fn, on_give_up, backoff)
        return fn

    return register


def enqueue(kind: str, *, params: dict[str, Any] | None = None, owner_id: str | None = None,
            max_attempts: int = 5, dispatch: bool = True) -> Job:
    """Add a job to the current transaction; it is dispatched once that transaction commits
    (``dispatch=False``: the caller runs it with :func:`run_job` itself, e.g. from the shell)."""
    if kind not in HANDLERS:
        raise ValueError(f"no handler for job kind {kind!r}")
    job = Job(kind=kind, params=params or {}, owner_id=owner_id, max_attempts=max_attempts,
              state=JobState.QUEUED, progress_done=0, attempts=0, not_before=utcnow())
    db.session.add(job)
    db.session.flush()
    if dispatch:
        db.session.info.setdefault(PENDING_KEY, []).append(job.id)
    return job


def _after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if pending:
        from portal.jobs.runners import runner

        for job_id in pending:
            try:
                runner().dispatch(job_id)
            except Exception:
                # The job is committed and the sweep will dispatch it; raising here would turn a
                # committed change into an error and leave the session unusable.
                log.exception("job %s: dispatch failed; the next sweep will pick it up", job_id)


def _after_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        return  # only a savepoint: the enclosing transaction may still commit its jobs
    session.info.pop(PENDING_KEY, None)


def install_session_hooks() -> None:
    from sqlalchemy import event

    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def lease_seconds() -> int:
    seconds: int = current_settings().job_lease_seconds
    return seconds


def claim(job_id: str) -> str | None:
    """Take the job if it is due: queued, or running under an expired lease. Returns the claim
    token, or None when someone else has it, it is finished, or it is not due yet."""
    token = secrets.token_hex(16)
    now = utcnow()
    with db.engine.begin() as conn:
        taken = conn.execute(
            update(Job)
            .where(Job.id == job_id, Job.not_before <= now,
                   or_(Job.state == JobState.QUEUED,
                       and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now)))
            .values(state=JobState.RUNNING, worker_id=token, attempts=Job.attempts + 1,
                    lease_expires_at=now + timedelta(seconds=lease_seconds()), heartbeat_at=now,
                    started_at=now)
        ).rowcount
    return token if taken == 1 else None


@dataclass
class JobContext:
    job_id: str
    token: str
    kind: str
    params: dict[str, Any]
    attempt: int
    on_rollback: list[Callable[[], None]] = field(default_factory=list)
    _last_report: float = 0.0

    def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Record progress and renew the lease (at most about once a second unless forced).
        Raises :class:`LeaseLost` when the job is no longer ours."""
        import time

        now_mono = time.monotonic()
        if not force and now_mono - self._last_report < PROGRESS_INTERVAL_SECONDS:
            return
        self._last_report = now_mono
        now = utcnow()
        values: dict[str, Any] = {"progress_done": done, "heartbeat_at": now,
                                  "lease_expires_at": now + timedelta(seconds=lease_seconds())}
        if total is not None:
            values["progress_total"] = total
        with db.engine.begin() as conn:
            kept = conn.execute(
                update(Job).where(Job.id == self.job_id, Job.worker_id == self.token,
                                  Job.state == JobState.RUNNING).values(**values)
            ).rowcount
        if kept != 1:
            raise LeaseLost(self.job_id)


def _backoff(attempts: int) -> float:
    return float(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def run_job(job_id: str) -> JobState | None:
    """Claim and run one job to its end (success, retry later, or give up). Inside an app context.

    Returns the job's state afterwards, or None if it was not ours to run."""
    token = claim(job_id)
    if token is None:
        return None
    job = db.session.get(Job, job_id, populate_existing=True)
    assert job is not None  # noqa: S101 - claimed just now
    registered = HANDLERS.get(job.kind)
    ctx = JobContext(job_id=job.id, token=token, kind=job.kind, params=dict(job.params), attempt=job.attempts)
    max_attempts = job.max_attempts
    db.session.commit()  # no transaction stays open across the handler's own commits
    if registered is None:
        return _fail(ctx, f"no handler for job kind {ctx.kind!r}", retry=False)
    if ctx.attempt > max_attempts:
        # Claimed again after its worker died each time (e.g. killed for memory): give up rather
        # than take down worker after worker for ever.
        return _fail(ctx, f"the work was started {max_attempts} times and never finished; the last "
                          f"attempt stopped without a trace (job reference {job_id[:8]})", retry=False)
    try:
        result = registered.run(ctx)
        finished = db.session.execute(  # type: ignore[attr-defined]
            update(Job).where(Job.id == job_id, Job.worker_id == token, Job.state == JobState.RUNNING)
            .values(state=JobState.SUCCEEDED, result=result, error=None, finished_at=utcnow(),
                    progress_done=func.coalesce(Job.progress_total, Job.progress_done),
                    lease_expires_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if finished != 1:
            raise LeaseLost(job_id)
        db.session.commit()
        return JobState.SUCCEEDED
    except LeaseLost:
        _undo(ctx)
        log.warning("job %s (%s): lease lost; another worker carries on", job_id, ctx.kind)
        return None
    except JobError as exc:
        _undo(ctx)
        return _fail(ctx, exc.reason, retry=exc.retry)
    except Exception as exc:
        _undo(ctx)
        if is_transient(exc):
            return _retry_when_the_database_is_back(ctx, exc)
        log.exception("job %s (%s) attempt %d failed", job_id, ctx.kind, ctx.attempt)
        return _fail(ctx, f"an internal error ({type(exc).__name__}) stopped the work; staff can see it "
                          f"under job reference {job_id[:8]}", retry=True)


def _retry_when_the_database_is_back(ctx: JobContext, exc: BaseException) -> JobState | None:
    """The attempt lost its database. Its steps are idempotent and each committed batch stands, so
    the job is queued again as after any failed attempt; recording that needs the database, so wait
    for it (``PORTAL_DB_RETRY_SECONDS``). If it stays away, the job keeps its lease and is taken up
    again once that runs out, as when a worker dies."""
    log.warning("job %s (%s) attempt %d: the database did not answer (%s)", ctx.job_id, ctx.kind, ctx.attempt,
                describe_failure(exc))
    seconds = current_settings().db_retry_seconds
    try:
        state: JobState | None = retry_transient(lambda: _fail(ctx, DATABASE_LOST, retry=True), seconds=seconds,
                                                 what=f"job {ctx.job_id}", session=db.session)
    except DatabaseUnavailable as gone:
        log.warning("job %s: %s; it is taken up again when its lease runs out", ctx.job_id, gone)
        return None
    return state


def _undo(ctx: JobContext) -> None:
    """Roll back, then run the attempt's clean-ups (temporary files): even when the rollback
    itself fails (the database went away), the clean-ups run."""
    try:
        db.session.rollback()
    except Exception as exc:
        if is_transient(exc):  # the connection is gone, and its transaction with it
            log.warning("job %s: no rollback after the failed attempt: the database did not answer (%s)",
                        ctx.job_id, describe_failure(exc))
        else:
            log.exception("job %s: the rollback after a failed attempt failed", ctx.job_id)
    for undo in reversed(ctx.on_rollback):
        try:
            undo()
        except OSError:
            log.exception("job %s: clean-up after a failed attempt did not complete", ctx.job_id)


def _fail(ctx: JobContext, reason: str, *, retry: bool) -> JobState | None:
    """Record a failed attempt: back to the queue after a pause, or given up. Fenced by the
    claim token like every other write, so a worker that lost its lease changes nothing."""
    job = db.session.get(Job, ctx.job_id, populate_existing=True)
    if job is None or job.worker_id != ctx.token or job.state != JobState.RUNNING:
        db.session.rollback()
        return None
    now = utcnow()
    mine = (Job.id == ctx.job_id, Job.worker_id == ctx.token, Job.state == JobState.RUNNING)
    if retry and job.attempts < job.max_attempts:
        own = HANDLERS.get(job.kind)
        delay = own.backoff(job.attempts) if own is not None and own.backoff is not None else _backoff(job.attempts)
        kept = db.session.execute(  # type: ignore[attr-defined]
            update(Job).where(*mine).values(state=JobState.QUEUED, not_before=now + timedelta(seconds=delay),
                                            error=reason, worker_id=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if kept != 1:
            return None
        from portal.jobs.runners import runner

        try:
            runner().dispatch(ctx.job_id, delay=delay)
        except Exception:
            log.exception("job %s: the retry could not be dispatched; the sweep will pick it up", ctx.job_id)
        return JobState.QUEUED
    kept = db.session.execute(  # type: ignore[attr-defined]
        update(Job).where(*mine).values(state=JobState.FAILED, error=reason, finished_at=now, lease_expires_at=None)
        .execution_options(synchronize_session=False)).rowcount
    if kept != 1:
        db.session.rollback()
        return None
    db.session.refresh(job)
    registered = HANDLERS.get(job.kind)
    if registered is not None and registered.on_give_up is not None:
        registered.on_give_up(job, reason)
    db.session.commit()
    return JobState.FAILED


def due_jobs(limit: int = 100) -> list[str]:
    """Jobs that should be running and are not: queued and due (their dispatch was lost, or a
    retry's time has come) or running under an expired lease (their worker died)."""
    now = utcnow()
    rows = db.session.execute(
        select(Job.id).where(
            or_(and_(Job.state == JobState.QUEUED, Job.not_before <= now),
                and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now)))
        .order_by(Job.not_before).limit(limit)
    ).scalars().all()
    db.session.rollback()
    return list(rows)


def sweep() -> int:
    """Dispatch every job that is due again. Safe to run at any time, from anywhere, repeatedly:
    only one worker can claim a job."""
    from portal.jobs.runners import runner

    ids = due_jobs()
    for job_id in ids:
        runner().dispatch(job_id)
    return len(ids)

