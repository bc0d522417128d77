"""The Celery side of the job system (``PORTAL_JOB_RUNNER=celery``).

Start workers with the same ``PORTAL_*`` environment as the web processes::

    celery -A portal.jobs.worker worker -B --loglevel=INFO

``-B`` embeds the beat that sweeps for due jobs every ``PORTAL_JOB_SWEEP_SECONDS`` (run one
worker with ``-B``, or a separate ``celery -A portal.jobs.worker beat``). The broker is Redis at
``PORTAL_REDIS_URL``, its keys under ``PORTAL_REDIS_PREFIX``, the queue ``PORTAL_CELERY_QUEUE``.
Tasks carry only a job id; the job row is the truth, so a lost or repeated task is harmless.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from portal.config import Settings

celery = Celery("portal")
_app_lock = threading.Lock()
_flask_app: Any = None
_configured = False


def configure(settings: Settings) -> None:
    """Point the Celery app at the broker and queue of these settings (idempotent)."""
    global _configured
    # A broker that does not answer must not hold up the request that dispatches: the job is in
    # its table already, and the sweep dispatches it once the broker is back.
    transport_options = {"global_keyprefix": f"{settings.redis_prefix}celery:", "socket_connect_timeout": 2,
                         "socket_timeout": 5}
    if _configured and celery._pool is not None and (
            celery.conf.broker_url, celery.conf.broker_transport_options) != (settings.redis_url, transport_options):
        # Another app in this process (as in tests) had other settings: its pooled connections
        # would go on publishing to the old broker and key prefix.
        celery._pool.force_close_all()
        celery._pool = None
        celery.amqp._producer_pool = None
    celery.conf.update(
        broker_url=settings.redis_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.celery_queue,
        task_ignore_result=True,
        task_acks_late=False,  # redelivery is our lease's business, not the broker's
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        beat_schedule={
            "portal-sweep": {"task": "portal.jobs.sweep", "schedule": float(settings.job_sweep_seconds),
                             "options": {"queue": settings.celery_queue}},
        },
        timezone="UTC",
    )
    _configured = True


def flask_app() -> Any:
    """The portal app of this worker process, made once from the environment."""
    global _flask_app
    with _app_lock:
        if _flask_app is None:
            from portal import create_app

            _flask_app = create_app()
        return _flask_app


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool process must not share its parent's database connections.
    if _flask_app is not None:
        from portal.extensions import db

        with _flask_app.app_context():
            db.engine.dispose()


@celery.task(name="portal.jobs.run", ignore_result=True)
def run_job_task(job_id: str) -> None:
    from portal.extensions import db
    from portal.jobs.services import run_job

    with flask_app().app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


@celery.task(name="portal.jobs.sweep", ignore_result=True)
def sweep_task() -> None:
    from portal.extensions import db
    from portal.jobs.runners import run_periodic

    with flask_app().app_context():
        try:
            run_periodic()
        finally:
            db.session.remove()


if not _configured:
    # `celery -A portal.jobs.worker` imports this module first: configure from the environment.
    _env = Settings.from_env()
    if _env.redis_url:
        configure(_env)
