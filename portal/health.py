"""Health checks for load balancers and operators: ``/healthz`` (this process answers) and
``/readyz`` (what it needs to serve people works now). Neither says anything about a person."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from sqlalchemy import text

from portal.config import current_settings
from portal.extensions import db
from portal.files import folder_problem
from portal.security import public

bp = Blueprint("health", __name__)


@bp.get("/favicon.ico")
@public
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page links to; answer with the portal's icon."""
    static = current_app.static_folder
    assert static is not None  # noqa: S101 - create_app always sets it
    response = send_from_directory(static, "favicon.svg", mimetype="image/svg+xml", max_age=86400)
    return response


@bp.get("/healthz")
@public
def healthz() -> Response:
    response = jsonify({"status": "ok"})
    response.cache_control.no_store = True
    return response


def _database() -> str | None:
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return None


def _redis() -> str | None:
    settings = current_settings()
    if not settings.redis_url:
        return None
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return None


def _key_store() -> str | None:
    from portal.crypto import keystore

    return keystore().problem()


def _artifacts() -> str | None:
    return folder_problem(Path(current_settings().artifact_dir))


def _sessions() -> str | None:
    from portal.auth.views import sessions_can_be_saved

    return None if sessions_can_be_saved() else "the session store takes no writes"


def _jobs() -> str | None:
    from portal.jobs.runners import CeleryRunner, ThreadRunner, runner

    active = runner()
    if isinstance(active, ThreadRunner):
        return "stopped" if active.stopped else None
    if isinstance(active, CeleryRunner):
        return None  # its broker is Redis, checked above
    return None


def _rate_limits() -> str | None:
    from portal.ratelimit import storage_state

    return storage_state()


def _witness() -> str | None:
    """The newest signed tree head is in the witness file (docs/architecture.md, "Audit and evidence")."""
    from portal.audit.witness import problem

    return problem()


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": _database, "redis": _redis, "key_store": _key_store, "artifacts": _artifacts,
    "sessions": _sessions, "jobs": _jobs, "rate_limits": _rate_limits, "audit_witness": _witness,
}


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """200 when every check passes, else 503; each check says ``ok`` or what is wrong (the kind of
    error, never its details). Redis and the rate limits failing while sessions are not in Redis
    is ``degraded``, still 200."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            problem = check()
        except Exception as exc:
            db.session.rollback()
            problem = f"failed ({type(exc).__name__})"
        results[name] = problem or "ok"
    failing = [name for name, value in results.items() if value != "ok"]
    # With sessions kept elsewhere, Redis carries only the job broker and the rate limits: while it
    # is down people are still served (jobs wait in their table), so this process stays in the pool.
    if current_settings().sessions_in != "redis":
        needed = [name for name in failing if name not in ("redis", "rate_limits")]
    else:
        needed = failing
    ready = not needed
    if failing:
        current_app.logger.warning("%s: %s", "degraded" if ready else "not ready",
                                   ", ".join(f"{k} {results[k]}" for k in failing))
    status = "not ready" if not ready else "degraded" if failing else "ready"
    response = jsonify({"status": status, "checks": results})
    response.cache_control.no_store = True
    return response, 200 if ready else 503
