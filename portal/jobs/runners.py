"""Two runners behind one interface (``PORTAL_JOB_RUNNER``):

* ``thread`` (the default): a thread pool inside the portal's process, plus a sweeper thread that
  every ``PORTAL_JOB_SWEEP_SECONDS`` dispatches jobs that are due again (a retry's time has come,
  a worker died and its lease expired) and runs the periodic clean-ups.
* ``celery``: each dispatch sends a Celery task through the Redis broker to the workers started
  with ``celery -A portal.jobs.worker worker -B``; the embedded beat runs the same sweep.

Either way the job row decides: a dispatch is only a nudge, and a job can be dispatched any
number of times, since only one worker can claim it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from flask import Flask, current_app

from portal.config import current_settings
from portal.db import describe_failure, is_transient

log = logging.getLogger(__name__)

EXTENSION = "portal.jobs.runner"


class Runner(Protocol):
    def dispatch(self, job_id: str, delay: float = 0) -> None: ...


PERIODIC: list[Callable[[], Any]] = []
EVERY: dict[Callable[[], Any], float] = {}  # tasks that run at most once in so many seconds
_last_run: dict[Callable[[], Any], float] = {}  # per process, by time.monotonic()


def periodic(fn: Callable[[], Any] | None = None, *, every: float = 0) -> Any:
    """Register a clean-up to run at each sweep (inside an app context; it commits itself);
    ``@periodic(every=3600)``: at most once an hour in each process (the first sweep runs it)."""
    def register(task: Callable[[], Any]) -> Callable[[], Any]:
        PERIODIC.append(task)
        if every:
            EVERY[task] = every
        return task

    return register(fn) if fn is not None else register


def run_periodic(*, all_due: bool = False) -> None:
    """One sweep: due jobs, then every periodic task whose interval has passed (``all_due``: every
    one, whatever its interval, as the first sweep of a process does)."""
    from portal.extensions import db
    from portal.jobs.services import sweep

    now = time.monotonic()
    for task in (sweep, *PERIODIC):
        if not all_due and task in _last_run and now - _last_run[task] < EVERY.get(task, 0):
            continue
        _last_run[task] = now
        try:
            task()
        except Exception as exc:
            try:
                db.session.rollback()
            except Exception:  # the database went away: the next sweep tries again
                log.debug("rollback after a failed periodic task failed", exc_info=True)
            name = getattr(task, "__name__", task)
            if is_transient(exc):
                log.warning("periodic task %s: the database did not answer (%s); the next sweep tries again",
                            name, describe_failure(exc))
            else:
                log.exception("periodic task %s failed", name)


class ThreadRunner:
    """Runs jobs on a small pool of threads in this process."""

    def __init__(self, app: Flask, workers: int, sweep_seconds: int) -> None:
        self.app = app
        self.sweep_seconds = sweep_seconds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="portal-job")
        self._lock = threading.Lock()
        self._futures: set[Future[Any]] = set()
        self._sweeper: threading.Thread | None = None
        self._sweeper_pid = 0
        self._timers: set[threading.Timer] = set()
        self._stop = threading.Event()

    def dispatch(self, job_id: str, delay: float = 0) -> None:
        if self._stop.is_set():
            return  # shut down: the job stays in the table for the sweep of another process
        if delay > 0:
            def fire() -> None:
                with self._lock:
                    self._timers.discard(timer)
                self.dispatch(job_id)

            timer = threading.Timer(delay, fire)
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
            return
        future = self._pool.submit(self._run, job_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        self.start_sweeper()

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _run(self, job_id: str) -> None:
        from portal.extensions import db
        from portal.jobs.services import run_job

        with self.app.app_context():
            try:
                run_job(job_id)
            except Exception:
                log.exception("job %s: the runner could not record the outcome", job_id)
            finally:
                db.session.remove()

    def start_sweeper(self, *, at_once: bool = False) -> None:
        """Start this process's sweeper, once per process (a forked worker starts its own: the
        parent's thread did not come along). ``at_once``: sweep now, then every interval."""
        with self._lock:
            if self._sweeper is not None and self._sweeper_pid == os.getpid():
                return
            self._sweeper = threading.Thread(target=self._sweep_loop, args=(at_once,), name="portal-job-sweeper",
                                             daemon=True)
            self._sweeper_pid = os.getpid()
        self._sweeper.start()

    def _sweep_loop(self, at_once: bool = False) -> None:
        from portal.extensions import db

        first = True
        while at_once or not self._stop.wait(self.sweep_seconds):
            at_once = False
            with self.app.app_context():
                try:
                    run_periodic(all_due=first)
                    first = False
                finally:
                    db.session.remove()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Wait until no job is running or waiting in this pool (for tests and the shell)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._futures:
                    return True
            time.sleep(0.02)
        return False

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=False)


# Publishing to a broker that is down is tried a few times within about a second, then given up:
# the job stays queued in its table, and the sweep dispatches it again once the broker is back.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}


class CeleryRunner:
    """Sends each dispatch to the Celery workers through the Redis broker."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def dispatch(self, job_id: str, delay: float = 0) -> None:
        from portal.jobs.worker import run_job_task

        run_job_task.apply_async(args=[job_id], countdown=delay or None, queue=self.queue,
                                 retry_policy=PUBLISH_RETRY)


def init_app(app: Flask) -> None:
    from portal.jobs.services import install_session_hooks

    settings = current_settings(app)
    if settings.job_runner == "celery":
        from portal.jobs.worker import configure

        configure(settings)
        app.extensions[EXTENSION] = CeleryRunner(settings.celery_queue)
    else:
        app.extensions[EXTENSION] = ThreadRunner(app, settings.job_workers, settings.job_sweep_seconds)
    install_session_hooks()


def start_background(app: Flask) -> bool:
    """Start the process's background work with the app, not on its first dispatch: jobs orphaned
    by a crash are taken up again and periodic work (tree heads, reminders, expiry, the key-store
    check) runs in an idle process too. Safe to call in every process and more than once; with the
    Celery runner the workers do this (nothing here). Returns whether a sweeper runs here."""
    active = app.extensions.get(EXTENSION)
    if not isinstance(active, ThreadRunner):
        return False
    active.start_sweeper(at_once=True)
    return True


def runner() -> Runner:
    found: Runner = current_app.extensions[EXTENSION]
    return found
